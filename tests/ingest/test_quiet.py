"""Quiet speech is not silence: a recording is refused only when nothing in it stands
out of its floor, and the refusal says what was measured."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from core.settings import Settings
from ingest.probe import AudioRejected, probe
from ingest.service import _check_limits


def _wav(path: Path, x: np.ndarray, rate: int = 8000) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def test_quiet_speech_is_accepted_and_hiss_is_not(tmp_path: Path, settings: Settings) -> None:
    rate = 8000
    t = np.arange(6 * rate) / rate
    rng = np.random.default_rng(0)
    # Syllable-like bursts (4 per second) 62 dB below full scale over a -90 dB floor.
    bursts = np.sin(2 * np.pi * 300 * t) * (np.sin(2 * np.pi * 2 * t) > 0.3)
    quiet = 10 ** (-59 / 20) * bursts + 10 ** (-90 / 20) * rng.standard_normal(len(t))
    info = probe(_wav(tmp_path / "quiet.wav", quiet))
    assert info.loudest_window_dbfs < settings.silence_dbfs  # the old rule refused it
    _check_limits(tmp_path / "quiet.wav", info, settings)    # accepted now
    hiss = 10 ** (-62 / 20) * rng.standard_normal(len(t))
    path = _wav(tmp_path / "hiss.wav", hiss)
    with pytest.raises(AudioRejected) as refused:
        _check_limits(path, probe(path), settings)
    assert refused.value.reason == "silent"
    message = str(refused.value)
    assert "no detectable speech" in message and "dBFS" in message and "above the" in message
