"""Domain schemas shared by every stage, stored as JSON in the object store."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from core.status import CallStatus as CallStatus  # re-exported: defined once, in core.status

Role = Literal["agent", "customer", "unknown"]
# Roles a customer-side reading counts: an unattributed speaker may be the customer.
CUSTOMER_ROLES: tuple[Role, ...] = ("customer", "unknown")
ROLES: tuple[str, ...] = ("agent", "customer")


# One id pattern and one set of field limits for every way in (API form, sidecar JSON,
# CSV manifest, file-name pattern): an id is a single path segment, never "../x" or "a/b".
CALL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
FIELD_MAX = 128
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


class DateOutOfRange(ValueError):
    """A date that cannot be stored or compared in UTC (year 1 with an offset, 9999...)."""


def to_utc(value: datetime) -> datetime:
    """The instant in UTC (naive means UTC); DateOutOfRange outside 1900-2199, where
    `0001-01-01T00:00:00+01:00` cannot even be converted."""
    try:
        moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError as exc:
        raise DateOutOfRange(f"{value.isoformat()} is out of range") from exc
    if not EARLIEST <= moment < LATEST:
        raise DateOutOfRange(f"{value.isoformat()} is outside the years 1900 to 2199")
    return moment


# One bound for a known speaker count: sidecar and manifest, upload form, reprocess.
MAX_SPEAKERS = 8


class CallMetadata(BaseModel):
    """What the switch or the CRM knows about a call before anyone listens to it."""

    call_id: str | None = Field(None, pattern=CALL_ID_PATTERN)
    agent_id: str | None = Field(None, max_length=FIELD_MAX)
    team: str | None = Field(None, max_length=FIELD_MAX)
    customer_id: str | None = Field(None, max_length=FIELD_MAX)
    started_at: datetime | None = None
    direction: Literal["inbound", "outbound"] | None = None
    channel_map: list[Role] | None = Field(
        None, description="Role of each channel in order, e.g. ['agent', 'customer']."
    )
    language: str | None = Field(None, max_length=16, description="Language hint: en or zh.")
    speakers: int | None = Field(None, ge=1, le=MAX_SPEAKERS, description=(
        "Known number of speakers (mono diarization; 1 for a voicemail or IVR prompt)."))

    @field_validator("agent_id", "team", "customer_id", "language")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        # PostgreSQL refuses NUL in text (a 500 after the call was half registered).
        if value is not None and any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise ValueError("control characters (NUL, newline, ...) are not allowed")
        return value

    @field_validator("started_at")
    @classmethod
    def _in_range(cls, value: datetime | None) -> datetime | None:
        return None if value is None else to_utc(value)


class Word(BaseModel):
    start: float
    end: float
    text: str
    probability: float = 1.0


class Utterance(BaseModel):
    speaker: str
    role: Role
    start: float
    end: float
    text: str
    confidence: float = 1.0
    channel: int | None = None
    words: list[Word] = Field(default_factory=list)
    language: str | None = Field(None, description="Language this utterance was recognised in.")


class SpeakerTurn(BaseModel):
    """A stretch of one speaker's speech: what diarization decided, before words."""

    speaker: str
    role: Role
    start: float
    end: float


class Transcript(BaseModel):
    call_id: str
    language: str
    duration: float
    utterances: list[Utterance]
    engine: str
    model: str
    version: str
    diarization: str = Field(description="channel, builtin, pyannote or none")
    speaker_turns: list[SpeakerTurn] = Field(default_factory=list)
    role_source: Literal["channel_map", "content", "none"] = "none"
    role_confidence: float = 1.0
    layout: str | None = Field(None, description=(
        "What the file held: stereo, mono, identical_legs or silent_leg (the last two "
        "processed as mono with diarization)."))
    notes: list[str] = Field(default_factory=list, description=(
        "Decisions taken on the audio, in words (identical legs, gain)."))
    stage_seconds: dict[str, float] = Field(default_factory=dict)

    def language_of(self, utterance: Utterance) -> str:
        """The language an utterance was spoken in: its own where recognition recorded
        one (a call that changes language), else the call's."""
        return utterance.language or self.language

    def pack_of(self, utterance: Utterance) -> str:
        """The language pack (rules, cues, sentiment models) for an utterance: zh or en."""
        return "zh" if self.language_of(utterance).lower().startswith("zh") else "en"

    def languages(self) -> list[str]:
        """Every language spoken in the call, the call's own first."""
        others = {u.language for u in self.utterances if u.language} - {self.language}
        return [self.language, *sorted(x for x in others if x)]


class EvidenceContext(BaseModel):
    """The other party's turn a `reply_to` match answers (a customer doubting approval)."""

    utterance: int = Field(description="Index into transcript.utterances.")
    start: float
    end: float
    quote: str
    speaker_role: Role | None = None
    matched: str = Field(description="The rule's `reply_to` cue the quote is close to.")
    score: float = Field(description="How close (cosine for English, 0-1).")


class Evidence(BaseModel):
    utterance: int | None = Field(None, description="Index into transcript.utterances.")
    start: float
    end: float
    quote: str
    speaker_role: Role | None = None
    matched: str | None = Field(None, description="The rule example the quote is close to.")
    score: float | None = Field(None, description="How close (cosine for English, 0-1), or the "
                                "rule classifier's probability when matched_by is classifier.")
    matched_by: Literal["classifier", "reply"] | None = Field(
        None, description="classifier: the rule's classifier matched the quote (`matched` is "
        "the example nearest to it); reply: the quote is close to `matched`, one of the rule's "
        "`reply_to` replies, and answers `context`; none: a phrase, a regex or closeness to "
        "`matched`.")
    context: EvidenceContext | None = Field(
        None, description="matched_by reply: the other party's turn the quote answers, with "
        "the `reply_to` cue it is close to (`matched`) and how close (`score`).")


Severity = Literal["low", "medium", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high", "critical")  # least severe first
# Order: "this severe or worse" filters and a call's worst flag.
SEVERITY_RANK: dict[str, int] = {s: i + 1 for i, s in enumerate(SEVERITIES)}
# Weight in a call's risk score (the order QA reviews in): a critical flag outweighs three low.
SEVERITY_WEIGHT: dict[Severity, int] = {"low": 1, "medium": 3, "high": 6, "critical": 10}


def worst_severity(severities: Iterable[Severity]) -> Severity | None:
    ranked = sorted(severities, key=SEVERITY_RANK.__getitem__)
    return ranked[-1] if ranked else None


class Flag(BaseModel):
    rule_id: str
    rule_version: int
    title: str
    severity: Severity
    evidence: list[Evidence]

    @property
    def key(self) -> str:
        """Stable across re-analysis of the same transcript: reviews are keyed by it."""
        first = self.evidence[0].utterance if self.evidence else None
        return f"{self.rule_id}@{'call' if first is None else first}"


class IntentHit(BaseModel):
    intent: str
    score: float
    evidence: list[Evidence] = Field(default_factory=list)


class PiiHit(BaseModel):
    """Personal data in an utterance: where in the text, and where in the audio to bleep."""

    utterance: int
    kind: Literal["id_card", "bank_card", "phone", "email", "name"]
    char_start: int
    char_end: int
    start: float
    end: float


class Analysis(BaseModel):
    call_id: str
    language: str
    version: str
    rules_version: str
    flags: list[Flag]
    primary_intent: str | None
    intents: list[IntentHit]
    customer_sentiment: Literal["negative", "neutral", "positive"]
    sentiment_score: float
    metrics: dict[str, float]
    summary: str
    outcome: Literal["resolved", "follow_up", "unresolved"] | None = None
    utterance_sentiment: list[float] = Field(
        default_factory=list, description="-1..1 per transcript utterance.")
    speaker_sentiment: dict[str, float] = Field(
        default_factory=dict, description="Mean utterance sentiment per role.")
    pii: list[PiiHit] = Field(default_factory=list)
    redacted_utterances: list[str] = Field(
        default_factory=list, description="Utterance texts with personal data masked.")
    holds: list[tuple[float, float]] = Field(
        default_factory=list, description="Hold stretches: silences the agent announced (a "
                                          "hold or a wait), (start, end) seconds.")
