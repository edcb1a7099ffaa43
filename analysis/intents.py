"""Customer intent: one classifier interface, an offline cue-phrase default."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rapidfuzz import fuzz

from analysis.normalize import has_cjk, normalize
from core.schemas import Evidence, IntentHit, Transcript
from core.yamlio import read_yaml

DEFAULT_INTENTS = Path(__file__).parent / "config" / "intents.yaml"


class IntentClassifier(Protocol):
    def classify(self, transcript: Transcript) -> list[IntentHit]: ...


@dataclass
class IntentCue:
    intent: str
    phrases: dict[str, list[str]]
    regexes: dict[str, list[Any]] = field(default_factory=dict)


class CueIntentClassifier:
    """Scores each intent by its cue phrases in what the customer (and agent) said."""

    def __init__(self, path: Path = DEFAULT_INTENTS, fuzzy: int = 90) -> None:
        import re

        raw = read_yaml(path)
        self.agent_weight = float(raw.get("agent_weight", 0.35))
        self.min_score = float(raw.get("min_score", 1.0))
        self.opening_turns = int(raw.get("opening_turns", 0))
        self.opening_weight = float(raw.get("opening_weight", 1.0))
        self.fuzzy = fuzzy
        # title: a string, or one per language ({en: ..., zh: ...})
        self.titles = {k: v.get("title", k) for k, v in raw["intents"].items()}
        self.cues = [
            IntentCue(
                intent,
                {lang: [normalize(p) for p in spec.get(lang, [])] for lang in ("en", "zh")},
                {lang: [re.compile(p, re.I) for p in ps]
                 for lang, ps in (spec.get("regex") or {}).items()},
            )
            for intent, spec in raw["intents"].items()
        ]

    def _hits(self, cue: IntentCue, lang: str, text: str) -> int:
        n = 0
        for phrase in cue.phrases.get(lang, []):
            if has_cjk(phrase) or len(phrase) < 6:
                n += phrase in text
            else:
                n += fuzz.partial_ratio(phrase, text) >= self.fuzzy
        n += sum(1 for rx in cue.regexes.get(lang, []) if rx.search(text))
        return n

    def classify(self, transcript: Transcript) -> list[IntentHit]:
        lang = "zh" if transcript.language == "zh" else "en"
        scores: dict[str, float] = {}
        evidence: dict[str, list[Evidence]] = {}
        first_seen: dict[str, float] = {}
        customer_turn = 0
        for i, utt in enumerate(transcript.utterances):
            text = normalize(utt.text)
            if utt.role in ("customer", "unknown"):
                customer_turn += 1
                weight = self.opening_weight if customer_turn <= self.opening_turns else 1.0
            else:
                weight = self.agent_weight
            for cue in self.cues:
                n = self._hits(cue, lang, text)
                if not n:
                    continue
                scores[cue.intent] = scores.get(cue.intent, 0.0) + weight * min(n, 2)
                first_seen.setdefault(cue.intent, utt.start)
                if utt.role != "agent" and len(evidence.setdefault(cue.intent, [])) < 3:
                    evidence[cue.intent].append(Evidence(
                        utterance=i, start=utt.start, end=utt.end, quote=utt.text,
                        speaker_role=utt.role))
        hits = [IntentHit(intent=k, score=round(v, 2), evidence=evidence.get(k, []))
                for k, v in scores.items() if v >= self.min_score]
        # Highest score first; an earlier first mention breaks ties (the reason for calling).
        hits.sort(key=lambda h: (-h.score, first_seen[h.intent]))
        return hits
