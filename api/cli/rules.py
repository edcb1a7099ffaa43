"""`callqa rules check|test`: validate a rule file, dry-run it over stored calls."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from api.cli.console import INSTANT_FORMAT, fail, fmt_time, out, parse_instant

app = typer.Typer(help="Compliance rule files.", no_args_is_help=True)


def _load_rule_file(path: Path) -> Any:
    from analysis.rules import RuleError, load_rules

    if not path.exists():
        raise fail(f"{path}: no such file or folder")
    try:
        return load_rules(path)
    except RuleError as exc:
        raise fail(str(exc)) from exc


@app.command("check")
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


@app.command("test")
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
    from analysis.dry_run import dry_run, load_stored, stored_calls
    from core.db import session_scope
    from core.storage import get_store

    ruleset = _load_rule_file(path)
    with session_scope() as db:
        stored = stored_calls(db, date_from, date_to)
    outcomes = dry_run(ruleset, load_stored(get_store(), stored), near_miss_margin=margin)
    if as_json:
        out.print_json(data={"calls": len(stored), "rules": [
            {"rule_id": o.rule_id, "flagged": o.flagged, "newly_flagged": o.newly_flagged,
             "no_longer_flagged": o.no_longer,
             "examples": [{"call_id": c, "evidence": [e.model_dump() for e in f.evidence]}
                          for c, f in o.examples],
             "near_misses": [{"call_id": c, "utterance": n.utterance, "quote": n.quote,
                              "example": n.example, "score": n.score, "threshold": n.threshold,
                              "by": n.by or "example",
                              # by reply: the other party's turn it answers, and its cue
                              "context": None if n.context is None else {
                                  "utterance": n.context.utterance, "quote": n.context.quote,
                                  "cue": n.context.example, "score": n.context.score}}
                             for c, n in o.near_misses]} for o in outcomes.values()]})
        return
    table = Table("rule", "calls flagged", "new", "no longer", "example")
    for o in outcomes.values():
        example = ""
        if o.examples:
            call_id, flag = o.examples[0]
            example = f"{call_id} at {fmt_time(flag.evidence[0].start)}: {flag.evidence[0].quote[:60]}"
        table.add_row(o.rule_id, str(len(o.flagged)), str(len(o.newly_flagged)),
                      str(len(o.no_longer)), example)
    out.print(table)
    near = [(o.rule_id, c, n) for o in outcomes.values() for c, n in o.near_misses]
    if near:
        misses = Table("rule", "call", "score / threshold", "by", "closest example", "utterance",
                       title="Near misses: just under the example (or classifier) threshold")
        for rule_id, call_id, n in near:
            quote = n.quote[:80]
            if n.context is not None:  # a reply: the turn it answers, and how close its cue
                quote = (f"{n.context.quote[:60]} ({n.context.score:.2f} ~ "
                         f"{n.context.example}) → {quote}")
            misses.add_row(rule_id, call_id, f"{n.score:.2f} / {n.threshold:.2f}",
                           n.by or "example", n.example, quote)
        out.print(misses)
    out.print(f"{len(stored)} stored call(s) checked; nothing was changed")

