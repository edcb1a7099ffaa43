"""The thin Celery task around transcribe(): load the call, run, store the Transcript."""

from __future__ import annotations

import copy
import logging
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError

from core.celery_app import celery_app
from core.db import Call, StageRun, session_scope
from core.pipeline import StageContext, is_out_of_memory, run_stage_task
from core.settings import Settings, get_settings
from core.status import StageStatus
from core.storage import get_store
from transcribe.asr import AsrEngine, is_batched, load_engine
from transcribe.audio import DecodedAudio, decode_audio
from transcribe.batch import transcribe_many
from transcribe.models import resolve_openai_whisper_checkpoint, resolve_whisper_model
from transcribe.pipeline import DEFAULT_PARAMS, TranscribeOptions, TranscribeParams, stage_version
from transcribe.progress import CallAudioProgress, current_watcher, watching

log = logging.getLogger(__name__)


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


def _options(call: Call, settings: Settings) -> TranscribeOptions:
    params = _params(str(settings.transcribe_params or DEFAULT_PARAMS))
    return TranscribeOptions(call_id=call.id, channel_map=call.channel_map, language=call.language,
                             params=params, pyannote_pipeline=settings.pyannote_pipeline,
                             roles_path=settings.roles_path, num_speakers=call.speakers)


def transcribe_calls(ctxs: list[StageContext], max_calls: int | None = None,
                     clip_batch: int | None = None) -> dict[str, BaseException]:
    """The transcribe stage's work (core.pipeline.Work, with the task's batch options):
    claimed calls transcribed together (`max_calls` at a time); per-call errors back."""
    settings = get_settings()
    store = get_store()
    engine = engine_from_settings(settings)
    if clip_batch is not None and is_batched(engine) and engine.batch_size > clip_batch:
        engine = copy.copy(engine)  # the cached engine keeps its batch size
        engine.batch_size = clip_batch
    errors: dict[str, BaseException] = {}
    step = max(1, max_calls or len(ctxs))
    for i in range(0, len(ctxs), step):
        part = ctxs[i:i + step]
        audios: list[DecodedAudio | BaseException] = []
        for ctx in part:
            try:
                audios.append(decode_audio(store.path(ctx.call.audio_key)))
            except Exception as exc:
                audios.append(exc)
        options = [_options(c.call, settings) for c in part]
        with watching(recording_progress(current_watcher())):
            results = transcribe_many(audios, engine, options)
        for ctx, opts, result in zip(part, options, results, strict=True):
            if isinstance(result, BaseException):
                errors[ctx.call.id] = result
                continue
            try:
                key = store.put_json(store.output_key(ctx.call.id, "transcript.json"),
                                     result.model_dump(mode="json"))
                ctx.done(key, stage_version(engine, opts))
            except Exception as exc:
                errors[ctx.call.id] = exc
    return errors


def recording_progress(outer: CallAudioProgress | None = None,
                       every_s: float = 2.0) -> CallAudioProgress:
    """Each call's transcribed seconds into its running stage row, at most every `every_s`
    per call, so `callqa ingest --wait` advances by audio seconds in a cluster too; an
    outer watcher (the CLI in one process) still hears every report."""
    last: dict[str, float] = {}

    def report(call_id: str, done: float, total: float) -> None:
        if outer is not None:
            outer(call_id, done, total)
        now = time.monotonic()
        if done < total and now - last.get(call_id, -every_s) < every_s:
            return
        last[call_id] = now
        try:
            with session_scope() as db:
                db.execute(update(StageRun)
                           .where(StageRun.call_id == call_id, StageRun.stage == "transcribe",
                                  StageRun.status == StageStatus.running)
                           .values(progress_s=round(done, 1)))
        except SQLAlchemyError as exc:  # progress is advisory: never fail the work for it
            log.warning("transcription progress not recorded", extra={
                "call_id": call_id, "error": str(exc)})
    return report


def _smaller(exc: BaseException, calls: int, clip_batch: int | None) -> dict[str, Any]:
    """Out of GPU memory: the retry takes half the calls and half the clip batch."""
    if not is_out_of_memory(exc):
        return {}
    batch = clip_batch or max(1, get_settings().asr_batch_size if get_settings().asr_batch_size
                              > 0 else 16)
    return {"max_calls": max(1, calls // 2), "clip_batch": max(1, batch // 2)}


@celery_app.task(name="callqa.transcribe", bind=True, acks_late=True)
def transcribe_task(self: Any, call_id: str, clip_batch: int | None = None) -> str | None:
    done = run_stage_task(self, "transcribe", [call_id],
                          lambda ctxs: transcribe_calls(ctxs, 1, clip_batch),
                          lambda exc: _smaller(exc, 1, clip_batch))
    return done[0] if done else None


@celery_app.task(name="callqa.transcribe_batch", bind=True, acks_late=True)
def transcribe_batch_task(self: Any, call_ids: list[str], max_calls: int | None = None,
                          clip_batch: int | None = None) -> list[str]:
    """Several calls in one task: the GPU worker decodes their speech segments together."""
    return run_stage_task(self, "transcribe", call_ids,
                          lambda ctxs: transcribe_calls(ctxs, max_calls, clip_batch),
                          lambda exc: _smaller(exc, max_calls or len(call_ids), clip_batch))
