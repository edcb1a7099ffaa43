"""Evaluation forms: the strict loader (file:line errors, unknown keys, types, weights,
references to rules and intents), `callqa forms check`, and automatic scoring of real
analysed sample calls against their scripted truth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analysis import AnalysisModels, analyze, load_rules
from analysis.form_scoring import auto_answers, score
from analysis.forms import (
    DEFAULT_FORMS,
    AutoAnswer,
    FormError,
    default_references,
    load_forms,
    parse_form,
)
from api.cli import app
from samples import DIALOGUES_DIR
from samples.dialogue import load_dialogue, scripted_transcript

runner = CliRunner()

GOOD = """\
id: small
version: 1
title: {en: Small, zh: 小}
sections:
  - id: s
    title: {en: S, zh: 节}
    questions:
      - id: notice
        text: {en: Notice, zh: 告知}
        weight: 10
        answer: {rule: recording_disclosure_missing}
      - id: silence
        text: {en: Silence, zh: 静音}
        weight: 5
        answer: {metric: dead_air_longest_s, op: "<=", value: 20}
"""


def _error(text: str) -> str:
    with pytest.raises(FormError) as info:
        parse_form(text, "f.yaml", default_references())
    return str(info.value)


def test_the_packaged_form_loads_with_every_kind_of_answer() -> None:
    forms = load_forms(DEFAULT_FORMS, default_references())
    assert [f.id for f in forms] == ["consumer_finance_qa"]
    sources = {q.answer.source if isinstance(q.answer, AutoAnswer) else "manual"
               for q in forms[0].questions}
    assert sources == {"rule", "metric", "intent", "sentiment", "manual"}
    assert all(q.text.en and q.text.zh for q in forms[0].questions)
    assert len(forms[0].hash) == 12


@pytest.mark.parametrize(("change", "line", "expected"), [
    (("        weight: 10\n", "        weight: 0\n"), 10, "weight: Input should be greater than 0"),
    (("        weight: 10\n", "        weight: ten\n"), 10, "weight: Input should be a valid number"),
    (("        weight: 5\n", "        weight: 5\n        colour: red\n"), 15, "colour: Extra inputs"),
    (("{rule: recording_disclosure_missing}", "{rule: identity_check}"), 11, "is a marker"),
    (("{rule: recording_disclosure_missing}", "{rule: no_such_rule}"), 11,
     "'no_such_rule' is not a rule of the active rule set"),
    (("dead_air_longest_s", "dead_air_longest"), 15, "metric 'dead_air_longest' is not one of"),
    (('op: "<="', 'op: "=~"'), 15, "op: Input should be"),
    (("{rule: recording_disclosure_missing}", "{intent: [refund, nah]}"), 11, "unknown intent 'nah'"),
    (("{rule: recording_disclosure_missing}", "{rule: dead_air, metric: overtalk_s}"), 11,
     "exactly one of rule, metric, intent or sentiment"),
    (("{rule: recording_disclosure_missing}", "{sentiment: agent_tone, none_of: [negative]}"), 11,
     "none_of reads the customer's label"),
    (("{rule: recording_disclosure_missing}", "sometimes"), 11, "answer: Input should be 'manual'"),
    (("id: silence", "id: notice"), 12, "question id 'notice' is used twice (first on line 8)"),
    (("text: {en: Notice, zh: 告知}", "text: {en: Notice}"), 9, "text.zh: Field required"),
    (("version: 1", "version: 1\nversion: 2"), 3, "duplicate key 'version'"),
    (("sections:", "sections: [\n"), 6, "not valid YAML"),
])
def test_bad_forms_name_the_file_and_line(change: tuple[str, str], line: int,
                                          expected: str) -> None:
    old, new = change
    assert old in GOOD
    message = _error(GOOD.replace(old, new, 1))
    assert f"f.yaml:{line}: " in message and expected in message, message


def test_forms_check_cli(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(GOOD, "utf-8")
    result = runner.invoke(app, ["forms", "check", str(good), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["forms"][0]["id"] == "small"
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("weight: 10", "weight: -1").replace("weight: 5\n",
                                                                     "weight: 5\n        x: 1\n"))
    result = runner.invoke(app, ["forms", "check", str(bad), "--json"])
    assert result.exit_code == 1
    errors = json.loads(result.output)["errors"]
    assert [(e["file"], e["line"]) for e in errors] == [(str(bad), 10), (str(bad), 15)]
    result = runner.invoke(app, ["forms", "check", str(bad)])
    assert result.exit_code == 1 and f"{bad}:10: " in result.output
    assert runner.invoke(app, ["forms", "check", str(tmp_path / "none.yaml")]).exit_code == 1
    assert runner.invoke(app, ["forms", "check", "--help"]).exit_code == 0


# hardship (no violation), a threat, details before verification, a wife told of the debt
SCORED = ["en-06-hardship-payment-plan", "en-10-collections-threat-abrupt-end",
          "en-17-balance-read-before-verification", "zh-11-wife-answers-debt-disclosed"]


def test_auto_scoring_of_analysed_sample_calls_matches_their_truth() -> None:
    form = load_forms(DEFAULT_FORMS, default_references())[0]
    rules, models = load_rules(), AnalysisModels.default()
    rule_questions = {q.id: q.answer.rule for q in form.questions
                      if isinstance(q.answer, AutoAnswer) and q.answer.rule}
    for dialogue_id in SCORED:
        dialogue = load_dialogue(DIALOGUES_DIR / dialogue_id[:2] / f"{dialogue_id}.yaml")
        analysis = analyze(scripted_transcript(dialogue), rules, models)
        results = {r.question_id: r for r in auto_answers(form, analysis)}
        truth = set(dialogue.expected.violations)
        for qid, rule in rule_questions.items():
            expected = "no" if rule in truth else "yes"
            assert results[qid].value == expected, (dialogue_id, qid)
            if expected == "no":
                assert results[qid].evidence["flags"], (dialogue_id, qid)
        hardship = analysis.primary_intent in ("hardship_extension", "collection_complaint")
        assert results["hardship_options"].value == (None if hardship else "na"), dialogue_id
        assert results["greeting_and_name"].value is None
        scored = score(form, {k: r.value for k, r in results.items()})
        critical = {"threat_or_abuse", "third_party_disclosure",
                    "account_details_before_verification"} & truth
        assert (scored.score == 0) == bool(critical), (dialogue_id, scored)
        assert scored.unanswered and 0 <= (scored.score or 0) <= 100
