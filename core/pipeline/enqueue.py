"""Queueing stages: every queued stage has a `queued` row (heartbeat_at = when) before its
message is published, so a lost message leaves a row the reaper publishes again. With no
broker (CALLQA_BROKER_URL unset) the stages run in-process, one after another."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import select

from core.celery_app import celery_app
from core.db import Call, StageRun, session_scope, utcnow
from core.pipeline.errors import BrokerUnavailable
from core.pipeline.leases import lease_alive
from core.settings import get_settings
from core.status import STAGES, StageStatus, previous_stage

log = logging.getLogger("callqa.pipeline")

TASKS = {stage: f"callqa.{stage}" for stage in STAGES}
BATCH_TASK = "callqa.transcribe_batch"


def _broker_where() -> str:
    from kombu.utils.url import maybe_sanitize_url

    return str(maybe_sanitize_url(get_settings().broker_url or ""))


def broker_message(exc: BaseException) -> str:
    return (f"the broker at {_broker_where()} is unreachable ({type(exc).__name__}: {exc}); "
            "start it (Redis) or fix CALLQA_BROKER_URL, or unset it to process in-process")


def check_broker(timeout_s: float = 3.0) -> None:
    """Raise BrokerUnavailable unless the configured broker accepts a connection."""
    if eager():
        return
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=timeout_s)
    except Exception as exc:
        raise BrokerUnavailable(broker_message(exc)) from exc


def eager() -> bool:
    return bool(celery_app.conf.task_always_eager)


def publish(stage: str, call_ids: Sequence[str]) -> None:
    """Queue `stage` for these calls (transcription in batches of CALLQA_TRANSCRIBE_BATCH_CALLS)."""
    k = max(1, get_settings().transcribe_batch_calls)
    if stage == "transcribe" and k > 1:
        for i in range(0, len(call_ids), k):
            celery_app.send_task(BATCH_TASK, args=[list(call_ids[i:i + k])])
    else:
        for call_id in call_ids:
            celery_app.send_task(TASKS[stage], args=[call_id])



def mark_queued(call_ids: Sequence[str], stage: str) -> None:
    """Record `stage` as queued (now) for these calls, before its message is published, so
    that a lost message leaves a row the reaper finds. A row running under a live lease
    is left alone."""
    now = utcnow()
    with session_scope() as db:
        for call_id in call_ids:
            call = db.get(Call, call_id)
            if call is None:
                continue
            run = call.stage(stage)
            if run is None:
                call.stages.append(StageRun(stage=stage, status=StageStatus.queued, attempts=0,
                                            heartbeat_at=now))
            elif not (run.status == StageStatus.running and lease_alive(run, now)):
                run.status, run.error, run.worker, run.heartbeat_at = (
                    StageStatus.queued, None, None, now)
            call.sync_status()


def queue_from(call: Call, from_stage: str) -> None:
    """In the caller's transaction: the call's stages from `from_stage` on are queued again
    (an explicit (re-)run), the first one recorded even if it never ran."""
    first = STAGES.index(from_stage)
    now = utcnow()
    if call.stage(from_stage) is None:
        call.stages.append(StageRun(stage=from_stage, status=StageStatus.queued,
                                    attempts=0, heartbeat_at=now))
    for run in call.stages:
        if run.stage in STAGES and STAGES.index(run.stage) >= first:
            run.status, run.error, run.worker, run.heartbeat_at = (
                StageStatus.queued, None, None, now)
    call.sync_status()


def reset_stages(call_ids: Sequence[str], from_stage: str) -> None:
    """queue_from for each call, in a session of its own."""
    with session_scope() as db:
        for call_id in call_ids:
            call = db.get(Call, call_id)
            if call is None:
                raise LookupError(f"call {call_id} is not registered")
            queue_from(call, from_stage)


def _fail_unqueued(call_ids: Sequence[str], stage: str, error: str) -> None:
    """The first stage's rows (queued by reset_stages) failed: its message never went out."""
    with session_scope() as db:
        for call_id in call_ids:
            call = db.get(Call, call_id)
            run = call.stage(stage) if call is not None else None
            if call is None or run is None or run.status != StageStatus.queued:
                continue
            run.status, run.error, run.heartbeat_at = StageStatus.failed, error, None
            call.sync_status()


def _stage_status(call_id: str, stage: str) -> str | None:
    with session_scope() as db:
        return db.scalar(select(StageRun.status).where(StageRun.call_id == call_id,
                                                       StageRun.stage == stage))


def enqueue_batch(call_ids: Sequence[str], from_stage: str = "transcribe",
                  progress: Callable[[int, str], None] | None = None) -> bool:
    """Queue the calls' stages from `from_stage` on; with no broker run them now.

    With a broker, transcription goes out in tasks of CALLQA_TRANSCRIBE_BATCH_CALLS
    calls (the GPU worker decodes them together) and each finished stage queues the
    next. In-process, False if any call failed. `progress(done, call_id)` per call
    finished in-process."""
    if from_stage not in STAGES:
        raise ValueError(f"unknown stage {from_stage!r}; one of {', '.join(STAGES)}")
    celery_app.loader.import_default_modules()
    reset_stages(call_ids, from_stage)
    if not eager():
        try:
            publish(from_stage, call_ids)
        except Exception as exc:
            from kombu.exceptions import OperationalError as BrokerError

            if not isinstance(exc, BrokerError | ConnectionError | OSError):
                raise
            # Nothing was queued: say so on the calls instead of leaving them queued forever.
            message = broker_message(exc)
            _fail_unqueued(call_ids, from_stage, f"not queued: {message}")
            raise BrokerUnavailable(message) from exc
        return True
    k = max(1, get_settings().transcribe_batch_calls) if from_stage == "transcribe" else 1
    ok, finished = True, 0
    for i in range(0, len(call_ids), k):
        chunk = list(call_ids[i:i + k])
        stages = list(STAGES[STAGES.index(from_stage):])
        if stages[0] == "transcribe":
            _apply(BATCH_TASK if len(chunk) > 1 else TASKS["transcribe"], chunk)
            stages = stages[1:]
        for call_id in chunk:
            for stage in stages:
                previous = previous_stage(stage)
                if (stage != from_stage and previous is not None
                        and _stage_status(call_id, previous) != StageStatus.done):
                    break
                _apply(TASKS[stage], [call_id])
            ok = ok and _stage_status(call_id, STAGES[-1]) == StageStatus.done
            finished += 1
            if progress:
                progress(finished, call_id)
    return ok


def _apply(name: str, arg: list[str]) -> None:
    task = celery_app.tasks[name]
    args: list[Any] = [arg] if name == BATCH_TASK else [arg[0]]
    # throw=False: a retry runs at once, in-process; outcomes are recorded on the call.
    result = task.apply(args=args, throw=False)
    if result.failed():
        log.error("in-process stage raised", extra={"task": name, "args": args,
                                                     "error": repr(result.result)})


def enqueue(call_id: str, from_stage: str = "transcribe") -> bool:
    """Queue one call's stages; with no broker run them now. False if a stage failed."""
    return enqueue_batch([call_id], from_stage)


