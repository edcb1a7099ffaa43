"""The review queue: flagged calls not yet fully reviewed, riskiest first, with who reviews
each (admin assigns) and where the review stands (to review, in review, done).

Candidates come from the search index (flagged = some flag of low severity or above,
sorted by risk); the assignments table adds the reviewer and the reviewer's own status.
A call whose every flag is reviewed counts as done whatever was set by hand, so the
queue empties as the reviewer works through the flags.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from api import audit
from api.deps import DB, Backend, require
from api.errors import ApiError, not_found, responses
from api.keys import Principal
from api.models import (
    AssignmentIn,
    AssignmentOut,
    QueueItem,
    QueueResponse,
    QueueStatusIn,
    ReviewerList,
)
from api.services import reviewing
from core.db import Assignment
from search.base import CallHit, InvalidQuery, SearchQuery

router = APIRouter(prefix="/queue", tags=["reviews"])

QUEUE_ROLES = ("qa",)
# The queue reads at most this many flagged calls from the index (riskiest first).
MAX_SCAN = 2000
PAGE = 200
DONE_REVIEWS = ("confirmed", "dismissed")


def effective_status(stored: str | None, review_status: str | None) -> str:
    if review_status in DONE_REVIEWS or stored == "done":
        return "done"
    if stored == "in_review" or review_status == "partial":
        return "in_review"
    return "to_review"


@router.get("", response_model=QueueResponse, summary="Review queue",
            description="Flagged calls, riskiest first, with the reviewer and the review's "
            "status. By default the open ones (to review and in review); `mine=true` only "
            "those assigned to the calling key's name; `assignee` (admin) those of one "
            "reviewer, `unassigned=true` those of none. Dates filter the call's start.",
            responses=responses())
def queue(backend: Backend, db: DB,
          who: Annotated[Principal, Depends(require(*QUEUE_ROLES))],
          status: Annotated[Literal["open", "to_review", "in_review", "done", "all"],
                            Query()] = "open",
          mine: Annotated[bool, Query()] = False,
          assignee: Annotated[str | None, Query(max_length=128)] = None,
          unassigned: Annotated[bool, Query()] = False,
          date_from: Annotated[datetime | None, Query()] = None,
          date_to: Annotated[datetime | None, Query()] = None,
          team: Annotated[str | None, Query(max_length=128)] = None,
          size: Annotated[int, Query(ge=1, le=500)] = 100) -> QueueResponse:
    query = SearchQuery(min_severity="low", sort="risk", date_from=date_from, date_to=date_to,
                        team=team, size=PAGE)
    try:
        query.validate()
    except InvalidQuery as exc:
        raise ApiError(422, "invalid_query", str(exc)) from exc
    hits: list[CallHit] = []
    while len(hits) < MAX_SCAN:
        result = backend.search(query)
        hits.extend(result.hits)
        if not result.next_cursor or not result.hits:
            break
        query.cursor = result.next_cursor
    rows = reviewing.assignments(db, [h.call_id for h in hits])
    wanted = {"open": ("to_review", "in_review"), "all": ("to_review", "in_review", "done")}.get(
        status, (status,))
    who_for = who.name if mine else assignee
    items = []
    for hit in hits:
        row = rows.get(hit.call_id)
        item = QueueItem(
            call_id=hit.call_id, started_at=hit.started_at, agent_id=hit.agent_id, team=hit.team,
            language=hit.language, primary_intent=hit.primary_intent, rule_ids=hit.rule_ids,
            max_severity=hit.max_severity, risk=hit.risk, review_status=hit.review_status,
            status=effective_status(row.status if row else None, hit.review_status),
            assignee=row.assignee if row else None)
        if item.status not in wanted:
            continue
        if who_for is not None and item.assignee != who_for:
            continue
        if unassigned and item.assignee is not None:
            continue
        items.append(item)
    return QueueResponse(total=len(items), items=items[:size])


@router.get("/reviewers", response_model=ReviewerList, summary="Reviewers to assign (admin)",
            description="Names of the active keys that can review (qa and admin).",
            responses=responses())
def reviewers(db: DB, _who: Annotated[Principal, Depends(require())]) -> ReviewerList:
    return ReviewerList(items=reviewing.reviewer_names(db))


def _row(db: DB, call_id: str) -> Assignment:
    try:
        return reviewing.assignment(db, call_id)
    except LookupError as exc:
        raise not_found(str(exc)) from None


def _out(row: Assignment) -> AssignmentOut:
    return AssignmentOut(call_id=row.call_id, assignee=row.assignee,
                         status=row.status, assigned_by=row.assigned_by)


@router.put("/{call_id}/assignee", response_model=AssignmentOut,
            summary="Assign a call to a reviewer (admin)",
            description="`assignee` is a qa or admin key's name; null unassigns. Audited.",
            responses=responses(404))
def assign(call_id: str, body: AssignmentIn, db: DB,
           who: Annotated[Principal, Depends(require())]) -> AssignmentOut:
    if body.assignee is not None and not reviewing.is_reviewer(db, body.assignee):
        raise ApiError(422, "unknown_reviewer", f"no active qa or admin key named "
                       f"{body.assignee!r}", {"assignee": body.assignee})
    row = _row(db, call_id)
    row.assignee = body.assignee
    row.assigned_by = who.actor
    db.flush()
    audit.record(db, who, "assign", f"call:{call_id}", {"assignee": body.assignee})
    return _out(row)


@router.put("/{call_id}/status", response_model=AssignmentOut,
            summary="Set a call's review status",
            description="to_review, in_review or done. A qa key may change only calls "
            "assigned to it or to nobody (409 otherwise).", responses=responses(404, 409))
def set_status(call_id: str, body: QueueStatusIn, db: DB,
               who: Annotated[Principal, Depends(require(*QUEUE_ROLES))]) -> AssignmentOut:
    row = _row(db, call_id)
    if who.role != "admin" and row.assignee not in (None, who.name):
        raise ApiError(409, "assigned_elsewhere", f"call {call_id} is assigned to {row.assignee}",
                       {"assignee": row.assignee})
    row.status = body.status
    db.flush()
    audit.record(db, who, "queue_status", f"call:{call_id}", {"status": body.status})
    return _out(row)
