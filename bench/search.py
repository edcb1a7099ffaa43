"""Index throughput and query latency of the search backend at scale.

    python bench/search.py [--calls 100000] [--queries 200] [--json out.json]

Builds N call documents from the 44 sample dialogues (each analysed once, then
varied: 400 agents in 12 teams, N/4 customers, dates over 180 days, digits and a
per-call reference code changed so no two calls have the same text), indexes them
in batches of 500 into a fresh index (the embedded backend, or Elasticsearch when
CALLQA_ELASTICSEARCH_URL is set), then times typical QA queries:

- search: a phrase said by a role plus two filters (team and a 30-day window),
  English and Chinese phrases in turn, 20 hits with highlights;
- aggregation: an intent trend by day over 90 days for one team (search.insight.trends);
- customer summary: every call of one customer (search.insight.customer_summary);
- deep paging: page 50 of a broad query through the search_after cursor.

Prints p50/p95/p99 in milliseconds and calls indexed per second.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as `python bench/<name>.py`: the repo root, not bench/, comes first on the path.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import copy
import random
import re
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import machine, report

EN_PHRASES = ['"call may be recorded"', '"late fee"', '"payment plan"', '"direct debit"',
              '"settle the loan"', '"speak to a manager"']
ZH_PHRASES = ['"提前还款"', '"通话会录音"', '"手续费"', '"还款日"', '"逾期"', '"分期"']
START = datetime(2026, 5, 1, tzinfo=UTC)
DAYS = 180


def base_documents(per_language: int | None = None) -> list[dict[str, Any]]:
    """The sample dialogues analysed, each as a call document (`per_language`: only the
    first that many of each language)."""
    from analysis import AnalysisModels, analyze, load_rules
    from samples.dialogue import load_dialogues, scripted_transcript
    from search.documents import build_document

    rules, models = load_rules(), AnalysisModels.default()
    out: list[dict[str, Any]] = []  # varied() edits copies freely
    for d in [d for language in ("en", "zh")
              for d in load_dialogues(language=language)[:per_language]]:
        transcript = scripted_transcript(d)
        metadata = d.metadata(["agent", "customer"]) | {"started_at": d.started_at}
        out.append(dict(build_document(metadata, transcript, analyze(transcript, rules, models))))
    return out


_DIGITS = re.compile(r"\d")
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def varied(base: list[dict[str, Any]], n: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    teams = [f"team-{t:02d}" for t in range(12)]
    customers = max(1, n // 4)
    for i in range(n):
        doc = copy.deepcopy(base[i % len(base)])
        agent = rng.randrange(400)
        doc.update(call_id=f"bench-{i:07d}", agent_id=f"A{agent:04d}", team=teams[agent % 12],
                   customer_id=f"C{rng.randrange(customers):07d}",
                   started_at=(START + timedelta(seconds=rng.randrange(DAYS * 86400))).isoformat())
        code = "".join(rng.choice(_LETTERS) for _ in range(7))
        for j, u in enumerate(doc["utterances"]):
            text = _DIGITS.sub(lambda m: str(rng.randrange(10)), u["text"])
            if j == 1:  # a reference only this call has: realistic vocabulary growth
                text += f" ref {code}"
            u["text"] = text
        yield doc


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples_ms, n=100, method="inclusive")
    return {"p50": round(cuts[49], 2), "p95": round(cuts[94], 2), "p99": round(cuts[98], 2)}


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20000, help="Calls to index (default %(default)s).")
    parser.add_argument("--queries", type=int, default=200, help="Timed queries of each kind.")
    parser.add_argument("--batch", type=int, default=500, help="Documents per index() call.")
    parser.add_argument("--dir", type=Path, default=None,
                        help="Embedded index directory (default: a temporary one).")
    parser.add_argument("--dialogues", type=int, default=None,
                        help="Sample dialogues per language the calls are varied from "
                             "(default: all 22 of each).")
    parser.add_argument("--json", type=Path, help="Also write the figures to this JSON file.")
    args = parser.parse_args()

    from core.settings import get_settings
    from search.base import SearchQuery
    from search.insight import customer_summary, trends

    settings = get_settings()
    if settings.elasticsearch_url:
        from search.elastic import ElasticBackend

        backend: Any = ElasticBackend.from_settings(settings)
        backend.alias = f"callqa-bench-{int(time.time())}"
    else:
        from search.embedded import EmbeddedBackend

        backend = EmbeddedBackend(args.dir or Path(tempfile.mkdtemp(prefix="callqa-bench-")))
        backend.clear()

    base = base_documents(args.dialogues)
    print(f"building and indexing {args.calls} calls into {backend.name} ...", file=sys.stderr)
    indexing = 0.0
    batch: list[dict[str, Any]] = []
    done = 0
    for doc in varied(base, args.calls):
        batch.append(doc)
        if len(batch) == args.batch:
            t0 = time.perf_counter()
            backend.index(batch)
            indexing += time.perf_counter() - t0
            done += len(batch)
            batch = []
            print(f"\rindexed {done}/{args.calls}", end="", file=sys.stderr, flush=True)
    if batch:
        t0 = time.perf_counter()
        backend.index(batch)
        indexing += time.perf_counter() - t0
    print(file=sys.stderr)
    assert backend.count() == args.calls

    rng = random.Random(11)
    teams = [f"team-{t:02d}" for t in range(12)]

    def window(days: int) -> tuple[datetime, datetime]:
        lo = START + timedelta(days=rng.randrange(DAYS - days))
        return lo, lo + timedelta(days=days)

    hits_seen: list[int] = []

    def one_search() -> None:
        phrases = EN_PHRASES if rng.random() < 0.5 else ZH_PHRASES
        lo, hi = window(30)
        result = backend.search(SearchQuery(
            text=rng.choice(phrases), role=rng.choice(["agent", "customer"]), team=rng.choice(teams),
            date_from=lo, date_to=hi, size=20))
        hits_seen.append(result.total)

    def one_trend() -> None:
        lo, hi = window(90)
        trends(backend, SearchQuery(team=rng.choice(teams), date_from=lo, date_to=hi),
               metric="intent", interval="day")

    def one_customer() -> None:
        customer_summary(backend, f"C{rng.randrange(max(1, args.calls // 4)):07d}")

    def page_fifty() -> None:
        cursor = None
        for _ in range(50):
            page = backend.search(SearchQuery(text="payment OR 还款", sort="date", size=20,
                                              cursor=cursor))
            cursor = page.next_cursor

    for fn in (one_search, one_trend, one_customer):  # warm caches once, untimed
        fn()
    search_ms = timed(one_search, args.queries)
    agg_ms = timed(one_trend, args.queries)
    customer_ms = timed(one_customer, args.queries)
    deep_ms = timed(page_fifty, max(3, args.queries // 50))

    figures: dict[str, Any] = {"backend": backend.name, "calls": args.calls,
                               "utterances": sum(len(d["utterances"]) for d in base) * args.calls
                               // len(base),
                               "index_calls_per_s": round(args.calls / indexing, 1)}
    for name, samples in (("search", search_ms), ("agg", agg_ms), ("customer", customer_ms)):
        for key, value in percentiles(samples).items():
            figures[f"{name}_{key}_ms"] = value
    figures["page50_cursor_mean_ms"] = round(statistics.mean(deep_ms) / 50, 2)
    figures["search_mean_hits"] = round(statistics.mean(hits_seen), 1)
    figures["machine"] = machine()
    report(figures, args.json)


if __name__ == "__main__":
    main()
