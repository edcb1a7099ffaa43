"""The thin Celery task that indexes a call's document; also used by `callqa reindex`."""

from __future__ import annotations

from typing import Any

from core.celery_app import celery_app
from core.db import Call, latest_reviews, session_scope
from core.pipeline import run_stage, run_stage_task, single
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


def index_call(call_id: str) -> str:
    from core.webhooks import notify_call_indexed

    with run_stage(call_id, "index") as ctx:
        document = call_document(call_id)
        get_backend().index([document])
        ctx.done(None, stage_version(not get_settings().index_pii))
    notify_call_indexed(call_id, document)  # call.completed, flag.critical (if configured)
    return call_id


@celery_app.task(name="callqa.index", bind=True, acks_late=True)
def index_task(self: Any, call_id: str) -> str | None:
    # Claim, lease, retry on transient errors, queue the next stage: core.pipeline.
    done = run_stage_task(self, "index", [call_id], single(index_call))
    return done[0] if done else None
