"""`callqa ingest`, `show` and `calls`: recordings in, one call out, the list of calls."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from api.cli.console import (
    CALL_STATUSES,
    check_choice,
    err,
    fail,
    fmt_time,
    get_settings,
    iso,
    out,
    progress_bar,
)
from core.status import CallStatus

app = typer.Typer()


def run_ingest(paths: list[str], metadata: Path | None, pattern: str | None,
               process: bool) -> Any:
    from ingest import ingest_paths

    with progress_bar() as progress:
        tasks: dict[str, Any] = {}

        def registering(phase: str, done: int, total: int, name: str) -> None:
            if phase not in tasks:
                tasks[phase] = progress.add_task("registering", total=total, item="")
            progress.update(tasks[phase], completed=done, item=name)

        summary = ingest_paths(paths, manifest=metadata, pattern=pattern, process=False,
                               progress=registering)
        if process:
            _process(summary, progress)
        return summary


def _process(summary: Any, progress: Any) -> None:
    """Process the accepted calls with one bar in seconds of audio: a 20-minute call
    moves it forty times as far as a 30-second one. In one process the bar moves as
    transcription decodes each segment; with a broker the workers do the work (see
    `--wait`)."""
    from api.services.calls import durations
    from core.db import session_scope
    from ingest.service import process_registered
    from transcribe.progress import watching

    with session_scope() as db:
        seconds = durations(db, [r.call_id for r in summary.accepted if r.call_id])
    bar = progress.add_task("processing (s of audio)", total=sum(seconds.values()), item="")
    done: dict[str, float] = {}  # seconds of each call transcribed so far

    def transcribing(call_id: str, so_far: float, total: float) -> None:
        done[call_id] = so_far
        progress.update(bar, completed=sum(done.values()),
                        item=f"{call_id}: transcribed {so_far:.0f} of {total:.0f} s")

    def processed(_phase: str, _n: int, _total: int, call_id: str) -> None:
        done[call_id] = seconds.get(call_id, 0.0)
        progress.update(bar, completed=sum(done.values()), item=call_id)

    with watching(transcribing):
        process_registered(summary, processed)


def print_ingest_summary(summary: Any) -> None:
    from api.services.calls import failed as failed_calls
    from core.db import session_scope

    for r in summary.of("refused"):
        err.print(f"[yellow]refused[/yellow] {r.message}")
    for r in summary.of("duplicate"):
        err.print(f"[cyan]duplicate[/cyan] {r.message}")
    with session_scope() as db:
        failed = [f"{i}: {e}" for i, e in failed_calls(db, [r.call_id for r in summary.accepted])]
    for line in failed:
        err.print(f"[red]failed[/red] {line}")
    out.print(f"accepted {len(summary.accepted)}, duplicate {len(summary.of('duplicate'))}, "
              f"refused {len(summary.of('refused'))}"
              + (f", failed in processing {len(failed)}" if failed else ""))


@app.command()
def ingest(
    paths: Annotated[list[str], typer.Argument(help="Files, folders (recursive) or globs.")],
    metadata: Annotated[Path | None, typer.Option(
        help="CSV manifest with a 'file' column and metadata columns.")] = None,
    pattern: Annotated[str | None, typer.Option(
        help="Regex with named groups (call_id, agent_id, team, customer_id, started_at, "
             "direction, language) matched against file names.")] = None,
    process: Annotated[bool, typer.Option(
        help="Queue processing (runs now when no broker is configured).")] = True,
    wait: Annotated[bool, typer.Option(
        help="With a broker: show a progress bar until the workers have indexed (or "
             "failed) every call of this batch; exit 1 if any failed.")] = False,
) -> None:
    """Probe, validate, dedupe, store and register recordings (or import transcript .json
    files, docs/transcripts.md), then process them."""
    from core.pipeline import BrokerUnavailable, check_broker

    try:
        if process:
            check_broker()  # before anything is registered: no call left queued forever
        summary = run_ingest(paths, metadata, pattern, process)
    except BrokerUnavailable as exc:
        raise fail(str(exc), 2) from None
    print_ingest_summary(summary)
    if summary.results and not summary.accepted and not summary.of("duplicate"):
        raise typer.Exit(2)
    if summary.accepted and process and get_settings().broker_url:
        from api.cli.pipeline import describe, wait_for_batch

        err.print(f"batch {summary.batch_id} queued: callqa status --batch {summary.batch_id}")
        if wait:
            counts = wait_for_batch(summary.batch_id)
            err.print(f"batch {summary.batch_id}: {describe(counts)}")
            if counts.get(CallStatus.failed):
                raise typer.Exit(1)


# Search and show ----------------------------------------------------------


def load_call_outputs(call_id: str) -> tuple[Any, Any | None, Any | None]:
    from api.services.calls import call_with_outputs
    from core.db import session_scope
    from core.storage import get_store

    with session_scope() as db:
        try:
            return call_with_outputs(db, get_store(), call_id)
        except LookupError as exc:
            raise fail(str(exc)) from None


@app.command()
def show(
    call_id: Annotated[str, typer.Argument(help="Call id.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Print a call's transcript with roles and times, its flags, intents and summary."""
    call, transcript, analysis = load_call_outputs(call_id)
    if as_json:
        out.print_json(data={
            "call": {**call.metadata_dict(), "status": call.status, "error": call.error,
                     "duration": call.duration},
            "transcript": transcript.model_dump(mode="json") if transcript else None,
            "analysis": analysis.model_dump(mode="json") if analysis else None},
            default=str)
        return
    started = f"{call.started_at:%Y-%m-%d %H:%M} UTC" if call.started_at else "-"
    out.print(f"[bold]{call.id}[/bold]  status {call.status}  {call.duration:.1f} s  "
              f"{call.channels} ch  agent {call.agent_id}  customer {call.customer_id}  "
              f"started {started}")
    if call.error:
        out.print(f"[red]error:[/red] {call.error}")
    if transcript is None:
        return
    out.print(f"{transcript.engine} {transcript.version} ({transcript.model}), language "
              f"{transcript.language}, speakers by {transcript.diarization}, roles from "
              f"{transcript.role_source.replace('_', ' ')} (confidence "
              f"{transcript.role_confidence:.2f})")
    flagged = {e.utterance for f in (analysis.flags if analysis else []) for e in f.evidence}
    for i, u in enumerate(transcript.utterances):
        mark = "[red]![/red]" if i in flagged else " "
        out.print(f"{mark} {fmt_time(u.start)}-{fmt_time(u.end)}  "
                  f"[{'cyan' if u.role == 'agent' else 'green'}]{u.role:8s}[/] {u.text}")
    if analysis is None:
        return
    from api.titles import intent_title, labelled

    out.print(f"\nintent: {labelled(intent_title(analysis.primary_intent), analysis.primary_intent)}  "
              f"(all: {', '.join(i.intent for i in analysis.intents) or '-'})  "
              f"customer sentiment: {analysis.customer_sentiment}")
    for f in analysis.flags:
        ev = f.evidence[0]
        out.print(f"[red]{f.severity:8s} {labelled(f.title, f.rule_id)}[/red] "
                  f"at {fmt_time(ev.start)}: {ev.quote}")
    out.print(f"summary: {analysis.summary}")



@app.command()
def calls(
    status: Annotated[str | None, typer.Option(
        help=f"Only calls in this status: {', '.join(CALL_STATUSES)}.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List registered calls with their processing status."""
    from api.services.calls import CallFilters, list_calls
    from core.db import session_scope

    check_choice("--status", status, CALL_STATUSES)
    table = Table("call id", "status", "duration", "agent", "customer", "started", "error")
    rows = []
    with session_scope() as db:
        for c in list_calls(db, CallFilters(status=status), limit).calls:
            rows.append({"call_id": c.id, "status": c.status, "duration": c.duration,
                         "agent_id": c.agent_id, "customer_id": c.customer_id,
                         "started_at": iso(c.started_at), "batch_id": c.batch_id,
                         "error": c.error})
            table.add_row(c.id, c.status, f"{c.duration:.1f}", c.agent_id or "",
                          c.customer_id or "", str(c.started_at or ""), (c.error or "")[:60])
    if as_json:
        out.print_json(data=rows)
        return
    out.print(table)


