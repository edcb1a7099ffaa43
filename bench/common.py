"""What the benchmark scripts share: the corpus, the engines, timing, output."""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

AUDIO = {".wav", ".mp3", ".flac", ".m4a", ".ogg", ".opus", ".amr"}


@dataclass
class Item:
    audio: Path
    kind: str                        # stereo | mono
    truth: dict[str, Any] | None     # rendered ground truth (turns with roles), if any
    reference_text: str | None
    rttm: Path | None
    language: str | None             # None: not known, the recogniser detects it


def arguments(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--json", type=Path, help="Also write the figures to this JSON file.")
    parser.add_argument("--data", type=Path, help=(
        "A folder of audio files, each with a .txt transcript and/or .rttm of the same stem "
        "(default: the rendered English sample calls, rendered on first use)."))
    parser.add_argument("--samples", type=Path, default=ROOT / "data" / "bench-samples",
                        help="Where the sample calls are rendered (default: %(default)s).")
    parser.add_argument("--model", default=None,
                        help="Whisper model (directory or packaged name; default CALLQA_ASR_MODEL).")
    parser.add_argument("--language", default=None, help=(
        "Language of the audio (en, zh) given to the recogniser; default: detected per file."))
    parser.add_argument("--noise-snr", type=float, nargs="+", default=None, metavar="DB", help=(
        "Mix seeded pink noise (telephone band) into every file at each of these SNRs "
        "(speech level to noise, dB), e.g. 20 10 5 0; every level is scored in one run."))
    parser.add_argument("--limit", type=int, default=None, help="Only the first N calls.")
    parser.add_argument("--seed", type=int, default=0, help=(
        "Seed of CTranslate2's sampler (Whisper samples when it falls back to higher "
        "temperatures), set before the models load: a run is repeatable (default: 0)."))
    parser.add_argument("--kind", choices=("stereo", "mono", "both"), default="both", help=(
        "Score only the stereo files or only the mono ones (default: both)."))
    return parser.parse_args()


def sample_items(folder: Path, limit: int | None) -> list[Item]:
    from samples.dialogue import load_dialogues
    from samples.render import render_all

    if not (folder / "truth").is_dir() or len(list((folder / "truth").glob("*.json"))) < (
            limit or 22):
        print(f"rendering the sample calls into {folder} ...", file=sys.stderr)
        render_all(load_dialogues(language="en")[:limit], folder)
    items = []
    for truth_file in sorted((folder / "truth").glob("*.json"))[:limit]:
        truth = json.loads(truth_file.read_text())
        for kind in ("stereo", "mono"):
            items.append(Item(folder / kind / f"{truth_file.stem}.wav", kind, truth,
                              " ".join(t["text"] for t in truth["turns"]),
                              folder / kind / f"{truth_file.stem}.rttm", truth["language"]))
    return items


def folder_items(folder: Path, language: str | None, limit: int | None) -> list[Item]:
    from transcribe.audio import decode_audio

    items = []
    for audio in sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO)[:limit]:
        txt, rttm = audio.with_suffix(".txt"), audio.with_suffix(".rttm")
        kind = "stereo" if decode_audio(audio).channels == 2 else "mono"
        items.append(Item(audio, kind, None, txt.read_text("utf-8") if txt.exists() else None,
                          rttm if rttm.exists() else None, language))
    return items


def items(args: argparse.Namespace) -> list[Item]:
    found = (folder_items(args.data, args.language, args.limit) if args.data
             else sample_items(args.samples, args.limit))
    kind = getattr(args, "kind", "both")
    return [i for i in found if kind == "both" or i.kind == kind]


def speech_level_db(x: Any, rate: int) -> float:
    """Active speech level (dB): mean power of the 20 ms frames within 30 dB of the
    loudest ones (a simple P.56-style level: pauses and silence do not count)."""
    import numpy as np

    frame = int(rate * 0.02)
    n = len(x) // frame
    if n == 0:
        return -120.0
    power = (np.asarray(x[: n * frame], np.float64).reshape(n, frame) ** 2).mean(axis=1)
    db = 10 * np.log10(power + 1e-12)
    active = db > np.percentile(db, 99) - 30
    return float(10 * np.log10(power[active].mean() + 1e-12))


def pink_noise(n: int, rate: int, seed: int) -> Any:
    """Seeded pink (1/f) noise, band-limited to the telephone band (100-3800 Hz), unit power."""
    import numpy as np

    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / rate)
    band = (freqs >= 100) & (freqs <= 3800)
    spectrum[~band] = 0
    spectrum[band] /= np.sqrt(freqs[band])
    noise = np.fft.irfft(spectrum, n)
    return (noise / (np.sqrt((noise**2).mean()) + 1e-12)).astype(np.float32)


def add_noise(samples: Any, rate: int, snr_db: float, seed: int) -> Any:
    """(channels, n) audio with independent pink noise in each channel, `snr_db` below that
    channel's speech level (a silent channel gets noise at the louder channel's level)."""
    import numpy as np

    levels = [speech_level_db(ch, rate) for ch in samples]
    out = []
    for k, ch in enumerate(samples):
        level = levels[k] if levels[k] > -90 else max(levels)
        gain = 10 ** ((level - snr_db) / 20)
        out.append(ch + gain * pink_noise(len(ch), rate, seed * 10 + k))
    return np.clip(np.stack(out), -1.0, 1.0).astype(np.float32)


def machine() -> str:
    import os

    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


class Timer:
    def __init__(self) -> None:
        self.seconds = 0.0

    def __enter__(self) -> Timer:
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds += time.perf_counter() - self._t0


def progress(seq: list[Any], label: str) -> Iterator[Any]:
    for n, item in enumerate(seq, 1):
        print(f"\r{label} {n}/{len(seq)}", end="", file=sys.stderr, flush=True)
        yield item
    print(file=sys.stderr)


def report(figures: dict[str, Any], path: Path | None) -> None:
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        shown = f"{value:.4f}" if isinstance(value, float) else value
        print(f"{key:<{width}}  {shown}")
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(figures, indent=1, ensure_ascii=False))
