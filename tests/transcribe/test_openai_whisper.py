"""The openai-whisper engine on a converted tiny.en: same words as faster-whisper, and the
whole transcription stage on a short stereo call."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from core.settings import get_settings, reset_settings
from samples import DIALOGUES_DIR
from samples.truth import role_accuracy, word_error_rate
from transcribe import TranscribeOptions, TranscribeParams, decode_audio, transcribe
from transcribe.asr import AsrResult, OpenAIWhisperEngine, load_engine
from transcribe.models import resolve_openai_whisper_checkpoint, resolve_whisper_model

SENTENCE = "Can you please confirm your date of birth and the last four digits of your account number?"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return resolve_openai_whisper_checkpoint("tiny.en", tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def engine(checkpoint: Path) -> OpenAIWhisperEngine:
    loaded = load_engine("openai-whisper", str(checkpoint), device="cpu")
    assert isinstance(loaded, OpenAIWhisperEngine)
    return loaded


@pytest.fixture(scope="module")
def sentence(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    if shutil.which("text2wave") is None:
        pytest.fail("festival is not installed: run scripts/bootstrap.sh --dev")
    wav = tmp_path_factory.mktemp("tts") / "sentence.wav"
    subprocess.run(["text2wave", "-F", "16000", "-o", str(wav)], input=SENTENCE.encode(),
                   check=True)
    return decode_audio(wav).mono()


def _text(result: AsrResult) -> str:
    return "".join(s.text for s in result.segments).strip()


def test_engine_identity(engine: OpenAIWhisperEngine, checkpoint: Path) -> None:
    import whisper

    assert engine.name == "openai-whisper" and engine.version == whisper.__version__
    assert engine.model_name == str(checkpoint) and engine.device == "cpu"
    assert engine.compute_type == "float32" and not engine.fp16  # fp16 only on CUDA
    assert not engine.multilingual
    # The alignment heads stored by the converter are in use (not the default last half).
    assert engine.model.alignment_heads.to_dense().nonzero().tolist() == \
        [[1, 0], [2, 0], [2, 5], [3, 0], [3, 1], [3, 2], [3, 3], [3, 4]]
    # Loaded once per process.
    assert load_engine("openai-whisper", str(checkpoint), device="cpu").model is engine.model
    with pytest.raises(ValueError, match="not known"):
        OpenAIWhisperEngine(str(checkpoint), "cpu", "int3")


def test_same_words_as_faster_whisper(engine: OpenAIWhisperEngine, sentence: np.ndarray) -> None:
    params = TranscribeParams.from_yaml().whisper
    ours = engine.transcribe(sentence, "en", params)
    tiny = str(resolve_whisper_model("tiny.en", Path("/nonexistent")))
    # float32: the same arithmetic as openai-whisper, so the same words and times; int8 is
    # faster-whisper's default on CPU.
    theirs = load_engine("faster-whisper", tiny, "cpu", "float32").transcribe(sentence, "en", params)
    default = load_engine("faster-whisper", tiny, "cpu", "int8").transcribe(sentence, "en", params)

    assert ours.language == "en"
    assert word_error_rate(SENTENCE, _text(ours)) <= 0.1, _text(ours)
    assert word_error_rate(SENTENCE, _text(theirs)) <= 0.1, _text(theirs)
    assert word_error_rate(SENTENCE, _text(default)) <= 0.1, _text(default)
    assert _text(ours) == _text(theirs)
    our_words = [w for s in ours.segments for w in s.words]
    their_words = [w for s in theirs.segments for w in s.words]
    assert [w.text for w in our_words] == [w.text for w in their_words]
    for a, b in zip(our_words, their_words, strict=True):
        assert abs(a.start - b.start) <= 0.1 and abs(a.end - b.end) <= 0.1, (a, b)
        assert abs(a.probability - b.probability) <= 0.05, (a, b)
    seg, their_seg = ours.segments[0], theirs.segments[0]
    assert abs(seg.avg_logprob - their_seg.avg_logprob) <= 0.05


def test_stereo_call_through_transcribe(engine: OpenAIWhisperEngine, tmp_path: Path) -> None:
    """A short rendered call (four turns), both legs, through the transcription stage."""
    if shutil.which("text2wave") is None:
        pytest.fail("festival is not installed: run scripts/bootstrap.sh --dev")
    from samples.dialogue import load_dialogue
    from samples.render import render_dialogue

    dialogue = load_dialogue(DIALOGUES_DIR / "en" / "en-10-collections-threat-abrupt-end.yaml")
    short = dialogue.model_copy(update={"turns": dialogue.turns[:4]})
    rendered = render_dialogue(short, tmp_path)
    truth = json.loads(rendered.truth.read_text())
    transcript = transcribe(decode_audio(rendered.stereo), engine,
                            TranscribeOptions(short.id, ["agent", "customer"], "en",
                                              TranscribeParams.from_yaml()))
    assert transcript.engine == "openai-whisper" and transcript.version == engine.version
    assert transcript.language == "en" and transcript.diarization == "channel"
    assert {u.role for u in transcript.utterances} == {"agent", "customer"}
    hypothesis = " ".join(u.text for u in transcript.utterances)
    wer = word_error_rate(" ".join(t["text"] for t in truth["turns"]), hypothesis)
    assert wer <= 0.15, f"WER {wer:.3f}: {hypothesis}"
    assert role_accuracy(truth, transcript) >= 0.99
    for utt in transcript.utterances:
        assert utt.words and all(w.start <= w.end for w in utt.words)
        assert utt.start <= utt.words[0].start and utt.words[-1].end <= utt.end


def test_engine_from_settings_converts_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from transcribe.tasks import engine_from_settings

    monkeypatch.setenv("CALLQA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CALLQA_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("CALLQA_ASR_ENGINE", "openai-whisper")
    monkeypatch.setenv("CALLQA_ASR_MODEL", "tiny.en")
    monkeypatch.setenv("CALLQA_ASR_DEVICE", "cpu")
    reset_settings()
    try:
        loaded = engine_from_settings(get_settings())
    finally:
        reset_settings()
    assert loaded.name == "openai-whisper"
    assert loaded.model_name == str(tmp_path / "models" / "tiny.en.pt")
    checkpoint = torch.load(loaded.model_name, weights_only=True)
    assert checkpoint["dims"]["n_text_layer"] == 4 and "alignment_heads" in checkpoint
