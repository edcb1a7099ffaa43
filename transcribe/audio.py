"""Decode any common call format to 16 kHz float32, one row per channel."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

SAMPLE_RATE = 16000


@dataclass
class DecodedAudio:
    samples: np.ndarray  # (channels, n) float32 in [-1, 1]
    sample_rate: int = SAMPLE_RATE

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration(self) -> float:
        return self.samples.shape[1] / self.sample_rate

    def mono(self) -> np.ndarray:
        return self.samples.mean(axis=0).astype(np.float32)


def decode_audio(path: Path | str, sample_rate: int = SAMPLE_RATE) -> DecodedAudio:
    with av.open(str(path), metadata_errors="ignore") as container:
        stream = container.streams.audio[0]
        channels = stream.codec_context.channels or 1
        layout = "stereo" if channels == 2 else "mono"
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=sample_rate)
        chunks = [out.to_ndarray() for frame in container.decode(stream)
                  for out in resampler.resample(frame)]
        chunks += [out.to_ndarray() for out in resampler.resample(None)]
    if not chunks:
        return DecodedAudio(np.zeros((channels if channels <= 2 else 1, 0), np.float32), sample_rate)
    return DecodedAudio(np.concatenate(chunks, axis=1).astype(np.float32), sample_rate)
