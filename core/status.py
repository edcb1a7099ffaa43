"""The pipeline's states: the stages in order, a stage's status, the call's status, and the
one projection from the first to the second.

`stage_runs.status` (one row per call and stage) is the truth; `calls.status` is derived
from it by `project()` and only ever written through `core.db.Call.sync_status()`, so a
retry, a reaped stage or a re-run can never leave the call showing a stage it is not in.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Literal, Protocol

STAGES: tuple[str, ...] = ("transcribe", "analyze", "index")
Stage = Literal["transcribe", "analyze", "index"]


class StageStatus(StrEnum):
    """A stage_runs row's status. `pending` is never stored: the API shows it for a stage
    that has no row yet (never queued)."""

    pending = "pending"
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"


class CallStatus(StrEnum):
    """Where a call stands: `queued` waits for transcription; `transcribing`, `analyzing`,
    `indexing` have that stage queued or running; `indexed` is done; `failed` has a
    stage that failed for good."""

    queued = "queued"
    transcribing = "transcribing"
    analyzing = "analyzing"
    indexing = "indexing"
    indexed = "indexed"
    failed = "failed"


# The call's status while a stage is queued or running.
IN_STAGE: dict[str, CallStatus] = {
    "transcribe": CallStatus.transcribing,
    "analyze": CallStatus.analyzing,
    "index": CallStatus.indexing,
}


def next_stage(stage: str) -> str | None:
    """The stage after `stage`, None after the last one."""
    i = STAGES.index(stage) + 1
    return STAGES[i] if i < len(STAGES) else None


def previous_stage(stage: str) -> str | None:
    """The stage whose output `stage` reads, None for the first one."""
    i = STAGES.index(stage)
    return STAGES[i - 1] if i > 0 else None


class StageRow(Protocol):
    @property
    def stage(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def error(self) -> str | None: ...


def project(runs: Iterable[StageRow]) -> tuple[CallStatus, str | None]:
    """The call's status and error from its stage rows.

    The first stage (in pipeline order) that is not done decides: failed -> `failed`;
    running -> that stage's status; queued or no row -> waiting for it (`queued` before
    transcription, else that stage's status). All done -> `indexed`. The error is the
    deciding stage's (a failure, or why a retry or a re-queue happened), as "stage: error".
    """
    by_stage = {r.stage: r for r in runs if r.stage in STAGES}
    for stage in STAGES:
        run = by_stage.get(stage)
        if run is not None and run.status == StageStatus.done:
            continue
        error = f"{stage}: {run.error}" if run is not None and run.error else None
        if run is not None and run.status == StageStatus.failed:
            return CallStatus.failed, error
        if stage == STAGES[0] and (run is None or run.status != StageStatus.running):
            return CallStatus.queued, error
        return IN_STAGE[stage], error
    return CallStatus.indexed, None
