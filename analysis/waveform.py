"""Waveform peaks for the call page's timeline: the loudest sample of each short bin, per
channel, computed once from the stored recording and kept next to the call's outputs.

A peak envelope (one number per 50 ms, no spectrum) carries no words, so it is no audio
in the sense of the roles table; still, roles that hear the toned copy (managers) get
the peaks with every bin touching a PII span set to the tone's level, so the picture
matches what they hear (`redacted_peaks`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.storage import ObjectStore, atomic_write

PEAKS_NAME = "peaks.json"
FULL_SCALE = 255  # peaks are stored as integers 0..255 of full scale


@dataclass(frozen=True)
class PeakOptions:
    bins_per_second: float = 20.0
    max_bins: int = 24_000  # per channel: calls over 20 min get wider bins
    sample_rate: int = 8000  # decode rate: an envelope needs no more
    version: int = 1  # bump when the computation changes: stored peaks are recomputed


def bin_seconds(duration: float, options: PeakOptions) -> float:
    return max(1.0 / options.bins_per_second, duration / options.max_bins)


def compute_peaks(samples: np.ndarray, sample_rate: int,
                  options: PeakOptions | None = None) -> dict[str, Any]:
    """{bin_s, duration, channels: [[0..255 per bin], ...]} of (channels, n) samples."""
    options = options or PeakOptions()
    n = samples.shape[1]
    duration = n / sample_rate
    bin_s = bin_seconds(duration, options)
    per_bin = max(1, round(bin_s * sample_rate))
    bins = -(-n // per_bin)
    padded = np.zeros((samples.shape[0], bins * per_bin), np.float32)
    padded[:, :n] = np.abs(samples)
    peaks = padded.reshape(samples.shape[0], bins, per_bin).max(axis=2) if bins else padded
    scaled = np.clip(np.rint(peaks * FULL_SCALE), 0, FULL_SCALE).astype(int)
    return {"version": options.version, "options": asdict(options), "bin_s": per_bin / sample_rate,
            "duration": round(duration, 3), "channels": scaled.tolist()}


def stream_peaks(path: Path, duration: float, options: PeakOptions | None = None
                 ) -> dict[str, Any]:
    """compute_peaks of a recording, decoded frame by frame: memory holds the peaks, never
    the samples (a four-hour call would be about a gigabyte of them). `duration` (the
    probed one) sets the bin width."""
    import av

    options = options or PeakOptions()
    rate = options.sample_rate
    per_bin = max(1, round(bin_seconds(duration, options) * rate))
    parts: list[np.ndarray] = []
    carry: np.ndarray | None = None
    total = 0

    def feed(block: np.ndarray) -> None:
        nonlocal carry, total
        total += block.shape[1]
        if carry is not None and carry.shape[1]:
            block = np.concatenate([carry, block], axis=1)
        full = block.shape[1] // per_bin * per_bin
        if full:
            parts.append(np.abs(block[:, :full]).reshape(block.shape[0], -1, per_bin).max(axis=2))
        carry = block[:, full:]

    with av.open(str(path), metadata_errors="ignore") as container:
        stream = container.streams.audio[0]
        channels = stream.codec_context.channels or 1
        resampler = av.AudioResampler(format="fltp", layout="stereo" if channels == 2 else "mono",
                                      rate=rate)
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                feed(out.to_ndarray().astype(np.float32))
        for out in resampler.resample(None):
            feed(out.to_ndarray().astype(np.float32))
    if carry is not None and carry.shape[1]:
        parts.append(np.abs(carry).max(axis=1, keepdims=True))
    width = 2 if channels == 2 else 1
    peaks = np.concatenate(parts, axis=1) if parts else np.zeros((width, 0), np.float32)
    scaled = np.clip(np.rint(peaks * FULL_SCALE), 0, FULL_SCALE).astype(int)
    return {"version": options.version, "options": asdict(options), "bin_s": per_bin / rate,
            "duration": round(total / rate, 3), "channels": scaled.tolist()}


def peaks_key(store: ObjectStore, call_id: str) -> str:
    return store.output_key(call_id, PEAKS_NAME)


def ensure_peaks(store: ObjectStore, call_id: str, original: Path, duration: float,
                 options: PeakOptions | None = None) -> dict[str, Any]:
    """The stored peaks of a call, computing and writing them (atomically) the first time
    or when they were made with other options."""
    options = options or PeakOptions()
    key = peaks_key(store, call_id)
    if store.exists(key):
        try:
            stored: dict[str, Any] = store.get_json(key)
            if stored.get("options") == asdict(options):
                return stored
        except (OSError, ValueError):
            pass  # unreadable: compute again
    data = stream_peaks(original, duration, options)
    body = json.dumps(data, separators=(",", ":")).encode()
    atomic_write(store.path(key), lambda fh: fh.write(body))
    return data


def redacted_peaks(channels: list[list[int]], bin_s: float, spans: list[tuple[float, float]],
                   tone_level: float) -> list[list[int]]:
    """Every bin touching a toned span shows the tone's level (what the toned copy
    sounds like there), on every channel."""
    level = round(tone_level * FULL_SCALE)
    out = [list(ch) for ch in channels]
    for start, end in spans:
        a = max(0, int(start / bin_s))
        b = int(np.ceil(end / bin_s))
        for ch in out:
            ch[a:min(b, len(ch))] = [level] * max(0, min(b, len(ch)) - a)
    return out


def merge_channels(channels: list[list[int]]) -> list[int]:
    """One envelope of several channels (the loudest per bin): for mono-processed calls."""
    if not channels:
        return []
    return np.max(np.array(channels, dtype=int), axis=0).tolist() if len(channels) > 1 else channels[0]
