"""Calls: upload, list, detail (status per stage, transcript, analysis, flags), audio with
range requests, reprocess, fix roles, delete."""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import FileResponse

from analysis.pii import redact_text
from api import audit
from api.deps import DB, UPLOAD_ROLES, Backend, SettingsDep, require
from api.errors import ApiError, responses
from api.keys import Principal
from api.models import (
    Accepted,
    CallDetail,
    CallInsight,
    CallList,
    PeakChannel,
    PeaksOut,
    ReprocessRequest,
    RolesPatch,
    RolesResult,
    UploadResult,
)
from api.services import calls as calls_service
from api.services.calls import CallFilters
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
from core.pipeline import enqueue, queue_from
from core.schemas import CALL_ID_PATTERN, MAX_SPEAKERS, Transcript
from core.settings import get_settings
from core.status import CallStatus, previous_stage
from core.storage import ObjectStore
from ingest.metadata import MetadataError, parse_metadata
from ingest.probe import media_type
from ingest.service import register_file
from ingest.transcripts import has_audio
from search.documents import risk_score

log = logging.getLogger("callqa.api")
router = APIRouter(prefix="/calls", tags=["calls"])

ID_PATTERN = CALL_ID_PATTERN  # the one pattern the CLI's sidecars and manifests use too
READ_ROLES = ("qa", "manager", "crm")
PLAY_WINDOW_S = 600.0  # range requests of one key on one call within this are one playback
AUDIO_CSP = "default-src 'none'; sandbox; frame-ancestors 'none'"


def _store(settings: SettingsDep) -> ObjectStore:
    return ObjectStore(settings.objects_dir)


def _safe_name(filename: str | None) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(filename or "").name).strip("._") or "upload"
    name = name[:120]
    if name.lower().endswith(".json"):  # never read as its own sidecar (<stem>.json)
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
    speakers: Annotated[int | None, Form(ge=1, le=MAX_SPEAKERS, description=(
        "Known number of speakers on a mono recording (1: voicemail, IVR)."))] = None,
    batch_id: Annotated[str | None, Form(max_length=64)] = None,
    process: Annotated[bool, Form(description="Queue transcription and analysis now.")] = True,
) -> UploadResult:
    raw = {"call_id": call_id, "agent_id": agent_id, "team": team, "customer_id": customer_id,
           "started_at": started_at.isoformat() if started_at else None, "direction": direction,
           "channel_map": channel_map, "language": language, "speakers": speakers}
    try:
        meta = parse_metadata(raw, "form")
    except MetadataError as exc:
        raise ApiError(422, "bad_metadata", str(exc)) from exc
    if batch_id is not None and not re.fullmatch(CALL_ID_PATTERN, batch_id):
        raise ApiError(422, "bad_metadata", "form: invalid metadata: batch_id: letters, digits "
                       "and _.:- only")
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
        # The form's metadata as given; with none, the file-name pattern may still apply.
        given = meta if meta.model_dump(exclude_none=True) else None
        result = register_file(path, settings, _store(settings), batch_id=batch_id,
                               queue=process, metadata=given,
                               source_name=file.filename or None)
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
    status: Annotated[CallStatus | None, Query()] = None,
    agent_id: Annotated[str | None, Query(max_length=128)] = None,
    team: Annotated[str | None, Query(max_length=128)] = None,
    customer_id: Annotated[str | None, Query(max_length=128)] = None,
    batch_id: Annotated[str | None, Query(max_length=64)] = None,
    language: Annotated[str | None, Query(max_length=16)] = None,
    date_from: Annotated[datetime | None, Query(description="started_at on or after")] = None,
    date_to: Annotated[datetime | None, Query(description="started_at before")] = None,
    updated_since: Annotated[datetime | None, Query(
        description="Only calls changed (registered, processed, failed) at or after this "
        "instant, oldest change first: an incremental pull. RFC 3339; UTC if no offset.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    cursor: Annotated[str | None, Query(max_length=200, description="next_cursor of the "
                                        "previous page (offset is then ignored).")] = None,
) -> CallList:
    if who.role == "crm" and not customer_id:
        raise ApiError(403, "forbidden", "crm keys list calls of one customer: add customer_id=")
    filters = CallFilters(status=status, agent_id=agent_id, team=team, customer_id=customer_id,
                          batch_id=batch_id, language=language, date_from=date_from,
                          date_to=date_to, updated_since=updated_since)
    try:
        page = calls_service.list_calls(db, filters, limit, offset, cursor)
    except calls_service.InvalidCursor as exc:
        raise ApiError(422, "validation_error", str(exc)) from exc
    audit.record(db, who, "list", "calls", {
        "filters": filters.given(), "returned": len(page.calls), "offset": page.offset,
        "cursor": cursor is not None})
    return CallList(items=[call_summary(c) for c in page.calls], total=page.total, limit=limit,
                    offset=page.offset, next_cursor=page.next_cursor)


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
                              outcome=analysis.outcome,
                              summary=redact_text(analysis.summary, analysis.language)
                              if masked else analysis.summary,
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
        audio_url=None if not has_audio(call) or who.role == "crm"
        else f"/calls/{call.id}/audio" if who.role in ("qa", "admin") and not redacted
        else f"/calls/{call.id}/audio?redacted=true")


@router.get(
    "/{call_id}/audio", summary="Play the original recording",
    description="The original file, with HTTP range requests (206 Partial Content) so a player "
    "can seek. qa and admin; managers (and redacted=true) get the copy with every PII span "
    "replaced by a tone, rendered once and stored. Audited (once per playback: requests "
    "without a Range header "
    "or from byte 0).",
    response_class=FileResponse,
    responses={200: {"content": {"audio/*": {}}, "description": "The recording."},
               206: {"content": {"audio/*": {}}, "description": "The requested byte range."},
               **responses(404, 416)})
def get_audio(call_id: str, request: Request, db: DB, settings: SettingsDep,
              who: Annotated[Principal, Depends(require("qa", "manager"))],
              redacted: Annotated[bool, Query(description="Every PII span replaced by a tone "
                                              "(managers always get this).")] = False,
              ) -> FileResponse:
    call = get_call(db, call_id)
    if not has_audio(call):
        raise ApiError(404, "no_audio", f"call {call_id!r} was imported as a transcript: it "
                       "has no audio")
    path = _store(settings).path(call.audio_key)
    if not path.is_file():
        raise ApiError(404, "not_found", f"the audio of call {call_id!r} is missing from the store")
    range_header = request.headers.get("range", "")[:200]
    # Every fetch of the recording is a play unless this key already has one for the call
    # in the last PLAY_WINDOW_S: a player's seeks add no entries, but `bytes=1-` or
    # `bytes=-999999999` (the whole file without "from byte 0") can no longer skip the log.
    if (not range_header or re.match(r"^\s*bytes\s*=\s*0-", range_header)
            or not audit.recent(db, who, "play", f"call:{call.id}", PLAY_WINDOW_S)):
        audit.record(db, who, "play", f"call:{call.id}", {"range": range_header or None})
    # The type the decoder found at upload (audio/*), never the uploader's file name, and
    # an attachment: a WAV with HTML in a chunk named evil.html is never rendered.
    headers = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": AUDIO_CSP}
    if redacted or who.role == "manager":  # our own WAV, rendered from the stored original
        return FileResponse(_redacted_audio(settings, call, path), media_type="audio/wav",
                            filename=f"{call.id}-redacted.wav",
                            content_disposition_type="attachment", headers=headers)
    media, suffix = media_type(call.container)
    return FileResponse(path, media_type=media, filename=f"{call.id}{suffix}",
                        content_disposition_type="attachment", headers=headers)


def _redacted_audio(settings: SettingsDep, call: Call, original: Path) -> Path:
    """The toned copy (analysis.redacted_audio), rendered on first request and stored."""
    from analysis.redacted_audio import ensure_redacted_audio

    store = _store(settings)
    _, analysis = load_outputs(store, call)
    if analysis is None:  # no PII spans known yet: nothing safe to play
        raise ApiError(409, "not_ready", f"call {call.id!r} has no analysis yet")
    return store.path(ensure_redacted_audio(store, call.id, original, analysis))


@router.get(
    "/{call_id}/peaks", response_model=PeaksOut, summary="Waveform peaks for the timeline",
    description="The loudest sample per short bin (0..255), per channel on stereo calls (with "
    "the channel's role) or one envelope on mono-processed calls: computed from the stored "
    "recording on first request and kept with the call's outputs. The roles of the audio "
    "endpoint; managers (and redacted=true) get every bin touching a PII span at the tone's "
    "level, as they hear it. No audio and no words.",
    responses=responses(404, 409))
def get_peaks(call_id: str, db: DB, settings: SettingsDep,
              who: Annotated[Principal, Depends(require("qa", "manager"))],
              redacted: Annotated[bool, Query(description="PII spans as the tone (managers "
                                              "always get this).")] = False) -> PeaksOut:
    from analysis.metrics import conversation_spans
    from analysis.redacted_audio import ToneOptions, tone_spans
    from analysis.waveform import ensure_peaks, merge_channels, redacted_peaks

    call = get_call(db, call_id)
    if not has_audio(call):
        raise ApiError(404, "no_audio", f"call {call_id!r} was imported as a transcript: it "
                       "has no audio")
    store = _store(settings)
    path = store.path(call.audio_key)
    if not path.is_file():
        raise ApiError(404, "not_found", f"the audio of call {call_id!r} is missing from the store")
    transcript, analysis = load_outputs(store, call)
    masked = redacted or who.role == "manager"
    if masked and analysis is None:  # no PII spans known yet: as the audio endpoint
        raise ApiError(409, "not_ready", f"call {call.id!r} has no analysis yet")
    data = ensure_peaks(store, call.id, path, call.duration)
    channels: list[list[int]] = data["channels"]
    if masked and analysis is not None:
        tone = ToneOptions()
        channels = redacted_peaks(channels, data["bin_s"], tone_spans(analysis, options=tone),
                                  tone.level)
    # Stereo calls transcribed per channel: each channel's role as the transcript has it
    # (after any role fix), else the channel map.
    stereo = len(channels) == 2 and transcript is not None and transcript.diarization == "channel"
    by_channel: dict[int | None, str] = (
        {u.channel: u.role for u in transcript.utterances} if stereo and transcript else {})
    mapped: list[str] = list(call.channel_map or [])
    roles = [by_channel.get(n) or (mapped[n] if n < len(mapped) else None) for n in range(2)]
    if stereo:
        out = [PeakChannel(role="agent" if r == "agent" else "customer" if r == "customer"
                           else None, peaks=p) for r, p in zip(roles, channels, strict=True)]
    else:
        out = [PeakChannel(role=None, peaks=merge_channels(channels))]
    spans = conversation_spans(transcript) if transcript is not None else {}
    return PeaksOut(call_id=call.id, bin_s=data["bin_s"], duration=data["duration"],
                    redacted=masked, split="channel" if stereo else "speaker", channels=out,
                    silence=spans.get("silence", []), overtalk=spans.get("overtalk", []),
                    hold=analysis.holds if analysis is not None else [])


@router.post("/{call_id}/reprocess", status_code=202, response_model=Accepted,
             summary="Re-run the pipeline from a stage",
             description="transcribe, analyze or index and the stages after it. analyze needs a "
             "transcript, index an analysis (409 otherwise).", responses=responses(404, 409))
def reprocess(call_id: str, body: ReprocessRequest, background: BackgroundTasks, db: DB,
              who: Annotated[Principal, Depends(require("qa"))]) -> Accepted:
    call = get_call(db, call_id)
    _refuse_if_pending(call)
    changed = _apply_overrides(call, body)
    if changed:  # new metadata changes what is heard: transcribe again
        body = body.model_copy(update={"from_stage": "transcribe"})
    if body.from_stage == "transcribe" and not has_audio(call):
        raise ApiError(409, "conflict", "the call was imported as a transcript: there is no "
                       "audio to transcribe; re-run from analyze", {"missing_stage": "audio"})
    need = previous_stage(body.from_stage)
    if need and need not in call.outputs():
        raise ApiError(409, "conflict", f"cannot start at {body.from_stage}: stage {need!r} has "
                       "no output yet", {"missing_stage": need})
    queue_from(call, body.from_stage)
    audit.record(db, who, "reprocess", f"call:{call.id}", {"from_stage": body.from_stage,
                                                           **changed})
    background.add_task(_run_pipeline, call.id, body.from_stage)
    return Accepted(call_id=call.id, status=call.status,
                    message=f"re-running from {body.from_stage}")


def _refuse_if_pending(call: Call) -> None:
    """409 while a stage of the call waits in the queue or runs under a live lease: 47
    reprocesses of one call used to queue 47 transcriptions."""
    pending = calls_service.pending_stages(call, get_settings().stage_queue_deadline_s)
    if pending:
        stage, status = next(iter(pending.items()))
        raise ApiError(409, "reprocess_pending", f"call {call.id} is already being processed "
                       f"(stage {stage} is {status}); try again when it has finished",
                       {"stages": sorted(pending)})


def _apply_overrides(call: Call, body: ReprocessRequest) -> dict[str, object]:
    """Set the request's metadata overrides on the call; what changed."""
    try:
        return calls_service.apply_metadata(call, body.channel_map, body.language,
                                             body.speakers)
    except ValueError as exc:
        raise ApiError(422, "bad_metadata", f"channel_map {exc}") from exc


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
    queue_from(call, "analyze")
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
    detail = {"source_name": call.source_name, "agent_id": call.agent_id,
              "customer_id": call.customer_id}
    calls_service.delete_call(db, _store(settings), backend, call)
    audit.record(db, who, "delete", f"call:{call_id}", detail)
    return Response(status_code=204)
