"""The recording with every PII span replaced by a tone, for roles that may not hear it.

Managers review calls but may not hear ID, card and phone numbers or names (PIPL /
GDPR). Analysis already locates each PII hit in the audio (the words it
touches); here those stretches, padded a little since word times are approximate, are
overwritten on every channel with a 1 kHz tone (the convention listeners recognise as
"bleeped"), and the result is written once as 16 kHz 16-bit PCM WAV under the call's
outputs. The object key carries a hash of the spans, so a re-analysis that finds other
PII renders a new file instead of serving a stale one.
"""

from __future__ import annotations

import hashlib
import io
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.schemas import Analysis
from core.storage import ObjectStore, atomic_write


@dataclass(frozen=True)
class ToneOptions:
    frequency_hz: float = 1000.0
    level: float = 0.25  # peak amplitude, full scale 1.0: audible, never clipping
    pad_s: float = 0.15  # word times are approximate: cover a little either side
    sample_rate: int = 16000


def tone_spans(analysis: Analysis, duration: float | None = None,
               options: ToneOptions | None = None) -> list[tuple[float, float]]:
    """Padded, merged (start, end) seconds of every PII hit."""
    options = options or ToneOptions()
    spans = sorted((max(0.0, h.start - options.pad_s), h.end + options.pad_s)
                   for h in analysis.pii)
    merged: list[tuple[float, float]] = []
    for start, end in spans:
        if duration is not None:
            end = min(end, duration)
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        elif end > start:
            merged.append((start, end))
    return merged


def apply_tone(samples: np.ndarray, sample_rate: int, spans: list[tuple[float, float]],
               options: ToneOptions | None = None) -> np.ndarray:
    """A copy of `samples` (channels, n) with each span replaced by the tone."""
    options = options or ToneOptions()
    out = samples.astype(np.float32, copy=True)
    for start, end in spans:
        a = max(0, round(start * sample_rate))
        b = min(out.shape[1], round(end * sample_rate))
        if b <= a:
            continue
        t = np.arange(a, b, dtype=np.float64) / sample_rate
        out[:, a:b] = (options.level * np.sin(2 * np.pi * options.frequency_hz * t)).astype(
            np.float32)
    return out


def wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).round().astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as wav:
        wav.setnchannels(pcm.shape[0])
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm.T.tobytes())  # interleaved frames
    return buf.getvalue()


def redacted_key(store: ObjectStore, call_id: str, spans: list[tuple[float, float]]) -> str:
    digest = hashlib.sha256(repr([(round(a, 3), round(b, 3)) for a, b in spans]).encode())
    return store.output_key(call_id, f"audio-redacted-{digest.hexdigest()[:12]}.wav")


def ensure_redacted_audio(store: ObjectStore, call_id: str, original: Path, analysis: Analysis,
                          options: ToneOptions | None = None) -> str:
    """The key of the toned recording, rendering and storing it the first time."""
    from transcribe.audio import decode_audio

    options = options or ToneOptions()
    spans = tone_spans(analysis, options=options)
    key = redacted_key(store, call_id, spans)
    if not store.exists(key):
        audio = decode_audio(original, options.sample_rate)
        body = wav_bytes(apply_tone(audio.samples, audio.sample_rate, spans, options),
                         audio.sample_rate)
        atomic_write(store.path(key), lambda fh: fh.write(body))
    return key
