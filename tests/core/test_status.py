"""The one projection from stage rows to the call's status, case by case."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from core.status import STAGES, CallStatus, StageStatus, next_stage, previous_stage, project


@dataclass
class Row:
    stage: str
    status: str
    error: str | None = None


def rows(*statuses: str, error: str | None = None) -> list[Row]:
    return [Row(stage, status, error if i == len(statuses) - 1 else None)
            for i, (stage, status) in enumerate(zip(STAGES, statuses, strict=False))]


@pytest.mark.parametrize(("statuses", "expected"), [
    ((), CallStatus.queued),  # registered, nothing queued yet
    (("queued",), CallStatus.queued),
    (("running",), CallStatus.transcribing),
    (("done",), CallStatus.analyzing),  # hand-over: the next row is not written yet
    (("done", "queued"), CallStatus.analyzing),
    (("done", "running"), CallStatus.analyzing),
    (("done", "done", "queued"), CallStatus.indexing),
    (("done", "done", "running"), CallStatus.indexing),
    (("done", "done", "done"), CallStatus.indexed),
    (("failed",), CallStatus.failed),
    (("done", "failed"), CallStatus.failed),
    (("done", "done", "failed"), CallStatus.failed),
    # A re-run from transcription queues every stage again: waiting for transcription.
    (("queued", "queued", "queued"), CallStatus.queued),
    (("running", "queued", "queued"), CallStatus.transcribing),
])
def test_status_is_decided_by_the_first_stage_not_done(
        statuses: tuple[str, ...], expected: CallStatus) -> None:
    assert project(rows(*statuses)) == (expected, None)


def test_the_deciding_stage_gives_the_error() -> None:
    assert project(rows("done", "failed", error="ValueError: bad")) == (
        CallStatus.failed, "analyze: ValueError: bad")
    # A retry or a reaped stage: waiting again, with the reason shown.
    assert project(rows("queued", error="retry 1/5 in 2 s after OSError: gone")) == (
        CallStatus.queued, "transcribe: retry 1/5 in 2 s after OSError: gone")
    # An error left on a later stage does not speak for an earlier one that is running.
    stale = [Row("transcribe", "running"), Row("analyze", "failed", "old")]
    assert project(stale) == (CallStatus.transcribing, None)


def test_order_of_rows_and_unknown_stages_do_not_matter() -> None:
    shuffled = [Row("index", "queued"), Row("transcribe", "done"), Row("analyze", "done"),
                Row("legacy", "failed")]
    assert project(shuffled) == (CallStatus.indexing, None)


def test_next_and_previous_stage() -> None:
    assert [next_stage(s) for s in STAGES] == ["analyze", "index", None]
    assert [previous_stage(s) for s in STAGES] == [None, "transcribe", "analyze"]
    with pytest.raises(ValueError):
        next_stage("nope")


def test_enums_are_their_stored_strings() -> None:
    assert [s.value for s in StageStatus] == ["pending", "queued", "running", "done", "failed"]
    assert CallStatus.indexed == "indexed" and f"{StageStatus.done}" == "done"
