"""Speech activity per channel from energy and a neural VAD, aware of the other channel.

On a stereo call each leg carries its own speaker plus a faint echo of the
other. Silero VAD fires on that echo; comparing the two legs' energies frame
by frame does not, so the leg is the speaker only where it is the louder one
(or close to it, which keeps overtalk).

Energy alone needs speech well above the noise floor: on a noisy line (10 dB SNR
and below) it found little or nothing. So a frame is speech where it is well above
the floor OR where Silero VAD (shipped with faster-whisper) hears speech, and in
both cases only where the leg is not just the echo of the other one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.ndimage import maximum_filter1d

Segment = tuple[float, float]


@dataclass(frozen=True)
class ActivityParams:
    frame_ms: float = 20
    hop_ms: float = 10
    floor_percentile: float = 10
    above_floor_db: float = 12
    over_other_db: float = -12
    min_speech_s: float = 0.15
    min_gap_s: float = 0.8
    pack_gap_s: float = 1.0
    pad_s: float = 0.15
    neural: bool = True           # Silero VAD as well as energy (see the module docstring)
    neural_threshold: float = 0.5
    # Silero also hears echo: its frames must be louder than the other leg anywhere
    # within this window (echo trails its source by tens of ms, and fills its pauses).
    neural_over_other_db: float = 0.0
    neural_echo_window_s: float = 0.3
    # A word Whisper glued across a join of packed segments opens the later segment when
    # it starts within glue_margin_s of the earlier one's end and the next word starts
    # within glue_window_s of the later segment (PackedAudio.original_span).
    glue_margin_s: float = 0.3
    glue_window_s: float = 1.5
    # What the recogniser hears: speech segments closer than this are decoded as one
    # stretch, the audio between them included (0: each segment packed on its own). Mono
    # calls decode all but long non-speech stretches (transcribe/config/default.yaml).
    decode_gap_s: float = 0.0


def joined(segments: list[Segment], gap_s: float) -> list[Segment]:
    """Segments (in time order) whose gap is under `gap_s` joined into one stretch."""
    out: list[Segment] = []
    for start, end in segments:
        if out and start - out[-1][1] < gap_s:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def decode_stretches(segments: list[Segment], gap_s: float, duration: float) -> list[Segment]:
    """What the recogniser hears of a signal: its speech segments closer than `gap_s`
    joined into one stretch, the audio between included. With `gap_s` > 0 the first and
    last stretch also reach the signal's start and end when they are closer than that, so
    a call without long non-speech is decoded whole, as bare faster-whisper decodes it:
    even a 0.9 s trim moves every 30 s window and changes what Whisper writes."""
    out = joined(segments, gap_s)
    if gap_s > 0 and out:
        if out[0][0] < gap_s:
            out[0] = (0.0, out[0][1])
        if duration - out[-1][1] < gap_s:
            out[-1] = (out[-1][0], duration)
    return out


def frame_energy_db(x: np.ndarray, rate: int, frame_ms: float, hop_ms: float) -> np.ndarray:
    frame, hop = int(rate * frame_ms / 1000), int(rate * hop_ms / 1000)
    if len(x) < frame:
        return np.full(1, -120.0)
    n = 1 + (len(x) - frame) // hop
    idx = np.arange(frame)[None, :] + hop * np.arange(n)[:, None]
    rms = np.sqrt((x[idx].astype(np.float64) ** 2).mean(axis=1))
    return 20 * np.log10(rms + 1e-9)


def _segments(active: np.ndarray, hop_s: float, p: ActivityParams, total_s: float) -> list[Segment]:
    edges = np.flatnonzero(np.diff(np.concatenate([[0], active.astype(np.int8), [0]])))
    raw = [(s * hop_s, e * hop_s) for s, e in zip(edges[::2], edges[1::2], strict=True)]
    return [(max(0.0, s - p.pad_s), min(total_s, e + p.pad_s))
            for s, e in joined(raw, p.min_gap_s) if e - s >= p.min_speech_s]


@lru_cache(maxsize=1)
def _silero() -> Any:
    from faster_whisper.vad import get_vad_model

    return get_vad_model()


SILERO_RATE, SILERO_WINDOW = 16000, 512


def speech_probability(x: np.ndarray, rate: int, n_frames: int, hop_ms: float) -> np.ndarray:
    """Silero VAD's speech probability for each of `n_frames` hops of `hop_ms`."""
    if rate != SILERO_RATE:
        raise ValueError(f"Silero VAD runs on {SILERO_RATE} Hz audio, not {rate}")
    x = np.asarray(x, dtype=np.float32)
    padded = np.pad(x, (0, SILERO_WINDOW - len(x) % SILERO_WINDOW))
    probs = np.asarray(_silero()(padded)).reshape(-1)
    window_of = (np.arange(n_frames) * hop_ms / 1000 * rate / SILERO_WINDOW).astype(int)
    return probs[np.minimum(window_of, len(probs) - 1)]


def channel_activity(samples: np.ndarray, rate: int, p: ActivityParams) -> list[list[Segment]]:
    """Speech segments (seconds) of each channel of a (channels, n) signal."""
    energies = [frame_energy_db(ch, rate, p.frame_ms, p.hop_ms) for ch in samples]
    total_s = samples.shape[1] / rate
    result = []
    for i, energy in enumerate(energies):
        floor = np.percentile(energy, p.floor_percentile)
        active = energy > floor + p.above_floor_db
        neural = np.zeros_like(active)
        if p.neural and len(energy) > 1:
            neural = speech_probability(samples[i], rate, len(energy),
                                        p.hop_ms) >= p.neural_threshold
        for j, other in enumerate(energies):
            if j != i:
                active &= energy - other[: len(energy)] > p.over_other_db
                size = max(1, int(p.neural_echo_window_s * 1000 / p.hop_ms))
                loudest_near = maximum_filter1d(other[: len(energy)], size)
                neural &= energy - loudest_near > p.neural_over_other_db
        active |= neural
        result.append(_segments(active, p.hop_ms / 1000, p, total_s))
    return result




def intersection(first: list[Segment], second: list[Segment]) -> list[Segment]:
    """Where both lists of time-ordered, non-overlapping segments hold."""
    out: list[Segment] = []
    i = j = 0
    while i < len(first) and j < len(second):
        a, b = max(first[i][0], second[j][0]), min(first[i][1], second[j][1])
        if b > a:
            out.append((a, b))
        if first[i][1] < second[j][1]:
            i += 1
        else:
            j += 1
    return out


def overlaps(start: float, end: float, segments: list[Segment]) -> float:
    return sum(max(0.0, min(end, b) - max(start, a)) for a, b in segments)


@dataclass(frozen=True)
class PackedAudio:
    """Speech segments laid end to end, and how to map their times back."""

    audio: np.ndarray
    packed_starts: list[float]
    segments: list[Segment]
    glue_margin_s: float = 0.3
    glue_window_s: float = 1.5

    def _index(self, t: float) -> int:
        return max(0, int(np.searchsorted(self.packed_starts, t, side="right")) - 1)

    def _to_original(self, k: int, t: float) -> float:
        seg_start, seg_end = self.segments[k]
        return round(min(seg_end, seg_start + max(0.0, t - self.packed_starts[k])), 3)

    def original_span(self, start: float, end: float,
                      next_start: float | None = None) -> tuple[float, float]:
        """Map a word's packed times back to the call's clock.

        `next_start` (the following word's packed start) settles a word that crosses
        into a later segment: Whisper glues a word's start to the previous word's end
        ("November. If" across a pause), and stretches the last word of a window over
        whatever follows ("moment." over hold music). If the next word starts right at
        the later segment, the crossing word opens it; otherwise it ends the earlier one.
        """
        i = self._index(start)
        seg_len = self.segments[i][1] - self.segments[i][0]
        if i + 1 < len(self.segments):
            gap_mid = (self.packed_starts[i] + seg_len + self.packed_starts[i + 1]) / 2
            if start > gap_mid:  # starts late in the inserted gap: the next segment's word
                i += 1
                start = self.packed_starts[i]
        j = max(i, self._index(end))
        if j > i:
            seg_end = self.packed_starts[i] + seg_len
            opens_next = (start > seg_end - self.glue_margin_s  # not well inside the earlier
                          and next_start is not None
                          and next_start - self.packed_starts[j] < self.glue_window_s)
            if opens_next:
                i, start = j, self.packed_starts[j]
            else:
                j, end = i, self.packed_starts[i] + seg_len
        begin = self._to_original(i, start)
        return begin, max(begin, self._to_original(j, end))


def pack(signal: np.ndarray, segments: list[Segment], rate: int, gap_s: float = 1.0,
         glue_margin_s: float = 0.3, glue_window_s: float = 1.5) -> PackedAudio:
    """Keep only speech, so the recogniser spends no time (and invents nothing) on silence."""
    pieces: list[np.ndarray] = []
    starts: list[float] = []
    cursor = 0.0
    gap = np.zeros(int(gap_s * rate), dtype=signal.dtype)
    for k, (start, end) in enumerate(segments):
        piece = signal[int(start * rate): int(end * rate)]
        starts.append(cursor)
        # No silence after the last piece: Whisper pads the end itself, and a 1 s tail of
        # zeros after a whole mono call changed its WER from 24.2% to 29.5% (base, 10 dB).
        pieces += [piece, gap] if k + 1 < len(segments) else [piece]
        cursor += (len(piece) + len(gap)) / rate
    audio = np.concatenate(pieces) if pieces else np.zeros(0, dtype=signal.dtype)
    return PackedAudio(audio, starts, list(segments), glue_margin_s, glue_window_s)
