"""Calls: the filtered, paged list (GET /calls, `callqa calls`), processing status per
call and batch (`callqa status`), metadata changes before a re-run, deletion."""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, selectinload

from core.db import Call, StageRun
from core.pipeline import lease_alive
from core.schemas import CallStatus, to_utc
from core.status import STAGES, StageStatus
from core.storage import ObjectStore, load_outputs

STATUSES = tuple(s.value for s in CallStatus)
FINAL = (CallStatus.indexed, CallStatus.failed)


class InvalidCursor(ValueError):
    """A cursor this service did not hand out."""


@dataclass
class CallFilters:
    status: str | None = None
    agent_id: str | None = None
    team: str | None = None
    customer_id: str | None = None
    batch_id: str | None = None
    language: str | None = None
    date_from: datetime | None = None   # started_at on or after
    date_to: datetime | None = None     # started_at before
    updated_since: datetime | None = None

    def given(self) -> dict[str, Any]:
        """The filters set, JSON-ready (for the audit log)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {k: (v.isoformat() if isinstance(v, datetime) else v)
                for k, v in values.items() if v is not None}

    def conditions(self) -> list[Any]:
        conds: list[Any] = [column == value for column, value in (
            (Call.status, self.status), (Call.agent_id, self.agent_id), (Call.team, self.team),
            (Call.customer_id, self.customer_id), (Call.batch_id, self.batch_id),
            (Call.language, self.language)) if value is not None]
        if self.date_from is not None:
            conds.append(Call.started_at >= to_utc(self.date_from))
        if self.date_to is not None:
            conds.append(Call.started_at < to_utc(self.date_to))
        if self.updated_since is not None:
            conds.append(Call.updated_at >= to_utc(self.updated_since))
        return conds


@dataclass
class CallPage:
    calls: list[Call]
    total: int
    limit: int
    offset: int
    next_cursor: str | None


def encode_cursor(at: datetime, call_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([to_utc(at).isoformat(), call_id]).encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        at, call_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return to_utc(datetime.fromisoformat(at)), str(call_id)
    except (ValueError, TypeError) as exc:
        raise InvalidCursor("cursor: not a cursor this API gave out") from exc


def list_calls(db: Session, filters: CallFilters, limit: int = 50, offset: int = 0,
               cursor: str | None = None) -> CallPage:
    """Newest registered first; with `updated_since`, oldest change first, so an
    incremental pull resumes from its last item. A cursor (from `next_cursor`) replaces
    the offset."""
    conds = filters.conditions()
    total = db.scalar(select(func.count()).select_from(Call).where(*conds)) or 0
    ascending = filters.updated_since is not None
    sort_col = Call.updated_at if ascending else Call.created_at
    query = select(Call).where(*conds)
    if cursor:
        at, after_id = decode_cursor(cursor)
        query = query.where(or_(sort_col > at, and_(sort_col == at, Call.id > after_id))
                            if ascending else
                            or_(sort_col < at, and_(sort_col == at, Call.id > after_id)))
        offset = 0
    order = sort_col.asc() if ascending else sort_col.desc()
    rows = list(db.scalars(query.order_by(order, Call.id).limit(limit).offset(offset)))
    more = len(rows) == limit and (cursor is not None or offset + limit < total)
    last = rows[-1] if rows else None
    next_cursor = (encode_cursor(getattr(last, sort_col.key), last.id)
                   if more and last is not None else None)
    return CallPage(rows, total, limit, offset, next_cursor)


def call_with_outputs(db: Session, store: ObjectStore, call_id: str) -> tuple[Call, Any, Any]:
    """The call (detached) with its transcript and analysis (None where not made yet)."""
    call = db.get(Call, call_id)
    if call is None:
        raise LookupError(f"no call {call_id!r}")
    done = call.outputs()
    db.expunge(call)
    transcript, analysis = load_outputs(store, done)
    return call, transcript, analysis


def durations(db: Session, call_ids: list[str]) -> dict[str, float]:
    """Each call's audio seconds."""
    if not call_ids:
        return {}
    return {i: float(d) for i, d in db.execute(
        select(Call.id, Call.duration).where(Call.id.in_(call_ids)))}


def failed(db: Session, call_ids: list[str]) -> list[tuple[str, str | None]]:
    """(call id, error) of those calls that failed."""
    if not call_ids:
        return []
    return [(i, e) for i, e in db.execute(select(Call.id, Call.error).where(
        Call.id.in_(call_ids), Call.status == CallStatus.failed.value).order_by(Call.id))]


def apply_metadata(call: Call, channel_map: Sequence[str] | None = None,
                   language: str | None = None, speakers: int | None = None
                   ) -> dict[str, object]:
    """Set new metadata on a call before it is transcribed again; what changed.
    ValueError ("names 3 channels, the call has 2") when the map does not fit."""
    changed: dict[str, object] = {}
    if channel_map is not None:
        if len(channel_map) != call.channels:
            raise ValueError(f"names {len(channel_map)} channels, the call has "
                             f"{call.channels}")
        call.channel_map = changed["channel_map"] = [str(r) for r in channel_map]
    if language is not None:
        call.language = changed["language"] = language
    if speakers is not None:  # a known speaker count for the diarizer
        call.speakers = changed["speakers"] = speakers
    return changed


def pending_stages(call: Call, queue_deadline_s: float) -> dict[str, str]:
    """The call's stages that wait in the queue (queued less than `queue_deadline_s`
    ago: an older one has lost its message) or run under a live lease: stage -> status."""
    recent = datetime.now(UTC) - timedelta(seconds=queue_deadline_s)
    return {r.stage: r.status for r in call.stages
            if (r.status == StageStatus.queued and r.heartbeat_at is not None
                and to_utc(r.heartbeat_at) > recent)
            or (r.status == StageStatus.running and lease_alive(r))}


def delete_call(db: Session, store: ObjectStore, backend: Any, call: Call) -> None:
    """The row (stages and reviews with it), the index entry, the outputs and the audio."""
    call_id, audio_key = call.id, call.audio_key
    db.delete(call)
    db.flush()
    backend.delete(call_id)
    store.delete(store.output_key(call_id, ""))
    store.delete(audio_key)


# Processing status ------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return None if value is None else to_utc(value).isoformat()


def _ago(value: datetime | None) -> str:
    if value is None:
        return ""
    return f"{(datetime.now(UTC) - to_utc(value)).total_seconds():.0f} s ago"


def status_rows(db: Session, call_ids: list[str] | None = None, batch_id: str | None = None,
                limit: int = 200) -> list[dict[str, Any]]:
    """One row per call: status, the stage it is in, attempts, worker, per-stage seconds."""
    stmt = select(Call).options(selectinload(Call.stages)).order_by(Call.created_at, Call.id)
    if call_ids:
        stmt = stmt.where(Call.id.in_(call_ids))
    if batch_id:
        stmt = stmt.where(Call.batch_id == batch_id)
    rows = []
    for call in db.scalars(stmt.limit(limit)):
        current = next((s for s in call.stages
                        if s.status in (StageStatus.running, StageStatus.queued)), None)
        rows.append({
            "call_id": call.id, "batch_id": call.batch_id, "status": call.status,
            "duration_s": call.duration,
            "stage": current.stage if current else None,
            "stage_status": current.status if current else None,
            "worker": current.worker if current and current.status == StageStatus.running else None,
            "heartbeat": _ago(current.heartbeat_at) if current else "",
            "attempts": {s.stage: s.attempts for s in call.stages},
            "seconds": {s.stage: s.seconds for s in call.stages if s.seconds is not None},
            "stages": [{"stage": s.stage, "status": s.status, "attempts": s.attempts,
                        "seconds": s.seconds, "started_at": _iso(s.started_at),
                        "finished_at": _iso(s.finished_at),
                        "worker": s.worker if s.status == StageStatus.running else s.ran_on}
                       for s in call.stages],
            "error": call.error,
        })
    return rows


def status_counts(db: Session, batch_id: str | None = None,
                  call_ids: list[str] | None = None) -> Counter[str]:
    """Calls per status: all of them, one batch's, or these."""
    stmt = select(Call.status, func.count()).group_by(Call.status)
    if batch_id:
        stmt = stmt.where(Call.batch_id == batch_id)
    if call_ids:
        stmt = stmt.where(Call.id.in_(call_ids))
    return Counter({status: n for status, n in db.execute(stmt).all()})


def audio_progress(db: Session, batch_id: str | None = None,
                   call_ids: list[str] | None = None) -> tuple[float, float]:
    """(seconds of audio done, seconds in all) of these calls: a call counts whole once
    transcribed (or final), a running transcription as far as its worker last said."""
    stmt = (select(Call.duration, Call.status, StageRun.status, StageRun.progress_s)
            .outerjoin(StageRun, and_(StageRun.call_id == Call.id,
                                      StageRun.stage == STAGES[0])))
    if batch_id:
        stmt = stmt.where(Call.batch_id == batch_id)
    if call_ids:
        stmt = stmt.where(Call.id.in_(call_ids))
    done = total = 0.0
    for duration, call_status, stage_status, progress_s in db.execute(stmt).all():
        seconds = float(duration or 0.0)
        total += seconds
        if call_status in FINAL or stage_status == StageStatus.done:
            done += seconds
        elif stage_status == StageStatus.running and progress_s:
            done += min(seconds, float(progress_s))
    return done, total


def recent_batches(db: Session, limit: int = 10) -> list[dict[str, Any]]:
    """The newest ingest batches with their calls, audio minutes and counts per status."""
    batches = db.execute(
        select(Call.batch_id, func.min(Call.created_at).label("created"),
               func.count().label("calls"), func.sum(Call.duration).label("audio_s"))
        .where(Call.batch_id.is_not(None)).group_by(Call.batch_id)
        .order_by(func.min(Call.created_at).desc()).limit(limit)).all()
    result = []
    for b in batches:
        counts = status_counts(db, b.batch_id)
        result.append({"batch_id": b.batch_id, "created": str(b.created), "calls": b.calls,
                       "audio_minutes": round((b.audio_s or 0) / 60, 1),
                       **{s: counts.get(s, 0) for s in STATUSES}})
    return result
