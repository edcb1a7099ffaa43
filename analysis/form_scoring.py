"""Scoring a call on an evaluation form: automatic answers from the Analysis, and the
score from any set of answers (automatic, overridden or manual). Plain functions: the
database side is core.evaluations."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from analysis.forms import SENTIMENT_METRICS, AutoAnswer, Form, Question
from core.schemas import Analysis

Value = Literal["yes", "no", "na"]
VALUES = ("yes", "no", "na")
MAX_EVIDENCE = 5


@dataclass
class AutoResult:
    question_id: str
    value: Value | None  # None: a manual question, for the reviewer
    evidence: dict[str, Any]


@dataclass
class FormScore:
    score: float | None  # 0..100; None when nothing scorable was answered
    earned: float
    possible: float
    critical_failed: list[str] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)  # manual questions without an answer
    passed: bool | None = None


def _compare(measured: float, op: str, limit: float) -> bool:
    return {">": measured > limit, ">=": measured >= limit, "<": measured < limit,
            "<=": measured <= limit}[op]


def _answer(spec: AutoAnswer, analysis: Analysis) -> tuple[Value, dict[str, Any]]:
    if spec.rule:
        flags = [f for f in analysis.flags if f.rule_id == spec.rule]
        shown = [{"key": f.key, "severity": f.severity,
                  "utterance": f.evidence[0].utterance if f.evidence else None,
                  "start": f.evidence[0].start if f.evidence else None}
                 for f in flags[:MAX_EVIDENCE]]
        return ("no" if flags else "yes"), {"source": "rule", "rule_id": spec.rule,
                                            "flags": shown, "count": len(flags)}
    if spec.metric:
        assert spec.op is not None and spec.value is not None  # validated
        measured = analysis.metrics.get(spec.metric)
        ev = {"source": "metric", "metric": spec.metric, "op": spec.op, "limit": spec.value,
              "measured": measured}
        if measured is None:
            return "na", ev
        return ("yes" if _compare(measured, spec.op, spec.value) else "no"), ev
    if spec.intent:
        primary = analysis.primary_intent
        present = primary in spec.intent
        ev = {"source": "intent", "intents": spec.intent, "expect": spec.expect,
              "primary_intent": primary}
        return ("yes" if present == (spec.expect == "present") else "no"), ev
    assert spec.sentiment is not None
    if spec.none_of is not None:
        label = analysis.customer_sentiment
        return (("no" if label in spec.none_of else "yes"),
                {"source": "sentiment", "side": "customer", "label": label,
                 "none_of": spec.none_of})
    metric = SENTIMENT_METRICS[spec.sentiment]
    value = (analysis.sentiment_score if spec.sentiment == "customer"
             else analysis.metrics.get(metric))
    ev = {"source": "sentiment", "side": spec.sentiment, "measured": value, "min": spec.min}
    if value is None:
        return "na", ev
    assert spec.min is not None
    return ("yes" if value >= spec.min else "no"), ev


def applies(question: Question, analysis: Analysis) -> bool:
    return question.applies_if is None or analysis.primary_intent in question.applies_if.intent


def auto_answers(form: Form, analysis: Analysis) -> list[AutoResult]:
    """One result per question, in form order."""
    out = []
    for q in form.questions:
        if not applies(q, analysis):
            assert q.applies_if is not None
            out.append(AutoResult(q.id, "na", {"source": "applies_if",
                                               "intents": q.applies_if.intent,
                                               "primary_intent": analysis.primary_intent}))
        elif isinstance(q.answer, AutoAnswer):
            value, evidence = _answer(q.answer, analysis)
            out.append(AutoResult(q.id, value, evidence))
        else:
            out.append(AutoResult(q.id, None, {"source": "manual"}))
    return out


def score(form: Form, values: dict[str, Value | None]) -> FormScore:
    """Weighted share of yes among yes and no answers, 0-100; a critical question
    answered no makes it 0. Not applicable and unanswered questions do not count."""
    earned = possible = 0.0
    failed: list[str] = []
    unanswered: list[str] = []
    for q in form.questions:
        value = values.get(q.id)
        if value is None:
            if q.manual:
                unanswered.append(q.id)
            continue
        if value == "na":
            continue
        possible += q.weight
        if value == "yes":
            earned += q.weight
        elif q.critical:
            failed.append(q.id)
    if not possible:
        return FormScore(None, earned, possible, failed, unanswered, None)
    result = 0.0 if failed else round(100 * earned / possible, 1)
    return FormScore(result, earned, possible, failed, unanswered, result >= form.pass_mark)
