"""Shared fixtures: an isolated data dir per test, real rendered calls, a real tiny model."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from core import db as core_db
from core.celery_app import configure_celery
from core.settings import Settings, get_settings, reset_settings

# Tests use the smallest packaged model; the demo and benchmarks use base.
os.environ.setdefault("CALLQA_ASR_MODEL", "tiny.en")
os.environ.pop("CALLQA_BROKER_URL", None)
os.environ.pop("CALLQA_ELASTICSEARCH_URL", None)

# Markers follow from what a test uses, so a new test gets them without anyone
# remembering: `pytest -m "not slow"` is the fast loop, `-m "not postgres and not redis"`
# runs without the servers. Tests that are slow or need a server without one of
# these fixtures carry the marker themselves.
SLOW_FIXTURES = {"rendered_dir", "tiny_base", "tiny_pt", "checkpoint", "engine", "two_renders"}
REDIS_FIXTURES = {"broker", "redis_url", "cluster"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & SLOW_FIXTURES:
            item.add_marker(pytest.mark.slow)
        if used & REDIS_FIXTURES:
            item.add_marker(pytest.mark.redis)
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "postgresql" in callspec.params.values():
            item.add_marker(pytest.mark.postgres)


# The dialogues rendered once per test session (short, varied: hold, overtalk, violations).
RENDERED = ["en-01-repayment-amount-due-date", "en-10-collections-threat-abrupt-end",
            "en-17-balance-read-before-verification"]


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """A fresh CALLQA_DATA_DIR (SQLite, objects, index) and in-process tasks."""
    monkeypatch.setenv("CALLQA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CALLQA_DATABASE_URL", raising=False)
    monkeypatch.delenv("CALLQA_BROKER_URL", raising=False)
    reset_settings()
    core_db._migrated.clear()
    configure_celery()
    core_db.upgrade()  # what every start-up path does before touching the database
    yield get_settings()
    reset_settings()
    configure_celery()


@pytest.fixture(scope="session")
def rendered_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real telephone audio from festival voices, with ground truth."""
    if shutil.which("text2wave") is None:
        pytest.fail("festival is not installed: run scripts/bootstrap.sh --dev")
    from samples import DIALOGUES_DIR
    from samples.dialogue import load_dialogue
    from samples.render import render_all

    out = tmp_path_factory.mktemp("rendered")
    dialogues = [load_dialogue(DIALOGUES_DIR / "en" / f"{d}.yaml") for d in RENDERED]
    render_all(dialogues, out)
    return out


@pytest.fixture
def rendered(rendered_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the rendered calls (tests may add sidecars or break files)."""
    copy = tmp_path / "calls"
    shutil.copytree(rendered_dir, copy)
    return copy


def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
