"""The thin Celery task that indexes a call's document; also used by `callqa reindex`."""

from __future__ import annotations

from typing import Any

from core.celery_app import celery_app
from core.db import Call, session_scope
from core.pipeline import run_stage
from core.schemas import Analysis, Transcript
from core.settings import get_settings
from core.storage import get_store
from search import get_backend
from search.documents import build_document

INDEX_VERSION = "1"


def call_document(call_id: str) -> dict[str, Any]:
    store = get_store()
    with session_scope() as db:
        call = db.get(Call, call_id)
        if call is None:
            raise LookupError(f"call {call_id} is not registered")
        metadata, outputs = call.metadata_dict(), call.outputs()
    missing = [stage for stage in ("transcribe", "analyze") if stage not in outputs]
    if missing:
        raise LookupError(f"call {call_id}: stage {missing[0]!r} has no output yet")
    transcript = Transcript.model_validate(store.get_json(outputs["transcribe"]))
    analysis = Analysis.model_validate(store.get_json(outputs["analyze"]))
    return build_document(metadata, transcript, analysis,
                          redact_pii=not get_settings().index_pii)


def index_call(call_id: str) -> str:
    with run_stage(call_id, "index") as ctx:
        get_backend().index([call_document(call_id)])
        ctx.done(None, INDEX_VERSION)
    return call_id


@celery_app.task(name="callqa.index", acks_late=True)
def index_task(call_id: str) -> str:
    return index_call(call_id)
