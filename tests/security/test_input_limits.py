"""Finding 5 (Medium): sidecar ids and field sizes; finding 8 (Medium): extreme dates and
NUL bytes gave 500s (and half-stored calls)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.db import Call, session_scope
from core.settings import get_settings
from core.storage import get_store
from ingest.service import ingest_paths, register_file
from tests.security.conftest import World, wav_bytes, write

EXTREME_DATES = ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-12:00")
BAD_SIDECARS = [
    {"call_id": "../calls/victim-1"},
    {"call_id": "a/b/c"},
    {"call_id": "x" * 10_000},
    {"agent_id": "a" * 5_000_000},
    {"agent_id": "agent\x00one"},
    {"started_at": EXTREME_DATES[0]},
    {"started_at": EXTREME_DATES[1]},
]


def _calls() -> int:
    with session_scope() as db:
        return int(db.scalar(select(func.count()).select_from(Call)) or 0)


@pytest.mark.parametrize("sidecar", BAD_SIDECARS, ids=lambda s: f"{next(iter(s))}-{len(str(s))}")
def test_a_bad_sidecar_is_refused_and_nothing_is_stored(
        db_url: str, tmp_path: Path, sidecar: dict[str, str]) -> None:
    """On SQLite and PostgreSQL (which refuses NUL in text)."""
    audio = write(tmp_path / "call.wav", wav_bytes(seed=11))
    audio.with_suffix(".json").write_text(json.dumps(sidecar), "utf-8")
    result = register_file(audio, get_settings(), get_store())
    assert result.outcome == "refused" and result.reason == "bad_metadata", result
    assert _calls() == 0
    assert not (get_settings().objects_dir / "calls").exists()
    originals = get_settings().objects_dir / "originals"
    assert not originals.exists() or not any(p.is_file() for p in originals.rglob("*"))


def test_a_bad_sidecar_does_not_crash_the_batch(settings: object, tmp_path: Path) -> None:
    """Earlier calls of the batch are processed, not left queued by a crash."""
    good = write(tmp_path / "a-good.wav", wav_bytes(seed=12))
    bad = write(tmp_path / "b-bad.wav", wav_bytes(seed=13))
    bad.with_suffix(".json").write_text(json.dumps({"started_at": EXTREME_DATES[0]}), "utf-8")
    summary = ingest_paths([good, bad], process=False)
    assert [r.outcome for r in summary.results] == ["accepted", "refused"]


def test_extreme_dates_and_nul_bytes_are_4xx_everywhere(fresh_world: World) -> None:
    w = fresh_world
    before = _calls()
    for value in EXTREME_DATES:
        up = w.client.post("/calls", headers=w.as_("qa"), data={"started_at": value,
                                                                "process": "false"},
                           files={"file": ("x.wav", wav_bytes(seed=21), "audio/wav")})
        assert up.status_code == 422, up.text
        for path, role in (("/search", "qa"), ("/trends", "manager"), ("/agents", "manager"),
                           ("/intents/collections/phrases", "manager"), ("/calls", "qa"),
                           ("/search/export", "qa"), ("/audit", "admin")):
            for name in ("date_from", "date_to", "since", "until"):
                r = w.client.get(path, params={name: value}, headers=w.as_(role))
                assert r.status_code < 500, (path, name, value, r.text)
        dry = w.client.post("/rules/dry-run", headers=w.as_("qa"), json={"date_from": value})
        assert dry.status_code < 500, dry.text
    mixed = w.client.get("/search", params={"date_from": "2026-01-01T00:00:00",
                                            "date_to": "2026-02-01T00:00:00+08:00"},
                         headers=w.as_("qa"))
    assert mixed.status_code == 200, mixed.text
    for field in ("agent_id", "team", "customer_id", "batch_id", "call_id", "channel_map"):
        up = w.client.post("/calls", headers=w.as_("qa"), data={field: "a\x00b",
                                                                "process": "false"},
                           files={"file": ("x.wav", wav_bytes(seed=22), "audio/wav")})
        assert 400 <= up.status_code < 500, (field, up.text)
    named = w.client.post("/calls", headers=w.as_("qa"), data={"process": "false"},
                          files={"file": ("a\x00b.wav", wav_bytes(seed=23), "audio/wav")})
    assert named.status_code == 201, named.text
    assert _calls() == before + 1
