"""Finding 3 (High): the same file posted 20 times at once lost stored audio."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from core.db import Call, session_scope
from core.settings import get_settings
from core.storage import get_store, sha256_file
from ingest.service import IngestResult, register_file
from ingest.transcripts import register_transcript
from tests.security.conftest import wav_bytes, write

RACERS = 20


def _race(files: list[Path], register: Callable[..., IngestResult] = register_file
          ) -> list[IngestResult]:
    settings, store = get_settings(), get_store()
    gate = threading.Barrier(len(files))
    results: list[IngestResult | BaseException] = [RuntimeError("not run")] * len(files)

    def one(n: int) -> None:
        gate.wait()
        try:
            results[n] = register(files[n], settings, store)
        except BaseException as exc:  # a 500 in the API
            results[n] = exc

    threads = [threading.Thread(target=one, args=(n,)) for n in range(len(files))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors[:3]
    return [r for r in results if isinstance(r, IngestResult)]


def test_twenty_simultaneous_copies_register_once_and_keep_the_audio(
        db_url: str, tmp_path: Path) -> None:
    source = write(tmp_path / "same.wav", wav_bytes(seed=3))
    files = []
    for n in range(RACERS):  # each request spools its own copy, as the API does
        (tmp_path / f"r{n}").mkdir()
        files.append(Path(shutil.copy(source, tmp_path / f"r{n}" / "same.wav")))
    results = _race(files)
    outcomes = sorted(r.outcome for r in results)
    assert outcomes == ["accepted"] + ["duplicate"] * (RACERS - 1), outcomes
    assert len({r.call_id for r in results}) == 1
    with session_scope() as db:
        calls = list(db.scalars(select(Call)))
    assert len(calls) == 1
    path = get_store().path(calls[0].audio_key)
    assert path.is_file() and sha256_file(path) == sha256_file(source)


def test_same_audio_under_the_same_id_is_a_duplicate_not_call_id_taken(
        db_url: str, tmp_path: Path) -> None:
    source = write(tmp_path / "same.wav", wav_bytes(seed=4))
    files = []
    for n in range(8):
        folder = tmp_path / f"r{n}"
        folder.mkdir()
        files.append(Path(shutil.copy(source, folder / "same.wav")))
        (folder / "same.json").write_text('{"call_id": "race-1"}', "utf-8")
    results = _race(files)
    assert sorted(r.outcome for r in results) == ["accepted"] + ["duplicate"] * 7
    assert {r.call_id for r in results} == {"race-1"}
    with session_scope() as db:
        call = db.get(Call, "race-1")
        assert call is not None
        assert get_store().path(call.audio_key).is_file()


def test_simultaneous_copies_of_one_transcript_register_once_and_keep_it(
        db_url: str, tmp_path: Path) -> None:
    """Transcript import follows the same order: row first, files after, no delete on a loss."""
    doc = {"metadata": {"call_id": "t-race"}, "utterances": [
        {"speaker": "A", "role": "agent", "start": 0.0, "end": 1.5, "text": "Hello, how can I help?"},
        {"speaker": "B", "role": "customer", "start": 1.8, "end": 3.0, "text": "My card was charged twice."}]}
    files = []
    for n in range(RACERS):
        (tmp_path / f"r{n}").mkdir()
        path = tmp_path / f"r{n}" / "same.json"
        path.write_text(json.dumps(doc), "utf-8")
        files.append(path)
    results = _race(files, register_transcript)
    assert sorted(r.outcome for r in results) == ["accepted"] + ["duplicate"] * (RACERS - 1)
    with session_scope() as db:
        call = db.get(Call, "t-race")
        assert call is not None
        assert get_store().path(call.audio_key).is_file()
        assert get_store().path(call.stages[0].output_key).is_file()
