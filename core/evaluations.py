"""Evaluations in the database: the automatic one per call and form, reviewers' answers
and overrides, the final score, calibration between reviewers, scores over time.

The automatic evaluation is derived data: `record_auto` writes it at the end of the
analyze stage, and `ensure_auto` recomputes it on read when it is missing or was scored
on another analysis or form version. A crash between storing analysis.json and writing
the evaluation therefore loses nothing, and calls analysed before forms existed get one
the first time they are read (or with `callqa forms rescore`). Reviewers' answers are
the only data here that exists nowhere else; they are written in the request's
transaction.

The final score of a call is that of its most recently changed reviewer evaluation (a
reviewer's answers, the automatic ones where that reviewer gave none), else the
automatic score.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from analysis.form_scoring import VALUES, Value, auto_answers, score
from analysis.forms import Form
from core.db import Call, Evaluation, EvaluationAnswer, utcnow
from core.schemas import Analysis

log = logging.getLogger("callqa.evaluations")
AUTO = ""  # the reviewer name of the automatic evaluation


class AnswerError(ValueError):
    """Answers that do not fit the form (unknown question, bad value, missing comment)."""

    def __init__(self, code: str, message: str, detail: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.detail = detail or {}


def analysis_stamp(analysis: Analysis) -> str:
    return f"{analysis.version}-{analysis.rules_version}"


def _get(db: Session, call_id: str, form_id: str, reviewer: str) -> Evaluation | None:
    return db.scalar(select(Evaluation).where(Evaluation.call_id == call_id,
                                              Evaluation.form_id == form_id,
                                              Evaluation.reviewer == reviewer))


def reviews_of(db: Session, call_id: str, form_id: str) -> list[Evaluation]:
    return list(db.scalars(select(Evaluation).where(
        Evaluation.call_id == call_id, Evaluation.form_id == form_id,
        Evaluation.kind == "review").order_by(Evaluation.updated_at, Evaluation.id)))


def auto_values(auto: Evaluation | None) -> dict[str, Value | None]:
    return {a.question_id: a.value for a in auto.answers} if auto else {}  # type: ignore[misc]


def merged(auto: Evaluation | None, review: Evaluation) -> dict[str, Value | None]:
    """A reviewer's answers over the automatic ones."""
    values = auto_values(auto)
    values.update({a.question_id: a.value for a in review.answers})  # type: ignore[misc]
    return values


def store_auto(db: Session, call_id: str, analysis: Analysis, form: Form) -> Evaluation:
    """Write (or replace) the call's automatic evaluation on `form`, and re-score the
    reviewers' evaluations that read from it."""
    row = _get(db, call_id, form.id, AUTO)
    if row is None:
        row = Evaluation(call_id=call_id, form_id=form.id, kind="auto", reviewer=AUTO)
        db.add(row)
    row.form_version, row.form_hash = form.version, form.hash
    row.analysis_version = analysis_stamp(analysis)
    results = auto_answers(form, analysis)
    by_id = {a.question_id: a for a in row.answers}
    for result in results:
        answer = by_id.pop(result.question_id, None)
        if answer is None:
            answer = EvaluationAnswer(question_id=result.question_id)
            row.answers.append(answer)
        answer.value, answer.evidence = result.value, result.evidence
        answer.answered_at = utcnow()
    for stale in by_id.values():  # questions the form no longer has
        row.answers.remove(stale)
    row.score = score(form, {r.question_id: r.value for r in results}).score
    row.updated_at = utcnow()
    db.flush()
    for review in reviews_of(db, call_id, form.id):
        review.score = score(form, merged(row, review)).score
    return row


def record_auto(call_id: str, analysis: Analysis) -> None:
    """The end of the analyze stage: the automatic evaluation on every active form. A
    failure here is logged, not raised: the analysis is stored, and the evaluation is
    recomputed when it is first read."""
    from analysis.forms import active_forms
    from core.db import session_scope

    try:
        forms = active_forms()
        with session_scope() as db:
            for form in forms:
                store_auto(db, call_id, analysis, form)
    except Exception:
        log.exception("automatic evaluation not stored; it is computed on first read",
                      extra={"call_id": call_id})


def ensure_auto(db: Session, call: Call, analysis: Analysis | None, form: Form
                ) -> Evaluation | None:
    """The call's automatic evaluation, (re)computed if missing or scored on another
    analysis or form version. None without an analysis."""
    row = _get(db, call.id, form.id, AUTO)
    if analysis is None:
        return row
    if row is None or row.form_hash != form.hash or row.analysis_version != analysis_stamp(analysis):
        row = store_auto(db, call.id, analysis, form)
    return row


@dataclass
class GivenAnswer:
    question_id: str
    value: Value | None  # None: withdraw this reviewer's answer (back to the automatic one)
    comment: str | None = None


def set_answers(db: Session, call: Call, form: Form, auto: Evaluation | None, reviewer: str,
                actor: str, answers: list[GivenAnswer], submit: bool = False) -> Evaluation:
    """A reviewer's answers on a call: a changed automatic answer needs a comment (why the
    reviewer overrides it); manual questions take any answer. Checks everything first:
    bad input changes nothing."""
    if not answers and not submit:
        raise AnswerError("nothing_to_answer", "give at least one answer, or submit")
    auto_by = auto_values(auto)
    seen: set[str] = set()
    for given in answers:
        q = form.question(given.question_id)
        if q is None:
            raise AnswerError("unknown_question", f"form {form.id!r} has no question "
                              f"{given.question_id!r}",
                              {"questions": [x.id for x in form.questions]})
        if given.question_id in seen:
            raise AnswerError("duplicate_question", f"question {given.question_id!r} is "
                              "answered twice")
        seen.add(given.question_id)
        if given.value is not None and given.value not in VALUES:
            raise AnswerError("bad_value", f"answer {given.value!r} is not one of yes, no, na")
        overrides = (not q.manual and given.value is not None
                     and given.value != auto_by.get(q.id))
        if overrides and not (given.comment or "").strip():
            raise AnswerError("comment_required", f"overriding the automatic answer to "
                              f"{q.id!r} needs a comment", {"question_id": q.id})
    row = _get(db, call.id, form.id, reviewer)
    if row is None:
        row = Evaluation(call_id=call.id, form_id=form.id, kind="review", reviewer=reviewer)
        db.add(row)
    row.form_version, row.form_hash = form.version, form.hash
    row.analysis_version = auto.analysis_version if auto else None
    by_id = {a.question_id: a for a in row.answers}
    now = utcnow()
    for given in answers:
        answer = by_id.get(given.question_id)
        if given.value is None:
            if answer is not None:
                row.answers.remove(answer)
            continue
        if answer is None:
            answer = EvaluationAnswer(question_id=given.question_id)
            row.answers.append(answer)
        answer.value = given.value
        answer.comment = (given.comment or "").strip() or None
        answer.answered_by, answer.answered_at = actor, now
    row.score = score(form, merged(auto, row)).score
    if submit:
        row.submitted_at = now
    row.updated_at = now
    db.flush()
    return row


def final_evaluation(auto: Evaluation | None, reviews: list[Evaluation]) -> Evaluation | None:
    return reviews[-1] if reviews else auto


# Calibration ----------------------------------------------------------------------


@dataclass
class QuestionAgreement:
    question_id: str
    values: dict[str, Value | None]  # reviewer -> final answer
    agree: bool


@dataclass
class Calibration:
    reviewers: list[str]
    scores: dict[str, float | None]
    questions: list[QuestionAgreement] = field(default_factory=list)
    agreement: float | None = None  # share of compared questions all reviewers answered alike
    score_spread: float | None = None  # highest minus lowest score


def calibration(form: Form, auto: Evaluation | None, reviews: list[Evaluation]) -> Calibration:
    """How alike the reviewers who scored this call answered: per question (their final
    answers, the automatic one where a reviewer gave none) and overall. Questions no
    reviewer could answer (manual, unanswered by all) are left out."""
    names = [r.reviewer for r in reviews]
    values = {r.reviewer: merged(auto, r) for r in reviews}
    out = Calibration(reviewers=names, scores={r.reviewer: r.score for r in reviews})
    if len(reviews) < 2:
        return out
    for q in form.questions:
        per = {name: values[name].get(q.id) for name in names}
        if all(v is None for v in per.values()):
            continue
        out.questions.append(QuestionAgreement(q.id, per, len(set(per.values())) == 1))
    if out.questions:
        out.agreement = round(sum(q.agree for q in out.questions) / len(out.questions), 3)
    known = [s for s in out.scores.values() if s is not None]
    out.score_spread = round(max(known) - min(known), 1) if len(known) >= 2 else None
    return out


@dataclass
class CallAgreement:
    call_id: str
    reviewers: list[str]
    agreement: float | None
    score_spread: float | None


@dataclass
class FormCalibration:
    calls: list[CallAgreement]
    questions: dict[str, tuple[int, int]]  # question -> (calls compared, calls agreed)
    agreement: float | None  # mean of the calls' agreement


def form_calibration(db: Session, form: Form, date_from: datetime | None = None,
                     date_to: datetime | None = None, limit: int = 500) -> FormCalibration:
    """Every call (newest first, at most `limit`) that two or more reviewers scored."""
    stmt = (select(Evaluation.call_id).join(Call, Call.id == Evaluation.call_id)
            .where(Evaluation.form_id == form.id, Evaluation.kind == "review"))
    if date_from is not None:
        stmt = stmt.where(Call.started_at >= date_from)
    if date_to is not None:
        stmt = stmt.where(Call.started_at < date_to)
    from sqlalchemy import func

    ids = list(db.scalars(stmt.group_by(Evaluation.call_id)
                          .having(func.count(Evaluation.id) >= 2)
                          .order_by(func.max(Evaluation.updated_at).desc()).limit(limit)))
    calls: list[CallAgreement] = []
    questions: dict[str, tuple[int, int]] = {}
    for call_id in ids:
        result = calibration(form, _get(db, call_id, form.id, AUTO), reviews_of(db, call_id, form.id))
        calls.append(CallAgreement(call_id, result.reviewers, result.agreement, result.score_spread))
        for q in result.questions:
            n, agreed = questions.get(q.question_id, (0, 0))
            questions[q.question_id] = (n + 1, agreed + q.agree)
    known = [c.agreement for c in calls if c.agreement is not None]
    return FormCalibration(calls, questions,
                           round(sum(known) / len(known), 3) if known else None)


# Scores over time ---------------------------------------------------------------


@dataclass
class ScorePoint:
    day: date
    key: str | None  # the agent or team
    calls: int
    avg_score: float
    reviewed: int  # calls whose final score is a reviewer's


def score_series(db: Session, form_id: str, by: str, date_from: datetime | None = None,
                 date_to: datetime | None = None, team: str | None = None,
                 agent_id: str | None = None) -> list[ScorePoint]:
    """The final score per call, averaged per day (of the call's start, else its upload)
    and agent or team."""
    day_of = Call.started_at
    stmt = (select(Evaluation.call_id, Evaluation.kind, Evaluation.score, Evaluation.updated_at,
                   Evaluation.id, Call.agent_id, Call.team, Call.started_at, Call.created_at)
            .join(Call, Call.id == Evaluation.call_id).where(Evaluation.form_id == form_id))
    if date_from is not None:
        stmt = stmt.where(day_of >= date_from)
    if date_to is not None:
        stmt = stmt.where(day_of < date_to)
    if team is not None:
        stmt = stmt.where(Call.team == team)
    if agent_id is not None:
        stmt = stmt.where(Call.agent_id == agent_id)
    final: dict[str, tuple[tuple[bool, datetime, int], Any]] = {}  # call -> (rank, row)
    for row in db.execute(stmt):
        updated = row.updated_at.replace(tzinfo=UTC) if row.updated_at.tzinfo is None \
            else row.updated_at
        rank = (row.kind == "review", updated, row.id)
        if row.call_id not in final or rank > final[row.call_id][0]:
            final[row.call_id] = (rank, row)
    buckets: dict[tuple[date, str | None], list[tuple[float, bool]]] = {}
    for rank, row in final.values():
        if row.score is None:
            continue
        when = row.started_at or row.created_at
        key = row.agent_id if by == "agent" else row.team
        buckets.setdefault((when.date(), key), []).append((row.score, rank[0]))
    return [ScorePoint(day, key, len(v), round(sum(s for s, _ in v) / len(v), 1),
                       sum(1 for _, r in v if r))
            for (day, key), v in sorted(buckets.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))]
