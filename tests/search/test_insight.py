"""search.insight over every configured backend; expectations computed from the documents."""

from __future__ import annotations

import copy
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from analysis.normalize import tokens
from search.base import InvalidQuery, SearchBackend, SearchQuery
from search.insight import agent_scorecard, agent_scorecards, customer_summary, top_phrases, trends
from tests.search.conftest import Doc, Factory


def week_of(doc: Doc) -> str:
    day = datetime.fromisoformat(doc["started_at"]).astimezone(UTC).date()
    return (day - timedelta(days=day.weekday())).isoformat()


def test_intent_trend_by_week_and_team(backend: SearchBackend, docs: list[Doc]) -> None:
    result = trends(backend, metric="intent", interval="week", by="team")
    expected = Counter((week_of(d), i, d["team"]) for d in docs for i in d["intents"])
    got = {(b["period"], b["value"], b["team"]): b["count"] for b in result["buckets"]}
    assert got == dict(expected)
    assert result["totals"] == dict(sorted(Counter(i for d in docs for i in d["intents"]).items(),
                                           key=lambda kv: (-kv[1], kv[0])))
    calls = Counter((week_of(d), d["team"]) for d in docs)
    assert {(p["period"], p["team"]): p["calls"] for p in result["periods"]} == dict(calls)


def test_violation_trend_with_filter_and_rates(backend: SearchBackend, docs: list[Doc]) -> None:
    result = trends(backend, SearchQuery(language="en"), metric="violation", interval="day")
    en = [d for d in docs if d["language"] == "en"]
    day = lambda d: datetime.fromisoformat(d["started_at"]).astimezone(UTC).date().isoformat()  # noqa: E731
    assert {(b["period"], b["value"]): b["count"] for b in result["buckets"]} == dict(
        Counter((day(d), r) for d in en for r in d["rule_ids"]))
    for period in result["periods"]:
        same_day = [d for d in en if day(d) == period["period"]]
        assert period["calls"] == len(same_day)
        assert period["violations_per_100"] == pytest.approx(
            100 * sum(d["flag_count"] for d in same_day) / len(same_day), abs=0.01)
        assert period["avg_sentiment"] == pytest.approx(
            sum(d["sentiment_score"] for d in same_day) / len(same_day), abs=1e-3)


def test_sentiment_trend(backend: SearchBackend, docs: list[Doc]) -> None:
    result = trends(backend, metric="sentiment", interval="month")
    assert result["totals"] == dict(sorted(Counter(d["sentiment"] for d in docs).items(),
                                           key=lambda kv: (-kv[1], kv[0])))


@pytest.mark.parametrize("kwargs", [{"metric": "mood"}, {"interval": "hour"}, {"by": "customer_id"}])
def test_bad_trend_requests(backend: SearchBackend, kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidQuery):
        trends(backend, **kwargs)


def test_agent_scorecards(backend: SearchBackend, docs: list[Doc]) -> None:
    cards = {c["agent_id"]: c for c in agent_scorecards(backend)}
    agents = {d["agent_id"] for d in docs}
    assert set(cards) == agents
    for agent in agents:
        mine = [d for d in docs if d["agent_id"] == agent]
        card, n = cards[agent], len(mine)
        assert card["calls"] == n
        assert card["violations"] == sum(d["flag_count"] for d in mine)
        assert card["violations_per_100"] == pytest.approx(100 * card["violations"] / n, abs=0.01)
        assert card["critical_violations"] == sum(d["critical_flags"] for d in mine)
        assert card["avg_customer_sentiment"] == pytest.approx(
            sum(d["sentiment_score"] for d in mine) / n, abs=1e-3)
        assert card["dead_air_per_call_s"] == pytest.approx(
            sum(d["dead_air_s"] for d in mine) / n, abs=0.01)
        assert card["negative_share"] == pytest.approx(
            sum(d["sentiment"] == "negative" for d in mine) / n, abs=1e-3)
        assert card["teams"] == sorted({d["team"] for d in mine})
        rules = Counter(r for d in mine for r in d["rule_ids"])
        assert [r["calls"] for r in card["top_rules"]] == sorted(rules.values(), reverse=True)[:3]
    worst_first = [c["violations_per_100"] for c in agent_scorecards(backend)]
    assert worst_first == sorted(worst_first, reverse=True)


def test_one_agent_scorecard_with_weekly_trend(backend: SearchBackend, docs: list[Doc]) -> None:
    agent = Counter(d["agent_id"] for d in docs).most_common(1)[0][0]
    card = agent_scorecard(backend, agent)
    assert card is not None and card["agent_id"] == agent
    assert sum(p["calls"] for p in card["weekly"]) == card["calls"]
    assert agent_scorecard(backend, "no-such-agent") is None


def test_customer_summary(make_backend: Factory, docs: list[Doc]) -> None:
    picked = copy.deepcopy(docs[:3])
    plan = [("2026-10-01T09:00:00+00:00", ["refund"], "unresolved"),
            ("2026-10-08T09:00:00+00:00", ["refund", "fee_dispute"], "follow_up"),
            ("2026-10-15T09:00:00+00:00", ["fee_dispute"], "resolved")]
    for doc, (when, intents, outcome) in zip(picked, plan, strict=True):
        doc.update(customer_id="C-TEST", started_at=when, intents=intents,
                   primary_intent=intents[0], outcome=outcome)
    engine = make_backend([*picked, *docs[3:]])
    summary = customer_summary(engine, "C-TEST")
    assert summary is not None
    assert summary["total_calls"] == 3
    assert [c["call_id"] for c in summary["calls"]] == [d["call_id"] for d in reversed(picked)]
    assert summary["unresolved_needs"] == [{
        "intent": "refund", "since": picked[0]["started_at"], "calls": 2,
        "last_call_id": picked[1]["call_id"], "last_outcome": "follow_up"}]
    newest = picked[2]
    assert summary["latest_summary"] == {"call_id": newest["call_id"], "started_at": newest["started_at"],
                                         "summary": newest["summary"], "outcome": "resolved",
                                         "language": newest["language"], "translated": False}
    assert summary["last_sentiment"]["label"] == newest["sentiment"]
    assert {(r["month"], r["intent"]): r["calls"] for r in summary["intents_over_time"]} == {
        ("2026-10", "refund"): 2, ("2026-10", "fee_dispute"): 2}
    assert customer_summary(engine, "C-NOBODY") is None
    # Asked for in the other language: rebuilt from the analysis, titles in that language.
    other = "zh" if newest["language"] == "en" else "en"
    latest = customer_summary(engine, "C-TEST", language=other)["latest_summary"]  # type: ignore[index]
    assert latest["translated"] and latest["language"] == other
    assert latest["summary"].startswith("客户诉求" if other == "zh" else "Customer needs")
    assert customer_summary(engine, "C-TEST", language=newest["language"])[  # type: ignore[index]
        "latest_summary"]["summary"] == newest["summary"]
    # Paged: the needs and flags stay those of all the calls, whatever the page.
    pages = [customer_summary(engine, "C-TEST", limit=2, offset=o) for o in (0, 2)]
    assert [p["next_offset"] for p in pages if p] == [2, None]
    assert [c["call_id"] for p in pages if p for c in p["calls"]] == \
        [c["call_id"] for c in summary["calls"]]
    assert all(p and p["unresolved_needs"] == summary["unresolved_needs"]
               and p["flags"] == summary["flags"] for p in pages)


def test_top_phrases_are_said_by_customers_of_that_intent(backend: SearchBackend,
                                                          docs: list[Doc]) -> None:
    intent = Counter(i for d in docs for i in d["intents"]).most_common(1)[0][0]
    mine = [d for d in docs if intent in d["intents"]]
    others = [d for d in docs if intent not in d["intents"]]
    phrases = top_phrases(backend, intent, size=10)
    assert phrases

    def says(doc: Doc, phrase: str) -> bool:
        want = tokens(phrase)
        for u in doc["utterances"]:
            words = tokens(u["text"]) if u["role"] == "customer" else []
            if any(words[i:i + len(want)] == want for i in range(len(words))):
                return True
        return False

    for p in phrases:
        in_mine = sum(says(d, p["phrase"]) for d in mine)
        assert in_mine == p["calls"], p
        assert in_mine / len(mine) > sum(says(d, p["phrase"]) for d in others) / len(docs)
    assert [p["score"] for p in phrases] == sorted((p["score"] for p in phrases), reverse=True)
    assert top_phrases(backend, "no_such_intent") == []
