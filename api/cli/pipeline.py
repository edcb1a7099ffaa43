"""`callqa status`: where each call and each batch stands; waiting on a batch with a bar."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Annotated, Any

import typer
from rich.table import Table

from api.cli.console import CALL_STATUSES, err, fail, out, progress_bar
from core.status import CallStatus

app = typer.Typer()

STATUSES = CALL_STATUSES
FINAL = (CallStatus.indexed, CallStatus.failed)


def _host(worker: str | None) -> str:
    """host:pid of a worker token (host:pid:run)."""
    return ":".join((worker or "").split(":")[:2])


def call_rows(call_ids: list[str] | None = None, batch_id: str | None = None,
              limit: int = 200) -> list[dict[str, Any]]:
    from api.services.calls import status_rows
    from core.db import session_scope

    with session_scope() as db:
        return status_rows(db, call_ids, batch_id, limit)


def batch_counts(batch_id: str | None = None,
                 call_ids: list[str] | None = None) -> Counter[str]:
    from api.services.calls import status_counts
    from core.db import session_scope

    with session_scope() as db:
        return status_counts(db, batch_id, call_ids)


def recent_batches(limit: int = 10) -> list[dict[str, Any]]:
    from api.services import calls
    from core.db import session_scope

    with session_scope() as db:
        return calls.recent_batches(db, limit)


def describe(counts: Counter[str]) -> str:
    return ", ".join(f"{s} {counts[s]}" for s in STATUSES if counts.get(s))


def wait_for_batch(batch_id: str | None = None, call_ids: list[str] | None = None,
                   timeout_s: float | None = None, poll_s: float = 1.0) -> Counter[str]:
    """A progress bar in seconds of audio until every call is final: the workers record how
    far each running transcription has got (stage_runs.progress_s)."""
    from api.services.calls import audio_progress
    from core.db import session_scope

    total = sum(batch_counts(batch_id, call_ids).values())
    started = time.monotonic()
    with progress_bar() as progress:
        bar = progress.add_task("processing (s of audio)", total=None, item="")
        while True:
            counts = batch_counts(batch_id, call_ids)
            final = sum(counts.get(s, 0) for s in FINAL)
            with session_scope() as db:
                done_s, total_s = audio_progress(db, batch_id, call_ids)
            progress.update(bar, total=total_s, completed=done_s, item=describe(counts))
            if final >= total:
                return counts
            if timeout_s is not None and time.monotonic() - started > timeout_s:
                return counts
            time.sleep(poll_s)


@app.command()
def status(
    call_ids: Annotated[list[str] | None, typer.Argument(help="Calls to show.")] = None,
    batch: Annotated[str | None, typer.Option("--batch", help="One ingest batch.")] = None,
    wait: Annotated[bool, typer.Option(
        help="With --batch or call ids: show a progress bar until every call is indexed or "
             "failed.")] = False,
    timeout: Annotated[float | None, typer.Option(help="Stop waiting after this many s.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 200,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Processing status per call (stage, attempts, worker, error) and per batch.

    With no arguments: the most recent batches and their counts per status."""
    if wait:
        if not (batch or call_ids):
            raise fail("--wait needs --batch or call ids")
        counts = wait_for_batch(batch, call_ids, timeout)
        err.print(describe(counts))
    if not batch and not call_ids:
        batches = recent_batches(min(limit, 50))
        if as_json:
            out.print_json(data=batches)
            return
        table = Table("batch", "created", "calls", "audio min", *STATUSES, title="Batches")
        for b in batches:
            table.add_row(b["batch_id"], b["created"][:19], str(b["calls"]),
                          str(b["audio_minutes"]), *(str(b[s]) for s in STATUSES))
        out.print(table)
        return
    rows = call_rows(call_ids, batch, limit)
    if call_ids and not rows:
        raise fail(f"no such call: {', '.join(call_ids)}")
    if batch and not rows:
        known = [b["batch_id"] for b in recent_batches(5)]
        raise fail(f"no batch {batch!r}; recent batches: {', '.join(known) or 'none'} "
                    "(callqa status lists them)", 2)
    counts = Counter(r["status"] for r in rows)
    if as_json:
        out.print_json(json.dumps({"calls": rows, "counts": dict(counts)}, default=str))
        return
    table = Table("call", "status", "stage", "attempts", "worker", "heartbeat", "seconds",
                  "error", title=f"Batch {batch}" if batch else "Calls")
    for r in rows:
        stage = f"{r['stage']} ({r['stage_status']})" if r["stage"] else ""
        attempts = " ".join(f"{k[0]}{v}" for k, v in r["attempts"].items())
        seconds = " ".join(f"{k[0]}{v:.1f}" for k, v in r["seconds"].items())
        table.add_row(r["call_id"], r["status"], stage, attempts, r["worker"] or "",
                      r["heartbeat"], seconds, (r["error"] or "")[:80])
    out.print(table)
    if call_ids:  # a few calls asked for by id: every stage's timings and worker
        stages = Table("call", "stage", "status", "attempts", "started", "finished", "seconds",
                       "worker", title="Stages")
        for r in rows:
            for st in r["stages"]:
                stages.add_row(r["call_id"], st["stage"], st["status"], str(st["attempts"]),
                               (st["started_at"] or "")[:19], (st["finished_at"] or "")[:19],
                               "" if st["seconds"] is None else f"{st['seconds']:.2f}",
                               _host(st["worker"]))
        out.print(stages)
    out.print(f"{len(rows)} call(s): {describe(counts)}")


@app.command()
def reprocess(
    call_ids: Annotated[list[str], typer.Argument(help="Calls to run again.")],
    from_stage: Annotated[str, typer.Option(
        "--from-stage", help="transcribe, analyze or index (and the stages after it).")
    ] = "transcribe",
    language: Annotated[str | None, typer.Option(
        help="New language hint (en, zh, ...); re-runs transcription.")] = None,
    channel_map: Annotated[str | None, typer.Option(
        "--channel-map", help="New role per channel, comma-separated, e.g. customer,agent; "
        "re-runs transcription.")] = None,
    speakers: Annotated[int | None, typer.Option(
        "--speakers", help="Known number of speakers (1-8) for mono diarization, instead of "
        "its own one-or-two decision; re-runs transcription.")] = None,
) -> None:
    """Run calls through the pipeline again, optionally with changed metadata (the same
    audio re-ingested with a new sidecar is refused as a duplicate)."""
    import re

    from api.services.calls import apply_metadata
    from core.db import Call, session_scope
    from core.pipeline import enqueue_batch

    roles = [r.strip() for r in channel_map.split(",")] if channel_map else None
    if roles and set(roles) - {"agent", "customer"}:
        raise fail(f"--channel-map: roles are agent and customer, not {channel_map!r}")
    if language is not None and not re.fullmatch(r"[a-z]{2,3}", language):
        raise fail(f"--language: a language code such as en or zh, not {language!r}")
    if speakers is not None and not 1 <= speakers <= 8:
        raise fail(f"--speakers: 1 to 8, not {speakers}")
    with session_scope() as db:
        for call_id in call_ids:
            call = db.get(Call, call_id)
            if call is None:
                raise fail(f"no such call: {call_id}")
            try:
                apply_metadata(call, roles, language, speakers)
            except ValueError as exc:
                raise fail(f"{call_id}: --channel-map {exc}") from exc
    if roles is not None or language is not None or speakers is not None:
        from_stage = "transcribe"  # new metadata: transcribe again
    try:
        enqueue_batch(call_ids, from_stage)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    err.print(f"{len(call_ids)} call(s) re-run from {from_stage}")
