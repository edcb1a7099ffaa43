"""analyze(transcript, rules, models) -> Analysis."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from analysis.intents import DEFAULT_INTENTS, CueIntentClassifier, IntentClassifier
from analysis.metrics import conversation_metrics
from analysis.rules import RuleSet, evaluate, load_rules
from analysis.sentiment import LexiconSentiment
from analysis.summary import summarize
from core.schemas import Analysis, Transcript

ANALYSIS_VERSION = "1"


@dataclass
class AnalysisModels:
    intents: IntentClassifier = field(default_factory=CueIntentClassifier)
    sentiment: LexiconSentiment = field(default_factory=LexiconSentiment)
    intent_titles: dict[str, str] = field(default_factory=dict)

    @classmethod
    def default(cls, intents_path: Path | None = None) -> AnalysisModels:
        classifier = CueIntentClassifier(intents_path or DEFAULT_INTENTS)
        return cls(intents=classifier, intent_titles=classifier.titles)


def analyze(transcript: Transcript, rules: RuleSet | None = None,
            models: AnalysisModels | None = None) -> Analysis:
    rules = rules or load_rules()
    models = models or AnalysisModels.default()
    flags = evaluate(rules, transcript)
    intents = models.intents.classify(transcript)
    sentiment = models.sentiment.customer(transcript)
    metrics = conversation_metrics(transcript)
    metrics |= {"customer_sentiment_start": sentiment.start,
                "customer_sentiment_end": sentiment.end,
                "customer_escalated": float(sentiment.escalated)}
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
        summary=summarize(transcript, intents, models.intent_titles, sentiment.label, flags),
    )
