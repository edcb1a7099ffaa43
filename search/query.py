"""Free-text query syntax: words, "quoted phrases", OR, NOT / -word. AND is implicit."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from analysis.normalize import tokens

HL_START, HL_END = "\u0002", "\u0003"


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
            if not clauses:
                raise QuerySyntaxError("OR needs a term on each side")
            clauses[-1].or_with_next = True
            continue
        if part in ("NOT", "AND"):
            negate = part == "NOT"
            continue
        if part.startswith("-") and len(part) > 1:
            negate, part = True, part[1:]
        terms = tokens(part)
        if terms:
            clauses.append(Clause(terms, negate))
        negate = False
    if clauses and clauses[-1].or_with_next:
        raise QuerySyntaxError("OR needs a term on each side")
    if clauses and all(c.negated for c in clauses):
        raise QuerySyntaxError("a query needs at least one term that is not negated")
    return clauses


def to_fts5(clauses: list[Clause]) -> str:
    """SQLite FTS5 MATCH expression; every term quoted, so user input is never syntax."""
    out: list[str] = []
    group: list[str] = []
    for clause in clauses:
        phrase = '"' + " ".join(t.replace('"', '""') for t in clause.terms) + '"'
        if clause.negated:
            out.append(f"NOT {phrase}")
            continue
        group.append(phrase)
        if not clause.or_with_next:
            out.append(group[0] if len(group) == 1 else "(" + " OR ".join(group) + ")")
            group = []
    expr = " AND ".join(out).replace("AND NOT", "NOT")
    return expr
