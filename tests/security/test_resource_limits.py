"""Finding 7 (Medium): resource amplification: a tiny FLAC claiming hours, a WAV header
claiming 1 Hz, and reprocess requests never de-duplicated."""

from __future__ import annotations

import time
from pathlib import Path

import av
import numpy as np
import pytest

from core.settings import get_settings, reset_settings
from core.storage import get_store
from ingest.probe import AudioRejected, probe
from ingest.service import register_file
from tests.security.conftest import World, wav_bytes, write


def flac_bomb(path: Path, seconds: float, rate: int = 8000) -> Path:
    """Digital silence (a few bytes per 65,535-sample FLAC frame) after half a second of
    noise: over a thousand seconds in a few kilobytes."""
    block = 65535
    with av.open(str(path), "w", format="flac") as out:
        stream = out.add_stream("flac", rate=rate, layout="mono",
                                options={"frame_size": str(block)})
        rng = np.random.default_rng(0)
        for n in range(int(seconds * rate) // block):
            chunk = np.zeros(block)
            if n == 0:
                chunk[:rate // 2] = rng.normal(0, 3000, rate // 2)
            chunk = chunk.astype("<i2")
            frame = av.AudioFrame.from_ndarray(chunk[None, :], format="s16", layout="mono")
            frame.sample_rate = rate
            frame.pts = n * block
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def test_a_tiny_file_claiming_long_audio_is_refused_before_decoding(tmp_path: Path) -> None:
    bomb = flac_bomb(tmp_path / "bomb.flac", 3600)
    assert bomb.stat().st_size / 3600 < 50  # bytes per second of audio
    started = time.perf_counter()
    with pytest.raises(AudioRejected) as err:
        probe(bomb)
    assert err.value.reason == "implausible"
    assert time.perf_counter() - started < 1.0  # refused by the header, not decoded


def test_a_header_claiming_1_hz_is_refused_at_once(tmp_path: Path) -> None:
    for rate in (1, 7, 1_000_000):
        odd = write(tmp_path / f"rate{rate}.wav", wav_bytes(seconds=2, declared_rate=rate))
        started = time.perf_counter()
        with pytest.raises(AudioRejected) as err:
            probe(odd)
        assert err.value.reason == "unsupported" and "sample rate" in str(err.value)
        assert time.perf_counter() - started < 1.0


def test_decoding_stops_at_the_duration_limit(settings: object, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLQA_MAX_DURATION_S", "5")
    reset_settings()
    long = write(tmp_path / "long.wav", wav_bytes(seconds=12, seed=5))
    with pytest.raises(AudioRejected) as err:
        probe(long, max_duration_s=5)
    assert err.value.reason == "too_long"
    result = register_file(long, get_settings(), get_store())
    assert result.outcome == "refused" and result.reason == "too_long"


def test_reprocess_is_refused_while_one_is_queued_or_running(fresh_world: World) -> None:
    w = fresh_world
    call = w.calls[0]
    # No broker in tests: the first runs in the background of its response. Hold it
    # queued by making the runner a no-op, as a worker that has not picked it up yet.
    import api.routes.calls as calls_routes

    calls_routes_run = calls_routes._run_pipeline
    calls_routes._run_pipeline = lambda call_id, stage: None  # type: ignore[assignment]
    try:
        first = w.client.post(f"/calls/{call}/reprocess", headers=w.as_("qa"),
                              json={"from_stage": "analyze"})
        assert first.status_code == 202, first.text
        for _ in range(5):
            again = w.client.post(f"/calls/{call}/reprocess", headers=w.as_("qa"),
                                  json={"from_stage": "transcribe"})
            assert again.status_code == 409, again.text
            assert again.json()["error"]["code"] == "reprocess_pending"
    finally:
        calls_routes._run_pipeline = calls_routes_run  # type: ignore[assignment]
    other = w.client.post(f"/calls/{w.calls[1]}/reprocess", headers=w.as_("qa"),
                          json={"from_stage": "index"})
    assert other.status_code == 202, other.text
    done = w.client.post(f"/calls/{w.calls[1]}/reprocess", headers=w.as_("qa"),
                         json={"from_stage": "index"})
    assert done.status_code == 202, done.text  # the first one has finished by now
