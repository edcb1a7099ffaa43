"""Embedded search backend: SQLite FTS5 in the data directory, no server.

Utterances are indexed one row each with their role and start time, the text
normalised and segmented exactly as queries are (analysis.normalize), so
Chinese is searchable by word. Call-level fields live in a plain table that
the filters and aggregations read through indexes.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from analysis.normalize import index_text, unsegment
from search.base import SEVERITY_RANK, CallHit, SearchQuery, SearchResult, UtteranceHit
from search.query import HL_END, HL_START, parse, to_fts5

SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
  call_id TEXT PRIMARY KEY, started_at TEXT, day TEXT, agent_id TEXT, team TEXT,
  customer_id TEXT, direction TEXT, language TEXT, duration REAL, primary_intent TEXT,
  intents TEXT, sentiment TEXT, sentiment_score REAL, rule_ids TEXT, severity INTEGER,
  flag_count INTEGER, risk REAL, doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS docs_started ON docs(started_at);
CREATE INDEX IF NOT EXISTS docs_agent ON docs(agent_id);
CREATE INDEX IF NOT EXISTS docs_team ON docs(team);
CREATE INDEX IF NOT EXISTS docs_customer ON docs(customer_id);
CREATE TABLE IF NOT EXISTS utts (
  id INTEGER PRIMARY KEY, call_id TEXT NOT NULL, i INTEGER, role TEXT, start REAL,
  end REAL, text TEXT, body TEXT
);
CREATE INDEX IF NOT EXISTS utts_call ON utts(call_id);
CREATE VIRTUAL TABLE IF NOT EXISTS utts_fts USING fts5(
  body, content='utts', content_rowid='id', tokenize='porter unicode61 remove_diacritics 2'
);
"""

FILTER_COLUMNS = {"agent_id": "agent_id", "team": "team", "customer_id": "customer_id",
                  "intent": None, "sentiment": "sentiment", "language": "language"}
AGG_FIELDS = {"primary_intent", "sentiment", "agent_id", "team", "language", "day", "rule_ids",
              "intents"}


def _utc_iso(value: str | datetime | None) -> str | None:
    """Instants compare as strings only in one offset: everything is stored in UTC."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


class EmbeddedBackend:
    def __init__(self, path: Path, timezone: str = "UTC") -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # Trends by day use the call centre's calendar, not UTC's.
        self.zone = ZoneInfo(timezone)
        self._local = threading.local()
        with self._conn() as conn:
            conn.executescript(SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
        return conn

    # Writing -----------------------------------------------------------------
    def _delete_rows(self, conn: sqlite3.Connection, call_id: str) -> int:
        rows = conn.execute("SELECT id, body FROM utts WHERE call_id=?", (call_id,)).fetchall()
        conn.executemany("INSERT INTO utts_fts(utts_fts, rowid, body) VALUES('delete', ?, ?)",
                         [(r["id"], r["body"]) for r in rows])
        conn.execute("DELETE FROM utts WHERE call_id=?", (call_id,))
        return conn.execute("DELETE FROM docs WHERE call_id=?", (call_id,)).rowcount

    def index(self, documents: list[dict[str, Any]]) -> int:
        """Insert or replace: a call is never indexed twice."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for doc in documents:
                self._delete_rows(conn, doc["call_id"])
                started = _utc_iso(doc.get("started_at"))
                conn.execute(
                    "INSERT INTO docs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (doc["call_id"], started,
                     datetime.fromisoformat(started).astimezone(self.zone).date().isoformat()
                     if started else None,
                     doc.get("agent_id"), doc.get("team"), doc.get("customer_id"),
                     doc.get("direction"), doc.get("language"), doc.get("duration"),
                     doc.get("primary_intent"), " ".join(doc.get("intents") or []),
                     doc.get("sentiment"), doc.get("sentiment_score"),
                     " ".join(doc.get("rule_ids") or []),
                     SEVERITY_RANK.get(doc.get("max_severity") or "", 0),
                     doc.get("flag_count", 0), doc.get("risk", 0.0),
                     json.dumps(doc, ensure_ascii=False)))
                for u in doc.get("utterances", []):
                    body = index_text(u["text"])
                    cur = conn.execute(
                        "INSERT INTO utts(call_id, i, role, start, end, text, body) "
                        "VALUES (?,?,?,?,?,?,?)",
                        (doc["call_id"], u["i"], u["role"], u["start"], u["end"], u["text"], body))
                    conn.execute("INSERT INTO utts_fts(rowid, body) VALUES (?, ?)",
                                 (cur.lastrowid, body))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return len(documents)

    def delete(self, call_id: str) -> bool:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            deleted = self._delete_rows(conn, call_id)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return deleted > 0

    def clear(self) -> None:
        conn = self._conn()
        conn.executescript("DELETE FROM docs; DELETE FROM utts; "
                           "INSERT INTO utts_fts(utts_fts) VALUES('delete-all');")

    # Reading -----------------------------------------------------------------
    def get(self, call_id: str) -> dict[str, Any] | None:
        row = self._conn().execute("SELECT doc FROM docs WHERE call_id=?", (call_id,)).fetchone()
        return json.loads(row["doc"]) if row else None

    def count(self) -> int:
        return int(self._conn().execute("SELECT count(*) FROM docs").fetchone()[0])

    def _filters(self, q: SearchQuery) -> tuple[list[str], list[Any]]:
        where, args = [], []
        for attr in ("agent_id", "team", "customer_id", "sentiment", "language"):
            value = getattr(q, attr)
            if value is not None:
                where.append(f"d.{attr} = ?")
                args.append(value)
        if q.intent:
            where.append("(' ' || d.intents || ' ') LIKE ?")
            args.append(f"% {q.intent} %")
        if q.rule_id:
            where.append("(' ' || d.rule_ids || ' ') LIKE ?")
            args.append(f"% {q.rule_id} %")
        if q.min_severity:
            where.append("d.severity >= ?")
            args.append(SEVERITY_RANK[q.min_severity])
        if q.date_from:
            where.append("d.started_at >= ?")
            args.append(_utc_iso(q.date_from))
        if q.date_to:
            where.append("d.started_at < ?")
            args.append(_utc_iso(q.date_to))
        return where, args

    def _call_hit(self, row: sqlite3.Row, score: float) -> CallHit:
        return CallHit(
            call_id=row["call_id"], started_at=row["started_at"], agent_id=row["agent_id"],
            team=row["team"], customer_id=row["customer_id"], language=row["language"],
            primary_intent=row["primary_intent"], sentiment=row["sentiment"],
            rule_ids=(row["rule_ids"] or "").split(), risk=row["risk"], score=score)

    def search(self, query: SearchQuery) -> SearchResult:
        conn = self._conn()
        where, args = self._filters(query)
        # call_id last: equal keys still page in one stable order.
        order = {"date": "d.started_at DESC, d.call_id",
                 "risk": "d.risk DESC, d.started_at DESC, d.call_id",
                 "relevance": "score ASC, d.started_at DESC, d.call_id"}[query.sort]
        clauses = parse(query.text) if query.text.strip() else []
        if not clauses:
            sql_where = " AND ".join(where) or "1=1"
            total = conn.execute(f"SELECT count(*) FROM docs d WHERE {sql_where}", args
                                 ).fetchone()[0]
            rows = conn.execute(
                f"SELECT d.*, 0.0 AS score FROM docs d WHERE {sql_where} "
                f"ORDER BY {order.replace('score ASC, ', '')} LIMIT ? OFFSET ?",
                [*args, query.size, query.offset]).fetchall()
            return SearchResult(total, [self._call_hit(r, 0.0) for r in rows])

        utt_where = ["utts_fts MATCH ?"]
        utt_args: list[Any] = [to_fts5(clauses)]
        if query.role:
            utt_where.append("u.role = ?")
            utt_args.append(query.role)
        matched = (
            "SELECT u.call_id, u.i, u.role, u.start, u.end, u.text, bm25(utts_fts) AS s "
            "FROM utts_fts JOIN utts u ON u.id = utts_fts.rowid WHERE " + " AND ".join(utt_where))
        calls_sql = (
            f"WITH m AS MATERIALIZED ({matched}) SELECT d.*, min(m.s) AS score FROM m "
            f"JOIN docs d ON d.call_id = m.call_id "
            f"{'WHERE ' + ' AND '.join(where) if where else ''} GROUP BY d.call_id")
        all_args = utt_args + args
        total = conn.execute(f"SELECT count(*) FROM ({calls_sql})", all_args).fetchone()[0]
        rows = conn.execute(f"{calls_sql} ORDER BY {order} LIMIT ? OFFSET ?",
                            [*all_args, query.size, query.offset]).fetchall()
        hits = [self._call_hit(r, round(-r["score"], 4)) for r in rows]
        if hits:
            marks = ",".join("?" * len(hits))
            marked = matched.replace(
                "bm25(utts_fts) AS s",
                f"highlight(utts_fts, 0, '{HL_START}', '{HL_END}') AS hl")
            utt_rows = conn.execute(
                f"{marked} AND u.call_id IN ({marks}) ORDER BY u.call_id, u.start",
                [*utt_args, *(h.call_id for h in hits)]).fetchall()
            by_call: dict[str, list[UtteranceHit]] = {}
            for r in utt_rows:
                by_call.setdefault(r["call_id"], []).append(UtteranceHit(
                    r["i"], r["role"], r["start"], r["end"], r["text"], unsegment(r["hl"])))
            for h in hits:
                h.utterances = by_call.get(h.call_id, [])
        return SearchResult(total, hits)

    def aggregate(self, field: str, query: SearchQuery | None = None) -> dict[str, int]:
        """Counts of calls per value of a field (multi-valued fields count each value)."""
        if field not in AGG_FIELDS:
            raise ValueError(f"cannot aggregate on {field!r}; one of {sorted(AGG_FIELDS)}")
        q = query or SearchQuery()
        where, args = self._filters(q)
        sql_where = " AND ".join(where) or "1=1"
        if field in ("rule_ids", "intents"):
            rows = self._conn().execute(f"SELECT d.{field} AS v FROM docs d WHERE {sql_where}",
                                        args).fetchall()
            counts: dict[str, int] = {}
            for r in rows:
                for value in (r["v"] or "").split():
                    counts[value] = counts.get(value, 0) + 1
            return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
        rows = self._conn().execute(
            f"SELECT d.{field} AS v, count(*) AS n FROM docs d WHERE {sql_where} AND d.{field} "
            f"IS NOT NULL GROUP BY d.{field} ORDER BY n DESC, v", args).fetchall()
        return {r["v"]: r["n"] for r in rows}
