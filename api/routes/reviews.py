"""Reviews: confirm or dismiss each flag with a comment; review status; rule precision."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import func, select

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
from api.views import (
    call_review_status,
    flag_views,
    get_call,
    load_outputs,
    review_history,
)
from core.db import Review, latest_reviews
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
    row = Review(call_id=call.id, flag_key=flag.key, rule_id=flag.rule_id, decision=body.decision,
                 comment=body.comment, reviewer=who.actor)
    db.add(row)
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
    conds = [c for c, v in ((Review.rule_id == rule_id, rule_id),
                            (Review.decision == decision, decision),
                            (Review.reviewer == reviewer, reviewer),
                            (Review.call_id == call_id, call_id)) if v is not None]
    total = db.scalar(select(func.count()).select_from(Review).where(*conds)) or 0
    rows = db.scalars(select(Review).where(*conds).order_by(Review.id.desc())
                      .limit(limit).offset(offset))
    return ReviewList(items=[ReviewOut.model_validate(r, from_attributes=True) for r in rows],
                      total=total, limit=limit, offset=offset)


@router.get("/reviews/precision", response_model=PrecisionReport,
            summary="Each rule's precision from reviews",
            description="Per rule: flags confirmed and dismissed (latest decision per flag), "
            "precision = confirmed / reviewed, and how many indexed calls the rule flags.",
            responses=responses())
def precision(db: DB, backend: Backend,
              _who: Annotated[Principal, Depends(require("qa", "manager"))]) -> PrecisionReport:
    latest = select(func.max(Review.id)).group_by(Review.call_id, Review.flag_key)
    rows = db.execute(select(Review.rule_id, Review.decision, func.count())
                      .where(Review.id.in_(latest)).group_by(Review.rule_id, Review.decision))
    counts: dict[str, dict[str, int]] = {}
    for rule_id, decision, n in rows:
        counts.setdefault(rule_id, {})[decision] = n
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
