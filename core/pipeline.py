"""Stage bookkeeping, leases, retries and enqueueing, shared by every stage's Celery task.

A stage reads its inputs from the database and object store, writes its one
output atomically, and records itself in `stage_runs` (one row per call and
stage). Re-running a stage replaces its own row and output, so running it twice
is harmless.

Crash safety (docs/deploy.md has the reasoning and the measurements):

- A task *claims* each call's stage row before working on it: status `running`,
  `worker` = a token unique to this run, `heartbeat_at` renewed every
  lease/4 seconds by a thread (`Lease`) while the work runs. The claim is a
  conditional UPDATE, so two deliveries of one message never both run it.
- A second delivery of a message (Redis re-delivers an unacked message after
  the visibility timeout, even while its worker is alive) finds the row
  `running` under a live lease, or `done`, and is dropped: a short visibility
  timeout costs a database read, never a second transcription.
- A worker killed with -9 stops renewing its leases. Every worker runs a reaper
  (`reap_stale`) that re-queues stages whose lease is older than
  CALLQA_STAGE_LEASE_S, so a dead worker's calls are picked up again within about
  the lease, whatever the broker's visibility timeout.
- A stage that succeeds is marked done with its output *first* (so the next stage
  finds its input), keeping its worker as a hand-over marker; then the next stage
  is queued and the marker cleared. A worker that dies in between leaves a done
  row with a marker and an old heartbeat: the reaper queues the next stage. Indexing
  upserts by call id, so a call is never indexed twice.
- A stage is recorded `queued` (heartbeat_at = when) before its message is published:
  the next stage before a finished one hands over, the first at registration or
  re-run. A message lost after that (Redis restarted without persistence, a worker
  killed holding a message it had not claimed yet) leaves a queued row the reaper
  publishes again after CALLQA_STAGE_QUEUE_DEADLINE_S; a duplicate is dropped on claim.
- Transient errors (connections, storage, database locks, GPU out of memory) are
  retried with exponential back-off; anything else fails the call for good, with
  its error on the call and on the stage row.

With no broker (CALLQA_BROKER_URL unset) `enqueue` runs the stages in-process.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from celery.signals import worker_ready
from sqlalchemy import func, select, update

from core.celery_app import celery_app
from core.db import Call, StageRun, session_scope, utcnow
from core.settings import get_settings
from core.status import IN_STAGE, STAGES, StageStatus, next_stage, previous_stage

log = logging.getLogger("callqa.pipeline")

STAGE_STATUS = IN_STAGE  # the call's status while a stage is queued or running
TASKS = {stage: f"callqa.{stage}" for stage in STAGES}
BATCH_TASK = "callqa.transcribe_batch"


class CallNotFound(LookupError):
    """The call was deleted (or never registered)."""


class TransientError(Exception):
    """Raise to ask for a retry with back-off (the error is expected to go away)."""


class BrokerUnavailable(RuntimeError):
    """The broker cannot be reached: one line saying what, where and how to fix it."""


def _broker_where() -> str:
    from kombu.utils.url import maybe_sanitize_url

    return str(maybe_sanitize_url(get_settings().broker_url or ""))


def broker_message(exc: BaseException) -> str:
    return (f"the broker at {_broker_where()} is unreachable ({type(exc).__name__}: {exc}); "
            "start it (Redis) or fix CALLQA_BROKER_URL, or unset it to process in-process")


def check_broker(timeout_s: float = 3.0) -> None:
    """Raise BrokerUnavailable unless the configured broker accepts a connection."""
    if _eager():
        return
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=timeout_s)
    except Exception as exc:
        raise BrokerUnavailable(broker_message(exc)) from exc


@dataclass
class StageContext:
    call: Call
    stage: str
    token: str = ""
    output_key: str | None = None
    version: str | None = None

    def done(self, output_key: str | None, version: str) -> None:
        self.output_key, self.version = output_key, version


# Claims held by the task running in this thread: run_stage() uses them instead of claiming.
_claimed: ContextVar[dict[tuple[str, str], StageContext] | None] = ContextVar(
    "callqa_claimed", default=None)


def new_token() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def lease_alive(run: StageRun, now: datetime | None = None) -> bool:
    beat = _aware(run.heartbeat_at or run.started_at)
    if beat is None:
        return False
    return ((now or utcnow()) - beat).total_seconds() < get_settings().stage_lease_s


# Errors --------------------------------------------------------------------------------


def is_out_of_memory(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError" or (
        isinstance(exc, RuntimeError) and "out of memory" in text)


def is_transient(exc: BaseException) -> bool:
    """True for errors a retry may cure; bad input, missing calls and bugs are permanent."""
    if isinstance(exc, TransientError) or is_out_of_memory(exc):
        return True
    from search.base import SearchUnavailable

    if isinstance(exc, SearchUnavailable):  # an outage retries; a wrong mapping fails
        return exc.transient
    try:
        import av

        if isinstance(exc, av.FFmpegError):  # undecodable audio (some are OSErrors)
            return False
    except ImportError:  # pragma: no cover - av is a core dependency
        pass
    if isinstance(exc, LookupError | ValueError | TypeError):
        return False
    if isinstance(exc, OSError | sqlite3.OperationalError):  # connections, storage, locks
        return True
    from kombu.exceptions import OperationalError as BrokerError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeout
    from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    transient: tuple[type[BaseException], ...] = (
        BrokerError, RedisConnectionError, RedisTimeout, OperationalError, InterfaceError,
        DisconnectionError, PoolTimeout)
    if isinstance(exc, transient):
        return True
    try:
        from elastic_transport import TransportError
        from elasticsearch import ApiError

        if isinstance(exc, TransportError):
            return True
        if isinstance(exc, ApiError) and exc.meta.status in (429, 502, 503, 504):
            return True
    except ImportError:  # pragma: no cover - the Elasticsearch client is optional
        pass
    return False


def backoff_s(retries: int) -> float:
    settings = get_settings()
    delay = min(settings.retry_backoff_max_s, settings.retry_backoff_s * 2 ** retries)
    return round(delay * random.uniform(0.8, 1.0), 2)


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


# Claims, leases, finishing -------------------------------------------------------------


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
                        finished_at=None, error=None, attempts=(run.attempts or 0) + 1)
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
                                                           "error": _error_text(exc)})

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


@contextmanager
def run_stage(call_id: str, stage: str) -> Iterator[StageContext]:
    """The bookkeeping around one call's stage.

    Inside a stage task the task has claimed the row already and finishes it (with
    retries). Called directly, it claims the row whatever its status (an explicit
    re-run), renews the lease while the body runs and records the outcome itself.
    """
    held = (_claimed.get() or {}).get((call_id, stage))
    if held is not None:
        yield held
        return
    ctx = claim(call_id, stage, new_token(), force=True)
    assert ctx is not None
    started = time.perf_counter()
    try:
        with Lease(ctx.token):
            yield ctx
    except Exception as exc:
        finish(ctx, StageStatus.failed, time.perf_counter() - started, _error_text(exc))
        log.exception("stage failed", extra={"call_id": call_id, "stage": stage})
        raise
    finish(ctx, StageStatus.done, time.perf_counter() - started)
    handed_over(call_id, stage, ctx.token)  # a direct run queues nothing after itself
    log.info("stage done", extra={"call_id": call_id, "stage": stage,
                                  "seconds": round(time.perf_counter() - started, 3)})


def stage_output(call_id: str, stage: str) -> str:
    """The object key a finished stage wrote; a clear error if it has not run."""
    with session_scope() as db:
        run = db.query(StageRun).filter_by(call_id=call_id, stage=stage,
                                           status=StageStatus.done).one_or_none()
        if run is None or run.output_key is None:
            raise LookupError(f"call {call_id}: stage {stage!r} has no output yet")
        return run.output_key


# Running a stage task ------------------------------------------------------------------

Work = Callable[[list[StageContext]], dict[str, BaseException] | None]


def single(fn: Callable[[str], object]) -> Work:
    """The work of a one-call task: `fn(call_id)` inside run_stage."""
    def work(ctxs: list[StageContext]) -> dict[str, BaseException]:
        fn(ctxs[0].call.id)
        return {}
    return work


def _eager() -> bool:
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


def run_stage_task(task: Any, stage: str, call_ids: Sequence[str], work: Work,
                   retry_kwargs: Callable[[BaseException], dict[str, Any]] | None = None,
                   ) -> list[str]:
    """Claim, work under a lease, then per call: publish the next stage and mark done,
    queue a retry (transient error), or fail the call (permanent error or retries
    spent). A failed call never fails the other calls of a batch. Returns the calls done."""
    settings = get_settings()
    token = new_token()
    claimed: list[StageContext] = []
    unclaimed: dict[str, BaseException] = {}  # the claim itself failed (database down?)
    for call_id in call_ids:
        try:
            ctx = claim(call_id, stage, token)
        except CallNotFound as exc:  # deleted since it was queued
            log.warning("call not found: skipped", extra={"call_id": call_id, "stage": stage,
                                                         "error": str(exc)})
            continue
        except Exception as exc:
            log.warning("could not claim the stage", extra={
                "call_id": call_id, "stage": stage, "error": _error_text(exc)})
            unclaimed[call_id] = exc
            continue
        if ctx is not None:
            claimed.append(ctx)
    if not claimed and not unclaimed:
        return []
    started = time.perf_counter()
    scope = _claimed.set({(c.call.id, stage): c for c in claimed})
    errors: dict[str, BaseException] = {}
    try:
        if claimed:
            with Lease(token):
                try:
                    errors = work(claimed) or {}
                except Exception as exc:  # the whole batch failed
                    errors = {c.call.id: exc for c in claimed}
    finally:
        _claimed.reset(scope)
    seconds = (time.perf_counter() - started) / max(1, len(claimed))
    retries = int(getattr(task.request, "retries", 0) or 0) if task is not None else 0
    done: list[str] = []
    again: list[str] = []
    first_transient: BaseException | None = None
    can_retry = task is not None and retries < settings.task_max_retries
    delay = backoff_s(retries)
    for ctx in claimed:
        call_id = ctx.call.id
        error = errors.get(call_id)
        if error is None:
            if not finish(ctx, StageStatus.done, seconds):  # lease lost: another run has it
                continue
            nxt = next_stage(stage)
            if nxt is not None and not _eager():
                mark_queued([call_id], nxt)  # recorded before the message exists
                publish(nxt, [call_id])  # after `done`: the next stage finds its input
            handed_over(call_id, stage, token)
            done.append(call_id)
            log.info("stage done", extra={"call_id": call_id, "stage": stage,
                                          "seconds": round(seconds, 3), "batch": len(claimed)})
        elif is_transient(error) and can_retry:
            finish(ctx, StageStatus.queued, seconds, f"retry {retries + 1}/{settings.task_max_retries} "
                   f"in {delay:.0f} s after {_error_text(error)}")
            log.warning("transient error: retrying", extra={
                "call_id": call_id, "stage": stage, "retry": retries + 1, "delay_s": delay,
                "error": _error_text(error)})
            again.append(call_id)
            first_transient = first_transient or error
        else:
            finish(ctx, StageStatus.failed, seconds, _error_text(error))
            log.error("stage failed", extra={"call_id": call_id, "stage": stage,
                                             "error": _error_text(error),
                                             "transient": is_transient(error)},
                      exc_info=(type(error), error, error.__traceback__))
    for call_id, problem in unclaimed.items():  # nothing recorded: retry or leave to the logs
        if is_transient(problem) and can_retry:
            again.append(call_id)
            first_transient = first_transient or problem
        else:
            log.error("stage not run: the claim failed", extra={
                "call_id": call_id, "stage": stage, "error": _error_text(problem)})
    if again:
        assert first_transient is not None
        extra = retry_kwargs(first_transient) if retry_kwargs else {}
        args = [again] if task.name == BATCH_TASK else [again[0]]
        raise task.retry(args=args, kwargs=extra or None, exc=first_transient,
                         countdown=delay, max_retries=settings.task_max_retries)
    return done


# Enqueueing ------------------------------------------------------------------------------


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


def _reset(call_ids: Sequence[str], from_stage: str) -> None:
    """Stages from `from_stage` on are queued again (an explicit (re-)run), the first one
    recorded even if it never ran."""
    first = STAGES.index(from_stage)
    now = utcnow()
    with session_scope() as db:
        for call_id in call_ids:
            call = db.get(Call, call_id)
            if call is None:
                raise LookupError(f"call {call_id} is not registered")
            if call.stage(from_stage) is None:
                call.stages.append(StageRun(stage=from_stage, status=StageStatus.queued,
                                            attempts=0, heartbeat_at=now))
            for run in call.stages:
                if run.stage in STAGES and STAGES.index(run.stage) >= first:
                    run.status, run.error, run.worker, run.heartbeat_at = (
                        StageStatus.queued, None, None, now)
            call.sync_status()


def _fail_unqueued(call_ids: Sequence[str], stage: str, error: str) -> None:
    """The first stage's rows (queued by _reset) failed: its message never went out."""
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
    _reset(call_ids, from_stage)
    if not _eager():
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


# The reaper: stages of dead workers --------------------------------------------------------


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
                log.warning("reaper sweep failed", extra={"error": _error_text(exc)})
            time.sleep(settings.reap_interval_s)

    _reaper = threading.Thread(target=loop, name="callqa-reaper", daemon=True)
    _reaper.start()
    return _reaper


@worker_ready.connect
def _on_worker_ready(**_: Any) -> None:
    start_reaper()
