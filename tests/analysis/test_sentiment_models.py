"""Default sentiment models (vaderSentiment, the review head), calibration, the call
trajectory and the agent's tone; zero-shot intents by example similarity."""

from __future__ import annotations

import pytest

from analysis import AnalysisModels, analyze
from analysis.intents import CueIntentClassifier, EmbeddingIntentClassifier
from analysis.sentiment import (
    Calibration,
    LexiconSentiment,
    ModelSentiment,
    default_sentiment,
    fit_thresholds,
)
from core.schemas import Transcript, Utterance


def call(turns: list[tuple[str, str]], language: str = "en") -> Transcript:
    utts, t = [], 0.0
    for role, text in turns:
        utts.append(Utterance(speaker=role, role=role, start=t, end=t + 3, text=text))
        t += 3.5
    return Transcript(call_id="s", language=language, duration=t, utterances=utts,
                      engine="test", model="hand", version="1", diarization="none")


def test_defaults_are_models_with_a_calibrated_neutral() -> None:
    model = default_sentiment()
    assert model is default_sentiment()  # loaded once per process
    assert model.model_name("en") == "vader" and model.model_name("zh") == "reviews-head"
    en = model.scores(["This is ridiculous, you charged me twice!", "OK.",
                       "Thank you so much, that's really helpful."], "en")
    assert en[0] < model.calibration_for("en").negative_below
    assert en[1] == 0.0 and en[2] >= model.calibration_for("en").positive_above
    zh = model.scores(["太差了，再也不买了", "好的。", "非常满意，质量很好"], "zh")
    assert zh[0] < 0 < zh[2] and zh[1] == 0.0  # a backchannel carries no sentiment


def test_fit_thresholds_finds_the_neutral_band() -> None:
    scores = [-0.9, -0.8, -0.6, -0.1, 0.0, 0.05, 0.1, 0.7, 0.8, 0.95]
    labels = ["negative"] * 3 + ["neutral"] * 4 + ["positive"] * 3
    cal, macro = fit_thresholds(scores, labels)
    assert macro == pytest.approx(1.0)
    assert [cal.label(s) for s in scores] == labels
    assert Calibration(-0.5, 0.5).label(0.0) == "neutral"


def test_trajectory_escalation_and_agent_tone() -> None:
    model = default_sentiment()
    worse = model.customer(call([
        ("agent", "Good morning, thank you for calling, how can I help?"),
        ("customer", "Thanks, I'm happy to sort out my payment today, that's great."),
        ("agent", "Please hold while I check."),
        ("customer", "Sure."),
        ("agent", "I'm sorry, there is a late fee."),
        ("customer", "What? This is ridiculous and unacceptable, I'm furious!")]))
    assert worse.start > worse.end and worse.trajectory == "worsening" and worse.escalated
    assert worse.agent_politeness == 1.0 and worse.agent_tone is not None
    rude = model.customer(call([("agent", "What do you want."), ("customer", "My balance."),
                                ("agent", "Pay it then. Stupid question.")]))
    assert rude.agent_politeness == 0.0 and rude.agent_tone < worse.agent_tone
    analysis = analyze(call([("agent", "Hello, please tell me your name."),
                             ("customer", "Ann Lee.")]), models=AnalysisModels.default())
    assert analysis.metrics["agent_politeness"] == 1.0 and "agent_tone" in analysis.metrics


def test_word_list_is_the_named_fallback() -> None:
    fallback = ModelSentiment(models={"en": "lexicon"}, calibration={})
    assert fallback.scores(["I am not happy with this."], "en") == \
        [LexiconSentiment().utterance_score("I am not happy with this.", "en")]
    with pytest.raises(ValueError, match="sentiment model 'nope'"):
        ModelSentiment(models={"en": "nope"}, calibration={}).scores(["hi"], "en")


def test_a_paraphrase_without_cues_lands_by_similarity() -> None:
    cues = CueIntentClassifier()
    hybrid = EmbeddingIntentClassifier(cues=cues)
    for text, intent in (
            ("Somebody opened a loan in my name without my knowledge.", "fraud_report"),
            ("What is the amount I need to pay before the end of the month?",
             "repayment_amount")):
        turns = call([("agent", "How can I help?"), ("customer", text)])
        assert cues.classify(turns) == []  # no cue phrase in it
        hits = hybrid.classify(turns)
        assert hits and hits[0].intent == intent
        assert hits[0].evidence[0].quote == text and hits[0].evidence[0].utterance == 1
    # Chinese calls: the cues alone.
    zh = call([("customer", "我想提前还款")], "zh")
    assert hybrid.classify(zh) == cues.classify(zh)
    assert isinstance(AnalysisModels.default().intents, EmbeddingIntentClassifier)


def test_each_utterance_is_scored_in_its_own_language() -> None:
    """A Chinese call with an English stretch (Utterance.language): the English turn is
    scored by the English model, the Chinese ones by the Chinese one."""
    model = default_sentiment()
    mixed = call([("agent", "您好，请问有什么可以帮您？"),
                  ("customer", "This is ridiculous, you charged me twice, I'm furious!"),
                  ("customer", "太差了，再也不买了")], language="zh")
    mixed.utterances[1].language = "en"
    scores = model.utterance_scores(mixed)
    assert scores[1] == model.scores([mixed.utterances[1].text], "en")[0]
    assert scores[1] < model.calibration_for("en").negative_below
    assert scores[2] == model.scores([mixed.utterances[2].text], "zh")[0] < 0
    # Read as Chinese (no per-utterance language), the English complaint was not scored.
    mixed.utterances[1].language = None
    assert model.utterance_scores(mixed)[1] != scores[1]
