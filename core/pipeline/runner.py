"""Running a stage: claim the calls, work under a lease, record each call's outcome, queue
the next stage; after the last stage, raise the call's webhook events.

Every stage's work has one signature (`Work`): the claimed calls in, their errors out.
Celery tasks call `run_stage_task`; an explicit run outside a task calls `run_now`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from core import webhooks
from core.pipeline.enqueue import BATCH_TASK, eager, mark_queued, publish
from core.pipeline.errors import CallNotFound, backoff_s, error_text, is_transient
from core.pipeline.leases import Lease, StageContext, claim, finish, handed_over, new_token
from core.settings import get_settings
from core.status import StageStatus, next_stage

log = logging.getLogger("callqa.pipeline")

Work = Callable[[list[StageContext]], dict[str, BaseException]]
"""A stage's work: the claimed calls in, their errors out (by call id). A call without an
error has recorded its output with `ctx.done(...)`; raising fails (or retries) them all."""


def _announce(ctx: StageContext) -> None:
    """After the last stage's work, before it is marked done: the call's webhook events
    (call.completed, flag.critical). A worker that dies in between runs the stage again,
    events included: at least once. Never fails the stage."""
    if next_stage(ctx.stage) is None:
        webhooks.notify_call_indexed(ctx.call.id, ctx.result or {})


def _hand_over(ctx: StageContext, token: str, queue_next: bool) -> None:
    """A stage is done: queue the next one (recorded before its message exists, published
    after `done` so it finds its input), then clear the hand-over marker."""
    nxt = next_stage(ctx.stage)
    if nxt is not None and queue_next:
        mark_queued([ctx.call.id], nxt)
        publish(nxt, [ctx.call.id])
    handed_over(ctx.call.id, ctx.stage, token)


def run_stage_task(task: Any, stage: str, call_ids: Sequence[str], work: Work,
                   retry_kwargs: Callable[[BaseException], dict[str, Any]] | None = None,
                   ) -> list[str]:
    """Claim, work under a lease, then per call: mark done and queue the next stage,
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
                "call_id": call_id, "stage": stage, "error": error_text(exc)})
            unclaimed[call_id] = exc
            continue
        if ctx is not None:
            claimed.append(ctx)
    if not claimed and not unclaimed:
        return []
    started = time.perf_counter()
    errors: dict[str, BaseException] = {}
    if claimed:
        with Lease(token):
            try:
                errors = work(claimed)
            except Exception as exc:  # the whole batch failed
                errors = {c.call.id: exc for c in claimed}
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
            _announce(ctx)
            if not finish(ctx, StageStatus.done, seconds):  # lease lost: another run has it
                continue
            _hand_over(ctx, token, queue_next=not eager())
            done.append(call_id)
            log.info("stage done", extra={"call_id": call_id, "stage": stage,
                                          "seconds": round(seconds, 3), "batch": len(claimed)})
        elif is_transient(error) and can_retry:
            finish(ctx, StageStatus.queued, seconds,
                   f"retry {retries + 1}/{settings.task_max_retries} in {delay:.0f} s after "
                   f"{error_text(error)}")
            log.warning("transient error: retrying", extra={
                "call_id": call_id, "stage": stage, "retry": retries + 1, "delay_s": delay,
                "error": error_text(error)})
            again.append(call_id)
            first_transient = first_transient or error
        else:
            finish(ctx, StageStatus.failed, seconds, error_text(error))
            log.error("stage failed", extra={"call_id": call_id, "stage": stage,
                                             "error": error_text(error),
                                             "transient": is_transient(error)},
                      exc_info=(type(error), error, error.__traceback__))
    for call_id, problem in unclaimed.items():  # nothing recorded: retry or leave to the logs
        if is_transient(problem) and can_retry:
            again.append(call_id)
            first_transient = first_transient or problem
        else:
            log.error("stage not run: the claim failed", extra={
                "call_id": call_id, "stage": stage, "error": error_text(problem)})
    if again:
        assert first_transient is not None
        extra = retry_kwargs(first_transient) if retry_kwargs else {}
        args = [again] if task.name == BATCH_TASK else [again[0]]
        raise task.retry(args=args, kwargs=extra or None, exc=first_transient,
                         countdown=delay, max_retries=settings.task_max_retries)
    return done


def run_now(call_id: str, stage: str, work: Work) -> StageContext:
    """One call's stage run here and now, outside any task (an explicit re-run: tests,
    tools): the row is claimed whatever its status, the work runs under a lease, the
    outcome is recorded, and the work's error is raised. Queues nothing after itself."""
    ctx = claim(call_id, stage, new_token(), force=True)
    assert ctx is not None  # a forced claim always wins or raises
    started = time.perf_counter()
    with Lease(ctx.token):
        try:
            error = work([ctx]).get(call_id)
        except Exception as exc:
            error = exc
    seconds = time.perf_counter() - started
    if error is not None:
        finish(ctx, StageStatus.failed, seconds, error_text(error))
        log.error("stage failed", extra={"call_id": call_id, "stage": stage,
                                         "error": error_text(error)})
        raise error
    _announce(ctx)
    if finish(ctx, StageStatus.done, seconds):
        _hand_over(ctx, ctx.token, queue_next=False)
    log.info("stage done", extra={"call_id": call_id, "stage": stage,
                                  "seconds": round(seconds, 3)})
    return ctx
