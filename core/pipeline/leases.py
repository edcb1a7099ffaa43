"""Claims, leases and outcomes of one call's stage row (`stage_runs`).

A task *claims* each call's stage row before working on it: status `running`, `worker` =
a token unique to this run, `heartbeat_at` renewed every lease/4 seconds by a thread
(`Lease`) while the work runs. The claim is a conditional UPDATE, so two deliveries of
one message never both run it. Every change of a row re-derives the call's status from
its rows (`Call.sync_status`, core.status.project).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from core.db import Call, StageRun, session_scope, utcnow
from core.pipeline.errors import CallNotFound, error_text
from core.settings import get_settings
from core.status import StageStatus

log = logging.getLogger("callqa.pipeline")


@dataclass
class StageContext:
    """One claimed call's stage: what the work reads (`call`) and records (`done`)."""

    call: Call
    stage: str
    token: str = ""
    output_key: str | None = None
    version: str | None = None
    # What the finished stage tells the outside (the last stage: the indexed document,
    # from which the pipeline raises its webhook events).
    result: dict[str, Any] | None = None

    def done(self, output_key: str | None, version: str,
             result: dict[str, Any] | None = None) -> None:
        self.output_key, self.version, self.result = output_key, version, result


def new_token() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def lease_alive(run: StageRun, now: datetime | None = None) -> bool:
    beat = _aware(run.heartbeat_at or run.started_at)
    if beat is None:
        return False
    return ((now or utcnow()) - beat).total_seconds() < get_settings().stage_lease_s






def claim(call_id: str, stage: str, token: str, force: bool = False) -> StageContext | None:
    """Take the call's stage row for this run, or None if another delivery has it.

    Claimable: no row yet, `queued`, or `running` under an expired lease (its worker
    died). Not claimable: `running` under a live lease, `done`, `failed` (a duplicate
    delivery). `force` claims whatever the status (an explicit re-run).
    """
    for _ in range(5):  # a lost race is re-read: the row may have become claimable
        outcome = _try_claim(call_id, stage, token, force)
        if outcome != "raced":
            return outcome if isinstance(outcome, StageContext) else None
    log.info("stage claimed by another delivery", extra={"call_id": call_id, "stage": stage})
    return None


def _try_claim(call_id: str, stage: str, token: str, force: bool) -> StageContext | str | None:
    now = utcnow()
    with session_scope() as db:
        call = db.get(Call, call_id)
        if call is None:
            raise CallNotFound(f"call {call_id} is not registered")
        run = call.stage(stage)
        if run is None:
            call.stages.append(StageRun(stage=stage, status=StageStatus.running, attempts=1,
                                        worker=token, heartbeat_at=now, started_at=now))
        else:
            if not force:
                if run.status in (StageStatus.done, StageStatus.failed):
                    log.info("duplicate delivery dropped", extra={
                        "call_id": call_id, "stage": stage, "stage_status": run.status})
                    return None
                if run.status == StageStatus.running and lease_alive(run, now):
                    log.info("stage is running on a live worker: duplicate delivery dropped",
                             extra={"call_id": call_id, "stage": stage, "worker": run.worker})
                    return None
                if run.status == StageStatus.running:
                    log.warning("taking over the stage of a dead worker", extra={
                        "call_id": call_id, "stage": stage, "worker": run.worker})
            won = db.execute(
                update(StageRun)
                .where(StageRun.id == run.id, StageRun.status == run.status,
                       StageRun.attempts == run.attempts)
                .values(status=StageStatus.running, worker=token, heartbeat_at=now, started_at=now,
                        finished_at=None, error=None, attempts=(run.attempts or 0) + 1,
                        progress_s=None)
                .execution_options(synchronize_session=False))
            if won.rowcount != 1:  # type: ignore[attr-defined]
                return "raced"
            db.expire(run)  # the conditional UPDATE bypassed the session: read it again
        call.sync_status()
        db.flush()
        db.expunge(call)
    return StageContext(call=call, stage=stage, token=token)


class Lease:
    """Renews the heartbeat of every stage row this run holds, from a thread."""

    def __init__(self, token: str, interval_s: float | None = None) -> None:
        self.token = token
        self.interval_s = interval_s or max(0.5, get_settings().stage_lease_s / 4)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="callqa-lease", daemon=True)

    def beat(self) -> None:
        with session_scope() as db:
            db.execute(update(StageRun)
                       .where(StageRun.worker == self.token,
                              StageRun.status == StageStatus.running)
                       .values(heartbeat_at=utcnow())
                       .execution_options(synchronize_session=False))

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.beat()
            except Exception as exc:  # the lease may lapse; the work goes on
                log.warning("lease renewal failed", extra={"worker": self.token,
                                                           "error": error_text(exc)})

    def __enter__(self) -> Lease:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def finish(ctx: StageContext, status: StageStatus, seconds: float,
           error: str | None = None) -> bool:
    """Record the outcome: `done`, `failed`, or `queued` (a retry is on its way).
    False if this run no longer holds the row (it was re-queued or taken over)."""
    with session_scope() as db:
        run = db.scalar(select(StageRun).where(StageRun.call_id == ctx.call.id,
                                               StageRun.stage == ctx.stage).with_for_update())
        call = db.get(Call, ctx.call.id)
        if run is None or call is None:  # deleted while running: nothing left to record
            return False
        if run.worker != ctx.token or run.status != StageStatus.running:
            log.warning("lease lost: outcome not recorded", extra={
                "call_id": ctx.call.id, "stage": ctx.stage, "outcome": status,
                "holder": run.worker})
            return False
        run.status, run.error, run.finished_at = status, error, utcnow()
        run.seconds = round(seconds, 3)
        run.ran_on = ctx.token
        run.heartbeat_at = None
        if status == StageStatus.done:
            run.output_key, run.version = ctx.output_key, ctx.version
            # `worker` stays set until the next stage is queued (handed_over): a row done
            # with a worker and an old heartbeat is a hand-over the reaper completes.
            run.heartbeat_at = utcnow()
        elif status == StageStatus.failed:
            run.worker = None
        else:  # queued again for a retry; the reaper re-sends it if the retry is lost
            run.worker, run.heartbeat_at = None, utcnow()
        call.sync_status()
    return True


def handed_over(call_id: str, stage: str, token: str | None) -> None:
    """The next stage is queued: clear the hand-over marker of a done row."""
    with session_scope() as db:
        query = update(StageRun).where(StageRun.call_id == call_id, StageRun.stage == stage,
                                       StageRun.status == StageStatus.done)
        if token is not None:
            query = query.where(StageRun.worker == token)
        db.execute(query.values(worker=None, heartbeat_at=None)
                   .execution_options(synchronize_session=False))



def stage_output(call_id: str, stage: str) -> str:
    """The object key a finished stage wrote; a clear error if it has not run."""
    with session_scope() as db:
        run = db.query(StageRun).filter_by(call_id=call_id, stage=stage,
                                           status=StageStatus.done).one_or_none()
        if run is None or run.output_key is None:
            raise LookupError(f"call {call_id}: stage {stage!r} has no output yet")
        return run.output_key


