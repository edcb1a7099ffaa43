"""`callqa demo`: the main job on the sample calls, compared with their scripted truth."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from api.cli.console import LANGUAGES, check_choice, get_settings, out
from api.cli.ingest import load_call_outputs, print_ingest_summary, run_ingest
from api.cli.samples import samples_render

app = typer.Typer()


def _findings(call_ids: list[str]) -> dict[str, Any]:
    per_call = []
    flags: Counter[str] = Counter()
    intents: Counter[str] = Counter()
    sentiments: Counter[str] = Counter()
    for call_id in call_ids:
        call, _, analysis = load_call_outputs(call_id)
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
    summary = run_ingest(inputs, None, None, True)
    print_ingest_summary(summary)
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

