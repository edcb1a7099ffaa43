"""Diarization error rate and role accuracy, stereo and mono.

    python bench/diarization.py [--data DIR] [--model base] [--json out.json]

On the rendered English sample calls by default: each call as stereo (agent left,
customer right, speaker = channel, roles from the channel map) and as a mono mix
(built-in diarizer, roles from what is said). Or on a folder of audio files with
an .rttm of the same stem (roles are scored when its speaker names are agent and
customer). DER uses pyannote.metrics with overlap scored, speakers compared by
role; `der_*` uses the usual 0.25 s collar around reference boundaries,
`der_*_collar0` scores every frame (pyannote's collar is the total width of the
unscored zone: collar=0.25 is ±0.125 s around each boundary).
`calls` counts calls (a sample call is scored as stereo and as mono: `files`);
CALLQA_TRANSCRIBE_PARAMS is honoured; model warm-up is excluded from the RTF and
reported as `warmup_s`. Pooled over calls (total error / total speech).
Role accuracy is the share of single-speaker speech time given the right role.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as `python bench/<name>.py`: the repo root, not bench/, comes first on the path
# (bench/analysis.py would otherwise shadow the analysis package).
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import time
from typing import Any

import numpy as np

from bench.common import Timer, arguments, items, machine, progress, report


def _rttm_truth(path: Path, duration: float) -> dict[str, Any]:
    turns = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 8 and parts[0] == "SPEAKER":
            start, length = float(parts[3]), float(parts[4])
            turns.append({"start": start, "end": start + length, "role": parts[7]})
    return {"turns": turns, "duration": duration}


def main() -> None:
    args = arguments(__doc__ or "")
    from core.settings import get_settings
    from samples.truth import diarization_error_rate, role_accuracy
    from transcribe import TranscribeOptions, TranscribeParams, decode_audio, transcribe
    from transcribe.asr import load_engine
    from transcribe.diarize import warm_up as warm_up_diarizer
    from transcribe.models import resolve_whisper_model
    from transcribe.pipeline import DEFAULT_PARAMS

    settings = get_settings()
    model_path = str(resolve_whisper_model(args.model or settings.asr_model, settings.model_dir))
    engine: Any = load_engine("faster-whisper", model_path)
    params = TranscribeParams.from_yaml(settings.transcribe_params or DEFAULT_PARAMS)
    t0 = time.perf_counter()
    engine.model.transcribe(np.zeros(16000, np.float32))  # load, warm up: not in the RTF
    warm_up_diarizer()
    warmup_s = time.perf_counter() - t0
    totals: dict[str, dict[str, float]] = {}
    roles: dict[str, list[float]] = {}
    timers = {"stereo": Timer(), "mono": Timer()}
    audio_s = {"stereo": 0.0, "mono": 0.0}
    corpus = [i for i in items(args) if i.truth or i.rttm]
    calls, files = {i.audio.stem for i in corpus}, len(corpus)
    for item in progress(corpus, "diarization"):
        audio = decode_audio(item.audio)
        with timers[item.kind]:
            transcript = transcribe(audio, engine, TranscribeOptions(
                item.audio.stem, ["agent", "customer"] if item.kind == "stereo" else None,
                item.language, params))
        audio_s[item.kind] += audio.duration
        truth = item.truth or _rttm_truth(item.rttm, audio.duration)
        for collar, suffix in ((0.25, ""), (0.0, "_collar0")):
            der = diarization_error_rate(truth, transcript, collar)
            bucket = totals.setdefault(f"der_{item.kind}{suffix}", {"errors": 0.0, "total": 0.0})
            bucket["errors"] += der["errors"]
            bucket["total"] += der["total"]
        if {t["role"] for t in truth["turns"]} <= {"agent", "customer"}:
            roles.setdefault(item.kind, []).append(role_accuracy(truth, transcript))
    figures: dict[str, Any] = {"model": model_path}
    for key, bucket in sorted(totals.items()):
        figures[key] = bucket["errors"] / bucket["total"] if bucket["total"] else float("nan")
    for kind, accuracies in sorted(roles.items()):
        figures[f"role_acc_{kind}"] = sum(accuracies) / len(accuracies)
        figures[f"role_acc_{kind}_min"] = min(accuracies)
    for kind, timer in timers.items():
        if audio_s[kind]:
            figures[f"rtf_{kind}"] = timer.seconds / audio_s[kind]
    figures["calls"] = len(calls)
    figures["files"] = files
    # pyannote's collar is the width of the no-score zone: 0.25 s is ±0.125 s around
    # every reference boundary.
    figures["der_collar_s"] = 0.25
    figures["der_collar_convention"] = "pyannote collar=0.25: ±0.125 s around each boundary"
    figures["warmup_s"] = round(warmup_s, 2)
    figures["machine"] = machine()
    report(figures, args.json)


if __name__ == "__main__":
    main()
