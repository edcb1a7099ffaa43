"""The pipeline through a real Redis broker and a real Celery worker process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis

from core.celery_app import configure_celery
from core.db import Call, session_scope
from core.settings import Settings, reset_settings
from ingest import ingest_paths
from tests.conftest import RENDERED

REDIS = "redis://127.0.0.1:6379"


@pytest.fixture
def broker(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> str:
    try:
        redis.Redis.from_url(REDIS, socket_connect_timeout=2).ping()
    except redis.ConnectionError as exc:
        pytest.fail(f"Redis at {REDIS} is not running (.ci/run starts it): {exc}")
    # A private virtual host (db) and queue names would need config; a fresh db is enough.
    db = 9 + uuid.uuid4().int % 6
    url = f"{REDIS}/{db}"
    redis.Redis.from_url(url).flushdb()
    monkeypatch.setenv("CALLQA_BROKER_URL", url)
    reset_settings()
    configure_celery()
    return url


def _worker(queues: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    return subprocess.Popen(
        [sys.executable, "-m", "api.cli", "worker", "--queues", queues],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def test_batch_runs_through_broker_and_workers(broker: str, rendered: Path) -> None:
    files = [rendered / "stereo" / f"{c}.wav" for c in RENDERED[:2]]
    summary = ingest_paths(files)  # enqueue only: a broker is configured
    ids = [r.call_id for r in summary.accepted]
    assert len(ids) == 2
    with session_scope() as db:
        assert {db.get(Call, i).status for i in ids} == {"queued"}  # type: ignore[union-attr]

    workers = [_worker("gpu"), _worker("cpu")]
    try:
        deadline = time.time() + 240
        while time.time() < deadline:
            with session_scope() as db:
                statuses = {i: db.get(Call, i).status for i in ids}  # type: ignore[union-attr]
            if set(statuses.values()) <= {"indexed", "failed"}:
                break
            time.sleep(1)
    finally:
        logs = []
        for w in workers:
            os.killpg(w.pid, signal.SIGTERM)
            logs.append(w.communicate(timeout=30)[0].decode(errors="replace")[-3000:])
    assert statuses == {i: "indexed" for i in ids}, "\n".join(logs)
    with session_scope() as db:
        for i in ids:
            call = db.get(Call, i)
            assert call is not None
            assert [(s.stage, s.status, s.attempts) for s in call.stages] == [
                ("transcribe", "done", 1), ("analyze", "done", 1), ("index", "done", 1)]
