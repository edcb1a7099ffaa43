"""Stage bookkeeping without workers: retries of transient errors, permanent failures on
the call, a failed call in a batch, smaller batches after GPU out-of-memory, claims of
duplicate deliveries and dead workers' leases. Real calls, the real tiny model."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import select, update

import transcribe.tasks as transcribe_tasks
from bench.cluster import RedisServer
from core.celery_app import configure_celery
from core.db import Call, StageRun, session_scope, utcnow
from core.pipeline import claim, enqueue_batch, finish, is_transient, reap_stale, reset_stages
from core.settings import Settings, reset_settings
from core.status import StageStatus
from core.storage import get_store
from ingest import ingest_paths
from search import get_backend
from tests.conftest import RENDERED


def _register(rendered: Path, n: int) -> list[str]:
    summary = ingest_paths([rendered / "stereo" / f"{c}.wav" for c in RENDERED[:n]],
                           process=False)
    return [r.call_id for r in summary.accepted if r.call_id]


def _call(call_id: str) -> tuple[str, str | None, dict[str, tuple[str, int, str | None]]]:
    with session_scope() as db:
        call = db.get(Call, call_id)
        assert call is not None
        return call.status, call.error, {s.stage: (s.status, s.attempts, s.error)
                                         for s in call.stages}


def test_error_classes() -> None:
    import av
    from sqlalchemy.exc import OperationalError

    assert is_transient(OSError("NFS went away"))
    assert is_transient(ConnectionError("refused"))
    assert is_transient(OperationalError("UPDATE", {}, Exception("database is locked")))
    assert is_transient(RuntimeError("CUDA failed with error out of memory"))
    assert not is_transient(LookupError("call c-1 is not registered"))
    assert not is_transient(ValueError("bad"))
    assert not is_transient(av.error.InvalidDataError(1094995529, "Invalid data"))


def test_transient_error_is_retried_then_succeeds(
        settings: Settings, rendered: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = _register(rendered, 1)
    real = transcribe_tasks.decode_audio
    calls: list[Any] = []

    def flaky(path: Any) -> Any:
        calls.append(path)
        if len(calls) == 1:
            raise OSError("storage unavailable")
        return real(path)

    monkeypatch.setattr(transcribe_tasks, "decode_audio", flaky)
    assert enqueue_batch(ids)
    status, error, stages = _call(ids[0])
    assert (status, error) == ("indexed", None)
    assert stages["transcribe"][:2] == ("done", 2) and stages["index"][:2] == ("done", 1)
    assert get_backend().count() == 1


def test_bad_audio_fails_its_call_only_without_retry(
        settings: Settings, rendered: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLQA_TRANSCRIBE_BATCH_CALLS", "2")
    reset_settings()
    ids = _register(rendered, 2)
    store = get_store()
    with session_scope() as db:
        bad = db.get(Call, ids[0])
        assert bad is not None
        path = store.path(bad.audio_key)
    path.write_bytes(b"this is not audio " * 200)  # corrupted on disk after ingest

    assert not enqueue_batch(ids)
    status, error, stages = _call(ids[0])
    assert status == "failed" and error is not None and error.startswith("transcribe: ")
    assert stages == {"transcribe": ("failed", 1, error.removeprefix("transcribe: "))}
    assert _call(ids[1])[0] == "indexed"
    assert get_backend().count() == 1


def test_out_of_memory_retries_with_fewer_calls(
        settings: Settings, rendered: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLQA_TRANSCRIBE_BATCH_CALLS", "2")
    reset_settings()
    ids = _register(rendered, 2)
    real = transcribe_tasks.transcribe_many
    sizes: list[int] = []

    def small_gpu(audios: list[Any], engine: Any, options: list[Any]) -> Any:
        sizes.append(len(audios))
        if len(audios) > 1:
            raise RuntimeError("CUDA failed with error out of memory")
        return real(audios, engine, options)

    monkeypatch.setattr(transcribe_tasks, "transcribe_many", small_gpu)
    assert enqueue_batch(ids)
    assert sizes == [2, 1, 1]  # the retry took the calls one at a time
    for call_id in ids:
        status, _, stages = _call(call_id)
        assert status == "indexed" and stages["transcribe"][:2] == ("done", 2)


def test_claims_drop_duplicates_and_take_over_dead_workers(
        settings: Settings, rendered: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLQA_STAGE_LEASE_S", "30")
    reset_settings()
    (call_id,) = _register(rendered, 1)
    first = claim(call_id, "transcribe", "worker-a")
    assert first is not None and _call(call_id)[0] == "transcribing"
    assert claim(call_id, "transcribe", "worker-b") is None  # running, lease alive
    with session_scope() as db:  # worker-a stops renewing its lease
        db.execute(update(StageRun).values(heartbeat_at=utcnow() - timedelta(seconds=60)))
    taken = claim(call_id, "transcribe", "worker-b")
    assert taken is not None
    status, attempts, _ = _call(call_id)[2]["transcribe"]
    assert (status, attempts) == ("running", 2)
    with session_scope() as db:
        assert db.scalar(select(StageRun.worker)) == "worker-b"
        db.execute(update(StageRun).values(status="done"))
    assert claim(call_id, "transcribe", "worker-c") is None  # done: a duplicate delivery


def test_reaper_requeues_the_stage_of_a_dead_worker(
        settings: Settings, rendered: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with RedisServer() as server:
        monkeypatch.setenv("CALLQA_BROKER_URL", server.url)
        monkeypatch.setenv("CALLQA_STAGE_LEASE_S", "5")
        monkeypatch.setenv("CALLQA_TRANSCRIBE_BATCH_CALLS", "1")
        reset_settings()
        configure_celery()
        ids = _register(rendered, 2)
        claim(ids[0], "transcribe", "dead-worker")
        claim(ids[1], "transcribe", "live-worker")
        with session_scope() as db:
            db.execute(update(StageRun).where(StageRun.call_id == ids[0])
                       .values(heartbeat_at=utcnow() - timedelta(seconds=6)))
        assert reap_stale() == [(ids[0], "transcribe")]
        assert reap_stale() == []  # claimed once
        status, attempts, error = _call(ids[0])[2]["transcribe"]
        assert attempts == 1
        assert status == "queued" and error is not None and "dead-worker lost" in error
        assert _call(ids[0])[0] == "queued"  # waiting for transcription again, as its row
        assert _call(ids[1])[2]["transcribe"][0] == "running"
        assert _call(ids[1])[0] == "transcribing"
        queued = redis.Redis.from_url(server.url).lrange("gpu", 0, -1)
        assert len(queued) == 1
        message = json.loads(queued[0])
        assert message["headers"]["task"] == "callqa.transcribe"
        assert message["headers"]["argsrepr"] == repr([ids[0]])


def test_retry_reap_and_reset_leave_the_projected_status(
        settings: Settings, rendered: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """calls.status follows the stage rows through every writer: claim, finish (retry,
    done, failed), the reaper and a reset. A retry or a reaped stage used to leave
    `transcribing` on a call that waited in the queue."""
    with RedisServer() as server:  # the reaper publishes: a real broker
        monkeypatch.setenv("CALLQA_BROKER_URL", server.url)
        monkeypatch.setenv("CALLQA_STAGE_LEASE_S", "5")
        monkeypatch.setenv("CALLQA_TRANSCRIBE_BATCH_CALLS", "1")
        reset_settings()
        configure_celery()
        (call_id,) = _register(rendered, 1)
        assert _call(call_id)[:2] == ("queued", None)
        ctx = claim(call_id, "transcribe", "worker-a")
        assert ctx is not None and _call(call_id)[:2] == ("transcribing", None)
        # A transient error: the retry is queued and the call waits for transcription again.
        assert finish(ctx, StageStatus.queued, 0.5, "retry 1/5 in 2 s after OSError: gone")
        assert _call(call_id)[:2] == ("queued",
                                      "transcribe: retry 1/5 in 2 s after OSError: gone")
        # The retry goes to a worker that dies: the reaper queues the stage again.
        assert claim(call_id, "transcribe", "dead-worker") is not None
        assert _call(call_id)[:2] == ("transcribing", None)
        with session_scope() as db:
            db.execute(update(StageRun).values(heartbeat_at=utcnow() - timedelta(seconds=6)))
        assert reap_stale() == [(call_id, "transcribe")]
        status, error, _ = _call(call_id)
        assert status == "queued" and error is not None and "dead-worker lost" in error
        # Transcribed and analysed, then indexing fails for good.
        for stage, waiting in (("transcribe", "analyzing"), ("analyze", "indexing")):
            ctx = claim(call_id, stage, "worker-b")
            assert ctx is not None
            ctx.done(f"calls/{call_id}/{stage}.json", "test")
            assert finish(ctx, StageStatus.done, 1.0)
            assert _call(call_id)[:2] == (waiting, None)
        ctx = claim(call_id, "index", "worker-b")
        assert ctx is not None and _call(call_id)[0] == "indexing"
        assert finish(ctx, StageStatus.failed, 0.1, "ValueError: bad mapping")
        assert _call(call_id)[:2] == ("failed", "index: ValueError: bad mapping")
        # A re-run from analysis: both later stages queued, the failure gone.
        reset_stages([call_id], "analyze")
        status, error, stages = _call(call_id)
        assert (status, error) == ("analyzing", None)
        assert {s: v[0] for s, v in stages.items()} == {
            "transcribe": "done", "analyze": "queued", "index": "queued"}
        reset_stages([call_id], "transcribe")
        assert _call(call_id)[:2] == ("queued", None)


@pytest.mark.postgres
def test_claim_lease_and_hand_over_on_postgresql(
        settings: Settings, rendered: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The conditional UPDATEs and row locks on the PostgreSQL server of the machine."""
    import uuid

    from sqlalchemy import create_engine, text

    from core import db as core_db
    from core.pipeline import Lease, finish, handed_over

    admin_url = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
    schema = f"t_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        monkeypatch.setenv("CALLQA_DATABASE_URL", f"{admin_url}?options=-csearch_path%3D{schema}")
        reset_settings()
        core_db._migrated.clear()
        core_db.upgrade()
        (call_id,) = _register(rendered, 1)
        ctx = claim(call_id, "transcribe", "worker-a")
        assert ctx is not None and claim(call_id, "transcribe", "worker-b") is None
        with session_scope() as db:
            db.execute(update(StageRun).values(heartbeat_at=utcnow() - timedelta(seconds=60)))
        Lease("worker-a").beat()  # a live worker renews: the lease is fresh again
        assert claim(call_id, "transcribe", "worker-b") is None
        ctx.done("calls/x/transcript.json", "test")
        assert finish(ctx, StageStatus.done, 1.0)
        status, _, stages = _call(call_id)
        assert status == "analyzing" and stages["transcribe"][:2] == ("done", 1)
        with session_scope() as db:
            assert db.scalar(select(StageRun.worker)) == "worker-a"  # hand-over pending
        handed_over(call_id, "transcribe", "worker-a")
        with session_scope() as db:
            assert db.scalar(select(StageRun.worker)) is None
        assert claim(call_id, "transcribe", "worker-c") is None  # done: a duplicate
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
        core_db._migrated.clear()


def test_a_running_transcription_records_its_progress_in_audio_seconds(
        settings: Settings, rendered: Path) -> None:
    """What `callqa ingest --wait` reads in a cluster: the worker writes how far each
    running transcription has got (at most every `every_s`, the end always); a takeover
    starts again from nothing."""
    from api.services.calls import audio_progress

    (call_id,) = _register(rendered, 1)

    def progress() -> tuple[float | None, tuple[float, float]]:
        with session_scope() as db:
            row = db.scalar(select(StageRun.progress_s).where(StageRun.call_id == call_id))
            return row, audio_progress(db, call_ids=[call_id])

    with session_scope() as db:
        call = db.get(Call, call_id)
        assert call is not None
        duration = call.duration
    assert duration > 10 and progress()[1] == (0.0, duration)
    assert claim(call_id, "transcribe", "worker-a") is not None
    heard: list[tuple[str, float, float]] = []
    report = transcribe_tasks.recording_progress(lambda *a: heard.append(a), every_s=60)
    report(call_id, 12.0, duration)
    report(call_id, 13.0, duration)  # within every_s: the outer watcher hears it, no write
    assert heard == [(call_id, 12.0, duration), (call_id, 13.0, duration)]
    assert progress() == (12.0, (12.0, duration))
    report(call_id, duration, duration)
    assert progress() == (round(duration, 1), (min(duration, round(duration, 1)), duration))
    with session_scope() as db:  # worker-a dies; worker-b takes the stage over
        db.execute(update(StageRun).values(heartbeat_at=utcnow() - timedelta(seconds=3600)))
    assert claim(call_id, "transcribe", "worker-b") is not None
    assert progress() == (None, (0.0, duration))
