"""What managers and the CRM ask of the index: trends, top phrases, agent scorecards and
per-customer summaries. Built only from the backend interface (search, facets,
get_many), so both backends answer alike."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping
from typing import Any

from analysis.normalize import CJK, tokens
from search.base import PERIODS, Bucket, CallDocument, InvalidQuery, SearchBackend, SearchQuery

TREND_METRICS = {"calls": None, "intent": "intents", "violation": "rule_ids",
                 "sentiment": "sentiment", "outcome": "outcome", "review": "review_status"}
GROUPS = ("team", "agent_id", "language")

# Words that make a phrase about nothing on their own ("i want to", "的").
_STOPWORDS = """
a an the and or but if so to of in on at for with by from as is are was were be been am it its
this that these those i me my we our you your he she they them their his her do does did have has
had not no yes can could would should will just about what which who how there here then than
um uh oh okay ok well please thank thanks hello hi very really also all any some one yeah
sure right know like get got want need just now then when why where because going let
的 了 是 我 你 您 他 她 们 吗 呢 吧 啊 哦 嗯 就 都 也 还 在 有 和 跟 把 被 这 那 个 一
不 没 要 会 能 想 好 请 说 谢谢 可以 时候 以后 现在 什么 怎么 一下 这个 那个 然后 知道 已经
还是 就是 没有 如果 因为 所以 我们 你们 您好
"""
STOPWORDS = frozenset(_STOPWORDS.split())


def _with(query: SearchQuery | None, **changes: Any) -> SearchQuery:
    base = query or SearchQuery()
    return dataclasses.replace(base, cursor=None, offset=0, **changes)


def trends(backend: SearchBackend, query: SearchQuery | None = None, metric: str = "calls",
           interval: str = "day", by: str | None = None) -> dict[str, Any]:
    """Counts per period (day, week or month in the configured time zone) of calls,
    intents, violations (rule hits), sentiment labels, outcomes or review statuses,
    optionally split by team, agent or language. Each period also carries its call
    count and mean customer sentiment, so rates (violations per 100 calls) follow."""
    if metric not in TREND_METRICS:
        raise InvalidQuery(f"metric must be one of {', '.join(TREND_METRICS)}")
    if interval not in PERIODS:
        raise InvalidQuery(f"interval must be one of {', '.join(PERIODS)}")
    if by is not None and by not in GROUPS:
        raise InvalidQuery(f"by must be one of {', '.join(GROUPS)}")
    q = _with(query)
    split = [by] if by else []
    per_period = backend.facets([interval, *split], q, metrics=["sentiment_score", "flag_count"])
    periods = [{"period": b.key[interval], **({by: b.key[by]} if by else {}), "calls": b.count,
                "avg_sentiment": b.mean("sentiment_score"),
                "violations_per_100": round(100 * b.sums["flag_count"] / b.count, 2)}
               for b in per_period]
    field = TREND_METRICS[metric]
    buckets: list[dict[str, Any]] = []
    if field:
        for b in backend.facets([interval, field, *split], q):
            buckets.append({"period": b.key[interval], "value": b.key[field],
                            **({by: b.key[by]} if by else {}), "count": b.count})
    totals: dict[str, int] = {}
    for row in buckets:
        if row["value"] is not None:
            totals[row["value"]] = totals.get(row["value"], 0) + row["count"]
    return {"metric": metric, "interval": interval, "by": by, "periods": periods,
            "buckets": buckets,
            "totals": dict(sorted(totals.items(), key=lambda kv: (-kv[1], kv[0])))}


def _phrases(text: str, max_len: int = 3) -> set[str]:
    words = tokens(text)
    found = set()
    for n in range(1, max_len + 1):
        for i in range(len(words) - n + 1):
            gram = words[i:i + n]
            # A phrase starts and ends on a content word; digits alone say nothing.
            if gram[0] in STOPWORDS or gram[-1] in STOPWORDS or all(w.isdigit() for w in gram):
                continue
            if n == 1 and len(gram[0]) < (2 if CJK.search(gram[0]) else 3):
                continue
            found.add("".join(gram) if all(CJK.search(w) for w in gram) else " ".join(gram))
    return found


def _customer_phrase_counts(backend: SearchBackend, query: SearchQuery, sample: int
                            ) -> tuple[Counter[str], int]:
    """In how many calls (the `sample` most recent) the customer says each phrase."""
    ids = [h.call_id for h in backend.search(_with(query, sort="date", size=sample, text="",
                                                   role=None)).hits]
    df: Counter[str] = Counter()
    for doc in backend.get_many(ids):
        said: set[str] = set()
        for u in doc.get("utterances", []):
            if u.get("role") == "customer":
                said |= _phrases(u["text"])
        df.update(said)
    return df, len(ids)


def top_phrases(backend: SearchBackend, intent: str, query: SearchQuery | None = None,
                size: int = 20, sample: int = 300) -> list[dict[str, Any]]:
    """What customers say in calls of one intent more than in the others: phrases (one to
    three words) ranked by how much more often they occur there (like Elasticsearch's
    significant terms), from the most recent `sample` calls of each side."""
    q = _with(query, intent=None)
    fg, fg_n = _customer_phrase_counts(backend, _with(q, intent=intent), sample)
    if not fg_n:
        return []
    bg, bg_n = _customer_phrase_counts(backend, q, sample)
    ranked: list[dict[str, Any]] = []
    for phrase, n in fg.items():
        if n < 2 and fg_n > 1:
            continue
        fg_share, bg_share = n / fg_n, (bg.get(phrase, 0) + 1) / (bg_n + 1)
        if fg_share <= bg_share:
            continue
        ranked.append({"phrase": phrase, "calls": n, "share": round(fg_share, 3),
                       "score": round((fg_share - bg_share) * fg_share / bg_share, 4)})
    ranked.sort(key=lambda r: (-r["score"], -r["calls"], r["phrase"]))
    # A longer phrase that says the same as a shorter one is kept; its fragments go.
    kept: list[dict[str, Any]] = []
    for r in ranked:
        if not any(r["phrase"] in k["phrase"] and r["calls"] <= k["calls"] for k in kept):
            kept.append(r)
        if len(kept) == size:
            break
    return kept


SCORE_METRICS = ["flag_count", "critical_flags", "sentiment_score", "dead_air_s", "duration"]


def _by_agent(buckets: list[Bucket], field: str) -> dict[str | None, dict[str, int]]:
    out: dict[str | None, dict[str, int]] = {}
    for b in buckets:
        if b.key[field] is not None:
            out.setdefault(b.key["agent_id"], {})[b.key[field]] = b.count  # type: ignore[index]
    return out


def agent_scorecards(backend: SearchBackend, query: SearchQuery | None = None,
                     top_rules: int = 3) -> list[dict[str, Any]]:
    """Per agent: calls, violations per 100 calls, critical violations, mean customer
    sentiment, dead air per call, negative-call share, review outcome and top rules.
    Worst first (most violations per 100 calls)."""
    q = _with(query)
    rows = backend.facets(["agent_id", "team"], q, metrics=SCORE_METRICS)
    sentiments = _by_agent(backend.facets(["agent_id", "sentiment"], q), "sentiment")
    reviews = _by_agent(backend.facets(["agent_id", "review_status"], q), "review_status")
    rules = _by_agent(backend.facets(["agent_id", "rule_ids"], q), "rule_ids")
    cards: dict[str, dict[str, Any]] = {}
    for b in rows:
        agent = b.key["agent_id"]
        if agent is None:
            continue
        card = cards.setdefault(agent, {"agent_id": agent, "teams": [], "calls": 0,
                                        **{f"sum_{m}": 0.0 for m in SCORE_METRICS}})
        if b.key["team"] is not None:
            card["teams"].append(b.key["team"])
        card["calls"] += b.count
        for m in SCORE_METRICS:
            card[f"sum_{m}"] += b.sums[m]
    out = []
    for agent, card in cards.items():
        n = card["calls"]
        labels = sentiments.get(agent, {})
        out.append({
            "agent_id": agent, "teams": sorted(card["teams"]), "calls": n,
            "violations": int(card["sum_flag_count"]),
            "violations_per_100": round(100 * card["sum_flag_count"] / n, 2),
            "critical_violations": int(card["sum_critical_flags"]),
            "avg_customer_sentiment": round(card["sum_sentiment_score"] / n, 4),
            "negative_share": round(labels.get("negative", 0) / n, 4),
            "dead_air_per_call_s": round(card["sum_dead_air_s"] / n, 2),
            "avg_duration_s": round(card["sum_duration"] / n, 1),
            "review_status": reviews.get(agent, {}),
            "top_rules": [{"rule_id": r, "calls": c} for r, c in sorted(
                rules.get(agent, {}).items(), key=lambda kv: (-kv[1], kv[0]))[:top_rules]],
        })
    out.sort(key=lambda c: (-c["violations_per_100"], c["agent_id"]))
    return out


def agent_scorecard(backend: SearchBackend, agent_id: str, query: SearchQuery | None = None
                    ) -> dict[str, Any] | None:
    q = _with(query, agent_id=agent_id)
    cards = agent_scorecards(backend, q, top_rules=10)
    if not cards:
        return None
    card = cards[0]
    card["weekly"] = trends(backend, q, "violation", "week")["periods"]
    return card


def _all_hits(backend: SearchBackend, query: SearchQuery, page: int = 500) -> list[Any]:
    """Every hit of the query (cursor pages): no silent cap."""
    hits: list[Any] = []
    current = dataclasses.replace(query, size=page, offset=0, cursor=None)
    while True:
        result = backend.search(current)
        hits += result.hits
        if not result.next_cursor or not result.hits or len(hits) >= result.total:
            return hits
        current = dataclasses.replace(current, cursor=result.next_cursor)


_OUTCOME_TEXT = {
    "en": {"follow_up": "follow-up pending.", "unresolved": "unresolved, customer dissatisfied.",
           "resolved": "handled in the call."},
    "zh": {"follow_up": "待跟进", "unresolved": "未解决，客户不满", "resolved": "通话中已处理"},
}
_MOOD_ZH = {"negative": "负面", "neutral": "中性", "positive": "正面"}


def summary_in(doc: Mapping[str, Any], language: str) -> str:
    """A call's summary in another language than the call's, from what analysis found
    (intents, outcome, sentiment, flagged rules) with the taxonomy's and the rules' titles
    in that language. Amounts and the agent's words stay out: they were said in the call's
    language, and nothing here translates free text."""
    from analysis.intents import DEFAULT_INTENTS, CueIntentClassifier
    from analysis.rules import localized
    from analysis.tasks import active_rules
    from core.settings import get_settings

    titles = CueIntentClassifier(get_settings().intents_path or DEFAULT_INTENTS).titles
    rules = {r.id: r.title for r in active_rules().rules}
    needs = [localized(titles.get(i, i), language) for i in (doc.get("intents") or [])[:3]]
    flags = [localized(rules.get(r, r), language) for r in doc.get("rule_ids") or []]
    outcome = doc.get("outcome") or "resolved"
    sentiment = doc.get("sentiment") or "neutral"
    if language == "zh":
        return "".join([
            f"客户诉求：{'、'.join(needs) if needs else '未识别'}。",
            f"处理结果：{_OUTCOME_TEXT['zh'].get(outcome, outcome)}。",
            f"客户情绪：{_MOOD_ZH.get(sentiment, sentiment)}。",
            f"质检问题：{'、'.join(flags)}。" if flags else "质检问题：无。"])
    return " ".join([
        f"Customer needs: {', '.join(needs) if needs else 'not identified'}.",
        f"Outcome: {_OUTCOME_TEXT['en'].get(outcome, outcome)}",
        f"Customer sentiment: {sentiment}.",
        f"Flags: {', '.join(flags)}." if flags else "Flags: none."])


def customer_summary(backend: SearchBackend, customer_id: str, limit: int = 50, offset: int = 0,
                     language: str | None = None) -> dict[str, Any] | None:
    """A customer's calls (newest first, a page of `limit` from `offset`), intents over
    time, needs not yet resolved, the last sentiment and the latest call's summary. Needs,
    flags and the first/last call are over all the customer's calls, whatever the page."""
    q = SearchQuery(customer_id=customer_id, sort="date")
    hits = _all_hits(backend, q)
    if not hits:
        return None
    ids = [h.call_id for h in hits]
    docs: list[CallDocument] = []
    for i in range(0, len(ids), 500):
        docs += backend.get_many(ids[i:i + 500])
    calls: list[dict[str, Any]] = [{"call_id": d["call_id"], "started_at": d.get("started_at"),
              "agent_id": d.get("agent_id"), "language": d.get("language"),
              "primary_intent": d.get("primary_intent"), "intents": d.get("intents", []),
              "sentiment": d.get("sentiment"), "sentiment_score": d.get("sentiment_score"),
              "outcome": d.get("outcome"), "flag_count": d.get("flag_count", 0),
              "duration": d.get("duration")} for d in docs]
    # A need stays open until a later call about the same intent ends resolved.
    open_needs: dict[str, dict[str, Any]] = {}
    for call in reversed(calls):  # oldest first
        for intent in call["intents"]:
            if call["outcome"] == "resolved":
                open_needs.pop(intent, None)
            else:
                need = open_needs.setdefault(intent, {"intent": intent, "since": call["started_at"],
                                                      "calls": 0})
                need.update(last_call_id=call["call_id"], last_outcome=call["outcome"],
                            calls=need["calls"] + 1)
    latest = docs[0]
    over_time = backend.facets(["month", "intents"], SearchQuery(customer_id=customer_id))
    page = calls[offset:offset + limit]
    return {
        "customer_id": customer_id, "total_calls": len(calls), "limit": limit, "offset": offset,
        "next_offset": offset + limit if offset + limit < len(calls) else None,
        "calls": page,
        "first_call_at": calls[-1]["started_at"], "last_call_at": calls[0]["started_at"],
        "intents_over_time": [{"month": b.key["month"], "intent": b.key["intents"],
                               "calls": b.count} for b in over_time],
        "unresolved_needs": sorted(open_needs.values(), key=lambda n: n["since"] or ""),
        "last_sentiment": {"label": latest.get("sentiment"), "score": latest.get("sentiment_score"),
                           "call_id": latest["call_id"]},
        "latest_summary": _latest_summary(latest, language),
        "flags": sum(c["flag_count"] for c in calls),
    }


def _latest_summary(latest: Mapping[str, Any], language: str | None) -> dict[str, Any]:
    out = {"call_id": latest["call_id"], "started_at": latest.get("started_at"),
           "summary": latest.get("summary"), "outcome": latest.get("outcome"),
           "language": latest.get("language"), "translated": False}
    if language and latest.get("language") and language != latest.get("language"):
        out.update(summary=summary_in(latest, language), language=language, translated=True)
    return out
