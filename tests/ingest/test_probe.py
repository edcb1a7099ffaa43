"""ingest.probe.probe on real files encoded here with PyAV and the stdlib wave module."""

from __future__ import annotations

import math
import wave
from pathlib import Path

import av
import numpy as np
import pytest

from ingest.probe import AudioRejected, ProbeResult, probe


def signal(rate: int, seconds: float, channels: int, seed: int = 0) -> np.ndarray:
    """A 440 Hz tone plus a little noise, (channels, samples) float in [-1, 1]."""
    t = np.arange(int(rate * seconds)) / rate
    rng = np.random.default_rng(seed)
    rows = [0.3 * np.sin(2 * np.pi * (440 + 110 * c) * t) + 0.02 * rng.normal(size=t.size)
            for c in range(channels)]
    return np.clip(np.array(rows), -1, 1)


def encode(path: Path, codec: str, rate: int, channels: int, seconds: float = 2.0,
           fmt: str | None = None) -> Path:
    """Encode `signal` with PyAV (FFmpeg); the encoder picks its own sample format."""
    layout = "stereo" if channels == 2 else "mono"
    audio = signal(rate, seconds, channels)
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        if codec.startswith("pcm_") or codec == "flac":
            pcm = (audio * 32767).astype(np.int16).T.reshape(1, -1).copy()
            frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout=layout)
        else:
            frame = av.AudioFrame.from_ndarray(audio.astype(np.float32), format="fltp",
                                               layout=layout)
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def write_wav(path: Path, samples: np.ndarray, rate: int = 8000, channels: int = 1) -> Path:
    """16-bit PCM WAV with the stdlib; `samples` is float, interleaved if stereo."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def tone_wav(path: Path, seconds: float, rate: int = 8000) -> Path:
    return write_wav(path, signal(rate, seconds, 1)[0], rate)


def rejected(path: Path) -> AudioRejected:
    with pytest.raises(AudioRejected) as info:
        probe(path)
    assert path.name in str(info.value), "the message must name the file"
    return info.value


# Accepted formats ----------------------------------------------------------------------

ACCEPTED = [
    # name, codec, container format, rate, channels, expected codec names
    ("pcm16.wav", "pcm_s16le", "wav", 16000, 1, {"pcm_s16le"}),
    ("mulaw.wav", "pcm_mulaw", "wav", 8000, 2, {"pcm_mulaw"}),
    ("mulaw-mono.wav", "pcm_mulaw", "wav", 8000, 1, {"pcm_mulaw"}),
    ("call.flac", "flac", "flac", 44100, 2, {"flac"}),
    ("call.mp3", "libmp3lame", "mp3", 44100, 1, {"mp3", "mp3float"}),
    ("call.ogg", "libopus", "ogg", 48000, 2, {"opus", "libopus"}),
    ("call.opus", "libopus", "opus", 48000, 1, {"opus", "libopus"}),
]


@pytest.mark.parametrize(("name", "codec", "fmt", "rate", "channels", "codec_names"), ACCEPTED,
                         ids=[a[0] for a in ACCEPTED])
def test_accepts_common_formats(tmp_path: Path, name: str, codec: str, fmt: str, rate: int,
                                channels: int, codec_names: set[str]) -> None:
    seconds = 2.5
    path = encode(tmp_path / name, codec, rate, channels, seconds, fmt)
    info = probe(path)
    assert isinstance(info, ProbeResult)
    # Lossy codecs add a frame or so of priming/padding; PCM and FLAC are exact.
    tolerance = 0.01 if codec.startswith("pcm_") or codec == "flac" else 0.1
    assert info.duration == pytest.approx(seconds, abs=tolerance)
    assert info.channels == channels
    assert info.sample_rate == rate
    assert info.codec in codec_names
    assert info.container
    # A 0.3-amplitude tone: about -10 dBFS peak, -13 dBFS RMS; far from the silence floor.
    assert -20 < info.loudest_window_dbfs <= info.peak_dbfs <= 0


def test_stdlib_wave_file(tmp_path: Path) -> None:
    path = tone_wav(tmp_path / "tone.wav", 3.0, rate=8000)
    info = probe(path)
    assert (info.duration, info.channels, info.sample_rate, info.codec) == (
        pytest.approx(3.0, abs=0.01), 1, 8000, "pcm_s16le")
    assert info.container == "wav"


def test_suffix_does_not_matter(tmp_path: Path) -> None:
    """The decoder looks at the bytes, not the name: FLAC called .bin is still FLAC."""
    path = encode(tmp_path / "call.flac", "flac", 16000, 1, 2.0, "flac")
    renamed = path.rename(tmp_path / "recording.bin")
    info = probe(renamed)
    assert info.codec == "flac"
    assert info.duration == pytest.approx(2.0, abs=0.01)


def test_levels_follow_the_signal(tmp_path: Path) -> None:
    """A quieter copy of the same tone reports lower levels, by the gain applied."""
    t = np.arange(8000 * 2) / 8000
    loud = write_wav(tmp_path / "loud.wav", 0.5 * np.sin(2 * np.pi * 440 * t))
    quiet = write_wav(tmp_path / "quiet.wav", 0.05 * np.sin(2 * np.pi * 440 * t))
    a, b = probe(loud), probe(quiet)
    assert a.peak_dbfs == pytest.approx(20 * math.log10(0.5), abs=0.5)
    assert a.loudest_window_dbfs - b.loudest_window_dbfs == pytest.approx(20.0, abs=0.5)


def test_all_zero_wav_is_minus_infinity(tmp_path: Path) -> None:
    """probe itself accepts digital silence; the silence figure is -inf (ingest refuses it)."""
    path = write_wav(tmp_path / "zero.wav", np.zeros(8000 * 3))
    info = probe(path)
    assert info.duration == pytest.approx(3.0, abs=0.01)
    assert info.loudest_window_dbfs == -math.inf
    assert info.peak_dbfs == -math.inf


def test_short_click_is_not_loud(tmp_path: Path) -> None:
    """One full-scale sample in silence: peak 0 dBFS, but no 100 ms window is loud."""
    samples = np.zeros(8000 * 2)
    samples[8000] = 1.0
    info = probe(write_wav(tmp_path / "click.wav", samples))
    assert info.peak_dbfs == pytest.approx(0.0, abs=0.01)
    assert info.loudest_window_dbfs < -25


# Refusals ---------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AudioRejected) as info:
        probe(tmp_path / "nope.wav")
    assert info.value.reason == "not_found"


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    assert rejected(path).reason == "empty"


def test_text_file_renamed_wav(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("call notes: customer asked about the balance\n" * 40, "utf-8")
    assert rejected(path).reason == "not_audio"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_bytes_mp3(tmp_path: Path, seed: int) -> None:
    path = tmp_path / f"random-{seed}.mp3"
    path.write_bytes(np.random.default_rng(seed).bytes(20_000))
    assert rejected(path).reason in {"not_audio", "corrupt"}


def test_header_only_wav_has_no_samples(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "header.wav", np.zeros(0))
    assert rejected(path).reason == "no_samples"


def test_video_only_container(tmp_path: Path) -> None:
    path = tmp_path / "screen.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(10):
            image = np.full((48, 64, 3), i * 20, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    assert rejected(path).reason == "no_audio_stream"


def test_truncated_mp3(tmp_path: Path) -> None:
    """The Xing header declares the full length; 40% of the bytes decode to ~40% of it."""
    path = encode(tmp_path / "full.mp3", "libmp3lame", 16000, 1, 10.0, "mp3")
    cut = tmp_path / "cut.mp3"
    data = path.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.4)])
    error = rejected(cut)
    assert error.reason == "truncated"
    assert "10.0 s" in str(error)


def test_truncated_flac_is_refused(tmp_path: Path) -> None:
    path = encode(tmp_path / "full.flac", "flac", 16000, 1, 10.0, "flac")
    cut = tmp_path / "cut.flac"
    data = path.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.4)])
    assert rejected(cut).reason in {"truncated", "corrupt"}


def test_truncated_mulaw_wav(tmp_path: Path) -> None:
    """G.711 WAV carries a `fact` chunk with the sample count: a cut file is caught."""
    path = encode(tmp_path / "full.wav", "pcm_mulaw", 8000, 2, 10.0, "wav")
    cut = tmp_path / "cut.wav"
    data = path.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.4)])
    error = rejected(cut)
    assert error.reason == "truncated"


@pytest.mark.parametrize("writer", ["pyav", "wave"])
def test_truncated_pcm_wav(tmp_path: Path, writer: str) -> None:
    if writer == "pyav":
        path = encode(tmp_path / "full.wav", "pcm_s16le", 8000, 1, 10.0, "wav")
    else:
        path = tone_wav(tmp_path / "full.wav", 10.0)
    cut = tmp_path / "cut.wav"
    data = path.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.4)])
    assert rejected(cut).reason == "truncated"


def test_untruncated_wav_is_not_called_truncated(tmp_path: Path) -> None:
    """The counterpart of the above: the full 10 s file is accepted with its full length."""
    path = encode(tmp_path / "full.wav", "pcm_mulaw", 8000, 1, 10.0, "wav")
    assert probe(path).duration == pytest.approx(10.0, abs=0.01)
