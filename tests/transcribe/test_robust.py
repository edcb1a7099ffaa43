"""Real call audio the sample corpus does not hold as such: line noise, a mono call saved
as stereo, a silent leg, one speaker alone, a quiet recording. Real rendered telephone
audio through the real tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench.common import add_noise, pink_noise
from core.schemas import Transcript
from samples.truth import word_error_rate
from tests.transcribe.test_transcribe import tiny_engine
from transcribe import TranscribeOptions, TranscribeParams, decode_audio, transcribe
from transcribe.audio import DecodedAudio
from transcribe.diarize import delta_bic
from transcribe.legs import LegParams, decide_legs, normalise_gain
from transcribe.pipeline import _phrases

CALL = "en-01-repayment-amount-due-date"
pytestmark = pytest.mark.slow


def _run(audio: DecodedAudio, channel_map: list[str] | None = None) -> Transcript:
    return transcribe(audio, tiny_engine(), TranscribeOptions(
        "t", channel_map, None, TranscribeParams.from_yaml()))


def _reference(rendered_dir: Path, call: str = CALL) -> str:
    truth = json.loads((rendered_dir / "truth" / f"{call}.json").read_text())
    return " ".join(t["text"] for t in truth["turns"])


def _agent_alone(rendered_dir: Path, call: str = CALL) -> DecodedAudio:
    """One voice: the agent's turns cut from the agent leg, silence elsewhere."""
    truth = json.loads((rendered_dir / "truth" / f"{call}.json").read_text())
    leg = decode_audio(rendered_dir / "stereo" / f"{call}.wav").samples[0]
    one = np.zeros_like(leg)
    for t in truth["turns"]:
        if t["role"] == "agent":
            a, b = int(t["start"] * 16000), int(t["end"] * 16000)
            one[a:b] = leg[a:b]
    return DecodedAudio(one[None, :])


def test_noisy_stereo_call_is_still_transcribed(rendered_dir: Path) -> None:
    audio = decode_audio(rendered_dir / "stereo" / f"{CALL}.wav")
    noisy = DecodedAudio(add_noise(audio.samples, audio.sample_rate, 5.0, seed=1))
    energy_only = TranscribeParams.from_yaml()
    from dataclasses import replace
    energy_only = replace(energy_only, activity=replace(energy_only.activity, neural=False))
    ours = _run(noisy, ["agent", "customer"])
    old = transcribe(noisy, tiny_engine(), TranscribeOptions("t", ["agent", "customer"], None,
                                                             energy_only))
    reference = _reference(rendered_dir)
    wer = word_error_rate(reference, " ".join(u.text for u in ours.utterances))
    wer_energy = word_error_rate(reference, " ".join(u.text for u in old.utterances))
    # Energy activity alone hears much less 5 dB above pink noise than with Silero.
    # (tiny.en, runs of the merged tree: 0.55-0.63 against 0.73-0.84 with energy alone;
    # the smallest margin seen was 0.12: the absolute bound is tiny's, the margin is
    # what this test is about.)
    assert wer < 0.65 and wer < wer_energy - 0.1, (wer, wer_energy)
    assert {u.role for u in ours.utterances} == {"agent", "customer"}


def test_noise_alone_yields_no_words() -> None:
    rate = 16000
    noise = pink_noise(20 * rate, rate, seed=3) * 0.05
    noise[: 5 * rate] = 0  # a quiet head, then line noise only
    transcript = _run(DecodedAudio(np.stack([noise, pink_noise(20 * rate, rate, seed=4) * 0.05])),
                      ["agent", "customer"])
    assert transcript.utterances == []


def test_noise_alone_on_a_mono_call_yields_no_words() -> None:
    """Mono calls decode all but long non-speech stretches: line noise alone (which the
    energy detector takes for speech after a silent head) must still give no words."""
    rate = 16000
    noise = pink_noise(20 * rate, rate, seed=5) * 0.05
    noise[: 5 * rate] = 0
    assert _run(DecodedAudio(noise[None, :])).utterances == []


def test_identical_legs_are_transcribed_once(rendered_dir: Path) -> None:
    mono = decode_audio(rendered_dir / "mono" / f"{CALL}.wav").samples[0]
    # A mono call exported as stereo: the same audio, one leg 4 dB lower.
    transcript = _run(DecodedAudio(np.stack([mono, mono * 0.63])), ["agent", "customer"])
    assert transcript.layout == "identical_legs" and transcript.diarization == "builtin"
    assert transcript.notes and "same audio" in transcript.notes[0]
    texts = [u.text.strip().lower() for u in transcript.utterances]
    assert all(u.channel is None for u in transcript.utterances)
    # Every line once: no utterance repeats an overlapping one.
    for a, b in zip(transcript.utterances, transcript.utterances[1:], strict=False):
        assert not (a.text.strip().lower() == b.text.strip().lower() and b.start < a.end), texts
    assert word_error_rate(_reference(rendered_dir), " ".join(texts)) < 0.25
    assert {u.speaker for u in transcript.utterances} == {"S0", "S1"}


def test_one_silent_leg_is_processed_as_mono(rendered_dir: Path) -> None:
    mono = decode_audio(rendered_dir / "mono" / f"{CALL}.wav").samples[0]
    transcript = _run(DecodedAudio(np.stack([np.zeros_like(mono), mono])), ["agent", "customer"])
    assert transcript.layout == "silent_leg" and transcript.diarization == "builtin"
    assert "channel 0 is silent" in transcript.notes[0]
    assert word_error_rate(_reference(rendered_dir),
                           " ".join(u.text for u in transcript.utterances)) < 0.25


def test_one_speaker_mono_has_no_speaker_changes(rendered_dir: Path) -> None:
    transcript = _run(_agent_alone(rendered_dir))
    assert transcript.utterances
    assert len({u.speaker for u in transcript.utterances}) == 1
    assert len({t.speaker for t in transcript.speaker_turns}) == 1


def test_a_known_speaker_count_replaces_the_decision(rendered_dir: Path) -> None:
    """Reprocess with `speakers` (callqa reprocess --speakers): a two-voice mix said to
    hold one voice is not split; the same mix as it is keeps both speakers."""
    mix = decode_audio(rendered_dir / "mono" / f"{CALL}.wav")
    one = transcribe(mix, tiny_engine(), TranscribeOptions(
        "t", None, None, TranscribeParams.from_yaml(), num_speakers=1))
    assert one.utterances and len({u.speaker for u in one.utterances}) == 1
    assert len({u.speaker for u in _run(mix).utterances}) == 2


def test_quiet_recording_is_transcribed(rendered_dir: Path) -> None:
    audio = decode_audio(rendered_dir / "stereo" / f"{CALL}.wav")
    quiet = DecodedAudio(audio.samples * np.float32(10 ** (-30 / 20)))
    transcript = _run(quiet, ["agent", "customer"])
    assert any("gain +" in n for n in transcript.notes)
    wer = word_error_rate(_reference(rendered_dir),
                          " ".join(u.text for u in transcript.utterances))
    assert wer < 0.15, wer


def test_leg_decisions_on_real_stereo(rendered_dir: Path) -> None:
    audio = decode_audio(rendered_dir / "stereo" / f"{CALL}.wav")
    decision = decide_legs(audio, LegParams())
    assert decision.layout == "stereo" and decision.correlation is not None
    assert decision.correlation < 0.2  # only the echo links the legs
    mono = audio.samples.mean(axis=0)
    noisy_copy = add_noise(np.stack([mono, mono]), audio.sample_rate, 0.0, seed=2)
    assert decide_legs(DecodedAudio(noisy_copy), LegParams()).layout == "identical_legs"
    loud, gain = normalise_gain(DecodedAudio(audio.samples * np.float32(0.01)), LegParams())
    assert 35 <= gain <= 45 and np.abs(loud.samples).max() <= 1.0


def test_delta_bic_separates_one_voice_from_two(rendered_dir: Path) -> None:
    from transcribe.diarize import DiarizationParams, _embed_windows, cluster

    truth = json.loads((rendered_dir / "truth" / f"{CALL}.json").read_text())
    mix = decode_audio(rendered_dir / "mono" / f"{CALL}.wav").mono()
    turns = [(t["start"], t["end"]) for t in truth["turns"]]
    two, _ = _embed_windows(mix, 16000, turns, DiarizationParams())
    agent = [(t["start"], t["end"]) for t in truth["turns"] if t["role"] == "agent"]
    one, _ = _embed_windows(_agent_alone(rendered_dir).samples[0], 16000, agent,
                            DiarizationParams())
    assert delta_bic(two, cluster(two, 2), 8) > 0.5 > delta_bic(one, cluster(one, 2), 8)


def test_speaker_changes_fall_between_phrases() -> None:
    from core.schemas import Word

    words = [Word(start=0.0, end=0.2, text="体验"), Word(start=0.2, end=0.4, text="达"),
             Word(start=0.4, end=0.6, text="摩院。"), Word(start=0.6, end=0.8, text="你好"),
             Word(start=1.2, end=1.4, text="好")]
    runs = _phrases(words, 0.15)
    assert [[w.text for w in r] for r in runs] == [["体验", "达", "摩院。"], ["你好"], ["好"]]


def test_a_long_run_of_words_is_split_where_the_speaker_changes() -> None:
    """Whisper's first window often comes without punctuation or pauses between word
    times: three turns in one run went to one speaker (and swapped a call's roles).
    A long run is split between words at the diarizer's changes; a short one is not."""
    from core.schemas import SpeakerTurn, Word
    from transcribe.pipeline import _mono_utterances

    words = [Word(start=0.4 * k, end=0.4 * k + 0.4, text=f" w{k}") for k in range(20)]
    turns = [SpeakerTurn(speaker="S0", role="unknown", start=0.0, end=4.0),
             SpeakerTurn(speaker="S1", role="unknown", start=4.0, end=8.0)]
    utts = _mono_utterances(words, turns, 1.0, 0.15, max_run_s=4.0)
    assert [(u.speaker, u.text) for u in utts] == [
        ("S0", " ".join(f"w{k}" for k in range(10))), ("S1", " ".join(f"w{k}" for k in range(10, 20)))]
    short = _mono_utterances(words[8:12], turns, 1.0, 0.15, max_run_s=4.0)
    assert len(short) == 1  # 1.6 s: one phrase, one speaker
