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
