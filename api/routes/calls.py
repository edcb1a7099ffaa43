"""Calls: upload, list, detail (status per stage, transcript, analysis, flags), audio with
range requests, reprocess, fix roles, delete."""

from __future__ import annotations

import json
import logging
import mimetypes
import re
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import FileResponse
from sqlalchemy import func, select

from api import audit
from api.deps import DB, UPLOAD_ROLES, Backend, SettingsDep, require
from api.errors import ApiError, responses
from api.keys import Principal
from api.models import (
    Accepted,
    CallDetail,
    CallInsight,
    CallList,
    ReprocessRequest,
    RolesPatch,
    RolesResult,
    UploadResult,
    utc,
)
from api.views import (
    call_review_status,
    call_summary,
    flag_views,
    get_call,
    load_outputs,
    redact,
    stage_statuses,
)
from core.db import Call, latest_reviews
from core.pipeline import enqueue
from core.schemas import CallStatus, Transcript
from core.storage import ObjectStore
from ingest.metadata import MetadataError, parse_metadata
from ingest.service import register_file
from search.documents import risk_score

log = logging.getLogger("callqa.api")
router = APIRouter(prefix="/calls", tags=["calls"])

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
STATUSES = tuple(s.value for s in CallStatus)
READ_ROLES = ("qa", "manager", "crm")


def _store(settings: SettingsDep) -> ObjectStore:
    return ObjectStore(settings.objects_dir)


def _safe_name(filename: str | None) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(filename or "").name).strip("._") or "upload"
    name = name[:120]
    if name.lower().endswith(".json"):  # the sidecar beside it is <stem>.json
        name += ".upload"
    return name


def _run_pipeline(call_id: str, from_stage: str) -> None:
    try:
        enqueue(call_id, from_stage)
    except Exception:
        log.exception("queueing failed", extra={"call_id": call_id, "stage": from_stage})


@router.post(
    "", status_code=201, response_model=UploadResult, summary="Upload a recording",
    description="Multipart upload of one recording with its metadata. The file is probed with "
    "a real decoder and refused (4xx, with the reason, nothing stored) when it is not audio, "
    "empty, truncated, silent, too short or long, or larger than CALLQA_MAX_UPLOAD_BYTES (413, "
    "checked while the body streams in). The same audio again answers 200 with the existing "
    "call. With process=true (default) the pipeline is queued (run after the response when "
    "there is no broker).",
    responses={200: {"model": UploadResult, "description": "Duplicate: the same audio is "
                     "already call_id."}, **responses(409, 413)})
def upload_call(
    request: Request, background: BackgroundTasks, response: Response, db: DB,
    settings: SettingsDep, who: Annotated[Principal, Depends(require(*UPLOAD_ROLES))],
    file: Annotated[UploadFile, File(description="The recording (wav, mp3, m4a, flac, ogg, "
                                     "opus, amr, ...).")],
    call_id: Annotated[str | None, Form(pattern=ID_PATTERN, description="Your id for the "
                                        "call; default c-<sha256 prefix>.")] = None,
    agent_id: Annotated[str | None, Form(max_length=128)] = None,
    team: Annotated[str | None, Form(max_length=128)] = None,
    customer_id: Annotated[str | None, Form(max_length=128)] = None,
    started_at: Annotated[datetime | None, Form(description="ISO 8601; UTC if no offset.")] = None,
    direction: Annotated[Literal["inbound", "outbound"] | None, Form()] = None,
    channel_map: Annotated[str | None, Form(
        max_length=64, description="Role of each channel, e.g. 'agent,customer'.")] = None,
    language: Annotated[Literal["en", "zh"] | None, Form()] = None,
    batch_id: Annotated[str | None, Form(max_length=64)] = None,
    process: Annotated[bool, Form(description="Queue transcription and analysis now.")] = True,
) -> UploadResult:
    raw = {"call_id": call_id, "agent_id": agent_id, "team": team, "customer_id": customer_id,
           "started_at": started_at.isoformat() if started_at else None, "direction": direction,
           "channel_map": channel_map, "language": language}
    try:
        meta = parse_metadata(raw, "form")
    except MetadataError as exc:
        raise ApiError(422, "bad_metadata", str(exc)) from exc
    metrics = request.app.state.metrics
    if file.size is not None and file.size > settings.max_upload_bytes:
        metrics.uploads.labels("too_large").inc()
        raise ApiError(413, "too_large", f"{file.size} bytes is over the "
                       f"{settings.max_upload_bytes} byte limit (CALLQA_MAX_UPLOAD_BYTES)",
                       {"limit_bytes": settings.max_upload_bytes, "size_bytes": file.size})
    tmp_root = settings.data_dir / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="upload-", dir=tmp_root))
    try:
        path = workdir / _safe_name(file.filename)
        with path.open("wb") as out:
            shutil.copyfileobj(file.file, out, 1 << 20)
        size = path.stat().st_size
        fields = meta.model_dump(mode="json", exclude_none=True)
        if fields:
            path.with_suffix(".json").write_text(json.dumps(fields), "utf-8")
        result = register_file(path, settings, _store(settings))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        file.file.close()
    if result.outcome == "refused":
        reason = result.reason or "refused"
        metrics.uploads.labels(reason).inc()
        status = {"too_large": 413, "call_id_taken": 409}.get(reason, 422)
        shown = Path(file.filename or "upload").name
        message = (result.message or reason).replace(str(path), shown).replace(path.name, shown)
        raise ApiError(status, reason, message)
    assert result.call_id is not None
    metrics.uploads.labels(result.outcome).inc()
    call = get_call(db, result.call_id)
    if result.outcome == "duplicate":
        response.status_code = 200
        return UploadResult(call_id=call.id, outcome="duplicate", status=call.status,
                            batch_id=call.batch_id, message=f"same audio as call {call.id}")
    call.source_name = (Path(file.filename).name if file.filename else call.source_name)[:512]
    call.batch_id = batch_id
    audit.record(db, who, "upload", f"call:{call.id}",
                 {"bytes": size, "batch_id": batch_id, "process": process})
    if process:
        background.add_task(_run_pipeline, call.id, "transcribe")
    return UploadResult(call_id=call.id, outcome="accepted", status=call.status, batch_id=batch_id,
                        message="registered; processing queued" if process else "registered")


@router.get("", response_model=CallList, summary="List calls",
            description="Registered calls, newest first, with filters and pages. crm keys must "
            "filter by customer_id.", responses=responses())
def list_calls(
    db: DB, who: Annotated[Principal, Depends(require(*READ_ROLES))],
    status: Annotated[Literal[STATUSES] | None, Query()] = None,  # type: ignore[valid-type]
    agent_id: Annotated[str | None, Query(max_length=128)] = None,
    team: Annotated[str | None, Query(max_length=128)] = None,
    customer_id: Annotated[str | None, Query(max_length=128)] = None,
    batch_id: Annotated[str | None, Query(max_length=64)] = None,
    language: Annotated[str | None, Query(max_length=16)] = None,
    date_from: Annotated[datetime | None, Query(description="started_at on or after")] = None,
    date_to: Annotated[datetime | None, Query(description="started_at before")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> CallList:
    if who.role == "crm" and not customer_id:
        raise ApiError(403, "forbidden", "crm keys list calls of one customer: add customer_id=")
    conds = []
    for column, value in ((Call.status, status), (Call.agent_id, agent_id), (Call.team, team),
                          (Call.customer_id, customer_id), (Call.batch_id, batch_id),
                          (Call.language, language)):
        if value is not None:
            conds.append(column == value)
    if date_from is not None:
        conds.append(Call.started_at >= utc(date_from))
    if date_to is not None:
        conds.append(Call.started_at < utc(date_to))
    total = db.scalar(select(func.count()).select_from(Call).where(*conds)) or 0
    rows = db.scalars(select(Call).where(*conds).order_by(Call.created_at.desc(), Call.id)
                      .limit(limit).offset(offset))
    return CallList(items=[call_summary(c) for c in rows], total=total, limit=limit, offset=offset)


@router.get(
    "/{call_id}", response_model=CallDetail, summary="A call: status per stage, transcript, "
    "analysis, flags",
    description="qa and admin see the unredacted transcript and analysis (redacted=true to mask "
    "personal data); manager keys always get them redacted; crm keys get metadata, status, "
    "the summary and flags without quotes, and only for calls with a customer id. Audited.",
    responses=responses(404))
def get_call_detail(
    call_id: str, db: DB, settings: SettingsDep,
    who: Annotated[Principal, Depends(require(*READ_ROLES))],
    redacted: Annotated[bool, Query(description="Mask personal data (qa, admin).")] = False,
) -> CallDetail:
    call = get_call(db, call_id)
    if who.role == "crm" and call.customer_id is None:
        raise ApiError(404, "not_found", f"no call {call_id!r}")
    masked = redacted or who.role in ("manager", "crm")
    transcript, analysis = load_outputs(_store(settings), call)
    reviews = latest_reviews(db, call.id)
    flags = flag_views(analysis, reviews, transcript, redact=masked,
                       with_quotes=who.role != "crm")
    insight = None
    if analysis is not None:
        insight = CallInsight(primary_intent=analysis.primary_intent,
                              customer_sentiment=analysis.customer_sentiment,
                              outcome=analysis.outcome, summary=analysis.summary,
                              risk=risk_score(analysis))
    status = call_review_status(analysis, reviews)
    if who.role == "crm":
        transcript = analysis = None
    elif masked:
        transcript, analysis = redact(transcript, analysis)
    audit.record(db, who, "view", f"call:{call.id}", {"redacted": masked})
    return CallDetail(
        call=call_summary(call), stages=stage_statuses(call), redacted=masked,
        review_status=status,
        insight=insight, flags=flags, transcript=transcript, analysis=analysis,
        audio_url=f"/calls/{call.id}/audio" if who.role in ("qa", "admin") else None)


@router.get(
    "/{call_id}/audio", summary="Play the original recording",
    description="The original file, with HTTP range requests (206 Partial Content) so a player "
    "can seek. qa and admin only. Audited (once per playback: requests without a Range header "
    "or from byte 0).",
    response_class=FileResponse,
    responses={200: {"content": {"audio/*": {}}, "description": "The recording."},
               206: {"content": {"audio/*": {}}, "description": "The requested byte range."},
               **responses(404, 416)})
def get_audio(call_id: str, request: Request, db: DB, settings: SettingsDep,
              who: Annotated[Principal, Depends(require("qa"))]) -> FileResponse:
    call = get_call(db, call_id)
    path = _store(settings).path(call.audio_key)
    if not path.is_file():
        raise ApiError(404, "not_found", f"the audio of call {call_id!r} is missing from the store")
    range_header = request.headers.get("range", "")
    if not range_header or re.match(r"^\s*bytes\s*=\s*0-", range_header):
        audit.record(db, who, "play", f"call:{call.id}", {"range": range_header or None})
    media = mimetypes.guess_type(call.source_name)[0] or mimetypes.guess_type(path.name)[0]
    return FileResponse(path, media_type=media or "application/octet-stream",
                        filename=call.source_name, content_disposition_type="inline")


@router.post("/{call_id}/reprocess", status_code=202, response_model=Accepted,
             summary="Re-run the pipeline from a stage",
             description="transcribe, analyze or index and the stages after it. analyze needs a "
             "transcript, index an analysis (409 otherwise).", responses=responses(404, 409))
def reprocess(call_id: str, body: ReprocessRequest, background: BackgroundTasks, db: DB,
              who: Annotated[Principal, Depends(require("qa"))]) -> Accepted:
    call = get_call(db, call_id)
    changed = _apply_overrides(call, body)
    if changed:
        body = body.model_copy(update={"from_stage": "transcribe"})
    need = {"analyze": "transcribe", "index": "analyze"}.get(body.from_stage)
    if need and need not in call.outputs():
        raise ApiError(409, "conflict", f"cannot start at {body.from_stage}: stage {need!r} has "
                       "no output yet", {"missing_stage": need})
    call.status, call.error = CallStatus.queued.value, None
    audit.record(db, who, "reprocess", f"call:{call.id}", {"from_stage": body.from_stage,
                                                           **changed})
    background.add_task(_run_pipeline, call.id, body.from_stage)
    return Accepted(call_id=call.id, status=call.status,
                    message=f"re-running from {body.from_stage}")


def _apply_overrides(call: Call, body: ReprocessRequest) -> dict[str, object]:
    """Set the request's metadata overrides on the call; what changed."""
    changed: dict[str, object] = {}
    if body.channel_map is not None:
        if len(body.channel_map) != call.channels:
            raise ApiError(422, "bad_metadata", f"channel_map names {len(body.channel_map)} "
                           f"channels, the call has {call.channels}")
        roles: list[str] = [str(r) for r in body.channel_map]
        call.channel_map = changed["channel_map"] = roles
    if body.language is not None:
        call.language = changed["language"] = body.language
    return changed


def _speakers(transcript: Transcript) -> dict[str, str]:
    roles: dict[str, str] = {}
    for u in transcript.utterances:
        roles.setdefault(u.speaker, u.role)
    for t in transcript.speaker_turns:
        roles.setdefault(t.speaker, t.role)
    return roles


@router.patch("/{call_id}/roles", response_model=RolesResult, summary="Fix agent/customer roles",
              description="Swap agent and customer, or set the role per speaker label; the "
              "transcript is rewritten and analysis and indexing re-run. On stereo calls the "
              "channel map is updated too, so a later re-transcription keeps the fix. Audited.",
              responses=responses(404, 409))
def fix_roles(call_id: str, body: RolesPatch, background: BackgroundTasks, db: DB,
              settings: SettingsDep, who: Annotated[Principal, Depends(require("qa"))]
              ) -> RolesResult:
    call = get_call(db, call_id)
    store = _store(settings)
    key = call.outputs().get("transcribe")
    if key is None or not store.exists(key):
        raise ApiError(409, "conflict", "the call has no transcript yet")
    transcript = Transcript.model_validate(store.get_json(key))
    before = _speakers(transcript)
    if body.swap:
        flip = {"agent": "customer", "customer": "agent"}
        mapping = {s: flip.get(r, r) for s, r in before.items()}
    else:
        assert body.speakers is not None
        unknown = sorted(set(body.speakers) - set(before))
        if unknown:
            raise ApiError(422, "validation_error", f"no speaker {unknown[0]!r} in this call; "
                           f"speakers are {', '.join(sorted(before)) or 'none'}",
                           {"speakers": sorted(before)})
        mapping = {**before, **body.speakers}
    utterances = [u.model_copy(update={"role": mapping.get(u.speaker, u.role)})
                  for u in transcript.utterances]
    turns = [t.model_copy(update={"role": mapping.get(t.speaker, t.role)})
             for t in transcript.speaker_turns]
    fixed = transcript.model_copy(update={"utterances": utterances, "speaker_turns": turns,
                                          "role_confidence": 1.0})
    store.put_json(key, fixed.model_dump(mode="json"))
    if call.channels == 2:
        by_channel = {u.channel: u.role for u in utterances if u.channel is not None}
        if set(by_channel) == {0, 1}:
            call.channel_map = [by_channel[0], by_channel[1]]
    call.status = CallStatus.queued.value
    audit.record(db, who, "change_roles", f"call:{call.id}", {"before": before, "after": mapping})
    background.add_task(_run_pipeline, call.id, "analyze")
    return RolesResult(call_id=call.id, speakers=mapping, status=call.status,
                       message="roles fixed; analysis and indexing queued")


@router.delete("/{call_id}", status_code=204, summary="Delete a call (admin)",
               description="Removes the original audio, the transcript and analysis, the index "
               "entry, the reviews and the database row. Audited.",
               responses=responses(404), response_class=Response)
def delete_call(call_id: str, db: DB, settings: SettingsDep, backend: Backend,
                who: Annotated[Principal, Depends(require())]) -> Response:
    call = get_call(db, call_id)
    store = _store(settings)
    audio_key = call.audio_key
    detail = {"source_name": call.source_name, "agent_id": call.agent_id,
              "customer_id": call.customer_id}
    db.delete(call)
    db.flush()
    backend.delete(call_id)
    store.delete(store.output_key(call_id, ""))
    store.delete(audio_key)
    audit.record(db, who, "delete", f"call:{call_id}", detail)
    return Response(status_code=204)
