"""What a stereo file really holds, and the input level.

Call-centre exports often save a mono call as stereo (the same audio on both legs,
sometimes at another level or a few ms apart), or leave one leg silent. Transcribed
as two speakers, every line came out twice, once per leg. Such a file is processed
as mono with diarization, and the transcript says so.

Two legs of a real call correlate only through the faint echo of one in the other
(0.07-0.12 on the sample calls); copies of one signal correlate near 1, and still 0.41 with
independent line noise at 0 dB SNR on each leg.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from transcribe.audio import DecodedAudio


@dataclass(frozen=True)
class LegParams:
    same_correlation: float = 0.3   # peak normalised cross-correlation: the legs are one signal
    max_lag_s: float = 0.05         # ... searched this far either way (export paths differ)
    silent_below_db: float = 35.0   # a leg this far below the other's level carries nothing
    silent_dbfs: float = -70.0      # ... or this quiet in absolute terms
    target_peak_dbfs: float = -6.0  # gain normalisation: the loudest speech this high
    max_gain_db: float = 40.0       # ... at most this much boost (noise is not speech)
    peak_margin_db: float = 1.0     # ... and the sample peak stays this far below full scale
    min_gain_db: float = 6.0        # a smaller gain is not applied: the file is heard as recorded


@dataclass(frozen=True)
class LegDecision:
    layout: str   # stereo | mono | identical_legs | silent_leg
    note: str | None
    correlation: float | None = None


def level_db(x: np.ndarray, rate: int) -> float:
    """Level of the loud part of a signal: power of its loudest 10% of 20 ms frames (dB)."""
    frame = max(1, int(rate * 0.02))
    n = len(x) // frame
    if n == 0:
        return -120.0
    power = (np.asarray(x[: n * frame], np.float64).reshape(n, frame) ** 2).mean(axis=1)
    top = np.sort(power)[-max(1, n // 10):]
    return float(10 * np.log10(top.mean() + 1e-12))


def peak_correlation(a: np.ndarray, b: np.ndarray, max_lag: int) -> float:
    """Largest normalised cross-correlation of a and b within +-max_lag samples."""
    a = np.asarray(a, np.float64) - np.mean(a)
    b = np.asarray(b, np.float64) - np.mean(b)
    norm = np.sqrt((a**2).sum() * (b**2).sum())
    if norm == 0:
        return 0.0
    n = 1 << int(np.ceil(np.log2(len(a) + len(b))))
    xc = np.fft.irfft(np.fft.rfft(a, n) * np.conj(np.fft.rfft(b, n)), n)
    lags = np.concatenate([xc[: max_lag + 1], xc[-max_lag:]]) if max_lag else xc[:1]
    return float(np.abs(lags).max() / norm)


def decide_legs(audio: DecodedAudio, p: LegParams) -> LegDecision:
    if audio.channels != 2:
        return LegDecision("mono", None)
    rate = audio.sample_rate
    levels = [level_db(ch, rate) for ch in audio.samples]
    quiet, loud = int(np.argmin(levels)), int(np.argmax(levels))
    if levels[quiet] < p.silent_dbfs or levels[quiet] < levels[loud] - p.silent_below_db:
        return LegDecision("silent_leg", (
            f"channel {quiet} is silent ({levels[quiet]:.0f} dB against {levels[loud]:.0f} dB): "
            "processed as mono with diarization"))
    # Decimated by 2 (8 kHz): telephone audio has nothing above 4 kHz; halves the FFT.
    step = 2 if rate >= 16000 else 1
    corr = peak_correlation(audio.samples[0][::step], audio.samples[1][::step],
                            int(p.max_lag_s * rate / step))
    if corr >= p.same_correlation:
        return LegDecision("identical_legs", (
            f"both channels carry the same audio (correlation {corr:.2f}, level difference "
            f"{abs(levels[0] - levels[1]):.1f} dB): processed as mono with diarization"),
            round(corr, 3))
    return LegDecision("stereo", None, round(corr, 3))


def as_mono(audio: DecodedAudio, decision: LegDecision) -> DecodedAudio:
    """The one signal of a stereo file that holds one: the louder leg of a silent pair,
    the mix of identical legs (each leg's own noise averages down)."""
    if decision.layout == "silent_leg":
        levels = [level_db(ch, audio.sample_rate) for ch in audio.samples]
        return DecodedAudio(audio.samples[int(np.argmax(levels))][None, :], audio.sample_rate)
    return DecodedAudio(audio.samples.mean(axis=0, keepdims=True).astype(np.float32),
                        audio.sample_rate)


def normalise_gain(audio: DecodedAudio, p: LegParams) -> tuple[DecodedAudio, float]:
    """One gain for the whole file (legs keep their level difference: the echo test
    needs it), so quiet speech reaches the level the detectors were tuned on."""
    peak = max(level_db(ch, audio.sample_rate) for ch in audio.samples) if audio.channels else 0
    if peak <= -110:
        return audio, 0.0
    # Never past full scale: a gain set by the speech level alone clipped the sample
    # peaks of ordinary recordings (0.1% of samples at +6 dB), which Whisper heard as
    # distortion. Loud enough recordings are left as they are (no attenuation either).
    headroom = -20 * np.log10(float(np.abs(audio.samples).max()) + 1e-12) - p.peak_margin_db
    gain_db = float(min(p.target_peak_dbfs - 3 - peak, p.max_gain_db, headroom))
    # A few dB help no detector (their thresholds follow the noise floor) and only move
    # Whisper's decoding at random (default.yaml, legs.min_gain_db).
    if gain_db < p.min_gain_db:
        return audio, 0.0
    scaled = np.clip(audio.samples * np.float32(10 ** (gain_db / 20)), -1.0, 1.0)
    return DecodedAudio(scaled.astype(np.float32), audio.sample_rate), round(gain_db, 1)


@dataclass(frozen=True)
class PreparedAudio:
    audio: DecodedAudio
    layout: str           # stereo | mono | identical_legs | silent_leg
    notes: list[str]
    gain_db: float


def prepare(audio: DecodedAudio, p: LegParams) -> PreparedAudio:
    """What is recognised: a stereo file that holds one signal becomes mono; one gain."""
    decision = decide_legs(audio, p)
    notes = [decision.note] if decision.note else []
    if decision.layout in ("identical_legs", "silent_leg"):
        audio = as_mono(audio, decision)
    audio, gain_db = normalise_gain(audio, p)
    if gain_db >= 10:
        notes.append(f"quiet recording: gain {gain_db:+.0f} dB before recognition")
    return PreparedAudio(audio, decision.layout, notes, gain_db)
