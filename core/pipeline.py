"""Stage bookkeeping and enqueueing, shared by every stage's thin Celery task.

A stage reads its inputs from the database and object store, writes its one
output atomically, and records itself in `stage_runs`. Re-running a stage
replaces its own row and output, so running it twice is harmless.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from celery import chain

from core.celery_app import celery_app
from core.db import Call, StageRun, session_scope, utcnow
from core.schemas import CallStatus

log = logging.getLogger("callqa.pipeline")

STAGES = ("transcribe", "analyze", "index")
STAGE_STATUS = {
    "transcribe": CallStatus.transcribing,
    "analyze": CallStatus.analyzing,
    "index": CallStatus.indexing,
}


@dataclass
class StageContext:
    call: Call
    stage: str
    output_key: str | None = None
    version: str | None = None

    def done(self, output_key: str | None, version: str) -> None:
        self.output_key, self.version = output_key, version


@contextmanager
def run_stage(call_id: str, stage: str) -> Iterator[StageContext]:
    with session_scope() as db:
        call = db.get(Call, call_id)
        if call is None:
            raise LookupError(f"call {call_id} is not registered")
        run = call.stage(stage)
        if run is None:
            run = StageRun(stage=stage, attempts=0)
            call.stages.append(run)
        run.status, run.error, run.started_at, run.finished_at = "running", None, utcnow(), None
        run.attempts = (run.attempts or 0) + 1
        call.status, call.error = STAGE_STATUS[stage].value, None
        db.flush()
        db.expunge(call)
    ctx = StageContext(call=call, stage=stage)
    started = time.perf_counter()
    try:
        yield ctx
    except Exception as exc:
        _finish(call_id, stage, "failed", started, error=f"{type(exc).__name__}: {exc}")
        log.exception("stage failed", extra={"call_id": call_id, "stage": stage})
        raise
    _finish(call_id, stage, "done", started, ctx.output_key, ctx.version)
    log.info("stage done", extra={"call_id": call_id, "stage": stage,
                                  "seconds": round(time.perf_counter() - started, 3)})


def _finish(call_id: str, stage: str, status: str, started: float, output_key: str | None = None,
            version: str | None = None, error: str | None = None) -> None:
    with session_scope() as db:
        call = db.get(Call, call_id)
        if call is None:  # deleted while running: nothing left to record
            return
        run = call.stage(stage)
        assert run is not None
        run.status, run.error, run.finished_at = status, error, utcnow()
        run.seconds = round(time.perf_counter() - started, 3)
        if status == "done":
            run.output_key, run.version = output_key, version
            if stage == STAGES[-1]:
                call.status = CallStatus.indexed.value
        else:
            call.status, call.error = CallStatus.failed.value, f"{stage}: {error}"


def stage_output(call_id: str, stage: str) -> str:
    """The object key a finished stage wrote; a clear error if it has not run."""
    with session_scope() as db:
        run = db.query(StageRun).filter_by(call_id=call_id, stage=stage, status="done").one_or_none()
        if run is None or run.output_key is None:
            raise LookupError(f"call {call_id}: stage {stage!r} has no output yet")
        return run.output_key


def pipeline_signature(call_id: str, from_stage: str = "transcribe") -> Any:
    if from_stage not in STAGES:
        raise ValueError(f"unknown stage {from_stage!r}; one of {', '.join(STAGES)}")
    stages = STAGES[STAGES.index(from_stage):]
    # Stage tasks live in the stage packages; load them so signatures resolve in-process.
    celery_app.loader.import_default_modules()
    missing = [s for s in stages if f"callqa.{s}" not in celery_app.tasks]
    if missing:
        raise RuntimeError(f"stage tasks not registered: {missing}")
    return chain(*(celery_app.signature(f"callqa.{s}", args=[call_id], immutable=True)
                   for s in stages))


def enqueue(call_id: str, from_stage: str = "transcribe") -> bool:
    """Queue the call's stages; in eager mode run them now. False if a stage failed."""
    try:
        pipeline_signature(call_id, from_stage).apply_async()
    except Exception:  # eager mode: the failure is already recorded on the call
        if not celery_app.conf.task_always_eager:
            raise
        return False
    return True
