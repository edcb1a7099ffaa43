"""Embedded search backend: SQLite FTS5 files in the index directory, no server.

One full-text row per call with a column per role (agent, customer, other), each
the call's utterances of that role joined by a break token, so a phrase never
spans two utterances and AND / NOT apply to the whole call, as in the
Elasticsearch backend. Text is normalised and segmented exactly as queries are
(analysis.normalize), so Chinese is searchable by word. Call fields live in a
plain table read through indexes; multi-valued fields (intents, rule ids) in a
`terms` table. Highlights come from a small in-memory FTS5 table over the
utterances of the page's calls only, with the same tokenizer.

A rebuild writes a new versioned file and then switches a pointer file, so
searches keep working during it (the embedded twin of an Elasticsearch alias).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

from analysis.normalize import index_text, unsegment
from search.base import (
    MULTI_FIELDS,
    PERIODS,
    SEVERITY_RANK,
    Bucket,
    CallDocument,
    CallHit,
    InvalidQuery,
    SearchQuery,
    SearchResult,
    UtteranceHit,
    check_facet,
    counts,
    decode_cursor,
    encode_cursor,
    utc_iso,
)
from search.query import HL_END, HL_START, UTTERANCE_BREAK, any_positive_fts5, parse, to_fts5

TOKENIZER = "porter unicode61 remove_diacritics 2"
ROLE_COLUMNS = {"agent": "agent", "customer": "customer"}  # anything else -> other

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS docs (
  id INTEGER PRIMARY KEY, call_id TEXT NOT NULL UNIQUE, started_at TEXT,
  started_key TEXT NOT NULL, day TEXT, week TEXT, month TEXT, agent_id TEXT, team TEXT,
  customer_id TEXT, direction TEXT, language TEXT, duration REAL, primary_intent TEXT,
  sentiment TEXT, sentiment_score REAL, severity INTEGER, max_severity TEXT, flag_count INTEGER,
  critical_flags INTEGER, risk REAL, review_status TEXT, outcome TEXT, dead_air_s REAL,
  agent_talk_share REAL, rule_ids TEXT
);
CREATE INDEX IF NOT EXISTS docs_started ON docs(started_key DESC, call_id);
CREATE INDEX IF NOT EXISTS docs_risk ON docs(risk DESC, started_key DESC, call_id);
CREATE INDEX IF NOT EXISTS docs_agent ON docs(agent_id, started_key);
CREATE INDEX IF NOT EXISTS docs_team ON docs(team, started_key);
CREATE INDEX IF NOT EXISTS docs_customer ON docs(customer_id, started_key);
-- The stored document apart from the filter columns: scans never read it.
CREATE TABLE IF NOT EXISTS sources (id INTEGER PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS terms (
  field TEXT NOT NULL, value TEXT NOT NULL, call_id TEXT NOT NULL,
  PRIMARY KEY (field, value, call_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS terms_call ON terms(call_id, field, value);
CREATE TABLE IF NOT EXISTS utts (
  call_id TEXT NOT NULL, i INTEGER NOT NULL, role TEXT, start REAL, end REAL, text TEXT,
  body TEXT, PRIMARY KEY (call_id, i)
) WITHOUT ROWID;
CREATE VIRTUAL TABLE IF NOT EXISTS calls_fts USING fts5(
  agent, customer, other, content='', tokenize='{TOKENIZER}'
);
"""

def periods(started_utc: str | None, zone: ZoneInfo) -> tuple[str | None, str | None, str | None]:
    """Day, week (its Monday) and month in the call centre's calendar, not UTC's."""
    if not started_utc:
        return None, None, None
    day: date = datetime.fromisoformat(started_utc).astimezone(zone).date()
    return (day.isoformat(), (day - timedelta(days=day.weekday())).isoformat(),
            day.isoformat()[:7])


def doc_row(doc: CallDocument, zone: ZoneInfo) -> dict[str, Any]:
    """The `docs` row of a document, by column: its filter and sort fields, the instant in
    UTC, the call centre's day, week and month, and the severity rank."""
    started = utc_iso(doc.get("started_at"))
    day, week, month = periods(started, zone)
    return {
        "call_id": doc["call_id"], "started_at": started, "started_key": started or "",
        "day": day, "week": week, "month": month,
        **{name: doc.get(name) for name in (
            "agent_id", "team", "customer_id", "direction", "language", "duration",
            "primary_intent", "sentiment", "sentiment_score", "max_severity", "review_status",
            "outcome", "dead_air_s", "agent_talk_share")},
        "severity": SEVERITY_RANK.get(doc.get("max_severity") or "", 0),
        "flag_count": doc.get("flag_count", 0), "critical_flags": doc.get("critical_flags", 0),
        "risk": doc.get("risk", 0.0), "rule_ids": " ".join(doc.get("rule_ids") or []),
    }


def prepared(doc: CallDocument, zone: ZoneInfo) -> tuple[dict[str, Any], list[tuple[Any, ...]],
                                                         tuple[str, str, str]]:
    """The rows one document becomes: docs row, utterance rows, per-role FTS text."""
    utts = [(doc["call_id"], u["i"], u["role"], u["start"], u["end"], u["text"],
             index_text(u["text"])) for u in doc.get("utterances", [])]
    return doc_row(doc, zone), utts, role_texts((u[2], u[6]) for u in utts)


def role_texts(role_bodies: Iterable[tuple[str, str]]) -> tuple[str, str, str]:
    """The agent, customer and other FTS columns of a call from its (role, body) pairs in
    order. Deleting a contentless FTS row needs exactly these values back, so insert and
    delete both build them here."""
    by_role: dict[str, list[str]] = {"agent": [], "customer": [], "other": []}
    for role, body in role_bodies:
        by_role[ROLE_COLUMNS.get(role, "other")].append(body)
    sep = f" {UTTERANCE_BREAK} "
    return sep.join(by_role["agent"]), sep.join(by_role["customer"]), sep.join(by_role["other"])


_WITH_MATCH = "WITH m AS MATERIALIZED (SELECT rowid AS id FROM calls_fts WHERE calls_fts MATCH ?) "


def _keyset(keys: list[tuple[str, str]], values: list[Any]) -> tuple[str, list[Any]]:
    """WHERE clause for rows after `values` in the order `keys` ((expr, ASC|DESC), ...)."""
    ors, args = [], []
    for i, (expr, direction) in enumerate(keys):
        parts = [f"{e} = ?" for e, _ in keys[:i]] + [f"{expr} {'>' if direction == 'ASC' else '<'} ?"]
        ors.append("(" + " AND ".join(parts) + ")")
        args += [*values[:i], values[i]]
    return "(" + " OR ".join(ors) + ")", args


class EmbeddedBackend:
    name = "embedded"

    def __init__(self, directory: Path, timezone: str = "UTC") -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.pointer = directory / "CURRENT"
        self.zone = ZoneInfo(timezone)
        self._local = threading.local()
        if not self.pointer.exists():
            self._create(self._new_file_name())

    # Files -------------------------------------------------------------------------
    def _new_file_name(self) -> str:
        return f"search-{time.time_ns()}.db"

    def _create(self, name: str) -> None:
        conn = self._open(self.directory / name)
        conn.executescript(SCHEMA)
        conn.close()
        self._switch(name)

    def _switch(self, name: str) -> None:
        tmp = self.pointer.with_suffix(".tmp")
        tmp.write_text(name)
        os.replace(tmp, self.pointer)

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("PRAGMA cache_size=-65536")
        conn.execute("PRAGMA mmap_size=268435456")
        conn.row_factory = sqlite3.Row
        return conn

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection to the current file (reopened after a rebuild)."""
        if not self.pointer.exists():  # the directory was removed: start an empty index
            self.directory.mkdir(parents=True, exist_ok=True)
            self._create(self._new_file_name())
        # A stat per query, the pointer read only when a rebuild replaced it.
        info = self.pointer.stat()
        stamp = (info.st_ino, info.st_mtime_ns)  # os.replace gives the pointer a new inode
        if getattr(self._local, "stamp", None) != stamp:
            name = self.pointer.read_text().strip()
            if getattr(self._local, "name", None) != name:
                old = getattr(self._local, "conn", None)
                if old is not None:
                    old.close()
                self._local.conn, self._local.name = self._open(self.directory / name), name
            self._local.stamp = stamp
        conn: sqlite3.Connection = self._local.conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = self._local.name = self._local.stamp = None

    # Writing -----------------------------------------------------------------------
    def _delete_rows(self, conn: sqlite3.Connection, call_id: str) -> int:
        row = conn.execute("SELECT id FROM docs WHERE call_id=?", (call_id,)).fetchone()
        if row is None:
            return 0
        # A contentless FTS5 row is deleted by giving back the values it was built from.
        bodies = conn.execute("SELECT role, body FROM utts WHERE call_id=? ORDER BY i", (call_id,))
        conn.execute("INSERT INTO calls_fts(calls_fts, rowid, agent, customer, other) "
                     "VALUES('delete', ?, ?, ?, ?)",
                     (row["id"], *role_texts((u["role"], u["body"]) for u in bodies)))
        for table in ("utts", "terms", "docs"):
            conn.execute(f"DELETE FROM {table} WHERE call_id=?", (call_id,))
        conn.execute("DELETE FROM sources WHERE id=?", (row["id"],))
        return 1

    def _insert(self, conn: sqlite3.Connection, documents: list[CallDocument]) -> None:
        for doc in documents:
            self._delete_rows(conn, doc["call_id"])
            row, utts, texts = prepared(doc, self.zone)
            cur = conn.execute(f"INSERT INTO docs({','.join(row)}) VALUES "
                               f"({','.join('?' * len(row))})", list(row.values()))
            conn.execute("INSERT INTO sources VALUES (?, ?)",
                         (cur.lastrowid, json.dumps(doc, ensure_ascii=False)))
            conn.executemany("INSERT INTO utts VALUES (?,?,?,?,?,?,?)", utts)
            conn.executemany("INSERT OR IGNORE INTO terms VALUES (?,?,?)",
                             [(f, v, doc["call_id"]) for f in MULTI_FIELDS
                              for v in cast(list[str], doc.get(f)) or []])
            conn.execute("INSERT INTO calls_fts(rowid, agent, customer, other) VALUES (?,?,?,?)",
                         (cur.lastrowid, *texts))

    def _write(self, conn: sqlite3.Connection, work: Any) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            work()
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def index(self, documents: list[CallDocument]) -> int:
        """Insert or replace by call_id, all or nothing: a call is never indexed twice."""
        conn = self._conn()
        self._write(conn, lambda: self._insert(conn, documents))
        return len(documents)

    def rebuild(self, documents: Iterable[CallDocument], batch: int = 500) -> int:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = self._new_file_name()
        conn = self._open(self.directory / name)
        conn.executescript(SCHEMA)
        total, chunk = 0, list[CallDocument]()
        for doc in documents:
            chunk.append(doc)
            if len(chunk) >= batch:
                self._write(conn, lambda c=chunk: self._insert(conn, c))
                total, chunk = total + len(chunk), []
        if chunk:
            self._write(conn, lambda: self._insert(conn, chunk))
            total += len(chunk)
        conn.close()
        old = self.pointer.read_text().strip() if self.pointer.exists() else None
        self._switch(name)
        # Open readers keep the old file until their next query; unlinking is safe on POSIX.
        for suffix in ("", "-wal", "-shm") if old else ():
            (self.directory / f"{old}{suffix}").unlink(missing_ok=True)
        return total

    def delete(self, call_id: str) -> bool:
        conn = self._conn()
        deleted: list[int] = []
        self._write(conn, lambda: deleted.append(self._delete_rows(conn, call_id)))
        return deleted[0] > 0

    def clear(self) -> None:
        self.rebuild([])

    # Reading -----------------------------------------------------------------------
    def get(self, call_id: str) -> CallDocument | None:
        row = self._conn().execute("SELECT s.doc FROM docs d JOIN sources s ON s.id = d.id "
                                   "WHERE d.call_id=?", (call_id,)).fetchone()
        return json.loads(row["doc"]) if row else None

    def get_many(self, call_ids: list[str]) -> list[CallDocument]:
        found: dict[str, CallDocument] = {}
        for start in range(0, len(call_ids), 500):
            part = call_ids[start:start + 500]
            rows = self._conn().execute(
                f"SELECT d.call_id, s.doc FROM docs d JOIN sources s ON s.id = d.id "
                f"WHERE d.call_id IN ({','.join('?' * len(part))})", part).fetchall()
            found.update((r["call_id"], json.loads(r["doc"])) for r in rows)
        return [found[c] for c in call_ids if c in found]

    def count(self) -> int:
        return int(self._conn().execute("SELECT count(*) FROM docs").fetchone()[0])

    def _filters(self, q: SearchQuery) -> tuple[list[str], list[Any]]:
        where, args = [], []
        for attr in ("agent_id", "team", "customer_id", "sentiment", "review_status"):
            value = getattr(q, attr)
            if value is not None:
                where.append(f"d.{attr} = ?")
                args.append(value)
        if q.language is not None:  # spoken anywhere in the call (older documents: the call's)
            where.append("(d.language = ? OR d.call_id IN "
                         "(SELECT call_id FROM terms WHERE field='languages' AND value=?))")
            args += [q.language, q.language]
        for field, value in (("intents", q.intent), ("rule_ids", q.rule_id)):
            if value:
                where.append("d.call_id IN (SELECT call_id FROM terms WHERE field=? AND value=?)")
                args += [field, value]
        for cond, value in (("d.severity >= ?", q.min_severity and SEVERITY_RANK[q.min_severity]),
                            ("d.started_at >= ?", utc_iso(q.date_from)),
                            ("d.started_at < ?", utc_iso(q.date_to)),
                            ("d.duration >= ?", q.duration_min),
                            ("d.duration <= ?", q.duration_max)):
            if value is not None:
                where.append(cond)
                args.append(value)
        return where, args

    def _match(self, q: SearchQuery) -> str | None:
        clauses = parse(q.text) if q.text.strip() else []
        if not clauses:
            return None
        return to_fts5(clauses, [ROLE_COLUMNS[q.role]] if q.role else None)

    def _call_hit(self, row: sqlite3.Row, score: float) -> CallHit:
        fields = dict(zip(row.keys(), row, strict=True))
        return CallHit.from_document(fields | {"rule_ids": (row["rule_ids"] or "").split()}, score)

    def search(self, query: SearchQuery) -> SearchResult:
        query.validate()
        conn = self._conn()
        where, args = self._filters(query)
        match = self._match(query)
        ranked = bool(match) and query.sort == "relevance"
        # call_id last: equal keys still page in one stable order.
        keys = {"relevance": [("score", "ASC"), ("d.started_key", "DESC"), ("d.call_id", "ASC")],
                "date": [("d.started_key", "DESC"), ("d.call_id", "ASC")],
                "risk": [("d.risk", "DESC"), ("d.started_key", "DESC"), ("d.call_id", "ASC")]
                }[query.sort]
        if query.sort == "relevance" and not match:
            keys = keys[1:]
        cursor_where, cursor_args = "1=1", list[Any]()
        if query.cursor:
            values = decode_cursor(query.cursor, query.sort)
            if len(values) != len(keys):
                raise InvalidQuery("cursor is not valid for this query")
            cursor_where, cursor_args = _keyset(keys, values)
        order = ", ".join(f"{e} {d}" for e, d in keys)
        picked = ", ".join(f"{e} AS k{i}" for i, (e, _) in enumerate(keys))
        base_where = " AND ".join(where) or "1=1"
        page = [query.size, query.offset]
        if ranked:
            # The full-text match runs once, first (MATERIALIZED), never once per filtered
            # row; the total rides along as a window count.
            rows = conn.execute(
                f"WITH m AS MATERIALIZED (SELECT rowid AS id, bm25(calls_fts) AS score "
                f"FROM calls_fts WHERE calls_fts MATCH ?), f AS (SELECT d.*, m.score, "
                f"count(*) OVER () AS total FROM m JOIN docs d ON d.id = m.id WHERE {base_where}) "
                f"SELECT d.*, {picked} FROM f d WHERE {cursor_where} ORDER BY {order} "
                f"LIMIT ? OFFSET ?", [match, *args, *cursor_args, *page]).fetchall()
            total = rows[0]["total"] if rows else self._count(conn, match, base_where, args)
        else:
            # By date or risk: walk the sort index and stop at a page; with text, each row
            # is checked against the match set built once.
            in_match = "d.id IN (SELECT id FROM m) AND " if match else ""
            rows = conn.execute(
                f"{_WITH_MATCH if match else ''}SELECT d.*, 0.0 AS score, {picked} FROM docs d "
                f"WHERE {in_match}{base_where} AND {cursor_where} ORDER BY {order} "
                f"LIMIT ? OFFSET ?", [*([match] if match else []), *args, *cursor_args, *page]
            ).fetchall()
            total = self._count(conn, match, base_where, args)
        hits = [self._call_hit(r, round(-r["score"], 4) if ranked else 0.0) for r in rows]
        next_cursor = None
        if len(rows) == query.size and (query.cursor or query.offset + query.size < total):
            last = rows[-1]
            next_cursor = encode_cursor(query.sort, [last[f"k{i}"] for i in range(len(keys))])
        if hits and match:
            self._highlight(conn, query, hits)
        return SearchResult(total, hits, next_cursor)

    @staticmethod
    def _count(conn: sqlite3.Connection, match: str | None, where: str, args: list[Any]) -> int:
        if match is None:
            sql, values = f"SELECT count(*) FROM docs d WHERE {where}", args
        elif where == "1=1":  # every matching row is a call: no join needed
            sql, values = "SELECT count(*) FROM calls_fts WHERE calls_fts MATCH ?", [match]
        else:
            sql, values = (f"{_WITH_MATCH}SELECT count(*) FROM m JOIN docs d ON d.id = m.id "
                           f"WHERE {where}", [match, *args])
        return int(conn.execute(sql, values).fetchone()[0])

    def _highlight(self, conn: sqlite3.Connection, query: SearchQuery, hits: list[CallHit]) -> None:
        """The page's utterances that say a searched term, with the matches marked."""
        conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.hl USING fts5(body, tokenize='{TOKENIZER}')")
        marks = ",".join("?" * len(hits))
        role = "AND role = ?" if query.role else ""
        rows = conn.execute(
            f"SELECT call_id, i, role, start, end, text, body FROM utts WHERE call_id IN ({marks}) "
            f"{role}", [*(h.call_id for h in hits), *([query.role] if query.role else [])]).fetchall()
        # One transaction, rolled back: FTS5 keeps the rows in memory and never writes
        # segments (row-by-row autocommit cost ~6 ms a page).
        conn.execute("BEGIN")
        try:
            conn.executemany("INSERT INTO temp.hl(rowid, body) VALUES (?, ?)",
                             [(n, r["body"]) for n, r in enumerate(rows)])
            marked = conn.execute(
                f"SELECT rowid, highlight(hl, 0, '{HL_START}', '{HL_END}') AS hl FROM temp.hl "
                "WHERE hl MATCH ?", [any_positive_fts5(parse(query.text))]).fetchall()
        finally:
            conn.execute("ROLLBACK")
        by_call: dict[str, list[UtteranceHit]] = {}
        for m in marked:
            r = rows[m["rowid"]]
            by_call.setdefault(r["call_id"], []).append(UtteranceHit(
                r["i"], r["role"], r["start"], r["end"], r["text"], unsegment(m["hl"])))
        for h in hits:
            h.utterances = sorted(by_call.get(h.call_id, []), key=lambda u: (u.start, u.utterance))

    def facets(self, by: list[str], query: SearchQuery | None = None,
               metrics: list[str] | None = None) -> list[Bucket]:
        metrics = metrics or []
        check_facet(by, metrics)
        q = (query or SearchQuery()).validate()
        where, args = self._filters(q)
        match = self._match(q)
        if match:
            where.append("d.id IN (SELECT id FROM m)")
        joins, cols = "", []
        for n, name in enumerate(by):
            if name in MULTI_FIELDS:
                # CROSS JOIN keeps docs (with their filters) as the outer loop.
                joins = "CROSS JOIN terms t ON t.call_id = d.call_id AND t.field = ?"
                args.insert(0, name)
                cols.append(f"t.value AS g{n}")
            else:
                cols.append(f"d.{name} AS g{n}")
        sums = "".join(f", total(d.{m}) AS sum_{m}" for m in metrics)
        keys = ", ".join(f"g{n}" for n in range(len(by)))
        with_match = _WITH_MATCH if match else ""
        if match:
            args.insert(0, match)
        rows = self._conn().execute(
            f"{with_match}SELECT {', '.join(cols)}, count(*) AS n{sums} FROM docs d {joins} "
            f"WHERE {' AND '.join(where) or '1=1'} GROUP BY {keys} ORDER BY {keys}", args).fetchall()
        return [Bucket({k: r[f"g{n}"] for n, k in enumerate(by)}, r["n"],
                       {m: r[f"sum_{m}"] for m in metrics})
                for r in rows if not any(r[f"g{n}"] is None and k in PERIODS
                                         for n, k in enumerate(by))]

    def aggregate(self, field: str, query: SearchQuery | None = None) -> dict[str, int]:
        return counts(self.facets([field], query), field)
