"""The pipeline: stage bookkeeping, leases, retries, enqueueing and the reaper, shared by
every stage's Celery task. One module per concern; this package re-exports them:

- `errors`: which errors a retry may cure, the back-off;
- `leases`: claiming a call's stage row, renewing its lease, recording the outcome;
- `enqueue`: queueing stages (a `queued` row before every message), in-process runs;
- `runner`: running a stage's work (`Work`, one signature for every stage) in a task
  (`run_stage_task`) or here and now (`run_now`); webhooks after the last stage;
- `reaper`: re-queueing what dead workers and lost messages left behind.

The call's status is derived from its stage rows by one function, `core.status.project`.

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

from core.pipeline.enqueue import (
    BATCH_TASK,
    TASKS,
    broker_message,
    check_broker,
    eager,
    enqueue,
    enqueue_batch,
    mark_queued,
    publish,
    queue_from,
    reset_stages,
)
from core.pipeline.errors import (
    BrokerUnavailable,
    CallNotFound,
    TransientError,
    backoff_s,
    error_text,
    is_out_of_memory,
    is_transient,
)
from core.pipeline.leases import (
    Lease,
    StageContext,
    claim,
    finish,
    handed_over,
    lease_alive,
    new_token,
    stage_output,
)
from core.pipeline.reaper import reap_stale, start_reaper
from core.pipeline.runner import Work, run_now, run_stage_task
from core.status import IN_STAGE as STAGE_STATUS
from core.status import STAGES, next_stage, previous_stage

__all__ = [
    "BATCH_TASK", "STAGES", "STAGE_STATUS", "TASKS", "BrokerUnavailable", "CallNotFound",
    "Lease", "StageContext", "TransientError", "Work", "backoff_s", "broker_message",
    "check_broker", "claim", "eager", "enqueue", "enqueue_batch", "error_text", "finish",
    "handed_over", "is_out_of_memory", "is_transient", "lease_alive", "mark_queued",
    "new_token", "next_stage", "previous_stage", "publish", "queue_from", "reap_stale",
    "reset_stages",
    "run_now", "run_stage_task", "stage_output", "start_reaper",
]
