"""Waveform peaks: the loudest sample per bin, per channel; toned spans for managers."""

from __future__ import annotations

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
