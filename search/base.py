"""The search interface every backend implements, and its query and result types.

A call is one document: its metadata, analysis results and utterances (each with
role and times). Free text matches calls: every clause must be said in some
utterance (by the chosen role), a phrase within one utterance, a NOT clause in none.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, TypedDict

from core.schemas import SEVERITY_RANK, Severity

REVIEW_STATUSES = ("none", "unreviewed", "partial", "confirmed", "dismissed")
SENTIMENTS = ("negative", "neutral", "positive")
SORTS = ("relevance", "date", "risk")
MAX_PAGE_SIZE = 1000

# Fields a facet can group by: single-valued keywords, the multi-valued ones
# (a call counts once under each of its values), and calendar periods.
KEYWORD_FIELDS = ("agent_id", "team", "customer_id", "language", "primary_intent", "sentiment",
                  "review_status", "outcome", "direction")
MULTI_FIELDS = ("intents", "rule_ids", "languages")
PERIODS = ("day", "week", "month")
FACET_FIELDS = KEYWORD_FIELDS + MULTI_FIELDS + PERIODS
# Numeric document fields a facet can sum (averages are sum / count).
METRIC_FIELDS = ("duration", "sentiment_score", "flag_count", "critical_flags", "risk",
                 "dead_air_s", "agent_talk_share")


class FlagEntry(TypedDict):
    key: str  # Flag.key: what reviews refer to
    rule_id: str
    title: str
    severity: Severity
    start: float | None  # where its first evidence is said
    review: str | None  # the latest decision: confirmed, dismissed or none yet


class UtteranceEntry(TypedDict):
    i: int  # index into the transcript's utterances
    role: str
    start: float
    end: float
    text: str  # redacted unless CALLQA_INDEX_PII
    language: str  # the utterance's own (a call may change language)


class CallDocument(TypedDict):
    """What the index holds for one call (search.documents.build_document makes it from
    the call's metadata, transcript and analysis). Every backend stores it as given and
    `get` returns it unchanged; the embedded columns, the Elasticsearch mapping and
    CallHit are read from these fields by name."""

    call_id: str
    started_at: str | None  # ISO 8601 with its offset
    agent_id: str | None
    team: str | None
    customer_id: str | None
    direction: str | None
    language: str  # the call's main language
    languages: list[str]  # every language spoken in it
    duration: float
    primary_intent: str | None
    intents: list[str]
    sentiment: str
    sentiment_score: float
    rule_ids: list[str]
    max_severity: Severity | None
    flag_count: int
    critical_flags: int
    flags: list[FlagEntry]
    review_status: str
    risk: float
    dead_air_s: float
    agent_talk_share: float | None
    outcome: str | None
    summary: str
    pii_redacted: bool
    utterances: list[UtteranceEntry]


def utc_iso(value: str | datetime | None) -> str | None:
    """Instants compare as strings only in one offset: backends store and report UTC."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


class InvalidQuery(ValueError):
    """The query cannot be run as given; the message says why."""


class SearchUnavailable(RuntimeError):
    """The search cluster cannot serve: unreachable, refusing, or its mapping is not ours.

    `transient`: an outage (unreachable, timed out, 429 or 5xx) that a retry with back-off
    may outlast; False for what only a person can fix (a wrong mapping, a concrete index
    under the alias, refused credentials, documents the mapping rejects)."""

    def __init__(self, message: str, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass
class SearchQuery:
    text: str = ""
    role: Literal["agent", "customer"] | None = None
    agent_id: str | None = None
    team: str | None = None
    customer_id: str | None = None
    intent: str | None = None
    sentiment: str | None = None
    rule_id: str | None = None
    min_severity: str | None = None
    review_status: str | None = None
    language: str | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None
    duration_min: float | None = None
    duration_max: float | None = None
    sort: Literal["relevance", "date", "risk"] = "relevance"
    size: int = 20
    offset: int = 0
    # Opaque search_after cursor from SearchResult.next_cursor: pages as deep as needed.
    cursor: str | None = None

    def validate(self) -> SearchQuery:
        from core.schemas import DateOutOfRange, to_utc

        try:  # one clock, and no date the backends cannot convert (a 500 before)
            self.date_from = to_utc(self.date_from) if self.date_from else None
            self.date_to = to_utc(self.date_to) if self.date_to else None
        except DateOutOfRange as exc:
            raise InvalidQuery(f"date: {exc}") from exc
        checks = [
            (self.role in (None, "agent", "customer"), f"role must be agent or customer, not {self.role!r}"),
            (self.sort in SORTS, f"sort must be one of {', '.join(SORTS)}, not {self.sort!r}"),
            (self.min_severity in (None, *SEVERITY_RANK),
             f"min_severity must be one of {', '.join(SEVERITY_RANK)}"),
            (self.review_status in (None, *REVIEW_STATUSES),
             f"review_status must be one of {', '.join(REVIEW_STATUSES)}"),
            (self.sentiment in (None, *SENTIMENTS), f"sentiment must be one of {', '.join(SENTIMENTS)}"),
            (1 <= self.size <= MAX_PAGE_SIZE, f"size must be 1..{MAX_PAGE_SIZE}"),
            (self.offset >= 0, "offset must be 0 or more"),
            (not (self.cursor and self.offset), "use either cursor or offset, not both"),
            (self.date_from is None or self.date_to is None or self.date_from < self.date_to,
             "date_from must be before date_to"),
            (self.duration_min is None or self.duration_max is None
             or self.duration_min <= self.duration_max, "duration_min must not exceed duration_max"),
        ]
        for ok, message in checks:
            if not ok:
                raise InvalidQuery(message)
        if self.cursor:
            decode_cursor(self.cursor, self.sort)
        return self


def encode_cursor(sort: str, values: list[Any]) -> str:
    raw = json.dumps({"s": sort, "v": values}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        values = data["v"]
        ok = data["s"] == sort and isinstance(values, list) and 1 <= len(values) <= 3
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise InvalidQuery("cursor is not valid for this query (take it from next_cursor of "
                           "the same query)")
    return list(values)


@dataclass
class UtteranceHit:
    utterance: int
    role: str
    start: float
    end: float
    text: str
    highlight: str  # text with each match between HL_START and HL_END (search.query)


@dataclass
class CallHit:
    call_id: str
    started_at: str | None
    agent_id: str | None
    team: str | None
    customer_id: str | None
    language: str | None
    primary_intent: str | None
    sentiment: str | None
    rule_ids: list[str]
    risk: float
    score: float
    duration: float | None = None
    max_severity: str | None = None
    review_status: str | None = None
    utterances: list[UtteranceHit] = field(default_factory=list)

    @classmethod
    def from_document(cls, doc: Mapping[str, Any], score: float) -> CallHit:
        """A hit from a CallDocument's fields (all of it or the part a backend reads back);
        started_at in UTC, as both backends report it."""
        return cls(
            call_id=doc["call_id"], started_at=utc_iso(doc.get("started_at")),
            agent_id=doc.get("agent_id"), team=doc.get("team"),
            customer_id=doc.get("customer_id"), language=doc.get("language"),
            primary_intent=doc.get("primary_intent"), sentiment=doc.get("sentiment"),
            rule_ids=list(doc.get("rule_ids") or []), risk=doc.get("risk") or 0.0, score=score,
            duration=doc.get("duration"), max_severity=doc.get("max_severity"),
            review_status=doc.get("review_status"))


@dataclass
class SearchResult:
    total: int
    hits: list[CallHit]
    next_cursor: str | None = None


@dataclass
class Bucket:
    """One group of a facet: its key per grouped field, the number of calls, and the
    sums of the requested metrics over those calls."""

    key: dict[str, str | None]
    count: int
    sums: dict[str, float] = field(default_factory=dict)

    def mean(self, metric: str) -> float | None:
        return round(self.sums[metric] / self.count, 4) if self.count else None


def check_facet(by: list[str], metrics: list[str]) -> None:
    unknown = [f for f in by if f not in FACET_FIELDS]
    if unknown:
        raise InvalidQuery(f"cannot group by {unknown[0]!r}; one of {', '.join(FACET_FIELDS)}")
    if sum(f in MULTI_FIELDS for f in by) > 1:
        raise InvalidQuery(f"group by at most one of {', '.join(MULTI_FIELDS)}")
    if sum(f in PERIODS for f in by) > 1:
        raise InvalidQuery("group by at most one period (day, week, month)")
    if len(set(by)) != len(by) or not by:
        raise InvalidQuery("group by one or more distinct fields")
    bad = [m for m in metrics if m not in METRIC_FIELDS]
    if bad:
        raise InvalidQuery(f"unknown metric {bad[0]!r}; one of {', '.join(METRIC_FIELDS)}")


class SearchBackend(Protocol):
    name: str

    def index(self, documents: list[CallDocument]) -> int:
        """Insert or replace by call_id (never two entries for one call)."""

    def rebuild(self, documents: Iterable[CallDocument]) -> int:
        """Replace the whole index with these documents; searches keep working meanwhile."""

    def delete(self, call_id: str) -> bool: ...
    def get(self, call_id: str) -> CallDocument | None: ...
    def get_many(self, call_ids: list[str]) -> list[CallDocument]: ...
    def search(self, query: SearchQuery) -> SearchResult: ...

    def facets(self, by: list[str], query: SearchQuery | None = None,
               metrics: list[str] | None = None) -> list[Bucket]:
        """Calls matching the query, grouped by `by`; buckets in key order."""

    def aggregate(self, field: str, query: SearchQuery | None = None) -> dict[str, int]:
        """Calls per value of one field, most frequent first."""

    def count(self) -> int: ...
    def clear(self) -> None: ...
    def close(self) -> None: ...


def counts(buckets: list[Bucket], field: str) -> dict[str, int]:
    """aggregate() from facets(): most frequent first, ties by value."""
    pairs = [(b.key[field], b.count) for b in buckets if b.key[field] is not None]
    return {k: n for k, n in sorted(pairs, key=lambda kv: (-kv[1], kv[0]))}  # type: ignore[misc]
