"""A real API over a real data dir: calls registered from real (synthetic) audio, their
transcripts the scripted dialogues, analysed and indexed by the real stage code."""

from __future__ import annotations

import json
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from analysis.tasks import analyze_calls
from api.app import create_app
from api.keys import create_key
from core import db as core_db
from core.celery_app import configure_celery
from core.db import session_scope
from core.pipeline import StageContext, run_now
from core.settings import get_settings, reset_settings
from core.storage import get_store
from ingest.service import register_file
from samples import DIALOGUES_DIR
from samples.dialogue import load_dialogue, scripted_transcript
from search.tasks import index_calls

# Varied: a critical threat, account details before verification, a clean call, Chinese
# calls with a threat and a third-party disclosure.
SEEDED = ["en-10-collections-threat-abrupt-end", "en-17-balance-read-before-verification",
          "en-01-repayment-amount-due-date", "zh-10-collection-threat-lawsuit",
          "zh-11-wife-answers-debt-disclosed", "en-09-wrong-number-clean"]
ROLES = ("qa", "manager", "crm", "admin")


def write_wav(path: Path, seconds: float = 2.0, seed: int = 0, channels: int = 1) -> Path:
    """Noise that is not silent: real audio the probe accepts, unique per seed."""
    rng = np.random.default_rng(seed)
    samples = (rng.normal(0, 3000, (int(8000 * seconds), channels))).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(samples.tobytes())
    return path


def seed_call(dialogue_id: str, folder: Path, seed: int) -> str:
    """Register a call with the dialogue's metadata, store its scripted transcript as the
    transcribe stage's output, then analyse and index it with the stage code."""
    lang = dialogue_id.split("-", 1)[0]
    dialogue = load_dialogue(DIALOGUES_DIR / lang / f"{dialogue_id}.yaml")
    audio = write_wav(folder / f"{dialogue_id}.wav", seed=seed)
    meta = dialogue.metadata(None)
    audio.with_suffix(".json").write_text(json.dumps(meta), "utf-8")
    settings = get_settings()
    result = register_file(audio, settings, get_store())
    assert result.outcome == "accepted", result.message
    store = get_store()

    def scripted(ctxs: list[StageContext]) -> dict[str, BaseException]:
        transcript = scripted_transcript(dialogue)
        key = store.put_json(store.output_key(dialogue.id, "transcript.json"),
                             transcript.model_dump(mode="json"))
        ctxs[0].done(key, "script-1")
        return {}

    run_now(dialogue.id, "transcribe", scripted)
    run_now(dialogue.id, "analyze", analyze_calls)
    run_now(dialogue.id, "index", index_calls)
    return dialogue.id


@dataclass
class World:
    client: TestClient
    keys: dict[str, str]
    calls: list[str]
    data_dir: Path
    extra: dict[str, str] = field(default_factory=dict)

    def as_(self, role: str | None) -> dict[str, str]:
        return {"X-API-Key": self.keys[role]} if role else {}


def _env(monkeypatch: pytest.MonkeyPatch, data_dir: Path, **env: str) -> None:
    monkeypatch.setenv("CALLQA_DATA_DIR", str(data_dir))
    monkeypatch.delenv("CALLQA_DATABASE_URL", raising=False)
    monkeypatch.delenv("CALLQA_BROKER_URL", raising=False)
    monkeypatch.delenv("CALLQA_WEBHOOK_URLS", raising=False)
    monkeypatch.delenv("CALLQA_RULES_PATH", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_settings()
    core_db._migrated.clear()
    configure_celery()
    core_db.upgrade()


def build_world(tmp: Path, calls: list[str]) -> World:
    data_dir = tmp / "data"
    folder = tmp / "audio"
    folder.mkdir(parents=True, exist_ok=True)
    ids = [seed_call(d, folder, n) for n, d in enumerate(calls)]
    keys = {}
    with session_scope() as db:
        for role in ROLES:
            keys[role] = create_key(db, f"test-{role}", role)[1]
    client = TestClient(create_app(), raise_server_exceptions=False)
    return World(client, keys, ids, data_dir)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Shared by a module's read-mostly tests: seeded once."""
    tmp = tmp_path_factory.mktemp("api")
    with pytest.MonkeyPatch.context() as mp:
        _env(mp, tmp / "data")
        w = build_world(tmp, SEEDED)
        with w.client:
            yield w
    reset_settings()
    configure_celery()


@pytest.fixture
def fresh_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """A private world for tests that change things (two calls)."""
    _env(monkeypatch, tmp_path / "data")
    w = build_world(tmp_path, SEEDED[:2])
    with w.client:
        yield w
    # The environment back first: settings re-read before it would keep this world's data
    # dir cached for the module-scoped `world` of the tests that follow.
    monkeypatch.undo()
    reset_settings()
    configure_celery()
