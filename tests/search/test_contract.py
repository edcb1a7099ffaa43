"""The search contract: one suite over the SearchBackend interface, run against the
embedded backend always and against Elasticsearch whenever CALLQA_ELASTICSEARCH_URL is
set (each test gets its own alias, removed afterwards).

Expected results are computed from the documents themselves (the oracle scans the
utterances), never copied from a run.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from analysis import analyze, load_rules
from analysis.normalize import normalize, tokens
from samples.dialogue import Dialogue, scripted_transcript
from search.base import InvalidQuery, SearchBackend, SearchQuery, SearchResult
from search.documents import risk_score
from search.embedded import EmbeddedBackend
from search.query import HL_END, HL_START, QuerySyntaxError, parse
from tests.search.conftest import BACKENDS, ES_URL, Doc, Factory

UttPredicate = Callable[[Doc, dict[str, Any]], bool]


@pytest.mark.skipif(not ES_URL, reason="CALLQA_ELASTICSEARCH_URL is not set: the contract "
                    "ran against the embedded backend only")
def test_contract_runs_against_elasticsearch() -> None:
    assert "elasticsearch" in BACKENDS


# Oracle helpers -------------------------------------------------------------------------
#
# The index may stem English words (porter) or not; the oracle brackets it: a call that
# matches with exact tokens must be found (lower bound), and anything found must match
# when a query word may also stand for its inflections (upper bound).


def exact(token: str, word: str) -> bool:
    return token == word


def loose(token: str, word: str) -> bool:
    """`token` could be an inflection of `word` (payment/payments, recorded/recording)."""
    return token.startswith(word[: max(3, len(word) - 3)])


Match = Callable[[str, str], bool]


def has_word(text: str, word: str, match: Match) -> bool:
    return any(match(t, word) for t in tokens(text))


def has_phrase(text: str, phrase: str, match: Match = exact) -> bool:
    """The phrase's words appear consecutively in the text's tokens."""
    words, want = tokens(text), tokens(phrase)
    return any(all(match(t, w) for t, w in zip(words[i: i + len(want)], want, strict=True))
               for i in range(len(words) - len(want) + 1))


def calls_where(docs: list[Doc], pred: UttPredicate, role: str | None = None) -> set[str]:
    return {d["call_id"] for d in docs for u in d["utterances"]
            if (role is None or u["role"] == role) and pred(d, u)}


def bracket(found: set[str], docs: list[Doc], pred: Callable[[str, Match, Match], bool],
            role: str | None = None) -> None:
    """pred(text, positive_match, negative_match) says whether one utterance matches."""
    lower = calls_where(docs, lambda d, u: pred(u["text"], exact, loose), role)
    upper = calls_where(docs, lambda d, u: pred(u["text"], loose, exact), role)
    assert lower, "the oracle found nothing: pick another query"
    assert lower <= found, f"missed: {sorted(lower - found)}"
    assert found <= upper, f"unexpected: {sorted(found - upper)}"


def everything(engine: SearchBackend, query: SearchQuery) -> SearchResult:
    query.size, query.offset = 1000, 0
    result = engine.search(query)
    assert result.total == len(result.hits)
    return result


def ids(result: SearchResult) -> set[str]:
    return {h.call_id for h in result.hits}


def by_id(docs: list[Doc]) -> dict[str, Doc]:
    return {d["call_id"]: d for d in docs}


def instant(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


# Text search ----------------------------------------------------------------------------


def test_index_and_get(backend: SearchBackend, docs: list[Doc]) -> None:
    assert backend.count() == len(docs)
    for doc in docs[:3] + docs[-3:]:
        assert backend.get(doc["call_id"]) == doc
    assert backend.get("no-such-call") is None


def test_phrase_with_role_filter(backend: SearchBackend, docs: list[Doc]) -> None:
    phrase = "call may be recorded"
    result = everything(backend, SearchQuery(text=f'"{phrase}"', role="agent"))
    assert len(result.hits) >= 3
    bracket(ids(result), docs, lambda text, pos, neg: has_phrase(text, phrase, pos), "agent")
    source = by_id(docs)
    for hit in result.hits:
        assert hit.utterances, hit.call_id
        for utt in hit.utterances:
            original = source[hit.call_id]["utterances"][utt.utterance]
            assert utt.role == "agent"
            assert (utt.start, utt.end, utt.text) == (original["start"], original["end"],
                                                      original["text"])
            assert utt.start >= 0
            assert has_phrase(utt.text, phrase, loose)
            assert HL_START in utt.highlight and HL_END in utt.highlight
            assert utt.highlight.replace(HL_START, "").replace(HL_END, "") == utt.text
        starts = [u.start for u in hit.utterances]
        assert starts == sorted(starts)


def test_role_filter_is_per_utterance(backend: SearchBackend, docs: list[Doc]) -> None:
    """The same word by the customer: only customer utterances come back."""
    word = "loan"
    found = {}
    for role in ("agent", "customer"):
        result = everything(backend, SearchQuery(text=word, role=role))
        bracket(ids(result), docs, lambda text, pos, neg: has_word(text, word, pos), role)
        assert all(u.role == role for h in result.hits for u in h.utterances)
        assert all(has_word(u.text, word, loose) for h in result.hits for u in h.utterances)
        found[role] = ids(result)
    both = everything(backend, SearchQuery(text=word))
    assert ids(both) == found["agent"] | found["customer"]
    assert found["agent"] != found["customer"]


@pytest.mark.parametrize("word", ["payments", "recorded", "fees"])
def test_every_returned_utterance_is_highlighted(backend: SearchBackend, word: str) -> None:
    result = everything(backend, SearchQuery(text=word))
    assert result.hits
    unmarked = [u.text for h in result.hits for u in h.utterances if HL_START not in u.highlight]
    assert not unmarked


def test_chinese_word_with_role(backend: SearchBackend, docs: list[Doc]) -> None:
    # Oracle on raw characters, independent of the segmenter.
    expected = calls_where(docs, lambda d, u: "录音" in normalize(u["text"]), role="agent")
    assert len(expected) >= 10
    assert all(c.startswith("zh-") for c in expected)
    result = everything(backend, SearchQuery(text="录音", role="agent"))
    assert ids(result) == expected
    assert all(h.language == "zh" for h in result.hits)
    for hit in result.hits:
        for utt in hit.utterances:
            assert utt.role == "agent"
            assert f"{HL_START}录音{HL_END}" in utt.highlight


def test_traditional_query_finds_simplified_text(backend: SearchBackend) -> None:
    simplified = everything(backend, SearchQuery(text="录音", role="agent"))
    traditional = everything(backend, SearchQuery(text="錄音", role="agent"))
    assert ids(traditional) == ids(simplified)


def test_chinese_phrase_early_settlement(backend: SearchBackend, docs: list[Doc],
                                         dialogues: list[Dialogue]) -> None:
    expected = calls_where(docs, lambda d, u: "提前还款" in normalize(u["text"]))
    result = everything(backend, SearchQuery(text="提前还款"))
    assert ids(result) == expected
    settlement = {d.id for d in dialogues
                  if d.language == "zh" and d.expected.intents[0] == "early_settlement"}
    assert settlement
    assert settlement <= ids(result)
    for hit in result.hits:
        assert any("提前还款" in normalize(u.text) for u in hit.utterances)


def said(doc: Doc, role: str | None = None) -> list[str]:
    return [u["text"] for u in doc["utterances"] if role is None or u["role"] == role]


def bracket_calls(found: set[str], docs: list[Doc],
                  pred: Callable[[list[str], Match, Match], bool], role: str | None = None) -> None:
    """Call-level oracle: pred(texts of the role's utterances, positive, negative match)."""
    lower = {d["call_id"] for d in docs if pred(said(d, role), exact, loose)}
    upper = {d["call_id"] for d in docs if pred(said(d, role), loose, exact)}
    assert lower, "the oracle found nothing: pick another query"
    assert lower <= found, f"missed: {sorted(lower - found)}"
    assert found <= upper, f"unexpected: {sorted(found - upper)}"


def test_implicit_and_is_over_the_whole_call(backend: SearchBackend, docs: list[Doc]) -> None:
    """Words may be said in different utterances; a phrase must be said in one."""
    result = everything(backend, SearchQuery(text="loan sorry"))
    bracket_calls(ids(result), docs, lambda texts, pos, neg: any(
        has_word(t, "loan", pos) for t in texts) and any(has_word(t, "sorry", pos)
                                                            for t in texts))
    spread = [h for h in result.hits if not any(
        has_word(u.text, "loan", loose) and has_word(u.text, "sorry", loose)
        for u in h.utterances)]
    assert spread, "pick words that some call says in different utterances"
    for hit in result.hits:  # every highlighted utterance says one of the words
        assert all(has_word(u.text, "loan", loose) or has_word(u.text, "sorry", loose)
                   for u in hit.utterances)
    phrase = everything(backend, SearchQuery(text='"late fee"'))
    bracket(ids(phrase), docs, lambda text, pos, neg: has_phrase(text, "late fee", pos))


def test_phrase_never_spans_two_utterances(make_backend: Factory, docs: list[Doc]) -> None:
    doc = copy.deepcopy(docs[0])
    doc["call_id"] = "spanning"
    doc["utterances"][0]["text"] = "I want to talk about the zebra"
    doc["utterances"][1]["text"] = "crossing on my statement."
    engine = make_backend([doc])
    assert ids(engine.search(SearchQuery(text="zebra crossing"))) == {"spanning"}
    assert engine.search(SearchQuery(text='"zebra crossing"')).total == 0
    assert ids(engine.search(SearchQuery(text='"the zebra"'))) == {"spanning"}


def test_a_call_that_changes_language_is_found_under_both(
        make_backend: Factory, dialogues: list[Dialogue]) -> None:
    """Utterance.language reaches the index: a Chinese call with an English stretch is
    filtered and counted under both languages, each utterance keeps its own."""
    from analysis import AnalysisModels

    d = next(x for x in dialogues if x.language == "zh")
    transcript = scripted_transcript(d)
    transcript.utterances[1] = transcript.utterances[1].model_copy(update={
        "text": "Sorry, can we continue in English please", "language": "en"})
    from search.documents import build_document

    doc = build_document(d.metadata(["agent", "customer"]) | {"started_at": d.started_at},
                         transcript, analyze(transcript, load_rules(), AnalysisModels.default()))
    assert doc["languages"] == ["zh", "en"]
    assert [u["language"] for u in doc["utterances"][:3]] == ["zh", "en", "zh"]
    only_zh = next(x for x in dialogues if x.language == "zh" and x.id != d.id)
    plain = scripted_transcript(only_zh)
    engine = make_backend([doc, build_document(
        only_zh.metadata(["agent", "customer"]) | {"started_at": only_zh.started_at}, plain,
        analyze(plain, load_rules(), AnalysisModels.default()))])
    assert ids(engine.search(SearchQuery(language="en"))) == {d.id}
    assert ids(engine.search(SearchQuery(language="zh"))) == {d.id, only_zh.id}
    assert ids(engine.search(SearchQuery(text="English", language="en"))) == {d.id}
    assert engine.aggregate("languages") == {"zh": 2, "en": 1}


def test_or(backend: SearchBackend, docs: list[Doc]) -> None:
    words = ("refund", "settlement", "letter")
    singles = [ids(everything(backend, SearchQuery(text=w))) for w in words]
    assert all(singles)
    result = everything(backend, SearchQuery(text=" OR ".join(words)))
    assert ids(result) == set().union(*singles)
    bracket(ids(result), docs,
            lambda text, pos, neg: any(has_word(text, w, pos) for w in words))
    # OR binds tighter than the implicit AND: (refund OR settlement) letter.
    grouped = everything(backend, SearchQuery(text="refund OR settlement letter"))
    bracket(ids(grouped), docs, lambda text, pos, neg: has_word(text, "letter", pos) and (
        has_word(text, "refund", pos) or has_word(text, "settlement", pos)))
    assert ids(grouped) <= ids(everything(backend, SearchQuery(text="letter")))


@pytest.mark.parametrize("query", ["payment -card", "payment NOT card"])
def test_not(backend: SearchBackend, docs: list[Doc], query: str) -> None:
    """NOT is over the whole call: calls that mention payment and never card."""
    result = everything(backend, SearchQuery(text=query))
    bracket_calls(ids(result), docs, lambda texts, pos, neg: any(
        has_word(t, "payment", pos) for t in texts) and not any(has_word(t, "card", neg)
                                                                for t in texts))
    everywhere = ids(everything(backend, SearchQuery(text="payment")))
    assert ids(result) < everywhere
    for hit in result.hits:
        assert hit.utterances
        assert all(has_word(u.text, "payment", loose) for u in hit.utterances)


def test_not_with_role(backend: SearchBackend, docs: list[Doc]) -> None:
    """With a role, NOT means that role never said it."""
    result = everything(backend, SearchQuery(text="loan -sorry", role="agent"))
    bracket_calls(ids(result), docs, lambda texts, pos, neg: any(
        has_word(t, "loan", pos) for t in texts) and not any(has_word(t, "sorry", neg)
                                                             for t in texts), "agent")


def test_relevance_scores(backend: SearchBackend) -> None:
    result = everything(backend, SearchQuery(text="refund OR settlement"))
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True)
    assert all(s > 0 for s in scores)


def test_no_match(backend: SearchBackend) -> None:
    result = backend.search(SearchQuery(text="zyxwvut"))
    assert (result.total, result.hits) == (0, [])


# Filters ------------------------------------------------------------------------------

FILTERS: list[tuple[str, str, Callable[[Doc, str], bool]]] = [
    ("agent_id", "agent_id", lambda d, v: d["agent_id"] == v),
    ("team", "team", lambda d, v: d["team"] == v),
    ("intent", "intents", lambda d, v: v in d["intents"]),
    ("rule_id", "rule_ids", lambda d, v: v in d["rule_ids"]),
    ("sentiment", "sentiment", lambda d, v: d["sentiment"] == v),
    ("language", "languages", lambda d, v: v in d["languages"]),
    ("customer_id", "customer_id", lambda d, v: d["customer_id"] == v),
]


@pytest.mark.parametrize(("attr", "field", "pred"), FILTERS, ids=[f[0] for f in FILTERS])
def test_filters(backend: SearchBackend, docs: list[Doc], attr: str, field: str,
                 pred: Callable[[Doc, str], bool]) -> None:
    values = Counter(v for d in docs for v in (d[field] if isinstance(d[field], list)
                                               else [d[field]]) if v)
    assert len(values) >= 2
    for value, _ in values.most_common(4):
        expected = {d["call_id"] for d in docs if pred(d, value)}
        result = everything(backend, SearchQuery(**{attr: value}))
        assert ids(result) == expected, (attr, value)


def test_intent_filter_does_not_match_substrings(backend: SearchBackend) -> None:
    # "refund" is an intent id; "fund" is not, and must not match inside it.
    assert backend.search(SearchQuery(intent="fund")).total == 0
    assert backend.search(SearchQuery(rule_id="air")).total == 0


def test_filters_combine_with_text(backend: SearchBackend, docs: list[Doc]) -> None:
    subset = [d for d in docs if d["team"] == "collections" and d["language"] == "en"]
    result = everything(backend, SearchQuery(text="loan", role="agent", team="collections",
                                             language="en"))
    bracket(ids(result), subset, lambda text, pos, neg: has_word(text, "loan", pos), "agent")
    assert all(h.team == "collections" and h.language == "en" for h in result.hits)


def test_min_severity(backend: SearchBackend, docs: list[Doc]) -> None:
    rank = {"low": 1, "medium": 2, "high": 3, "critical": 4}
    for level in ("medium", "critical"):
        expected = {d["call_id"] for d in docs
                    if d["max_severity"] and rank[d["max_severity"]] >= rank[level]}
        assert ids(everything(backend, SearchQuery(min_severity=level))) == expected


def utc_docs(docs: list[Doc]) -> list[Doc]:
    """Documents as the pipeline builds them: started_at back from the database in UTC."""
    out = copy.deepcopy(docs)
    for d in out:
        d["started_at"] = instant(d["started_at"]).astimezone(UTC).isoformat()
    return out


def date_bounds() -> tuple[datetime, datetime]:
    return datetime(2026, 10, 9, 10, 0, tzinfo=UTC), datetime(2026, 10, 20, tzinfo=UTC)


def test_date_range_on_utc_documents(make_backend: Factory, docs: list[Doc]) -> None:
    converted = utc_docs(docs)
    engine = make_backend(converted)
    lo, hi = date_bounds()
    expected = {d["call_id"] for d in converted if lo <= instant(d["started_at"]) < hi}
    assert 0 < len(expected) < len(docs)
    assert ids(everything(engine, SearchQuery(date_from=lo, date_to=hi))) == expected
    assert ids(everything(engine, SearchQuery(date_from=lo))) == {
        d["call_id"] for d in converted if instant(d["started_at"]) >= lo}
    assert ids(everything(engine, SearchQuery(date_to=hi))) == {
        d["call_id"] for d in converted if instant(d["started_at"]) < hi}
    # With a text query too.
    text_hits = everything(engine, SearchQuery(text="loan", date_from=lo, date_to=hi))
    in_range = [d for d in converted if d["call_id"] in expected]
    bracket(ids(text_hits), in_range, lambda text, pos, neg: has_word(text, "loan", pos))


def test_date_range_on_documents_with_offsets(backend: SearchBackend, docs: list[Doc]) -> None:
    # An hour after a Beijing-time call: by the clock it is out of range.
    beijing_call = min((d for d in docs if d["started_at"].endswith("+08:00")),
                       key=lambda d: instant(d["started_at"]))
    lo = instant(beijing_call["started_at"]).astimezone(UTC) + timedelta(hours=1)
    hi = lo + timedelta(days=10)
    expected = {d["call_id"] for d in docs if lo <= instant(d["started_at"]) < hi}
    assert beijing_call["call_id"] not in expected
    assert ids(everything(backend, SearchQuery(date_from=lo, date_to=hi))) == expected


def test_date_range_bounds_with_an_offset(make_backend: Factory, docs: list[Doc]) -> None:
    converted = utc_docs(docs)
    engine = make_backend(converted)
    first = min(converted, key=lambda d: instant(d["started_at"]))
    beijing = timezone(timedelta(hours=8))
    # The same instants, written in Beijing time: an hour before the first call, to 30 days on.
    lo = (instant(first["started_at"]) - timedelta(hours=1)).astimezone(beijing)
    hi = lo + timedelta(days=30)
    expected = {d["call_id"] for d in converted if lo <= instant(d["started_at"]) < hi}
    assert first["call_id"] in expected
    assert ids(everything(engine, SearchQuery(date_from=lo, date_to=hi))) == expected


# Sorting and paging ---------------------------------------------------------------------


def test_sort_by_risk(backend: SearchBackend, docs: list[Doc]) -> None:
    result = backend.search(SearchQuery(sort="risk", size=5))
    assert result.total == len(docs)
    top = max(d["risk"] for d in docs)
    assert result.hits[0].risk == top
    assert result.hits[0].call_id in {d["call_id"] for d in docs if d["risk"] == top}
    risks = [h.risk for h in everything(backend, SearchQuery(sort="risk")).hits]
    assert risks == sorted(risks, reverse=True)
    # Risk within a text search too.
    text = everything(backend, SearchQuery(text="loan", sort="risk"))
    assert [h.risk for h in text.hits] == sorted((h.risk for h in text.hits), reverse=True)


def test_risk_score_matches_analysis(docs: list[Doc], dialogues: list[Dialogue]) -> None:
    weight = {"low": 1, "medium": 3, "high": 6, "critical": 10}
    rules = load_rules()
    for d in dialogues[:5]:
        analysis = analyze(scripted_transcript(d), rules)
        expected = sum(weight[f.severity] for f in analysis.flags) + (
            2 if analysis.customer_sentiment == "negative" else 0)
        assert risk_score(analysis) == expected
        assert by_id(docs)[d.id]["risk"] == expected


def test_sort_by_date_on_utc_documents(make_backend: Factory, docs: list[Doc]) -> None:
    engine = make_backend(utc_docs(docs))
    hits = everything(engine, SearchQuery(sort="date")).hits
    times = [instant(h.started_at) for h in hits]
    assert times == sorted(times, reverse=True)


def test_sort_by_date_with_offsets(backend: SearchBackend) -> None:
    times = [instant(h.started_at) for h in everything(backend, SearchQuery(sort="date")).hits]
    assert times == sorted(times, reverse=True)


@pytest.mark.parametrize(("text", "sort"), [("", "risk"), ("", "date"), ("payment", "relevance"),
                                            ("录音", "risk")])
def test_pagination_covers_all_hits_once(backend: SearchBackend, text: str, sort: str) -> None:
    full = everything(backend, SearchQuery(text=text, sort=sort))  # type: ignore[arg-type]
    assert full.total >= 8
    seen: list[str] = []
    offset, size = 0, 7
    while True:
        page = backend.search(SearchQuery(text=text, sort=sort, size=size,  # type: ignore[arg-type]
                                          offset=offset))
        assert page.total == full.total
        assert len(page.hits) <= size
        if not page.hits:
            break
        seen += [h.call_id for h in page.hits]
        offset += size
    assert len(seen) == len(set(seen)) == full.total
    assert seen == [h.call_id for h in full.hits]


# Aggregations ---------------------------------------------------------------------------


def test_aggregate_primary_intent(backend: SearchBackend, docs: list[Doc]) -> None:
    counts = backend.aggregate("primary_intent")
    expected = Counter(d["primary_intent"] for d in docs if d["primary_intent"])
    assert counts == dict(expected)
    assert sum(counts.values()) == sum(1 for d in docs if d["primary_intent"])
    assert list(counts.values()) == sorted(counts.values(), reverse=True)


def test_aggregate_rule_ids(backend: SearchBackend, docs: list[Doc]) -> None:
    counts = backend.aggregate("rule_ids")
    expected = Counter(r for d in docs for r in d["rule_ids"])
    assert counts == dict(expected)
    assert sum(counts.values()) == sum(len(d["rule_ids"]) for d in docs)
    for rule_id, n in counts.items():
        assert backend.search(SearchQuery(rule_id=rule_id)).total == n


def test_aggregate_day(backend: SearchBackend, docs: list[Doc]) -> None:
    """Days are calendar dates in the backend's time zone (UTC unless configured)."""
    counts = backend.aggregate("day")
    expected = Counter(instant(d["started_at"]).astimezone(UTC).date().isoformat() for d in docs)
    assert counts == dict(expected)
    assert sum(counts.values()) == len(docs)


def test_aggregate_day_in_the_call_centres_zone(make_backend: Factory, docs: list[Doc]) -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    engine = make_backend(docs, "Asia/Shanghai")
    expected = Counter(instant(d["started_at"]).astimezone(shanghai).date().isoformat()
                       for d in docs)
    assert engine.aggregate("day") == dict(expected)
    assert expected != Counter(instant(d["started_at"]).astimezone(UTC).date().isoformat()
                               for d in docs)  # the zone matters for this corpus


def test_aggregate_with_filter(backend: SearchBackend, docs: list[Doc]) -> None:
    zh = [d for d in docs if d["language"] == "zh"]
    counts = backend.aggregate("primary_intent", SearchQuery(language="zh"))
    assert counts == dict(Counter(d["primary_intent"] for d in zh if d["primary_intent"]))
    teams = backend.aggregate("team", SearchQuery(rule_id="threat_or_abuse"))
    assert teams == dict(Counter(d["team"] for d in docs if "threat_or_abuse" in d["rule_ids"]))
    intents = backend.aggregate("intents")
    assert intents == dict(Counter(i for d in docs for i in d["intents"]))


def test_aggregate_unknown_field(backend: SearchBackend) -> None:
    with pytest.raises(ValueError, match="doc"):
        backend.aggregate("doc")
    with pytest.raises(ValueError):
        backend.aggregate("call_id; DROP TABLE docs")


# Changing the index ---------------------------------------------------------------------

PROBES = [SearchQuery(text="payment"), SearchQuery(text="录音", role="agent"),
          SearchQuery(text='"call may be recorded"'), SearchQuery(rule_id="dead_air")]


def totals(engine: SearchBackend) -> list[int]:
    return [engine.search(copy.copy(q)).total for q in PROBES]


def test_reindex_does_not_duplicate(fresh: SearchBackend, docs: list[Doc]) -> None:
    before_count, before_totals = fresh.count(), totals(fresh)
    before_aggs = fresh.aggregate("rule_ids")
    fresh.index(docs)
    fresh.index(docs[:5])
    assert fresh.count() == before_count == len(docs)
    assert totals(fresh) == before_totals
    assert fresh.aggregate("rule_ids") == before_aggs
    # Each matching utterance comes back once.
    for hit in everything(fresh, SearchQuery(text="payment")).hits:
        indices = [u.utterance for u in hit.utterances]
        assert len(indices) == len(set(indices))


def test_reindex_replaces_content(fresh: SearchBackend, docs: list[Doc]) -> None:
    target = docs[0]
    other_calls = [u["text"] for d in docs[1:] for u in d["utterances"]]

    def unique_words(i: int) -> list[str]:
        rest = other_calls + [u["text"] for j, u in enumerate(target["utterances"]) if j != i]
        return [w for w in tokens(target["utterances"][i]["text"]) if len(w) >= 4
                and not any(has_word(text, w, loose) for text in rest)]

    i, words = max(((i, unique_words(i)) for i in range(len(target["utterances"]))),
                   key=lambda iw: len(iw[1]))
    assert words, "no utterance of the first call has a word of its own"
    for word in words:
        assert ids(fresh.search(SearchQuery(text=word))) == {target["call_id"]}, word

    changed = copy.deepcopy(target)
    changed["utterances"][i]["text"] = "Quetzalcoatl appears in this call."
    changed["agent_id"] = "A-NEW"
    fresh.index([changed])
    assert fresh.count() == len(docs)
    assert ids(fresh.search(SearchQuery(text="quetzalcoatl"))) == {changed["call_id"]}
    assert fresh.get(changed["call_id"])["agent_id"] == "A-NEW"
    assert fresh.search(SearchQuery(agent_id=target["agent_id"], text="quetzalcoatl")).total == 0
    # The replaced utterance's own words are gone from the index.
    for word in words:
        assert fresh.search(SearchQuery(text=word)).total == 0, word


def test_delete(fresh: SearchBackend, docs: list[Doc]) -> None:
    target = next(d for d in docs if d["language"] == "zh"
                  and any("录音" in u["text"] for u in d["utterances"] if u["role"] == "agent"))
    before = fresh.search(SearchQuery(text="录音", role="agent")).total
    assert fresh.delete(target["call_id"]) is True
    assert fresh.get(target["call_id"]) is None
    assert fresh.count() == len(docs) - 1
    after = everything(fresh, SearchQuery(text="录音", role="agent"))
    assert after.total == before - 1
    assert target["call_id"] not in ids(after)
    assert target["call_id"] not in ids(everything(fresh, SearchQuery()))
    assert sum(fresh.aggregate("language").values()) == len(docs) - 1
    assert fresh.delete(target["call_id"]) is False


def test_clear(fresh: SearchBackend) -> None:
    fresh.clear()
    assert fresh.count() == 0
    assert fresh.search(SearchQuery(text="payment")).total == 0


def test_embedded_index_survives_reopening(tmp_path: Path, docs: list[Doc]) -> None:
    EmbeddedBackend(tmp_path).index(docs[:4])
    reopened = EmbeddedBackend(tmp_path)
    assert reopened.count() == 4
    assert reopened.get(docs[0]["call_id"]) == docs[0]


# Query syntax ---------------------------------------------------------------------------


@pytest.mark.parametrize("text", ['"unbalanced quote', 'refund "late fee', "refund OR",
                                  "OR refund", "-card", "NOT card", "-card -payment",
                                  "refund OR OR"])
def test_query_syntax_errors(backend: SearchBackend, text: str) -> None:
    with pytest.raises(QuerySyntaxError):
        parse(text)
    with pytest.raises(QuerySyntaxError):
        backend.search(SearchQuery(text=text))


@pytest.mark.parametrize("text", ["what's my balance?", "card*", 'NEAR("a" "b")', "col:umn",
                                  "(payment", "AND OR NOT", "payment AND card", "^fee"])
def test_user_input_is_never_fts_syntax(backend: SearchBackend, text: str) -> None:
    """Punctuation and FTS5 operators in a query are searched as words, never executed."""
    try:
        result = backend.search(SearchQuery(text=text))
    except QuerySyntaxError:
        return  # refused cleanly is fine; an sqlite3 error is not
    assert result.total >= 0


# Deep paging ----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "sort", "role"), [
    ("", "date", None), ("", "risk", None), ("payment", "relevance", None),
    ("录音", "risk", "agent"), ("", "relevance", None)])
def test_cursor_pages_cover_all_hits_once_in_order(backend: SearchBackend, text: str, sort: str,
                                                   role: str | None) -> None:
    full = everything(backend, SearchQuery(text=text, sort=sort, role=role))  # type: ignore[arg-type]
    assert full.total >= 8
    seen: list[str] = []
    cursor = None
    for _ in range(full.total):
        page = backend.search(SearchQuery(text=text, sort=sort, role=role,  # type: ignore[arg-type]
                                          size=3, cursor=cursor))
        assert page.total == full.total
        seen += [h.call_id for h in page.hits]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [h.call_id for h in full.hits]


@pytest.mark.parametrize("cursor", ["not-a-cursor", "eyJzIjoiZGF0ZSJ9", ""])
def test_bad_cursor_is_refused(backend: SearchBackend, cursor: str) -> None:
    if not cursor:  # an empty cursor is no cursor
        assert backend.search(SearchQuery(cursor=cursor or None)).total > 0
        return
    with pytest.raises(InvalidQuery, match="cursor"):
        backend.search(SearchQuery(cursor=cursor))


def test_cursor_of_another_sort_is_refused(backend: SearchBackend) -> None:
    page = backend.search(SearchQuery(sort="date", size=2))
    assert page.next_cursor
    with pytest.raises(InvalidQuery, match="cursor"):
        backend.search(SearchQuery(sort="risk", size=2, cursor=page.next_cursor))


@pytest.mark.parametrize("changes", [
    {"size": 0}, {"size": 5000}, {"offset": -1}, {"sort": "loudness"}, {"role": "robot"},
    {"min_severity": "urgent"}, {"review_status": "maybe"}, {"sentiment": "angry"},
    {"duration_min": 90.0, "duration_max": 10.0},
    {"date_from": datetime(2026, 10, 20, tzinfo=UTC), "date_to": datetime(2026, 10, 1, tzinfo=UTC)},
    {"offset": 5, "cursor": "x"}])
def test_invalid_queries_are_refused_with_a_reason(backend: SearchBackend,
                                                   changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidQuery) as err:
        backend.search(SearchQuery(**changes))
    assert str(err.value)


# More filters ---------------------------------------------------------------------------


def test_duration_range(backend: SearchBackend, docs: list[Doc]) -> None:
    durations = sorted(d["duration"] for d in docs)
    lo, hi = durations[len(docs) // 4], durations[3 * len(docs) // 4]
    expected = {d["call_id"] for d in docs if lo <= d["duration"] <= hi}
    assert 0 < len(expected) < len(docs)
    assert ids(everything(backend, SearchQuery(duration_min=lo, duration_max=hi))) == expected
    assert ids(everything(backend, SearchQuery(duration_min=hi))) == {
        d["call_id"] for d in docs if d["duration"] >= hi}


def test_review_status_filter(make_backend: Factory, docs: list[Doc]) -> None:
    flagged = [d for d in docs if d["flag_count"] >= 2][:3]
    assert len(flagged) == 3
    changed = copy.deepcopy(flagged)
    changed[0]["review_status"] = "confirmed"
    changed[1]["review_status"] = "dismissed"
    indexed = [*changed, *(d for d in docs if d not in flagged)]
    engine = make_backend(indexed)
    expected = Counter(d["review_status"] for d in indexed)
    assert expected["unreviewed"] and expected["none"]
    for status in ("confirmed", "dismissed", "unreviewed", "none"):
        found = ids(everything(engine, SearchQuery(review_status=status)))
        assert found == {d["call_id"] for d in indexed if d["review_status"] == status}, status
    assert engine.aggregate("review_status") == dict(expected)


# Facets ---------------------------------------------------------------------------------


def test_get_many_keeps_order_and_skips_missing(backend: SearchBackend, docs: list[Doc]) -> None:
    wanted = [docs[5]["call_id"], "missing", docs[1]["call_id"]]
    assert backend.get_many(wanted) == [docs[5], docs[1]]
    assert backend.get_many([]) == []


@pytest.mark.parametrize("zone", ["UTC", "Asia/Shanghai", "America/Chicago"])
def test_facets_by_week_and_intent_with_sums(make_backend: Factory, docs: list[Doc],
                                             zone: str) -> None:
    engine = make_backend(docs, zone)
    tz = ZoneInfo(zone)
    expected: dict[tuple[str, str], list[float]] = {}
    for d in docs:
        day = instant(d["started_at"]).astimezone(tz).date()
        week = (day - timedelta(days=day.weekday())).isoformat()
        for intent in d["intents"]:
            expected.setdefault((week, intent), []).append(d["sentiment_score"])
    buckets = engine.facets(["week", "intents"], metrics=["sentiment_score"])
    got = {(b.key["week"], b.key["intents"]): b for b in buckets}
    assert set(got) == set(expected)
    for key, scores in expected.items():
        assert got[key].count == len(scores)
        assert got[key].sums["sentiment_score"] == pytest.approx(sum(scores), abs=1e-3)


def test_facets_by_month_team_with_text(backend: SearchBackend, docs: list[Doc]) -> None:
    buckets = backend.facets(["month", "team"], SearchQuery(text="payment"),
                             metrics=["flag_count"])
    matched = ids(everything(backend, SearchQuery(text="payment")))
    expected = Counter((instant(d["started_at"]).astimezone(UTC).date().isoformat()[:7], d["team"])
                       for d in docs if d["call_id"] in matched)
    assert {(b.key["month"], b.key["team"]): b.count for b in buckets} == dict(expected)
    flags = sum(d["flag_count"] for d in docs if d["call_id"] in matched)
    assert sum(b.sums["flag_count"] for b in buckets) == flags


@pytest.mark.parametrize(("by", "metrics"), [(["intents", "rule_ids"], []), (["day", "week"], []),
                                             (["call_id"], []), ([], []), (["team"], ["doc"]),
                                             (["team", "team"], [])])
def test_bad_facets_are_refused(backend: SearchBackend, by: list[str], metrics: list[str]) -> None:
    with pytest.raises(InvalidQuery):
        backend.facets(by, metrics=metrics)


# Changing the whole index ---------------------------------------------------------------


def test_rebuild_replaces_everything_and_readers_keep_working(make_backend: Factory,
                                                              docs: list[Doc]) -> None:
    engine = make_backend(docs[:10])
    before = engine.search(SearchQuery(sort="date", size=3))
    assert before.total == 10
    assert engine.rebuild(iter(docs[10:25])) == 15
    after = everything(engine, SearchQuery(sort="date"))
    assert ids(after) == {d["call_id"] for d in docs[10:25]}
    assert engine.count() == 15
    assert engine.get(docs[0]["call_id"]) is None
    engine.index([docs[0]])  # writes go to the new index
    assert engine.count() == 16


def test_a_bad_document_changes_nothing(fresh: SearchBackend, docs: list[Doc]) -> None:
    before = fresh.count()
    broken = copy.deepcopy(docs[0])
    del broken["utterances"][0]["start"]
    replacement = copy.deepcopy(docs[1]) | {"agent_id": "A-CHANGED"}
    with pytest.raises((KeyError, ValueError, RuntimeError)):
        fresh.index([replacement, broken])
    assert fresh.count() == before
    if fresh.name == "embedded":  # one transaction; Elasticsearch bulk is per document
        assert fresh.get(docs[1]["call_id"]) == docs[1]


# Both backends, one corpus ----------------------------------------------------------------

SAME_QUERIES = [SearchQuery(text="payment"), SearchQuery(text='"call may be recorded"', role="agent"),
                SearchQuery(text="refund OR settlement letter"), SearchQuery(text="loan -sorry"),
                SearchQuery(text="录音", role="agent"), SearchQuery(text="提前还款"),
                SearchQuery(rule_id="dead_air"), SearchQuery(team="collections", min_severity="high"),
                SearchQuery(sort="risk"), SearchQuery(text="fee", sort="date", language="en")]


@pytest.mark.skipif(not ES_URL, reason="CALLQA_ELASTICSEARCH_URL is not set")
@pytest.mark.parametrize("query", SAME_QUERIES, ids=lambda q: q.text or "filters")
def test_both_backends_return_the_same_calls(tmp_path: Path, docs: list[Doc],
                                             query: SearchQuery) -> None:
    from tests.search.conftest import _drop, _elastic

    embedded = EmbeddedBackend(tmp_path)
    embedded.index(docs)
    elastic = _elastic("UTC")
    try:
        elastic.index(docs)
        a = everything(embedded, copy.copy(query))
        b = everything(elastic, copy.copy(query))
        assert ids(a) == ids(b)
        if query.sort != "relevance":  # relevance scores differ by engine; the rest is exact
            assert [h.call_id for h in a.hits] == [h.call_id for h in b.hits]
        assert embedded.aggregate("rule_ids", query) == elastic.aggregate("rule_ids", query)
    finally:
        _drop(elastic)
