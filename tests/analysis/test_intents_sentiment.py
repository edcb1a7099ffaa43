"""Intent classification over the bundled dialogues, lexicon sentiment, text normalisation."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from analysis import AnalysisModels, analyze
from analysis.intents import DEFAULT_INTENTS, CueIntentClassifier
from analysis.normalize import has_cjk, normalize, segmented, tokens
from analysis.sentiment import LexiconSentiment
from core.schemas import Transcript, Utterance
from samples.dialogue import Dialogue, load_dialogues, scripted_transcript


def transcript(turns: list[tuple[str, str]], language: str) -> Transcript:
    utterances, t = [], 0.5
    for role, text in turns:
        utterances.append(Utterance(speaker=role, role=role, start=t, end=t + 3.0, text=text))
        t += 3.5
    return Transcript(call_id=f"hand-{language}", language=language, duration=t,
                      utterances=utterances, engine="test", model="hand", version="1",
                      diarization="none")


@pytest.fixture(scope="module")
def models() -> AnalysisModels:
    return AnalysisModels.default()


@pytest.fixture(scope="module")
def dialogues() -> list[Dialogue]:
    return load_dialogues()


# Intents ----------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "zh"])
def test_primary_intent_accuracy(dialogues: list[Dialogue], models: AnalysisModels,
                                 language: str) -> None:
    wrong, total = [], 0
    for d in dialogues:
        if d.language != language:
            continue
        total += 1
        analysis = analyze(scripted_transcript(d), models=models)
        if analysis.primary_intent != d.expected.intents[0]:
            wrong.append((d.id, analysis.primary_intent, d.expected.intents[0]))
    accuracy = 1 - len(wrong) / total
    assert accuracy >= 0.8, f"{language} accuracy {accuracy:.2f}; wrong: {wrong}"


def test_intent_hits_are_ranked_with_evidence(dialogues: list[Dialogue],
                                              models: AnalysisModels) -> None:
    known = set(yaml.safe_load(DEFAULT_INTENTS.read_text("utf-8"))["intents"])
    for d in dialogues:
        t = scripted_transcript(d)
        hits = models.intents.classify(t)
        assert hits, d.id
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True), d.id
        assert {h.intent for h in hits} <= known
        assert all(h.score >= models.intents.min_score for h in hits)  # type: ignore[attr-defined]
        for hit in hits:
            for ev in hit.evidence:
                # Evidence is what the customer said, quoted from the transcript.
                assert ev.speaker_role == "customer"
                assert t.utterances[ev.utterance].text == ev.quote


def test_models_default_has_titles(models: AnalysisModels) -> None:
    known = yaml.safe_load(DEFAULT_INTENTS.read_text("utf-8"))["intents"]
    assert set(models.intent_titles) == set(known)
    assert all(models.intent_titles.values())


def test_customer_words_outweigh_the_agents(models: AnalysisModels) -> None:
    """A customer asking about a fee is a fee call, even if the agent mentions a payoff."""
    t = transcript([
        ("agent", "Thanks for calling, how can I help?"),
        ("customer", "Why was I charged a late fee? I want to dispute the fee."),
        ("agent", "I understand. Separately, you could also pay off the loan early."),
    ], "en")
    assert analyze(t, models=models).primary_intent == "fee_dispute"


def test_no_cue_no_intent(models: AnalysisModels) -> None:
    t = transcript([("agent", "Hello."), ("customer", "Hello, good morning.")], "en")
    analysis = analyze(t, models=models)
    assert analysis.primary_intent is None
    assert analysis.intents == []


def test_custom_taxonomy(tmp_path: Path) -> None:
    path = tmp_path / "intents.yaml"
    path.write_text(yaml.safe_dump({"intents": {
        "pet_question": {"title": "Pets", "en": ["my dog"], "zh": ["我的狗"]}}}), "utf-8")
    models = AnalysisModels.default(path)
    t = transcript([("customer", "Can my dog come to the branch?")], "en")
    assert analyze(t, models=models).primary_intent == "pet_question"
    assert CueIntentClassifier(path).titles == {"pet_question": "Pets"}


# Sentiment ---------------------------------------------------------------------------

ANGRY = {
    "en": [("agent", "Evergreen Finance, how can I help?"),
           ("customer", "I am furious. Your collector was rude and this is unacceptable."),
           ("agent", "I'm sorry to hear that."),
           ("customer", "This is ridiculous, I'm fed up and I want to make a complaint."),
           ("agent", "I will log the complaint."),
           ("customer", "Stop calling my family. This is harassment.")],
    "zh": [("agent", "您好，请问有什么可以帮您？"),
           ("customer", "我要投诉！你们的催收员态度太差了，简直太过分了。"),
           ("agent", "非常抱歉。"),
           ("customer", "天天打电话骚扰我家人，我真的受不了，气死我了。"),
           ("agent", "我帮您登记一下。"),
           ("customer", "别再打了，这也太离谱了！")],
}
GRATEFUL = {
    "en": [("agent", "Evergreen Finance, how can I help?"),
           ("customer", "Hi, I'd like to know my next payment date please."),
           ("agent", "It's the fifth of next month."),
           ("customer", "Perfect, that's helpful."),
           ("agent", "Anything else?"),
           ("customer", "No, that's great. Thank you so much, I really appreciate it.")],
    "zh": [("agent", "您好，请问有什么可以帮您？"),
           ("customer", "你好，我想问一下这个月的还款日。"),
           ("agent", "是每月五号。"),
           ("customer", "好的，明白了谢谢。"),
           ("agent", "还有其他问题吗？"),
           ("customer", "没有了，太好了，非常感谢，辛苦了！")],
}


@pytest.mark.parametrize("language", ["en", "zh"])
def test_angry_customer_is_negative(models: AnalysisModels, language: str) -> None:
    result = models.sentiment.customer(transcript(ANGRY[language], language))
    assert result.label == "negative"
    assert result.score < 0
    assert analyze(transcript(ANGRY[language], language), models=models
                   ).customer_sentiment == "negative"


@pytest.mark.parametrize("language", ["en", "zh"])
def test_grateful_customer_is_positive(models: AnalysisModels, language: str) -> None:
    result = models.sentiment.customer(transcript(GRATEFUL[language], language))
    # The Chinese default (a review-trained head, docs/analysis.md) reads "没有了，太好了"
    # as only mildly positive: not negative, but not over the calibrated bar either.
    assert result.label == "positive" if language == "en" else result.label != "negative"
    assert LexiconSentiment().customer(transcript(GRATEFUL[language], language)
                                       ).label == "positive"
    assert result.score > 0
    assert result.end > 0


@pytest.mark.parametrize("language", ["en", "zh"])
def test_agent_words_do_not_count(models: AnalysisModels, language: str) -> None:
    """An abusive agent does not make the customer negative: sentiment is the customer's."""
    ok = "OK." if language == "en" else "好的。"
    turns = [t for _, text in ANGRY[language] for t in (("agent", text), ("customer", ok))]
    assert models.sentiment.customer(transcript(turns, language)).label == "neutral"


def test_negated_positive_is_negative() -> None:
    lexicon = LexiconSentiment()
    assert lexicon.utterance_score("I am happy with this.", "en") > 0
    assert lexicon.utterance_score("I am not happy with this.", "en") < 0
    assert lexicon.utterance_score("我很满意", "zh") > 0
    assert lexicon.utterance_score("我不满意", "zh") < 0
    assert lexicon.utterance_score("The meeting is on Tuesday.", "en") == 0


def test_thanks_after_a_fight_is_not_positive(models: AnalysisModels) -> None:
    turns = [*ANGRY["en"], ("agent", "I've fixed it."), ("customer", "Great, thank you so much.")]
    assert models.sentiment.customer(transcript(turns, "en")).label == "negative"


def test_sentiment_accuracy_over_the_dialogues(dialogues: list[Dialogue],
                                               models: AnalysisModels) -> None:
    """A loose gate on the scripted calls. The word list (written from these dialogues)
    gets most labels right and never flips positive and negative; the default models
    (fitted on public text, not on these) hold it for English. The Chinese default, a
    review-trained head, is off-domain on call speech (docs/analysis.md): not gated here."""
    lexicon = LexiconSentiment()
    right, flipped, model_right = 0, [], {"en": 0, "zh": 0}
    for d in dialogues:
        label = lexicon.customer(scripted_transcript(d)).label
        right += label == d.expected.customer_sentiment
        if {label, d.expected.customer_sentiment} == {"negative", "positive"}:
            flipped.append(d.id)
        model_right[d.language] += (models.sentiment.customer(scripted_transcript(d)).label
                                    == d.expected.customer_sentiment)
    assert right / len(dialogues) >= 0.6
    assert not flipped
    english = [d for d in dialogues if d.language == "en"]
    assert model_right["en"] / len(english) >= 0.6


# Normalisation -----------------------------------------------------------------------


def test_traditional_to_simplified() -> None:
    assert normalize("提前還款") == "提前还款"
    assert normalize("請問您的貸款餘額") == "请问您的贷款余额"
    assert normalize("通話將被錄音") == "通话将被录音"


def test_full_width_to_half_width_and_lower_case() -> None:
    assert normalize("ＡＢＣ１２３") == "abc123"
    assert normalize("尾号１２３４") == "尾号1234"
    assert normalize("Ｈｅｌｌｏ，　Ｗｏｒｌｄ！") == "hello, world!"


def test_whitespace_is_collapsed() -> None:
    assert normalize("  Your   Balance\n is\tDUE ") == "your balance is due"


def test_jieba_segmentation() -> None:
    words = tokens("我想提前还款")
    assert "提前" in words
    assert "还款" in words
    assert "".join(words) == "我想提前还款"
    # Traditional input segments the same way once simplified.
    assert tokens("我想提前還款") == words


def test_mixed_text_tokens() -> None:
    words = tokens("我的APR是百分之十二，Card ending 1234")
    assert "apr" in words
    assert "card" in words
    assert "1234" in words
    assert all(w == w.strip() and w for w in words)
    assert segmented("提前还款") == " ".join(tokens("提前还款"))


def test_has_cjk() -> None:
    assert has_cjk("还款")
    assert has_cjk("APR 年化")
    assert not has_cjk("payoff")


def test_summary_is_in_the_calls_language_with_outcome_and_follow_ups() -> None:
    from analysis.analyze import analyze
    from samples import DIALOGUES_DIR
    from samples.dialogue import load_dialogue, scripted_transcript

    zh = analyze(scripted_transcript(load_dialogue(
        DIALOGUES_DIR / "zh" / "zh-14-fee-dispute-dead-air.yaml")))
    assert zh.summary.startswith("客户诉求：利息费用咨询/费用争议")
    assert "处理结果：待跟进" in zh.summary and "三个工作日内" in zh.summary
    assert "质检问题：长时间静音" in zh.summary
    assert "380元" in zh.summary  # 三百八十 and 380 are one amount
    assert not any(word in zh.summary for word in ("Customer", "Flags", "Dead air"))
    en = analyze(scripted_transcript(load_dialogue(
        DIALOGUES_DIR / "en" / "en-08-fraud-never-took-loan.yaml")))
    assert en.summary.startswith("Customer needs: Identity theft")
    assert "Outcome: follow-up pending." in en.summary
    assert "within two business days" in en.summary


def test_a_decimal_amount_does_not_end_a_summary_sentence() -> None:
    from analysis.summary import summarize
    from core.schemas import Transcript, Utterance

    transcript = Transcript(
        call_id="c1", language="en", duration=20.0, engine="text", model="-", version="-",
        diarization="none", utterances=[
        Utterance(start=0.0, end=5.0, role="agent", speaker="S0",
                  text="Of course, I've raised a refund of $108.50 to the same card, "
                       "and it should reach you within five business days."),
    ])
    summary = summarize(transcript, [], {}, "neutral", [])
    assert "$108.50 to the same card" in summary
    assert "within five business days." in summary


@pytest.mark.parametrize(("text", "expected"), [
    ("一千二百六十元", "1260元"), ("身份证后四位三五二八", "身份证后四位3528"), ("十五号", "15号"),
    ("年化利率百分之十五点四", "年化利率15.4%"), ("日利率万分之四", "日利率4‱"),
    ("等一下", "等一下"), ("统一", "统一"), ("第一期", "第一期"), ("两天", "两天"),
])
def test_chinese_numbers_become_digits(text: str, expected: str) -> None:
    from analysis.normalize import chinese_numbers_to_digits

    assert chinese_numbers_to_digits(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("three hundred and forty two dollars and fifty cents", "342 dollars and 50 cents"),
    ("two thousand nine hundred and forty dollars", "2940 dollars"),
    ("twenty-four months", "24 months"),
    ("one moment please", "one moment please"), ("no one by that name", "no one by that name"),
    ("four one one one", "four one one one"), ("someone", "someone"),
])
def test_english_spoken_numbers_become_digits(text: str, expected: str) -> None:
    from analysis.normalize import english_numbers_to_digits

    assert english_numbers_to_digits(text) == expected


def test_search_finds_spoken_amounts_by_digits(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from core.schemas import Utterance
    from search.base import SearchQuery
    from search.embedded import EmbeddedBackend

    utts = [Utterance(speaker="a", role="agent", start=0, end=3,
                      text="Your balance is three hundred and forty two dollars."),
            Utterance(speaker="a", role="agent", start=4, end=7, text="您的欠款是一千二百六十元。")]
    docs = [{"call_id": f"c{i}", "language": lang, "utterances": [
        {"i": 0, "role": u.role, "start": u.start, "end": u.end, "text": u.text}]}
        for i, (u, lang) in enumerate(zip(utts, ("en", "zh"), strict=True))]
    backend = EmbeddedBackend(tmp_path / "s.db")
    backend.index(docs)
    assert [h.call_id for h in backend.search(SearchQuery(text="342")).hits] == ["c0"]
    assert [h.call_id for h in backend.search(SearchQuery(text="1260元")).hits] == ["c1"]
    assert [h.call_id for h in backend.search(SearchQuery(text="一千二百六十元")).hits] == ["c1"]
