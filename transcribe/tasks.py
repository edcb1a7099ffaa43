"""The thin Celery task around transcribe(): load the call, run, store the Transcript."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from core.celery_app import celery_app
from core.models import resolve_openai_whisper_checkpoint, resolve_whisper_model
from core.pipeline import run_stage
from core.settings import Settings, get_settings
from core.storage import get_store
from transcribe.asr import AsrEngine, load_engine
from transcribe.audio import decode_audio
from transcribe.pipeline import DEFAULT_PARAMS, TranscribeOptions, TranscribeParams, transcribe


@lru_cache(maxsize=2)
def _params(path: str) -> TranscribeParams:
    return TranscribeParams.from_yaml(Path(path))


def engine_from_settings(settings: Settings) -> AsrEngine:
    if settings.asr_engine == "openai-whisper":
        # A .pt checkpoint; a CTranslate2 model is converted once into the models dir.
        model = resolve_openai_whisper_checkpoint(settings.asr_model, settings.model_dir)
    else:
        model = resolve_whisper_model(settings.asr_model, settings.model_dir)
    return load_engine(settings.asr_engine, str(model), settings.asr_device,
                       settings.asr_compute_type, settings.asr_cpu_threads, settings.asr_batch_size)


def transcribe_call(call_id: str) -> str:
    settings = get_settings()
    store = get_store()
    with run_stage(call_id, "transcribe") as ctx:
        call = ctx.call
        engine = engine_from_settings(settings)
        audio = decode_audio(store.path(call.audio_key))
        params = _params(os.environ.get("CALLQA_TRANSCRIBE_PARAMS", str(DEFAULT_PARAMS)))
        transcript = transcribe(audio, engine, TranscribeOptions(
            call_id=call_id, channel_map=call.channel_map, language=call.language,
            params=params, pyannote_pipeline=settings.pyannote_pipeline))
        key = store.put_json(store.output_key(call_id, "transcript.json"),
                             transcript.model_dump(mode="json"))
        ctx.done(key, f"{engine.name}-{engine.version}")
    return key


@celery_app.task(name="callqa.transcribe", acks_late=True)
def transcribe_task(call_id: str) -> str:
    return transcribe_call(call_id)
