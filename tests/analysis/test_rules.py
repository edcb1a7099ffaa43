"""analysis.rules: the default pack against the bundled dialogues, rule-file validation,
anchored rules and dead air on hand-built transcripts."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest

from analysis import analyze
from analysis.rules import DEFAULT_RULES, RuleError, RuleSet, evaluate, load_rules, localized, parse_rules
from core.schemas import Analysis, Transcript, Utterance
from samples.dialogue import Dialogue, load_dialogues, scripted_transcript

# Helpers ------------------------------------------------------------------------------


def transcript(turns: list[tuple[str, float, float, str]], language: str = "en") -> Transcript:
    utterances = [Utterance(speaker=role, role=role, start=start, end=end, text=text)
                  for role, start, end, text in turns]
    return Transcript(call_id="hand-made", language=language,
                      duration=max(u.end for u in utterances) + 0.5, utterances=utterances,
                      engine="test", model="hand", version="1", diarization="none")


def flagged(ruleset: RuleSet, t: Transcript) -> dict[str, list]:
    return {f.rule_id: f.evidence for f in evaluate(ruleset, t)}


def line_of(text: str, needle: str) -> int:
    """1-based line number of the first line containing `needle`."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.fixture(scope="module")
def default_rules() -> RuleSet:
    return load_rules()


@pytest.fixture(scope="module")
def analysed(default_rules: RuleSet) -> list[tuple[Dialogue, Transcript, Analysis]]:
    out = []
    for d in load_dialogues():
        t = scripted_transcript(d)
        out.append((d, t, analyze(t, default_rules)))
    return out


# The default pack ---------------------------------------------------------------------


def test_default_pack_loads(default_rules: RuleSet) -> None:
    assert default_rules.rules
    assert re.fullmatch(r"[0-9a-f]{12}", default_rules.version)
    ids = [r.id for r in default_rules.rules]
    assert len(ids) == len(set(ids))
    flags = {r.id for r in default_rules.rules if r.type != "marker"}
    assert {"recording_disclosure_missing", "account_details_before_verification",
            "threat_or_abuse", "third_party_disclosure", "guaranteed_approval",
            "rate_disclosure_missing", "closing_missing", "dead_air"} <= flags
    # Every rule knows the line it came from.
    assert all(r.line > 0 for r in default_rules.rules)
    # The folder and the file load the same rules.
    assert load_rules(DEFAULT_RULES / "default.yaml").version == default_rules.version


def test_version_changes_with_a_rule_version(tmp_path: Path) -> None:
    text = (DEFAULT_RULES / "default.yaml").read_text("utf-8")
    bumped = re.sub(r"    version: (\d+)\n    severity: low",
                    lambda m: f"    version: {int(m.group(1)) + 1}\n    severity: low", text, count=1)
    assert bumped != text
    path = tmp_path / "bumped.yaml"
    path.write_text(bumped, "utf-8")
    assert load_rules(path).version != load_rules().version


@pytest.mark.parametrize("language", ["en", "zh"])
def test_precision_and_recall_per_rule(
    analysed: list[tuple[Dialogue, Transcript, Analysis]], default_rules: RuleSet, language: str
) -> None:
    tp: dict[str, int] = defaultdict(int)
    fp: dict[str, list[str]] = defaultdict(list)
    fn: dict[str, list[str]] = defaultdict(list)
    for d, _, a in analysed:
        if d.language != language:
            continue
        got = {f.rule_id for f in a.flags}
        want = set(d.expected.violations)
        for rule_id in got & want:
            tp[rule_id] += 1
        for rule_id in got - want:
            fp[rule_id].append(d.id)
        for rule_id in want - got:
            fn[rule_id].append(d.id)
    problems = []
    for rule in default_rules.rules:
        if rule.type == "marker":
            continue
        t, p, n = tp[rule.id], len(fp[rule.id]), len(fn[rule.id])
        assert t + n > 0, f"{rule.id}: no {language} dialogue expects it"
        precision = t / (t + p) if t + p else 1.0
        recall = t / (t + n)
        if precision < 0.9 or recall < 0.9:
            problems.append(f"{rule.id}: precision {precision:.2f} (false: {fp[rule.id]}), "
                            f"recall {recall:.2f} (missed: {fn[rule.id]})")
    assert not problems, f"{language}:\n" + "\n".join(problems)


def test_markers_never_flag(analysed: list[tuple[Dialogue, Transcript, Analysis]],
                            default_rules: RuleSet) -> None:
    markers = {r.id for r in default_rules.rules if r.type == "marker"}
    for _, _, a in analysed:
        assert not markers & {f.rule_id for f in a.flags}


def test_announced_silences_are_hold_stretches_not_dead_air(
        analysed: list[tuple[Dialogue, Transcript, Analysis]]) -> None:
    """The call timeline draws Analysis.holds: a silence after "please hold" (en-04's 18 s
    eligibility check) is a hold, and neither a hold nor dead air where nobody said so."""
    by_id = {d.id: (t, a) for d, t, a in analysed}
    transcript, analysis = by_id["en-04-personal-loan-application"]
    assert len(analysis.holds) == 1
    start, end = analysis.holds[0]
    assert end - start >= 15
    before = [u for u in transcript.utterances if u.end <= start + 0.01][-3:]
    assert any("please hold" in u.text.lower() and u.role == "agent" for u in before)
    dead_air = [e for f in analysis.flags if f.rule_id == "dead_air" for e in f.evidence]
    assert not any(e.start < end and e.end > start for e in dead_air)
    flagged_silences = {(round(e.start, 2), round(e.end, 2)) for d, _, a in analysed
                        for f in a.flags if f.rule_id == "dead_air" for e in f.evidence}
    assert not flagged_silences & {tuple(h) for _, _, a in analysed for h in a.holds}


def test_flags_carry_evidence(analysed: list[tuple[Dialogue, Transcript, Analysis]],
                              default_rules: RuleSet) -> None:
    n_flags = 0
    for d, t, a in analysed:
        assert a.rules_version == default_rules.version
        for flag in a.flags:
            n_flags += 1
            rule = default_rules.by_id(flag.rule_id)
            assert rule is not None
            assert (flag.severity, flag.rule_version, flag.title) == (
                rule.severity, rule.version, localized(rule.title, a.language))
            assert flag.evidence, (d.id, flag.rule_id)
            for ev in flag.evidence:
                assert 0 <= ev.start <= ev.end <= t.duration, (d.id, flag.rule_id, ev)
                assert ev.quote.strip(), (d.id, flag.rule_id)
                if ev.utterance is not None:
                    utt = t.utterances[ev.utterance]
                    if rule.type == "must_not_say":
                        # The quote is what was said, by whom, when.
                        assert ev.quote == utt.text
                        assert (ev.start, ev.end) == (utt.start, utt.end)
                        assert ev.speaker_role == utt.role == rule.who
    assert n_flags >= 40


def test_dead_air_evidence_spans_the_gap(analysed: list[tuple[Dialogue, Transcript, Analysis]],
                                         ) -> None:
    for d, t, a in analysed:
        for flag in a.flags:
            if flag.rule_id != "dead_air":
                continue
            for ev in flag.evidence:
                assert ev.end - ev.start >= 8
                # Nobody speaks inside the gap.
                assert not [u for u in t.utterances if u.start < ev.end - 0.01
                            and u.end > ev.start + 0.01], d.id


# Rule-file validation -----------------------------------------------------------------

GOOD = """\
# a comment line
rules:
  - id: greeting
    title: Agent greets
    type: must_say
    phrases: {en: ["hello"]}
  - id: verify
    title: Identity check
    type: marker
    phrases: {en: ["date of birth"]}
"""

BAD_RULES = {
    "bad_severity": ("    severity: urgent\n    phrases: {en: [x]}\n    type: must_not_say\n",
                     "severity"),
    "unknown_type": ("    type: must_shout\n    phrases: {en: [x]}\n", "type"),
    "invalid_regex": ("    type: must_not_say\n    regex: {en: ['(unclosed']}\n", "regex"),
    "no_phrases": ("    type: must_not_say\n", "phrases"),
    "dead_air_without_min_s": ("    type: dead_air\n", "min_s"),
    "unknown_field": ("    type: marker\n    phrases: {en: [x]}\n    colour: red\n", "colour"),
    "bad_id": ("    type: marker\n    phrases: {en: [x]}\n", "id"),
}


def bad_rule_text(case: str) -> tuple[str, int]:
    body, _ = BAD_RULES[case]
    rule_id = "Bad-Id!" if case == "bad_id" else "broken_rule"
    text = GOOD + f"  - id: {rule_id}\n    title: Broken\n" + body
    return text, line_of(text, f"id: {rule_id}")


@pytest.mark.parametrize("case", list(BAD_RULES))
def test_invalid_rule_names_file_and_line(tmp_path: Path, case: str) -> None:
    text, line = bad_rule_text(case)
    path = tmp_path / f"{case}.yaml"
    path.write_text(text, "utf-8")
    for call in (lambda: parse_rules(text, str(path)), lambda: load_rules(path)):
        with pytest.raises(RuleError) as info:
            call()
        message = str(info.value)
        assert f"{path}:{line}" in message, message
        assert BAD_RULES[case][1] in message


def test_parse_rules_records_lines() -> None:
    rules = parse_rules(GOOD, "good.yaml")
    assert [(r.id, r.line) for r in rules] == [("greeting", line_of(GOOD, "id: greeting")),
                                               ("verify", line_of(GOOD, "id: verify"))]


def test_rule_that_is_not_a_mapping(tmp_path: Path) -> None:
    text = GOOD + "  - just a string\n"
    path = tmp_path / "strings.yaml"
    path.write_text(text, "utf-8")
    with pytest.raises(RuleError) as info:
        load_rules(path)
    assert f"{path}:{line_of(text, 'just a string')}" in str(info.value)
    assert "mapping" in str(info.value)


@pytest.mark.parametrize("text", ["- a\n- b\n", "rules: {id: x}\n", "just text\n", ""])
def test_file_that_is_not_a_rule_mapping(tmp_path: Path, text: str) -> None:
    path = tmp_path / "shape.yaml"
    path.write_text(text, "utf-8")
    with pytest.raises(RuleError) as info:
        load_rules(path)
    assert f"{path}:1" in str(info.value)


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    text = GOOD + "  - id: broken\n    title: [unclosed\n    type: must_say\n"
    path = tmp_path / "syntax.yaml"
    path.write_text(text, "utf-8")
    with pytest.raises(RuleError) as info:
        load_rules(path)
    match = re.search(re.escape(str(path)) + r":(\d+)", str(info.value))
    assert match, str(info.value)
    # The parser notices at the end of the broken rule; the line is inside it.
    assert line_of(text, "id: broken") <= int(match.group(1)) <= len(text.splitlines()) + 1
    assert "YAML" in str(info.value)


def test_empty_rule_folder(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match=re.escape(str(tmp_path))):
        load_rules(tmp_path)


def test_rule_folder_merges_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD, "utf-8")
    (tmp_path / "b.yaml").write_text(
        "rules:\n  - id: no_dob_first\n    title: x\n    type: must_not_say\n"
        "    before: verify\n    phrases: {en: [balance]}\n", "utf-8")
    assert [r.id for r in load_rules(tmp_path).rules] == ["greeting", "verify", "no_dob_first"]


@pytest.mark.parametrize("field", ["before", "after", "applies_if", "excused_by"])
def test_unknown_reference_is_refused(tmp_path: Path, field: str) -> None:
    extra = "    min_s: 5\n" if field == "excused_by" else "    phrases: {en: [x]}\n"
    kind = "dead_air" if field == "excused_by" else "must_not_say"
    text = GOOD + (f"  - id: dangling\n    title: x\n    type: {kind}\n"
                   f"    {field}: no_such_rule\n" + extra)
    path = tmp_path / f"{field}.yaml"
    path.write_text(text, "utf-8")
    with pytest.raises(RuleError) as info:
        load_rules(path)
    assert "no_such_rule" in str(info.value)
    assert "dangling" in str(info.value)
    assert str(line_of(text, "id: dangling")) in str(info.value)


def test_unknown_reference_names_the_file(tmp_path: Path) -> None:
    text = GOOD + ("  - id: dangling\n    title: x\n    type: must_not_say\n"
                   "    before: no_such_rule\n    phrases: {en: [x]}\n")
    path = tmp_path / "refs.yaml"
    path.write_text(text, "utf-8")
    with pytest.raises(RuleError) as info:
        load_rules(path)
    assert f"{path}:{line_of(text, 'id: dangling')}" in str(info.value)


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    text = GOOD + "  - id: greeting\n    title: again\n    type: marker\n    phrases: {en: [x]}\n"
    path = tmp_path / "dupes.yaml"
    path.write_text(text, "utf-8")
    with pytest.raises(RuleError) as info:
        load_rules(path)
    assert "greeting" in str(info.value)
    assert str(path) in str(info.value)
    # Across two files of a folder too.
    folder = tmp_path / "pack"
    folder.mkdir()
    (folder / "one.yaml").write_text(GOOD, "utf-8")
    (folder / "two.yaml").write_text(GOOD, "utf-8")
    with pytest.raises(RuleError, match="greeting"):
        load_rules(folder)


def test_duplicate_id_names_file_and_line(tmp_path: Path) -> None:
    text = GOOD + "  - id: greeting\n    title: again\n    type: marker\n    phrases: {en: [x]}\n"
    path = tmp_path / "dupes.yaml"
    path.write_text(text, "utf-8")
    with pytest.raises(RuleError) as info:
        load_rules(path)
    # The second occurrence is the bad rule.
    second = [i for i, line in enumerate(text.splitlines(), 1) if "id: greeting" in line][1]
    assert f"{path}:{second}" in str(info.value)
    # In a folder, the file holding the duplicate is named.
    folder = tmp_path / "pack"
    folder.mkdir()
    (folder / "one.yaml").write_text(GOOD, "utf-8")
    (folder / "two.yaml").write_text(GOOD, "utf-8")
    with pytest.raises(RuleError) as info:
        load_rules(folder)
    assert f"{folder / 'two.yaml'}:{line_of(GOOD, 'id: greeting')}" in str(info.value)


# Anchored rules ------------------------------------------------------------------------

ANCHORED = """\
rules:
  - id: identity
    title: identity check
    type: marker
    phrases: {en: ["date of birth"]}
  - id: third_party
    title: someone else answers
    type: marker
    who: customer
    phrases: {en: ["wrong number"]}
  - id: balance_early
    title: balance before identity
    type: must_not_say
    before: identity
    regex: {en: ['\\bbalance\\b']}
  - id: debt_to_third_party
    title: debt after a third party shows up
    type: must_not_say
    after: third_party
    phrases: {en: ["overdue"]}
"""


@pytest.fixture
def anchored(tmp_path: Path) -> RuleSet:
    path = tmp_path / "anchored.yaml"
    path.write_text(ANCHORED, "utf-8")
    return load_rules(path)


def test_before_flags_only_matches_before_the_anchor(anchored: RuleSet) -> None:
    t = transcript([
        ("agent", 0.5, 3.0, "Your balance is high."),
        ("customer", 3.5, 5.0, "Okay."),
        ("agent", 5.5, 8.0, "Can you confirm your date of birth?"),
        ("customer", 8.5, 10.0, "First of May."),
        ("agent", 10.5, 13.0, "Thanks. Your balance is four hundred dollars."),
    ])
    evidence = flagged(anchored, t)["balance_early"]
    assert [e.utterance for e in evidence] == [0]
    assert evidence[0].quote == "Your balance is high."
    assert (evidence[0].start, evidence[0].end) == (0.5, 3.0)


def test_before_without_anchor_flags_every_match(anchored: RuleSet) -> None:
    t = transcript([
        ("agent", 0.5, 3.0, "Your balance is high."),
        ("agent", 10.5, 13.0, "The balance is due Friday."),
    ])
    assert [e.utterance for e in flagged(anchored, t)["balance_early"]] == [0, 1]


def test_nothing_before_the_anchor_is_clean(anchored: RuleSet) -> None:
    t = transcript([
        ("agent", 0.5, 3.0, "Please confirm your date of birth."),
        ("agent", 5.5, 8.0, "Your balance is four hundred dollars."),
    ])
    assert "balance_early" not in flagged(anchored, t)


def test_after_flags_only_matches_after_the_anchor(anchored: RuleSet) -> None:
    t = transcript([
        ("agent", 0.5, 3.0, "Your account is overdue."),
        ("customer", 3.5, 5.0, "Sorry, you have the wrong number."),
        ("agent", 5.5, 8.0, "Tell him the loan is overdue."),
    ])
    assert [e.utterance for e in flagged(anchored, t)["debt_to_third_party"]] == [2]
    no_anchor = transcript([("agent", 0.5, 3.0, "Your account is overdue.")])
    assert "debt_to_third_party" not in flagged(anchored, no_anchor)


def test_marker_matches_only_its_speaker(anchored: RuleSet) -> None:
    """The customer saying "date of birth" does not count as the agent's identity check."""
    t = transcript([
        ("customer", 0.5, 3.0, "Do you need my date of birth?"),
        ("agent", 3.5, 6.0, "Your balance is four hundred dollars."),
    ])
    assert [e.utterance for e in flagged(anchored, t)["balance_early"]] == [1]


def test_default_pack_before_verification(default_rules: RuleSet) -> None:
    early = transcript([
        ("agent", 0.5, 4.0, "Evergreen Finance, this call is recorded. How can I help?"),
        ("customer", 4.5, 6.0, "What do I owe?"),
        ("agent", 6.5, 10.0, "Your outstanding balance is $450, due on the 12th."),
        ("agent", 10.5, 13.0, "Can I take your date of birth to verify your identity?"),
        ("agent", 13.5, 16.0, "Thank you. Anything else? Goodbye."),
    ])
    evidence = flagged(default_rules, early)["account_details_before_verification"]
    assert [e.utterance for e in evidence] == [2]
    late = transcript([
        ("agent", 0.5, 4.0, "Evergreen Finance, this call is recorded. How can I help?"),
        ("agent", 4.5, 7.0, "Can I take your date of birth to verify your identity?"),
        ("agent", 7.5, 11.0, "Your outstanding balance is $450, due on the 12th."),
        ("agent", 11.5, 14.0, "Anything else? Goodbye."),
    ])
    assert "account_details_before_verification" not in flagged(default_rules, late)


@pytest.mark.parametrize(("turn", "flagged_here"), [
    ("I can see the payment of $212 bounced on Tuesday. Can I take your date of birth?", True),
    ("Thanks, that's you verified. The payment of $212 bounced on Tuesday.", False),
    ("您上个月的账单是三千二百元，还没还。请报一下身份证后四位。", True),
    ("好的，核实通过。您上个月的账单是三千二百元，还没还。", False),
])
def test_details_and_the_check_in_one_turn_are_read_in_order(
        default_rules: RuleSet, turn: str, flagged_here: bool) -> None:
    """Recognisers merge one speaker's sentences into a turn: inside it, the sentence
    order says whether the details came before the check."""
    zh = "核实" in turn or "账单" in turn
    call = transcript([
        ("agent", 0.5, 4.0, "您好，本次通话将被录音。" if zh else "This call is recorded."),
        ("customer", 4.5, 6.0, "我想问一下账单。" if zh else "I had an email about my payment."),
        ("agent", 6.5, 12.0, turn),
        ("agent", 12.5, 15.0, "还有其他问题吗？再见。" if zh else "Anything else? Goodbye."),
    ], language="zh" if zh else "en")
    found = flagged(default_rules, call).get("account_details_before_verification", [])
    assert [e.utterance for e in found] == ([2] if flagged_here else [])


def test_default_pack_chinese_before_verification(default_rules: RuleSet) -> None:
    t = transcript([
        ("agent", 0.5, 4.0, "您好，本次通话将被录音。"),
        ("agent", 4.5, 8.0, "您本期应还三千二百元。"),
        ("agent", 8.5, 11.0, "请提供一下身份证后四位核实身份。"),
        ("agent", 11.5, 14.0, "您的欠款一共五千元。还有其他问题吗？再见。"),
    ], language="zh")
    evidence = flagged(default_rules, t)["account_details_before_verification"]
    assert [e.utterance for e in evidence] == [1]


def test_traditional_chinese_is_matched_as_simplified(default_rules: RuleSet) -> None:
    t = transcript([("agent", 0.5, 4.0, "您好，本次通話將被錄音。"),
                    ("agent", 4.5, 8.0, "還有其他問題嗎？再見。")], language="zh")
    ids = set(flagged(default_rules, t))
    assert "recording_disclosure_missing" not in ids
    assert "closing_missing" not in ids


def test_recording_notice_window(default_rules: RuleSet) -> None:
    late_notice = transcript([
        ("agent", 0.5, 4.0, "Hello, Evergreen Finance."),
        ("agent", 70.0, 74.0, "By the way, this call is recorded. Goodbye."),
    ])
    evidence = flagged(default_rules, late_notice)["recording_disclosure_missing"]
    assert evidence[0].utterance is None
    assert evidence[0].end <= 60
    assert "recording_disclosure_missing" not in flagged(default_rules, transcript([
        ("agent", 0.5, 4.0, "Hello, this call is being recorded."),
        ("agent", 5.0, 8.0, "Goodbye."),
    ]))


def test_fuzzy_english_phrases(default_rules: RuleSet) -> None:
    """A recogniser's small slips ("aproved", "chek") still match English phrases."""
    t = transcript([
        ("agent", 0.5, 4.0, "This call is recorded. You'll definitely be aproved, no credit chek."),
        ("agent", 4.5, 8.0, "Goodbye."),
    ])
    assert "guaranteed_approval" in flagged(default_rules, t)


def test_fuzzy_phrases_match_word_for_word(default_rules: RuleSet) -> None:
    """Slips inside a word match; a short phrase never matches across other words (the
    demo's "you will get a letter" once matched the threat phrase "you will regret")."""
    from analysis.rules import fuzzy_word_find

    assert fuzzy_word_find("you will regret", "you will get a letter and an email", 88) < 0
    assert fuzzy_word_find("call the police", "please recall the policy", 88) < 0
    assert fuzzy_word_find("you will regret", "pay now or you will regrett it", 88) == 11
    assert fuzzy_word_find("anything else", "is there any thing else", 88) == 9
    assert fuzzy_word_find("any thing else", "anything else today", 88) == 0
    en06 = transcript([
        ("agent", 0.5, 4.0, "This call is recorded. How can I help?"),
        ("agent", 4.5, 12.0, "you will get a letter and an email confirm of the plan and the "
                             "first payment of one hundred dollars is due on the 15th of "
                             "November is there anything else I can help you with"),
    ])
    assert "threat_or_abuse" not in flagged(default_rules, en06)


# Dead air ------------------------------------------------------------------------------


def dead_air_call(between: list[str], announcement: bool, gap: float = 12.0) -> Transcript:
    """An agent turn (optionally a hold announcement), `between` customer/agent turns,
    then `gap` seconds of silence, then the agent again."""
    turns: list[tuple[str, float, float, str]] = [
        ("agent", 0.5, 3.0, "This call is recorded. How can I help?"),
        ("agent", 3.5, 6.0, "Please hold while I check that." if announcement
         else "Let me check that."),
    ]
    t = 6.5
    for i, text in enumerate(between):
        role = "customer" if i % 2 == 0 else "agent"
        turns.append((role, t, t + 1.5, text))
        t += 2.0
    last_end = turns[-1][2]
    turns.append(("agent", last_end + gap, last_end + gap + 3.0,
                  "Thanks for waiting. Anything else? Goodbye."))
    return transcript(turns)


@pytest.mark.parametrize("between", [[], ["Sure."], ["Sure.", "Okay, checking now."]],
                         ids=["right-before", "one-turn-back", "two-turns-back"])
def test_dead_air_excused_by_a_recent_hold_announcement(default_rules: RuleSet,
                                                        between: list[str]) -> None:
    assert "dead_air" not in flagged(default_rules, dead_air_call(between, announcement=True))
    # The same silence without the announcement is dead air.
    evidence = flagged(default_rules, dead_air_call(between, announcement=False))["dead_air"]
    assert len(evidence) == 1
    assert evidence[0].end - evidence[0].start == pytest.approx(12.0, abs=0.01)


def test_old_hold_announcement_does_not_excuse(default_rules: RuleSet) -> None:
    call = dead_air_call(["Sure.", "Right.", "Okay.", "Still there?"], announcement=True)
    assert "dead_air" in flagged(default_rules, call)


def test_short_silence_is_not_dead_air(default_rules: RuleSet) -> None:
    assert "dead_air" not in flagged(default_rules, dead_air_call([], False, gap=7.0))
    assert "dead_air" in flagged(default_rules, dead_air_call([], False, gap=9.0))


def test_a_wait_the_customer_asks_for_is_not_dead_air(default_rules: RuleSet) -> None:
    """The customer waits on nobody while fetching a card: that silence is theirs. The
    agent going quiet after an ordinary customer turn is still dead air."""
    def call(customer_says: str) -> Transcript:
        return transcript([
            ("agent", 0.5, 3.0, "This call is recorded. Can I have the last four digits of the card?"),
            ("customer", 3.5, 5.0, customer_says),
            ("agent", 17.0, 20.0, "Thanks. Anything else? Goodbye."),
        ])
    assert "dead_air" not in flagged(default_rules, call("Hang on, let me get it from my bag."))
    assert "dead_air" in flagged(default_rules, call("It's five one nine two."))


def test_an_announced_wait_is_spent_once_the_customer_speaks(default_rules: RuleSet) -> None:
    """"Bear with me" excuses the lookup that follows; after the customer's next
    question, a second long silence is dead air again."""
    call = transcript([
        ("agent", 0.5, 3.0, "This call is recorded. Let me pull that up, bear with me a moment."),
        ("agent", 15.0, 18.0, "Your last payment went out on the first."),
        ("customer", 18.5, 20.0, "And what's the settlement figure?"),
        ("agent", 34.0, 37.0, "It's four thousand one hundred. Anything else? Goodbye."),
    ])
    evidence = flagged(default_rules, call)["dead_air"]
    assert [(e.start, e.end) for e in evidence] == [(20.0, 34.0)]
    # Two silences inside one wait, the customer silent between them: both excused.
    held = transcript([
        ("agent", 0.5, 3.0, "This call is recorded. Bear with me while I check."),
        ("agent", 15.0, 16.0, "Still looking."),
        ("agent", 28.0, 31.0, "Found it. Anything else? Goodbye."),
    ])
    assert "dead_air" not in flagged(default_rules, held)


def test_overlapping_turns_are_not_silence(default_rules: RuleSet) -> None:
    """A long turn that covers a later short one: the gap is measured from the latest end."""
    call = transcript([
        ("agent", 0.5, 20.0, "This call is recorded. " + "Let me explain the terms. " * 20),
        ("customer", 2.0, 3.0, "Mm-hm."),
        ("agent", 21.0, 24.0, "Anything else? Goodbye."),
    ])
    assert "dead_air" not in flagged(default_rules, call)


# False positives of the default pack ----------------------------------------------------


def agent_says(text: str) -> Transcript:
    return transcript([("agent", 0.5, 4.0, "This call is recorded. " + text),
                       ("agent", 4.5, 6.0, "Anything else? Goodbye.")])


def test_real_threats_flag(default_rules: RuleSet) -> None:
    for text in ("We will sue you if you do not pay.", "We will take you to court.",
                 "We will file a lawsuit against you."):
        assert "threat_or_abuse" in flagged(default_rules, agent_says(text)), text


@pytest.mark.parametrize("text", ["Let me take you through the payment options.",
                                  "I will take you to the next step of the form."])
def test_take_you_through_is_not_a_threat(default_rules: RuleSet, text: str) -> None:
    assert "threat_or_abuse" not in flagged(default_rules, agent_says(text))


@pytest.mark.parametrize("text", ["We cannot guarantee approval, it depends on your credit.",
                                  "There is no guarantee you get the loan."])
def test_denying_a_guarantee_is_not_a_promise(default_rules: RuleSet, text: str) -> None:
    assert "guaranteed_approval" not in flagged(default_rules, agent_says(text))


def test_duplicate_yaml_key_is_an_error_with_its_line(tmp_path: Path) -> None:
    text = ("rules:\n  - id: greeting\n    title: t\n    type: must_say\n"
            "    phrases: {en: [hello]}\n    phrases: {en: [hi]}\n")
    path = tmp_path / "dup-key.yaml"
    path.write_text(text, "utf-8")
    with pytest.raises(RuleError) as info:
        load_rules(path)
    assert f"{path}:6" in str(info.value) and "duplicate key 'phrases'" in str(info.value)


def test_rules_match_each_utterance_in_its_own_language(default_rules: RuleSet) -> None:
    """A Chinese call whose agent gives the recording notice in English (an utterance
    recognised as English): the English phrases apply to it."""
    t = transcript([("agent", 1.0, 4.0, "您好，这里是客服中心。"),
                    ("agent", 4.5, 8.0, "Please note this call is being recorded."),
                    ("customer", 8.5, 10.0, "好的。")], language="zh")
    assert "recording_disclosure_missing" in flagged(default_rules, t)
    t.utterances[1].language = "en"
    assert "recording_disclosure_missing" not in flagged(default_rules, t)


# reply_to: an agent turn read with the customer turn before it ------------------------


def call(turns: list[tuple[str, str]], language: str) -> Transcript:
    return transcript([(role, i * 5.0, i * 5.0 + 4, text) for i, (role, text) in enumerate(turns)],
                      language)


@pytest.mark.parametrize(("language", "doubt", "reply"), [
    ("en", "I'm not sure I'd pass, my credit rating is pretty poor.",
     "Honestly, the cash will be sitting in your account by Friday."),
    ("zh", "我信用记录不太好，能办下来吗？", "您放心，这钱明天就打到您卡上。"),
])
def test_an_assurance_answering_a_doubt_about_approval_flags(default_rules: RuleSet, language: str,
                                                             doubt: str, reply: str) -> None:
    t = call([("agent", "Thanks." if language == "en" else "您好。"), ("customer", doubt),
              ("agent", reply)], language)
    evidence = flagged(default_rules, t)["guaranteed_approval"][0]
    # The flagged moment is the agent's turn; the customer's turn it answers comes with it.
    assert (evidence.utterance, evidence.start, evidence.quote) == (2, 10.0, reply)
    assert evidence.matched_by == "reply" and evidence.matched
    rule = default_rules.by_id("guaranteed_approval")
    assert rule is not None and rule.reply_to is not None
    assert evidence.score is not None and evidence.score >= rule.reply_to.threshold_for(language)
    assert evidence.context is not None
    assert (evidence.context.utterance, evidence.context.quote) == (1, doubt)
    assert evidence.context.score >= rule.reply_to.cue_threshold_for(language)
    assert evidence.context.matched in rule.reply_to.cues_for(language)


@pytest.mark.parametrize(("language", "doubt", "reply"), [
    # A hedge in the same turn: close to a reply, vetoed by the counter-examples.
    ("en", "I'm not sure I'd pass, my credit rating is pretty poor.",
     "I'd love to say the cash is yours, but I can't promise that, it depends on the credit check."),
    ("zh", "我信用记录不太好，能办下来吗？", "这个没法跟您保证，要看审批结果。"),
    # The same assurance without a doubt before it: a question about timing.
    ("en", "How soon would the money arrive?", "The cash will be sitting in your account by Friday."),
    ("zh", "钱多久能到账？", "审批通过以后，钱第二天就打到您卡上。"),
])
def test_a_hedged_reply_or_one_to_no_doubt_does_not_flag(default_rules: RuleSet, language: str,
                                                         doubt: str, reply: str) -> None:
    t = call([("agent", "Thanks." if language == "en" else "您好。"), ("customer", doubt),
              ("agent", reply)], language)
    assert "guaranteed_approval" not in flagged(default_rules, t)


REPLY_PACK = """
rules:
  - id: promise
    title: Promise
    type: must_not_say
    polarity: true
    reply_to:
      turns: 2
      cues: {en: ["will I get approved with my bad credit"]}
      cue_threshold: 0.5
      replies: {en: ["don't worry, the money is yours"]}
      threshold: THRESHOLD
"""


def test_a_reply_just_under_its_threshold_is_a_near_miss_with_the_turn_it_answers() -> None:
    from analysis.rules import find_matches, near_misses

    t = call([("customer", "Would they approve me? My credit is awful."),
              ("agent", "Don't worry, you'll get the cash by Friday.")], "en")
    rule = parse_rules(REPLY_PACK.replace("THRESHOLD", "0.99"))[0]
    assert find_matches(rule, t) == []
    near = near_misses(rule, t, margin=0.9)
    assert [(n.utterance, n.by) for n in near] == [(1, "reply")]
    assert near[0].context is not None and near[0].context.utterance == 0
    assert near[0].context.quote == "Would they approve me? My credit is awful."
    low = parse_rules(REPLY_PACK.replace("THRESHOLD", "0.3"))[0]
    assert [m.utterance for m in find_matches(low, t)] == [1]


@pytest.mark.parametrize(("change", "problem"), [
    ("turns: 2", "turns: 9"),
    ('cues: {en: ["will I get approved with my bad credit"]}',
     "cues: {en: [" + ", ".join(['"doubt"'] * 101) + "]}"),
    ('replies: {en: ["don\'t worry, the money is yours"]}', 'replies: {en: ["' + "x" * 301 + '"]}'),
    ("cue_threshold: 0.5", "cue_threshold: 1.5"),
    ("cue_threshold: 0.5", "cue_threshold: 0.5\n      extra: 1"),
    ("type: must_not_say", "type: must_say"),
])
def test_reply_to_is_validated_and_bounded(change: str, problem: str) -> None:
    text = REPLY_PACK.replace("THRESHOLD", "0.6")
    assert change in text
    with pytest.raises(RuleError, match="promise"):
        parse_rules(text.replace(change, problem, 1))


LISTS_PACK = """
rules:
  - id: listed
    title: Listed
    type: must_not_say
    LISTS
"""


@pytest.mark.parametrize("lists", [
    "phrases: {en: [" + ", ".join(f'"phrase {i}"' for i in range(201)) + "]}",
    'examples: {en: ["' + "x" * 301 + '"]}',
    'examples: {en: ["   "]}',
    "counter_examples: {" + ", ".join(f'l{i}: ["no"]' for i in range(9)) + "}",
    "regex: {en: [" + ", ".join(f'"r{i}"' for i in range(201)) + "]}",
])
def test_uploaded_lists_are_bounded(lists: str) -> None:
    # Every example is encoded and every phrase searched for on each call, so a pack
    # cannot list without limit.
    assert parse_rules(LISTS_PACK.replace("LISTS", 'phrases: {en: ["fine"]}'))
    with pytest.raises(RuleError, match="listed"):
        parse_rules(LISTS_PACK.replace("LISTS", lists))
