"""The thin Celery task around analyze(): load the Transcript, run, store the Analysis."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from analysis.analyze import AnalysisModels, analyze, stage_version
from analysis.rules import RuleSet, load_rules
from core.celery_app import celery_app
from core.evaluations import record_auto
from core.pipeline import StageContext, run_stage_task, stage_output
from core.schemas import Transcript
from core.settings import get_settings
from core.storage import get_store


@lru_cache(maxsize=2)
def _rules(path: str | None, _mtime: float = 0.0) -> RuleSet:
    return load_rules(Path(path) if path else None)


def active_rules() -> RuleSet:
    """CALLQA_RULES_PATH, else the rule file uploaded through the API, else the packaged
    pack; reloaded when the file changes."""
    path = get_settings().active_rules_path
    return _rules(str(path) if path else None, path.stat().st_mtime if path else 0.0)


@lru_cache(maxsize=2)
def _models(path: str | None, intent_model: str | None = None,
            sentiment_model: str | None = None) -> AnalysisModels:
    return AnalysisModels.default(Path(path) if path else None,
                                  Path(intent_model) if intent_model else None,
                                  Path(sentiment_model) if sentiment_model else None)


def analyze_calls(ctxs: list[StageContext]) -> dict[str, BaseException]:
    """The analyze stage's work (core.pipeline.Work): each claimed call's transcript
    analysed and its Analysis stored; per-call errors back."""
    settings = get_settings()
    store = get_store()
    rules = active_rules()
    models = _models(str(settings.intents_path) if settings.intents_path else None,
                     str(settings.intent_model) if settings.intent_model else None,
                     str(settings.sentiment_model) if settings.sentiment_model else None)
    errors: dict[str, BaseException] = {}
    for ctx in ctxs:
        call_id = ctx.call.id
        try:
            transcript = Transcript.model_validate(
                store.get_json(stage_output(call_id, "transcribe")))
            analysis = analyze(transcript, rules, models)
            key = store.put_json(store.output_key(call_id, "analysis.json"),
                                 analysis.model_dump(mode="json"))
            ctx.done(key, stage_version(rules))
            # After the analysis is stored; recomputed on first read if this is lost.
            record_auto(call_id, analysis)
        except Exception as exc:
            errors[call_id] = exc
    return errors


@celery_app.task(name="callqa.analyze", bind=True, acks_late=True)
def analyze_task(self: Any, call_id: str) -> str | None:
    # Claim, lease, retry on transient errors, queue the next stage: core.pipeline.
    done = run_stage_task(self, "analyze", [call_id], analyze_calls)
    return done[0] if done else None
