"""Every common call format decodes to 16 kHz float per channel, with its content intact."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from tests.conftest import RENDERED
from transcribe.audio import SAMPLE_RATE, decode_audio

# (container format, suffix, codec, sample rate, channels) as switches and phones record them.
FORMATS = [
    ("wav", ".wav", "pcm_alaw", 8000, 2),
    ("mp3", ".mp3", "libmp3lame", 16000, 1),
    ("ipod", ".m4a", "aac", 16000, 2),
    ("flac", ".flac", "flac", 8000, 2),
    ("ogg", ".ogg", "libopus", 48000, 1),
    ("amr", ".amr", "libopencore_amrnb", 8000, 1),
]


def _encode(samples: np.ndarray, rate: int, path: Path, fmt: str, codec: str) -> None:
    layout = "stereo" if samples.shape[0] == 2 else "mono"
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        if codec == "libopencore_amrnb":
            stream.bit_rate = 12200
        resampler = av.AudioResampler(format=stream.codec_context.format.name, layout=layout,
                                      rate=rate)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples, np.float32),
                                           format="fltp", layout=layout)
        frame.sample_rate = SAMPLE_RATE
        for converted in resampler.resample(frame) + resampler.resample(None):
            for packet in stream.encode(converted):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def _envelope(x: np.ndarray) -> np.ndarray:
    frame = SAMPLE_RATE // 50
    n = len(x) // frame
    return np.sqrt((x[: n * frame].reshape(n, frame) ** 2).mean(axis=1))


@pytest.mark.parametrize(("fmt", "suffix", "codec", "rate", "channels"), FORMATS)
def test_decodes_with_content_intact(fmt: str, suffix: str, codec: str, rate: int, channels: int,
                                     rendered_dir: Path, tmp_path: Path) -> None:
    source = decode_audio(rendered_dir / "stereo" / f"{RENDERED[2]}.wav")
    clip = source.samples[:, : 20 * SAMPLE_RATE]
    clip = clip if channels == 2 else clip.mean(axis=0, keepdims=True)
    path = tmp_path / f"call{suffix}"
    _encode(clip, rate, path, fmt, codec)

    decoded = decode_audio(path)
    assert decoded.sample_rate == SAMPLE_RATE and decoded.channels == channels
    assert decoded.samples.dtype == np.float32
    assert abs(decoded.duration - 20.0) < 0.2, decoded.duration
    # Lossy codecs change samples, not the speech: loudness envelopes move together
    # (a codec's priming delay is allowed for).
    for ch in range(channels):
        ref, got = _envelope(clip[ch]), _envelope(decoded.samples[ch])
        n = min(len(ref), len(got)) - 10
        best = max(float(np.corrcoef(ref[:n], got[lag: lag + n])[0, 1]) for lag in range(5))
        assert best > 0.9, (codec, ch, best)
