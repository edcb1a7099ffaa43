"""Sentiment per utterance and the customer's over the call (offline lexicon default)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from analysis.normalize import normalize
from core.schemas import Transcript
from core.yamlio import read_yaml

DEFAULT_LEXICON = Path(__file__).parent / "config" / "sentiment.yaml"


@dataclass
class SentimentResult:
    label: str  # negative | neutral | positive
    score: float  # -1 .. 1
    per_utterance: list[float]
    start: float
    end: float
    escalated: bool


class LexiconSentiment:
    def __init__(self, path: Path = DEFAULT_LEXICON) -> None:
        raw = read_yaml(path)
        self.positive = {lang: [normalize(w) for w in ws] for lang, ws in raw["positive"].items()}
        self.negative = {lang: [normalize(w) for w in ws] for lang, ws in raw["negative"].items()}
        self.negation = {lang: [normalize(w) for w in ws] for lang, ws in raw["negation"].items()}
        self.negative_threshold = float(raw.get("negative_threshold", -0.15))
        self.positive_threshold = float(raw.get("positive_threshold", 0.2))

    def utterance_score(self, text: str, lang: str) -> float:
        norm = normalize(text)
        pos = sum(norm.count(w) for w in self.positive.get(lang, []))
        neg = sum(norm.count(w) for w in self.negative.get(lang, []))
        # "not happy" / "不满意": a negated positive is a negative.
        negated = sum(norm.count(n + " " + w) + norm.count(n + w)
                      for n in self.negation.get(lang, []) for w in self.positive.get(lang, []))
        pos, neg = pos - negated, neg + negated
        total = pos + neg
        return 0.0 if total == 0 else (pos - neg) / total

    def customer(self, transcript: Transcript) -> SentimentResult:
        lang = "zh" if transcript.language == "zh" else "en"
        scores = [self.utterance_score(u.text, lang) for u in transcript.utterances]
        cust = [s for s, u in zip(scores, transcript.utterances, strict=True)
                if u.role in ("customer", "unknown")]
        if not cust:
            return SentimentResult("neutral", 0.0, scores, 0.0, 0.0, False)
        third = max(1, len(cust) // 3)
        start, end = sum(cust[:third]) / third, sum(cust[-third:]) / third
        negatives = sum(1 for s in cust if s < 0)
        # Anger anywhere weighs more than politeness at the end: "thanks" after a fight
        # does not make a complaint call positive.
        overall = (sum(cust) / len(cust)) - 0.15 * max(0, negatives - 1)
        if negatives >= 2 or overall <= self.negative_threshold:
            label = "negative"
        elif end >= self.positive_threshold and negatives == 0:
            label = "positive"
        else:
            label = "neutral"
        return SentimentResult(label, round(max(-1.0, min(1.0, overall)), 3), scores,
                               round(start, 3), round(end, 3), escalated=end < start - 0.5)
