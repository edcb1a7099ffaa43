"""Free-text query syntax: words, "quoted phrases", OR, NOT / -word. AND is implicit.

OR binds tighter than the implicit AND: `refund OR settlement letter` is
(refund OR settlement) AND letter. Every backend compiles the same parsed clauses.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from analysis.normalize import tokens

HL_START, HL_END = "\u0002", "\u0003"
# Joins utterances in a call's per-role text so a phrase never spans two utterances.
UTTERANCE_BREAK = "utterancebreak"


@dataclass
class Clause:
    terms: list[str]  # tokens of one word or phrase
    negated: bool = False
    or_with_next: bool = False


class QuerySyntaxError(ValueError):
    pass


def parse(text: str) -> list[Clause]:
    try:
        parts = shlex.split(text, posix=True)
    except ValueError as exc:
        raise QuerySyntaxError(f"unbalanced quotes in query: {text!r}") from exc
    clauses: list[Clause] = []
    negate = False
    for part in parts:
        if part == "OR":
            if not clauses or clauses[-1].negated:
                raise QuerySyntaxError("OR needs a term on each side")
            clauses[-1].or_with_next = True
            continue
        if part in ("NOT", "AND"):
            negate = part == "NOT"
            continue
        if part.startswith("-") and len(part) > 1:
            negate, part = True, part[1:]
        terms = [t for t in tokens(part) if t != UTTERANCE_BREAK]
        if terms:
            if negate and clauses and clauses[-1].or_with_next:
                raise QuerySyntaxError("OR cannot join a NOT term")
            clauses.append(Clause(terms, negate))
        negate = False
    if clauses and clauses[-1].or_with_next:
        raise QuerySyntaxError("OR needs a term on each side")
    if clauses and all(c.negated for c in clauses):
        raise QuerySyntaxError("a query needs at least one term that is not negated")
    return clauses


def groups(clauses: list[Clause]) -> tuple[list[list[Clause]], list[Clause]]:
    """(AND of OR-groups of positive clauses, negated clauses)."""
    positive: list[list[Clause]] = []
    current: list[Clause] = []
    negative = []
    for clause in clauses:
        if clause.negated:
            negative.append(clause)
            continue
        current.append(clause)
        if not clause.or_with_next:
            positive.append(current)
            current = []
    return positive, negative


def _phrase(clause: Clause) -> str:
    return '"' + " ".join(t.replace('"', '""') for t in clause.terms) + '"'


def to_fts5(clauses: list[Clause], columns: list[str] | None = None) -> str:
    """SQLite FTS5 MATCH expression; every term quoted, so user input is never syntax."""
    positive, negative = groups(clauses)
    expr = " AND ".join("(" + " OR ".join(_phrase(c) for c in group) + ")" for group in positive)
    if negative:
        expr = f"({expr}) NOT (" + " OR ".join(_phrase(c) for c in negative) + ")"
    if columns:
        expr = "{" + " ".join(columns) + "} : (" + expr + ")"
    return expr


def any_positive_fts5(clauses: list[Clause]) -> str:
    """Matches an utterance that says any positive clause: what gets highlighted."""
    positive, _ = groups(clauses)
    return " OR ".join(_phrase(c) for group in positive for c in group)
