"""A call that changes language, no hint: festival English around a Spanish turn from
espeak-ng (there is no Mandarin TTS here; the code is language-agnostic). Needs the
multilingual base model."""

from __future__ import annotations

import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from samples.truth import word_error_rate
from transcribe import TranscribeOptions, TranscribeParams, decode_audio, transcribe
from transcribe.asr import AsrEngine, load_engine
from transcribe.audio import DecodedAudio
from transcribe.models import resolve_whisper_model

pytestmark = pytest.mark.slow

ENGLISH = ["Good morning, thank you for calling the bank. I can help you with your credit "
           "card payment today.",
           "No problem at all. Let me look up your account with your date of birth instead."]
SPANISH = ("Buenos días. Quiero pagar la factura de mi tarjeta de crédito, pero no tengo el "
           "número de cuenta aquí conmigo.")


@lru_cache(maxsize=1)
def base_engine() -> AsrEngine:
    return load_engine("faster-whisper", str(resolve_whisper_model("base", Path("/nonexistent"))))


def _speech(tmp: Path, name: str, text: str, spanish: bool = False) -> np.ndarray:
    out = tmp / f"{name}.wav"
    if spanish:
        subprocess.run(["espeak-ng", "-v", "es", "-s", "140", "-w", str(out), text], check=True)
    else:
        subprocess.run(["text2wave", "-o", str(out)], input=text.encode(), check=True)
    return decode_audio(out).mono() * np.float32(0.5)


def test_mixed_language_call_is_transcribed_in_both(tmp_path: Path) -> None:
    if shutil.which("espeak-ng") is None or shutil.which("text2wave") is None:
        pytest.fail("espeak-ng and festival are needed: run scripts/bootstrap.sh --dev")
    gap = np.zeros(16000, np.float32)
    parts = [_speech(tmp_path, "en1", ENGLISH[0]), _speech(tmp_path, "es", SPANISH, True),
             _speech(tmp_path, "en2", ENGLISH[1])]
    audio = DecodedAudio(np.concatenate([gap, parts[0], gap, parts[1], gap, parts[2], gap])[None])
    transcript = transcribe(audio, base_engine(), TranscribeOptions(
        "mixed", None, None, TranscribeParams.from_yaml()))
    by_language: dict[str, str] = {}
    for u in transcript.utterances:
        by_language[u.language or "?"] = f"{by_language.get(u.language or '?', '')} {u.text}"
    assert set(by_language) == {"en", "es"}, by_language
    assert transcript.language == "en"
    assert word_error_rate(" ".join(ENGLISH), by_language["en"]) < 0.2
    assert word_error_rate(SPANISH, by_language["es"]) < 0.35
