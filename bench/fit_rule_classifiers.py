"""Collect the labelled utterances the default pack's rule classifiers learn from.

    python bench/fit_rule_classifiers.py --data bench/eval/rules/dev --data bench/eval/rules/dev2 \
        --data bench/eval/rules/dev3 [--out analysis/config/rule_training.yaml]

For every `must_not_say` rule with `examples:` and each language:

- positives: the agent turns a dialogue marks as breaking the rule (a turn's
  `violations:`); in a call that expects the rule but marks no turn, the utterances the
  pack flags now (its evidence);
- negatives: every sentence of the agent's turns in the calls that do not expect the
  rule, only those the rule would score (before its `before` anchor's first match,
  after its `after` anchor's).

`analysis.rules.load_rules` reads the file for the default pack (`CALLQA_RULE_TRAINING`
names another, or `none`), and `analysis.semantic.RuleClassifier` fits on these beside
the rule's examples, counter-examples and the other rules' examples. Collect from the
fitting parts only (`dev/`, `dev2/`, `dev3/`): never from `test/` or `holdout/`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
from typing import Any

import yaml

from bench.common import machine, report


def collect(ruleset: Any, dialogues: list[Any]) -> dict[str, dict[str, dict[str, list[str]]]]:
    from analysis.rules import evaluate, find_matches
    from analysis.semantic import _SENTENCE
    from samples.dialogue import scripted_transcript

    wanted = [r for r in ruleset.rules if r.type == "must_not_say" and r.examples]
    out: dict[str, dict[str, dict[str, list[str]]]] = {}
    for dialogue in dialogues:
        transcript = scripted_transcript(dialogue)
        agent = [(i, t) for i, t in enumerate(dialogue.turns) if t.speaker == "agent"]
        flags = None
        for rule in wanted:
            data = out.setdefault(rule.id, {}).setdefault(
                dialogue.language, {"positives": [], "negatives": []})
            if rule.id in dialogue.expected.violations:
                marked = [t.text for _, t in agent if rule.id in t.violations]
                if not marked:
                    if flags is None:
                        flags = {f.rule_id: f for f in evaluate(ruleset, transcript)}
                    found = flags.get(rule.id)
                    marked = [e.quote for e in found.evidence] if found else []
                data["positives"] += marked
                continue
            low, high = float("-inf"), float("inf")
            for ref, before in ((rule.before, True), (rule.after, False)):
                if ref:
                    anchor = find_matches(ruleset.by_id(ref), transcript)
                    cut = anchor[0].start if anchor else None
                    if before:
                        high = cut if cut is not None else high
                    else:
                        low = cut if cut is not None else float("inf")
            # Utterance i of the scripted transcript is turn i.
            for i, turn in agent:
                if low < transcript.utterances[i].start < high:
                    data["negatives"] += [s.strip() for s in _SENTENCE.findall(turn.text)
                                          if len(s.strip()) > 3]
    for per_lang in out.values():
        for data in per_lang.values():
            for key in data:
                data[key] = list(dict.fromkeys(data[key]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, action="append",
                        help="Folder of dialogue YAML files (repeat for several).")
    parser.add_argument("--out", type=Path, help="Training file to write "
                        "(default: analysis/config/rule_training.yaml).")
    parser.add_argument("--json", type=Path, help="Also write the figures to this JSON file.")
    args = parser.parse_args()

    from analysis.rules import DEFAULT_RULES, DEFAULT_TRAINING, load_rules
    from samples.dialogue import load_dialogues

    ruleset = load_rules(DEFAULT_RULES)
    for rule in ruleset.rules:
        rule.classifier = False  # the evidence fallback: what the pack finds without them
    dialogues = load_dialogues(args.data)
    training = collect(ruleset, dialogues)
    out = args.out or DEFAULT_TRAINING
    header = ("# Labelled utterances for the default pack's rule classifiers, written by\n"
              "# bench/fit_rule_classifiers.py from "
              + ", ".join(str(d) for d in args.data) + ".\n"
              "# Regenerate it rather than editing it by hand.\n")
    out.write_text(header + yaml.safe_dump({"rules": training}, allow_unicode=True,
                                           sort_keys=True, width=100), "utf-8")
    figures: dict[str, Any] = {"data": ", ".join(str(d) for d in args.data),
                               "calls": len(dialogues)}
    for rule_id, per_lang in sorted(training.items()):
        figures[f"utterances_{rule_id}"] = ", ".join(
            f"{lang} +{len(d['positives'])}/-{len(d['negatives'])}"
            for lang, d in sorted(per_lang.items()))
    figures["written"] = str(out)
    figures["machine"] = machine()
    report(figures, args.json)


if __name__ == "__main__":
    main()
