"""Finding 6 (Medium): states that wait on a message must be recoverable. Every queued
stage has a row before its message exists, and the reaper publishes again the stages
queued past CALLQA_STAGE_QUEUE_DEADLINE_S (a Redis restarted empty, a worker killed
holding a message it had not claimed). The kill -9 trials with real workers are
bench/crash_trials.py."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from bench.cluster import RedisServer
from core import db as core_db
from core.celery_app import configure_celery
from core.db import Call, StageRun, session_scope
from core.pipeline import mark_queued, reap_stale
from core.settings import get_settings, reset_settings
from core.storage import get_store
from ingest.service import register_file
from tests.security.conftest import wav_bytes, write


@pytest.fixture
def broker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[redis.Redis]:
    with RedisServer() as server:
        for key, value in {"CALLQA_DATA_DIR": str(tmp_path / "data"),
                           "CALLQA_BROKER_URL": server.url,
                           "CALLQA_STAGE_QUEUE_DEADLINE_S": "2",
                           "CALLQA_TRANSCRIBE_BATCH_CALLS": "1"}.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("CALLQA_DATABASE_URL", raising=False)
        reset_settings()
        core_db._migrated.clear()
        configure_celery()
        core_db.upgrade()
        yield redis.Redis.from_url(server.url)
    reset_settings()
    configure_celery()


def _queued_messages(r: redis.Redis) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for queue in ("gpu", "cpu"):
        for raw in r.lrange(queue, 0, -1):
            message = json.loads(raw)
            out.setdefault(queue, []).append(message["headers"]["task"] + ":" +
                                             json.dumps(message["headers"]["argsrepr"]))
    return out


def _register(tmp_path: Path, seed: int, queue: bool) -> str:
    audio = write(tmp_path / f"c{seed}.wav", wav_bytes(seed=seed))
    result = register_file(audio, get_settings(), get_store(), queue=queue)
    assert result.outcome == "accepted" and result.call_id
    return result.call_id


def test_a_batch_that_crashed_before_queueing_is_sent_by_the_reaper(
        broker: redis.Redis, tmp_path: Path) -> None:
    queued = _register(tmp_path, 41, queue=True)  # the CLI died right after registering
    held = _register(tmp_path, 42, queue=False)  # --no-process: nothing is owed
    assert _queued_messages(broker) == {}
    assert reap_stale() == []  # not past the deadline yet
    time.sleep(2.2)
    assert reap_stale() == [(queued, "transcribe")]
    assert reap_stale() == []  # once per deadline, not once per sweep
    messages = _queued_messages(broker)
    assert list(messages) == ["gpu"] and len(messages["gpu"]) == 1 and queued in messages["gpu"][0]
    assert held not in json.dumps(messages)


def test_a_lost_analyze_message_is_sent_again(broker: redis.Redis, tmp_path: Path) -> None:
    """A CPU worker took the analyze message and was killed before claiming it; or Redis
    restarted empty: the row says queued, nothing is in Redis."""
    call_id = _register(tmp_path, 43, queue=False)
    mark_queued([call_id], "analyze")
    broker.flushall()  # Redis restarted without persistence
    time.sleep(2.2)
    assert reap_stale() == [(call_id, "analyze")]
    assert "callqa.analyze" in _queued_messages(broker)["cpu"][0]
    with session_scope() as db:
        run = db.scalar(select(StageRun).where(StageRun.call_id == call_id,
                                               StageRun.stage == "analyze"))
        assert run is not None and run.status == "queued"
        call = db.get(Call, call_id)
        assert call is not None


@pytest.mark.slow
def test_a_redis_restart_and_a_cpu_worker_kill_lose_nothing(rendered_dir: Path,
                                                            tmp_path: Path) -> None:
    """One trial each of bench/crash_trials.py with real workers (the bench runs 20)."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    out = tmp_path / "trials.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLQA_")}
    result = subprocess.run(
        [sys.executable, str(root / "bench" / "crash_trials.py"), "--trials", "1", "--kinds",
         "redis,cpu", "--samples", str(rendered_dir), "--json", str(out)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(out.read_text())
    for kind in ("redis", "cpu"):
        got = figures["results"][kind]
        assert (got["trials"], got["lost"], got["stuck"], got["indexed_twice"]) == (1, 0, 0, 0), got
        assert got["index_documents"] == got["calls"] == 2
    assert figures["index_count"] == figures["calls_indexed"] == 4
