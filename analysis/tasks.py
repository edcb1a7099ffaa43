"""The thin Celery task around analyze(): load the Transcript, run, store the Analysis."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from analysis.analyze import ANALYSIS_VERSION, AnalysisModels, analyze
from analysis.rules import RuleSet, load_rules
from core.celery_app import celery_app
from core.pipeline import run_stage, stage_output
from core.schemas import Transcript
from core.settings import get_settings
from core.storage import get_store


@lru_cache(maxsize=2)
def _rules(path: str | None) -> RuleSet:
    return load_rules(Path(path) if path else None)


@lru_cache(maxsize=2)
def _models(path: str | None, intent_model: str | None = None,
            sentiment_model: str | None = None) -> AnalysisModels:
    return AnalysisModels.default(Path(path) if path else None,
                                  Path(intent_model) if intent_model else None,
                                  Path(sentiment_model) if sentiment_model else None)


def analyze_call(call_id: str) -> str:
    settings = get_settings()
    store = get_store()
    with run_stage(call_id, "analyze") as ctx:
        transcript = Transcript.model_validate(store.get_json(stage_output(call_id, "transcribe")))
        rules = _rules(str(settings.rules_path) if settings.rules_path else None)
        models = _models(str(settings.intents_path) if settings.intents_path else None,
                         str(settings.intent_model) if settings.intent_model else None,
                         str(settings.sentiment_model) if settings.sentiment_model else None)
        analysis = analyze(transcript, rules, models)
        key = store.put_json(store.output_key(call_id, "analysis.json"),
                             analysis.model_dump(mode="json"))
        ctx.done(key, f"{ANALYSIS_VERSION}-{rules.version}")
    return key


@celery_app.task(name="callqa.analyze", acks_late=True)
def analyze_task(call_id: str) -> str:
    return analyze_call(call_id)
