"""Request and response bodies of the REST API, with the examples OpenAPI shows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from core.schemas import Analysis, Transcript


def utc(value: datetime) -> datetime:
    """SQLite hands back UTC times without their offset: say so."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Instant = Annotated[datetime, AfterValidator(utc)]
Stage = Literal["transcribe", "analyze", "index"]
Decision = Literal["confirmed", "dismissed"]
ReviewStatus = Literal["none", "unreviewed", "partial", "confirmed", "dismissed"]
Severity = Literal["low", "medium", "high", "critical"]

CALL_EXAMPLE = {
    "id": "c-3f9a1c2e5b7d4e10", "status": "indexed", "error": None,
    "source_name": "2026-11-03_A1042_C88213.wav", "duration": 184.2, "channels": 2,
    "sample_rate": 8000, "codec": "pcm_mulaw", "agent_id": "A1042", "team": "collections-2",
    "customer_id": "C88213", "started_at": "2026-11-03T09:14:00Z", "direction": "outbound",
    "language": "en", "channel_map": ["agent", "customer"], "batch_id": "crm-2026-11-03",
    "created_at": "2026-11-03T09:20:11Z", "updated_at": "2026-11-03T09:20:40Z"}


def _examples(*items: Any) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(items)})


class CallSummary(BaseModel):
    model_config = _examples(CALL_EXAMPLE)
    id: str
    status: str = Field(description="queued, transcribing, analyzing, indexing, indexed or failed")
    error: str | None = None
    source_name: str
    duration: float = Field(description="Seconds.")
    channels: int
    sample_rate: int
    codec: str
    agent_id: str | None = None
    team: str | None = None
    customer_id: str | None = None
    started_at: Instant | None = None
    direction: str | None = None
    language: str | None = None
    channel_map: list[str] | None = None
    batch_id: str | None = None
    created_at: Instant | None = None
    updated_at: Instant | None = None


class CallList(BaseModel):
    model_config = _examples({"items": [CALL_EXAMPLE], "total": 1, "limit": 50, "offset": 0})
    items: list[CallSummary]
    total: int
    limit: int
    offset: int


class StageStatus(BaseModel):
    stage: Stage
    status: str = Field(description="pending (not started), queued, running, done or failed")
    attempts: int = 0
    seconds: float | None = None
    error: str | None = None
    version: str | None = None
    started_at: Instant | None = None
    finished_at: Instant | None = None


class FlagView(BaseModel):
    key: str = Field(description="Stable flag id (rule@utterance): what reviews refer to.")
    rule_id: str
    title: str
    severity: Severity
    start: float | None = Field(None, description="Seconds into the call of the first evidence.")
    quote: str | None = Field(None, description="The evidence, redacted unless the key may see "
                              "personal data.")
    review: Decision | None = None
    review_comment: str | None = None
    reviewer: str | None = None


class CallInsight(BaseModel):
    primary_intent: str | None = None
    customer_sentiment: str | None = None
    outcome: str | None = None
    summary: str | None = None
    risk: float | None = None


class CallDetail(BaseModel):
    model_config = _examples({
        "call": CALL_EXAMPLE,
        "stages": [{"stage": "transcribe", "status": "done", "attempts": 1, "seconds": 18.4},
                   {"stage": "analyze", "status": "done", "attempts": 1, "seconds": 0.02},
                   {"stage": "index", "status": "done", "attempts": 1, "seconds": 0.01}],
        "redacted": False, "review_status": "unreviewed",
        "insight": {"primary_intent": "repayment_amount", "customer_sentiment": "neutral",
                    "outcome": "resolved", "summary": "Customer asked for the amount due.",
                    "risk": 3.0},
        "flags": [{"key": "recording_disclosure_missing@call", "rule_id":
                   "recording_disclosure_missing", "title": "No recording notice",
                   "severity": "medium", "start": None, "quote": None, "review": None}],
        "transcript": None, "analysis": None, "audio_url": "/calls/c-3f9a1c2e5b7d4e10/audio"})
    call: CallSummary
    stages: list[StageStatus]
    redacted: bool = Field(description="True when personal data in texts is masked.")
    review_status: ReviewStatus | None = None
    insight: CallInsight | None = None
    flags: list[FlagView] = Field(default_factory=list)
    transcript: Transcript | None = Field(None, description="qa and admin (and manager, redacted).")
    analysis: Analysis | None = Field(None, description="qa and admin (and manager, redacted).")
    audio_url: str | None = Field(None, description="For keys that may play audio.")


class UploadResult(BaseModel):
    model_config = _examples({"call_id": "c-3f9a1c2e5b7d4e10", "outcome": "accepted",
                              "status": "queued", "batch_id": None,
                              "message": "registered; processing queued"})
    call_id: str
    outcome: Literal["accepted", "duplicate"]
    status: str
    batch_id: str | None = None
    message: str


class ReprocessRequest(BaseModel):
    model_config = _examples({"from_stage": "analyze"})
    from_stage: Stage = Field("transcribe", description="Re-run this stage and the ones after it.")
    # Metadata overrides (the same audio re-ingested with a new sidecar is a duplicate):
    # set on the call, then the call is transcribed again whatever from_stage says.
    language: str | None = Field(None, pattern=r"^[a-z]{2,3}$",
                                 description="New language hint (en, zh, ...).")
    channel_map: list[Literal["agent", "customer"]] | None = Field(
        None, description="New role of each channel, e.g. ['customer', 'agent'].")


class Accepted(BaseModel):
    model_config = _examples({"call_id": "c-3f9a1c2e5b7d4e10", "status": "queued",
                              "message": "re-running from analyze"})
    call_id: str
    status: str
    message: str


class RolesPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"swap": True}, {"speakers": {"S0": "customer", "S1": "agent"}}]})
    swap: bool = Field(False, description="Swap agent and customer everywhere.")
    speakers: dict[str, Literal["agent", "customer"]] | None = Field(
        None, description="Role per speaker label of the transcript (e.g. S0, ch0).")

    @model_validator(mode="after")
    def _one(self) -> RolesPatch:
        if self.swap == bool(self.speakers):
            raise ValueError("give either swap: true or a non-empty speakers mapping")
        return self


class RolesResult(BaseModel):
    model_config = _examples({"call_id": "c-3f9a1c2e5b7d4e10",
                              "speakers": {"S0": "customer", "S1": "agent"},
                              "status": "indexed", "message": "roles fixed; analysis re-run"})
    call_id: str
    speakers: dict[str, str]
    status: str
    message: str


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"flag_key": "threat_or_abuse@7", "decision": "confirmed",
         "comment": "Agent threatened to call the employer."}]})
    flag_key: str = Field(min_length=1, max_length=160)
    decision: Decision
    comment: str | None = Field(None, max_length=4000)


class ReviewOut(BaseModel):
    model_config = _examples({"id": 12, "call_id": "c-3f9a1c2e5b7d4e10",
                              "flag_key": "threat_or_abuse@7", "rule_id": "threat_or_abuse",
                              "decision": "confirmed", "comment": "Clear threat.",
                              "reviewer": "qa-lin (cqa_x8Yk2pQ)",
                              "created_at": "2026-11-04T10:02:00Z"})
    id: int
    call_id: str
    flag_key: str
    rule_id: str
    decision: Decision
    comment: str | None = None
    reviewer: str
    created_at: Instant


class CallReviews(BaseModel):
    model_config = _examples({"call_id": "c-3f9a1c2e5b7d4e10", "review_status": "partial",
                               "flags": [{"key": "threat_or_abuse@7", "rule_id": "threat_or_abuse",
                                          "title": "Threats", "severity": "critical",
                                          "start": 61.3, "quote": "we will call your employer",
                                          "review": "confirmed", "review_comment": "Clear threat.",
                                          "reviewer": "qa-lin (cqa_x8Yk2pQ)"}],
                               "history": []})
    call_id: str
    review_status: ReviewStatus
    flags: list[FlagView]
    history: list[ReviewOut]


class ReviewList(BaseModel):
    model_config = _examples({"items": [], "total": 0, "limit": 100, "offset": 0})
    items: list[ReviewOut]
    total: int
    limit: int
    offset: int


class RulePrecision(BaseModel):
    rule_id: str
    confirmed: int
    dismissed: int
    reviewed: int
    flagged: int | None = Field(None, description="Indexed calls flagged by the rule.")
    precision: float | None = Field(None, description="confirmed / reviewed; null before any.")


class PrecisionReport(BaseModel):
    model_config = _examples({"rules": [{"rule_id": "threat_or_abuse", "confirmed": 9,
                                         "dismissed": 1, "reviewed": 10, "flagged": 14,
                                         "precision": 0.9}]})
    rules: list[RulePrecision]


class RuleSummary(BaseModel):
    id: str
    title: str
    type: str
    severity: str
    version: int


class RuleList(BaseModel):
    model_config = _examples({"version": "3c9a0f12ab34", "source": "packaged", "rules": [
        {"id": "threat_or_abuse", "title": "Threat or abuse", "type": "must_not_say",
         "severity": "critical", "version": 1}]})
    version: str
    source: str = Field(description="packaged, uploaded, or the CALLQA_RULES_PATH path")
    rules: list[RuleSummary]


RULE_YAML_EXAMPLE = ("rules:\n  - id: mentions_friday\n    title: Says Friday\n"
                     "    type: must_not_say\n    severity: low\n    phrases: {en: [friday]}\n")


class RuleFile(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"yaml": RULE_YAML_EXAMPLE}]})
    yaml: str = Field(min_length=1, max_length=1_000_000, description="A rule file (docs/rules.md).")


class RuleValidation(BaseModel):
    model_config = _examples({"valid": True, "version": "8d1e2f3a4b5c", "rules": [
        {"id": "mentions_friday", "title": "Says Friday", "type": "must_not_say",
         "severity": "low", "version": 1}]})
    valid: bool
    version: str
    rules: list[RuleSummary]


class DryRunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"yaml": RULE_YAML_EXAMPLE, "date_from": "2026-10-01T00:00:00Z", "limit": 500}]})
    yaml: str | None = Field(None, max_length=1_000_000,
                             description="Rules to try; default the active rules.")
    date_from: datetime | None = None
    date_to: datetime | None = None
    limit: int = Field(1000, ge=1, le=100_000, description="At most this many stored calls.")


class DryRunExample(BaseModel):
    call_id: str
    start: float | None
    quote: str


class DryRunRule(BaseModel):
    rule_id: str
    title: str
    flagged: list[str]
    newly_flagged: list[str]
    no_longer_flagged: list[str]
    examples: list[DryRunExample]


class DryRunResult(BaseModel):
    model_config = _examples({"calls": 120, "rules": [
        {"rule_id": "mentions_friday", "title": "Says Friday", "flagged": ["c-1"],
         "newly_flagged": ["c-1"], "no_longer_flagged": [],
         "examples": [{"call_id": "c-1", "start": 41.2, "quote": "by Friday"}]}]})
    calls: int
    rules: list[DryRunRule]


class UtteranceHitOut(BaseModel):
    utterance: int
    role: str
    start: float
    end: float
    text: str
    highlight: str = Field(description="text with each match between <em> and </em>")


class CallHitOut(BaseModel):
    call_id: str
    started_at: str | None = None
    agent_id: str | None = None
    team: str | None = None
    customer_id: str | None = None
    language: str | None = None
    primary_intent: str | None = None
    sentiment: str | None = None
    rule_ids: list[str] = Field(default_factory=list)
    risk: float = 0.0
    score: float = 0.0
    duration: float | None = None
    max_severity: str | None = None
    review_status: str | None = None
    utterances: list[UtteranceHitOut] = Field(default_factory=list)


class SearchResponse(BaseModel):
    model_config = _examples({"total": 1, "next_cursor": None, "hits": [{
        "call_id": "c-3f9a1c2e5b7d4e10", "started_at": "2026-11-03T09:14:00+00:00",
        "agent_id": "A1042", "team": "collections-2", "customer_id": "C88213",
        "language": "en", "primary_intent": "repayment_amount", "sentiment": "negative",
        "rule_ids": ["threat_or_abuse"], "risk": 12.0, "score": 4.1, "duration": 184.2,
        "max_severity": "critical", "review_status": "unreviewed", "utterances": [
            {"utterance": 7, "role": "agent", "start": 61.3, "end": 64.0,
             "text": "we will call your employer", "highlight": "we will call your <em>employer</em>"}]}]})
    total: int
    hits: list[CallHitOut]
    next_cursor: str | None = Field(None, description="Pass as cursor= for the next page.")


class Insight(BaseModel):
    """Trends, scorecards and summaries: shapes from search.insight (see docs/api.md)."""

    model_config = ConfigDict(extra="allow")


class TrendsResponse(Insight):
    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        "metric": "violation", "interval": "week", "by": None, "series": [
            {"key": "threat_or_abuse", "points": [{"period": "2026-10-26", "value": 3}]}]}]})


class ScorecardResponse(Insight):
    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        "agent_id": "A1042", "calls": 52, "flags_per_call": 0.4, "violation_rate": 0.21,
        "avg_customer_sentiment": 0.05, "confirmed_violations": 3}]})


class ScorecardList(BaseModel):
    model_config = _examples({"items": [{"agent_id": "A1042", "calls": 52,
                                          "violations_per_100": 40.0}]})
    items: list[ScorecardResponse]


class CustomerSummaryResponse(Insight):
    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        "customer_id": "C88213", "calls": 4, "last_call_at": "2026-11-03T09:14:00+00:00",
        "intents": {"repayment_amount": 3}, "sentiment_trend": ["neutral", "negative"],
        "open_issues": ["complaint"]}]})


class PhraseList(BaseModel):
    model_config = _examples({"intent": "refund", "phrases": [{"phrase": "charged twice",
                                                               "count": 14}]})
    intent: str
    phrases: list[dict[str, Any]]


class AuditOut(BaseModel):
    id: int
    at: Instant
    actor: str
    role: str
    action: str
    resource: str
    detail: dict[str, Any] | None = None


class AuditList(BaseModel):
    model_config = _examples({"items": [{"id": 1, "at": "2026-11-04T10:00:00Z",
                                         "actor": "qa-lin (cqa_x8Yk2pQ)", "role": "qa",
                                         "action": "play", "resource": "call:c-1",
                                         "detail": None}], "total": 1, "limit": 100,
                              "offset": 0})
    items: list[AuditOut]
    total: int
    limit: int
    offset: int


class WebhookConfig(BaseModel):
    model_config = _examples({"urls": ["https://crm.example/hooks/callqa"],
                              "events": ["call.completed", "flag.critical"], "signed": True,
                              "max_attempts": 6, "backoff_s": 2.0})
    urls: list[str]
    events: list[str]
    signed: bool
    max_attempts: int
    backoff_s: float


class DeliveryOut(BaseModel):
    model_config = _examples({"id": 41, "event": "flag.critical",
                               "url": "https://crm.example/hooks/callqa", "status": "delivered",
                               "attempts": 2, "response_code": 200, "error": None,
                               "created_at": "2026-11-04T10:00:00Z",
                               "delivered_at": "2026-11-04T10:00:02Z",
                               "payload": {"id": "9f0c", "event": "flag.critical",
                                           "data": {"call_id": "c-1",
                                                    "rule_id": "threat_or_abuse"}}})
    id: int
    event: str
    url: str
    status: str
    attempts: int
    response_code: int | None = None
    error: str | None = None
    created_at: Instant
    delivered_at: Instant | None = None
    payload: dict[str, Any]


class DeliveryList(BaseModel):
    model_config = _examples({"items": [], "total": 0, "limit": 100, "offset": 0})
    items: list[DeliveryOut]
    total: int
    limit: int
    offset: int


class WebhookTestResult(BaseModel):
    model_config = _examples({"deliveries": [41], "message": "ping queued to 1 URL(s)"})
    deliveries: list[int]
    message: str


class Health(BaseModel):
    model_config = _examples({"status": "ok", "checks": {"database": "ok", "objects": "ok",
                                                         "search": "ok"}})
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = Field(default_factory=dict)
