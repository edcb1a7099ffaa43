"""Finding 1 (High): stored XSS through the audio endpoint."""

from __future__ import annotations

from tests.security.conftest import HTML, World, wav_bytes


def test_html_in_a_wav_named_html_is_served_as_audio_attachment(fresh_world: World) -> None:
    w = fresh_world
    up = w.client.post("/calls", headers=w.as_("qa"), data={"process": "false"},
                       files={"file": ("evil.html", wav_bytes(extra=HTML * 4, seed=7),
                                       "text/html")})
    assert up.status_code == 201, up.text
    call_id = up.json()["call_id"]
    audio = w.client.get(f"/calls/{call_id}/audio", headers=w.as_("admin"))
    assert audio.status_code == 200 and HTML in audio.content  # the bytes are kept as sent
    assert audio.headers["content-type"] == "audio/wav"  # what the decoder found
    assert audio.headers["x-content-type-options"] == "nosniff"
    disposition = audio.headers["content-disposition"]
    assert disposition.startswith("attachment") and "html" not in disposition
    assert "sandbox" in audio.headers["content-security-policy"]
    part = w.client.get(f"/calls/{call_id}/audio", headers={**w.as_("admin"),
                                                            "Range": "bytes=0-99"})
    assert part.status_code == 206 and part.headers["content-type"] == "audio/wav"


def test_every_response_carries_the_strict_headers(world: World) -> None:
    for path, key in (("/calls", "qa"), ("/healthz", None), ("/calls/nope", "qa"),
                      ("/calls", None), ("/openapi.json", None), ("/no-such-route", None)):
        r = world.client.get(path, headers=world.as_(key))
        csp = r.headers.get("content-security-policy", "")
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp, (path, csp)
        assert r.headers.get("x-content-type-options") == "nosniff", path
    ui = world.client.get("/ui/")
    assert "script-src 'self'" in ui.headers["content-security-policy"]  # the UI keeps its own
    assert "unsafe-inline" not in ui.headers["content-security-policy"]
