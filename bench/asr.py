"""Word error rate and speed of the transcription stage, against bare faster-whisper.

    python bench/asr.py [--data DIR] [--model base] [--json out.json]

On the rendered English sample calls by default (stereo files: agent and customer
on separate channels), or on any folder of audio files with a .txt transcript of
the same stem. In the same run, on the same audio and model, "bare" is
faster-whisper as it comes: `model.transcribe(file)` (beam 5, no VAD; it mixes
a stereo file down to mono). `wer_bare_channels` is the same engine run on each
channel of a stereo file separately, segments in time order: it shows what the
echo of the other leg does to a recogniser that hears it. WER uses Whisper's
English normaliser; Chinese is scored as CER.
RTF is processing seconds per second of audio (lower is faster), for the whole
transcription stage (decoding, speech activity, recognition, diarization).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as `python bench/<name>.py`: the repo root, not bench/, comes first on the path
# (bench/analysis.py would otherwise shadow the analysis package).
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from typing import Any

from bench.common import Timer, arguments, items, machine, progress, report


def main() -> None:
    args = arguments(__doc__ or "")
    from core.models import resolve_whisper_model
    from core.settings import get_settings
    from samples.truth import pooled_error_rate
    from transcribe import TranscribeOptions, TranscribeParams, decode_audio, transcribe
    from transcribe.asr import load_engine

    settings = get_settings()
    model_path = str(resolve_whisper_model(args.model or settings.asr_model, settings.model_dir))
    engine: Any = load_engine("faster-whisper", model_path)
    params = TranscribeParams.from_yaml()
    # Stereo files only, unless the folder has only mono: bare Whisper cannot split speakers.
    corpus = [i for i in items(args) if i.reference_text]
    if any(i.kind == "stereo" for i in corpus):
        corpus = [i for i in corpus if i.kind == "stereo"]
    refs, hyps, bare_hyps, channel_hyps = [], [], [], []
    audio_s, ours, bare = 0.0, Timer(), Timer()
    stages: dict[str, float] = {}
    engine.model.transcribe(decode_audio(corpus[0].audio).mono()[:16000])  # load, warm up
    for item in progress(corpus, "asr"):
        with ours:
            audio = decode_audio(item.audio)
            transcript = transcribe(audio, engine, TranscribeOptions(
                item.audio.stem, ["agent", "customer"] if audio.channels == 2 else None,
                item.language, params))
        for stage, seconds in transcript.stage_seconds.items():
            stages[stage] = stages.get(stage, 0.0) + seconds
        with bare:
            found, _ = engine.model.transcribe(str(item.audio), language=item.language,
                                               beam_size=5)
            bare_hyps.append(" ".join(s.text for s in found))
        if audio.channels == 2:
            segments = []
            for channel in audio.samples:
                found, _ = engine.model.transcribe(channel, language=item.language, beam_size=5)
                segments += [(s.start, s.text) for s in found]
            channel_hyps.append(" ".join(text for _, text in sorted(segments)))
        audio_s += audio.duration
        refs.append(item.reference_text or "")
        hyps.append(" ".join(u.text for u in transcript.utterances))
    language = corpus[0].language

    def pooled(hypotheses: list[str]) -> float:
        return pooled_error_rate(refs, hypotheses, language)

    metric = "cer" if language == "zh" else "wer"
    figures: dict[str, Any] = {
        "calls": len(corpus),
        "audio_minutes": round(audio_s / 60, 2),
        "model": model_path,
        metric: pooled(hyps),
        f"{metric}_bare": pooled(bare_hyps),
        **({f"{metric}_bare_channels": pooled(channel_hyps)}
           if len(channel_hyps) == len(refs) else {}),
        "rtf": ours.seconds / audio_s,
        "rtf_bare": bare.seconds / audio_s,
        **{f"rtf_{stage}": seconds / audio_s for stage, seconds in sorted(stages.items())},
        "machine": machine(),
    }
    if metric == "cer":  # the keys callers look for, with the metric named
        figures["wer"], figures["wer_bare"] = figures["cer"], figures["cer_bare"]
    report(figures, args.json)


if __name__ == "__main__":
    main()
