"""The reaper: every worker process sweeps for stages a dead worker left behind.

- `running` under a lease nobody renewed for CALLQA_STAGE_LEASE_S: queued again.
- `done` with its worker still set (the hand-over marker) and an old heartbeat: the worker
  died before queueing the next stage; the reaper queues it.
- `queued` for longer than CALLQA_STAGE_QUEUE_DEADLINE_S without a claim: its message was
  lost (Redis restarted empty, a worker killed holding it); published again.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta
from typing import Any

from celery.signals import worker_ready
from sqlalchemy import func, select, update

from core.db import Call, StageRun, session_scope, utcnow
from core.pipeline.enqueue import mark_queued, publish
from core.pipeline.errors import error_text
from core.pipeline.leases import handed_over
from core.settings import get_settings
from core.status import STAGES, StageStatus, next_stage

log = logging.getLogger("callqa.pipeline")


def reap_stale() -> list[tuple[str, str]]:
    """Re-queue stages still `running` under a lease nobody renewed for CALLQA_STAGE_LEASE_S.

    The task is published before the row is marked queued: a crash in between leaves
    the row stale for the next sweep (and a duplicate message is dropped on claim)."""
    settings = get_settings()
    cutoff = utcnow() - timedelta(seconds=settings.stage_lease_s)
    with session_scope() as db:
        stale = db.execute(select(StageRun.id, StageRun.call_id, StageRun.stage,
                                  StageRun.worker, StageRun.attempts)
                           .where(StageRun.status == StageStatus.running,
                                  func.coalesce(StageRun.heartbeat_at, StageRun.started_at)
                                  < cutoff)).all()
        stranded = db.execute(select(StageRun.call_id, StageRun.stage, StageRun.worker)
                              .where(StageRun.status == StageStatus.done,
                                     StageRun.worker.is_not(None),
                                     StageRun.heartbeat_at < cutoff)).all()
    for done in stranded:  # done, but its worker died before queueing the next stage
        nxt = next_stage(done.stage) if done.stage in STAGES else None
        if nxt is not None:
            mark_queued([done.call_id], nxt)
            publish(nxt, [done.call_id])
        handed_over(done.call_id, done.stage, done.worker)
        log.warning("next stage queued for a dead worker", extra={
            "call_id": done.call_id, "stage": done.stage, "worker": done.worker})
    reaped: list[tuple[str, str]] = []
    reaped += _resend_lost(db_cutoff=utcnow() - timedelta(seconds=settings.stage_queue_deadline_s))
    for row in stale:
        publish(row.stage, [row.call_id])
        with session_scope() as db:
            won = db.execute(update(StageRun)
                             .where(StageRun.id == row.id,
                                    StageRun.status == StageStatus.running,
                                    StageRun.attempts == row.attempts)
                             .values(status=StageStatus.queued, worker=None,
                                     heartbeat_at=utcnow(),
                                     error=f"worker {row.worker} lost: no heartbeat for "
                                           f"{settings.stage_lease_s:.0f} s; queued again")
                             .execution_options(synchronize_session=False))
            call = db.get(Call, row.call_id) if won.rowcount == 1 else None  # type: ignore[attr-defined]
            if call is not None:
                call.sync_status()
        if won.rowcount == 1:  # type: ignore[attr-defined]
            reaped.append((row.call_id, row.stage))
            log.warning("stage of a dead worker queued again", extra={
                "call_id": row.call_id, "stage": row.stage, "worker": row.worker})
    return reaped


def _resend_lost(db_cutoff: datetime) -> list[tuple[str, str]]:
    """Publish again the stages queued before `db_cutoff` that no worker has claimed: their
    message was lost. The row's time is moved on first (a conditional update, so of
    several reapers one sends), then the message goes out: a crash in between leaves the
    row for the next deadline, never a second message now."""
    with session_scope() as db:
        lost = db.execute(select(StageRun.id, StageRun.call_id, StageRun.stage,
                                 StageRun.heartbeat_at)
                          .where(StageRun.status == StageStatus.queued,
                                 func.coalesce(StageRun.heartbeat_at, StageRun.finished_at,
                                               StageRun.started_at) < db_cutoff)
                          .limit(1000)).all()
    sent: list[tuple[str, str]] = []
    for row in lost:
        with session_scope() as db:
            won = db.execute(update(StageRun)
                             .where(StageRun.id == row.id, StageRun.status == StageStatus.queued,
                                    StageRun.heartbeat_at.is_(None) if row.heartbeat_at is None
                                    else StageRun.heartbeat_at == row.heartbeat_at)
                             .values(heartbeat_at=utcnow())
                             .execution_options(synchronize_session=False))
        if won.rowcount != 1:  # type: ignore[attr-defined]
            continue
        publish(row.stage, [row.call_id])
        sent.append((row.call_id, row.stage))
        log.warning("queued stage published again: its message was lost", extra={
            "call_id": row.call_id, "stage": row.stage})
    return sent


_reaper: threading.Thread | None = None


def start_reaper() -> threading.Thread | None:
    """One reaper thread per worker process (every worker sweeps; the claim is atomic)."""
    global _reaper
    settings = get_settings()
    if _reaper is not None or not settings.broker_url or settings.reap_interval_s <= 0:
        return _reaper

    def loop() -> None:
        while True:
            try:
                reap_stale()
            except Exception as exc:
                log.warning("reaper sweep failed", extra={"error": error_text(exc)})
            time.sleep(settings.reap_interval_s)

    _reaper = threading.Thread(target=loop, name="callqa-reaper", daemon=True)
    _reaper.start()
    return _reaper


@worker_ready.connect
def _on_worker_ready(**_: Any) -> None:
    start_reaper()
