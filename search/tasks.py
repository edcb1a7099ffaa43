"""The thin Celery task that indexes a call's document; also used by `callqa reindex`."""

from __future__ import annotations

from typing import Any

from core.celery_app import celery_app
from core.db import Call, latest_reviews, session_scope
from core.pipeline import StageContext, run_stage_task
from core.settings import get_settings
from core.storage import get_store, load_outputs
from search import get_backend
from search.base import CallDocument
from search.documents import build_document, stage_version


def call_document(call_id: str) -> CallDocument:
    store = get_store()
    with session_scope() as db:
        call = db.get(Call, call_id)
        if call is None:
            raise LookupError(f"call {call_id} is not registered")
        metadata, outputs = call.metadata_dict(), call.outputs()
        decisions = {key: r.decision for key, r in latest_reviews(db, call_id).items()}
    transcript, analysis = load_outputs(store, outputs)
    for stage, output in (("transcribe", transcript), ("analyze", analysis)):
        if output is None:
            raise LookupError(f"call {call_id}: stage {stage!r} has no output yet")
    return build_document(metadata, transcript, analysis,
                          redact_pii=not get_settings().index_pii, decisions=decisions)


def refresh_index(call_id: str) -> None:
    """Re-index one call after a change outside the pipeline (a review, a role fix)."""
    get_backend().index([call_document(call_id)])


def index_calls(ctxs: list[StageContext]) -> dict[str, BaseException]:
    """The index stage's work (core.pipeline.Work): each claimed call's document built and
    indexed (an upsert by call id); the document is the stage's result, from which the
    pipeline raises the call's webhook events. Per-call errors back."""
    backend = get_backend()
    errors: dict[str, BaseException] = {}
    for ctx in ctxs:
        try:
            document = call_document(ctx.call.id)
            backend.index([document])
            ctx.done(None, stage_version(not get_settings().index_pii), result=dict(document))
        except Exception as exc:
            errors[ctx.call.id] = exc
    return errors


@celery_app.task(name="callqa.index", bind=True, acks_late=True)
def index_task(self: Any, call_id: str) -> str | None:
    # Claim, lease, retry on transient errors, queue the next stage: core.pipeline.
    done = run_stage_task(self, "index", [call_id], index_calls)
    return done[0] if done else None
