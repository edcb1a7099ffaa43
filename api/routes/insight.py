"""Search, export, trends, agent scorecards, top phrases, customer summaries."""

from __future__ import annotations

import csv
import dataclasses
import html
import io
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from api import audit
from api.deps import DB, Backend, require
from api.errors import ApiError, not_found, responses
from api.keys import Principal
from api.models import (
    CallHitOut,
    CustomerSummaryResponse,
    PhraseList,
    ScorecardList,
    ScorecardResponse,
    SearchResponse,
    TrendsResponse,
)
from core.schemas import Severity
from search import insight
from search.base import InvalidQuery, SearchQuery, SearchResult
from search.query import HL_END, HL_START, QuerySyntaxError

router = APIRouter(tags=["insight"])

SEARCH_ROLES = ("qa", "manager")
INSIGHT_ROLES = ("manager",)


def search_query(
    q: Annotated[str, Query(max_length=1000, description='Words, "phrases", OR, NOT / -word.',
                            examples=['refund OR "charged twice" -insurance'])] = "",
    role: Annotated[Literal["agent", "customer"] | None, Query(description="Said by.")] = None,
    agent_id: Annotated[str | None, Query(max_length=128)] = None,
    team: Annotated[str | None, Query(max_length=128)] = None,
    customer_id: Annotated[str | None, Query(max_length=128)] = None,
    intent: Annotated[str | None, Query(max_length=128)] = None,
    sentiment: Annotated[Literal["negative", "neutral", "positive"] | None, Query()] = None,
    rule_id: Annotated[str | None, Query(max_length=128)] = None,
    min_severity: Annotated[Severity | None, Query()] = None,
    review_status: Annotated[Literal["none", "unreviewed", "partial", "confirmed", "dismissed"]
                             | None, Query()] = None,
    language: Annotated[str | None, Query(max_length=16)] = None,
    date_from: Annotated[datetime | None, Query()] = None,
    date_to: Annotated[datetime | None, Query()] = None,
    duration_min: Annotated[float | None, Query(ge=0, le=1e6, description="Seconds.")] = None,
    duration_max: Annotated[float | None, Query(ge=0, le=1e6, description="Seconds.")] = None,
    sort: Annotated[Literal["relevance", "date", "risk"], Query()] = "relevance",
    size: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
    cursor: Annotated[str | None, Query(max_length=2000,
                                        description="next_cursor of the previous page.")] = None,
) -> SearchQuery:
    query = SearchQuery(text=q, role=role, agent_id=agent_id, team=team, customer_id=customer_id,
                        intent=intent, sentiment=sentiment, rule_id=rule_id,
                        min_severity=min_severity, review_status=review_status,
                        language=language, date_from=date_from, date_to=date_to,
                        duration_min=duration_min, duration_max=duration_max, sort=sort,
                        size=size, offset=offset, cursor=cursor or None)
    try:
        return query.validate()
    except InvalidQuery as exc:
        raise ApiError(422, "invalid_query", str(exc)) from exc


Query_ = Annotated[SearchQuery, Depends(search_query)]


def _run(backend: Backend, query: SearchQuery) -> SearchResult:
    try:
        return backend.search(query)
    except (InvalidQuery, QuerySyntaxError) as exc:
        raise ApiError(422, "invalid_query", str(exc)) from exc


def _highlight(text: str) -> str:
    return html.escape(text, quote=False).replace(HL_START, "<em>").replace(HL_END, "</em>")


def _hit(hit: Any) -> CallHitOut:
    data = dataclasses.asdict(hit)
    for u in data["utterances"]:
        u["highlight"] = _highlight(u["highlight"])
    return CallHitOut.model_validate(data)


def _params(query: SearchQuery) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v)
            for k, v in dataclasses.asdict(query).items()
            if v not in (None, "") and k not in ("size", "offset", "cursor")}


@router.get("/search", response_model=SearchResponse, summary="Search calls",
            description="Free text over what was said (by role), filters on metadata and "
            "analysis, sort by relevance, date or risk; offset or cursor pages. Text in hits is "
            "as indexed (personal data masked unless CALLQA_INDEX_PII). Audited.",
            responses=responses())
def search(query: Query_, backend: Backend, db: DB,
           who: Annotated[Principal, Depends(require(*SEARCH_ROLES))]) -> SearchResponse:
    result = _run(backend, query)
    audit.record(db, who, "search", "search", {"query": _params(query), "total": result.total})
    return SearchResponse(total=result.total, hits=[_hit(h) for h in result.hits],
                          next_cursor=result.next_cursor)


EXPORT_COLUMNS = ("call_id", "started_at", "agent_id", "team", "customer_id", "language",
                  "duration", "primary_intent", "sentiment", "rule_ids", "max_severity", "risk",
                  "review_status")
# Readable titles after the ids (intents.yaml, rules.yaml), in the `lang` asked for.
TITLE_COLUMNS = ("intent_title", "rule_titles")


@router.get("/search/export", summary="Export search results as CSV",
            description="Every call matching the query (up to `limit`), one CSV row each: "
            "metadata and analysis fields, no transcript text. Audited as an export.",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {"example": "call_id,started_at,...\n"}},
                             "description": "CSV"}, **responses()})
def export(query: Query_, backend: Backend, db: DB,
           who: Annotated[Principal, Depends(require(*SEARCH_ROLES))],
           limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
           lang: Annotated[Literal["en", "zh"], Query(
               description="Language of the intent_title and rule_titles columns.")] = "en",
           ) -> StreamingResponse:
    from api.titles import intent_title, rule_title

    _run(backend, dataclasses.replace(query, size=1))  # bad queries fail before streaming
    audit.record(db, who, "export", "search", {"query": _params(query), "limit": limit})
    page = dataclasses.replace(query, size=min(500, limit), offset=0, cursor=None)

    def rows() -> Iterator[str]:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(EXPORT_COLUMNS + TITLE_COLUMNS)
        sent = 0
        current = page
        while sent < limit:
            result = backend.search(current)
            for hit in result.hits[:limit - sent]:
                data = dataclasses.asdict(hit)
                titles = [intent_title(hit.primary_intent, lang),
                          ";".join(rule_title(r, lang) for r in hit.rule_ids)]
                writer.writerow([csv_cell(";".join(data[c]) if c == "rule_ids" else data[c])
                                 for c in EXPORT_COLUMNS] + [csv_cell(x) for x in titles])
                sent += 1
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
            if not result.next_cursor or not result.hits:
                break
            current = dataclasses.replace(current, cursor=result.next_cursor)
        yield buf.getvalue()

    return StreamingResponse(rows(), media_type="text/csv",
                             headers={"Content-Disposition": 'attachment; filename="calls.csv"'})


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula (=HYPERLINK(...) in a customer id)
    gets a leading apostrophe (OWASP's CSV-injection advice); numbers are left alone."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _insight(call: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return call(*args, **kwargs)
    except (InvalidQuery, QuerySyntaxError) as exc:
        raise ApiError(422, "invalid_query", str(exc)) from exc


@router.get("/trends", response_model=TrendsResponse, summary="Trends over time",
            description="Calls, intents, violations, sentiment, outcomes or review statuses per "
            "day, week or month (in CALLQA_TIMEZONE), optionally split by team, agent or "
            "language, over the calls matching the search filters.", responses=responses())
def trends(query: Query_, backend: Backend, db: DB,
           who: Annotated[Principal, Depends(require(*INSIGHT_ROLES))],
           metric: Annotated[Literal["calls", "intent", "violation", "sentiment", "outcome",
                                     "review"], Query()] = "calls",
           interval: Annotated[Literal["day", "week", "month"], Query()] = "day",
           by: Annotated[Literal["team", "agent_id", "language"] | None, Query()] = None,
           ) -> TrendsResponse:
    data = _insight(insight.trends, backend, query, metric, interval, by)
    audit.record(db, who, "insight", "trends", {"metric": metric, "query": _params(query)})
    return TrendsResponse.model_validate(data)


@router.get("/agents", response_model=ScorecardList, summary="Agent scorecards",
            description="One scorecard per agent over the calls matching the filters, worst "
            "first (violations per 100 calls).", responses=responses())
def scorecards(query: Query_, backend: Backend, db: DB,
               who: Annotated[Principal, Depends(require(*INSIGHT_ROLES))]) -> ScorecardList:
    cards = _insight(insight.agent_scorecards, backend, query)
    audit.record(db, who, "insight", "agents", {"query": _params(query)})
    return ScorecardList(items=[ScorecardResponse.model_validate(c) for c in cards])


@router.get("/agents/{agent}/scorecard", response_model=ScorecardResponse,
            summary="One agent's scorecard", description="With weekly violation rates.",
            responses=responses(404))
def scorecard(agent: str, query: Query_, backend: Backend, db: DB,
              who: Annotated[Principal, Depends(require(*INSIGHT_ROLES))]) -> ScorecardResponse:
    card = _insight(insight.agent_scorecard, backend, agent, query)
    if card is None:
        raise not_found(f"indexed calls of agent {agent!r}")
    audit.record(db, who, "insight", f"agent:{agent}")
    return ScorecardResponse.model_validate(card)


@router.get("/intents/{intent_id}/phrases", response_model=PhraseList,
            summary="What customers say in calls of an intent",
            description="Phrases significantly more frequent in this intent's calls.",
            responses=responses())
def phrases(intent_id: str, query: Query_, backend: Backend, db: DB,
            who: Annotated[Principal, Depends(require(*INSIGHT_ROLES))],
            size: Annotated[int, Query(ge=1, le=100)] = 20) -> PhraseList:
    found = _insight(insight.top_phrases, backend, intent_id, query, size)
    audit.record(db, who, "phrases", f"intent:{intent_id}", {"query": _params(query)})
    return PhraseList.model_validate({"intent": intent_id, "phrases": found})


@router.get("/customers/{customer_id}/summary", response_model=CustomerSummaryResponse,
            summary="A customer's calls in brief (CRM)",
            description="The customer's calls (newest first, paged with limit and offset; "
            "next_offset is null on the last page), intents over time, needs not yet resolved "
            "and flags over all their calls, last sentiment and the latest summary. No "
            "transcript text. Audited.", responses=responses(404))
def customer(customer_id: str, backend: Backend, db: DB,
             who: Annotated[Principal, Depends(require("crm"))],
             limit: Annotated[int, Query(ge=1, le=500, description="Calls per page.")] = 50,
             offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
             language: Annotated[Literal["en", "zh"] | None, Query(
                 description="The latest summary in this language, rebuilt from the analysis "
                 "when the call was in the other one.")] = None,
             ) -> CustomerSummaryResponse:
    summary = _insight(insight.customer_summary, backend, customer_id, limit, offset, language)
    if summary is None:
        raise not_found(f"indexed calls of customer {customer_id!r}")
    audit.record(db, who, "insight", f"customer:{customer_id}")
    return CustomerSummaryResponse.model_validate(summary)
