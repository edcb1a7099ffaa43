"""`callqa forms`: check an evaluation form file, list the active forms, re-score calls."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from api.cli.console import err, out
from core.status import StageStatus

app = typer.Typer(help="Evaluation forms (QA scorecards).", no_args_is_help=True)
WHERE = re.compile(r"^(?P<file>.+?):(?P<line>\d+): (?P<message>.*)$")


def _errors(text: str) -> list[dict[str, Any]]:
    """FormError text (one `file:line: message` per line) as records."""
    rows = []
    for line in text.splitlines():
        m = WHERE.match(line)
        rows.append({"file": m["file"], "line": int(m["line"]), "message": m["message"]}
                    if m else {"file": None, "line": None, "message": line})
    return rows


def _references(rules: Path | None) -> Any:
    from analysis.forms import References, default_references

    if rules is None:
        return default_references()
    from analysis.rules import load_rules

    base = default_references()
    ruleset = load_rules(rules)
    return References(rules={r.id for r in ruleset.rules if r.type != "marker"},
                      markers={r.id for r in ruleset.rules if r.type == "marker"},
                      intents=base.intents)


@app.command("check")
def check(
    path: Annotated[Path, typer.Argument(help="Form file or folder (*.yaml).")],
    rules: Annotated[Path | None, typer.Option(
        "--rules", help="Check rule ids against this rule file or folder (default: the "
        "active rules).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Validate evaluation forms; every error names the file and line. Exit 1 if invalid."""
    from analysis.forms import FormError, load_forms
    from analysis.rules import RuleError

    try:
        if not path.exists():
            raise FormError(f"{path}:0: no such file or folder")
        forms = load_forms(path, _references(rules))
    except (FormError, RuleError) as exc:
        problems = _errors(str(exc))
        if as_json:
            out.print_json(data={"valid": False, "errors": problems})
        else:
            for p in problems:
                err.print(f"{p['file']}:{p['line']}: {p['message']}" if p["file"]
                          else p["message"], markup=False, highlight=False)
        raise typer.Exit(1) from exc
    if as_json:
        out.print_json(data={"valid": True, "forms": [
            {"id": f.id, "version": f.version, "hash": f.hash, "file": f.source,
             "questions": len(f.questions),
             "manual": sum(1 for q in f.questions if q.manual)} for f in forms]})
        return
    table = Table("id", "version", "hash", "sections", "questions", "manual", "file")
    for f in forms:
        table.add_row(f.id, str(f.version), f.hash, str(len(f.sections)), str(len(f.questions)),
                      str(sum(1 for q in f.questions if q.manual)), f.source)
    out.print(table)
    out.print(f"{len(forms)} form(s) valid")


@app.command("rescore")
def rescore(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Store the automatic evaluation of every analysed call on the active forms (after a
    form changed, or for calls analysed before forms existed)."""
    from rich.progress import Progress
    from sqlalchemy import select

    from analysis.forms import active_forms
    from core.db import Call, StageRun, session_scope
    from core.evaluations import store_auto
    from core.schemas import Analysis
    from core.storage import get_store

    forms = active_forms()
    store = get_store()
    with session_scope() as db:
        ids = list(db.scalars(select(Call.id).join(StageRun).where(
            StageRun.stage == "analyze", StageRun.status == StageStatus.done).order_by(Call.id)))
    done = 0
    with Progress(console=err, disable=as_json or not sys.stderr.isatty()) as bar:
        task = bar.add_task("scoring", total=len(ids))
        for call_id in ids:
            with session_scope() as db:
                call = db.get(Call, call_id)
                key = call.outputs().get("analyze") if call else None
                if key and store.exists(key):
                    analysis = Analysis.model_validate(store.get_json(key))
                    for form in forms:
                        store_auto(db, call_id, analysis, form)
                    done += 1
            bar.advance(task)
    if as_json:
        out.print_json(data={"calls": done, "forms": [f.id for f in forms]})
    else:
        out.print(f"{done} call(s) scored on {', '.join(f.id for f in forms)}")
