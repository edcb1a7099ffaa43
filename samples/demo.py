"""The demo's scoring: what the pipeline found on the sample calls, against what each
dialogue was written to contain (`callqa demo`; bench/analysis.py scores the analysis alone)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any


def _outputs(call_id: str) -> tuple[Any, Any | None]:
    from core.db import Call, session_scope
    from core.storage import get_store, load_outputs

    with session_scope() as db:
        call = db.get(Call, call_id)
        if call is None:
            raise LookupError(f"no call {call_id!r}")
        done = call.outputs()
        db.expunge(call)
    _, analysis = load_outputs(get_store(), done)
    return call, analysis


def demo_findings(call_ids: list[str]) -> dict[str, Any]:
    """Per call its status, intent, sentiment and flags; counts over all of them."""
    per_call = []
    flags: Counter[str] = Counter()
    intents: Counter[str] = Counter()
    sentiments: Counter[str] = Counter()
    for call_id in call_ids:
        call, analysis = _outputs(call_id)
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


def compare_with_truth(findings: dict[str, Any], truth_dir: Path) -> None:
    """Sample calls come with the violations and intents they were written to contain."""
    totals = {"expected": 0, "found": 0, "unexpected": 0, "intent_right": 0, "calls": 0}
    for c in findings["calls"]:
        path = truth_dir / f"{c['call_id']}.json"
        if "flags" not in c or not path.exists():
            continue
        expected = json.loads(path.read_text("utf-8"))["expected"]
        c["expected_flags"] = expected["violations"]
        c["expected_intent"] = expected["intents"][0]
        totals["expected"] += len(expected["violations"])
        totals["found"] += len(set(expected["violations"]) & set(c["flags"]))
        totals["unexpected"] += len(set(c["flags"]) - set(expected["violations"]))
        totals["intent_right"] += c["intent"] == expected["intents"][0]
        totals["calls"] += 1
    if totals["calls"]:
        findings["truth"] = totals


def write_zh_transcripts(target: Path, limit: int | None) -> list[str]:
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
