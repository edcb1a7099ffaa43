"""`callqa demo`: the main job on the sample calls, compared with their scripted truth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from api.cli.console import LANGUAGES, check_choice, get_settings, out
from api.cli.ingest import print_ingest_summary, run_ingest
from api.cli.samples import samples_render
from core.status import CallStatus

app = typer.Typer()


def _flag_marks(call: dict[str, Any]) -> str:
    if "expected_flags" not in call:
        return ", ".join(call["flags"]) or "-"
    expected = set(call["expected_flags"])
    marks = [f"{f} {'✓' if f in expected else '✗'}" for f in call["flags"]]
    marks += [f"{f} -" for f in sorted(expected - set(call["flags"]))]
    return ", ".join(marks) or "-"


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
    from samples.demo import compare_with_truth, demo_findings, write_zh_transcripts

    settings = get_settings()
    check_choice("--language", language, LANGUAGES)
    target = out_dir or settings.data_dir / "samples"
    if language == "zh":
        inputs = write_zh_transcripts(target, limit)
    else:
        samples_render(None, target, limit)
        inputs = [str(target / "stereo")]
    summary = run_ingest(inputs, None, None, True)
    print_ingest_summary(summary)
    ids = [r.call_id for r in summary.results if r.call_id]
    findings = demo_findings(ids)
    compare_with_truth(findings, target / "truth")
    if as_json:
        out.print_json(data=findings)
        return
    table = Table("call", "min", "intent", "sentiment", "flags (expected ones marked ✓, "
                  "unexpected ✗, missed -)", title="Calls")
    for c in findings["calls"]:
        if c.get("status") == CallStatus.failed:
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

