"""Domain schemas shared by every stage, stored as JSON in the object store."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

Role = Literal["agent", "customer", "unknown"]
ROLES: tuple[str, ...] = ("agent", "customer")


class CallStatus(StrEnum):
    queued = "queued"
    transcribing = "transcribing"
    analyzing = "analyzing"
    indexing = "indexing"
    indexed = "indexed"
    failed = "failed"


class CallMetadata(BaseModel):
    """What the switch or the CRM knows about a call before anyone listens to it."""

    call_id: str | None = None
    agent_id: str | None = None
    team: str | None = None
    customer_id: str | None = None
    started_at: datetime | None = None
    direction: Literal["inbound", "outbound"] | None = None
    channel_map: list[Role] | None = Field(
        None, description="Role of each channel in order, e.g. ['agent', 'customer']."
    )
    language: str | None = Field(None, description="Language hint: en or zh.")


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


class Evidence(BaseModel):
    utterance: int | None = Field(None, description="Index into transcript.utterances.")
    start: float
    end: float
    quote: str
    speaker_role: Role | None = None


class Flag(BaseModel):
    rule_id: str
    rule_version: int
    title: str
    severity: Literal["low", "medium", "high", "critical"]
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
