"""match: all, condition rules, pinyin matching for Chinese, and the dry run."""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis.analyze import analyze
from analysis.dry_run import dry_run
from analysis.rules import RuleError, load_rules, parse_rules, pinyin_find
from core.schemas import Transcript, Utterance


def call(lines: list[tuple[str, str]], language: str = "en", gap: float = 0.5) -> Transcript:
    utts, t = [], 0.0
    for role, text in lines:
        utts.append(Utterance(speaker=role, role=role, start=t, end=t + 3.0, text=text))  # type: ignore[arg-type]
        t += 3.0 + gap
    return Transcript(call_id="c", language=language, duration=t, utterances=utts,
                      engine="test", model="test", version="1", diarization="test")


def rules(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(text, "utf-8")
    return path


def test_match_all_needs_every_phrase_in_one_utterance(tmp_path: Path) -> None:
    ruleset = load_rules(rules(tmp_path, """rules:
  - id: fee_and_rate
    title: Fee and rate in one breath
    type: must_not_say
    match: all
    phrases: {en: ["late fee", "interest rate"]}
"""))
    both = call([("agent", "The late fee is twenty dollars and the interest rate is fixed.")])
    split = call([("agent", "The late fee is twenty dollars."), ("agent", "The interest rate is fixed.")])
    assert [f.rule_id for f in analyze(both, ruleset).flags] == ["fee_and_rate"]
    assert analyze(split, ruleset).flags == []


def test_condition_rules_use_conversation_metrics(tmp_path: Path) -> None:
    ruleset = load_rules(rules(tmp_path, """rules:
  - id: agent_dominates
    title: Agent talks most of the call
    type: condition
    condition: {metric: agent_talk_share, op: ">", value: 0.7}
  - id: fast_talker
    title: Agent speaks too fast
    type: condition
    condition: {metric: agent_speech_rate_per_min, op: ">", value: {en: 220, zh: 330}}
"""))
    monologue = call([("agent", "word " * 8)] * 4 + [("customer", "ok")])
    flags = {f.rule_id: f for f in analyze(monologue, ruleset).flags}
    assert set(flags) == {"agent_dominates"}
    assert "agent_talk_share = 0.8" in flags["agent_dominates"].evidence[0].quote
    rushed = call([("agent", "word " * 14), ("customer", "ok")])  # 14 words in 3 s = 280/min
    assert "fast_talker" in {f.rule_id for f in analyze(rushed, ruleset).flags}
    chinese = call([("agent", "您" * 14), ("customer", "好")], language="zh")  # 280 chars/min
    assert "fast_talker" not in {f.rule_id for f in analyze(chinese, ruleset).flags}


def test_condition_rule_with_unknown_metric_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="not one of"):
        load_rules(rules(tmp_path, """rules:
  - id: x
    title: x
    type: condition
    condition: {metric: happiness, op: ">", value: 1}
"""))


def test_pinyin_matching_hears_homophones() -> None:
    assert pinyin_find("录音", "本次通话可能会被路音") == 8
    assert pinyin_find("录音", "本次通话可能会被录制") == -1
    text = "本次通话可能会被路音，请问有什么可以帮您"
    [rule] = parse_rules("""rules:
  - id: recording_disclosure_missing
    title: t
    type: must_say
    phrases: {zh: ["通话会被录音", "可能会被录音"]}
""")
    from analysis.rules import RuleSet, evaluate

    heard = call([("agent", text)], language="zh")
    assert evaluate(RuleSet([rule], "t"), heard) == []  # 可能会被路音 sounds like 可能会被录音
    exact_only = rule.model_copy(update={"phonetic": False})
    assert [f.rule_id for f in evaluate(RuleSet([exact_only], "t"), heard)] == [
        "recording_disclosure_missing"]


def test_default_pack_hears_misrecognised_recording_notice() -> None:
    heard = call([("agent", "您好，恒信消费金融，工号A2001，本次通话将被路音，请问有什么可以帮您？"),
                  ("customer", "我想查一下账单。")], language="zh")
    assert "recording_disclosure_missing" not in {f.rule_id for f in analyze(heard).flags}


def test_dry_run_reports_new_and_dropped_flags(tmp_path: Path) -> None:
    ruleset = load_rules(rules(tmp_path, """rules:
  - id: says_sorry
    title: Agent apologises
    type: must_not_say
    phrases: {en: ["sorry"]}
"""))
    sorry = call([("agent", "I am so sorry about that.")])
    sorry.call_id = "a"
    fine = call([("agent", "All done.")])
    fine.call_id = "b"
    fresh = call([("agent", "Sorry for the wait.")])
    fresh.call_id = "c"
    outcome = dry_run(ruleset, [(sorry, set()), (fine, {"says_sorry"}), (fresh, None)])["says_sorry"]
    assert outcome.flagged == ["a", "c"]
    assert outcome.newly_flagged == ["a"]  # c had no analysis yet: not "new"
    assert outcome.no_longer == ["b"]
    assert outcome.examples[0][1].evidence[0].quote == "I am so sorry about that."
