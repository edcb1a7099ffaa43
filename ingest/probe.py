"""Probe a recording with a real decoder (PyAV, i.e. FFmpeg's libraries).

The whole stream is decoded once: that is the only way to catch truncated or
corrupt files and silent recordings before anything is stored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np


class AudioRejected(Exception):
    """The file cannot be accepted; `reason` is a stable code, the message says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class ProbeResult:
    duration: float
    channels: int
    sample_rate: int
    codec: str
    container: str
    peak_dbfs: float
    loudest_window_dbfs: float
    floor_dbfs: float = -math.inf  # the quiet 10% of 100 ms windows: the line's noise floor


def _dbfs(value: float) -> float:
    return 20 * math.log10(value) if value > 0 else -math.inf


def probe(path: Path, window_s: float = 0.1) -> ProbeResult:
    if not path.is_file():
        raise AudioRejected("not_found", f"{path}: no such file")
    if path.stat().st_size == 0:
        raise AudioRejected("empty", f"{path.name}: file is empty (0 bytes)")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.InvalidDataError, av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise AudioRejected("not_audio", f"{path.name}: not a readable audio file ({exc})") from exc
    with container:
        if not container.streams.audio:
            raise AudioRejected("no_audio_stream", f"{path.name}: contains no audio stream")
        stream = container.streams.audio[0]
        declared = _declared_duration(container, stream)
        ctx = stream.codec_context
        codec = ctx.name
        sample_rate = int(ctx.sample_rate or 0)
        channels = int(ctx.channels or 0)
        if not sample_rate or not channels:
            raise AudioRejected("unsupported", f"{path.name}: codec {codec!r} has no usable format")
        samples = 0
        loudest = 0.0
        peak = 0.0
        window = max(1, int(sample_rate * window_s))
        # Float planar at the native rate: levels are comparable whatever the codec.
        resampler = av.AudioResampler(format="fltp", rate=sample_rate)
        pending = np.zeros(0, dtype=np.float32)
        windows: list[np.ndarray] = []
        try:
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    level = np.abs(out.to_ndarray()).max(axis=0)
                    samples += out.samples
                    peak = max(peak, float(level.max(initial=0.0)))
                    # RMS over fixed windows: a click is not speech, a window of it is.
                    pending = np.concatenate([pending, level])
                    usable = (len(pending) // window) * window
                    if usable:
                        rms = np.sqrt((pending[:usable].reshape(-1, window) ** 2).mean(axis=1))
                        loudest = max(loudest, float(rms.max()))
                        windows.append(rms.astype(np.float32))
                        pending = pending[usable:]
        except (av.error.FFmpegError, ValueError) as exc:
            raise AudioRejected("corrupt", f"{path.name}: audio data is corrupt ({exc})") from exc
        if len(pending):
            loudest = max(loudest, float(np.sqrt((pending**2).mean())))
        container_name = container.format.name
    duration = samples / sample_rate
    if samples == 0:
        raise AudioRejected("no_samples", f"{path.name}: audio stream holds no samples")
    shortfall = _riff_data_shortfall(path)
    if shortfall is not None and shortfall[1] < shortfall[0] * 0.98:
        raise AudioRejected(
            "truncated",
            f"{path.name}: truncated: the WAV header declares {shortfall[0]} bytes of audio, "
            f"{shortfall[1]} are present")
    if declared and duration < declared * 0.9 - 0.5:
        raise AudioRejected(
            "truncated",
            f"{path.name}: truncated: header says {declared:.1f} s, only {duration:.1f} s decode",
        )
    return ProbeResult(
        duration=round(duration, 3),
        channels=channels,
        sample_rate=sample_rate,
        codec=codec,
        container=container_name,
        peak_dbfs=_dbfs(peak),
        loudest_window_dbfs=_dbfs(loudest),
        floor_dbfs=_dbfs(float(np.percentile(np.concatenate(windows), 10))) if windows
        else -math.inf,
    )


def _riff_data_shortfall(path: Path) -> tuple[int, int] | None:
    """(declared, present) bytes of a WAV's data chunk; None if not a RIFF WAV.

    FFmpeg derives a PCM WAV's duration from the file size, so a cut file looks
    whole to it; the data chunk's own size field still says how long it was.
    """
    import struct

    with path.open("rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        size = path.stat().st_size
        while True:
            chunk = fh.read(8)
            if len(chunk) < 8:
                return None
            cid, length = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if cid == b"data":
                if length in (0, 0xFFFFFFFF):  # streamed WAV: size unknown, nothing to check
                    return None
                return length, size - fh.tell()
            fh.seek(length + (length & 1), 1)


def _declared_duration(container: av.container.InputContainer, stream: av.audio.AudioStream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0
