"""The Elasticsearch backend's own parts that need no cluster: mapping, document and
query translation, highlight merging, and the errors it gives when the cluster is down.
The behaviour against a live cluster is the contract suite (test_contract.py), which
runs on Elasticsearch whenever CALLQA_ELASTICSEARCH_URL is set."""

from __future__ import annotations

from typing import Any

import pytest

from search.base import SearchQuery
from search.elastic import (
    MAPPING_VERSION,
    ElasticBackend,
    SearchUnavailable,
    analysis_settings,
    build_query,
    es_body,
    from_es_document,
    mappings,
    merge_highlights,
    sort_spec,
    to_es_document,
)
from search.query import HL_END, HL_START
from tests.conftest import closed_port
from tests.search.conftest import Doc


def test_mapping_is_versioned_and_utterances_are_nested_with_role() -> None:
    m = mappings()
    assert m["_meta"]["callqa_mapping"] == MAPPING_VERSION
    utterances = m["properties"]["utterances"]
    assert utterances["type"] == "nested"
    assert utterances["properties"]["role"]["type"] == "keyword"
    assert utterances["properties"]["body"]["analyzer"] == "callqa_text"
    for field in ("agent_id", "team", "customer_id", "intents", "rule_ids", "review_status"):
        assert m["properties"][field]["type"] == "keyword", field
    assert m["properties"]["started_at"]["type"] == "date"


def test_mapping_is_read_from_the_call_document() -> None:
    """Every CallDocument field is indexed by its type or named as kept-only; the
    mapping is the one version 2 shipped with (so no reindex is needed)."""
    import typing

    from search.base import CallDocument
    from search.elastic import NOT_INDEXED

    props = mappings()["properties"]
    fields = set(typing.get_type_hints(CallDocument))
    assert set(props) == (fields - set(NOT_INDEXED)) | {"severity"}
    types = {name: spec["type"] for name, spec in props.items()}
    assert {k for k, v in types.items() if v == "float"} == {
        "duration", "sentiment_score", "risk", "dead_air_s", "agent_talk_share"}
    assert {k for k, v in types.items() if v == "integer"} == {
        "severity", "flag_count", "critical_flags"}
    assert types["max_severity"] == types["language"] == "keyword"
    assert types["summary"] == "text"


def test_chinese_analysis_smartcn_or_bigrams() -> None:
    smart = analysis_settings(True)["analysis"]["analyzer"]["callqa_text"]
    plain = analysis_settings(False)["analysis"]["analyzer"]["callqa_text"]
    assert smart["tokenizer"] == "smartcn_tokenizer"
    assert "cjk_bigram" in plain["filter"] and "porter_stem" in plain["filter"]


def test_documents_round_trip(docs: list[Doc]) -> None:
    zh = next(d for d in docs if d["language"] == "zh")
    es = to_es_document(zh)
    assert es["started_at"] == zh["started_at"]
    assert es["severity"] >= 0
    # Normalised for the analyser: simplified, half width, no spaces inside Chinese.
    assert all(" " not in u["body"].strip() or not any("\u4e00" <= c <= "\u9fff" for c in u["body"])
               for u in es["utterances"][:3])
    back = from_es_document(es)
    assert back["utterances"] == zh["utterances"]
    assert back == zh
    assert es_body("錄音") == "录音"


def _nested(query: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    if isinstance(query, dict):
        if "nested" in query:
            found.append(query["nested"])
        for v in query.values():
            found += _nested(v)  # type: ignore[arg-type]
    elif isinstance(query, list):
        for v in query:
            found += _nested(v)
    return found


def test_query_translation() -> None:
    q = build_query(SearchQuery(text='"late fee" refund OR 提前还款 -card', role="customer",
                                team="collections", min_severity="high", duration_min=30),
                    highlight=True)
    filters = q["bool"]["filter"]
    assert {"term": {"team": "collections"}} in filters
    assert {"range": {"severity": {"gte": 3}}} in filters
    assert {"range": {"duration": {"gte": 30}}} in filters
    text = q["bool"]["must"][0]["bool"]
    assert len(text["must"]) == 2  # "late fee" AND (refund OR 提前还款)
    assert len(text["must_not"]) == 1
    nested = _nested(q)
    phrases = [n["query"]["bool"]["must"][0]["match_phrase"]["utterances.body"] for n in nested]
    assert sorted(phrases) == sorted(["late fee", "refund", "提前还款", "card"])
    assert all(n["query"]["bool"]["filter"] == [{"term": {"utterances.role": "customer"}}]
               for n in nested)
    assert sum("inner_hits" in n for n in nested) == 3  # positives are highlighted


def test_sorts_end_with_call_id_for_stable_cursors() -> None:
    for sort in ("relevance", "date", "risk"):
        spec = sort_spec(sort, has_text=True)
        assert spec[-1] == {"call_id": {"order": "asc"}}
    assert "_score" not in str(sort_spec("relevance", has_text=False))


def test_merge_highlights() -> None:
    a = f"the {HL_START}late{HL_END} fee"
    b = f"the late {HL_START}fee{HL_END}"
    assert merge_highlights("the late fee", [a, b]) == f"the {HL_START}late{HL_END} {HL_START}fee{HL_END}"
    assert merge_highlights("x", [a]) == a



def test_unreachable_cluster_is_a_clear_error() -> None:
    from elasticsearch import Elasticsearch

    url = f"http://127.0.0.1:{closed_port()}"
    backend = ElasticBackend(Elasticsearch(url, request_timeout=2, max_retries=0), "callqa-x",
                             url=url)
    with pytest.raises(SearchUnavailable, match="unreachable"):
        backend.search(SearchQuery(text="refund"))
    with pytest.raises(SearchUnavailable, match=url):
        backend.count()
