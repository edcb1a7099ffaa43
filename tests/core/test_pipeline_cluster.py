"""The brokered pipeline for real: a private redis-server, `callqa worker` processes,
rendered calls, the tiny model. A batch end to end with calls decoded together, and
a GPU worker killed with -9 mid-transcription."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis
from sqlalchemy import select
from typer.testing import CliRunner

from api.cli import app
from api.cli.pipeline import wait_for_batch
from bench.cluster import RedisServer, Worker
from core.celery_app import configure_celery
from core.db import Call, StageRun, session_scope
from core.settings import Settings, reset_settings
from core.storage import get_store
from ingest import ingest_paths
from samples.truth import word_error_rate
from search import get_backend
from tests.conftest import RENDERED

LEASE_S = 4.0
T = TypeVar("T")


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with RedisServer() as server:
        yield server.url


class Cluster:
    def __init__(self, url: str, logs: Path) -> None:
        self.url, self.logs = url, logs
        self.workers: list[Worker] = []

    def start(self, queues: str) -> Worker:
        w = Worker(queues, dict(os.environ), self.logs / f"{queues}-{len(self.workers)}.log")
        self.workers.append(w)
        return w

    def logs_tail(self) -> str:
        return "\n".join(f"--- {w.log.name}\n{w.tail()}" for w in self.workers)


@pytest.fixture
def cluster(settings: Settings, redis_url: str, monkeypatch: pytest.MonkeyPatch,
            tmp_path: Path) -> Iterator[Cluster]:
    redis.Redis.from_url(redis_url).flushdb()
    for key, value in {"CALLQA_BROKER_URL": redis_url, "CALLQA_STAGE_LEASE_S": str(LEASE_S),
                       "CALLQA_REAP_INTERVAL_S": "0.5", "CALLQA_ASR_CPU_THREADS": "1",
                       "CALLQA_LOG_LEVEL": "INFO"}.items():
        monkeypatch.setenv(key, value)
    reset_settings()
    configure_celery()
    c = Cluster(redis_url, tmp_path)
    yield c
    for w in c.workers:
        if w.proc.poll() is None:
            w.stop()


def _wait_final(ids: list[str], timeout_s: float) -> dict[str, str]:
    counts = wait_for_batch(call_ids=ids, timeout_s=timeout_s, poll_s=0.5)
    assert sum(counts.values()) == len(ids)
    with session_scope() as db:
        return {c.id: c.status for c in db.scalars(select(Call).where(Call.id.in_(ids)))}


def _stages(ids: list[str]) -> dict[str, list[tuple[str, str, int]]]:
    with session_scope() as db:
        return {i: [(s.stage, s.status, s.attempts) for s in db.get(Call, i).stages]  # type: ignore[union-attr]
                for i in ids}


def test_batch_end_to_end_with_calls_decoded_together(
        cluster: Cluster, rendered: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The GPU path (speech segments of all three calls batched together) on the CPU.
    monkeypatch.setenv("CALLQA_ASR_BATCH_SIZE", "8")
    monkeypatch.setenv("CALLQA_TRANSCRIBE_BATCH_CALLS", "3")
    reset_settings()
    cluster.start("gpu")
    cluster.start("cpu")
    # As an operator runs it: queue the folder, wait with a progress bar until all are done.
    ingest = subprocess.run(
        [sys.executable, "-m", "api.cli", "ingest", "--wait", str(rendered / "stereo")],
        env=dict(os.environ), capture_output=True, text=True, timeout=300)
    assert ingest.returncode == 0, ingest.stderr[-3000:] + cluster.logs_tail()
    assert "accepted 3" in ingest.stdout
    with session_scope() as db:
        calls = list(db.scalars(select(Call)))
    ids = [c.id for c in calls]
    batch_id = calls[0].batch_id
    assert batch_id and f"batch {batch_id} queued" in ingest.stderr
    assert {c.batch_id for c in calls} == {batch_id}
    assert {c.status for c in calls} == {"indexed"}, cluster.logs_tail()
    assert "calls decoded together" in cluster.workers[0].tail(100_000)
    assert "calls=3" in cluster.workers[0].tail(100_000)
    assert _stages(ids) == {i: [("transcribe", "done", 1), ("analyze", "done", 1),
                                ("index", "done", 1)] for i in ids}
    backend = get_backend()
    assert backend.count() == 3 and all(backend.get(i) for i in ids)
    # Each call got its own words back from the shared pass.
    store = get_store()
    with session_scope() as db:
        keys = {c.id: c.outputs()["transcribe"] for c in db.scalars(select(Call))}
    for call_id, key in keys.items():
        truth = json.loads((rendered / "truth" / f"{call_id}.json").read_text())
        words = " ".join(u["text"] for u in store.get_json(key)["utterances"])
        wer = word_error_rate(" ".join(t["text"] for t in truth["turns"]), words)
        assert wer < 0.25, (call_id, wer)

    handlers = logging.getLogger().handlers[:]
    result = CliRunner().invoke(app, ["status", "--batch", batch_id])
    logging.getLogger().handlers[:] = handlers  # the runner's stderr is closed now
    assert result.exit_code == 0, result.output
    assert all(i in result.output for i in ids) and "indexed 3" in result.output


def test_gpu_worker_killed_mid_transcription(cluster: Cluster, rendered: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLQA_TRANSCRIBE_BATCH_CALLS", "1")
    reset_settings()
    summary = ingest_paths([rendered / "stereo" / f"{c}.wav" for c in RENDERED])
    ids = [r.call_id for r in summary.accepted if r.call_id]
    gpu = cluster.start("gpu")
    cluster.start("cpu")

    def poll(what: str, timeout_s: float, probe: Callable[[], T | None]) -> T:
        """Bounded polling on database state; a failure says what never happened."""
        deadline = time.monotonic() + timeout_s
        while (value := probe()) is None:
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: not within {timeout_s:.0f} s\n{cluster.logs_tail()}")
            time.sleep(0.1)
        return value

    def victim_row() -> Any:
        with session_scope() as db:
            return db.execute(select(StageRun.call_id, StageRun.worker, StageRun.started_at,
                                     StageRun.heartbeat_at).where(
                StageRun.stage == "transcribe", StageRun.status == "running")).first()

    victim = poll("a transcription running under a worker's lease", 120, victim_row)

    def transcribe_run() -> StageRun:
        with session_scope() as db:
            run = db.scalar(select(StageRun).where(StageRun.call_id == victim.call_id,
                                                   StageRun.stage == "transcribe"))
            assert run is not None
            return run

    def renewed() -> StageRun | None:
        run = transcribe_run()
        if run.worker != victim.worker or run.status != "running":
            pytest.fail("the transcription finished before its worker renewed the lease: "
                        f"nothing left to kill\n{cluster.logs_tail()}")
        return run if run.heartbeat_at and run.heartbeat_at > run.started_at else None

    # Well inside the transcription: its worker's lease thread has renewed it once.
    poll("the running transcription's lease renewed by its worker", 60, renewed)
    gpu.kill()
    killed = time.monotonic()
    last_beat = transcribe_run().heartbeat_at
    cluster.start("gpu")  # the replacement

    def released() -> StageRun | None:
        run = transcribe_run()
        if run.worker == victim.worker and run.status == "running":
            assert run.heartbeat_at == last_beat, "a killed worker renewed its lease"
            return None
        return run

    # Released by the reaper once the lease lapsed (lease + a sweep, with room to spare).
    run = poll("the dead worker's transcription queued again once its lease lapsed",
               LEASE_S + 60, released)
    print(f"\nkilled worker's transcription released after {time.monotonic() - killed:.1f} s "
          f"(lease {LEASE_S:.0f} s)")
    assert (run.status == "queued" and f"worker {victim.worker} lost" in (run.error or "")) or (
        run.worker != victim.worker and run.attempts == 2), (run.status, run.worker, run.error)

    statuses = _wait_final(ids, 240)
    assert statuses == {i: "indexed" for i in ids}, cluster.logs_tail()
    stages = _stages(ids)
    for call_id in ids:
        assert [(s, st) for s, st, _ in stages[call_id]] == [
            ("transcribe", "done"), ("analyze", "done"), ("index", "done")]
        assert stages[call_id][0][2] == (2 if call_id == victim.call_id else 1)
    with session_scope() as db:
        assert db.scalar(select(StageRun).where(StageRun.status == "running")) is None
        assert db.scalar(select(StageRun).where(StageRun.worker.is_not(None))) is None
    backend = get_backend()
    assert backend.count() == len(ids)  # exactly one entry per call
    assert sorted(d["call_id"] for d in backend.get_many(ids)) == sorted(ids)
    assert "stage of a dead worker queued again" in "".join(
        w.tail(200_000) for w in cluster.workers)
