"""Word (or character) error rate and speed of the transcription stage, against bare
faster-whisper on the same audio in the same run.

    python bench/asr.py [--data DIR] [--model base] [--language en|zh] [--noise-snr 20 10 5 0]
                        [--kind stereo|mono|both] [--limit N] [--json out.json]

Every file is scored: by default the rendered English sample calls, each as a stereo
file (agent and customer on separate channels) and as a mono mix; or every audio file
in `--data` that has a .txt transcript of the same stem. The language is detected per
file unless `--language` is given (to the pipeline and to bare alike); the metric
follows the language scored: WER for English (Whisper's English normaliser), CER for
Chinese (traditional -> simplified, Chinese numerals as digits, punctuation and spaces
dropped). "Bare" is faster-whisper as it comes: `model.transcribe(audio)` (beam 5, no
VAD; a stereo file mixed down to mono, as faster-whisper does with a file), on a model
instance of its own.

Whisper samples when it falls back to higher temperatures, so unseeded runs differ (bare
moved 5 points of WER between two runs at 10 dB). `--seed` (0) is CTranslate2's seed
(`ctranslate2.set_random_seed`). CTranslate2 4.x draws from one generator per model
thread, seeded from it when first used and never again (setting the seed again does not
restart it), so both sides get freshly loaded models (about a second each, not timed)
for every file and level: each file's figures are the same in every run, whatever was
decoded before it, and a change to the pipeline does not move bare's. The seed is in the
JSON.

`--noise-snr`: seeded pink noise (telephone band, independent per channel) is mixed into
every file at each level (speech level to noise, dB); pipeline and bare hear the same
noisy audio, and every level is reported. Figures are pooled per level (total errors /
total reference words or characters); `per_file` lists each file.
RTF is processing seconds per second of audio (lower is faster) for the whole
transcription stage (speech activity, recognition, diarization), decoding excluded on
both sides; model loading and warm-up are excluded and reported as `warmup_s`.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as `python bench/<name>.py`: the repo root, not bench/, comes first on the path
# (bench/analysis.py would otherwise shadow the analysis package).
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import time
import zlib
from typing import Any

from bench.common import Timer, add_noise, arguments, items, machine, progress, report


def _metric(language: str | None) -> str:
    return "cer" if language == "zh" else "wer"


def _pooled(rows: list[dict[str, Any]], key: str, language: str) -> float:
    from samples.truth import pooled_error_rate

    return round(pooled_error_rate([r["reference"] for r in rows], [r[key] for r in rows],
                                   language), 4)


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Pooled figures of one noise level: per language scored, and per file kind."""
    out: dict[str, Any] = {"files": len(rows)}
    audio_s = sum(r["audio_s"] for r in rows)
    out["rtf"] = round(sum(r["seconds"] for r in rows) / audio_s, 4)
    out["rtf_bare"] = round(sum(r["seconds_bare"] for r in rows) / audio_s, 4)
    for language in sorted({r["language"] for r in rows}):
        metric = _metric(language)
        same = [r for r in rows if r["language"] == language]
        out[metric] = _pooled(same, "hypothesis", language)
        out[f"{metric}_bare"] = _pooled(same, "bare", language)
        for kind in ("stereo", "mono"):
            part = [r for r in same if r["kind"] == kind]
            if part and len(part) < len(rows):
                out[f"{metric}_{kind}"] = _pooled(part, "hypothesis", language)
                out[f"{metric}_bare_{kind}"] = _pooled(part, "bare", language)
    for kind in ("stereo", "mono"):
        part = [r for r in rows if r["kind"] == kind]
        if part and len(part) < len(rows):
            seconds = sum(r["audio_s"] for r in part)
            out[f"rtf_{kind}"] = round(sum(r["seconds"] for r in part) / seconds, 4)
            out[f"rtf_bare_{kind}"] = round(sum(r["seconds_bare"] for r in part) / seconds, 4)
    stages: dict[str, float] = {}
    for r in rows:
        for stage, seconds in r["stage_seconds"].items():
            stages[stage] = stages.get(stage, 0.0) + seconds
    out.update({f"rtf_{stage}": round(s / audio_s, 4) for stage, s in sorted(stages.items())})
    return out


def main() -> None:
    args = arguments(__doc__ or "")
    import ctranslate2
    from faster_whisper import WhisperModel

    ctranslate2.set_random_seed(args.seed)  # each model's generator starts from it
    from core.settings import get_settings
    from samples.truth import pooled_error_rate
    from transcribe import TranscribeOptions, TranscribeParams, decode_audio, transcribe
    from transcribe.asr import load_engine
    from transcribe.audio import DecodedAudio
    from transcribe.diarize import warm_up as warm_up_diarizer
    from transcribe.models import resolve_whisper_model
    from transcribe.pipeline import DEFAULT_PARAMS

    settings = get_settings()
    model_path = str(resolve_whisper_model(args.model or settings.asr_model, settings.model_dir))
    t0 = time.perf_counter()
    engine: Any = load_engine("faster-whisper", model_path)

    def fresh(cls: Any = WhisperModel) -> Any:
        """A newly loaded model: a sampler seeded afresh (see the docstring)."""
        return cls(model_path, device=engine.device, compute_type=engine.compute_type,
                   local_files_only=True)

    bare_model = fresh()
    params = TranscribeParams.from_yaml(settings.transcribe_params or DEFAULT_PARAMS)
    corpus = [i for i in items(args) if i.reference_text]
    if not corpus:
        raise SystemExit("no audio file with a .txt transcript to score")
    warm = decode_audio(corpus[0].audio).mono()[:16000]
    for model in (engine.model, bare_model):  # load, warm up (segments decode as read)
        list(model.transcribe(warm)[0])
    warm_up_diarizer()
    warmup_s = time.perf_counter() - t0
    levels: list[float | None] = list(args.noise_snr) if args.noise_snr else [None]
    rows: list[dict[str, Any]] = []
    for item in progress(corpus, "asr"):
        clean = decode_audio(item.audio)
        for snr in levels:
            audio = clean if snr is None else DecodedAudio(add_noise(
                clean.samples, clean.sample_rate, snr,
                zlib.crc32(f"{item.audio.stem}:{snr}".encode())), clean.sample_rate)
            engine.model, bare_model = fresh(type(engine.model)), fresh()
            ours, bare = Timer(), Timer()
            with ours:
                transcript = transcribe(audio, engine, TranscribeOptions(
                    item.audio.stem, ["agent", "customer"] if audio.channels == 2 else None,
                    args.language, params))
            with bare:
                found, info = bare_model.transcribe(audio.mono(), language=args.language,
                                                    beam_size=5)
                bare_text = " ".join(s.text for s in found)
            # Scored in the language given, else the one the truth names, else detected.
            language = args.language or (item.truth or {}).get("language") \
                or transcript.language or info.language
            reference = item.reference_text or ""
            hypothesis = " ".join(u.text for u in transcript.utterances)
            metric = _metric(language)
            rows.append({
                "file": str(item.audio.relative_to(item.audio.parent.parent)),
                "kind": item.kind, "snr": snr, "language": language,
                "detected": transcript.language, "detected_bare": info.language,
                "audio_s": round(audio.duration, 2), "seconds": round(ours.seconds, 3),
                "seconds_bare": round(bare.seconds, 3),
                metric: round(pooled_error_rate([reference], [hypothesis], language), 4),
                f"{metric}_bare": round(pooled_error_rate([reference], [bare_text], language), 4),
                "utterances": len(transcript.utterances), "diarization": transcript.diarization,
                "stage_seconds": transcript.stage_seconds,
                "reference": reference, "hypothesis": hypothesis, "bare": bare_text})
            r = rows[-1]  # as it comes: a long run shows its figures before it ends
            print(f"\n  {r['file']} snr={snr} {metric}={r[metric]:.3f} "
                  f"bare={r[metric + '_bare']:.3f} rtf={ours.seconds / audio.duration:.3f} "
                  f"bare={bare.seconds / audio.duration:.3f} stages={transcript.stage_seconds}",
                  file=sys.stderr, flush=True)
    per_level = []
    for snr in levels:
        level_rows = [r for r in rows if r["snr"] == snr]
        per_level.append({"snr": snr, **_summary(level_rows)})
    first = per_level[0]
    figures: dict[str, Any] = {
        "calls": len({i.audio.stem for i in corpus}),
        **first,
        "audio_minutes": round(sum(r["audio_s"] for r in rows if r["snr"] == levels[0]) / 60, 2),
        "model": model_path,
        "language": args.language or "detected",
        "warmup_s": round(warmup_s, 2),
        "seed": args.seed,  # CTranslate2's, each file's models loaded afresh
        "machine": machine(),
    }
    if len(per_level) > 1:
        figures["levels"] = per_level
    report({k: v for k, v in figures.items() if k != "levels"}, None)
    for level in per_level[1:]:
        print(" ".join(f"{k}={v}" for k, v in level.items() if not k.startswith("rtf_")))
    figures["per_file"] = [{k: v for k, v in r.items() if k not in ("reference", "hypothesis",
                                                                   "bare")} for r in rows]
    for r in figures["per_file"]:
        m = _metric(r["language"])
        print(f"  {r['file']:<48} snr={r['snr']} {m}={r[m]:.3f} bare={r[m + '_bare']:.3f} "
              f"rtf={r['seconds'] / r['audio_s']:.3f} bare={r['seconds_bare'] / r['audio_s']:.3f}",
              file=sys.stderr)
    if args.json:
        import json

        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
