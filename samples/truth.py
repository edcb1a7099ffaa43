"""Compare a Transcript with rendered ground truth: WER, role accuracy."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from core.schemas import Transcript

FRAME_S = 0.01


def load_truth(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text("utf-8"))


@lru_cache(maxsize=1)
def _english_normalizer() -> Any:
    from whisper.normalizers import EnglishTextNormalizer

    return EnglishTextNormalizer()


def word_error_rate(reference: str, hypothesis: str, language: str = "en") -> float:
    """WER after Whisper's English normaliser; CER for Chinese."""
    import jiwer

    if language == "zh":
        from analysis.normalize import normalize

        ref = " ".join(c for c in normalize(reference) if not c.isspace() and c.isalnum())
        hyp = " ".join(c for c in normalize(hypothesis) if not c.isspace() and c.isalnum())
        return float(jiwer.wer(ref, hyp))
    norm = _english_normalizer()
    return float(jiwer.wer(norm(reference), norm(hypothesis)))


def _frames(spans: list[tuple[float, float]], n: int) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    for start, end in spans:
        mask[int(start / FRAME_S): int(end / FRAME_S)] = True
    return mask


def role_accuracy(truth: dict[str, Any], transcript: Transcript) -> float:
    """Share of single-speaker speech time whose transcript role is the true role.

    Frames where both parties talk (overtalk) are left out: either role is right there.
    """
    n = int(truth["duration"] / FRAME_S) + 1
    roles = ("agent", "customer")
    ref = {r: _frames([(t["start"], t["end"]) for t in truth["turns"] if t["role"] == r], n)
           for r in roles}
    hyp = {r: _frames([(u.start, u.end) for u in transcript.utterances if u.role == r], n)
           for r in roles}
    single = ref["agent"] ^ ref["customer"]
    right = sum(int((single & ref[r] & hyp[r] & ~hyp[o]).sum())
                for r, o in (("agent", "customer"), ("customer", "agent")))
    labelled = int((single & (hyp["agent"] ^ hyp["customer"])).sum())
    return right / labelled if labelled else 0.0
