"""Fit each rule's example threshold, per language, on a folder of labelled dialogues.

    python bench/fit_rule_thresholds.py --data bench/eval/rules/dev --data bench/eval/rules/dev2 \
        [--write] [--json out.json]

For every rule with `examples:` and each language the folder has, tries thresholds from
0.40 to 0.95 (step 0.025) and moves to the one with the fewest call-level errors (misses
+ false alarms, summed over every flagging rule: a marker's threshold counts through the
rules that anchor on it), coordinate by coordinate, twice over. A value moves only when
that lowers the errors, and then to the best value nearest to it: on a small dev set a
flat stretch of equal errors says nothing about where in it the threshold belongs (an
earlier version took the middle of the stretch, and lost recall on both held-out parts).
Scores do not depend on thresholds, so each utterance is scored once (cached) and
every try only re-counts. `--write` puts the fitted values into the rule file in place
(the `threshold:` line of each rule; versions are the analyst's to bump). `--data` may be
given several times: the folders are fitted together (more errors to learn from than in
either). Fit on the fitting parts only (`dev/`, `dev2/`): the held-out parts (`test/`,
`holdout/`) are for checking, never fitting.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import re
from collections import Counter
from typing import Any

from bench.common import machine, report

GRID = [round(0.40 + 0.025 * i, 3) for i in range(23)]


def errors(ruleset: Any, calls: list[tuple[Any, Any]]) -> tuple[int, Counter[str]]:
    from analysis.rules import evaluate

    flag_rules = {r.id for r in ruleset.rules if r.type != "marker"}
    per_rule: Counter[str] = Counter()
    for dialogue, transcript in calls:
        found = {f.rule_id for f in evaluate(ruleset, transcript)} & flag_rules
        expected = set(dialogue.expected.violations) & flag_rules
        per_rule.update(found ^ expected)
    return sum(per_rule.values()), per_rule


def _cache_scores() -> None:
    """Scores and phrase hits do not depend on thresholds: compute each once."""
    import analysis.rules as rules

    closest, hits = rules._closest, rules._phrase_hits
    seen: dict[Any, Any] = {}

    def cached_closest(rule: Any, transcript: Any, indexes: list[int]) -> Any:
        # Each utterance's closest example is its own: cache them one by one.
        def key(i: int) -> tuple[Any, ...]:
            return ("c", rule.id, transcript.call_id, i)

        todo = [i for i in indexes if key(i) not in seen]
        found = closest(rule, transcript, todo) if todo else {}
        for i in todo:
            seen[key(i)] = found.get(i)
        return {i: seen[key(i)] for i in indexes if seen[key(i)] is not None}

    def cached_hits(rule: Any, lang: str, text: str) -> Any:
        key = ("h", rule.id, lang, text)
        if key not in seen:
            seen[key] = hits(rule, lang, text)
        return seen[key]

    rules._closest = cached_closest
    rules._phrase_hits = cached_hits


def fit(ruleset: Any, calls: list[tuple[Any, Any]], languages: list[str]) -> dict[str, dict[str, float]]:
    """Fitted values by key: a rule's id for its `threshold`, `<id>.classifier` for its
    `classifier_threshold` (rules with a classifier in that language)."""
    fitted: dict[str, dict[str, float]] = {}
    tunable = [r for r in ruleset.rules if r.examples]
    for rule in tunable:
        rule.threshold = {lang: rule.threshold_for(lang) for lang in ("en", "zh")}
        rule.classifier_threshold = {lang: rule.classifier_threshold_for(lang)
                                     for lang in ("en", "zh")}
    for _ in range(2):
        for rule in tunable:
            for lang in languages:
                subset = [c for c in calls if c[0].language == lang]
                if not subset or not rule.examples_for(lang):
                    continue
                params = [("threshold", rule.id)]
                if rule.classifier_data(lang) is not None:
                    params.append(("classifier_threshold", f"{rule.id}.classifier"))
                for attr, key in params:
                    values = getattr(rule, attr)
                    now = values[lang]
                    scores = {}
                    for value in sorted({*GRID, now}):
                        values[lang] = value
                        scores[value] = errors(ruleset, subset)[0]
                    best = min(scores.values())
                    # Move only on evidence: keep the current value while it is among the
                    # best, else take the best value nearest to it (a flat stretch of a small
                    # dev set says nothing about where in it the threshold belongs).
                    if scores[now] > best:
                        now = min((v for v, e in scores.items() if e == best),
                                  key=lambda v: (abs(v - now), v))
                    values[lang] = now
                    fitted.setdefault(key, {})[lang] = now
    return fitted


def write_thresholds(path: Path, fitted: dict[str, dict[str, float]], current: Any) -> None:
    """Rewrite the `threshold:` line of each fitted rule in the YAML file, in place."""
    lines = path.read_text("utf-8").splitlines(keepends=True)
    rule_id = None
    for i, line in enumerate(lines):
        found = re.match(r"^\s*- id: ([a-z0-9_]+)", line)
        if found:
            rule_id = found.group(1)
        elif rule_id is not None and (found := re.match(r"^(\s+)(threshold|classifier_threshold):",
                                                         line)):
            key = rule_id if found.group(2) == "threshold" else f"{rule_id}.classifier"
            if key in fitted:
                values = {**current[key], **fitted[key]}
                body = ", ".join(f"{lang}: {values[lang]:g}" for lang in sorted(values))
                lines[i] = (f"{found.group(1)}{found.group(2)}: {{{body}}}  "
                            "# fitted: bench/fit_rule_thresholds.py\n")
    path.write_text("".join(lines), "utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, action="append",
                        help="Folder of dialogue YAML files (repeat for several).")
    parser.add_argument("--rules", type=Path, help="Rule file to fit (default: the packaged pack).")
    parser.add_argument("--write", action="store_true", help="Write the fitted values into it.")
    parser.add_argument("--json", type=Path, help="Also write the figures to this JSON file.")
    args = parser.parse_args()

    from analysis.rules import DEFAULT_RULES, load_rules
    from samples.dialogue import load_dialogues, scripted_transcript

    path = args.rules or DEFAULT_RULES / "default.yaml"
    ruleset = load_rules(path)
    dialogues = load_dialogues(args.data)
    calls = [(d, scripted_transcript(d)) for d in dialogues]
    languages: list[str] = sorted({d.language for d in dialogues})
    _cache_scores()
    before, _ = errors(ruleset, calls)
    current = {r.id: {lang: r.threshold_for(lang) for lang in ("en", "zh")} for r in ruleset.rules}
    current |= {f"{r.id}.classifier": {lang: r.classifier_threshold_for(lang) for lang in ("en", "zh")}
                for r in ruleset.rules}
    fitted = fit(ruleset, calls, languages)
    after, after_rules = errors(ruleset, calls)
    figures: dict[str, Any] = {"data": ", ".join(str(d) for d in args.data), "calls": len(calls),
                               "errors_before": before,
                               "errors_after": after}
    for rule_id, values in sorted(fitted.items()):
        was = current[rule_id]
        figures[f"threshold_{rule_id}"] = ", ".join(
            f"{lang} {was[lang]:g} -> {v:g}" for lang, v in sorted(values.items()))
    figures["errors_left"] = ", ".join(f"{k} {v}" for k, v in sorted(after_rules.items())) or "none"
    figures["machine"] = machine()
    if args.write:
        write_thresholds(path, fitted, current)
        figures["written"] = str(path)
    report(figures, args.json)


if __name__ == "__main__":
    main()
