"""Request and response bodies of the REST API, with the examples OpenAPI shows."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)

from core.schemas import MAX_SPEAKERS, Analysis, Severity, Transcript, to_utc
from core.status import CallStatus
from core.status import Stage as Stage
from core.status import StageStatus as StageState


def utc(value: datetime) -> datetime:
    """SQLite hands back UTC times without their offset: say so. DateOutOfRange (a 422)
    for dates no UTC clock holds."""
    return to_utc(value)


# One timestamp format in every response: RFC 3339 in UTC with its offset written out
# (2026-11-03T09:14:00+00:00), as the search index reports its instants too.
Instant = Annotated[datetime, AfterValidator(utc),
                    PlainSerializer(lambda v: v.isoformat(), return_type=str, when_used="json")]
Decision = Literal["confirmed", "dismissed"]
ReviewStatus = Literal["none", "unreviewed", "partial", "confirmed", "dismissed"]

CALL_EXAMPLE = {
    "call_id": "c-3f9a1c2e5b7d4e10", "status": "indexed", "error": None,
    "source_name": "2026-11-03_A1042_C88213.wav", "duration": 184.2, "channels": 2,
    "sample_rate": 8000, "codec": "pcm_mulaw", "has_audio": True, "agent_id": "A1042",
    "team": "collections-2", "customer_id": "C88213", "started_at": "2026-11-03T09:14:00+00:00",
    "direction": "outbound", "language": "en", "channel_map": ["agent", "customer"],
    "batch_id": "crm-2026-11-03", "created_at": "2026-11-03T09:20:11+00:00",
    "updated_at": "2026-11-03T09:20:40+00:00"}


def _stage(name: str, seconds: float, version: str, start: str, end: str) -> dict[str, Any]:
    return {"stage": name, "status": "done", "attempts": 1, "seconds": seconds, "error": None,
            "version": version, "started_at": f"2026-11-03T{start}+00:00",
            "finished_at": f"2026-11-03T{end}+00:00", "worker": None, "heartbeat_at": None,
            "ran_on": "gpu-1:4121:9f0c1a2b" if name == "transcribe" else "cpu-1:3880:51d2e0aa"}


def _examples(*items: Any) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(items)})


class CallSummary(BaseModel):
    model_config = _examples(CALL_EXAMPLE)
    # call_id everywhere (search hits, webhooks, reviews): read from the row's `id`.
    call_id: str = Field(validation_alias=AliasChoices("call_id", "id"))
    status: CallStatus = Field(description="Derived from the stages: queued (waiting for "
                               "transcription), transcribing, analyzing or indexing (that stage "
                               "queued or running), indexed, or failed.")
    error: str | None = None
    source_name: str
    duration: float = Field(description="Seconds.")
    channels: int = Field(description="0 for an imported transcript.")
    sample_rate: int
    codec: str
    has_audio: bool = Field(True, description="False for an imported transcript: nothing to "
                            "play.")
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
    model_config = _examples({"items": [CALL_EXAMPLE], "total": 1, "limit": 50, "offset": 0,
                              "next_cursor": None})
    items: list[CallSummary]
    total: int
    limit: int
    offset: int
    next_cursor: str | None = Field(None, description="Pass as cursor= for the next page "
                                    "(with updated_since: oldest change first).")


class StageStatus(BaseModel):
    stage: Stage
    status: StageState = Field(description="pending (no run recorded: never queued), queued, "
                               "running, done or failed.")
    attempts: int = 0
    seconds: float | None = None
    error: str | None = None
    version: str | None = None
    started_at: Instant | None = None
    finished_at: Instant | None = None
    worker: str | None = Field(None, description="The worker (host:pid:run) holding the stage "
                               "while it runs.")
    ran_on: str | None = Field(None, description="The worker that ran the last finished "
                               "attempt.")
    heartbeat_at: Instant | None = Field(None, description="Last lease renewal of a running "
                                         "stage.")


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
        "stages": [_stage("transcribe", 18.4, "faster-whisper-1.1.1", "09:20:12", "09:20:30"),
                   _stage("analyze", 0.02, "a7-3c9a0f12ab34", "09:20:30", "09:20:31"),
                   _stage("index", 0.01, "i3", "09:20:31", "09:20:31")],
        "redacted": False, "review_status": "unreviewed",
        "insight": {"primary_intent": "repayment_amount", "customer_sentiment": "neutral",
                    "outcome": "resolved", "summary": "Customer asked for the amount due.",
                    "risk": 3.0},
        "flags": [{"key": "recording_disclosure_missing@call", "rule_id":
                   "recording_disclosure_missing", "title": "No recording notice",
                   "severity": "medium", "start": None, "quote": None, "review": None,
                   "review_comment": None, "reviewer": None}],
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
    status: CallStatus
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
    speakers: int | None = Field(None, ge=1, le=MAX_SPEAKERS, description=(
        "Known number of speakers: mono diarization (and a stereo file processed as mono) "
        "uses it instead of deciding one or two itself."))


class Accepted(BaseModel):
    model_config = _examples({"call_id": "c-3f9a1c2e5b7d4e10", "status": "analyzing",
                              "message": "re-running from analyze"})
    call_id: str
    status: CallStatus
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
    status: CallStatus
    message: str


class PeakChannel(BaseModel):
    role: Literal["agent", "customer"] | None = Field(description="The channel's role on a "
                                                      "stereo call; null on a mono-processed "
                                                      "call (split by the utterances' roles).")
    peaks: list[int] = Field(description="Loudest sample per bin, 0..255 of full scale.")


class PeaksOut(BaseModel):
    model_config = _examples({"call_id": "c-3f9a1c2e5b7d4e10", "bin_s": 0.05, "duration": 3.2,
                              "redacted": False, "split": "channel",
                              "channels": [{"role": "agent", "peaks": [0, 12, 140]}]})
    call_id: str
    bin_s: float = Field(description="Seconds per bin.")
    duration: float
    redacted: bool = Field(description="Bins touching a PII span show the tone (managers).")
    split: Literal["channel", "speaker"] = Field(description="channel: one waveform per "
                                                 "channel; speaker: one envelope to split by "
                                                 "the transcript's speaker turns.")
    channels: list[PeakChannel]
    silence: list[tuple[float, float]] = Field(default_factory=list, description="Dead air "
                                               "(start, end) as the metrics count it.")
    overtalk: list[tuple[float, float]] = Field(default_factory=list, description="Both "
                                                "speakers at once (start, end).")
    hold: list[tuple[float, float]] = Field(default_factory=list, description="Hold "
                                            "stretches: silences the agent announced (a hold "
                                            "or a wait), from the analysis.")


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


class TrendPeriod(BaseModel):
    period: str = Field(description="Day, week start or month (YYYY-MM-DD, YYYY-MM) in "
                        "CALLQA_TIMEZONE.")
    team: str | None = Field(None, description="With by=team.")
    agent_id: str | None = Field(None, description="With by=agent_id.")
    language: str | None = Field(None, description="With by=language.")
    calls: int
    avg_sentiment: float | None = None
    violations_per_100: float


class TrendBucket(BaseModel):
    period: str
    value: str | None = Field(description="The intent, rule id, label, outcome or status.")
    team: str | None = None
    agent_id: str | None = None
    language: str | None = None
    count: int


class TrendsResponse(BaseModel):
    model_config = _examples({
        "metric": "violation", "interval": "week", "by": None,
        "periods": [{"period": "2026-10-26", "team": None, "agent_id": None, "language": None,
                     "calls": 14, "avg_sentiment": -0.12, "violations_per_100": 35.71}],
        "buckets": [{"period": "2026-10-26", "value": "threat_or_abuse", "team": None,
                     "agent_id": None, "language": None, "count": 3}],
        "totals": {"threat_or_abuse": 3}})
    metric: Literal["calls", "intent", "violation", "sentiment", "outcome", "review"]
    interval: Literal["day", "week", "month"]
    by: Literal["team", "agent_id", "language"] | None = None
    periods: list[TrendPeriod]
    buckets: list[TrendBucket] = Field(description="Counts per period and value (none for "
                                       "metric=calls).")
    totals: dict[str, int] = Field(description="Count per value over all periods, largest first.")


class RuleCount(BaseModel):
    rule_id: str
    calls: int


class ScorecardResponse(BaseModel):
    model_config = _examples({
        "agent_id": "A1042", "teams": ["collections-2"], "calls": 52, "violations": 21,
        "violations_per_100": 40.38, "critical_violations": 2, "avg_customer_sentiment": 0.05,
        "negative_share": 0.19, "dead_air_per_call_s": 3.4, "avg_duration_s": 211.0,
        "review_status": {"unreviewed": 12, "confirmed": 3},
        "top_rules": [{"rule_id": "threat_or_abuse", "calls": 9}], "weekly": None})
    agent_id: str
    teams: list[str]
    calls: int
    violations: int
    violations_per_100: float
    critical_violations: int
    avg_customer_sentiment: float
    negative_share: float
    dead_air_per_call_s: float
    avg_duration_s: float
    review_status: dict[str, int] = Field(description="Calls per review status.")
    top_rules: list[RuleCount]
    weekly: list[TrendPeriod] | None = Field(None, description="One agent's scorecard only: "
                                             "calls and violations per week.")


class ScorecardList(BaseModel):
    model_config = _examples({"items": [{
        "agent_id": "A1042", "teams": ["collections-2"], "calls": 52, "violations": 21,
        "violations_per_100": 40.38, "critical_violations": 2, "avg_customer_sentiment": 0.05,
        "negative_share": 0.19, "dead_air_per_call_s": 3.4, "avg_duration_s": 211.0,
        "review_status": {"unreviewed": 12}, "top_rules": [], "weekly": None}]})
    items: list[ScorecardResponse]


class CustomerCall(BaseModel):
    call_id: str
    started_at: str | None = None
    agent_id: str | None = None
    language: str | None = None
    primary_intent: str | None = None
    intents: list[str] = Field(default_factory=list)
    sentiment: str | None = None
    sentiment_score: float | None = None
    outcome: str | None = None
    flag_count: int = 0
    duration: float | None = None


class IntentMonth(BaseModel):
    month: str
    intent: str | None
    calls: int


class OpenNeed(BaseModel):
    intent: str
    since: str | None = None
    calls: int
    last_call_id: str
    last_outcome: str | None = None


class LastSentiment(BaseModel):
    label: str | None = None
    score: float | None = None
    call_id: str


class LatestSummary(BaseModel):
    call_id: str
    started_at: str | None = None
    summary: str | None = None
    outcome: str | None = None
    language: str | None = Field(None, description="The language the summary is in.")
    translated: bool = Field(False, description="True when the summary was rebuilt in the "
                             "requested language from the analysis (intents, outcome, "
                             "sentiment, flags): the call was in another language.")


class CustomerSummaryResponse(BaseModel):
    model_config = _examples({
        "customer_id": "C88213", "total_calls": 4, "limit": 50, "offset": 0, "next_offset": None,
        "calls": [{"call_id": "c-3f9a1c2e5b7d4e10", "started_at": "2026-11-03T09:14:00+00:00",
                   "agent_id": "A1042", "language": "en", "primary_intent": "repayment_amount",
                   "intents": ["repayment_amount"], "sentiment": "neutral",
                   "sentiment_score": 0.1, "outcome": "resolved", "flag_count": 0,
                   "duration": 184.2}],
        "first_call_at": "2026-09-12T10:02:00+00:00",
        "last_call_at": "2026-11-03T09:14:00+00:00",
        "intents_over_time": [{"month": "2026-11", "intent": "repayment_amount", "calls": 1}],
        "unresolved_needs": [{"intent": "hardship_extension",
                              "since": "2026-09-12T10:02:00+00:00", "calls": 2,
                              "last_call_id": "c-77aa", "last_outcome": "follow_up"}],
        "last_sentiment": {"label": "neutral", "score": 0.1, "call_id": "c-3f9a1c2e5b7d4e10"},
        "latest_summary": {"call_id": "c-3f9a1c2e5b7d4e10",
                           "started_at": "2026-11-03T09:14:00+00:00",
                           "summary": "Customer asked for the amount due.", "outcome": "resolved",
                           "language": "en", "translated": False},
        "flags": 3})
    customer_id: str
    total_calls: int
    limit: int = Field(description="Calls on this page at most.")
    offset: int
    next_offset: int | None = Field(None, description="offset= of the next page of calls; "
                                    "null on the last.")
    calls: list[CustomerCall] = Field(description="This page of the customer's calls, newest "
                                      "first.")
    first_call_at: str | None = None
    last_call_at: str | None = None
    intents_over_time: list[IntentMonth]
    unresolved_needs: list[OpenNeed] = Field(description="Over all the customer's calls.")
    last_sentiment: LastSentiment
    latest_summary: LatestSummary
    flags: int = Field(description="Flags over all the customer's calls.")


class Phrase(BaseModel):
    phrase: str
    calls: int = Field(description="Calls of the intent in which the customer says it.")
    share: float = Field(description="Share of the intent's calls.")
    score: float = Field(description="How much more often than in other calls.")


class PhraseList(BaseModel):
    model_config = _examples({"intent": "refund", "phrases": [
        {"phrase": "charged twice", "calls": 14, "share": 0.41, "score": 6.2}]})
    intent: str
    phrases: list[Phrase]


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


# The review queue (api/routes/queue.py)
QueueStatus = Literal["to_review", "in_review", "done"]


class QueueItem(BaseModel):
    call_id: str
    started_at: str | None = None
    agent_id: str | None = None
    team: str | None = None
    language: str | None = None
    primary_intent: str | None = None
    rule_ids: list[str] = Field(default_factory=list)
    max_severity: str | None = None
    risk: float = 0.0
    review_status: str | None = Field(None, description="From the flags' reviews (as search).")
    status: QueueStatus = Field(description="to_review, in_review or done: the reviewer's own "
                                "status, done once every flag is reviewed.")
    assignee: str | None = Field(None, description="The reviewer (key name), if assigned.")


class QueueResponse(BaseModel):
    model_config = _examples({"total": 1, "items": [{
        "call_id": "c-3f9a1c2e5b7d4e10", "started_at": "2026-11-03T09:14:00+00:00",
        "agent_id": "A1042", "team": "collections-2", "language": "en",
        "primary_intent": "repayment_amount", "rule_ids": ["threat_or_abuse"],
        "max_severity": "critical", "risk": 12.0, "review_status": "unreviewed",
        "status": "to_review", "assignee": "qa-lin"}]})
    total: int = Field(description="Queue items matching, before `size`.")
    items: list[QueueItem]


class AssignmentIn(BaseModel):
    model_config = _examples({"assignee": "qa-lin"}, {"assignee": None})
    assignee: str | None = Field(None, max_length=128,
                                 description="A reviewer's key name (qa or admin); null unassigns.")


class QueueStatusIn(BaseModel):
    model_config = _examples({"status": "in_review"})
    status: QueueStatus


class AssignmentOut(BaseModel):
    model_config = _examples({"call_id": "c-3f9a1c2e5b7d4e10", "assignee": "qa-lin",
                              "status": "in_review", "assigned_by": "admin (cqa_AbCdEfGh)"})
    call_id: str
    assignee: str | None = None
    status: QueueStatus
    assigned_by: str | None = None


class ReviewerList(BaseModel):
    model_config = _examples({"items": ["qa-lin", "qa-sam"]})
    items: list[str] = Field(description="Names of active qa and admin keys.")
