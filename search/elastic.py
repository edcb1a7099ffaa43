"""Elasticsearch backend (official client) behind the same interface as the embedded one.

- One document per call; utterances are nested documents with role and times, so a
  phrase matches inside one utterance said by the chosen role, and inner hits give
  the utterance's start time with its highlight.
- Text is normalised before it is sent (simplified Chinese, half width, spoken
  numbers as digits: analysis.normalize), then analysed by smartcn where the plugin
  is installed, CJK bigrams otherwise, with English stemming.
- The API reads and writes an alias; `rebuild` fills a new versioned index and
  switches the alias in one atomic call, so a mapping change is a zero-downtime
  reindex. The mapping version is stored in the index's _meta and checked on start.
- Bulk writes back off and retry on 429; an unreachable cluster or a wrong mapping
  is a clear SearchUnavailable error.
"""

from __future__ import annotations

import logging
import time
import typing
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from analysis.normalize import index_text, unsegment
from search.base import (
    KEYWORD_FIELDS,
    PERIODS,
    SEVERITY_RANK,
    Bucket,
    CallDocument,
    CallHit,
    InvalidQuery,
    SearchQuery,
    SearchResult,
    SearchUnavailable,
    UtteranceHit,
    check_facet,
    counts,
    decode_cursor,
    encode_cursor,
    utc_iso,
)
from search.query import HL_END, HL_START, Clause, groups, parse

log = logging.getLogger("callqa.search.elastic")

MAPPING_VERSION = 3  # 3: languages (call) and utterances.language
# Fields added for the index only; get() returns the document as it was given.
INDEX_ONLY = ("severity",)
UTTERANCE_INDEX_ONLY = ("body",)


def _transient_status(status: Any) -> bool:
    """Statuses an outage answers with: too many requests, server errors, gateways."""
    return isinstance(status, int) and (status == 429 or status >= 500)


def analysis_settings(smartcn: bool) -> dict[str, Any]:
    if smartcn:
        analyzer = {"type": "custom", "tokenizer": "smartcn_tokenizer",
                    "filter": ["cjk_width", "lowercase", "porter_stem"]}
    else:
        analyzer = {"type": "custom", "tokenizer": "standard",
                    "filter": ["cjk_width", "lowercase", "cjk_bigram", "porter_stem"]}
    return {"analysis": {"analyzer": {"callqa_text": analyzer}}}


# CallDocument fields kept in _source but not indexed (dynamic false keeps them).
NOT_INDEXED = ("flags", "pii_redacted")
# Where a field's Python type does not say how to search it.
SPECIAL = {
    "started_at": {"type": "date"},
    "summary": {"type": "text", "analyzer": "callqa_text"},
    "utterances": {"type": "nested", "properties": {
        "i": {"type": "integer"}, "role": {"type": "keyword"}, "language": {"type": "keyword"},
        "start": {"type": "float"},
        "end": {"type": "float"}, "text": {"type": "text", "index": False},
        "body": {"type": "text", "analyzer": "callqa_text"}}},
}


def _es_type(annotation: Any) -> dict[str, Any]:
    """keyword for strings (and lists or Literals of them), float, integer."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is list or (args and typing.get_origin(annotation)
                                                 is not typing.Literal):
        return _es_type(args[0])
    if annotation in (str, bool) or typing.get_origin(annotation) is typing.Literal:
        return {"type": "keyword"}
    return {"type": {float: "float", int: "integer"}[annotation]}


def mappings() -> dict[str, Any]:
    """The index mapping, read from CallDocument's fields: a field added there is indexed
    (or named in NOT_INDEXED) without a second list to keep in step."""
    hints = typing.get_type_hints(CallDocument)
    fields: dict[str, Any] = {name: SPECIAL.get(name) or _es_type(hint)
                              for name, hint in hints.items() if name not in NOT_INDEXED}
    fields["severity"] = {"type": "integer"}  # SEVERITY_RANK of max_severity: a range filter
    return {"dynamic": False, "_meta": {"callqa_mapping": MAPPING_VERSION}, "properties": fields}


def es_body(text: str) -> str:
    """What the analyser sees: normalised like the embedded index, without the spaces
    that index puts between Chinese words (bigrams and smartcn segment themselves)."""
    return unsegment(index_text(text))


def to_es_document(doc: CallDocument) -> dict[str, Any]:
    out: dict[str, Any] = dict(doc)  # started_at keeps its offset: Elasticsearch compares the instants
    out["severity"] = SEVERITY_RANK.get(doc.get("max_severity") or "", 0)
    out["utterances"] = [u | {"body": es_body(u["text"])} for u in doc.get("utterances", [])]
    return out


def from_es_document(source: dict[str, Any]) -> CallDocument:
    doc = {k: v for k, v in source.items() if k not in INDEX_ONLY}
    doc["utterances"] = [{k: v for k, v in u.items() if k not in UTTERANCE_INDEX_ONLY}
                         for u in source.get("utterances", [])]
    return doc  # type: ignore[return-value]  # what index() was given


def clause_text(clause: Clause) -> str:
    return unsegment(" ".join(clause.terms))


def _said(clause: Clause, role: str | None, inner_name: str | None) -> dict[str, Any]:
    """Some utterance (by `role`) contains the clause as a phrase."""
    inner: dict[str, Any] = {"bool": {"must": [
        {"match_phrase": {"utterances.body": clause_text(clause)}}]}}
    if role:
        inner["bool"]["filter"] = [{"term": {"utterances.role": role}}]
    nested: dict[str, Any] = {"path": "utterances", "query": inner, "score_mode": "sum"}
    if inner_name:
        nested["inner_hits"] = {
            "name": inner_name, "size": 100,
            "_source": ["utterances.i", "utterances.role", "utterances.start", "utterances.end",
                        "utterances.text"],
            "highlight": {"fields": {"utterances.body": {
                "number_of_fragments": 0, "pre_tags": [HL_START], "post_tags": [HL_END]}}}}
    return {"nested": nested}


def text_query(clauses: list[Clause], role: str | None, highlight: bool) -> dict[str, Any]:
    positive, negative = groups(clauses)
    must, n = [], 0
    for group in positive:
        should = []
        for clause in group:
            should.append(_said(clause, role, f"c{n}" if highlight else None))
            n += 1
        must.append({"bool": {"should": should, "minimum_should_match": 1}})
    return {"bool": {"must": must, "must_not": [_said(c, role, None) for c in negative]}}


def filters(q: SearchQuery) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for attr, field in (("agent_id", "agent_id"), ("team", "team"), ("customer_id", "customer_id"),
                        ("sentiment", "sentiment"),
                        ("review_status", "review_status"), ("intent", "intents"),
                        ("rule_id", "rule_ids")):
        value = getattr(q, attr)
        if value is not None:
            out.append({"term": {field: value}})
    if q.language is not None:  # spoken anywhere in the call (older documents: the call's)
        out.append({"bool": {"should": [{"term": {"language": q.language}},
                                        {"term": {"languages": q.language}}],
                             "minimum_should_match": 1}})
    if q.min_severity:
        out.append({"range": {"severity": {"gte": SEVERITY_RANK[q.min_severity]}}})
    dates = {k: utc_iso(v) for k, v in (("gte", q.date_from), ("lt", q.date_to)) if v is not None}
    if dates:
        out.append({"range": {"started_at": dates}})
    durations = {k: v for k, v in (("gte", q.duration_min), ("lte", q.duration_max)) if v is not None}
    if durations:
        out.append({"range": {"duration": durations}})
    return out


def build_query(q: SearchQuery, highlight: bool = False) -> dict[str, Any]:
    clauses = parse(q.text) if q.text.strip() else []
    query: dict[str, Any] = {"bool": {"filter": filters(q)}}
    if clauses:
        query["bool"]["must"] = [text_query(clauses, q.role, highlight)]
    return query


def sort_spec(sort: str, has_text: bool) -> list[dict[str, Any]]:
    started = {"started_at": {"order": "desc", "missing": "_last"}}
    call_id = {"call_id": {"order": "asc"}}
    if sort == "risk":
        return [{"risk": {"order": "desc"}}, started, call_id]
    if sort == "relevance" and has_text:
        return [{"_score": {"order": "desc"}}, started, call_id]
    return [started, call_id]


def merge_highlights(text: str, marked: list[str]) -> str:
    """One highlight from several (one per matching clause): the union of marked spans."""
    if len(marked) == 1:
        return marked[0]
    plain = marked[0].replace(HL_START, "").replace(HL_END, "")
    on = [False] * len(plain)
    for m in marked:
        pos, inside = 0, False
        for ch in m:
            if ch == HL_START:
                inside = True
            elif ch == HL_END:
                inside = False
            else:
                if inside and pos < len(on):
                    on[pos] = True
                pos += 1
    out, prev = [], False
    for ch, flag in zip(plain, on, strict=True):
        if flag != prev:
            out.append(HL_START if flag else HL_END)
            prev = flag
        out.append(ch)
    if prev:
        out.append(HL_END)
    return "".join(out)


class ElasticBackend:
    name = "elasticsearch"

    def __init__(self, client: Any, alias: str = "callqa-calls", timezone: str = "UTC",
                 shards: int = 1, replicas: int = 1, url: str = "") -> None:
        self.client, self.alias, self.url = client, alias, url
        self.zone_name = timezone
        self.zone = ZoneInfo(timezone)
        self.shards, self.replicas = shards, replicas
        self._ready = False

    @classmethod
    def from_settings(cls, settings: Any) -> ElasticBackend:
        from elasticsearch import Elasticsearch

        client = Elasticsearch(
            settings.elasticsearch_url, api_key=settings.elasticsearch_api_key,
            ca_certs=settings.elasticsearch_ca_certs,
            request_timeout=settings.elasticsearch_timeout_s, max_retries=2, retry_on_timeout=True)
        return cls(client, settings.elasticsearch_index, settings.timezone,
                   settings.elasticsearch_shards, settings.elasticsearch_replicas,
                   settings.elasticsearch_url)

    # Errors and index management ---------------------------------------------------
    def _call(self, what: str, fn: Any, *args: Any, missing_ok: bool = False, **kwargs: Any) -> Any:
        from elasticsearch import ApiError, TransportError

        try:
            return fn(*args, **kwargs)
        except ApiError as exc:
            if missing_ok and exc.meta.status == 404:
                return None
            if exc.meta.status == 400:
                raise InvalidQuery(f"Elasticsearch refused the query while {what}: "
                                   f"{exc.message}") from exc
            raise SearchUnavailable(f"Elasticsearch error while {what}: {exc.meta.status} "
                                    f"{exc.message}", transient=_transient_status(exc.meta.status)
                                    ) from exc
        except TransportError as exc:  # no HTTP answer: down, refused, timed out, TLS
            raise SearchUnavailable(
                f"Elasticsearch at {self.url or 'the configured URL'} is unreachable while "
                f"{what}: {exc}") from exc

    def _smartcn(self) -> bool:
        plugins = self._call("listing plugins", self.client.cat.plugins, format="json")
        return any(p.get("component") == "analysis-smartcn" for p in plugins or [])

    def _create_index(self) -> str:
        name = f"{self.alias}-v{MAPPING_VERSION}-{time.time_ns() // 1_000_000}"
        settings = {"number_of_shards": self.shards, "number_of_replicas": self.replicas,
                    **analysis_settings(self._smartcn())}
        self._call("creating an index", self.client.indices.create, index=name,
                   settings=settings, mappings=mappings())
        return name

    def _indices_behind_alias(self) -> list[str]:
        found = self._call("reading the alias", self.client.indices.get_alias, name=self.alias,
                           missing_ok=True)
        return list(found.body) if found is not None else []

    def ensure_index(self) -> None:
        """Create the first versioned index and alias, or check the one there is ours."""
        if self._ready:
            return
        indices = self._indices_behind_alias()
        if not indices:
            if self._call("checking the alias name", self.client.indices.exists,
                          index=self.alias).body:
                raise SearchUnavailable(
                    f"{self.alias!r} is a concrete index, not an alias: callqa needs the name "
                    f"for its alias; delete or rename that index", transient=False)
            name = self._create_index()
            self._call("creating the alias", self.client.indices.update_aliases,
                       actions=[{"add": {"index": name, "alias": self.alias,
                                         "is_write_index": True}}])
            log.info("created index", extra={"index": name, "alias": self.alias})
        else:
            mapping = self._call("reading the mapping", self.client.indices.get_mapping,
                                 index=self.alias).body
            versions = {m["mappings"].get("_meta", {}).get("callqa_mapping") for m in mapping.values()}
            if versions != {MAPPING_VERSION}:
                raise SearchUnavailable(
                    f"the index behind {self.alias!r} has mapping version {sorted(map(str, versions))}, "
                    f"this callqa needs {MAPPING_VERSION}: run `callqa reindex` to rebuild it "
                    f"without downtime", transient=False)
        self._ready = True

    # Writing -----------------------------------------------------------------------
    def _bulk(self, index: str, actions: Iterable[dict[str, Any]], refresh: bool) -> int:
        from elasticsearch.helpers import streaming_bulk

        done, errors = 0, []
        stream = streaming_bulk(self.client, actions, index=index, chunk_size=500,
                                max_retries=8, initial_backoff=1, max_backoff=60,
                                raise_on_error=False, raise_on_exception=True)
        for ok, item in self._call("bulk indexing", lambda: list(stream)):
            if ok:
                done += 1
            else:
                errors.append(item)
        if refresh:
            self._call("refreshing", self.client.indices.refresh, index=index)
        if errors:
            first = next(iter(errors[0].values()))
            # Rejected by the mapping (400) is permanent; still refused after the bulk
            # helper's own 429 back-off, or a shard down, is an outage.
            raise SearchUnavailable(f"{len(errors)} document(s) were not indexed; first: "
                                    f"{first.get('_id')}: {first.get('error')}",
                                    transient=all(_transient_status(next(iter(e.values()))
                                                                    .get("status"))
                                                  for e in errors))
        return done

    def index(self, documents: list[CallDocument], refresh: bool = True) -> int:
        self.ensure_index()
        # The call id is the document id: indexing again replaces, never duplicates.
        actions = ({"_op_type": "index", "_id": d["call_id"], "_source": to_es_document(d)}
                   for d in documents)
        return self._bulk(self.alias, actions, refresh)

    def rebuild(self, documents: Iterable[CallDocument]) -> int:
        old = self._indices_behind_alias()
        name = self._create_index()
        try:
            total = self._bulk(name, ({"_op_type": "index", "_id": d["call_id"],
                                       "_source": to_es_document(d)} for d in documents),
                               refresh=True)
        except BaseException:
            self._call("dropping a failed rebuild", self.client.indices.delete, index=name)
            raise
        actions: list[dict[str, Any]] = [{"remove": {"index": i, "alias": self.alias}} for i in old]
        actions.append({"add": {"index": name, "alias": self.alias, "is_write_index": True}})
        self._call("switching the alias", self.client.indices.update_aliases, actions=actions)
        for index in old:
            self._call("deleting the old index", self.client.indices.delete, index=index)
        self._ready = True
        log.info("rebuilt index", extra={"index": name, "documents": total, "replaced": old})
        return total

    def delete(self, call_id: str) -> bool:
        self.ensure_index()
        done = self._call("deleting", self.client.delete, index=self.alias, id=call_id,
                          refresh=True, missing_ok=True)
        return done is not None

    def clear(self) -> None:
        self.rebuild([])

    def close(self) -> None:
        self.client.close()

    # Reading -----------------------------------------------------------------------
    def get(self, call_id: str) -> CallDocument | None:
        found = self.get_many([call_id])
        return found[0] if found else None

    def get_many(self, call_ids: list[str]) -> list[CallDocument]:
        if not call_ids:
            return []
        self.ensure_index()
        result = self._call("reading documents", self.client.mget, index=self.alias, ids=call_ids)
        return [from_es_document(d["_source"]) for d in result["docs"] if d.get("found")]

    def count(self) -> int:
        self.ensure_index()
        return int(self._call("counting", self.client.count, index=self.alias)["count"])

    def search(self, query: SearchQuery) -> SearchResult:
        query.validate()
        self.ensure_index()
        has_text = bool(query.text.strip()) and bool(parse(query.text))
        body: dict[str, Any] = {
            "query": build_query(query, highlight=True), "size": query.size,
            "sort": sort_spec(query.sort, has_text), "track_total_hits": True,
            "source_excludes": ["utterances", "summary"]}
        if query.offset:
            body["from_"] = query.offset
        if query.cursor:
            body["search_after"] = decode_cursor(query.cursor, query.sort)
        result = self._call("searching", self.client.search, index=self.alias, **body)
        raw_hits = result["hits"]["hits"]
        total = result["hits"]["total"]["value"]
        hits = [self._call_hit(h, has_text and query.sort == "relevance") for h in raw_hits]
        next_cursor = None
        if len(raw_hits) == query.size and query.offset + query.size < total:
            next_cursor = encode_cursor(query.sort, raw_hits[-1]["sort"])
        return SearchResult(total, hits, next_cursor)

    def _call_hit(self, raw: dict[str, Any], scored: bool) -> CallHit:
        hit = CallHit.from_document(
            raw["_source"], round(raw.get("_score") or 0.0, 4) if scored else 0.0)
        by_utt: dict[int, tuple[dict[str, Any], list[str]]] = {}
        for inner in (raw.get("inner_hits") or {}).values():
            for h in inner["hits"]["hits"]:
                u = h["_source"]
                marked = h.get("highlight", {}).get("utterances.body", [])
                entry = by_utt.setdefault(u["i"], (u, []))
                entry[1].extend(marked)
        for i, (u, marked) in sorted(by_utt.items(), key=lambda kv: (kv[1][0]["start"], kv[0])):
            highlight = merge_highlights(u["text"], marked) if marked else u["text"]
            hit.utterances.append(UtteranceHit(i, u["role"], u["start"], u["end"], u["text"],
                                               highlight))
        return hit

    def _composite_pages(self, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        after = None
        while True:
            if after is not None:
                body["aggs"]["groups"]["composite"]["after"] = after
            result = self._call("aggregating", self.client.search, index=self.alias, **body)
            agg = result["aggregations"]["groups"]
            yield from agg["buckets"]
            after = agg.get("after_key")
            if not agg["buckets"] or after is None:
                return

    def facets(self, by: list[str], query: SearchQuery | None = None,
               metrics: list[str] | None = None) -> list[Bucket]:
        metrics = metrics or []
        check_facet(by, metrics)
        q = (query or SearchQuery()).validate()
        self.ensure_index()
        sources: list[dict[str, Any]] = []
        for name in by:
            if name in PERIODS:
                sources.append({name: {"date_histogram": {
                    "field": "started_at", "calendar_interval": name, "time_zone": self.zone_name}}})
            else:
                sources.append({name: {"terms": {"field": name,
                                                 "missing_bucket": name in KEYWORD_FIELDS}}})
        body: dict[str, Any] = {
            "query": build_query(q), "size": 0, "track_total_hits": False,
            "aggs": {"groups": {"composite": {"size": 1000, "sources": sources},
                                "aggs": {f"sum_{m}": {"sum": {"field": m}} for m in metrics}}}}
        out = []
        for b in self._composite_pages(body):
            key: dict[str, str | None] = {}
            for name in by:
                value = b["key"][name]
                if name in PERIODS:
                    day = datetime.fromtimestamp(value / 1000, self.zone).date().isoformat()
                    value = day[:7] if name == "month" else day
                key[name] = value
            out.append(Bucket(key, b["doc_count"],
                              {m: float(b[f"sum_{m}"]["value"] or 0.0) for m in metrics}))
        return out

    def aggregate(self, field: str, query: SearchQuery | None = None) -> dict[str, int]:
        return counts(self.facets([field], query), field)
