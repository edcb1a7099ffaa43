"""/docs and /redoc work with no network: their scripts and styles come from this server,
and a real browser that may reach nothing but this server renders both."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient

from api.app import create_app
from tests.api.conftest import _env
from tests.ui.test_ui import CHROMIUM, _free_port

PAGES = ("/docs", "/redoc", "/ui/")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.links += [v for k, v in attrs if k in ("src", "href") and v]


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    _env(monkeypatch, tmp_path / "data")
    with TestClient(create_app()) as c:
        yield c


def test_pages_reference_no_other_host(client: TestClient) -> None:
    for page in PAGES:
        r = client.get(page)
        assert r.status_code == 200, page
        html = r.text
        parser = _Links()
        parser.feed(html)
        assert parser.links, page
        for link in parser.links:
            assert not re.match(r"^(https?:)?//", link), f"{page} loads {link}"
            if page != "/ui/":  # the UI's links are relative to /ui/ (tested in tests/ui)
                assert client.get(link).status_code == 200, link
        # Nor does the page's policy allow another host.
        assert "http" not in r.headers["content-security-policy"], page
        # Nothing in an inline script or style either (a CDN URL, Google fonts).
        assert not re.search(r"https?://(?!127\.0\.0\.1|localhost)[\w.-]+", html.replace(
            "http://www.w3.org", "")), page


def test_a_browser_with_no_network_renders_both(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from playwright.sync_api import sync_playwright

    _env(monkeypatch, tmp_path / "data")
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    foreign: list[str] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
            page = browser.new_page()

            def only_local(route: object) -> None:
                url = route.request.url  # type: ignore[attr-defined]
                if url.startswith(base) or url.startswith("data:"):
                    route.continue_()  # type: ignore[attr-defined]
                else:
                    foreign.append(url)
                    route.abort()  # type: ignore[attr-defined]

            page.route("**/*", only_local)
            page.goto(base + "/docs")
            page.locator(".opblock-tag", has_text="calls").first.wait_for(timeout=30_000)
            assert page.locator(".opblock").count() > 20
            page.goto(base + "/redoc")
            page.locator("h1", has_text="callqa API").first.wait_for(timeout=30_000)
            assert page.get_by_text("Import a transcript").count() > 0
            browser.close()
    finally:
        server.should_exit = True
        thread.join(10)
    assert not foreign, foreign
