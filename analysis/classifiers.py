"""Intent and sentiment from any local sequence-classification model (transformers).

`TransformersTextClassifier` loads a model directory (config.json, weights, tokenizer)
written by `callqa train` or any `save_pretrained`, never from a hub. On top of it:

- `TransformersIntentClassifier` implements `analysis.intents.IntentClassifier`: every
  customer utterance is scored, the first customer turns (where people say why they
  call) weigh more, a label's score is its weighted mean probability and its evidence
  the utterances that voted for it.
- `TransformersSentiment` has `LexiconSentiment`'s `customer(transcript)` contract.

torch and transformers are imported when a model is loaded, not when this module is.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from analysis.sentiment import SentimentResult
from core import devices
from core.schemas import CUSTOMER_ROLES, Evidence, IntentHit, Transcript
from core.settings import keep_model_hubs_offline

if TYPE_CHECKING:
    import numpy as np

# Nothing is ever fetched from a model hub.
keep_model_hubs_offline()

SENTIMENT_LABELS = ("negative", "neutral", "positive")
# Labels a user may train for "no intent here"; they never become an IntentHit.
NO_INTENT_LABELS = frozenset({"none", "other", "no_intent", "no-intent", "unknown"})


class ModelLoadError(ValueError):
    """A model directory that is missing, incomplete or of the wrong kind."""


def check_model_dir(model_dir: Path | str) -> Path:
    path = Path(model_dir).expanduser()
    if not path.is_dir():
        raise ModelLoadError(f"{path}: no such model directory")
    if not (path / "config.json").is_file():
        raise ModelLoadError(f"{path}: not a transformers model directory (no config.json)")
    return path


def resolve_device(device: str = "auto") -> str:
    """core.devices.resolve_device for torch, its refusal a ModelLoadError like the others."""
    try:
        return devices.resolve_device(device, "torch")
    except devices.DeviceUnavailable as exc:
        raise ModelLoadError(str(exc)) from exc


def quiet_transformers() -> None:
    """transformers warns about the new classification head on every fine-tune base."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


class TransformersTextClassifier:
    """A local sequence-classification model: texts in, (label, probability) out, batched."""

    def __init__(self, model_dir: Path | str, device: str = "auto", batch_size: int = 32,
                 max_length: int = 256) -> None:
        path = check_model_dir(model_dir)
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        quiet_transformers()
        self.model_dir = path
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.max_length = max_length
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            self.model = AutoModelForSequenceClassification.from_pretrained(
                str(path), local_files_only=True)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelLoadError(f"{path}: cannot load a sequence-classification model: "
                                 f"{exc}") from exc
        self.model.to(self.device)
        self.model.eval()
        self._torch = torch
        config = self.model.config
        # A tokenizer may allow more tokens than the model has positions for.
        self.max_length = min(max_length, int(getattr(config, "max_position_embeddings", 0)
                                              or max_length))
        self.task: str | None = getattr(config, "callqa_task", None)  # set by callqa train
        id2label = config.id2label or {}
        self.labels: list[str] = [str(id2label.get(i, f"LABEL_{i}"))
                                  for i in range(self.model.config.num_labels)]

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """Softmax over the labels, one row per text (in the order given)."""
        import numpy as np

        torch = self._torch
        probs = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        # Similar lengths share a batch: less padding.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with torch.inference_mode():
            for b in range(0, len(order), self.batch_size):
                idx = order[b:b + self.batch_size]
                enc = self.tokenizer([texts[i] or " " for i in idx], padding=True, truncation=True,
                                     max_length=self.max_length, return_tensors="pt")
                enc = {k: v.to(self.device) for k, v in enc.items()}
                logits = self.model(**enc).logits.float()
                probs[idx] = torch.softmax(logits, dim=-1).cpu().numpy()
        return probs

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """The most probable label of each text and its probability."""
        probs = self.probabilities(texts)
        return [(self.labels[int(row.argmax())], float(row.max())) for row in probs]


class TextClassifier(Protocol):
    """A TransformersTextClassifier or an analysis.heads.HeadClassifier."""

    model_dir: Path
    task: str | None
    labels: list[str]

    def probabilities(self, texts: Sequence[str]) -> np.ndarray: ...

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float]]: ...


@lru_cache(maxsize=8)
def _load_cached(path: str, mtime: float, device: str) -> TextClassifier:
    from analysis.heads import HeadClassifier, is_head_dir

    if is_head_dir(path):
        return HeadClassifier(path)
    return TransformersTextClassifier(path, device=device)


def load_text_classifier(model_dir: Path | str, device: str = "auto") -> TextClassifier:
    """The model in a directory written by `callqa train` (a scikit-learn head, or a
    fine-tuned transformers model), loaded once per process (again when rewritten)."""
    from analysis.heads import HEAD_META

    path = Path(model_dir).expanduser()
    if not path.is_dir():
        raise ModelLoadError(f"{path}: no such model directory")
    marker = path / HEAD_META
    if not marker.is_file():
        check_model_dir(path)
        marker = path / "config.json"
    return _load_cached(str(path.resolve()), marker.stat().st_mtime, device)


def _classifier(model: TextClassifier | Path | str, device: str) -> TextClassifier:
    return load_text_classifier(model, device) if isinstance(model, (Path, str)) else model


class TransformersIntentClassifier:
    """IntentClassifier over a fine-tuned model (labels = intent ids).

    Every customer (or unknown-role) utterance is scored; the first `opening_turns`
    customer turns weigh `opening_weight`, later ones 1. A label's score is its
    weighted mean probability over those utterances (0..1; the scores of all labels,
    "none"/"other" included, add up to 1). An utterance votes for its most probable label
    when that probability is at least `min_confidence`; a label is a hit when it has a
    vote (its evidence: the most confident voters) and a score of at least `threshold`.
    Highest score first, an earlier first vote breaking ties. Unset, `min_confidence` is
    twice and `threshold` one and a half times chance (1 / number of labels), so the
    defaults suit a 3-label model and a 30-label one alike.
    """

    def __init__(self, model: TextClassifier | Path | str, device: str = "auto",
                 threshold: float | None = None, min_confidence: float | None = None,
                 opening_turns: int = 2, opening_weight: float = 2.0,
                 max_evidence: int = 3) -> None:
        self.classifier = _classifier(model, device)
        if self.classifier.task not in (None, "intent"):
            raise ModelLoadError(f"{self.classifier.model_dir}: trained for "
                                 f"{self.classifier.task}, not intent")
        chance = 1.0 / max(1, len(self.classifier.labels))
        self.threshold = threshold if threshold is not None else 1.5 * chance
        self.min_confidence = min_confidence if min_confidence is not None else \
            min(0.5, 2 * chance)
        self.opening_turns = opening_turns
        self.opening_weight = opening_weight
        self.max_evidence = max_evidence

    @property
    def labels(self) -> list[str]:
        return [label for label in self.classifier.labels
                if label.lower() not in NO_INTENT_LABELS]

    def classify(self, transcript: Transcript) -> list[IntentHit]:
        turns = [i for i, u in enumerate(transcript.utterances)
                 if u.role in CUSTOMER_ROLES and u.text.strip()]
        if not turns:
            return []
        probs = self.classifier.probabilities([transcript.utterances[i].text for i in turns])
        weights = [self.opening_weight if n < self.opening_turns else 1.0
                   for n in range(len(turns))]
        mean = (probs * [[w] for w in weights]).sum(axis=0) / sum(weights)
        voters: dict[int, list[tuple[float, int]]] = {}
        for i, row in zip(turns, probs, strict=True):
            j = int(row.argmax())
            if row[j] >= self.min_confidence:
                voters.setdefault(j, []).append((float(row[j]), i))
        hits = []
        for j, votes in voters.items():
            label = self.classifier.labels[j]
            if label.lower() in NO_INTENT_LABELS or mean[j] < self.threshold:
                continue
            # Evidence: the most confident voters, in the order they were said.
            best = sorted(sorted(votes, reverse=True)[:self.max_evidence], key=lambda v: v[1])
            evidence = [Evidence(utterance=i, start=transcript.utterances[i].start,
                                 end=transcript.utterances[i].end,
                                 quote=transcript.utterances[i].text,
                                 speaker_role=transcript.utterances[i].role) for _, i in best]
            hits.append((min(i for _, i in votes),
                         IntentHit(intent=label, score=round(float(mean[j]), 3),
                                   evidence=evidence)))
        hits.sort(key=lambda h: (-h[1].score, h[0]))
        return [hit for _, hit in hits]


def _polarity(label: str) -> str | None:
    low = label.lower()
    for name in SENTIMENT_LABELS:
        if low == name or low.startswith(name[:3]):
            return name
    return None


class TransformersSentiment:
    """LexiconSentiment's contract from a fine-tuned negative/neutral/positive model.

    Every utterance gets p(positive) - p(negative) in -1..1 (start, end and escalation
    come from the customer's, as with the lexicon). The call's label and score come from
    the customer's turns joined into one text: the unit `examples_from_dialogues`
    trains on, and a call-level judgement that a single angry turn does not flip.
    """

    def __init__(self, model: TextClassifier | Path | str, device: str = "auto",
                 escalation_drop: float = 0.5) -> None:
        self.classifier = _classifier(model, device)
        self.escalation_drop = escalation_drop
        polarity = {label: _polarity(label) for label in self.classifier.labels}
        unknown = sorted(label for label, p in polarity.items() if p is None)
        if unknown:
            raise ModelLoadError(
                f"{self.classifier.model_dir}: not a sentiment model: labels {unknown} are not "
                f"{', '.join(SENTIMENT_LABELS)}")
        self.polarity = {label: p for label, p in polarity.items() if p is not None}
        self._pos = [i for i, label in enumerate(self.classifier.labels)
                     if self.polarity[label] == "positive"]
        self._neg = [i for i, label in enumerate(self.classifier.labels)
                     if self.polarity[label] == "negative"]

    def _scores(self, probs: Any) -> list[float]:
        return [round(float(row[self._pos].sum() - row[self._neg].sum()), 3) for row in probs]

    def utterance_scores(self, texts: Sequence[str]) -> list[float]:
        return self._scores(self.classifier.probabilities(texts)) if texts else []

    def customer(self, transcript: Transcript) -> SentimentResult:
        texts = [u.text for u in transcript.utterances]
        customer_texts = [u.text for u in transcript.utterances
                          if u.role in CUSTOMER_ROLES and u.text.strip()]
        if not customer_texts:
            return SentimentResult("neutral", 0.0, self.utterance_scores(texts), 0.0, 0.0, False)
        probs = self.classifier.probabilities([*texts, " ".join(customer_texts)])
        scores = self._scores(probs[:-1])
        cust = [s for s, u in zip(scores, transcript.utterances, strict=True)
                if u.role in CUSTOMER_ROLES and u.text.strip()]
        third = max(1, len(cust) // 3)
        start, end = sum(cust[:third]) / third, sum(cust[-third:]) / third
        call = probs[-1]
        label = self.polarity[self.classifier.labels[int(call.argmax())]]
        overall = self._scores(call[None, :])[0]
        return SentimentResult(label, round(max(-1.0, min(1.0, overall)), 3), scores,
                               round(start, 3), round(end, 3),
                               escalated=end < start - self.escalation_drop)
