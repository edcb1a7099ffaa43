"""analyze(transcript, rules, models) -> Analysis."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from analysis.intents import (
    DEFAULT_INTENTS,
    CueIntentClassifier,
    EmbeddingIntentClassifier,
    IntentClassifier,
    intents_config,
)
from analysis.metrics import conversation_metrics, metrics_config
from analysis.pii import audio_spans, find_pii, redact
from analysis.rules import RuleSet, evaluate, load_rules
from analysis.sentiment import (
    DEFAULT_LEXICON,
    SentimentResult,
    default_sentiment,
    sentiment_config,
)
from analysis.summary import call_outcome, summarize
from core.config import params_hash
from core.schemas import Analysis, PiiHit, Transcript

ANALYSIS_VERSION = "1"


class CustomerSentiment(Protocol):
    """ModelSentiment (default), LexiconSentiment or a trained model (classifiers)."""

    def customer(self, transcript: Transcript) -> SentimentResult: ...


@dataclass
class AnalysisModels:
    intents: IntentClassifier = field(default_factory=CueIntentClassifier)
    sentiment: CustomerSentiment = field(default_factory=default_sentiment)
    intent_titles: dict[str, str | dict[str, str]] = field(default_factory=dict)

    @classmethod
    def default(cls, intents_path: Path | None = None, intent_model: Path | None = None,
                sentiment_model: Path | None = None) -> AnalysisModels:
        """The offline cue and lexicon models, or fine-tuned transformers models where
        `intent_model` / `sentiment_model` (default: CALLQA_INTENT_MODEL /
        CALLQA_SENTIMENT_MODEL) name a local model directory. Intent titles come from the
        taxonomy either way (a model's labels are the taxonomy's intent ids)."""
        from core.settings import get_settings

        settings = get_settings()
        intent_model = intent_model or settings.intent_model
        sentiment_model = sentiment_model or settings.sentiment_model
        cues = CueIntentClassifier(intents_path or DEFAULT_INTENTS)
        # English: cues plus similarity to intents.yaml's example utterances.
        intents: IntentClassifier = EmbeddingIntentClassifier(intents_path or DEFAULT_INTENTS,
                                                              cues=cues)
        sentiment: CustomerSentiment = default_sentiment(settings.sentiment_path or DEFAULT_LEXICON)
        if intent_model or sentiment_model:
            from analysis.classifiers import TransformersIntentClassifier, TransformersSentiment

            if intent_model:
                intents = TransformersIntentClassifier(intent_model)
            if sentiment_model:
                sentiment = TransformersSentiment(sentiment_model)
        return cls(intents=intents, sentiment=sentiment, intent_titles=cues.titles)


def stage_version(rules: RuleSet) -> str:
    """What the analyze stage records: the analysis version, the rules' version and a hash
    of the parameter files it ran with (intents, sentiment, metrics) and the model
    directories set, e.g. 1-3+5be0c1d2."""
    from core.settings import get_settings

    settings = get_settings()
    params = params_hash(intents_config(settings.intents_path),
                         sentiment_config(settings.sentiment_path),
                         metrics_config(settings.metrics_path),
                         settings.intent_model, settings.sentiment_model)
    return f"{ANALYSIS_VERSION}-{rules.version}+{params}"


def analyze(transcript: Transcript, rules: RuleSet | None = None,
            models: AnalysisModels | None = None) -> Analysis:
    rules = rules or load_rules()
    models = models or AnalysisModels.default()
    intents = models.intents.classify(transcript)
    sentiment = models.sentiment.customer(transcript)
    metrics = conversation_metrics(transcript)
    metrics |= {"customer_sentiment_start": sentiment.start,
                "customer_sentiment_end": sentiment.end,
                "customer_escalated": float(sentiment.escalated),
                "customer_sentiment_score": sentiment.score}
    metrics |= {k: float(v) for k, v in (("agent_tone", sentiment.agent_tone),
                                         ("agent_politeness", sentiment.agent_politeness))
                if v is not None}
    holds: list[tuple[float, float]] = []
    flags = evaluate(rules, transcript, metrics, holds)
    pii, redacted = find_personal_data(transcript)
    # The summary reaches managers, the CRM and the index: build it from the masked text.
    masked = transcript.model_copy(update={"utterances": [
        u.model_copy(update={"text": text}) for u, text in zip(transcript.utterances, redacted,
                                                               strict=True)]})
    by_role: dict[str, list[float]] = {}
    for utt, score in zip(transcript.utterances, sentiment.per_utterance, strict=False):
        by_role.setdefault(utt.role, []).append(score)
    return Analysis(
        call_id=transcript.call_id,
        language=transcript.language,
        version=ANALYSIS_VERSION,
        rules_version=rules.version,
        flags=flags,
        primary_intent=intents[0].intent if intents else None,
        intents=intents,
        customer_sentiment=sentiment.label,
        sentiment_score=sentiment.score,
        metrics=metrics,
        summary=summarize(masked, intents, models.intent_titles, sentiment.label, flags),
        outcome=call_outcome(masked, sentiment.label),
        utterance_sentiment=[round(s, 3) for s in sentiment.per_utterance],
        speaker_sentiment={role: round(sum(v) / len(v), 3) for role, v in by_role.items()},
        pii=pii,
        redacted_utterances=redacted,
        holds=sorted(holds),
    )


def find_personal_data(transcript: Transcript) -> tuple[list[PiiHit], list[str]]:
    """PII per utterance (the agent's own introduction is not the customer's data), the
    audio span of each, and every utterance's text with its PII masked."""
    hits: list[PiiHit] = []
    redacted = []
    for i, utt in enumerate(transcript.utterances):
        spans = find_pii(utt.text, transcript.language_of(utt), role=utt.role)
        redacted.append(redact(utt.text, spans) if spans else utt.text)
        if not spans:
            continue
        audio = (audio_spans(utt.words, spans) if utt.words
                 else [(utt.start, utt.end)] * len(spans))
        hits += [PiiHit(utterance=i, kind=s.kind, char_start=s.start, char_end=s.end,
                        start=a, end=b) for s, (a, b) in zip(spans, audio, strict=True)]
    return hits, redacted
