"""Rule classifiers: logistic regression on a rule's examples and labelled utterances
(bench/fit_rule_classifiers.py), beside closeness to the nearest example.

English on the real all-MiniLM-L6-v2 (the packaged wheel), Chinese on folded-syllable
n-grams; the labelled data is the real tuning set bench/eval/rules/dev3."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from analysis.dry_run import dry_run
from analysis.rules import RuleError, evaluate, load_rules, near_misses
from analysis.semantic import RuleClassifier, best_matches
from core.schemas import Transcript, Utterance
from core.settings import reset_settings

ROOT = Path(__file__).resolve().parents[2]
DEV3 = ROOT / "bench" / "eval" / "rules" / "dev3"

PACK = """
rules:
  - id: veiled_threat
    title: Veiled threat
    type: must_not_say
    examples:
      en: ["we know where you work", "your family will hear about this"]
      zh: ["我们知道你在哪上班", "你家里人迟早会知道"]
    counter_examples:
      en: ["we will never contact your employer"]
    threshold: {en: 0.6, zh: 0.7}
    classifier_threshold: {en: 0.5, zh: 0.6}
  - id: hold
    title: Hold
    type: marker
    examples:
      en: ["please hold while I check", "one moment please"]
      zh: ["请您稍等", "我帮您查一下"]
"""

TRAINING = {"rules": {"veiled_threat": {
    "en": {"positives": ["it would be a shame if your manager heard about your debts",
                         "I have the number of your HR department right here",
                         "your neighbours might start asking questions about you",
                         "your kids will wonder why we keep calling the house"],
           "negatives": ["your balance is two hundred pounds", "can I take your date of birth",
                         "we can set up a payment plan for you", "thanks for your time, goodbye",
                         "the next payment is due on the fifth", "I'll send you a letter"]},
    "zh": {"positives": ["你们领导的电话我们这里有", "要不要让你爸妈知道这件事", "你邻居会问起你的事"],
           "negatives": ["您本期应还两千元", "请报一下身份证后四位", "可以帮您申请分期",
                         "感谢您的接听，再见", "还款日是十五号"]}}}}


def transcript(texts: list[str], language: str = "en") -> Transcript:
    utterances = [Utterance(speaker="agent", role="agent", start=4.0 * i, end=4.0 * i + 3,
                            text=t) for i, t in enumerate(texts)]
    return Transcript(call_id="hand-made", language=language, duration=4.0 * len(texts),
                      utterances=utterances, engine="test", model="hand", version="1",
                      diarization="none")


@pytest.fixture(autouse=True)
def _fresh_settings() -> object:
    yield
    reset_settings()  # monkeypatch has put CALLQA_RULE_TRAINING back: forget what was read


def _use_training(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CALLQA_RULE_TRAINING", value)
    reset_settings()


@pytest.fixture
def pack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    rules = tmp_path / "rules.yaml"
    rules.write_text(PACK, "utf-8")
    training = tmp_path / "training.yaml"
    training.write_text(yaml.safe_dump(TRAINING, allow_unicode=True), "utf-8")
    _use_training(monkeypatch, str(training))
    return load_rules(rules)


SAID = "the payroll office at your company would be very interested in your debts"


def test_the_classifier_matches_what_no_single_example_is_close_to(pack: object) -> None:
    rule = pack.by_id("veiled_threat")  # type: ignore[attr-defined]
    positives, negatives = rule.classifier_data("en")
    # Examples, labelled positives; counter-examples, the other rules' examples, negatives.
    assert positives[:2] == rule.examples["en"] and len(positives) == 6
    assert "we will never contact your employer" in negatives
    assert "please hold while I check" in negatives
    found = best_matches(rule.examples["en"], [SAID], "en", classifier=(positives, negatives))[0]
    assert found is not None and found.score < 0.6  # the nearest example alone misses it
    assert found.probability is not None and found.probability >= 0.5
    flags = evaluate(pack, transcript(["Hello, this is Sam.", SAID]))  # type: ignore[arg-type]
    evidence = next(f for f in flags if f.rule_id == "veiled_threat").evidence
    assert [e.utterance for e in evidence] == [1]
    assert evidence[0].matched_by == "classifier" and evidence[0].matched in rule.examples["en"]
    assert evidence[0].score == found.probability


def test_without_labelled_utterances_only_closeness_counts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(PACK, "utf-8")
    _use_training(monkeypatch, "none")
    ruleset = load_rules(rules)
    assert ruleset.by_id("veiled_threat").classifier_data("en") is None
    assert evaluate(ruleset, transcript(["Hello, this is Sam.", SAID])) == []


def test_a_denial_reads_as_a_denial_to_the_classifier(pack: object) -> None:
    rule = pack.by_id("veiled_threat")  # type: ignore[attr-defined]
    model = RuleClassifier(*rule.classifier_data("en"), chinese=False)
    said, denied = model.probabilities(["we will contact your employer about your debt",
                                        "we would never contact your employer about your debt"])
    assert said > denied + 0.2


def test_a_chinese_paraphrase_scores_above_an_ordinary_sentence(pack: object) -> None:
    rule = pack.by_id("veiled_threat")  # type: ignore[attr-defined]
    model = RuleClassifier(*rule.classifier_data("zh"), chinese=True)
    threat, ordinary = model.probabilities(["你们公司领导的电话我们也有", "您的账单是三千元"])
    assert threat > 0.6 > ordinary


def test_near_misses_name_the_classifier(pack: object) -> None:
    rule = pack.by_id("veiled_threat")  # type: ignore[attr-defined]
    call = transcript(["I wonder what your colleagues would say about all this"])
    found = best_matches(rule.examples["en"], [call.utterances[0].text], "en",
                         classifier=rule.classifier_data("en"))[0]
    assert found is not None and found.probability is not None
    margin = 0.5 - found.probability + 0.01
    misses = near_misses(rule, call, margin=max(margin, 0.01))
    if found.probability >= 0.5:
        assert misses == []
    else:
        assert [(m.by, m.threshold, m.score) for m in misses] == [
            ("classifier", 0.5, found.probability)]
        outcome = dry_run(pack, [(call, set())], near_miss_margin=margin)["veiled_threat"]  # type: ignore[arg-type]
        assert [n.by for _, n in outcome.near_misses] == ["classifier"]


def test_a_training_file_that_is_not_a_mapping_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(PACK, "utf-8")
    bad = tmp_path / "training.yaml"
    bad.write_text("- just a list\n", "utf-8")
    _use_training(monkeypatch, str(bad))
    with pytest.raises(RuleError, match="training file"):
        load_rules(rules)


def test_classifier_threshold_is_validated(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(PACK.replace("classifier_threshold: {en: 0.5, zh: 0.6}",
                                  "classifier_threshold: 1.5"), "utf-8")
    with pytest.raises(RuleError, match="classifier_threshold"):
        load_rules(rules)


def test_labelled_turns_of_the_tuning_set_become_training_utterances() -> None:
    from bench.fit_rule_classifiers import collect
    from samples.dialogue import load_dialogues

    ruleset = load_rules()
    dialogues = load_dialogues([DEV3])
    training = collect(ruleset, dialogues)
    threats = training["threat_or_abuse"]["en"]
    marked = [t.text for d in dialogues if d.language == "en" for t in d.turns
              if "threat_or_abuse" in t.violations]
    assert marked and threats["positives"] == marked
    # Negatives come from calls without the violation only, sentence by sentence.
    clean = [d for d in dialogues if d.language == "en"
             and "threat_or_abuse" not in d.expected.violations]
    assert "Honestly, a ten year old could run a budget better than you do." not in threats["negatives"]
    assert any(s in threats["negatives"] for d in clean for t in d.turns for s in [t.text])
    # account details: only what comes before the identity check counts as a negative.
    details = training["account_details_before_verification"]["en"]["negatives"]
    assert not any("outstanding balance is one thousand and sixty" in s for s in details)
