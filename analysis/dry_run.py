"""Dry-run a rule set over stored transcripts: what would it have flagged? Changes nothing."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from analysis.analyze import AnalysisModels, analyze
from analysis.rules import NearMiss, RuleSet, localized, near_misses
from core.schemas import Analysis, Flag, Transcript
from core.status import StageStatus

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from core.storage import ObjectStore


@dataclass
class RuleOutcome:
    rule_id: str
    title: str
    flagged: list[str] = field(default_factory=list)        # call ids flagged by the new rules
    newly_flagged: list[str] = field(default_factory=list)  # ... not flagged by this rule now
    no_longer: list[str] = field(default_factory=list)      # flagged now, not by the new rules
    examples: list[tuple[str, Flag]] = field(default_factory=list)
    # Utterances just under a rule's example threshold (call id, near miss), closest first:
    # what lowering the threshold would add, for an analyst tuning it.
    near_misses: list[tuple[str, NearMiss]] = field(default_factory=list)


def dry_run(ruleset: RuleSet, calls: Iterable[tuple[Transcript, set[str] | None]],
            models: AnalysisModels | None = None, examples: int = 3,
            near_miss_margin: float = 0.1, near_miss_limit: int = 10) -> dict[str, RuleOutcome]:
    """`calls`: each stored transcript with the rule ids currently flagged on it (None if
    the call has no analysis yet). Rules with examples also report up to
    `near_miss_limit` utterances scoring within `near_miss_margin` under the threshold
    (markers included: a missed identity check changes what other rules flag)."""
    models = models or AnalysisModels.default()
    outcomes = {r.id: RuleOutcome(r.id, localized(r.title, "en")) for r in ruleset.rules
                if r.type != "marker" or r.examples}
    with_examples = [r for r in ruleset.rules if (r.examples or r.reply_to)
                     and near_miss_margin > 0]
    for transcript, current in calls:
        for rule in with_examples:
            found = [(transcript.call_id, n) for n in near_misses(rule, transcript,
                                                                  near_miss_margin)]
            kept = sorted(outcomes[rule.id].near_misses + found, key=lambda cn: -cn[1].score)
            outcomes[rule.id].near_misses = kept[:near_miss_limit]
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


def stored_calls(db: Session, date_from: datetime | None = None, date_to: datetime | None = None,
                 limit: int | None = None) -> list[dict[str, str]]:
    """The stage outputs of the calls with a transcript that started in [date_from,
    date_to), newest first: what a dry run reads (the CLI's `rules test`, POST
    /rules/dry-run)."""
    from sqlalchemy import select

    from core.db import Call, StageRun
    from core.schemas import to_utc

    stmt = (select(Call).join(StageRun).where(StageRun.stage == "transcribe",
                                              StageRun.status == StageStatus.done)
            .order_by(Call.started_at.desc(), Call.id))
    if date_from is not None:
        stmt = stmt.where(Call.started_at >= to_utc(date_from))
    if date_to is not None:
        stmt = stmt.where(Call.started_at < to_utc(date_to))
    if limit is not None:
        stmt = stmt.limit(limit)
    return [c.outputs() for c in db.scalars(stmt)]


def load_stored(store: ObjectStore, stored: Iterable[dict[str, str]]
                ) -> Iterator[tuple[Transcript, set[str] | None]]:
    """Each stored transcript with the rule ids its current analysis flags (None: not
    analysed yet), read one at a time; a call whose transcript has gone is skipped."""
    for outputs in stored:
        if not store.exists(outputs["transcribe"]):
            continue
        transcript = Transcript.model_validate(store.get_json(outputs["transcribe"]))
        current = None
        if outputs.get("analyze") and store.exists(outputs["analyze"]):
            analysis = Analysis.model_validate(store.get_json(outputs["analyze"]))
            current = {f.rule_id for f in analysis.flags}
        yield transcript, current
