"""The security corpus (issue 15): one probe per finding of the adversarial test, each
against the real API, database and decoder. The API fixtures are tests/api's."""

from __future__ import annotations

import struct
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, text

from core import db as core_db
from core.celery_app import configure_celery
from core.settings import reset_settings
from tests.api.conftest import World, fresh_world, world  # noqa: F401  (fixtures)

HTML = b"<html><script>fetch('/session').then(r=>r.text()).then(alert)</script></html>"


def wav_bytes(seconds: float = 2.0, seed: int = 0, rate: int = 8000, extra: bytes = b"",
              declared_rate: int | None = None) -> bytes:
    """A PCM WAV of noise; `extra` goes in an unknown chunk before the data (FFmpeg skips
    it); `declared_rate` lies in the header."""
    rng = np.random.default_rng(seed)
    data = rng.normal(0, 3000, int(rate * seconds)).astype("<i2").tobytes()
    hdr_rate = declared_rate or rate
    fmt = struct.pack("<HHIIHH", 1, 1, hdr_rate, hdr_rate * 2, 2, 16)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    if extra:
        pad = b"\0" if len(extra) % 2 else b""
        chunks += b"junk" + struct.pack("<I", len(extra)) + extra + pad
    chunks += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def write(path: Path, body: bytes) -> Path:
    path.write_bytes(body)
    return path


__all__ = ["HTML", "World", "db_url", "wav_bytes", "write"]


PG_ADMIN = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh data dir on SQLite, or a private schema on the real PostgreSQL server, as
    CALLQA_DATABASE_URL."""
    monkeypatch.setenv("CALLQA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CALLQA_BROKER_URL", raising=False)
    schema = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'data' / 'callqa.db'}"
    else:
        schema = f"t_{uuid.uuid4().hex[:10]}"
        admin = create_engine(PG_ADMIN)
        try:
            with admin.begin() as conn:
                conn.execute(text(f"CREATE SCHEMA {schema}"))
        except Exception as exc:  # the server is part of the test environment
            pytest.fail(f"PostgreSQL at 127.0.0.1:5432 is not reachable: {exc}")
        url = f"{PG_ADMIN}?options=-csearch_path%3D{schema}"
    monkeypatch.setenv("CALLQA_DATABASE_URL", url)
    reset_settings()
    core_db._migrated.clear()
    configure_celery()
    core_db.upgrade()
    yield url
    core_db.get_engine(url).dispose()
    if schema is not None:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
    reset_settings()
    configure_celery()
