"""The transcription stage on real telephone audio through a real Whisper model."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import pytest

from core.schemas import Transcript
from samples.truth import diarization_error_rate, role_accuracy, word_error_rate
from tests.conftest import RENDERED
from transcribe import TranscribeOptions, TranscribeParams, decode_audio, transcribe
from transcribe.asr import AsrEngine, load_engine
from transcribe.models import resolve_whisper_model


@lru_cache(maxsize=1)
def tiny_engine() -> AsrEngine:
    return load_engine("faster-whisper", str(resolve_whisper_model("tiny.en", Path("/nonexistent"))))


def _truth(rendered_dir: Path, call: str) -> dict:  # type: ignore[type-arg]
    return json.loads((rendered_dir / "truth" / f"{call}.json").read_text())


def _wer(truth: dict, transcript: Transcript) -> float:  # type: ignore[type-arg]
    return word_error_rate(" ".join(t["text"] for t in truth["turns"]),
                           " ".join(u.text for u in transcript.utterances))


@pytest.fixture(scope="module")
def stereo_transcripts(rendered_dir: Path) -> dict[str, Transcript]:
    return {
        call: transcribe(decode_audio(rendered_dir / "stereo" / f"{call}.wav"), tiny_engine(),
                         TranscribeOptions(call, ["agent", "customer"], "en",
                                           TranscribeParams.from_yaml()))
        for call in RENDERED
    }


@pytest.mark.parametrize("call", RENDERED)
def test_stereo_words_are_right(call: str, rendered_dir: Path,
                                stereo_transcripts: dict[str, Transcript]) -> None:
    wer = _wer(_truth(rendered_dir, call), stereo_transcripts[call])
    assert wer <= 0.15, f"{call}: WER {wer:.3f}"  # tiny.en; bench/ measures base


@pytest.mark.parametrize("call", RENDERED)
def test_stereo_roles_and_times(call: str, rendered_dir: Path,
                                stereo_transcripts: dict[str, Transcript]) -> None:
    truth = _truth(rendered_dir, call)
    transcript = stereo_transcripts[call]
    assert transcript.diarization == "channel" and transcript.language == "en"
    for utt in transcript.utterances:
        assert utt.words and utt.start <= utt.words[0].start and utt.words[-1].end <= utt.end
        assert all(w.start <= w.end for w in utt.words)
        # An utterance never straddles a change of speaker: every word of it lies in (or
        # within word-timestamp slack of) a turn of its own speaker.
        for w in utt.words:
            own = any(w.start <= t["end"] + 0.6 and w.end >= t["start"] - 0.6
                      for t in truth["turns"] if t["role"] == utt.role)
            assert own, f"{call}: word {w.text!r} at {w.start} is outside every {utt.role} turn"
    accuracy = role_accuracy(truth, transcript)
    assert accuracy >= 0.99, f"{call}: role accuracy {accuracy:.3f}"


def test_hold_music_yields_no_words(rendered_dir: Path,
                                    stereo_transcripts: dict[str, Transcript]) -> None:
    call = "en-01-repayment-amount-due-date"
    holds = _truth(rendered_dir, call)["holds"]
    assert holds, "the fixture call must contain hold music"
    words = [w for u in stereo_transcripts[call].utterances for w in u.words]
    for start, end in holds:
        inside = [w.text for w in words if w.start > start + 0.5 and w.end < end - 0.5]
        assert inside == [], f"invented text during hold music: {inside}"


@pytest.mark.parametrize("call", RENDERED)
def test_stereo_diarization_error(call: str, rendered_dir: Path,
                                  stereo_transcripts: dict[str, Transcript]) -> None:
    transcript = stereo_transcripts[call]
    assert transcript.role_source == "channel_map"
    der = diarization_error_rate(_truth(rendered_dir, call), transcript)["der"]
    assert der <= 0.02, f"{call}: DER {der:.3f}"


@pytest.mark.parametrize("call", RENDERED)
def test_mono_call_is_diarized_and_roles_found(call: str, rendered_dir: Path) -> None:
    truth = _truth(rendered_dir, call)
    transcript = transcribe(decode_audio(rendered_dir / "mono" / f"{call}.wav"), tiny_engine(),
                            TranscribeOptions(call, None, "en", TranscribeParams.from_yaml()))
    assert transcript.diarization == "builtin" and transcript.role_source == "content"
    assert {u.role for u in transcript.utterances} == {"agent", "customer"}
    assert transcript.role_confidence > 0.9
    assert role_accuracy(truth, transcript) >= 0.95
    assert diarization_error_rate(truth, transcript)["der"] <= 0.10
    assert _wer(truth, transcript) <= 0.22  # tiny.en; a mixed leg is harder than a clean one
    # Mono calls decode all but long non-speech stretches: still nothing over hold music.
    words = [w for u in transcript.utterances for w in u.words]
    for start, end in truth["holds"]:
        inside = [w.text for w in words if w.start > start + 0.5 and w.end < end - 0.5]
        assert inside == [], f"{call}: invented text during hold music: {inside}"


def test_stereo_without_channel_map_decides_roles_from_content(rendered_dir: Path) -> None:
    call = RENDERED[0]
    audio = decode_audio(rendered_dir / "stereo" / f"{call}.wav")
    swapped = type(audio)(audio.samples[::-1].copy())  # customer on the left this time
    transcript = transcribe(swapped, tiny_engine(),
                            TranscribeOptions(call, None, "en", TranscribeParams.from_yaml()))
    assert transcript.role_source == "content"
    assert role_accuracy(_truth(rendered_dir, call), transcript) >= 0.99
    assert {u.role for u in transcript.utterances if u.channel == 1} == {"agent"}


def test_decode_gives_16k_float_per_channel(rendered_dir: Path) -> None:
    audio = decode_audio(rendered_dir / "stereo" / f"{RENDERED[0]}.wav")
    truth = _truth(rendered_dir, RENDERED[0])
    assert audio.channels == 2 and audio.sample_rate == 16000
    assert audio.samples.dtype.name == "float32"
    assert abs(audio.duration - truth["duration"]) < 0.05
    assert 0.01 < float(abs(audio.samples).max()) <= 1.0


def test_seek_by_timestamps_decodes_windows_as_bare_faster_whisper(rendered_dir: Path) -> None:
    """seek_to_last_word off (mono_whisper): word timestamps no longer move Whisper's 30 s
    windows, so the segments (times, text) are those of faster-whisper without word
    timestamps, and the words still come with times inside their segments."""
    from dataclasses import replace

    from transcribe.asr import FasterWhisperEngine

    engine = tiny_engine()
    assert isinstance(engine, FasterWhisperEngine)
    audio = decode_audio(rendered_dir / "mono" / f"{RENDERED[0]}.wav").mono()[:16000 * 75]
    params = replace(TranscribeParams().mono_whisper, beam_size=1)
    assert params.seek_to_last_word is False
    ours = engine.transcribe(audio, "en", params)
    bare, _ = engine.model.transcribe(audio, language="en", beam_size=1, temperature=0.0,
                                      condition_on_previous_text=True)
    # The cut at 75 s ends mid-word: that last fragment may fall back to sampling.
    bare_segments = [(s.start, s.end, s.text) for s in bare][:-1]
    assert len(bare_segments) >= 4 and bare_segments[-1][1] > 60  # three windows
    assert [(s.start, s.end, s.text) for s in ours.segments][:-1] == bare_segments
    for seg in ours.segments:
        assert seg.words and all(seg.start - 1 <= w.start <= w.end <= seg.end + 1
                                 for w in seg.words)
