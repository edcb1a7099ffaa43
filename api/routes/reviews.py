"""Reviews: confirm or dismiss each flag with a comment; review status; rule precision."""

from __future__ import annotations

import contextlib
import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from api import audit
from api.deps import DB, Backend, SettingsDep, require
from api.errors import ApiError, responses
from api.keys import Principal
from api.models import (
    CallReviews,
    Decision,
    PrecisionReport,
    ReviewIn,
    ReviewList,
    ReviewOut,
    RulePrecision,
)
from api.services import records, reviewing
from api.views import (
    call_review_status,
    flag_views,
    get_call,
    load_outputs,
    review_history,
)
from core.db import latest_reviews
from core.storage import ObjectStore

log = logging.getLogger("callqa.api")
router = APIRouter(tags=["reviews"])


def _refresh(call_id: str) -> None:
    """The index carries each call's review status: refresh its entry now."""
    try:
        from search.tasks import refresh_index

        refresh_index(call_id)
    except LookupError:  # not analysed yet: indexed with its reviews later
        pass


@router.post("/calls/{call_id}/reviews", status_code=201, response_model=ReviewOut,
             summary="Confirm or dismiss a flag",
             description="One decision on one flag (by its key), with an optional comment. "
             "The latest decision per flag counts; the call's review status in the index is "
             "refreshed at once. Audited.", responses=responses(404, 409))
def add_review(call_id: str, body: ReviewIn, db: DB, settings: SettingsDep,
               who: Annotated[Principal, Depends(require("qa"))]) -> ReviewOut:
    call = get_call(db, call_id)
    _, analysis = load_outputs(ObjectStore(settings.objects_dir), call)
    if analysis is None:
        raise ApiError(409, "conflict", "the call has no analysis yet: nothing to review")
    flags = {f.key: f for f in analysis.flags}
    flag = flags.get(body.flag_key)
    if flag is None:
        raise ApiError(422, "unknown_flag", f"call {call_id!r} has no flag {body.flag_key!r}",
                       {"flags": sorted(flags)})
    row = reviewing.add_review(db, call.id, flag, body.decision, body.comment, who.actor)
    audit.record(db, who, "review", f"call:{call.id}",
                 {"flag_key": flag.key, "decision": body.decision})
    db.commit()
    _refresh(call.id)
    return ReviewOut.model_validate(row, from_attributes=True)


@router.get("/calls/{call_id}/reviews", response_model=CallReviews,
            summary="A call's flags with their reviews",
            description="Each flag with its latest decision, the call's review status, and "
            "every decision made (oldest first).", responses=responses(404))
def call_reviews(call_id: str, db: DB, settings: SettingsDep,
                 _who: Annotated[Principal, Depends(require("qa"))]) -> CallReviews:
    call = get_call(db, call_id)
    transcript, analysis = load_outputs(ObjectStore(settings.objects_dir), call)
    reviews = latest_reviews(db, call.id)
    return CallReviews(call_id=call.id,
                       review_status=call_review_status(analysis, reviews) or "none",
                       flags=flag_views(analysis, reviews, transcript, redact=False),
                       history=review_history(db, call.id))


class LabelIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"intent": "hardship_extension", "sentiment": "negative",
         "comment": "Customer lost their job; not a fee question."}]})
    intent: str | None = Field(None, min_length=1, max_length=128)
    sentiment: Literal["negative", "neutral", "positive"] | None = None
    comment: str | None = Field(None, max_length=4000)


class LabelEntry(BaseModel):
    reviewer: str
    at: str
    comment: str | None = None
    intent: str | None = None
    sentiment: str | None = None


class CallLabels(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"call_id": "c-3f9a1c2e5b7d4e10", "intent": "hardship_extension", "sentiment": "negative",
         "updated_at": "2026-11-03T10:02:11+00:00",
         "history": [{"reviewer": "key:qa-team", "at": "2026-11-03T10:02:11+00:00",
                      "comment": "lost their job", "intent": "hardship_extension",
                      "sentiment": "negative"}]}]})
    call_id: str
    intent: str | None = None
    sentiment: str | None = None
    updated_at: str | None = None
    history: list[LabelEntry] = []


def _known_intents(settings: SettingsDep) -> set[str]:
    from analysis.intents import CueIntentClassifier

    known = set(CueIntentClassifier().titles)
    if settings.intent_model:
        from analysis.classifiers import ModelLoadError, load_text_classifier

        with contextlib.suppress(ModelLoadError):
            known |= set(load_text_classifier(settings.intent_model).labels)
    return known


@router.put("/calls/{call_id}/labels", response_model=CallLabels,
            summary="Correct a call's intent or sentiment",
            description="The call's true primary intent and/or customer sentiment as QA "
            "staff judge it. Kept as a training label (`callqa train --from-reviews`); the "
            "latest value per field counts, every correction stays in the history. Audited.",
            responses=responses(404, 422))
def set_call_labels(call_id: str, body: LabelIn, db: DB, settings: SettingsDep,
                    who: Annotated[Principal, Depends(require("qa"))]) -> CallLabels:
    from analysis.corrections import set_labels

    call = get_call(db, call_id)
    if body.intent is None and body.sentiment is None:
        raise ApiError(422, "nothing_to_label", "give an intent, a sentiment or both")
    if body.intent is not None:
        known = _known_intents(settings)
        if body.intent not in known:
            raise ApiError(422, "unknown_intent", f"{body.intent!r} is not a known intent",
                           {"intents": sorted(known)})
    record = set_labels(ObjectStore(settings.objects_dir), call.id, who.actor,
                        intent=body.intent, sentiment=body.sentiment, comment=body.comment)
    audit.record(db, who, "review", f"call:{call.id}",
                 {k: v for k, v in (("intent", body.intent), ("sentiment", body.sentiment))
                  if v is not None})
    db.commit()
    return CallLabels.model_validate(record)


@router.get("/calls/{call_id}/labels", response_model=CallLabels,
            summary="A call's corrected intent and sentiment",
            description="The labels QA staff set for the call and their history.",
            responses=responses(404))
def get_call_labels(call_id: str, db: DB, settings: SettingsDep,
                    _who: Annotated[Principal, Depends(require("qa"))]) -> CallLabels:
    from analysis.corrections import get_labels

    call = get_call(db, call_id)
    return CallLabels.model_validate(get_labels(ObjectStore(settings.objects_dir), call.id))


@router.get("/reviews", response_model=ReviewList, summary="Review decisions",
            description="Every decision, newest first, filtered by rule, decision, reviewer or "
            "call.", responses=responses())
def list_reviews(db: DB, _who: Annotated[Principal, Depends(require("qa"))],
                 rule_id: Annotated[str | None, Query(max_length=128)] = None,
                 decision: Annotated[Decision | None, Query()] = None,
                 reviewer: Annotated[str | None, Query(max_length=128)] = None,
                 call_id: Annotated[str | None, Query(max_length=128)] = None,
                 limit: Annotated[int, Query(ge=1, le=500)] = 100,
                 offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> ReviewList:
    page = records.reviews(db, rule_id, decision, reviewer, call_id, limit, offset)
    return ReviewList(items=[ReviewOut.model_validate(r, from_attributes=True) for r in page.items],
                      total=page.total, limit=limit, offset=offset)


@router.get("/reviews/precision", response_model=PrecisionReport,
            summary="Each rule's precision from reviews",
            description="Per rule: flags confirmed and dismissed (latest decision per flag), "
            "precision = confirmed / reviewed, and how many indexed calls the rule flags.",
            responses=responses())
def precision(db: DB, backend: Backend,
              _who: Annotated[Principal, Depends(require("qa", "manager"))]) -> PrecisionReport:
    counts = records.decisions_per_rule(db)
    flagged = backend.aggregate("rule_ids")
    out = []
    for rule_id in sorted(set(counts) | set(flagged)):
        confirmed = counts.get(rule_id, {}).get("confirmed", 0)
        dismissed = counts.get(rule_id, {}).get("dismissed", 0)
        reviewed = confirmed + dismissed
        out.append(RulePrecision(rule_id=rule_id, confirmed=confirmed, dismissed=dismissed,
                                 reviewed=reviewed, flagged=flagged.get(rule_id, 0),
                                 precision=round(confirmed / reviewed, 4) if reviewed else None))
    return PrecisionReport(rules=out)
