"""Per-rule precision and recall of a rule pack on folders of labelled dialogues, fast.

    python bench/rule_scores.py DIR [DIR ...] [--rules PACK] [-v]

Only the rules (`analysis.rules.evaluate` on the scripted transcripts: the rule rows of
bench/analysis.py, without intents, sentiment and timing passes), one block per folder:
errors, then P / R (tp, fp, fn) per rule; `-v` lists every miss and false alarm with the
evidence (`matched_by classifier` where the rule's classifier matched). For the
leave-one-set-out comparison in docs/rules.md: a pack and a training file fitted on the
other folders (`--rules`, `CALLQA_RULE_TRAINING`), the left-out folder scored.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
from collections import Counter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, nargs="+", help="Folders of dialogue YAML files.")
    parser.add_argument("--rules", type=Path, help="Rule file or folder (default: the pack).")
    parser.add_argument("-v", "--verbose", action="store_true", help="Every error, with text.")
    args = parser.parse_args()

    from analysis.rules import evaluate, load_rules
    from bench.common import machine
    from samples.dialogue import load_dialogues, scripted_transcript

    rules = load_rules(args.rules)
    flag_rules = {r.id for r in rules.rules if r.type != "marker"}
    total = 0
    for folder in args.data:
        dialogues = load_dialogues([folder])
        tp: Counter[str] = Counter()
        fp: Counter[str] = Counter()
        fn: Counter[str] = Counter()
        lines = []
        for dialogue in dialogues:
            flags = {f.rule_id: f for f in evaluate(rules, scripted_transcript(dialogue))}
            found = set(flags) & flag_rules
            expected = set(dialogue.expected.violations) & flag_rules
            tp.update(found & expected)
            fp.update(found - expected)
            fn.update(expected - found)
            for rule_id in sorted(found - expected):
                e = flags[rule_id].evidence[0]
                lines.append(f"  FALSE ALARM {rule_id} in {dialogue.id}: {e.quote[:160]}"
                             + (f" [~{e.matched!r} {e.score} {e.matched_by or ''}]"
                                if e.matched else ""))
            lines += [f"  MISS {rule_id} in {dialogue.id}" for rule_id in sorted(expected - found)]
        errors = sum(fp.values()) + sum(fn.values())
        total += errors
        print(f"== {folder} ({len(dialogues)} calls): {errors} errors")
        for rule_id in sorted(flag_rules):
            if tp[rule_id] + fp[rule_id] + fn[rule_id]:
                p = tp[rule_id] / (tp[rule_id] + fp[rule_id]) if tp[rule_id] + fp[rule_id] else float("nan")
                r = tp[rule_id] / (tp[rule_id] + fn[rule_id]) if tp[rule_id] + fn[rule_id] else float("nan")
                print(f"  {rule_id:40s} P {p:.2f} R {r:.2f} "
                      f"(tp {tp[rule_id]}, fp {fp[rule_id]}, fn {fn[rule_id]})")
        if args.verbose:
            print("\n".join(lines))
    print(f"errors in all: {total}; machine: {machine()}")


if __name__ == "__main__":
    main()
