"""The search interface every backend implements, and its query and result types."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

SEVERITY_RANK = {"low": 1, "medium": 2, "high": 3, "critical": 4}


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
    language: str | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None
    sort: Literal["relevance", "date", "risk"] = "relevance"
    size: int = 20
    offset: int = 0


@dataclass
class UtteranceHit:
    utterance: int
    role: str
    start: float
    end: float
    text: str
    highlight: str


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
    utterances: list[UtteranceHit] = field(default_factory=list)


@dataclass
class SearchResult:
    total: int
    hits: list[CallHit]


class SearchBackend(Protocol):
    def index(self, documents: list[dict[str, Any]]) -> int: ...
    def delete(self, call_id: str) -> bool: ...
    def get(self, call_id: str) -> dict[str, Any] | None: ...
    def search(self, query: SearchQuery) -> SearchResult: ...
    def aggregate(self, field: str, query: SearchQuery | None = None) -> dict[str, int]: ...
    def count(self) -> int: ...
    def clear(self) -> None: ...
