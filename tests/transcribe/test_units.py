"""Speech activity, packing, loop removal, parameters, Chinese clean-up."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.schemas import Word
from transcribe.asr import drop_loops
from transcribe.audio import DecodedAudio
from transcribe.legs import LegParams, normalise_gain
from transcribe.pipeline import TranscribeParams
from transcribe.text import normalize_chinese
from transcribe.vad import ActivityParams, channel_activity, pack

RATE = 16000


def _burst(n: int, start: float, end: float, rng: np.random.Generator) -> np.ndarray:
    x = np.zeros(n, np.float32)
    a, b = int(start * RATE), int(end * RATE)
    x[a:b] = rng.normal(0, 0.1, b - a)
    return x


def test_activity_ignores_the_echo_of_the_other_leg() -> None:
    rng = np.random.default_rng(0)
    n = 10 * RATE
    agent = _burst(n, 1.0, 3.0, rng) + _burst(n, 6.0, 7.0, rng)
    customer = _burst(n, 3.5, 5.5, rng)
    stereo = np.stack([agent + 0.03 * customer, customer + 0.03 * agent])
    stereo += rng.normal(0, 1e-4, stereo.shape).astype(np.float32)
    agent_segs, customer_segs = channel_activity(stereo, RATE, ActivityParams())
    assert [(round(a), round(b)) for a, b in agent_segs] == [(1, 3), (6, 7)]
    assert [(round(a, 0), round(b, 0)) for a, b in customer_segs] == [(3.0, 6.0)] or \
        [(round(a), round(b)) for a, b in customer_segs] == [(4, 6)]


def test_activity_keeps_overtalk_on_both_legs() -> None:
    rng = np.random.default_rng(1)
    n = 6 * RATE
    agent, customer = _burst(n, 1.0, 4.0, rng), _burst(n, 3.0, 5.0, rng)
    segs = channel_activity(np.stack([agent + 0.03 * customer, customer + 0.03 * agent]), RATE,
                            ActivityParams())
    assert any(a <= 3.5 <= b for a, b in segs[0]) and any(a <= 3.5 <= b for a, b in segs[1])


def test_pack_maps_times_back() -> None:
    signal = np.arange(10 * RATE, dtype=np.float32)
    packed = pack(signal, [(1.0, 2.0), (5.0, 6.5)], RATE, gap_s=0.3)
    assert abs(len(packed.audio) - (1.0 + 0.3 + 1.5) * RATE) <= 1  # no gap after the last
    assert packed.audio[0] == RATE  # first packed sample is original sample at 1.0 s
    assert packed.original_span(0.5, 0.8) == (1.5, 1.8)
    assert packed.original_span(0.2, 1.6, next_start=1.7) == (1.2, 2.0)  # well inside: stays
    assert packed.original_span(1.4, 1.9) == (5.1, 5.6)  # second segment starts at 1.3 packed
    # A word crossing into the next segment opens it when the next word follows at once
    # (Whisper glued its start to the previous word's end) ...
    assert packed.original_span(0.9, 1.6, next_start=1.7) == (5.0, 5.3)
    # ... and otherwise ends the earlier segment (its end was stretched over a pause).
    assert packed.original_span(0.9, 1.6, next_start=2.85) == (1.9, 2.0)
    assert packed.original_span(0.9, 1.6) == (1.9, 2.0)
    # A word starting late in the inserted gap belongs to the next segment, one
    # starting early in it to the segment before (Whisper's end-of-speech timing lags):
    assert packed.original_span(1.2, 1.5) == (5.0, 5.2)
    assert packed.original_span(1.05, 1.1) == (2.0, 2.0)


def _words(text: str) -> list[Word]:
    return [Word(start=i, end=i + 0.5, text=" " + t) for i, t in enumerate(text.split())]


def test_drop_loops_keeps_one_copy_of_a_loop() -> None:
    looped = _words("thank you " * 6 + "goodbye")
    assert "".join(w.text for w in drop_loops(looped, 3)).split() == ["thank", "you", "goodbye"]
    normal = _words("no no I said no thank you thank you")
    assert drop_loops(normal, 3) == normal
    # A whole clause looped (Whisper on a customer leg at 0 dB SNR), punctuation aside.
    clause = _words("the $1.2. You do not have to pay " * 5 + "the $1")
    kept_once = "".join(w.text for w in drop_loops(clause, 3)).split()
    assert kept_once == ["the", "$1.2.", "You", "do", "not", "have", "to", "pay", "the", "$1"]
    said_twice = _words("I said you do not have to pay the fee " * 2)
    assert drop_loops(said_twice, 3) == said_twice
    # A long loop whose copies are cut and varied: later copies of its phrases go.
    copy = "go through four holes in the middle of our head which is Parliamentary and "
    varied = _words(" ".join(copy + ("we're going to have to " if k % 2 else "so ")
                             for k in range(8)) + "goodbye")
    left = "".join(w.text for w in drop_loops(varied, 3)).split()
    assert left.count("Parliamentary") == 3 and left[-1] == "goodbye"


def test_segments_of_unsure_words_are_dropped() -> None:
    from transcribe.asr import WhisperParams, kept

    unsure = [Word(start=0, end=1, text=" four", probability=0.3),
              Word(start=1, end=2, text=" holes", probability=0.4)]
    sure = [Word(start=0, end=1, text=" hello", probability=0.9)]
    floor = WhisperParams(min_segment_word_probability=0.45)
    assert not kept(0.1, -0.5, unsure, floor) and kept(0.1, -0.5, sure, floor)
    off = WhisperParams(min_segment_word_probability=0.0)
    assert kept(0.1, -0.5, unsure, off)
    assert not kept(0.9, -1.5, sure, off)  # Whisper's own no-speech call
    dots = [Word(start=0, end=1, text=" .", probability=0.95)] * 3
    assert not kept(0.1, -0.5, dots, off)  # punctuation alone, however sure
    assert kept(0.1, -0.5, [Word(start=0, end=1, text="好", probability=0.9)], off)
    params = TranscribeParams.from_yaml()
    assert params.whisper.min_segment_word_probability == 0.45
    assert params.mono_whisper.min_segment_word_probability == 0.0


def test_params_from_yaml_reject_unknown_keys(tmp_path: Path) -> None:
    defaults = TranscribeParams.from_yaml()
    assert defaults.whisper.condition_on_previous_text is False
    bad = tmp_path / "p.yaml"
    bad.write_text("activity:\n  above_floor: 3\n")
    with pytest.raises(ValueError, match="above_floor"):
        TranscribeParams.from_yaml(bad)


def test_yaml_is_complete_and_the_dataclass_defaults_equal_it() -> None:
    """default.yaml is the source of every default: it names every parameter, and the
    dataclasses (used when code builds TranscribeParams() itself) agree with it."""
    from dataclasses import fields

    from core.yamlio import read_yaml
    from transcribe.pipeline import DEFAULT_PARAMS, PARAMS_SCHEMA

    raw = read_yaml(DEFAULT_PARAMS)
    for section, schema in PARAMS_SCHEMA.items():
        if section not in ("mono_activity", "mono_whisper"):  # only what differs
            assert set(raw[section]) == set(schema), section
    assert TranscribeParams.from_yaml() == TranscribeParams()
    assert [f.name for f in fields(TranscribeParams)][-len(raw["utterances"]):] == list(raw["utterances"])
    assert TranscribeParams().whisper.vad_filter is False


def test_params_types_are_checked_and_a_file_overrides_what_it_names(tmp_path: Path) -> None:
    mine = tmp_path / "p.yaml"
    mine.write_text("whisper:\n  beam_size: 1\nutterances:\n  split_gap_s: 2\n")
    params = TranscribeParams.from_yaml(mine)
    assert params.whisper.beam_size == 1 and params.split_gap_s == 2
    assert params.whisper.no_speech_threshold == TranscribeParams().whisper.no_speech_threshold
    mine.write_text("legs:\n  max_lag_s: soon\n")
    with pytest.raises(ValueError, match=f"{mine}: legs.max_lag_s: expected a number"):
        TranscribeParams.from_yaml(mine)


def test_recorded_version_changes_with_the_parameters() -> None:
    from dataclasses import replace

    from transcribe.asr import AsrResult, WhisperParams
    from transcribe.pipeline import TranscribeOptions, stage_version

    class Engine:  # what stage_version reads of an engine
        name, version, model_name = "faster-whisper", "1.2.1", "tiny.en"

        def transcribe(self, audio: np.ndarray, language: str | None,
                       params: WhisperParams) -> AsrResult:
            raise NotImplementedError

    params = TranscribeParams()
    same = stage_version(Engine(), TranscribeOptions("a", params=params))
    assert same.startswith("faster-whisper-1.2.1+") and len(same.split("+")[1]) == 8
    assert same == stage_version(Engine(), TranscribeOptions("b", params=TranscribeParams()))
    changed = replace(params, whisper=replace(params.whisper, beam_size=1))
    assert stage_version(Engine(), TranscribeOptions("a", params=changed)) != same


def test_chinese_output_is_simplified() -> None:
    assert normalize_chinese("請問您這個月的賬單還款日是幾號") == "请问您这个月的账单还款日是几号"


def test_turns_from_pyannote_3_annotation_and_4_diarize_output() -> None:
    """pyannote.audio 3.x returns an Annotation; 4.x a DiarizeOutput whose exclusive
    diarization (no overlaps) is the one to use."""
    from dataclasses import dataclass

    from pyannote.core import Annotation, Segment

    from transcribe.diarize import SpeakerTurn, turns_from_pyannote

    overlapping = Annotation()
    overlapping[Segment(0.0, 2.0)] = "SPEAKER_01"
    overlapping[Segment(1.5, 3.0)] = "SPEAKER_00"
    exclusive = Annotation()
    exclusive[Segment(0.0, 1.5)] = "SPEAKER_01"
    exclusive[Segment(1.5, 3.0)] = "SPEAKER_00"

    @dataclass
    class DiarizeOutput:  # the fields of pyannote.audio 4's output that we read
        speaker_diarization: Annotation
        exclusive_speaker_diarization: Annotation

    assert turns_from_pyannote(overlapping) == [SpeakerTurn(0, 0.0, 2.0), SpeakerTurn(1, 1.5, 3.0)]
    assert turns_from_pyannote(DiarizeOutput(overlapping, exclusive)) == [
        SpeakerTurn(0, 0.0, 1.5), SpeakerTurn(1, 1.5, 3.0)]


def test_skipped_segments_are_retried_in_one_pass() -> None:
    """Speech segments Whisper gave no words are decoded again, all in one packed pass;
    each keeps its words only if they are confident."""
    from transcribe.asr import AsrResult, AsrSegment, WhisperParams
    from transcribe.pipeline import _retry_skipped

    class Engine:
        """Reads the packed audio: a word wherever a segment's audio starts."""

        calls = 0

        def transcribe(self, audio: np.ndarray, language: str | None,
                       params: WhisperParams) -> AsrResult:
            Engine.calls += 1
            loud = np.flatnonzero(np.abs(audio) > 0)
            starts = [loud[0], *loud[1:][np.diff(loud) > RATE // 2]]
            words = [Word(start=s / RATE, end=s / RATE + 0.3, text=f" w{k}",
                          probability=0.9 if k != 1 else 0.2) for k, s in enumerate(starts)]
            return AsrResult("en", [AsrSegment(0, len(audio) / RATE, "", -0.1, 0.0, words)])

    signal = np.zeros(20 * RATE, np.float32)
    segments = [(1.0, 3.0), (5.0, 7.0), (10.0, 12.0), (14.0, 15.0)]
    for a, b in segments:
        signal[int(a * RATE): int(b * RATE)] = 0.1
    heard = [Word(start=14.2, end=14.6, text=" yes", probability=0.9)]
    found = _retry_skipped(signal, segments, heard, Engine(), "en", WhisperParams(), RATE)
    assert Engine.calls == 1
    # The first and third skipped segments come back on the call's clock; the second's
    # word was unsure, and the fourth was not skipped.
    assert [(w.text, w.start) for w in found] == [(" w0", 1.0), (" w2", 10.0)]


def test_mono_decodes_all_but_long_non_speech_stretches() -> None:
    """Mono calls: speech segments closer than decode_gap_s are decoded as one stretch
    (the audio between them included); stereo legs keep their segments."""
    from transcribe.audio import DecodedAudio
    from transcribe.pipeline import _window_of, decode_spans
    from transcribe.vad import decode_stretches, joined

    segments = [(1.0, 2.0), (2.5, 4.0), (3.5, 5.0), (9.0, 10.0)]
    assert joined(segments, 2.0) == [(1.0, 5.0), (9.0, 10.0)]
    assert joined(segments, 0.0) == [(1.0, 2.0), (2.5, 5.0), (9.0, 10.0)]  # overlaps only
    params = TranscribeParams()
    mono = DecodedAudio(np.zeros((1, 12 * RATE), np.float32))
    stereo = DecodedAudio(np.zeros((2, 12 * RATE), np.float32))
    assert params.mono_activity.decode_gap_s > 0 == params.activity.decode_gap_s
    apart = [(1.0, 2.0), (2.5, 4.0), (9.0, 10.0)]
    assert decode_spans(stereo, [apart, []], params) == [apart, []]
    # A mono call is decoded whole unless it has a non-speech stretch of decode_gap_s.
    assert decode_spans(mono, [segments], params) == [[(0.0, 12.0)]]
    assert decode_stretches(segments, 2.0, 11.5) == [(0.0, 5.0), (9.0, 11.5)]
    assert decode_stretches(segments, 2.0, 12.0) == [(0.0, 5.0), (9.0, 10.0)]
    assert decode_stretches([(2.5, 4.0)], 2.0, 12.0) == [(2.5, 4.0)]
    # A speech segment inside a stretch finds the decoding window it lies in.
    packed = pack(np.zeros(12 * RATE, np.float32), [(1.0, 5.0), (9.0, 10.0)], RATE, 1.0)
    windows = [(0.0, 3.0, {"en": 1.0}), (3.0, 6.0, {"es": 1.0})]  # packed times
    assert _window_of(packed, windows, [(1.0, 2.0), (4.5, 5.0), (9.0, 10.0)]) == [0, 1, 1]


def test_language_runs_end_where_another_language_speaks() -> None:
    """Segments moved to another language are decoded again in runs: a run never spans
    speech in the main language, nor a pause of the decode gap."""
    from transcribe.pipeline import _language_runs

    segments = [(0.0, 2.0), (2.5, 4.0), (4.5, 6.0), (6.5, 8.0), (30.0, 31.0), (31.5, 33.0)]
    moved = {(2.5, 4.0): "es", (4.5, 6.0): "es", (30.0, 31.0): "es", (31.5, 33.0): "fr"}
    assert _language_runs(segments, moved, "en", 20.0) == {
        "es": [(2.5, 6.0), (30.0, 31.0)], "fr": [(31.5, 33.0)]}
    assert _language_runs(segments, moved, "en", 0.4) == {
        "es": [(2.5, 4.0), (4.5, 6.0), (30.0, 31.0)], "fr": [(31.5, 33.0)]}


def test_intersection_of_segment_lists() -> None:
    from transcribe.vad import intersection

    words = [(0.6, 1.8), (2.1, 4.2), (11.4, 14.1)]
    speech = [(0.7, 13.1), (19.0, 26.8)]
    assert intersection(words, speech) == [(0.7, 1.8), (2.1, 4.2), (11.4, 13.1)]
    assert intersection(words, []) == [] == intersection([], speech)


def test_a_small_gain_is_not_applied() -> None:
    """A file within legs.min_gain_db of the target is heard as recorded (a few dB only
    moved Whisper's decoding); a quiet one is raised."""
    rate = 16000
    t = np.arange(rate * 2) / rate
    tone = np.sin(2 * np.pi * 440 * t).astype(np.float32)

    def gain_at(amplitude: float) -> float:
        audio = DecodedAudio((amplitude * tone)[None, :], rate)
        out, gain = normalise_gain(audio, LegParams())
        assert (gain == 0.0) == (out is audio)
        return gain

    # Level of a sine's loud frames is its power: amplitude 0.5 -> -9 dB, target -9 dB.
    assert gain_at(0.5 * 10 ** (-3 / 20)) == 0.0        # 3 dB short: as recorded
    assert 29 <= gain_at(0.5 * 10 ** (-30 / 20)) <= 31   # 30 dB short: raised
    # The same 3 dB is applied when the setting allows it.
    assert normalise_gain(DecodedAudio((0.35 * tone)[None, :], rate),
                          LegParams(min_gain_db=1.0))[1] > 0



def test_a_retry_that_loops_is_dropped() -> None:
    """Whisper on a 0 dB line wrote one clause, confidently, over every skipped segment of
    the packed retry: a retry pass that is mostly a loop keeps none of its words."""
    from transcribe.asr import AsrResult, AsrSegment, WhisperParams
    from transcribe.pipeline import _retry_skipped

    clause = ["we", "are", "going", "to", "have", "to", "go", "forward", "and", "see", "if",
              "we", "can", "fix", "it"]

    class Engine:
        def transcribe(self, audio: np.ndarray, language: str | None,
                       params: WhisperParams) -> AsrResult:
            step = len(audio) / RATE / (len(clause) * 10)
            words = [Word(start=k * step, end=(k + 1) * step, text=f" {clause[k % len(clause)]}",
                          probability=0.95) for k in range(len(clause) * 10)]
            return AsrResult("en", [AsrSegment(0, len(audio) / RATE, "", -0.1, 0.0, words)])

    signal = np.zeros(40 * RATE, np.float32)
    segments = [(1.0 + 4 * k, 3.0 + 4 * k) for k in range(8)]
    for a, b in segments:
        signal[int(a * RATE): int(b * RATE)] = 0.1
    assert _retry_skipped(signal, segments, [], Engine(), "en", WhisperParams(), RATE) == []
