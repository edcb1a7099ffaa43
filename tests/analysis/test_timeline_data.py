"""Waveform peaks: the loudest sample per bin, per channel; toned spans for managers."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from analysis.waveform import FULL_SCALE, PeakOptions, compute_peaks, merge_channels, redacted_peaks


def test_peaks_are_the_loudest_sample_of_each_bin_per_channel() -> None:
    rate = 8000
    samples = np.zeros((2, rate * 2), np.float32)  # 2 s, 20 bins/s -> 400 samples a bin
    samples[0, 1000] = -0.5  # bin 2
    samples[1, 7999] = 1.0  # bin 19
    samples[1, 15999] = 0.25  # the last bin
    data = compute_peaks(samples, rate, PeakOptions())
    assert data["bin_s"] == 0.05 and data["duration"] == 2.0
    left, right = data["channels"]
    assert len(left) == len(right) == 40
    assert left[2] == round(0.5 * FULL_SCALE) and sum(left) == left[2]
    assert right[19] == FULL_SCALE and right[39] == round(0.25 * FULL_SCALE)
    assert merge_channels(data["channels"])[2] == left[2]


def test_long_calls_get_wider_bins_within_the_cap() -> None:
    rate = 8000
    samples = np.full((1, rate * 100), 0.1, np.float32)
    data = compute_peaks(samples, rate, PeakOptions(max_bins=500))
    assert len(data["channels"][0]) <= 500 and data["bin_s"] == 0.2


def test_redacted_peaks_show_the_tone_over_every_span() -> None:
    peaks = [[200] * 40, [10] * 40]
    out = redacted_peaks(peaks, 0.05, [(0.51, 0.74), (1.9, 9.0)], 0.25)
    tone = round(0.25 * FULL_SCALE)
    for ch in out:
        assert ch[10:15] == [tone] * 5 and ch[38:] == [tone] * 2
        assert len(ch) == 40
    assert out[0][9] == 200 and out[0][15] == 200 and peaks[0][10] == 200  # input untouched


def test_timeline_spans_are_what_the_metrics_count() -> None:
    from analysis.metrics import conversation_metrics, conversation_spans
    from core.schemas import Transcript, Utterance

    def u(role: str, start: float, end: float) -> Utterance:
        return Utterance(speaker=role, role=role, start=start, end=end, text="hello there")

    transcript = Transcript(call_id="t", language="en", duration=40, engine="x", model="x",
                            version="1", diarization="none", utterances=[
                                u("agent", 0, 4), u("customer", 3, 6), u("agent", 12, 15),
                                u("customer", 16, 20), u("agent", 19.5, 22), u("agent", 30, 33)])
    spans = conversation_spans(transcript)
    metrics = conversation_metrics(transcript)
    assert spans == {"silence": [(6.0, 12.0), (22.0, 30.0)], "overtalk": [(3.0, 4.0), (19.5, 20.0)]}
    assert sum(b - a for a, b in spans["silence"]) == metrics["dead_air_total_s"]
    assert sum(b - a for a, b in spans["overtalk"]) == metrics["overtalk_s"]


def test_streamed_peaks_equal_the_peaks_of_the_decoded_file(tmp_path: Path) -> None:
    """The endpoint decodes frame by frame (no whole recording in memory): same peaks."""
    from analysis.waveform import stream_peaks
    from tests.api.conftest import write_wav
    from transcribe.audio import decode_audio

    for channels in (1, 2):
        wav = write_wav(tmp_path / f"noise-{channels}.wav", seconds=3.3, seed=channels,
                        channels=channels)
        audio = decode_audio(wav, 8000)
        assert stream_peaks(wav, 3.3) == compute_peaks(audio.samples, audio.sample_rate)
