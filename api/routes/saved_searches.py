"""Saved searches: a name and the parameters of GET /search, kept per key name (the
owner), for the web UI's search page and anyone else who wants them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from api import audit
from api.deps import DB, require
from api.errors import ApiError, not_found, responses
from api.keys import Principal
from api.models import Instant
from api.services import reviewing
from core.db import SavedSearch
from core.schemas import Severity

router = APIRouter(tags=["insight"])

ROLES = ("qa", "manager")  # the roles that may search
MAX_PER_OWNER = 200

EXAMPLE_QUERY: dict[str, Any] = {"q": '"charged twice" OR refund', "role": "customer",
                 "review_status": "unreviewed", "min_severity": "high", "sort": "risk"}


class SavedQuery(BaseModel):
    """The parameters of GET /search (no paging)."""

    model_config = ConfigDict(extra="forbid")
    q: str | None = Field(None, max_length=1000)
    role: Literal["agent", "customer"] | None = None
    agent_id: str | None = Field(None, max_length=128)
    team: str | None = Field(None, max_length=128)
    customer_id: str | None = Field(None, max_length=128)
    intent: str | None = Field(None, max_length=128)
    sentiment: Literal["negative", "neutral", "positive"] | None = None
    rule_id: str | None = Field(None, max_length=128)
    min_severity: Severity | None = None
    review_status: Literal["none", "unreviewed", "partial", "confirmed", "dismissed"] | None = None
    language: str | None = Field(None, max_length=16)
    date_from: datetime | None = None
    date_to: datetime | None = None
    duration_min: float | None = Field(None, ge=0, le=1e6)
    duration_max: float | None = Field(None, ge=0, le=1e6)
    sort: Literal["relevance", "date", "risk"] | None = None


class SavedSearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"name": "Unreviewed refund complaints", "query": EXAMPLE_QUERY}]})
    name: str = Field(min_length=1, max_length=128)
    query: SavedQuery


class SavedSearchOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id": 3, "name": "Unreviewed refund complaints", "query": EXAMPLE_QUERY,
         "created_at": "2026-11-04T10:00:00Z"}]})
    id: int
    name: str
    query: dict[str, str | float]
    created_at: Instant


class SavedSearchList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [
        {"id": 3, "name": "Unreviewed refund complaints", "query": EXAMPLE_QUERY,
         "created_at": "2026-11-04T10:00:00Z"}]}]})
    items: list[SavedSearchOut]


def _out(row: SavedSearch) -> SavedSearchOut:
    return SavedSearchOut(id=row.id, name=row.name, query=row.query, created_at=row.created_at)


@router.get("/saved-searches", response_model=SavedSearchList, summary="My saved searches",
            description="The saved searches of the calling key's name, by name.",
            responses=responses())
def list_saved(db: DB, who: Annotated[Principal, Depends(require(*ROLES))]) -> SavedSearchList:
    rows = reviewing.saved_searches(db, who.name)
    audit.record(db, who, "saved_search", "saved-searches", {"listed": len(rows)})
    return SavedSearchList(items=[_out(r) for r in rows])


@router.post("/saved-searches", status_code=201, response_model=SavedSearchOut,
             summary="Save a search",
             description="A name and the GET /search parameters (no paging). Saving under a "
             "name the key's owner already uses replaces that search.",
             responses=responses(409))
def save(body: SavedSearchIn, db: DB,
         who: Annotated[Principal, Depends(require(*ROLES))]) -> SavedSearchOut:
    name = body.name.strip()
    if not name:
        raise ApiError(422, "validation_error", "name: must not be blank")
    query = body.query.model_dump(mode="json", exclude_none=True)
    try:
        row = reviewing.save_search(db, who.name, name, query, MAX_PER_OWNER)
    except reviewing.TooManySaved as exc:
        raise ApiError(409, "conflict", str(exc)) from exc
    audit.record(db, who, "saved_search", f"saved-search:{row.id}", {"name": name,
                                                                      "query": query})
    return _out(row)


@router.delete("/saved-searches/{search_id}", status_code=204, response_class=Response,
               summary="Delete a saved search", description="Only the owner's own searches.",
               responses=responses(404))
def delete_saved(search_id: Annotated[int, Path(ge=1, le=2**31)], db: DB,
                 who: Annotated[Principal, Depends(require(*ROLES))]) -> Response:
    if not reviewing.delete_saved_search(db, who.name, search_id):
        raise not_found(f"saved search {search_id}")
    audit.record(db, who, "saved_search", f"saved-search:{search_id}", {"deleted": True})
    return Response(status_code=204)
