"""`callqa search`, `trends`, `scorecard`, `customer` and `reindex`."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from api.cli.console import (
    INSTANT_FORMAT,
    LANGUAGES,
    check_choice,
    err,
    fail,
    fmt_time,
    out,
    parse_instant,
    progress_bar,
)

app = typer.Typer()


def _render_highlight(text: str) -> str:
    from search.query import HL_END, HL_START  # lazily: `callqa --help` stays fast

    return escape(text).replace(HL_START, "[bold yellow]").replace(HL_END, "[/bold yellow]")


def _json_highlights(payload: Any) -> Any:
    """Highlight marks as <em> for machine-readable output."""
    if isinstance(payload, dict):
        return {k: _json_highlights(v) for k, v in payload.items()}
    if isinstance(payload, list):
        return [_json_highlights(v) for v in payload]
    if isinstance(payload, str):
        from search.query import HL_END, HL_START

        return payload.replace(HL_START, "<em>").replace(HL_END, "</em>")
    return payload


Text = Annotated[str, typer.Argument(help='Words, "phrases", OR, NOT/-word (AND is implicit).')]
Role = Annotated[str | None, typer.Option(help="Said by: agent or customer.")]
Agent = Annotated[str | None, typer.Option(help="Agent id.")]
Team = Annotated[str | None, typer.Option(help="Team.")]
Customer = Annotated[str | None, typer.Option(help="Customer id.")]
Intent = Annotated[str | None, typer.Option(help="Calls with this intent.")]
Rule = Annotated[str | None, typer.Option(help="Calls flagged by this rule id.")]
Severity = Annotated[str | None, typer.Option(help="Calls with a flag this severe or worse.")]
Review = Annotated[str | None, typer.Option(
    help="none, unreviewed, partial, confirmed or dismissed.")]
Sentiment = Annotated[str | None, typer.Option(help="negative, neutral or positive.")]
Language = Annotated[str | None, typer.Option(help="en or zh.")]
From = Annotated[datetime | None, typer.Option("--from", help="Calls started at or after.",
                                               parser=parse_instant, metavar=INSTANT_FORMAT)]
To = Annotated[datetime | None, typer.Option("--to", help="Calls started before.",
                                             parser=parse_instant, metavar=INSTANT_FORMAT)]
AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _query(**fields: Any) -> Any:
    from search import InvalidQuery, SearchQuery
    from search.query import QuerySyntaxError

    check_choice("--language", fields.get("language"), LANGUAGES)
    check_choice("--role", fields.get("role"), ("agent", "customer"))
    check_choice("--sentiment", fields.get("sentiment"), ("negative", "neutral", "positive"))
    check_choice("--min-severity", fields.get("min_severity"),
                 ("low", "medium", "high", "critical"))
    check_choice("--review", fields.get("review_status"),
                 ("none", "unreviewed", "partial", "confirmed", "dismissed"))
    try:
        return SearchQuery(**fields).validate()
    except (InvalidQuery, QuerySyntaxError) as exc:
        raise fail(str(exc)) from exc


def _run(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Bad queries and an unreachable index are errors with a reason, not tracebacks."""
    from search.base import InvalidQuery, SearchUnavailable
    from search.query import QuerySyntaxError

    try:
        return fn(*args, **kwargs)
    except (InvalidQuery, QuerySyntaxError) as exc:
        raise fail(str(exc)) from exc
    except SearchUnavailable as exc:
        raise fail(str(exc), code=2) from exc


@app.command()
def search(
    query: Text = "", role: Role = None, agent: Agent = None, team: Team = None,
    customer: Customer = None, intent: Intent = None, rule: Rule = None,
    severity: Severity = None, review: Review = None, sentiment: Sentiment = None,
    language: Language = None, date_from: From = None, date_to: To = None,
    min_duration: Annotated[float | None, typer.Option(help="Seconds.")] = None,
    max_duration: Annotated[float | None, typer.Option(help="Seconds.")] = None,
    sort: Annotated[str, typer.Option(help="relevance, date or risk.")] = "relevance",
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    cursor: Annotated[str | None, typer.Option(help="next_cursor of the previous page.")] = None,
    as_json: AsJson = False,
) -> None:
    """Search indexed calls: each hit with its flags and the matching utterances, their
    role and start time (open the call at that second)."""
    from search import get_backend

    q = _query(text=query, role=role, agent_id=agent, team=team, customer_id=customer,
               intent=intent, rule_id=rule, min_severity=severity, review_status=review,
               sentiment=sentiment, language=language, date_from=date_from, date_to=date_to,
               duration_min=min_duration, duration_max=max_duration, sort=sort, size=limit,
               cursor=cursor)
    result = _run(get_backend().search, q)
    if as_json:
        out.print_json(data=_json_highlights(dataclasses.asdict(result)))
        return
    from api.titles import intent_title, labelled, rule_title

    out.print(f"{result.total} call(s)")
    for hit in result.hits:
        flags = ", ".join(labelled(rule_title(r), r) for r in hit.rule_ids) or "no flags"
        intent = labelled(intent_title(hit.primary_intent), hit.primary_intent)
        out.print(f"[bold]{hit.call_id}[/bold]  {hit.started_at or ''}  agent {hit.agent_id}  "
                  f"intent {intent}  sentiment {hit.sentiment}  risk {hit.risk:g}  "
                  f"[red]{flags}[/red]  review {hit.review_status}")
        for u in hit.utterances[:5]:
            out.print(f"   {fmt_time(u.start)}  {u.role:8s} {_render_highlight(u.highlight)}")
    if result.next_cursor:
        out.print(f"next page: --cursor {result.next_cursor}")


@app.command()
def trends(
    metric: Annotated[str, typer.Option(
        help="calls, intent, violation, sentiment, outcome or review.")] = "intent",
    interval: Annotated[str, typer.Option(help="day, week or month (CALLQA_TIMEZONE).")] = "day",
    by: Annotated[str | None, typer.Option(help="Split by team, agent_id or language.")] = None,
    query: Annotated[str, typer.Option("--text", help="Only calls matching this text.")] = "",
    agent: Agent = None, team: Team = None, intent: Intent = None, rule: Rule = None,
    language: Language = None, date_from: From = None, date_to: To = None, as_json: AsJson = False,
) -> None:
    """Intent, violation, sentiment (or call) counts per day, week or month."""
    from search import get_backend
    from search.insight import trends as compute

    q = _query(text=query, agent_id=agent, team=team, intent=intent, rule_id=rule,
               language=language, date_from=date_from, date_to=date_to)
    result = _run(compute, get_backend(), q, metric, interval, by)
    if as_json:
        out.print_json(data=result)
        return
    values = list(result["totals"])[:8]
    table = Table("period", *([by] if by else []), "calls", "viol/100", "sentiment",
                  *values, title=f"{metric} by {interval}")
    counts: dict[tuple[Any, ...], int] = {}
    for b in result["buckets"]:
        counts[(b["period"], b.get(by) if by else None, b["value"])] = b["count"]
    for p in result["periods"]:
        group = p.get(by) if by else None
        table.add_row(p["period"], *([str(group)] if by else []), str(p["calls"]),
                      f"{p['violations_per_100']:g}", f"{p['avg_sentiment']:+.2f}",
                      *(str(counts.get((p["period"], group, v), "")) for v in values))
    out.print(table)


@app.command()
def scorecard(
    agent: Annotated[str | None, typer.Argument(help="One agent; all agents if omitted.")] = None,
    team: Team = None, date_from: From = None, date_to: To = None, as_json: AsJson = False,
) -> None:
    """Agent scorecards: violations per 100 calls, customer sentiment, dead air."""
    from search import get_backend
    from search.insight import agent_scorecard, agent_scorecards

    q = _query(team=team, date_from=date_from, date_to=date_to)
    if agent:
        card = _run(agent_scorecard, get_backend(), agent, q)
        if card is None:
            raise fail(f"no indexed calls for agent {agent!r}")
        cards = [card]
    else:
        cards = _run(agent_scorecards, get_backend(), q)
    if as_json:
        out.print_json(data=cards if not agent else cards[0])
        return
    from api.titles import labelled, rule_title

    table = Table("agent", "team", "calls", "viol/100", "critical", "sentiment", "negative",
                  "dead air/call", "top rules", title="agent scorecards (worst first)")
    for c in cards:
        table.add_row(c["agent_id"], ", ".join(c["teams"]), str(c["calls"]),
                      f"{c['violations_per_100']:g}", str(c["critical_violations"]),
                      f"{c['avg_customer_sentiment']:+.2f}", f"{c['negative_share']:.0%}",
                      f"{c['dead_air_per_call_s']:.1f}s",
                      ", ".join(labelled(rule_title(r["rule_id"]), r["rule_id"])
                                for r in c["top_rules"]))
    out.print(table)


@app.command()
def customer(
    customer_id: Annotated[str, typer.Argument(help="Customer id.")],
    as_json: AsJson = False,
    limit: Annotated[int, typer.Option(min=1, help="Calls per page.")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many calls (newest first).")] = 0,
) -> None:
    """A customer's calls, intents over time, unresolved needs and latest summary."""
    from search import get_backend
    from search.insight import customer_summary

    summary = _run(customer_summary, get_backend(), customer_id, limit, offset)
    if summary is None:
        raise fail(f"no indexed calls for customer {customer_id!r}")
    if as_json:
        out.print_json(data=summary)
        return
    out.print(f"[bold]{customer_id}[/bold]: {summary['total_calls']} call(s), "
              f"{summary['first_call_at']} .. {summary['last_call_at']}")
    last = summary["last_sentiment"]
    out.print(f"last sentiment: {last['label']} ({last['score']:+.2f})")
    needs = summary["unresolved_needs"]
    out.print("unresolved: " + (", ".join(f"{n['intent']} since {n['since']}" for n in needs)
                                or "none"))
    out.print(f"latest summary: {summary['latest_summary']['summary']}")
    from api.titles import intent_title, labelled

    table = Table("started", "call", "intent", "sentiment", "outcome", "flags")
    for c in summary["calls"][:20]:
        table.add_row(str(c["started_at"]), c["call_id"],
                      labelled(intent_title(c["primary_intent"]), c["primary_intent"]),
                      str(c["sentiment"]), str(c["outcome"]), str(c["flag_count"]))
    out.print(table)


@app.command()
def reindex() -> None:
    """Rebuild the search index from the database and object store without downtime:
    a new index is filled and then swapped in; calls indexed meanwhile are re-applied."""
    from search import get_backend
    from search.reindex import reindex as rebuild_index

    backend = get_backend()
    with progress_bar() as progress:
        task = progress.add_task("reindexing", total=None, item="")

        def advance(done: int, total: int, call_id: str) -> None:
            progress.update(task, completed=done, total=total, item=call_id)

        result = _run(rebuild_index, backend, advance)
    for line in result.skipped:
        err.print(f"[yellow]skipped[/yellow] {line}")
    out.print(f"indexed {result.indexed} call(s) into a new {backend.name} index in "
              f"{result.seconds:.1f}s; {result.reapplied} re-applied; {backend.count()} in "
              f"the index")


@app.command()
def phrases(
    intent: Annotated[str, typer.Argument(help="Intent id, e.g. early_settlement.")],
    team: Team = None, language: Language = None, date_from: From = None, date_to: To = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20, as_json: AsJson = False,
) -> None:
    """What customers say in calls of one intent more than in other calls."""
    from search import get_backend
    from search.insight import top_phrases

    q = _query(team=team, language=language, date_from=date_from, date_to=date_to)
    found = _run(top_phrases, get_backend(), intent, q, limit)
    if as_json:
        out.print_json(data=found)
        return
    if not found:
        raise fail(f"no indexed calls with intent {intent!r}")
    table = Table("phrase", "calls", "share", "score", title=f"top customer phrases: {intent}")
    for p in found:
        table.add_row(p["phrase"], str(p["calls"]), f"{p['share']:.0%}", f"{p['score']:.3f}")
    out.print(table)
