"""Findings 11-13 (Low): a write-locked database, slow connections, calls.csv as its own
manifest, uploads with the session cookie."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from api.deps import SESSION_COOKIE, UI_HEADER
from core.settings import get_settings
from core.storage import get_store
from ingest.service import register_file
from tests.security.conftest import World, wav_bytes, write


def test_a_recording_named_calls_csv_is_not_its_own_manifest(settings: object,
                                                             tmp_path: Path) -> None:
    audio = write(tmp_path / "calls.csv", wav_bytes(seed=51))
    result = register_file(audio, get_settings(), get_store())
    assert result.outcome == "accepted", result.message


def test_the_session_cookie_can_upload(world: World) -> None:
    browser = TestClient(world.client.app, base_url="http://testserver")
    signed = browser.post("/session", json={"key": world.keys["qa"]}, headers={UI_HEADER: "1"})
    assert signed.status_code == 200 and SESSION_COOKIE in browser.cookies
    files = {"file": ("c.wav", wav_bytes(seed=52), "audio/wav")}
    up = browser.post("/calls", data={"process": "false"}, files=files,
                      headers={UI_HEADER: "1"})
    assert up.status_code == 201, up.text
    # Without the UI header a cross-site form could post with the cookie: refused.
    files = {"file": ("d.wav", wav_bytes(seed=53), "audio/wav")}
    bare = browser.post("/calls", data={"process": "false"}, files=files)
    assert bare.status_code == 403, bare.text
    browser.cookies.clear()
    assert browser.post("/calls", files=files, headers={UI_HEADER: "1"}).status_code == 401


def test_a_write_locked_database_is_503_with_retry_after(
        fresh_world: World, monkeypatch: object) -> None:
    import sqlite3

    import pytest

    mp: pytest.MonkeyPatch = monkeypatch  # type: ignore[assignment]
    w = fresh_world
    mp.setenv("CALLQA_SQLITE_BUSY_TIMEOUT_S", "0.5")
    from core import db as core_db
    from core.settings import reset_settings

    reset_settings()
    core_db.get_engine.cache_clear()  # new connections with the short timeout
    assert w.client.get("/readyz").json()["checks"]["database"] == "ok"
    holder = sqlite3.connect(str(get_settings().data_dir / "callqa.db"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        ready = w.client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["database"] == "write_locked"
        up = w.client.post("/calls", headers=w.as_("qa"), data={"process": "false"},
                           files={"file": ("l.wav", wav_bytes(seed=54), "audio/wav")})
        assert up.status_code == 503, up.text
        assert up.headers["retry-after"] == "5"
        assert up.json()["error"]["code"] == "database_busy"
        review = w.client.post(f"/calls/{w.calls[0]}/reprocess", headers=w.as_("qa"),
                               json={"from_stage": "index"})
        assert review.status_code == 503, review.text
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert w.client.get("/readyz").status_code == 200
    core_db.get_engine.cache_clear()


def _serve(monkeypatch: object) -> tuple[object, int, object]:
    import threading

    import uvicorn

    from api.app import create_app
    from api.server import TimedH11Protocol
    from bench.cluster import free_port

    mp: object = monkeypatch
    mp.setenv("CALLQA_API_HEADER_TIMEOUT_S", "1")  # type: ignore[attr-defined]
    mp.setenv("CALLQA_API_BODY_IDLE_TIMEOUT_S", "1")  # type: ignore[attr-defined]
    from core.settings import reset_settings

    reset_settings()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app, factory=True, host="127.0.0.1",
                                           port=port, http=TimedH11Protocol, lifespan="off",
                                           log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    import time

    deadline = time.time() + 20
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    assert server.started
    return server, port, thread


def test_slow_headers_and_stalled_bodies_are_cut_off(world: World, monkeypatch: object) -> None:
    import socket
    import time

    server, port, thread = _serve(monkeypatch)
    try:
        # Slowloris: a header line every 0.4 s, never the blank line.
        slow = socket.create_connection(("127.0.0.1", port), timeout=10)
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < 8:
            try:
                slow.sendall(b"X-Slow: 1\r\n")
                slow.settimeout(0.4)
                if slow.recv(1024) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue
            except OSError:
                closed = True
                break
        assert closed, "the server kept a slowloris connection open"
        assert time.monotonic() - started < 4
        # A body that stops after 10 of its 1000 bytes: 408.
        stalled = socket.create_connection(("127.0.0.1", port), timeout=10)
        stalled.sendall(b"POST /rules/validate HTTP/1.1\r\nHost: x\r\nContent-Type: "
                        b"application/json\r\nContent-Length: 1000\r\nX-API-Key: "
                        + world.keys["qa"].encode() + b"\r\n\r\n{\"yaml\": \"a")
        answer = stalled.recv(4096)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        # An ordinary request still works.
        ok = socket.create_connection(("127.0.0.1", port), timeout=10)
        ok.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert ok.recv(4096).startswith(b"HTTP/1.1 200")
        for s in (slow, stalled, ok):
            s.close()
    finally:
        server.should_exit = True  # type: ignore[attr-defined]
        thread.join(timeout=10)  # type: ignore[attr-defined]
