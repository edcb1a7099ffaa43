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


# Telephone audio is 8 kHz, wideband 16 kHz, studio gear up to 192 kHz. Outside that a
# header lies (a 1 Hz WAV made the probe crawl for 35 s), so it is refused before decoding.
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 4000, 192_000
# No speech codec goes below ~600 bytes a second (AMR-NB 4.75 kbit/s; with DTX silence
# ~30 B/s). A file far under this is a decompression bomb (67 KB of FLAC claiming 3.9 h).
MIN_BYTES_PER_S = 50.0
BOMB_MIN_S = 600.0  # judged only for recordings longer than this


def probe(path: Path, window_s: float = 0.1, max_duration_s: float | None = None
          ) -> ProbeResult:
    """Decode the whole stream once (levels, true duration). With `max_duration_s`, a
    header claiming more is refused before decoding, and decoding stops (too_long) as
    soon as the samples pass it: time and memory stay bounded whatever the header says."""
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
        if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
            raise AudioRejected("unsupported", f"{path.name}: sample rate {sample_rate} Hz is "
                                f"outside {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz")
        if channels > 8:
            raise AudioRejected("unsupported", f"{path.name}: {channels} channels")
        size = path.stat().st_size
        if max_duration_s is not None and declared > max_duration_s * 1.02 + 1:
            raise AudioRejected("too_long", f"{path.name}: the header says {declared:.0f} s, "
                                f"longer than the {max_duration_s:.0f} s limit "
                                "(CALLQA_MAX_DURATION_S)")
        if declared > BOMB_MIN_S and size / declared < MIN_BYTES_PER_S:
            raise AudioRejected("implausible", f"{path.name}: {size} bytes cannot hold the "
                                f"{declared:.0f} s the header claims")
        cap = None if max_duration_s is None else int((max_duration_s * 1.02 + 1) * sample_rate)
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
                    if cap is not None and samples > cap:
                        raise AudioRejected("too_long", f"{path.name}: more than the "
                                            f"{max_duration_s:.0f} s limit decodes "
                                            "(CALLQA_MAX_DURATION_S)")
                    if samples > sample_rate * BOMB_MIN_S and size / (
                            samples / sample_rate) < MIN_BYTES_PER_S:
                        raise AudioRejected("implausible", f"{path.name}: {size} bytes decode "
                                            f"to over {samples / sample_rate:.0f} s")
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



# The Content-Type a recording is served with comes from what the decoder found, never
# from the uploader's file name (an `evil.html` that decodes as WAV is served as audio/wav).
_CONTAINER_TYPES = {"wav": ("audio/wav", ".wav"), "mp3": ("audio/mpeg", ".mp3"),
                    "flac": ("audio/flac", ".flac"), "ogg": ("audio/ogg", ".ogg"),
                    "amr": ("audio/amr", ".amr"), "au": ("audio/basic", ".au"),
                    "aac": ("audio/aac", ".aac"), "asf": ("audio/x-ms-wma", ".wma"),
                    "gsm": ("audio/gsm", ".gsm"), "matroska": ("audio/webm", ".webm"),
                    "webm": ("audio/webm", ".webm"), "mov": ("audio/mp4", ".m4a"),
                    "mp4": ("audio/mp4", ".m4a"), "m4a": ("audio/mp4", ".m4a")}


def media_type(container: str | None) -> tuple[str, str]:
    """(audio/* type, file suffix) for a probed container (FFmpeg's names, e.g.
    'mov,mp4,m4a,3gp'); application/octet-stream, which nothing renders, when unknown."""
    for name in (container or "").split(","):
        found = _CONTAINER_TYPES.get(name.strip().lower())
        if found:
            return found
    return "application/octet-stream", ".bin"
