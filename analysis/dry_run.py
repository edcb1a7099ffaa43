"""Dry-run a rule set over stored transcripts: what would it have flagged? Changes nothing."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from analysis.analyze import AnalysisModels, analyze
from analysis.rules import RuleSet, localized
from core.schemas import Flag, Transcript


@dataclass
class RuleOutcome:
    rule_id: str
    title: str
    flagged: list[str] = field(default_factory=list)        # call ids flagged by the new rules
    newly_flagged: list[str] = field(default_factory=list)  # ... not flagged by this rule now
    no_longer: list[str] = field(default_factory=list)      # flagged now, not by the new rules
    examples: list[tuple[str, Flag]] = field(default_factory=list)


def dry_run(ruleset: RuleSet, calls: Iterable[tuple[Transcript, set[str] | None]],
            models: AnalysisModels | None = None, examples: int = 3) -> dict[str, RuleOutcome]:
    """`calls`: each stored transcript with the rule ids currently flagged on it (None if
    the call has no analysis yet)."""
    models = models or AnalysisModels.default()
    outcomes = {r.id: RuleOutcome(r.id, localized(r.title, "en")) for r in ruleset.rules
                if r.type != "marker"}
    for transcript, current in calls:
        flags = {f.rule_id: f for f in analyze(transcript, ruleset, models).flags}
        for rule_id, outcome in outcomes.items():
            now = current is not None and rule_id in current
            if rule_id in flags:
                outcome.flagged.append(transcript.call_id)
                if len(outcome.examples) < examples:
                    outcome.examples.append((transcript.call_id, flags[rule_id]))
                if current is not None and not now:
                    outcome.newly_flagged.append(transcript.call_id)
            elif now:
                outcome.no_longer.append(transcript.call_id)
    return outcomes
