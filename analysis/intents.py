"""Customer intent: one classifier interface, an offline cue-phrase default."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rapidfuzz import fuzz

from analysis.normalize import has_cjk, normalize
from core.config import AnyOf, ListOf, MapOf, load_config
from core.schemas import Evidence, IntentHit, Transcript

DEFAULT_INTENTS = Path(__file__).parent / "config" / "intents.yaml"


Words = ListOf(str)
# What intents.yaml may hold (core.config: unknown keys refused, types checked).
INTENTS_SCHEMA: dict[str, Any] = {
    "agent_weight": float, "min_score": float, "opening_turns": int, "opening_weight": float,
    "fuzzy_min_ratio": int, "exact_below_chars": int, "max_hits_per_utterance": int,
    "max_evidence": int,
    "intents": MapOf({"title": AnyOf((str, MapOf(str))), "en": Words, "zh": Words,
                      "regex": MapOf(Words)}),
    "similarity": {"enabled": bool, "min_similarity": float, "weight": float},
    "examples": MapOf(Words),
}


def intents_config(path: Path | None = None) -> dict[str, Any]:
    """intents.yaml, with `path` (CALLQA_INTENTS_PATH) merged over it: a file that lists
    `intents` replaces the taxonomy, and examples count only for its intents."""
    raw = load_config(DEFAULT_INTENTS, INTENTS_SCHEMA, path)
    raw["examples"] = {k: v for k, v in (raw.get("examples") or {}).items()
                       if k in raw["intents"]}
    return raw


class IntentClassifier(Protocol):
    def classify(self, transcript: Transcript) -> list[IntentHit]: ...


@dataclass
class IntentCue:
    intent: str
    phrases: dict[str, list[str]]
    regexes: dict[str, list[Any]] = field(default_factory=dict)


class CueIntentClassifier:
    """Scores each intent by its cue phrases in what the customer (and agent) said."""

    def __init__(self, path: Path = DEFAULT_INTENTS, fuzzy: int | None = None) -> None:
        import re

        raw = intents_config(path)
        self.agent_weight = float(raw["agent_weight"])
        self.min_score = float(raw["min_score"])
        self.opening_turns = int(raw["opening_turns"])
        self.opening_weight = float(raw["opening_weight"])
        self.fuzzy = raw["fuzzy_min_ratio"] if fuzzy is None else fuzzy
        self.exact_below = int(raw["exact_below_chars"])
        self.max_hits = int(raw["max_hits_per_utterance"])
        self.max_evidence = int(raw["max_evidence"])
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
            if has_cjk(phrase) or len(phrase) < self.exact_below:
                n += phrase in text
            else:
                n += fuzz.partial_ratio(phrase, text) >= self.fuzzy
        n += sum(1 for rx in cue.regexes.get(lang, []) if rx.search(text))
        return n

    def classify(self, transcript: Transcript) -> list[IntentHit]:
        scores: dict[str, float] = {}
        evidence: dict[str, list[Evidence]] = {}
        first_seen: dict[str, float] = {}
        customer_turn = 0
        for i, utt in enumerate(transcript.utterances):
            text = normalize(utt.text)
            lang = transcript.pack_of(utt)  # each utterance's cues in its own language
            if utt.role in ("customer", "unknown"):
                customer_turn += 1
                weight = self.opening_weight if customer_turn <= self.opening_turns else 1.0
            else:
                weight = self.agent_weight
            for cue in self.cues:
                n = self._hits(cue, lang, text)
                if not n:
                    continue
                scores[cue.intent] = scores.get(cue.intent, 0.0) + weight * min(n, self.max_hits)
                first_seen.setdefault(cue.intent, utt.start)
                if (utt.role != "agent"
                        and len(evidence.setdefault(cue.intent, [])) < self.max_evidence):
                    evidence[cue.intent].append(Evidence(
                        utterance=i, start=utt.start, end=utt.end, quote=utt.text,
                        speaker_role=utt.role))
        hits = [IntentHit(intent=k, score=round(v, 2), evidence=evidence.get(k, []))
                for k, v in scores.items() if v >= self.min_score]
        # Highest score first; an earlier first mention breaks ties (the reason for calling).
        hits.sort(key=lambda h: (-h.score, first_seen[h.intent]))
        return hits


class EmbeddingIntentClassifier:
    """The cue model plus zero-shot matching by sentence embedding (English).

    Each customer utterance is embedded once (the packaged all-MiniLM-L6-v2); its
    nearest example utterance in intents.yaml `examples` votes for that intent when the
    cosine similarity is at least `min_similarity`, adding `weight` (times the opening
    weight in the first customer turns) to the cue score. Chinese calls, or no encoder
    installed: the cue model alone.
    """

    def __init__(self, path: Path = DEFAULT_INTENTS, cues: CueIntentClassifier | None = None
                 ) -> None:
        raw = intents_config(path)
        self.cues = cues or CueIntentClassifier(path)
        self.titles = self.cues.titles
        self.min_score = self.cues.min_score
        sim = raw["similarity"]
        self.enabled = bool(sim["enabled"])
        self.min_similarity = float(sim["min_similarity"])
        self.weight = float(sim["weight"])
        self.example_intents: list[str] = []
        self.example_texts: list[str] = []
        for intent, texts in (raw.get("examples") or {}).items():
            for text in texts or []:
                self.example_intents.append(intent)
                self.example_texts.append(str(text))
        self._matrix: Any = None

    def _examples(self) -> Any:
        if self._matrix is None:
            from analysis.embeddings import embed

            self._matrix = embed(self.example_texts)
        return self._matrix

    def votes(self, texts: list[str]) -> list[tuple[str, float] | None]:
        """Per text: (intent, similarity) of its nearest example, or None below the bar."""
        if not texts or not self.example_texts:
            return [None] * len(texts)
        from analysis.embeddings import embed
        from analysis.semantic import english_encoder

        cached = english_encoder()  # the rules' embedding cache: a turn is encoded once
        sims = (cached.encode(texts) if cached is not None else embed(texts)) @ self._examples().T
        out: list[tuple[str, float] | None] = []
        for row in sims:
            j = int(row.argmax())
            out.append((self.example_intents[j], float(row[j]))
                       if row[j] >= self.min_similarity else None)
        return out

    def classify(self, transcript: Transcript) -> list[IntentHit]:
        hits = self.cues.classify(transcript)
        if not self.enabled or not self.example_texts:
            return hits
        # English examples: the English turns (a Chinese call's English stretches too).
        turns = [(i, u) for i, u in enumerate(transcript.utterances)
                 if u.role in ("customer", "unknown") and u.text.strip()
                 and transcript.pack_of(u) == "en"]
        if not turns:
            return hits
        try:
            votes = self.votes([u.text for _, u in turns])
        except (ImportError, OSError, RuntimeError):  # no encoder installed: cues alone
            return hits
        by_intent = {h.intent: h for h in hits}
        first: dict[str, float] = {h.intent: (h.evidence[0].start if h.evidence else 0.0)
                                   for h in hits}
        for n, ((i, utt), vote) in enumerate(zip(turns, votes, strict=True)):
            if vote is None:
                continue
            intent, _ = vote
            weight = self.cues.opening_weight if n < self.cues.opening_turns else 1.0
            hit = by_intent.get(intent)
            if hit is None:
                hit = by_intent[intent] = IntentHit(intent=intent, score=0.0, evidence=[])
                first[intent] = utt.start
            hit.score = round(hit.score + self.weight * weight, 2)
            first[intent] = min(first[intent], utt.start)
            if (len(hit.evidence) < self.cues.max_evidence
                    and all(e.utterance != i for e in hit.evidence)):
                hit.evidence.append(Evidence(utterance=i, start=utt.start, end=utt.end,
                                             quote=utt.text, speaker_role=utt.role))
        out = [h for h in by_intent.values() if h.score >= self.min_score]
        out.sort(key=lambda h: (-h.score, first[h.intent]))
        return out
