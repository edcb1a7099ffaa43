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
    return pooled_error_rate([reference], [hypothesis], language)


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


def diarization_error_rate(truth: dict[str, Any], transcript: Transcript,
                           collar: float = 0.25) -> dict[str, float]:
    """DER of the transcript's speaker turns against the rendered turns (pyannote.metrics).

    Speakers are compared by role (agent/customer) when the transcript has roles, so the
    figure also counts role mistakes; `collar` seconds around each reference boundary are
    not scored (0.25 is the usual convention; 0 scores every frame). Overlap is scored.
    Returns the DER and the total reference speech, to pool over calls.
    """
    from pyannote.core import Annotation, Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate

    reference, hypothesis = Annotation(), Annotation()
    for i, t in enumerate(truth["turns"]):
        reference[Segment(t["start"], t["end"]), i] = t["role"]
    for i, turn in enumerate(transcript.speaker_turns):
        label = turn.role if turn.role != "unknown" else turn.speaker
        hypothesis[Segment(turn.start, turn.end), i] = label
    metric = DiarizationErrorRate(collar=collar, skip_overlap=False)
    uem = Timeline([Segment(0, max(truth["duration"], transcript.duration))])
    components = metric(reference, hypothesis, uem=uem, detailed=True)
    return {"der": float(components["diarization error rate"]),
            "total": float(components["total"]),
            "errors": float(components["confusion"] + components["false alarm"]
                            + components["missed detection"])}


def pooled_error_rate(references: list[str], hypotheses: list[str], language: str = "en") -> float:
    """WER (CER for Chinese) over a corpus: total errors / total reference words."""
    import jiwer

    if language == "zh":
        from analysis.normalize import normalize

        def chars(text: str) -> str:
            return " ".join(c for c in normalize(text) if c.isalnum())

        return float(jiwer.wer([chars(r) for r in references], [chars(h) for h in hypotheses]))
    norm = _english_normalizer()
    return float(jiwer.wer([norm(r) for r in references], [norm(h) for h in hypotheses]))
