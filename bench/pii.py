"""PII detection on the written evaluation set (bench/eval/pii/*.jsonl).

    python bench/pii.py [--split dev|test|all] [--json out.json]

Recall per kind: a labelled span counts as found when the detector masks all of its
characters with a span of the same kind. False positives: negatives (contract, order,
case and loan reference numbers, amounts, dates) on which anything is masked, and
masks on positive lines that touch no labelled span. Every miss and false alarm is
printed with its text.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import json
from collections import Counter
from typing import Any

from bench.common import ROOT, machine, report

EVAL = ROOT / "bench" / "eval" / "pii"


def load(split: str) -> list[dict[str, Any]]:
    names = ["dev", "test"] if split == "all" else [split]
    rows = []
    for name in names:
        with (EVAL / f"{name}.jsonl").open(encoding="utf-8") as f:
            rows += [json.loads(line) for line in f if line.strip()]
    return rows


def score(rows: list[dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    from analysis.pii import find_pii

    found: Counter[str] = Counter()
    total: Counter[str] = Counter()
    problems: list[str] = []
    negatives = negative_hits = extra = 0
    for row in rows:
        text = row["text"]
        spans = find_pii(text, row["lang"], role=row.get("role"))
        if row.get("negative"):
            negatives += 1
            if spans:
                negative_hits += 1
                problems.append(f"FALSE ALARM (negative) {[(s.kind, s.text) for s in spans]}: {text}")
            continue
        gold_ranges = []
        for gold in row["spans"]:
            at = text.find(gold["text"])
            assert at >= 0, (gold, text)
            gold_ranges.append((at, at + len(gold["text"])))
            total[gold["kind"]] += 1
            covered = set()
            for s in spans:
                if s.kind == gold["kind"]:
                    covered |= set(range(s.start, s.end))
            if set(range(at, at + len(gold["text"]))) <= covered:
                found[gold["kind"]] += 1
            else:
                got = [(s.kind, s.text) for s in spans]
                problems.append(f"MISS {gold['kind']} {gold['text']!r} (got {got}): {text}")
        for s in spans:
            if not any(s.start < e and b < s.end for b, e in gold_ranges):
                extra += 1
                problems.append(f"FALSE ALARM (extra mask) {s.kind} {s.text!r}: {text}")
    figures: dict[str, Any] = {"lines": len(rows), "negatives": negatives}
    for kind in sorted(total):
        figures[f"recall_{kind}"] = f"{found[kind] / total[kind]:.3f} ({found[kind]}/{total[kind]})"
    figures["negatives_masked"] = (f"{negative_hits / negatives:.3f} ({negative_hits}/{negatives})"
                                   if negatives else "n/a")
    figures["extra_masks_on_positive_lines"] = extra
    return figures, problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=["dev", "test", "all"], default="test")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    figures, problems = score(load(args.split))
    for line in problems:
        print(line)
    figures["split"] = args.split
    figures["machine"] = machine()
    report(figures, args.json)


if __name__ == "__main__":
    main()
