"""Import transcripts made elsewhere (telephony platform, another ASR vendor): validate the
documented JSON (docs/transcripts.md), register a call without audio, store the transcript
as its transcribe stage's output, then analyse and index it like a recorded call.

The imported file itself is kept as the call's original (under its sha256, like audio), so
the same file twice is a duplicate, and deleting the call removes it. Such a call has no
audio to play: `container` is `transcript` (see `has_audio`).
"""

from __future__ import annotations

import json
import logging
import re
from json.decoder import scanstring  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import delete

from core.db import Call, StageRun, session_scope, utcnow
from core.schemas import CallMetadata, Transcript, Utterance, Word
from core.settings import Settings
from core.status import StageStatus
from core.storage import ObjectStore, sha256_file

log = logging.getLogger("callqa.ingest")

TRANSCRIPT_CONTAINER = "transcript"  # Call.container of an imported transcript (no audio)
FORMAT = "callqa.transcript/1"
LANGUAGES = ("en", "zh")


class TranscriptFileError(ValueError):
    """A transcript file that cannot be imported; the message names file:line and field."""


# The documented format ---------------------------------------------------------------------


class WordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: float = Field(ge=0)
    end: float = Field(ge=0)
    text: str
    probability: float = Field(1.0, ge=0, le=1)


class UtteranceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    speaker: str | None = Field(None, min_length=1, max_length=64,
                                description="Speaker label; default the role.")
    role: Literal["agent", "customer", "unknown"] | None = Field(
        None, description="Who speaks; decided from the content when no utterance has one.")
    start: float = Field(ge=0, description="Seconds from the start of the call.")
    end: float = Field(ge=0)
    text: str = Field(min_length=1)
    confidence: float = Field(1.0, ge=0, le=1)
    channel: int | None = Field(None, ge=0, le=1)
    language: Literal["en", "zh"] | None = None
    words: list[WordIn] = Field(default_factory=list)

    @model_validator(mode="after")
    def _ordered(self) -> UtteranceIn:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        if self.speaker is None and self.role is None:
            raise ValueError("needs a speaker or a role")
        return self


class TranscriptIn(BaseModel):
    """An imported transcript: call metadata and utterances in time order."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "format": FORMAT, "source": "genesys-export",
        "metadata": {"call_id": "T-2026-0001", "agent_id": "A1042", "customer_id": "C88213",
                     "started_at": "2026-11-03T09:14:00+08:00", "direction": "inbound",
                     "language": "zh"},
        "utterances": [
            {"speaker": "A", "role": "agent", "start": 0.4, "end": 3.1,
             "text": "您好，这里是信用卡中心，本次通话将被录音。"},
            {"speaker": "B", "role": "customer", "start": 3.5, "end": 6.0,
             "text": "你好，我想问一下这个月要还多少钱。"}]}]})
    format: Literal["callqa.transcript/1"] = "callqa.transcript/1"
    source: str | None = Field(None, max_length=64, description="Who made the transcript, "
                               "e.g. the vendor; recorded as the engine.")
    metadata: CallMetadata = Field(default_factory=CallMetadata)
    duration: float | None = Field(None, gt=0, description="Seconds; default the last end.")
    utterances: list[UtteranceIn] = Field(min_length=1)


# Errors with file:line -----------------------------------------------------------------------

_WS = re.compile(r"[ \t\n\r]*")
_SCALAR = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null")


def value_offsets(text: str) -> dict[tuple[str | int, ...], int]:
    """Where each value of a (valid) JSON document starts, by its path: what lets a
    validation error name the line."""
    found: dict[tuple[str | int, ...], int] = {}

    def ws(i: int) -> int:
        m = _WS.match(text, i)
        return m.end() if m else i

    def value(i: int, path: tuple[str | int, ...]) -> int:
        i = ws(i)
        found[path] = i
        c = text[i]
        if c in "{[":
            close, n = ("}" if c == "{" else "]"), 0
            i = ws(i + 1)
            if text[i] == close:
                return i + 1
            while True:
                key: str | int = n
                if c == "{":
                    key, i = scanstring(text, i + 1)
                    i = ws(i) + 1  # the colon
                i = ws(value(i, (*path, key)))
                n += 1
                if text[i] == close:
                    return i + 1
                i = ws(i + 1)  # the comma
        if c == '"':
            return int(scanstring(text, i + 1)[1])
        m = _SCALAR.match(text, i)
        return m.end() if m else i + 1

    value(0, ())
    return found


def _line(text: str, offsets: dict[tuple[str | int, ...], int], loc: tuple[Any, ...]) -> int:
    path = tuple(loc)
    while path and path not in offsets:  # a missing field: the object that lacks it
        path = path[:-1]
    return text.count("\n", 0, offsets.get(path, 0)) + 1


def _field_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def parse_transcript(text: str, name: str) -> TranscriptIn:
    """Validate the text of a transcript file; errors name `name:line: field.path: problem`."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TranscriptFileError(f"{name}:{exc.lineno}:{exc.colno}: not valid JSON: "
                                  f"{exc.msg}") from exc
    if not isinstance(raw, dict):
        raise TranscriptFileError(f"{name}:1: expected a JSON object with 'utterances'")
    try:
        return TranscriptIn.model_validate(raw)
    except ValidationError as exc:
        offsets = value_offsets(text.lstrip("\ufeff"))
        problems = [f"{name}:{_line(text, offsets, tuple(e['loc']))}: "
                    f"{_field_path(tuple(e['loc']))}: {e['msg']}" for e in exc.errors()[:20]]
        raise TranscriptFileError("\n".join(problems)) from exc


def read_transcript_file(path: Path) -> TranscriptIn:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise TranscriptFileError(f"{path.name}:1: not UTF-8 or GB18030 text")
    return parse_transcript(text, path.name)


# To the domain Transcript --------------------------------------------------------------------

_CJK = re.compile(r"[\u3400-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]+")


def detect_language(texts: list[str]) -> str:
    """zh when CJK characters outnumber Latin words, else en."""
    joined = " ".join(texts)
    return "zh" if len(_CJK.findall(joined)) > len(_LATIN.findall(joined)) else "en"


def to_transcript(doc: TranscriptIn, call_id: str, default_language: str | None = None
                  ) -> Transcript:
    utts = sorted(doc.utterances, key=lambda u: (u.start, u.end))
    langs = [u.language for u in utts if u.language]
    language = (doc.metadata.language or (max(set(langs), key=langs.count) if langs else None)
                or detect_language([u.text for u in utts]) or default_language or "en")
    speakers = [u.speaker or u.role or "unknown" for u in utts]
    roles: dict[str, str] = {}
    role_source: Literal["channel_map", "content", "none"] = "channel_map"
    confidence = 1.0
    for u, speaker in zip(utts, speakers, strict=True):
        if u.role is not None:
            roles.setdefault(speaker, u.role)
        elif u.channel is not None and u.channel < len(doc.metadata.channel_map or []):
            roles.setdefault(speaker, (doc.metadata.channel_map or [])[u.channel])
    if not roles:
        # Why: many exports label speakers (A/B, spk_0) without saying who is the agent.
        from transcribe.roles import assign_roles

        decision = assign_roles([(s, u.text) for s, u in zip(speakers, utts, strict=True)],
                                language)
        roles, role_source, confidence = dict(decision.roles), "content", decision.confidence
    utterances = [Utterance(
        speaker=speaker, role=roles.get(speaker, u.role or "unknown"),
        start=u.start, end=u.end, text=u.text.strip(), confidence=u.confidence,
        channel=u.channel,
        words=[Word(start=w.start, end=w.end, text=w.text, probability=w.probability)
               for w in u.words]) for u, speaker in zip(utts, speakers, strict=True)]
    duration = doc.duration or max(u.end for u in utts)
    return Transcript(call_id=call_id, language=language, duration=round(duration, 3),
                      utterances=utterances, engine="import", model=doc.source or "external",
                      version=doc.format, diarization="none", role_source=role_source,
                      role_confidence=confidence)


# Registering ---------------------------------------------------------------------------------


def has_audio(call: Call) -> bool:
    return call.container != TRANSCRIPT_CONTAINER


def _named(result: Any, name: str) -> Any:
    """A clash answer worded for a transcript under the name it was given."""
    if result.message:
        result.message = result.message.replace(result.path.name, name).replace(
            "same audio", "same transcript").replace("different recording", "different call")
    return result


def is_transcript_file(path: Path) -> bool:
    return path.suffix.lower() == ".json"


def register_transcript(path: Path, settings: Settings, store: ObjectStore,
                        batch_id: str | None = None, source_name: str | None = None,
                        queue: bool = False) -> Any:
    """Validate one transcript file and register it as a call whose transcribe stage is
    done (its output the converted transcript). Nothing is stored on refusal. Returns an
    `ingest.service.IngestResult`; the caller queues analysis (`enqueue(.., "analyze")`).
    `queue`: analysis is about to be queued: its stage row is written with the call, so a
    run that crashes before queueing leaves a row the reaper re-sends.

    As for audio (`ingest.service.register_file`), the row goes in first and the files
    after it: a lost race answers duplicate or call_id_taken and never deletes a stored
    original that the winner's row points to."""
    from sqlalchemy.exc import IntegrityError

    from ingest.service import IngestResult, _clash

    name = source_name or path.name
    try:
        if path.stat().st_size > settings.max_upload_bytes:
            raise TranscriptFileError(f"{name}: {path.stat().st_size} bytes is over the "
                                      f"{settings.max_upload_bytes} byte limit")
        doc = read_transcript_file(path)
    except TranscriptFileError as exc:
        message = str(exc).replace(path.name, name) if source_name else str(exc)
        return IngestResult(path, "refused", reason="bad_transcript", message=message)
    meta = doc.metadata
    if meta.started_at is not None:
        from datetime import UTC

        started = meta.started_at
        meta.started_at = (started.replace(tzinfo=UTC) if started.tzinfo is None
                           else started.astimezone(UTC))
    digest = sha256_file(path)
    call_id = meta.call_id or f"t-{digest[:16]}"
    transcript = to_transcript(doc, call_id, meta.language or settings.language)
    key = store.original_key(digest, ".json")
    out_key = store.output_key(call_id, "transcript.json")
    now = utcnow()
    stages = [StageRun(stage="transcribe", status=StageStatus.done, attempts=1, seconds=0.0,
                       output_key=out_key, version=f"import-{doc.format}",
                       started_at=now, finished_at=now)]
    if queue:
        stages.append(StageRun(stage="analyze", status=StageStatus.queued, attempts=0,
                               heartbeat_at=now))
    try:
        with session_scope() as db:
            clash = _clash(db, path, digest, call_id)
            if clash is not None:
                return _named(clash, name)
            call = Call(
                id=call_id, sha256=digest, source_name=name[:512], audio_key=key,
                duration=transcript.duration, channels=0, sample_rate=0, codec="none",
                container=TRANSCRIPT_CONTAINER, agent_id=meta.agent_id, team=meta.team,
                customer_id=meta.customer_id, started_at=meta.started_at,
                direction=meta.direction, channel_map=meta.channel_map,
                language=transcript.language, batch_id=batch_id, stages=stages)
            call.sync_status()
            db.add(call)
            db.flush()
    except IntegrityError:
        with session_scope() as db:
            clash = _clash(db, path, digest, call_id)
        if clash is not None:
            return _named(clash, name)
        raise
    try:
        store.put_original(path, digest)  # content-addressed: a second copy is a no-op
        store.put_json(out_key, transcript.model_dump(mode="json"))
    except BaseException:
        with session_scope() as db:  # no row may point at files that are not there
            db.execute(delete(Call).where(Call.id == call_id, Call.sha256 == digest))
        raise
    log.info("transcript imported", extra={"call_id": call_id, "file": name,
                                           "utterances": len(transcript.utterances),
                                           "language": transcript.language})
    return IngestResult(path, "accepted", call_id=call_id)
