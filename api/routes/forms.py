"""Evaluation forms and the calls scored on them: the forms, a call's automatic and
reviewers' evaluations, answers and overrides, calibration between reviewers, and form
scores over time by agent and team. Storage and scoring: core.evaluations."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from analysis.form_scoring import score
from analysis.forms import AutoAnswer, Form, FormError, active_forms
from api import audit
from api.deps import DB, SettingsDep, require
from api.errors import ApiError, not_found, responses
from api.keys import Principal
from api.models import Instant
from api.services import reviewing
from api.views import get_call, load_outputs
from core import evaluations as ev
from core.db import Call, Evaluation
from core.schemas import Analysis, Transcript
from core.storage import ObjectStore

router = APIRouter(tags=["forms"])
READ_ROLES = ("qa", "manager")
WRITE_ROLES = ("qa",)
AnswerValue = Literal["yes", "no", "na"]


class Localized(BaseModel):
    en: str
    zh: str


class QuestionOut(BaseModel):
    id: str
    text: Localized
    weight: float
    critical: bool
    source: Literal["rule", "metric", "intent", "sentiment", "manual"]
    answer: dict[str, Any] | None = Field(description="How it is answered automatically "
                                          "(null: manual).")
    applies_if_intent: list[str] | None = None


class SectionOut(BaseModel):
    id: str
    title: Localized
    questions: list[QuestionOut]


class FormSummary(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "consumer_finance_qa", "version": 1, "hash": "590660966dea",
        "title": {"en": "Consumer-finance call QA", "zh": "消费金融通话质检"}, "pass_mark": 80,
        "questions": 16}]})
    id: str
    version: int
    hash: str
    title: Localized
    pass_mark: float
    questions: int


class FormOut(FormSummary):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "consumer_finance_qa", "version": 1, "hash": "590660966dea",
        "title": {"en": "Consumer-finance call QA", "zh": "消费金融通话质检"}, "pass_mark": 80,
        "questions": 1, "sections": [{"id": "opening", "title": {"en": "Opening", "zh": "开场"},
                                      "questions": [{"id": "recording_notice", "text": {
                                          "en": "The agent gave the recording notice",
                                          "zh": "开场做了录音告知"}, "weight": 10,
                                          "critical": False, "source": "rule",
                                          "answer": {"rule": "recording_disclosure_missing"}}]}]}]})
    sections: list[SectionOut]


class FormList(BaseModel):
    items: list[FormSummary]


class FlagEvidence(BaseModel):
    key: str
    severity: str | None = None
    utterance: int | None = None
    start: float | None = None
    quote: str | None = None


class AnswerEvidence(BaseModel):
    """Why the automatic answer is what it is; the fields of its source."""

    source: Literal["rule", "metric", "intent", "sentiment", "applies_if", "manual"]
    rule_id: str | None = None
    count: int | None = None
    flags: list[FlagEvidence] = []
    metric: str | None = None
    op: str | None = None
    limit: float | None = None
    measured: float | None = None
    intents: list[str] | None = None
    expect: str | None = None
    primary_intent: str | None = None
    side: str | None = None
    label: str | None = None
    none_of: list[str] | None = None
    min: float | None = None


class AnswerOut(BaseModel):
    question_id: str
    value: AnswerValue | None = Field(description="This evaluation's answer: the reviewer's "
                                      "where given, else the automatic one.")
    auto_value: AnswerValue | None
    by_reviewer: bool = Field(description="The reviewer answered this question.")
    overridden: bool = Field(description="The reviewer changed the automatic answer.")
    comment: str | None = None
    answered_by: str | None = None
    answered_at: Instant | None = None
    evidence: AnswerEvidence | None = None


EVALUATION_EXAMPLE: dict[str, Any] = {
    "kind": "auto", "reviewer": None, "form_version": 1, "form_hash": "590660966dea",
    "score": 0.0, "passed": False, "critical_failed": ["no_threats"],
    "unanswered": ["greeting_and_name"], "updated_at": "2026-11-03T10:02:11Z",
    "submitted_at": None, "answers": [
        {"question_id": "no_threats", "value": "no", "auto_value": "no", "by_reviewer": False,
             "overridden": False, "comment": None, "answered_by": None,
             "answered_at": "2026-11-03T10:02:11Z",
             "evidence": {"source": "rule", "rule_id": "threat_or_abuse", "count": 1,
                          "flags": [{"key": "threat_or_abuse@7", "severity": "critical",
                                     "utterance": 7, "start": 41.2,
                                     "quote": "we will send someone to your workplace"}]}}]}


class EvaluationOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [EVALUATION_EXAMPLE]})
    kind: Literal["auto", "review"]
    reviewer: str | None
    form_version: int
    form_hash: str
    score: float | None
    passed: bool | None
    critical_failed: list[str]
    unanswered: list[str]
    updated_at: Instant
    submitted_at: Instant | None = None
    answers: list[AnswerOut]


class CallEvaluation(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "call_id": "c-3f9a1c2e5b7d4e10", "form_id": "consumer_finance_qa",
        "form_hash": "590660966dea", "auto": EVALUATION_EXAMPLE, "reviews": [],
        "final": EVALUATION_EXAMPLE}]})
    call_id: str
    form_id: str
    form_hash: str = Field(description="The hash of the form as loaded now.")
    auto: EvaluationOut | None
    reviews: list[EvaluationOut]
    final: EvaluationOut | None = Field(description="The evaluation that counts: the most "
                                        "recently changed reviewer's, else the automatic one.")


class GivenAnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question_id: str = Field(min_length=1, max_length=64)
    value: AnswerValue | None = Field(description="null withdraws this reviewer's answer.")
    comment: str | None = Field(None, max_length=4000)


class AnswersIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "form_id": "consumer_finance_qa", "submit": True, "answers": [
            {"question_id": "no_dead_air", "value": "yes",
             "comment": "The silence was a system outage the agent explained."},
            {"question_id": "greeting_and_name", "value": "yes"}]}]})
    form_id: str | None = Field(None, max_length=64, description="Default: the first form.")
    answers: list[GivenAnswerIn] = Field(default_factory=list, max_length=200)
    submit: bool = Field(False, description="The reviewer has finished: the queue shows the "
                         "call done.")


class QuestionAgreementOut(BaseModel):
    question_id: str
    values: dict[str, AnswerValue | None]
    agree: bool


class CalibrationOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "call_id": "c-3f9a1c2e5b7d4e10", "form_id": "consumer_finance_qa",
        "reviewers": ["qa-anna", "qa-li"], "scores": {"qa-anna": 85.0, "qa-li": 78.5},
        "agreement": 0.938, "score_spread": 6.5,
        "questions": [{"question_id": "greeting_and_name", "agree": False,
                       "values": {"qa-anna": "yes", "qa-li": "no"}}]}]})
    call_id: str
    form_id: str
    reviewers: list[str]
    scores: dict[str, float | None]
    agreement: float | None = Field(description="Share of questions every reviewer answered "
                                    "alike (null: fewer than two reviewers).")
    score_spread: float | None
    questions: list[QuestionAgreementOut]


class ScorePointOut(BaseModel):
    day: date
    key: str | None = Field(description="The agent or team.")
    calls: int
    avg_score: float
    reviewed: int


class ScoreSeries(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "form_id": "consumer_finance_qa", "by": "agent",
        "points": [{"day": "2026-11-03", "key": "A1006", "calls": 12, "avg_score": 81.4,
                    "reviewed": 3}]}]})
    form_id: str
    by: Literal["agent", "team"]
    points: list[ScorePointOut]


def _form(form_id: str | None) -> Form:
    try:
        forms = active_forms()
    except FormError as exc:
        raise ApiError(503, "forms_invalid", str(exc)) from exc
    if form_id is None:
        return forms[0]
    form = next((f for f in forms if f.id == form_id), None)
    if form is None:
        raise not_found(f"form {form_id!r}")
    return form


def _aware(when: datetime | None) -> datetime | None:
    return when.replace(tzinfo=UTC) if when is not None and when.tzinfo is None else when


def _summary(form: Form) -> dict[str, Any]:
    return {"id": form.id, "version": form.version, "hash": form.hash,
            "title": form.title.model_dump(), "pass_mark": form.pass_mark,
            "questions": len(form.questions)}


@router.get("/forms", response_model=FormList, summary="Evaluation forms",
            description="The active QA scorecards (CALLQA_FORMS_PATH or the packaged one).",
            responses=responses(503))
def list_forms(_who: Annotated[Principal, Depends(require(*READ_ROLES))]) -> FormList:
    try:
        forms = active_forms()
    except FormError as exc:
        raise ApiError(503, "forms_invalid", str(exc)) from exc
    return FormList(items=[FormSummary(**_summary(f)) for f in forms])


@router.get("/forms/{form_id}", response_model=FormOut, summary="An evaluation form",
            description="Sections and questions, their weights, texts and how each is "
            "answered automatically.", responses=responses(404, 503))
def form_detail(form_id: str, _who: Annotated[Principal, Depends(require(*READ_ROLES))]
                ) -> FormOut:
    form = _form(form_id)
    sections = [SectionOut(id=s.id, title=Localized(**s.title.model_dump()), questions=[
        QuestionOut(id=q.id, text=Localized(**q.text.model_dump()), weight=q.weight,
                    critical=q.critical,
                    source="manual" if not isinstance(q.answer, AutoAnswer) else q.answer.source,
                    answer=q.answer.model_dump(exclude_none=True)
                    if isinstance(q.answer, AutoAnswer) else None,
                    applies_if_intent=q.applies_if.intent if q.applies_if else None)
        for q in s.questions]) for s in form.sections]
    return FormOut(**_summary(form), sections=sections)


def _quotes(transcript: Transcript | None, analysis: Analysis | None, masked: bool
            ) -> list[str]:
    if transcript is None:
        return []
    if masked:
        texts = analysis.redacted_utterances if analysis else []
        return texts if len(texts) == len(transcript.utterances) else []
    return [u.text for u in transcript.utterances]


def _evidence(raw: dict[str, Any] | None, quotes: list[str]) -> AnswerEvidence | None:
    if not raw:
        return None
    flags = [FlagEvidence(**f, quote=quotes[f["utterance"]]
                          if f.get("utterance") is not None and 0 <= f["utterance"] < len(quotes)
                          else None) for f in raw.get("flags", [])]
    return AnswerEvidence(**{**raw, "flags": flags})


def _out(form: Form, row: Evaluation, auto: Evaluation | None, quotes: list[str]
         ) -> EvaluationOut:
    auto_rows = {a.question_id: a for a in auto.answers} if auto else {}
    own = {a.question_id: a for a in row.answers}
    values = ev.merged(auto, row) if row.kind == "review" else ev.auto_values(row)
    answers = []
    for q in form.questions:
        a, base = own.get(q.id) if row.kind == "review" else None, auto_rows.get(q.id)
        auto_value = base.value if base else None
        answers.append(AnswerOut(
            question_id=q.id, value=values.get(q.id), auto_value=auto_value,
            by_reviewer=a is not None,
            overridden=a is not None and not q.manual and a.value != auto_value,
            comment=a.comment if a else None,
            answered_by=a.answered_by if a else None,
            answered_at=a.answered_at if a else (base.answered_at if base else None),
            evidence=_evidence(base.evidence if base else None, quotes)))
    scored = score(form, values)
    return EvaluationOut(kind=row.kind, reviewer=row.reviewer or None,
                         form_version=row.form_version, form_hash=row.form_hash,
                         score=scored.score, passed=scored.passed,
                         critical_failed=scored.critical_failed, unanswered=scored.unanswered,
                         updated_at=row.updated_at, submitted_at=row.submitted_at,
                         answers=answers)


def _load(db: Session, settings: SettingsDep, call_id: str, form_id: str | None
          ) -> tuple[Call, Form, Transcript | None, Analysis | None, Evaluation | None]:
    call = get_call(db, call_id)
    form = _form(form_id)
    transcript, analysis = load_outputs(ObjectStore(settings.objects_dir), call)
    auto = ev.ensure_auto(db, call, analysis, form)
    if auto is None:
        raise ApiError(409, "not_analysed", f"call {call_id!r} has no analysis yet: nothing "
                       "to evaluate")
    return call, form, transcript, analysis, auto


def _call_evaluation(db: Session, call: Call, form: Form, auto: Evaluation,
                     quotes: list[str]) -> CallEvaluation:
    reviews = ev.reviews_of(db, call.id, form.id)
    outs = [_out(form, r, auto, quotes) for r in reviews]
    auto_out = _out(form, auto, auto, quotes)
    return CallEvaluation(call_id=call.id, form_id=form.id, form_hash=form.hash,
                          auto=auto_out, reviews=outs, final=outs[-1] if outs else auto_out)


@router.get("/calls/{call_id}/evaluation", response_model=CallEvaluation,
            summary="A call's evaluation on a form",
            description="The automatic evaluation (each answer with its evidence), every "
            "reviewer's, and the final one. Scored on first read if the call was analysed "
            "before the form existed or changed. Managers get evidence quotes redacted.",
            responses=responses(404, 409, 503))
def call_evaluation(call_id: str, db: DB, settings: SettingsDep,
                    who: Annotated[Principal, Depends(require(*READ_ROLES))],
                    form_id: Annotated[str | None, Query(max_length=64)] = None
                    ) -> CallEvaluation:
    call, form, transcript, analysis, auto = _load(db, settings, call_id, form_id)
    assert auto is not None
    quotes = _quotes(transcript, analysis, masked=who.role == "manager")
    audit.record(db, who, "view", f"call:{call.id}", {"evaluation": form.id})
    return _call_evaluation(db, call, form, auto, quotes)


@router.put("/calls/{call_id}/evaluation/answers", response_model=CallEvaluation,
            summary="Answer or override questions",
            description="The calling reviewer's answers: manual questions answered, automatic "
            "answers overridden (a comment saying why is required), null withdraws an answer. "
            "`submit` marks the evaluation finished and the call done in the review queue. "
            "Audited.", responses=responses(404, 409, 422, 503))
def put_answers(call_id: str, body: AnswersIn, db: DB, settings: SettingsDep,
                who: Annotated[Principal, Depends(require(*WRITE_ROLES))]) -> CallEvaluation:
    call, form, transcript, analysis, auto = _load(db, settings, call_id, body.form_id)
    given = [ev.GivenAnswer(a.question_id, a.value, a.comment) for a in body.answers]
    try:
        ev.set_answers(db, call, form, auto, who.name, who.actor, given, submit=body.submit)
    except ev.AnswerError as exc:
        raise ApiError(422, exc.code, str(exc), exc.detail) from exc
    if body.submit:
        reviewing.mark_done(db, call.id, who.name, admin=who.role == "admin")
    audit.record(db, who, "evaluate", f"call:{call.id}", {
        "form_id": form.id, "submit": body.submit,
        "answers": {a.question_id: a.value for a in body.answers}})
    assert auto is not None
    return _call_evaluation(db, call, form, auto, _quotes(transcript, analysis, masked=False))


@router.get("/calls/{call_id}/evaluation/calibration", response_model=CalibrationOut,
            summary="Reviewers' agreement on a call",
            description="When two or more reviewers scored the call: each question's answers "
            "by reviewer and whether they agree, the share of questions they agree on and the "
            "spread of their scores.", responses=responses(404, 409, 503))
def call_calibration(call_id: str, db: DB, settings: SettingsDep,
                     _who: Annotated[Principal, Depends(require(*READ_ROLES))],
                     form_id: Annotated[str | None, Query(max_length=64)] = None
                     ) -> CalibrationOut:
    call, form, _, _, auto = _load(db, settings, call_id, form_id)
    result = ev.calibration(form, auto, ev.reviews_of(db, call.id, form.id))
    return CalibrationOut(call_id=call.id, form_id=form.id, reviewers=result.reviewers,
                          scores=result.scores, agreement=result.agreement,
                          score_spread=result.score_spread,
                          questions=[QuestionAgreementOut(question_id=q.question_id,
                                                          values=q.values,
                                                          agree=q.agree)
                                     for q in result.questions])


@router.get("/forms/{form_id}/scores", response_model=ScoreSeries,
            summary="Form scores over time by agent or team",
            description="The final score per call averaged per day (of the call's start) and "
            "agent or team; `reviewed` counts the calls whose final score is a reviewer's.",
            responses=responses(404, 503))
def form_scores(form_id: str, db: DB,
                _who: Annotated[Principal, Depends(require(*READ_ROLES))],
                by: Annotated[Literal["agent", "team"], Query()] = "agent",
                date_from: Annotated[datetime | None, Query()] = None,
                date_to: Annotated[datetime | None, Query()] = None,
                team: Annotated[str | None, Query(max_length=128)] = None,
                agent_id: Annotated[str | None, Query(max_length=128)] = None) -> ScoreSeries:
    form = _form(form_id)
    date_from, date_to = _aware(date_from), _aware(date_to)
    if date_from and date_to and date_from >= date_to:
        raise ApiError(422, "invalid_query", "date_from must be before date_to")
    points = ev.score_series(db, form.id, by, date_from, date_to, team, agent_id)
    return ScoreSeries(form_id=form.id, by=by, points=[
        ScorePointOut(day=p.day, key=p.key, calls=p.calls, avg_score=p.avg_score,
                      reviewed=p.reviewed) for p in points])


class CallAgreementOut(BaseModel):
    call_id: str
    reviewers: list[str]
    agreement: float | None
    score_spread: float | None


class QuestionRateOut(BaseModel):
    question_id: str
    calls: int = Field(description="Calls where the reviewers' answers were compared.")
    agreed: int
    rate: float


class FormCalibrationOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "form_id": "consumer_finance_qa", "agreement": 0.906,
        "calls": [{"call_id": "c-3f9a1c2e5b7d4e10", "reviewers": ["qa-anna", "qa-li"],
                   "agreement": 0.938, "score_spread": 6.5}],
        "questions": [{"question_id": "greeting_and_name", "calls": 4, "agreed": 2,
                       "rate": 0.5}]}]})
    form_id: str
    agreement: float | None = Field(description="Mean agreement over the calls.")
    calls: list[CallAgreementOut]
    questions: list[QuestionRateOut] = Field(description="Least agreed first: where the "
                                             "team's reading of the form differs.")


@router.get("/forms/{form_id}/calibration", response_model=FormCalibrationOut,
            summary="Reviewers' agreement across calls",
            description="Every call two or more reviewers scored on the form (newest first, "
            "dates filter the call's start): each call's agreement, and per question how "
            "often the reviewers agreed, least agreed first.", responses=responses(404, 503))
def form_calibration(form_id: str, db: DB,
                     _who: Annotated[Principal, Depends(require(*READ_ROLES))],
                     date_from: Annotated[datetime | None, Query()] = None,
                     date_to: Annotated[datetime | None, Query()] = None,
                     limit: Annotated[int, Query(ge=1, le=500)] = 100) -> FormCalibrationOut:
    form = _form(form_id)
    result = ev.form_calibration(db, form, _aware(date_from), _aware(date_to), limit)
    order = {q.id: n for n, q in enumerate(form.questions)}
    rates = sorted(((qid, n, agreed) for qid, (n, agreed) in result.questions.items()),
                   key=lambda r: (r[2] / r[1], order.get(r[0], 0)))
    return FormCalibrationOut(
        form_id=form.id, agreement=result.agreement,
        calls=[CallAgreementOut(call_id=c.call_id, reviewers=c.reviewers, agreement=c.agreement,
                                score_spread=c.score_spread) for c in result.calls],
        questions=[QuestionRateOut(question_id=qid, calls=n, agreed=agreed,
                                   rate=round(agreed / n, 3)) for qid, n, agreed in rates])
