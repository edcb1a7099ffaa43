"""The GPU path (batched decoding of speech segments) run on the CPU: same results."""

from __future__ import annotations

import json
from pathlib import Path

from samples.truth import diarization_error_rate, role_accuracy, word_error_rate
from tests.conftest import RENDERED
from transcribe import TranscribeOptions, TranscribeParams, decode_audio, transcribe
from transcribe.asr import FasterWhisperEngine
from transcribe.models import resolve_whisper_model


def test_batched_clips_match_the_packed_pass(rendered_dir: Path) -> None:
    model = str(resolve_whisper_model("tiny.en", Path("/nonexistent")))
    batched = FasterWhisperEngine(model, device="cpu", batch_size=4)
    assert FasterWhisperEngine(model, device="cpu").batch_size == 0  # CPU default: packed
    call = RENDERED[1]
    truth = json.loads((rendered_dir / "truth" / f"{call}.json").read_text())
    transcript = transcribe(decode_audio(rendered_dir / "stereo" / f"{call}.wav"), batched,
                            TranscribeOptions(call, ["agent", "customer"], "en",
                                              TranscribeParams.from_yaml()))
    reference = " ".join(t["text"] for t in truth["turns"])
    assert word_error_rate(reference, " ".join(u.text for u in transcript.utterances)) <= 0.15
    assert role_accuracy(truth, transcript) >= 0.99
    assert diarization_error_rate(truth, transcript)["der"] <= 0.02
    # Times are on the call's clock: every word inside the call, in order within utterances.
    for u in transcript.utterances:
        assert 0 <= u.start <= u.end <= truth["duration"]
        assert [w.start for w in u.words] == sorted(w.start for w in u.words)
