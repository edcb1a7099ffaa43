"""The web UI's session cookie (POST/GET/DELETE /session) and saved searches, through the
real app."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.deps import SESSION_COOKIE
from core.db import AuditEntry, session_scope
from tests.api.conftest import SEEDED, World

UI = {"X-Callqa-UI": "1"}


def _browser(world: World) -> TestClient:
    """A client with its own cookie jar (the shared one must stay cookie-free)."""
    return TestClient(world.client.app, raise_server_exceptions=False)


def _audit(action: str) -> list[AuditEntry]:
    with session_scope() as db:
        return list(db.query(AuditEntry).filter_by(action=action).order_by(AuditEntry.id))


def test_sign_in_sets_an_httponly_strict_cookie_that_authenticates(world: World) -> None:
    browser = _browser(world)
    assert browser.get("/session").status_code == 401
    response = browser.post("/session", json={"key": world.keys["qa"]}, headers=UI)
    assert response.status_code == 200, response.text
    assert response.json() == {"name": "test-qa", "role": "qa",
                               "prefix": world.keys["qa"][:12]}
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    lowered = cookie.lower()
    assert "httponly" in lowered and "samesite=strict" in lowered and "path=/" in lowered
    assert "max-age=43200" in lowered
    # the cookie now stands in for the header: reads, audio, role checks
    assert browser.get("/session").json()["role"] == "qa"
    assert browser.get("/search", params={"q": "payment"}).status_code == 200
    audio = browser.get(f"/calls/{SEEDED[0]}/audio", headers={"Range": "bytes=0-99"})
    assert audio.status_code == 206 and len(audio.content) == 100
    assert browser.get("/trends").status_code == 403  # still a qa key
    entries = _audit("sign_in")
    assert entries and entries[-1].actor.startswith("test-qa") and entries[-1].role == "qa"


def test_cookie_changes_need_the_ui_header(world: World) -> None:
    browser = _browser(world)
    assert browser.post("/session", json={"key": world.keys["qa"]}, headers=UI).status_code == 200
    body = {"name": "csrf", "query": {"q": "payment"}}
    refused = browser.post("/saved-searches", json=body)
    assert refused.status_code == 403 and "X-Callqa-UI" in refused.json()["error"]["message"]
    assert browser.post("/saved-searches", json=body, headers=UI).status_code == 201
    # a sign-in must come from the UI too (no login CSRF from a plain form)
    assert _browser(world).post("/session", json={"key": world.keys["qa"]}).status_code == 403


def test_bad_key_sign_in_and_sign_out(world: World) -> None:
    browser = _browser(world)
    bad = browser.post("/session", json={"key": "cqa_not_a_key"}, headers=UI)
    assert bad.status_code == 401 and "set-cookie" not in bad.headers
    assert browser.post("/session", json={"key": world.keys["manager"]},
                        headers=UI).status_code == 200
    heard = browser.get(f"/calls/{SEEDED[0]}/audio")  # managers hear the toned copy only
    assert heard.status_code == 200 and heard.headers["content-type"] == "audio/wav"
    before = len(_audit("sign_out"))
    out = browser.delete("/session")
    assert out.status_code == 204
    assert f"{SESSION_COOKIE}=" in out.headers["set-cookie"]
    assert "max-age=0" in out.headers["set-cookie"].lower()
    assert browser.get("/session").status_code == 401
    assert len(_audit("sign_out")) == before + 1
    # signing out twice is harmless
    assert browser.delete("/session").status_code == 204


def test_revoked_key_ends_the_session(world: World) -> None:
    from api.keys import create_key, revoke_key

    with session_scope() as db:
        row, plain = create_key(db, "ui-short", "qa")
    browser = _browser(world)
    assert browser.post("/session", json={"key": plain}, headers=UI).status_code == 200
    assert browser.get("/session").status_code == 200
    with session_scope() as db:
        revoke_key(db, str(row.id))
    assert browser.get("/session").status_code == 401


def test_header_key_wins_over_the_cookie(world: World) -> None:
    browser = _browser(world)
    assert browser.post("/session", json={"key": world.keys["qa"]}, headers=UI).status_code == 200
    assert browser.get("/trends", headers=world.as_("manager")).status_code == 200


def test_saved_searches_per_owner(world: World) -> None:
    qa, manager = world.as_("qa"), world.as_("manager")
    query = {"q": '"charged twice" OR refund', "role": "customer", "review_status": "unreviewed",
             "min_severity": "high", "sort": "risk", "date_from": "2026-01-01T00:00:00+08:00"}
    made = world.client.post("/saved-searches", json={"name": "Refunds", "query": query},
                             headers=qa)
    assert made.status_code == 201, made.text
    saved = made.json()
    assert saved["name"] == "Refunds" and saved["query"] == query
    # the saved query runs as-is on /search
    assert world.client.get("/search", params=saved["query"], headers=qa).status_code == 200
    # the same name again replaces it
    again = world.client.post("/saved-searches", json={"name": "Refunds", "query": {"q": "fee"}},
                              headers=qa).json()
    assert again["id"] == saved["id"] and again["query"] == {"q": "fee"}
    mine = world.client.get("/saved-searches", headers=qa).json()["items"]
    assert [s["name"] for s in mine if s["name"] == "Refunds"] == ["Refunds"]
    # another owner neither sees nor deletes it
    assert all(s["id"] != saved["id"]
               for s in world.client.get("/saved-searches", headers=manager).json()["items"])
    assert world.client.delete(f"/saved-searches/{saved['id']}",
                               headers=manager).status_code == 404
    assert world.client.delete(f"/saved-searches/{saved['id']}", headers=qa).status_code == 204
    assert world.client.delete(f"/saved-searches/{saved['id']}", headers=qa).status_code == 404


def test_saved_search_validation(world: World) -> None:
    qa = world.as_("qa")
    for body in ({"name": "x", "query": {"sort": "loudest"}},
                 {"name": "x", "query": {"nope": 1}},
                 {"name": "  ", "query": {}},
                 {"name": "x", "query": {"review_status": "maybe"}}):
        response = world.client.post("/saved-searches", json=body, headers=qa)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["code"] == "validation_error"
    assert world.client.post("/saved-searches", json={"name": "x", "query": {}},
                             headers=world.as_("crm")).status_code == 403
