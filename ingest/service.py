"""Accept recordings: probe, validate, dedupe, store, register, enqueue."""

from __future__ import annotations

import glob
import logging
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.db import Call, StageRun, session_scope, utcnow
from core.schemas import CallMetadata
from core.settings import Settings, get_settings
from core.status import STAGES, StageStatus
from core.storage import ObjectStore, sha256_file
from ingest.metadata import MetadataError, resolve_metadata
from ingest.probe import AudioRejected, ProbeResult, probe
from ingest.transcripts import is_transcript_file, register_transcript

log = logging.getLogger("callqa.ingest")

AUDIO_SUFFIXES = {".wav", ".mp3", ".m4a", ".aac", ".flac", ".ogg", ".opus", ".amr", ".wma",
                  ".webm", ".mp4", ".au", ".gsm"}

Outcome = Literal["accepted", "duplicate", "refused"]


@dataclass
class IngestResult:
    path: Path
    outcome: Outcome
    call_id: str | None = None
    reason: str | None = None
    message: str | None = None


@dataclass
class IngestSummary:
    results: list[IngestResult] = field(default_factory=list)
    batch_id: str | None = None  # Call.batch_id of the calls this run registered

    def of(self, outcome: Outcome) -> list[IngestResult]:
        return [r for r in self.results if r.outcome == outcome]

    @property
    def accepted(self) -> list[IngestResult]:
        return self.of("accepted")


def expand_paths(inputs: Iterable[str | Path]) -> list[Path]:
    """Files as given (probed whatever their suffix); folders (recursively) and globs
    yield the files with an audio suffix."""
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*")
                            if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
        elif any(ch in str(item) for ch in "*?["):
            # A glob over a folder of calls also matches their sidecars: audio only, unless
            # the glob itself asks for .json (transcripts to import).
            wanted = {".json"} if str(item).lower().endswith(".json") else AUDIO_SUFFIXES
            found += sorted(Path(p) for p in glob.glob(str(item), recursive=True)
                            if Path(p).is_file() and Path(p).suffix.lower() in wanted)
        else:
            found.append(path)
    unique: dict[Path, None] = {}
    for p in found:
        unique.setdefault(p.resolve(), None)
    return list(unique)


SPEECH_CONTRAST_DB = 15.0  # speech stands this far out of a line's floor; hiss does not


def _check_limits(path: Path, info: ProbeResult, settings: Settings) -> None:
    if info.duration > settings.max_duration_s:
        raise AudioRejected("too_long", f"{path.name}: {info.duration:.0f} s is longer than the "
                            f"{settings.max_duration_s:.0f} s limit (CALLQA_MAX_DURATION_S)")
    if info.duration < settings.min_duration_s:
        raise AudioRejected("too_short", f"{path.name}: {info.duration:.2f} s is shorter than "
                            f"{settings.min_duration_s:.2f} s (CALLQA_MIN_DURATION_S)")
    # Quiet speech is not silence: a clip at -30 dB transcribes as well as the original
    # once its gain is normalised. Refused only where nothing stands out of the floor.
    contrast = info.loudest_window_dbfs - info.floor_dbfs
    if info.loudest_window_dbfs < -90 or (info.loudest_window_dbfs < settings.silence_dbfs
                                          and contrast < SPEECH_CONTRAST_DB):
        raise AudioRejected("silent", (
            f"{path.name}: no detectable speech: the loudest 100 ms is at "
            f"{info.loudest_window_dbfs:.0f} dBFS, {min(contrast, 999):.0f} dB above the "
            f"recording's floor ({info.floor_dbfs:.0f} dBFS); speech needs at least "
            f"{SPEECH_CONTRAST_DB:.0f} dB above the floor, or a level above "
            f"{settings.silence_dbfs:.0f} dBFS"))
    if info.channels > 2:
        raise AudioRejected("unsupported", f"{path.name}: {info.channels} channels; calls are "
                            "mono or stereo")


def _channel_map(meta: CallMetadata, info: ProbeResult, settings: Settings) -> list[str] | None:
    if meta.channel_map is not None:
        if len(meta.channel_map) != info.channels:
            raise MetadataError(f"channel_map names {len(meta.channel_map)} channels, the file "
                                f"has {info.channels}")
        return list(meta.channel_map)
    if info.channels == 2:
        return settings.default_channel_map
    return None


def new_batch_id() -> str:
    return f"b-{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


def _clash(db: Session, path: Path, digest: str, call_id: str) -> IngestResult | None:
    """The answer when the audio or the id is registered already: the same audio is a
    duplicate (whatever its id), another recording under this id is call_id_taken."""
    taken = db.get(Call, call_id)
    # By id first, then by hash: the winner of a race may commit between the two reads.
    existing = taken if taken is not None and taken.sha256 == digest else db.scalar(
        select(Call).where(Call.sha256 == digest))
    if existing is not None:
        return IngestResult(path, "duplicate", call_id=existing.id,
                            message=f"{path.name}: same audio as call {existing.id}")
    if taken is not None:
        return IngestResult(path, "refused", reason="call_id_taken", message=(
            f"{path.name}: call id {call_id} is already used by a different recording"))
    return None


def shown_name(name: str) -> str:
    """A file name as stored and shown, never trusted: no control characters (PostgreSQL
    refuses NUL), no folders, at most 512 characters."""
    return re.sub(r"[\x00-\x1f\x7f]", "_", Path(name).name)[:512]


def register_file(path: Path, settings: Settings, store: ObjectStore, manifest: Path | None = None,
                  pattern: str | None = None, batch_id: str | None = None,
                  queue: bool = False, metadata: CallMetadata | None = None,
                  source_name: str | None = None) -> IngestResult:
    """Validate one file and register it as a queued call. Nothing is stored on refusal.

    `metadata`: the call's metadata as given (an upload's form); without it, it is read
    from the sidecar, the manifest or the file-name pattern. `source_name`: the name the
    recording came under (default: the file's). `batch_id`: Call.batch_id.
    `queue`: its transcription is about to be queued: the stage row is written with the
    call, so a batch that crashes before queueing leaves rows the reaper re-sends."""
    try:
        if path.is_file() and path.stat().st_size > settings.max_upload_bytes:
            raise AudioRejected("too_large", f"{path.name}: {path.stat().st_size} bytes is over "
                                f"the {settings.max_upload_bytes} byte limit")
        info = probe(path, max_duration_s=settings.max_duration_s)
        _check_limits(path, info, settings)
        meta = metadata if metadata is not None else resolve_metadata(
            path, manifest, pattern or settings.filename_pattern)
        channel_map = _channel_map(meta, info, settings)
    except AudioRejected as exc:
        return IngestResult(path, "refused", reason=exc.reason, message=str(exc))
    except MetadataError as exc:
        return IngestResult(path, "refused", reason="bad_metadata", message=f"{path.name}: {exc}")

    # started_at is in UTC by now (CallMetadata): SQLite keeps no offset, and trends by
    # day need one clock.
    digest = sha256_file(path)
    call_id = meta.call_id or f"c-{digest[:16]}"
    key = store.original_key(digest, path.suffix)
    # The row goes in (and commits) before the original is written, and a refused or lost
    # insert never touches the store: with the same file posted 20 times at once, a
    # loser's cleanup used to delete the original the winner's row points to. The unique
    # sha256 and primary key decide the race; a loser reads the winner's row and answers
    # as if it had come second.
    try:
        with session_scope() as db:
            clash = _clash(db, path, digest, call_id)
            if clash is not None:
                return clash
            call = Call(
                id=call_id, sha256=digest, source_name=shown_name(source_name or path.name),
                audio_key=key,
                duration=info.duration, channels=info.channels, sample_rate=info.sample_rate,
                codec=info.codec, container=info.container, agent_id=meta.agent_id,
                team=meta.team, customer_id=meta.customer_id, started_at=meta.started_at,
                direction=meta.direction, channel_map=channel_map,
                language=meta.language or settings.language, speakers=meta.speakers,
                batch_id=batch_id, stages=[StageRun(stage=STAGES[0], status=StageStatus.queued, attempts=0,
                                 heartbeat_at=utcnow())] if queue else [],
            )
            call.sync_status()
            db.add(call)
            db.flush()
    except IntegrityError:
        with session_scope() as db:
            clash = _clash(db, path, digest, call_id)
        if clash is not None:
            return clash
        raise
    try:
        store.put_original(path, digest)  # content-addressed: a second copy is a no-op
    except BaseException:
        with session_scope() as db:  # no row may point at an original that is not there
            db.execute(delete(Call).where(Call.id == call_id, Call.sha256 == digest))
        raise
    log.info("call registered", extra={"call_id": call_id, "file": path.name,
                                       "duration": info.duration, "channels": info.channels})
    return IngestResult(path, "accepted", call_id=call_id)


ProgressHook = Callable[[str, int, int, str], None]


def _process_hook(progress: ProgressHook | None, offset: int, total: int
                  ) -> Callable[[int, str], None] | None:
    if progress is None:
        return None
    return lambda n, call_id: progress("process", offset + n, total, call_id)


def ingest_paths(
    inputs: Iterable[str | Path],
    manifest: Path | None = None,
    pattern: str | None = None,
    process: bool = True,
    progress: ProgressHook | None = None,
    settings: Settings | None = None,
    batch_id: str | None = None,
) -> IngestSummary:
    """Register every file, then queue each accepted call (run now when there is no broker).

    `progress(phase, done, total, name)` is called after each file in each phase.
    """
    settings = settings or get_settings()
    store = ObjectStore(settings.objects_dir)
    files = expand_paths(inputs)
    summary = IngestSummary(batch_id=batch_id or new_batch_id())
    for n, path in enumerate(files, 1):
        if is_transcript_file(path):  # imported transcripts: their calls start at analysis
            summary.results.append(register_transcript(path, settings, store, summary.batch_id,
                                                       queue=process))
        else:
            summary.results.append(register_file(path, settings, store, manifest, pattern,
                                                 summary.batch_id, queue=process))
        if progress:
            progress("register", n, len(files), path.name)
    if process:
        process_registered(summary, progress)
    return summary


def process_registered(summary: IngestSummary, progress: ProgressHook | None = None) -> None:
    """Queue the accepted calls of a run (with a broker, transcription in batches of calls;
    without, run now); imported transcripts start at analysis."""
    from core.pipeline import enqueue_batch

    ids = [r.call_id for r in summary.accepted if r.call_id is not None]
    imported = {r.call_id for r in summary.accepted if is_transcript_file(r.path)}
    offset = 0
    for group, stage in (([i for i in ids if i not in imported], "transcribe"),
                         ([i for i in ids if i in imported], "analyze")):
        if group:
            enqueue_batch(group, stage, progress=_process_hook(progress, offset, len(ids)))
            offset += len(group)
