"""The database path on SQLite (default) and on the PostgreSQL server of the machine."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError, OperationalError

from core.db import Call, StageRun, migrate, session_scope, upgrade

PG_ADMIN = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'callqa.db'}"
        return
    # A private schema per test on the real server, dropped afterwards.
    schema = f"t_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN)
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:  # the server is part of the test environment: say so loudly
        pytest.fail(f"PostgreSQL at 127.0.0.1:5432 is not reachable: {exc}")
    yield f"{PG_ADMIN}?options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


def _call(call_id: str, sha: str) -> Call:
    return Call(id=call_id, sha256=sha, source_name="x.wav", audio_key="k", duration=1.0,
                channels=2, sample_rate=8000, codec="pcm_mulaw", container="wav",
                started_at=datetime(2026, 10, 5, 1, 14, tzinfo=UTC), channel_map=["agent", "customer"],
                status="queued")


def test_migrations_create_schema_and_are_idempotent(db_url: str) -> None:
    migrate(db_url)
    migrate(db_url)
    engine = create_engine(db_url)
    tables = set(inspect(engine).get_table_names())
    assert {"calls", "stage_runs", "alembic_version"} <= tables
    engine.dispose()


def test_calls_roundtrip_and_constraints(db_url: str) -> None:
    upgrade(db_url)
    with session_scope(db_url) as db:
        call = _call("c-1", "a" * 64)
        call.stages.append(StageRun(stage="transcribe", status="done", attempts=1))
        db.add(call)
    with session_scope(db_url) as db:
        loaded = db.get(Call, "c-1")
        assert loaded is not None
        assert loaded.channel_map == ["agent", "customer"]
        assert loaded.stage("transcribe").status == "done"  # type: ignore[union-attr]
    with pytest.raises(IntegrityError), session_scope(db_url) as db:
        db.add(_call("c-2", "a" * 64))  # same audio hash
    with pytest.raises(IntegrityError), session_scope(db_url) as db:
        db.add(StageRun(call_id="c-1", stage="transcribe", status="running", attempts=0))
    with session_scope(db_url) as db:  # the failed transactions left nothing behind
        assert db.query(Call).count() == 1
        assert db.query(StageRun).count() == 1
        db.delete(db.get(Call, "c-1"))
    with session_scope(db_url) as db:
        assert db.query(StageRun).count() == 0


def test_processes_starting_together_migrate_once(db_url: str) -> None:
    """The API, workers and the CLI may all start on a fresh database at the same moment."""
    import subprocess
    import sys

    code = "import sys; from core.db import upgrade; upgrade(sys.argv[1])"
    procs = [subprocess.Popen([sys.executable, "-c", code, db_url], stderr=subprocess.PIPE,
                              text=True) for _ in range(4)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
    engine = create_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    engine.dispose()


def test_migrate_creates_the_sqlite_folder(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'not' / 'yet' / 'callqa.db'}"
    migrate(url)
    assert (tmp_path / "not" / "yet" / "callqa.db").exists()


def test_sessions_never_migrate_and_upgrade_runs_once(
        tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """The schema is the start-up's business: a session on a database nobody upgraded
    fails on the missing table; upgrade() migrates, and is a no-op the second time."""
    from core import db as core_db

    url = f"sqlite:///{tmp_path / 'callqa.db'}"
    with pytest.raises(OperationalError, match="no such table"), session_scope(url) as db:
        db.query(Call).count()
    upgrade(url)
    assert url in core_db._migrated
    with session_scope(url) as db:
        assert db.query(Call).count() == 0
    calls: list[str] = []
    monkeypatch.setattr(core_db, "migrate", calls.append)
    upgrade(url)
    assert calls == []  # already at head in this process: Alembic is not even loaded
