"""Agent or customer, decided from what each speaker says and how, when no channel map says."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from core.config import ListOf, MapOf, load_config

DEFAULT_CUES = Path(__file__).parent / "config" / "roles.yaml"


@dataclass(frozen=True)
class RoleDecision:
    roles: dict[str, str]    # speaker label -> agent | customer
    confidence: float        # 0.5 (a guess) .. 1.0
    scores: dict[str, float]


ROLES_SCHEMA: dict[str, Any] = {
    "first_speaker": float, "confidence_scale": float,
    "cues": MapOf(MapOf(ListOf(str))),  # language -> weight -> phrases
}


@lru_cache(maxsize=4)
def roles_config(path: Path | None = None) -> dict[str, Any]:
    """roles.yaml (CALLQA_ROLES_PATH for another file, merged over the packaged one)."""
    return load_config(DEFAULT_CUES, ROLES_SCHEMA, path)


@lru_cache(maxsize=4)
def _cues(path: Path | None) -> tuple[float, float, dict[str, list[tuple[float, str]]]]:
    raw = roles_config(path)
    cues = {lang: [(float(w), phrase.lower()) for w, phrases in by_weight.items()
                   for phrase in phrases]
            for lang, by_weight in raw["cues"].items()}
    return float(raw["first_speaker"]), float(raw["confidence_scale"]), cues


def assign_roles(utterances: list[tuple[str, str]], language: str,
                 cues_path: Path | None = None) -> RoleDecision:
    """`utterances` are (speaker, text) in time order; two speakers expected."""
    first_bonus, scale, cues = _cues(cues_path)
    lang_cues = cues.get("zh" if language == "zh" else "en", [])
    speakers = list(dict.fromkeys(s for s, _ in utterances))
    scores = dict.fromkeys(speakers, 0.0)
    if speakers:
        scores[speakers[0]] += first_bonus
    for speaker, text in utterances:
        lowered = text.lower()
        scores[speaker] += sum(w for w, phrase in lang_cues if phrase in lowered)
    if not speakers:
        return RoleDecision({}, 0.5, {})
    ranked = sorted(speakers, key=lambda s: -scores[s])
    roles = {s: ("agent" if i == 0 else "customer") for i, s in enumerate(ranked)}
    margin = scores[ranked[0]] - (scores[ranked[1]] if len(ranked) > 1 else 0.0)
    confidence = 1 / (1 + math.exp(-margin / scale))
    return RoleDecision(roles, round(confidence, 3), scores)
