"""Several calls decoded together (the GPU worker's batching across calls), run on the CPU."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from samples.truth import role_accuracy, word_error_rate
from tests.conftest import RENDERED
from transcribe import TranscribeOptions, TranscribeParams, decode_audio
from transcribe.asr import FasterWhisperEngine
from transcribe.batch import transcribe_many
from transcribe.models import resolve_whisper_model


def test_calls_decoded_together_keep_their_own_words(rendered_dir: Path) -> None:
    model = str(resolve_whisper_model("tiny.en", Path("/nonexistent")))
    engine = FasterWhisperEngine(model, device="cpu", batch_size=8, cpu_threads=1)
    passes: list[int] = []
    original = engine.transcribe_clips

    def counted(audio: Any, clips: list[tuple[float, float]], *args: Any) -> Any:
        passes.append(len(clips))
        return original(audio, clips, *args)

    engine.transcribe_clips = counted  # type: ignore[method-assign]
    params = TranscribeParams.from_yaml()
    calls = RENDERED[:2]
    audios: list[Any] = [decode_audio(rendered_dir / "stereo" / f"{c}.wav") for c in calls]
    audios.insert(1, ValueError("audio that would not decode"))
    options = [TranscribeOptions(c, ["agent", "customer"], "en", params) for c in calls]
    options.insert(1, TranscribeOptions("bad", None, "en", params))

    results = transcribe_many(audios, engine, options)

    assert isinstance(results[1], ValueError)  # a bad call fails alone
    transcripts = [r for i, r in enumerate(results) if i != 1]
    assert len(passes) == 1 and passes[0] > 20  # one shared pass over both calls' segments
    for call, transcript in zip(calls, transcripts, strict=True):
        assert not isinstance(transcript, BaseException)
        truth = json.loads((rendered_dir / "truth" / f"{call}.json").read_text())
        reference = " ".join(t["text"] for t in truth["turns"])
        hypothesis = " ".join(u.text for u in transcript.utterances)
        assert transcript.call_id == call
        assert word_error_rate(reference, hypothesis) <= 0.15, call
        assert role_accuracy(truth, transcript) >= 0.99
        for u in transcript.utterances:  # on the call's own clock
            assert 0 <= u.start <= u.end <= truth["duration"]


def test_mono_calls_decode_with_the_mono_settings(rendered_dir: Path) -> None:
    """A stereo and a mono call in one task: a pass each, each with its layout's Whisper
    settings (mono_whisper keeps bare faster-whisper's decoding, as on the one-call path)."""
    model = str(resolve_whisper_model("tiny.en", Path("/nonexistent")))
    engine = FasterWhisperEngine(model, device="cpu", batch_size=8, cpu_threads=1)
    seen: list[Any] = []
    original = engine.transcribe_clips

    def spied(audio: Any, clips: list[tuple[float, float]], language: Any, params: Any) -> Any:
        seen.append(params)
        return original(audio, clips, language, params)

    engine.transcribe_clips = spied  # type: ignore[method-assign]
    params = TranscribeParams.from_yaml()
    call = RENDERED[0]
    audios: list[Any] = [decode_audio(rendered_dir / kind / f"{call}.wav")
                         for kind in ("stereo", "mono")]
    options = [TranscribeOptions("s", ["agent", "customer"], "en", params),
               TranscribeOptions("m", None, "en", params)]
    results = transcribe_many(audios, engine, options)
    assert all(not isinstance(r, BaseException) and r.utterances for r in results)
    assert sorted(seen, key=lambda p: p.temperature_fallback) == [params.whisper,
                                                                  params.mono_whisper]

