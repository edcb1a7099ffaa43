"""Import a transcript made elsewhere as a call (docs/transcripts.md): no audio, analysed and
indexed like a recorded call."""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request, Response

from api import audit
from api.deps import DB, UPLOAD_ROLES, SettingsDep, require
from api.errors import ApiError, responses
from api.keys import Principal
from api.models import UploadResult
from api.views import get_call
from core.pipeline import enqueue
from core.storage import ObjectStore
from ingest.transcripts import TranscriptIn, register_transcript

log = logging.getLogger("callqa.api")
router = APIRouter(prefix="/transcripts", tags=["calls"])


def _analyse(call_id: str) -> None:
    try:
        enqueue(call_id, "analyze")
    except Exception:
        log.exception("queueing failed", extra={"call_id": call_id, "stage": "analyze"})


@router.post(
    "", status_code=201, response_model=UploadResult, summary="Import a transcript",
    description="A transcript from the telephony platform or another ASR vendor, as JSON "
    "(format `callqa.transcript/1`, docs/transcripts.md): call metadata and utterances with "
    "speaker or role, start, end, text and optional words. Refused with 422 naming the line and "
    "field path of each problem. The call has no audio (no playback); with process=true "
    "(default) analysis and indexing are queued. The same document again answers 200 with the "
    "existing call.",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/TranscriptIn"}}}}},
    responses={200: {"model": UploadResult, "description": "Duplicate: the same document is "
                     "already call_id."}, **responses(409, 413)})
async def import_transcript(
    request: Request, background: BackgroundTasks, response: Response, db: DB,
    settings: SettingsDep, who: Annotated[Principal, Depends(require(*UPLOAD_ROLES))],
    batch_id: Annotated[str | None, Query(max_length=64)] = None,
    process: Annotated[bool, Query(description="Queue analysis and indexing now.")] = True,
) -> UploadResult:
    body = await request.body()
    if len(body) > settings.max_upload_bytes:
        raise ApiError(413, "too_large", f"{len(body)} bytes is over the "
                       f"{settings.max_upload_bytes} byte limit (CALLQA_MAX_UPLOAD_BYTES)")
    tmp_root = settings.data_dir / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="transcript-", dir=tmp_root))
    try:
        path = workdir / "transcript.json"
        path.write_bytes(body)
        # The validation and the database work are blocking: off the event loop.
        from starlette.concurrency import run_in_threadpool

        result = await run_in_threadpool(register_transcript, path, settings,
                                         ObjectStore(settings.objects_dir), batch_id,
                                         "request body", process)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if result.outcome == "refused":
        status = 409 if result.reason == "call_id_taken" else 422
        raise ApiError(status, result.reason or "refused", result.message or "refused",
                       {"problems": (result.message or "").splitlines()})
    assert result.call_id is not None
    call = get_call(db, result.call_id)
    if result.outcome == "duplicate":
        response.status_code = 200
        return UploadResult(call_id=call.id, outcome="duplicate", status=call.status,
                            batch_id=call.batch_id, message=f"same transcript as call {call.id}")
    audit.record(db, who, "import_transcript", f"call:{call.id}",
                 {"bytes": len(body), "batch_id": batch_id, "process": process})
    if process:
        background.add_task(_analyse, call.id)
    return UploadResult(call_id=call.id, outcome="accepted", status=call.status,
                        batch_id=batch_id, message="transcript imported; analysis queued"
                        if process else "transcript imported")


# TranscriptIn is referenced by the request body above: make sure it is in the schema.
TRANSCRIPT_SCHEMA = TranscriptIn
