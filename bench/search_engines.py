"""SQLite FTS5 vs tantivy for the embedded backend, on the same documents and queries.

    pip install tantivy   # only this comparison needs it
    python bench/search_engines.py [--calls 20000] [--queries 200] [--json out.json]

Both engines index the same N varied calls (bench/search.py's generator) as one
document per call with a text field per role (utterances normalised and segmented
by analysis.normalize.index_text, joined by a break token), plus team and start
time, and both answer the same query: a phrase said by a role within one team and
a 30-day window, the 20 best by BM25 and the exact total. Only the engines are
timed: the text preparation is done once, before either clock starts.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as `python bench/<name>.py`: the repo root, not bench/, comes first on the path.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import random
import sqlite3
import tempfile
import time
from datetime import datetime, timedelta
from typing import Any

from bench.common import machine, report
from bench.search import DAYS, EN_PHRASES, START, ZH_PHRASES, base_documents, percentiles, varied

Row = tuple[int, str, str, int, str, str]  # id, call_id, team, started (s), agent text, customer text


def prepared_rows(n: int) -> list[Row]:
    from analysis.normalize import index_text
    from search.query import UTTERANCE_BREAK

    sep = f" {UTTERANCE_BREAK} "
    rows = []
    for i, doc in enumerate(varied(base_documents(), n)):
        texts: dict[str, list[str]] = {"agent": [], "customer": []}
        for u in doc["utterances"]:
            texts.setdefault(u["role"], []).append(index_text(u["text"]))
        started = int(datetime.fromisoformat(doc["started_at"]).timestamp())
        rows.append((i + 1, doc["call_id"], doc["team"], started, sep.join(texts["agent"]),
                     sep.join(texts["customer"])))
    return rows


def fts5_engine(rows: list[Row], folder: Path) -> tuple[float, Any]:
    db = sqlite3.connect(folder / "fts.db", isolation_level=None)
    db.executescript("""
        PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
        CREATE TABLE docs (id INTEGER PRIMARY KEY, call_id TEXT, team TEXT, started INTEGER);
        CREATE INDEX docs_team ON docs(team, started);
        CREATE VIRTUAL TABLE fts USING fts5(agent, customer, content='',
                                            tokenize='porter unicode61 remove_diacritics 2');
    """)
    t0 = time.perf_counter()
    for start in range(0, len(rows), 500):
        db.execute("BEGIN")
        part = rows[start:start + 500]
        db.executemany("INSERT INTO docs VALUES (?,?,?,?)", [r[:4] for r in part])
        db.executemany("INSERT INTO fts(rowid, agent, customer) VALUES (?,?,?)",
                       [(r[0], r[4], r[5]) for r in part])
        db.execute("COMMIT")
    seconds = time.perf_counter() - t0

    def query(terms: str, role: str, team: str, lo: int, hi: int) -> tuple[int, list[str]]:
        match = "{" + role + '} : ("' + terms + '")'
        rows_ = db.execute(
            "WITH m AS MATERIALIZED (SELECT rowid AS id, bm25(fts) AS s FROM fts WHERE fts MATCH ?) "
            "SELECT d.call_id, count(*) OVER () FROM m JOIN docs d ON d.id = m.id "
            "WHERE d.team = ? AND d.started >= ? AND d.started < ? ORDER BY m.s LIMIT 20",
            (match, team, lo, hi)).fetchall()
        return (rows_[0][1] if rows_ else 0), [r[0] for r in rows_]

    return seconds, query


def tantivy_engine(rows: list[Row], folder: Path) -> tuple[float, Any]:
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_text_field("agent", tokenizer_name="en_stem")
    builder.add_text_field("customer", tokenizer_name="en_stem")
    builder.add_text_field("call_id", stored=True, tokenizer_name="raw")
    builder.add_text_field("team", tokenizer_name="raw")
    builder.add_integer_field("started", indexed=True, fast=True)
    schema = builder.build()
    index = tantivy.Index(schema, path=str(folder))
    writer = index.writer(heap_size=200_000_000, num_threads=1)
    t0 = time.perf_counter()
    for start in range(0, len(rows), 500):
        for r in rows[start:start + 500]:
            writer.add_document(tantivy.Document(call_id=r[1], team=r[2], started=r[3],
                                                 agent=r[4], customer=r[5]))
        writer.commit()
    writer.wait_merging_threads()
    seconds = time.perf_counter() - t0
    index.reload()
    searcher = index.searcher()

    def query(terms: str, role: str, team: str, lo: int, hi: int) -> tuple[int, list[str]]:
        q = index.parse_query(f'{role}:"{terms}" AND team:"{team}" AND started:[{lo} TO {hi - 1}]')
        result = searcher.search(q, 20, count=True)
        return result.count, [searcher.doc(addr)["call_id"][0] for _, addr in result.hits]

    return seconds, query


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from analysis.normalize import segmented

    rows = prepared_rows(args.calls)
    teams = sorted({r[2] for r in rows})
    rng = random.Random(5)
    queries = []
    for _ in range(args.queries):
        phrase = rng.choice(EN_PHRASES + ZH_PHRASES).strip('"')
        lo = START + timedelta(days=rng.randrange(DAYS - 30))
        queries.append((segmented(phrase), rng.choice(["agent", "customer"]), rng.choice(teams),
                        int(lo.timestamp()), int((lo + timedelta(days=30)).timestamp())))
    figures: dict[str, Any] = {"calls": args.calls}
    answers = {}
    for name, build in (("fts5", fts5_engine), ("tantivy", tantivy_engine)):
        with tempfile.TemporaryDirectory() as folder:
            seconds, query = build(rows, Path(folder))
            query(*queries[0])  # warm
            timings, totals = [], []
            for q in queries:
                t0 = time.perf_counter()
                total, _ = query(*q)
                timings.append((time.perf_counter() - t0) * 1000)
                totals.append(total)
            answers[name] = totals
            figures[f"{name}_index_calls_per_s"] = round(args.calls / seconds, 1)
            for key, value in percentiles(timings).items():
                figures[f"{name}_search_{key}_ms"] = value
    figures["same_totals"] = sum(a == b for a, b in zip(answers["fts5"], answers["tantivy"],
                                                       strict=True)) / len(queries)
    figures["machine"] = machine()
    report(figures, args.json)


if __name__ == "__main__":
    main()
