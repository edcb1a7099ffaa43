"""The web UI in a real browser: Debian's Chromium, headless, driven by Playwright (no
browser download), against `create_app()` on a real 127.0.0.1 port, over a data dir
holding one rendered call that went through the real pipeline (tiny.en) and scripted
calls analysed and indexed by the stage code (tests/api/conftest.py helpers).

Scenario: sign in with a qa key, search for a phrase, see highlighted snippets with
flags and risk, open the call, play from a flag (the <audio> element's currentTime and
the word highlight move there), dismiss the flag with a comment, see the review status
change in search (and filter by it). The manager key gets the dashboard's charts (SVG,
with the API's numbers) and a call page with no audio player. The language switch gives
Chinese. A screenshot per page is saved under the test's tmp dir and checked.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from api.app import create_app
from api.keys import create_key
from core.db import session_scope
from core.settings import reset_settings
from tests.api.conftest import _env, seed_call
from tests.conftest import RENDERED

try:
    from playwright import sync_api as playwright_api
except ImportError:  # a failure, not a skip: the dev extras bring it
    playwright_api = None

CHROMIUM = "/usr/bin/chromium"
UI_DIR = Path(__file__).resolve().parents[2] / "api" / "ui"
REAL = RENDERED[1]  # en-10: a collector threatens court and a workplace visit (critical)
SCRIPTED = ["en-17-balance-read-before-verification", "en-01-repayment-amount-due-date",
            "zh-10-collection-threat-lawsuit", "zh-11-wife-answers-debt-disclosed",
            "en-09-wrong-number-clean"]
TIMEOUT_MS = 15_000


@dataclass
class Live:
    base: str
    keys: dict[str, str]
    real_call: str
    shots: Path

    def api(self, role: str, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(method, self.base + path, headers={"X-API-Key": self.keys[role]},
                                 timeout=30, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, rendered_dir: Path) -> Iterator[Live]:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: run scripts/bootstrap.sh --dev")
    tmp = tmp_path_factory.mktemp("ui")
    with pytest.MonkeyPatch.context() as mp:
        _env(mp, tmp / "data")
        folder = tmp / "audio"
        folder.mkdir()
        for n, dialogue in enumerate(SCRIPTED):
            seed_call(dialogue, folder, n)
        keys = {}
        with session_scope() as db:
            for role in ("qa", "manager", "admin"):
                keys[role] = create_key(db, f"ui-{role}", role)[1]
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port,
                                               log_level="warning", lifespan="on"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        # The real call: rendered stereo audio uploaded over HTTP, then the whole pipeline
        # (tiny.en transcription with word times, analysis, indexing) in the server.
        audio = rendered_dir / "stereo" / f"{REAL}.wav"
        meta = json.loads(audio.with_suffix(".json").read_text())
        form = {k: meta[k] for k in ("agent_id", "team", "customer_id", "started_at", "direction")}
        qa = {"X-API-Key": keys["qa"]}
        made = httpx.post(f"{base}/calls", headers=qa, data=form, timeout=60,
                          files={"file": (f"{REAL}.wav", audio.read_bytes(), "audio/wav")})
        assert made.status_code == 201, made.text
        call_id = made.json()["call_id"]
        deadline = time.monotonic() + 120
        while True:
            status = httpx.get(f"{base}/calls/{call_id}", headers=qa).json()["call"]["status"]
            if status in ("indexed", "failed"):
                break
            assert time.monotonic() < deadline, f"the pipeline did not finish ({status})"
            time.sleep(0.25)
        assert status == "indexed"
        shots = tmp / "screenshots"
        shots.mkdir()
        try:
            yield Live(base, keys, call_id, shots)
        finally:
            server.should_exit = True
            thread.join(10)
    reset_settings()


@pytest.fixture(scope="module")
def browser(live: Live) -> Iterator[Any]:
    if playwright_api is None:
        pytest.fail("playwright is not installed: pip install -e '.[dev]' (never `playwright install`)")
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--autoplay-policy=no-user-gesture-required",
                                           "--mute-audio"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(locale="en-GB", viewport={"width": 1360, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # CSP violations (an inline style, a foreign URL) and script errors show in the console
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" and (
        "Content Security Policy" in msg.text or "Uncaught" in msg.text) else None)
    yield page
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


def sign_in(page: Any, live: Live, role: str) -> None:
    page.goto(live.base + "/")
    assert page.url == f"{live.base}/ui/#/signin" or page.url.startswith(f"{live.base}/ui/")
    page.get_by_label(re.compile("API key|API 密钥")).fill(live.keys[role])
    page.locator("#signin-submit").click()
    page.locator("#signout").wait_for(state="visible")


def check_screenshot(page: Any, path: Path, min_colors: int = 40,
                     size: tuple[int, int] = (1360, 900)) -> None:
    """A PNG of the viewport's size that is not blank: many distinct colours, counted by
    drawing it on a canvas in a blank page of the same browser."""
    page.screenshot(path=str(path))
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == size, (width, height)
    assert len(data) > 30_000 * size[0] * size[1] // (1360 * 900), (
        f"{path.name}: {len(data)} bytes is too small for a page")
    probe = page.context.new_page()
    try:
        colors = probe.evaluate("""async (src) => {
            const img = new Image(); img.src = src; await img.decode();
            const c = document.createElement('canvas'); c.width = img.width; c.height = img.height;
            const g = c.getContext('2d'); g.drawImage(img, 0, 0);
            const px = g.getImageData(0, 0, c.width, c.height).data; const seen = new Set();
            for (let i = 0; i < px.length; i += 4 * 7) seen.add((px[i] << 16) | (px[i+1] << 8) | px[i+2]);
            return seen.size; }""", "data:image/png;base64," + base64.b64encode(data).decode())
    finally:
        probe.close()
    assert colors >= min_colors, f"{path.name} looks blank ({colors} colours)"


def _phrase(live: Live, flag_key: str) -> str:
    """Two consecutive words of the flag's evidence, as the ASR wrote them."""
    detail = live.api("qa", "GET", f"/calls/{live.real_call}")
    flag = next(f for f in detail["flags"] if f["key"] == flag_key)
    words = re.findall(r"[A-Za-z']+", flag["quote"])
    pairs = [(a, b) for a, b in itertools.pairwise(words) if len(a) > 2 and len(b) > 2]
    assert pairs, flag["quote"]
    return " ".join(pairs[0])


def _titles(live: Live) -> dict[str, dict[str, dict[str, str]]]:
    data = live.api("qa", "GET", "/catalogue")
    return {"intents": {i["id"]: i["title"] for i in data["intents"]},
            "rules": {r["id"]: r["title"] for r in data["rules"]}}


def test_qa_search_play_flag_dismiss_and_see_the_review(page: Any, live: Live) -> None:
    detail = live.api("qa", "GET", f"/calls/{live.real_call}")
    threat = next(f for f in detail["flags"] if f["rule_id"] == "threat_or_abuse")
    assert threat["start"] is not None
    words = [w for u in detail["transcript"]["utterances"] for w in u["words"]]
    assert words, "the real pipeline gives word times"
    phrase = _phrase(live, threat["key"])

    sign_in(page, live, "qa")
    page.locator("h1", has_text="Search calls").wait_for()
    # Esc leaves the query box (focused on arrival), `/` comes back to it
    assert page.evaluate("document.activeElement.id") == "f-q"
    page.keyboard.press("Escape")
    assert page.evaluate("document.activeElement.id") != "f-q"
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "f-q"
    page.keyboard.type(f'"{phrase}"')
    page.keyboard.press("Enter")
    hit = page.locator(f'li.hit[data-call="{live.real_call}"]')
    hit.wait_for()
    marks = hit.locator("mark")
    assert marks.count() >= 1
    assert " ".join(marks.all_inner_texts()).lower().split()[:2] == phrase.lower().split()
    assert hit.locator(".badge.risk").is_visible()
    # rule badges show the catalogue's title, the id on hover
    rule = hit.locator('.badge.rule[data-id="threat_or_abuse"]')
    assert rule.is_visible() and rule.get_attribute("title") == "threat_or_abuse"
    assert rule.inner_text() == _titles(live)["rules"]["threat_or_abuse"]["en"]
    assert hit.locator(".badge.sev-critical").is_visible()
    assert hit.get_attribute("data-review") == "unreviewed"
    assert "#/search?q=" in page.url
    check_screenshot(page, live.shots / "search.png")

    # Esc leaves the query box, j selects the first result, Enter opens it
    page.keyboard.press("Escape")
    page.keyboard.press("j")
    assert page.evaluate("document.activeElement.dataset.call") == live.real_call
    page.keyboard.press("Enter")
    page.locator("h1", has_text=live.real_call).wait_for()
    player = page.locator("audio#player")
    player.wait_for(state="attached")
    page.wait_for_function("() => document.querySelector('#player').readyState >= 1")
    assert page.locator("#transcript li.utt").count() == len(detail["transcript"]["utterances"])
    assert page.locator("#transcript .w").count() == len(words)
    assert page.locator("#summary").is_visible() and page.locator("#metrics").is_visible()
    assert page.locator("#roles button#roles-swap").is_visible()
    check_screenshot(page, live.shots / "call.png")

    # Play from the flag: currentTime jumps to the evidence, the word highlight follows.
    flag = page.locator(f'li.flag[data-key="{threat["key"]}"]')
    before = page.evaluate("document.querySelector('.w.now')?.dataset.s ?? null")
    flag.locator("button.evidence").first.click()
    start = threat["start"]
    page.wait_for_function("(s) => Math.abs(document.querySelector('#player').currentTime - s) < 3"
                           " && document.querySelector('.w.now') !== null", arg=start)
    current = page.evaluate("document.querySelector('#player').currentTime")
    assert start - 0.05 <= current <= start + 3, (current, start)
    now = float(page.locator(".w.now").get_attribute("data-s"))
    assert start - 1.0 <= now <= current + 0.5, (now, start, current)
    assert str(now) != str(before)
    utt = page.locator("li.utt.current")
    assert float(utt.get_attribute("data-start")) <= now < float(utt.get_attribute("data-end")) + 0.5
    page.locator(".w.now").wait_for(state="visible")
    check_screenshot(page, live.shots / "call-playing.png")
    # space pauses
    page.locator("h1").click()
    page.keyboard.press(" ")
    page.wait_for_function("() => document.querySelector('#player').paused")
    # a click on a word plays from that word
    word = page.locator("#transcript li.utt").nth(2).locator(".w").nth(1)
    at = float(word.get_attribute("data-s"))
    word.click()
    page.wait_for_function("(s) => Math.abs(document.querySelector('#player').currentTime - s) < 2", arg=at)
    page.wait_for_function("() => document.querySelector('.w.now') !== null")
    page.keyboard.press(" ")
    page.wait_for_function("() => document.querySelector('#player').paused")
    # ] goes to the next flag and plays its evidence
    page.keyboard.press("]")
    page.wait_for_function("() => document.querySelector('li.flag.active') !== null")

    # Dismiss with a comment.
    flag.locator("textarea").fill("Tone is firm but lawful: reviewed with the team lead.")
    flag.locator("button.dismiss").click()
    page.wait_for_function("(k) => document.querySelector(`li.flag[data-key=\"${k}\"]`)"
                           "?.dataset.review === 'dismissed'", arg=threat["key"])
    state = page.locator(f'li.flag[data-key="{threat["key"]}"] .review-state')
    assert "Dismissed" in state.inner_text() and "reviewed with the team lead" in state.inner_text()
    reviews = live.api("qa", "GET", f"/calls/{live.real_call}/reviews")
    assert [h["decision"] for h in reviews["history"]] == ["dismissed"]
    assert reviews["history"][0]["comment"].startswith("Tone is firm")

    # Back in search (the same query): the new review status shows, and filters find it.
    page.locator("#back").click()
    assert page.locator("#f-q").input_value() == f'"{phrase}"'
    hit = page.locator(f'li.hit[data-call="{live.real_call}"]')
    hit.wait_for()
    expected = live.api("qa", "GET", "/search", params={"q": f'"{phrase}"'})
    status = next(h["review_status"] for h in expected["hits"] if h["call_id"] == live.real_call)
    assert status in ("partial", "dismissed")
    page.wait_for_function("(s) => document.querySelector('li.hit')?.dataset.review === s", arg=status)
    assert hit.locator(f".badge.review-{status}").is_visible()
    page.locator("#f-review_status").select_option(status)
    page.wait_for_function("(s) => [...document.querySelectorAll('li.hit')].length > 0 && "
                           "[...document.querySelectorAll('li.hit')].every(li => li.dataset.review === s)",
                           arg=status)
    assert hit.is_visible()
    check_screenshot(page, live.shots / "search-reviewed.png")
    page.locator("#f-review_status").select_option("unreviewed")
    page.locator("#result-count", has_text=re.compile("No calls|calls")).wait_for()
    page.wait_for_function("(id) => !document.querySelector(`li.hit[data-call=\"${id}\"]`)",
                           arg=live.real_call)

    # Saved search round trip.
    page.locator("#f-review_status").select_option(status)
    page.locator("#saved-name").fill("My dismissed threats")
    page.locator("#saved-save").click()
    page.locator("#saved-select option", has_text="My dismissed threats").wait_for(state="attached")
    saved = live.api("qa", "GET", "/saved-searches")["items"]
    assert [s["query"] for s in saved if s["name"] == "My dismissed threats"] == [
        {"q": f'"{phrase}"', "review_status": status}]


def test_manager_dashboard_charts_and_redacted_audio(page: Any, live: Live) -> None:
    sign_in(page, live, "manager")
    page.locator("h1", has_text="Manager dashboard").wait_for()
    page.locator("#d-interval").select_option("month")
    page.locator("#d-apply").click()
    page.locator("#chart-rules svg g.bar").first.wait_for()
    # the bars carry the API's numbers
    totals = live.api("manager", "GET", "/trends",
                      params={"metric": "violation", "interval": "month"})["totals"]
    bars = page.locator("#chart-rules svg g.bar")
    shown = {bars.nth(i).get_attribute("data-label"): float(bars.nth(i).get_attribute("data-value"))
             for i in range(bars.count())}
    assert shown == {k: float(v) for k, v in totals.items()} and shown
    assert page.locator("#chart-intents svg polyline, #chart-intents svg circle").count() > 0
    assert page.locator("#chart-sentiment svg circle").count() > 0
    assert page.locator("#chart-teams svg g.bar").count() > 0
    assert page.locator("#chart-agents svg g.bar").count() > 0
    agents = live.api("manager", "GET", "/agents")["items"]
    rows = page.locator("#scorecards tbody tr")
    assert rows.count() == len(agents)
    assert [rows.nth(i).get_attribute("data-agent") for i in range(rows.count())] == [
        a["agent_id"] for a in agents]
    assert page.locator("#nav-search").is_visible() and page.locator("#nav-dashboard").is_visible()
    check_screenshot(page, live.shots / "dashboard.png")

    # The manager's call page: redacted text, the recording with PII toned out (the API
    # serves managers nothing else), no review buttons.
    page.goto(f"{live.base}/ui/#/calls/{live.real_call}")
    page.locator("#transcript li.utt").first.wait_for()
    assert page.locator("audio").count() == 1
    src = page.locator("audio").get_attribute("src") or ""
    assert src.endswith(f"/calls/{live.real_call}/audio?redacted=true"), src
    assert page.evaluate("async (u) => (await fetch(u)).headers.get('content-type')", src) == "audio/wav"
    assert page.locator("#redacted-note").is_visible()
    assert page.locator("button.dismiss").count() == 0 and page.locator("#roles").count() == 0
    assert page.locator("li.flag").count() > 0
    check_screenshot(page, live.shots / "call-manager.png")


def test_chinese_interface(page: Any, live: Live) -> None:
    assert shutil.which("fc-list"), "fontconfig is missing"
    fonts = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True).stdout
    assert "Noto" in fonts, "fonts-noto-cjk is not installed: run scripts/bootstrap.sh --dev"
    sign_in(page, live, "qa")
    page.locator("#lang").select_option("zh")
    page.locator("h1", has_text="搜索通话").wait_for()
    assert page.locator("#search-submit").inner_text() == "搜索"
    assert page.locator("#nav-search").inner_text() == "搜索"
    assert page.locator("#signout").inner_text() == "退出登录"
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    assert page.get_by_label("复核状态").count() == 1
    page.locator("#f-q").fill("法院")
    page.locator("#f-q").press("Enter")
    page.locator("li.hit mark").first.wait_for()
    check_screenshot(page, live.shots / "search-zh.png")
    page.locator("li.hit a.open").first.click()
    page.locator("#flags-title", has_text="标记").wait_for()
    assert page.locator("#summary-title").inner_text() == "摘要"
    check_screenshot(page, live.shots / "call-zh.png")
    # the choice is remembered
    page.reload()
    page.locator("#summary-title", has_text="摘要").wait_for()
    # and the help dialog (?) is translated too
    page.locator("h1").click()
    page.keyboard.press("?")
    assert page.locator("#shortcuts").is_visible()
    assert "键盘快捷键" in page.locator("#shortcuts-title").inner_text()


def test_role_correction(page: Any, live: Live) -> None:
    call = SCRIPTED[-1]  # en-09: a clean call, nothing else looks at it
    before = live.api("qa", "GET", f"/calls/{call}")["transcript"]["utterances"]
    sign_in(page, live, "qa")
    page.goto(f"{live.base}/ui/#/calls/{call}")
    first = page.locator("#transcript li.utt").first
    first.wait_for()
    assert first.get_attribute("data-role") == before[0]["role"]
    page.locator("#roles-swap").click()
    flipped = {"agent": "customer", "customer": "agent"}[before[0]["role"]]
    page.wait_for_function("(r) => document.querySelector('#transcript li.utt')?.dataset.role === r",
                           arg=flipped, timeout=30_000)
    after = live.api("qa", "GET", f"/calls/{call}")
    assert [u["role"] for u in after["transcript"]["utterances"]] == [
        {"agent": "customer", "customer": "agent"}[u["role"]] for u in before]
    assert after["call"]["status"] == "indexed"


def test_keyboard_review(page: Any, live: Live) -> None:
    call = SCRIPTED[0]  # en-17: account details read before verification
    flags = live.api("qa", "GET", f"/calls/{call}")["flags"]
    assert flags
    sign_in(page, live, "qa")
    page.goto(f"{live.base}/ui/#/calls/{call}")
    page.locator("li.flag").first.wait_for()
    page.keyboard.press("]")  # the first flag
    assert page.evaluate("() => document.activeElement.dataset.key") == flags[0]["key"]
    page.keyboard.press("c")
    page.wait_for_function("(k) => document.querySelector(`li.flag[data-key=\"${k}\"]`)"
                           "?.dataset.review === 'confirmed'", arg=flags[0]["key"])
    history = live.api("qa", "GET", f"/calls/{call}/reviews")["history"]
    assert [(h["flag_key"], h["decision"]) for h in history] == [(flags[0]["key"], "confirmed")]


def test_sign_in_errors_and_sign_out(page: Any, live: Live) -> None:
    page.goto(live.base + "/ui/")
    page.locator("#signin-key").fill("cqa_wrong")
    page.locator("#signin-submit").click()
    page.locator("#signin-error", has_text="not accepted").wait_for()
    check_screenshot(page, live.shots / "signin.png", min_colors=10)
    sign_in(page, live, "qa")
    assert page.locator("#who").inner_text().startswith("ui-qa")
    cookies = page.context.cookies()
    session = next(c for c in cookies if c["name"] == "callqa_session")
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # not readable by scripts
    page.locator("#signout").click()
    page.locator("#signin-key").wait_for()
    assert not [c for c in page.context.cookies() if c["name"] == "callqa_session"]


def test_assets_are_local_and_strings_complete(page: Any, live: Live) -> None:
    allowed = {"http://www.w3.org/2000/svg"}  # the SVG namespace, not a fetch
    for path in UI_DIR.rglob("*"):
        if path.is_file():
            found = set(re.findall(r"https?://[^\s'\"`)]+", path.read_text("utf-8"))) - allowed
            assert not found, f"{path.name} refers to {found}"
            assert "//cdn" not in path.read_text("utf-8")
    response = httpx.get(live.base + "/", follow_redirects=False)
    assert response.status_code in (307, 308) and response.headers["location"] == "/ui/"
    index = httpx.get(live.base + "/ui/")
    assert index.status_code == 200 and "default-src 'self'" in index.headers["content-security-policy"]
    page.goto(live.base + "/ui/")
    missing = page.evaluate("""async () => {
        const m = await import('/ui/i18n.js'); const s = m._strings;
        const en = Object.keys(s.en), zh = Object.keys(s.zh);
        return [en.filter(k => !zh.includes(k)), zh.filter(k => !en.includes(k))]; }""")
    assert missing == [[], []]
    # every form control on the search page has a label
    sign_in(page, live, "qa")
    page.locator("#results li").first.wait_for()
    unlabeled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
        .filter(el => !el.labels?.length && !el.getAttribute('aria-label')).map(el => el.id)""")
    assert unlabeled == []


CJK = re.compile(r"[\u3400-\u9fff]")
LATIN = re.compile(r"[A-Za-z]")


def test_filters_are_choosers_with_titles(page: Any, live: Live) -> None:
    titles = _titles(live)
    sign_in(page, live, "qa")
    page.locator("#results li").first.wait_for()
    for name, kind in (("intent", "intents"), ("rule_id", "rules")):
        control = page.locator(f"#f-{name}")
        assert control.evaluate("el => el.tagName") == "SELECT"  # no id typing
        control.evaluate("el => new Promise(ok => { const t = () => el.options.length > 1 ? ok() "
                         ": setTimeout(t, 50); t(); })")  # filled once GET /catalogue answers
        options = control.evaluate("el => [...el.options].filter(o => o.value)"
                                   ".map(o => [o.value, o.textContent, o.title])")
        assert {v for v, _, _ in options} == set(titles[kind])
        assert all(text == titles[kind][v]["en"] and hover == v for v, text, hover in options)
    page.locator("#f-rule_id").select_option("threat_or_abuse")
    page.wait_for_function("() => document.querySelector('#results li.hit') && [...document"
                           ".querySelectorAll('#results li.hit')].every(li => li.querySelector("
                           "'.badge.rule[data-id=\"threat_or_abuse\"]'))")
    expected = live.api("qa", "GET", "/search", params={"rule_id": "threat_or_abuse"})["total"]
    assert page.locator("#results li.hit").count() == min(expected, 20)
    # the export link carries the same search
    href = page.locator("#export").get_attribute("href")
    assert href.startswith("/search/export?") and "rule_id=threat_or_abuse" in href
    csv = page.evaluate("(u) => fetch(u, {credentials: 'same-origin'}).then(r => r.text())", href)
    assert len(csv.strip().splitlines()) == expected + 1
    # long titles wrap in the dashboard's bars instead of being cut
    sign_in_as_other(page, live, "manager")
    page.locator("#chart-rules svg g.bar").first.wait_for()
    bars = page.locator("#chart-rules svg g.bar")
    for i in range(bars.count()):
        bar = bars.nth(i)
        rule_id = bar.get_attribute("data-label")
        assert bar.get_attribute("data-title") == titles["rules"][rule_id]["en"]
        shown = "".join(bar.locator("text.bar-label tspan").evaluate_all(
            "els => els.map(e => e.textContent)"))
        assert "…" not in shown and shown.replace(" ", "") == titles["rules"][rule_id]["en"].replace(" ", "")


def sign_in_as_other(page: Any, live: Live, role: str) -> None:
    page.locator("#signout").click()
    page.locator("#signin-key").wait_for()
    sign_in(page, live, role)


def test_review_queue_day(page: Any, live: Live) -> None:
    call = SCRIPTED[2]  # zh-10: a collector threatens a lawsuit (critical)
    flags = live.api("qa", "GET", f"/calls/{call}")["flags"]
    assert flags
    # admin assigns the call to the qa reviewer
    sign_in(page, live, "admin")
    page.goto(f"{live.base}/ui/#/queue?preset=any&status=open&who=all")
    row = page.locator(f'#queue tr[data-call="{call}"]')
    row.wait_for()
    risks = [float(x) for x in page.locator("#queue tbody .badge.risk").evaluate_all(
        "els => els.map(e => e.dataset.risk)")]
    assert risks == sorted(risks, reverse=True)  # riskiest first
    row.locator("select.q-assign").select_option("ui-qa")
    page.locator("#toast", has_text="ui-qa").wait_for()
    mine = live.api("qa", "GET", "/queue", params={"mine": "true"})["items"]
    assert [i["call_id"] for i in mine] == [call]
    check_screenshot(page, live.shots / "queue-admin.png")

    # qa: my queue has it, in the chosen language's date format
    sign_in_as_other(page, live, "qa")
    page.goto(f"{live.base}/ui/#/queue?preset=any&status=open&who=mine")
    row = page.locator(f'#queue tr[data-call="{call}"]')
    row.wait_for()
    assert page.locator("#queue tbody tr").count() == 1
    assert re.search(r"\d{2}/\d{2}/\d{4}", row.locator("td").first.inner_text())  # en-GB
    # presets: today and this week start at the browser's midnight and Monday
    page.locator("#q-preset").select_option("week")
    page.locator("#queue-count").wait_for()
    assert "preset=week" in page.url
    page.locator("#q-preset").select_option("any")
    row.wait_for()
    row.locator("select.q-item-status").select_option("in_review")
    page.locator("#toast", has_text="Status saved").wait_for()
    page.wait_for_function("(c) => document.querySelector(`#queue tr[data-call=\"${c}\"]`)"
                           "?.dataset.status === 'in_review'", arg=call)
    # open the call, confirm every flag
    row.locator("a.open").click()
    page.locator("li.flag").first.wait_for()
    for flag in flags:
        item = page.locator(f'li.flag[data-key="{flag["key"]}"]')
        item.locator("button.confirm").click()
        page.wait_for_function("(k) => document.querySelector(`li.flag[data-key=\"${k}\"]`)"
                               "?.dataset.review === 'confirmed'", arg=flag["key"])
    # the queue shows it done
    page.goto(f"{live.base}/ui/#/queue?preset=any&status=done&who=mine")
    page.wait_for_function("(c) => document.querySelector(`#queue tr[data-call=\"${c}\"]`)"
                           "?.dataset.status === 'done'", arg=call)
    page.goto(f"{live.base}/ui/#/queue?preset=any&status=open&who=mine")
    page.locator("#queue-count", has_text="Nothing").wait_for()
    check_screenshot(page, live.shots / "queue.png")


def test_chinese_has_no_english_leftovers(page: Any, live: Live) -> None:
    sign_in(page, live, "qa")
    page.locator("#lang").select_option("zh")
    page.locator("h1", has_text="搜索通话").wait_for()
    assert CJK.search(page.locator("#who").inner_text())  # the role label
    # The chooser is filled from GET /catalogue once it answers.
    page.wait_for_function("() => document.querySelectorAll('#f-rule_id option').length > 1")
    options = page.locator("#f-rule_id option").all_inner_texts()
    assert len(options) > 1 and all(CJK.search(o) for o in options)
    page.goto(f"{live.base}/ui/#/calls/{live.real_call}")
    page.locator("li.flag").first.wait_for()
    stages = page.locator("#stages").inner_text()
    assert stages and not LATIN.search(stages), stages
    for text in page.locator("li.flag .flag-head strong, li.flag .badge.rule, #summary .badge.intent"
                             ).all_inner_texts():
        assert CJK.search(text), text
    for text in page.locator(".evidence.call-level blockquote").all_inner_texts():
        assert not re.search(r"\b(said|turns|agent|customer)\b", text), text
    # every heading, label, button and table header of the page is Chinese
    chrome = page.evaluate("""() => [...document.querySelectorAll(
        'h1, h2, dt, label > span, button:not(.evidence), th[scope=col], #nav a, figcaption')]
        .filter(el => el.offsetParent !== null).map(el => el.textContent.trim())
        .filter(text => text && !/^[\\d:▶?.·\\s-]+$/.test(text))""")
    leftovers = [x for x in chrome if LATIN.search(x) and not CJK.search(x)]
    assert leftovers == [], leftovers
    page.goto(f"{live.base}/ui/#/queue?preset=any&status=all&who=all")
    page.locator("#queue tbody tr").first.wait_for()
    assert re.search(r"\d{4}/\d{2}/\d{2}", page.locator("#queue tbody td").first.inner_text())
    headers = page.locator("#queue th[scope=col]").all_inner_texts()
    assert headers and all(CJK.search(x) for x in headers)
    check_screenshot(page, live.shots / "queue-zh.png")


# Issue 17: the manager's day, the call timeline, the Chinese UI page by page, errors
# where the user looks, the phone layout -----------------------------------------------


def _per_100(periods: list[dict[str, Any]], key: str) -> dict[str, float]:
    """Violations per 100 calls per group, as the dashboard derives it from a by= trend."""
    sums: dict[str, list[int]] = {}
    for p in periods:
        if p[key] is not None:
            row = sums.setdefault(p[key], [0, 0])
            row[0] += p["calls"]
            row[1] += round(p["violations_per_100"] * p["calls"] / 100)
    return {k: round(1000 * flags / calls) / 10 for k, (calls, flags) in sums.items()}


def _no_overlap(boxes: list[dict[str, float]]) -> bool:
    ordered = sorted(boxes, key=lambda b: b["x"])
    return all(a["x"] + a["width"] <= b["x"] + 0.5 for a, b in itertools.pairwise(ordered))


def test_manager_day_dashboard_drill_down_and_redacted_playback(page: Any, live: Live) -> None:
    """Dashboard bar -> the matching search with its filter set -> the call -> playback of
    the toned copy; no request for the raw recording is ever made."""
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    detail = live.api("qa", "GET", f"/calls/{live.real_call}")
    agent = detail["call"]["agent_id"]
    sign_in(page, live, "manager")
    page.locator("#chart-agents a.bar-link").first.wait_for()
    # violations per 100 calls by agent and team, sorted by value, with axis titles
    cards = {a["agent_id"]: a["violations_per_100"]
             for a in live.api("manager", "GET", "/agents")["items"]}
    by_team = live.api("manager", "GET", "/trends",
                       params={"metric": "violation", "interval": "week", "by": "team"})["periods"]
    for chart, expected in (("chart-agents", cards), ("chart-teams", _per_100(by_team, "team"))):
        bars = page.locator(f"#{chart} g.bar")
        shown = [(bars.nth(i).get_attribute("data-label"),
                  float(bars.nth(i).get_attribute("data-value"))) for i in range(bars.count())]
        assert dict(shown) == expected, (chart, shown, expected)
        assert [v for _, v in shown] == sorted((v for _, v in shown), reverse=True)
        assert page.locator(f"#{chart} .axis-title").text_content() == "Violations per 100 calls"
    # counts have whole-number axes; date labels never overlap; one series has no legend
    ticks = page.locator("#chart-rules .x-tick, #chart-intents .y-tick, #chart-calls .y-tick"
                         ).all_text_contents()
    assert ticks and all(re.fullmatch(r"\d+", x) for x in ticks), ticks
    for chart in ("chart-intents", "chart-calls", "chart-sentiment", "chart-agent-trend"):
        boxes = page.locator(f"#{chart} .x-tick").evaluate_all(
            "els => els.map(e => { const b = e.getBBox(); return {x: b.x, width: b.width}; })")
        assert boxes and _no_overlap(boxes), (chart, boxes)
    assert page.locator("#chart-calls .legend").count() == 0
    assert page.locator("#chart-intents .legend").count() == page.locator(
        "#chart-intents g.series").count() > 1
    # the agent comparison over time: one series per agent (the busiest six)
    assert page.locator("#chart-agent-trend g.series").count() == min(6, len(cards))
    check_screenshot(page, live.shots / "manager-dashboard.png")

    # a bar opens the search with its filter applied
    page.locator(f'#chart-agents a.bar-link[data-label="{agent}"]').click()
    page.wait_for_function("() => location.hash.startsWith('#/search?')")
    assert "agent_id=" + agent in page.url and "min_severity=low" in page.url
    assert page.locator("#f-agent_id").input_value() == agent
    assert page.locator("#f-min_severity").input_value() == "low"
    hit = page.locator(f'li.hit[data-call="{live.real_call}"]')
    hit.wait_for()
    expected = live.api("manager", "GET", "/search", params={"agent_id": agent, "min_severity": "low"})
    assert page.locator("#results li.hit").count() == expected["total"] >= 1
    check_screenshot(page, live.shots / "search-drilldown.png")
    # a scorecard row and a point drill down too
    page.go_back()
    page.locator(f'#scorecards tr[data-agent="{agent}"] td').first.click()
    page.wait_for_function("(a) => location.hash === `#/search?agent_id=${a}`", arg=agent)
    page.go_back()
    point = page.locator("#chart-calls a.point-link").first
    point.wait_for()
    period = point.locator("circle").get_attribute("data-period")
    point.click()
    page.wait_for_function("() => location.hash.startsWith('#/search?date_from=')")
    assert page.locator("#f-date_from").input_value() == period
    page.go_back()
    page.locator(f'#chart-agents a.bar-link[data-label="{agent}"]').click()

    # the call: the toned recording plays, from an evidence button or the timeline
    hit = page.locator(f'li.hit[data-call="{live.real_call}"]')
    hit.locator("a.open").click()
    page.locator("#timeline-svg path.wave").first.wait_for()
    src = page.locator("audio#player").get_attribute("src") or ""
    assert src.endswith(f"/calls/{live.real_call}/audio?redacted=true"), src
    threat = next(f for f in detail["flags"] if f["rule_id"] == "threat_or_abuse")
    page.locator(f'li.flag[data-key="{threat["key"]}"] button.evidence').first.click()
    page.wait_for_function("(s) => { const a = document.querySelector('#player');"
                           " return !a.paused && a.currentTime >= s - 0.05; }", arg=threat["start"])
    page.locator("h1").click()
    page.keyboard.press(" ")
    audio = [u for u in requests if "/audio" in u]
    assert audio and all(u.endswith("/audio?redacted=true") for u in audio), audio
    peaks = [u for u in requests if "/peaks" in u]
    assert peaks and all(u.endswith("?redacted=true") for u in peaks), peaks
    check_screenshot(page, live.shots / "manager-call.png")


def test_timeline_seeks_and_the_transcript_follows(page: Any, live: Live) -> None:
    detail = live.api("qa", "GET", f"/calls/{live.real_call}")
    utts = detail["transcript"]["utterances"]
    peaks = live.api("qa", "GET", f"/calls/{live.real_call}/peaks")
    sign_in(page, live, "qa")
    page.goto(f"{live.base}/ui/#/calls/{live.real_call}")
    svg = page.locator("#timeline-svg")
    svg.locator("path.wave").first.wait_for()
    page.wait_for_function("() => document.querySelector('#player').readyState >= 1")
    # a waveform per speaker (stereo: a channel each), a marker per piece of evidence,
    # the customer's sentiment, the metrics' overtalk and dead air
    assert peaks["split"] == "channel"
    assert sorted(svg.locator("path.wave").evaluate_all("els => els.map(e => e.dataset.role)")) == [
        "agent", "customer"]
    evidence = [e for f in detail["analysis"]["flags"] for e in f["evidence"]
                if e["utterance"] is not None]
    assert svg.locator("rect.flag-mark").count() == len(evidence) > 0
    customer_turns = sum(u["role"] == "customer" for u in utts)
    assert int(svg.locator("polyline.sentiment-curve").get_attribute("data-points")) == customer_turns
    assert svg.locator("rect.band.overtalk").count() == len(peaks["overtalk"])
    assert svg.locator("rect.band.silence").count() == len(peaks["silence"])
    # the analysis's hold stretches, one band each (as the peaks response carries them)
    assert peaks["hold"] == detail["analysis"]["holds"]
    assert svg.locator("rect.band.hold").count() == len(peaks["hold"])
    assert page.locator("#talk-bar").get_attribute("data-agent") == str(round(
        100 * detail["analysis"]["metrics"]["agent_talk_s"]
        / (detail["analysis"]["metrics"]["agent_talk_s"] + detail["analysis"]["metrics"]["customer_talk_s"])))
    assert page.locator("#metric-strip > div").count() >= 8 and page.locator("#metrics table").is_hidden()

    # a click at a point of the timeline plays from that second
    duration = float(svg.get_attribute("data-duration"))
    n = next(i for i, u in enumerate(utts[:-1]) if u["start"] > 10 and 2 <= u["end"] - u["start"] <= 8
             and utts[i + 1]["start"] >= u["end"])  # a turn of a few seconds, then the next
    target = utts[n]["start"] + 0.3
    page.evaluate("""() => { window.seeks = []; const a = document.querySelector('#player');
        a.addEventListener('seeking', () => window.seeks.push(a.currentTime)); }""")
    box = svg.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] * target / duration, box["y"] + box["height"] / 2)
    page.wait_for_function("() => window.seeks.length > 0")
    assert abs(page.evaluate("window.seeks[0]") - target) < duration / box["width"] + 0.05
    assert page.locator("li.utt.current").get_attribute("data-i") == str(n)
    # playing on, the highlight moves to the next utterance and stays in view
    page.wait_for_function("(i) => document.querySelector('li.utt.current')?.dataset.i === String(i)",
                           arg=n + 1, timeout=20_000)
    inside = page.evaluate("""() => {
        const li = document.querySelector('li.utt.current').getBoundingClientRect();
        const box = document.querySelector('#transcript').getBoundingClientRect();
        return li.top >= Math.max(0, box.top) - 1
          && li.bottom <= Math.min(innerHeight, box.bottom) + 1; }""")
    assert inside
    playhead = float(svg.locator("line.playhead").get_attribute("x1"))
    now = page.evaluate("document.querySelector('#player').currentTime")
    assert abs(playhead - 1000 * now / duration) < 15
    check_screenshot(page, live.shots / "call-timeline.png")
    # the arrow keys seek by five seconds
    page.keyboard.press(" ")
    page.wait_for_function("() => document.querySelector('#player').paused")
    before = page.evaluate("document.querySelector('#player').currentTime")
    page.evaluate("window.seeks = []")
    page.locator("#timeline-surface").focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => window.seeks.length > 0")
    assert abs(page.evaluate("window.seeks[0]") - min(duration, before + 5)) < 0.2


VISIBLE_TEXT = """() => {
    const skip = 'script, style, title, #lang, .text, .snippet, blockquote, #summary > p, .meta';
    const out = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
      const el = walker.currentNode.parentElement;
      const text = walker.currentNode.textContent.trim();
      if (!text || !el || el.closest(skip)) continue;
      if (!el.checkVisibility({ opacityProperty: true, visibilityProperty: true })) continue;
      out.push(text);
    }
    for (const s of document.querySelectorAll('select:not(#lang)')) {
      if (s.checkVisibility() && s.selectedOptions[0]) out.push(s.selectedOptions[0].textContent.trim());
    }
    return out; }"""
# Not words to translate: the brand, query operators, CSV, API, Cookie (so written in
# Chinese too), language codes.
ALLOWED = re.compile(r"\b(callqa|OR|NOT|CSV|API|Cookie|en|zh)\b")


def _english_leftovers(page: Any, data: set[str]) -> list[str]:
    found = []
    for text in page.evaluate(VISIBLE_TEXT):
        rest = text
        for value in sorted(data, key=len, reverse=True):  # ids, agents, teams: data, not UI
            rest = rest.replace(value, " ")
        rest = ALLOWED.sub(" ", rest)
        if re.search(r"[A-Za-z]{2,}", rest):
            found.append(text)
    return found


def test_chinese_every_page_without_english_leftovers(page: Any, live: Live) -> None:
    hits = live.api("qa", "GET", "/search", params={"size": 100})["hits"]
    data = {v for h in hits for v in (h["call_id"], h["agent_id"], h["team"], h["customer_id"]) if v}
    data |= {k for k in ("ui-qa", "ui-manager", "ui-admin")}
    flags = live.api("qa", "GET", f"/calls/{live.real_call}")["flags"]
    data |= {v for f in flags for v in (f["reviewer"], f["review_comment"]) if v}  # users' words
    sign_in(page, live, "qa")
    page.locator("li.hit").first.wait_for()
    assert len(_english_leftovers(page, data)) > 10  # the check sees the English interface
    page.locator("#lang").select_option("zh")
    page.locator("li.hit").first.wait_for()
    page.wait_for_function("() => document.querySelectorAll('#f-rule_id option').length > 1")
    pages = {"search": "#/search?q=法院", "call": f"#/calls/{live.real_call}",
             "queue": "#/queue?preset=any&status=all&who=all", "error": '#/search?q="未闭合'}
    ready = {"search": "li.hit mark", "call": "#timeline-svg path.wave", "queue": "#queue tbody tr",
             "error": "#q-error"}
    for name, hash_ in pages.items():
        page.goto(f"{live.base}/ui/{hash_}")
        page.locator(ready[name]).first.wait_for()
        assert _english_leftovers(page, data) == [], name
        if name == "call":
            check_screenshot(page, live.shots / "call-zh.png")
    assert "引号" in page.locator("#q-error").inner_text()
    sign_in_as_other(page, live, "manager")
    page.goto(f"{live.base}/ui/#/dashboard?interval=week")
    page.locator("#chart-agent-trend svg").wait_for()
    assert _english_leftovers(page, data) == []
    ticks = page.locator("#chart-calls .x-tick").all_text_contents()
    assert ticks and all(CJK.search(x) for x in ticks), ticks  # dates in the Chinese format
    check_screenshot(page, live.shots / "dashboard-zh.png")
    page.locator("#signout").click()
    page.locator("#signin-key").wait_for()
    assert _english_leftovers(page, data) == []


def test_query_error_is_said_under_the_box(page: Any, live: Live) -> None:
    sign_in(page, live, "qa")
    box = page.locator("#f-q")
    box.fill('"never closed')
    box.press("Enter")
    error = page.locator("#q-error")
    error.wait_for(state="visible")
    assert "quote is not closed" in error.inner_text()
    assert box.get_attribute("aria-invalid") == "true" and "q-error" in box.get_attribute("aria-describedby")
    under, above = error.bounding_box(), box.bounding_box()
    assert under and above and 0 <= under["y"] - (above["y"] + above["height"]) < 80
    assert abs(under["x"] - above["x"]) < 40
    assert page.locator("#results li").count() == 0 and not page.locator("#toast.show").count()
    check_screenshot(page, live.shots / "search-error.png")
    box.fill("court OR")
    box.press("Enter")
    page.locator("#q-error", has_text="OR needs").wait_for()
    box.fill("court")
    box.press("Enter")
    page.locator("li.hit").first.wait_for()
    assert error.is_hidden() and box.get_attribute("aria-invalid") is None


def test_phone_width_keeps_sign_out_and_results_usable(browser: Any, live: Live) -> None:
    context = browser.new_context(locale="en-GB", viewport={"width": 390, "height": 844},
                                  is_mobile=True, has_touch=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        def fits() -> None:
            wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
                .filter((e) => e.getBoundingClientRect().right > 391)
                .map((e) => `${e.tagName}#${e.id}.${e.className}`).slice(0, 8)""")
            assert page.evaluate("document.documentElement.scrollWidth") <= 390, wide
            for sel in ("#signout", "#nav"):
                b = page.locator(sel).bounding_box()
                assert b and b["x"] >= 0 and b["x"] + b["width"] <= 390, (sel, b)

        sign_in(page, live, "qa")
        page.locator("li.hit").first.wait_for()
        fits()
        # the filters fold away so the results are near the top
        assert page.locator("#filters").is_hidden()
        first = page.locator("li.hit a.open").first
        b = first.bounding_box()
        assert b and b["x"] + b["width"] <= 390 and b["y"] < 900, b
        check_screenshot(page, live.shots / "phone-search.png", size=(390, 844))
        page.locator("#filters-toggle").click()
        assert page.locator("#f-rule_id").is_visible()
        first.click()
        page.locator("#timeline-svg").wait_for()
        page.locator("#transcript li.utt").first.wait_for()
        fits()
        check_screenshot(page, live.shots / "phone-call.png", size=(390, 844))
        # a drill-down's filters apply while folded away, and the button says so
        page.goto(f"{live.base}/ui/#/search?team=collections&min_severity=low")
        page.locator("li.hit").first.wait_for()
        assert page.locator("#filters-toggle").inner_text().startswith("Filters (2 set)")
        sign_in_as_other(page, live, "manager")
        page.locator("#chart-agents svg").wait_for()
        fits()
        page.locator("#signout").click()
        page.locator("#signin-key").wait_for()
    finally:
        context.close()


def test_no_recording_means_no_play_buttons(page: Any, live: Live) -> None:
    """An imported transcript has nothing to play: no player, no waveform, and its
    evidence is shown without a play button (for every role)."""
    doc = {"format": "callqa.transcript/1", "metadata": {
        "call_id": "ui-imported", "agent_id": "A1006", "team": "collections", "language": "en"},
        "utterances": [
            {"role": "agent", "start": 0.5, "end": 4.0,
             "text": "This is Evergreen finance collections, this call is being recorded."},
            {"role": "customer", "start": 4.5, "end": 7.0, "text": "I can't pay until next month."},
            {"role": "agent", "start": 7.5, "end": 13.0, "text": "If this isn't paid by Friday, "
             "we'll take you to court, and your credit will be ruined forever."}]}
    made = httpx.post(f"{live.base}/transcripts", json=doc, timeout=60,
                      headers={"X-API-Key": live.keys["qa"]})
    assert made.status_code in (200, 201), made.text
    deadline = time.monotonic() + 60
    while (detail := live.api("qa", "GET", "/calls/ui-imported"))["call"]["status"] != "indexed":
        assert time.monotonic() < deadline, detail["call"]["status"]
        time.sleep(0.25)
    assert detail["audio_url"] is None
    said = [e for f in detail["analysis"]["flags"] for e in f["evidence"] if e["utterance"] is not None]
    assert said, "the import must raise a flag on an utterance"
    for role in ("qa", "manager"):
        if role == "manager":
            sign_in_as_other(page, live, "manager")
        else:
            sign_in(page, live, "qa")
        page.goto(f"{live.base}/ui/#/calls/ui-imported")
        page.locator("li.flag").first.wait_for()
        page.locator("#timeline-svg").wait_for()
        assert page.locator("#no-audio").is_visible() and page.locator("audio").count() == 0
        assert page.locator("button.evidence").count() == 0
        assert page.locator(".evidence.no-play").count() == len(said)
        assert page.locator("#timeline-svg path.wave").count() == 0
        assert page.locator("#timeline-svg rect.flag-mark").count() == len(said)


def test_reviewer_day_with_evaluation_form(page: Any, live: Live) -> None:
    """queue -> call -> timeline seek -> flag confirm -> form override with comment ->
    queue shows done;
    the intent/sentiment correction; the manager's form scores."""
    call = SCRIPTED[3]  # zh-11: the debt told to the customer's wife
    auto = live.api("qa", "GET", f"/calls/{call}/evaluation")["auto"]
    dead_air = next(a for a in auto["answers"] if a["question_id"] == "no_dead_air")
    flipped = "no" if dead_air["value"] == "yes" else "yes"
    sign_in(page, live, "qa")
    page.goto(f"{live.base}/ui/#/queue?preset=any&status=open&who=all")
    row = page.locator(f'#queue tr[data-call="{call}"]')
    row.wait_for()
    row.locator("a.open").click()
    page.locator("li.flag").first.wait_for()
    # the timeline: a click half way along plays from the middle of the call
    svg = page.locator("#timeline-svg")
    svg.wait_for()
    page.wait_for_function("() => document.querySelector('#player').readyState >= 1")
    page.evaluate("""() => { window.seeks = []; const a = document.querySelector('#player');
        a.addEventListener('seeking', () => window.seeks.push(a.currentTime)); }""")
    duration, box = float(svg.get_attribute("data-duration")), svg.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function("() => window.seeks.length > 0")
    assert abs(page.evaluate("window.seeks[0]") - duration / 2) < duration / box["width"] + 0.05
    page.evaluate("document.querySelector('#player').pause()")
    for key in page.locator("li.flag").evaluate_all("els => els.map(e => e.dataset.key)"):
        page.locator(f'li.flag[data-key="{key}"] button.confirm').click()
        page.wait_for_function("(k) => document.querySelector(`li.flag[data-key=\"${k}\"]`)"
                               "?.dataset.review === 'confirmed'", arg=key)
    # the form: automatic answers with their evidence
    question = page.locator('#evaluation li.q[data-q="no_dead_air"]')
    question.wait_for()
    assert page.locator("#evaluation li.q").count() == len(auto["answers"])
    assert page.locator("#form-auto-score").inner_text() == str(auto["score"]).removesuffix(".0")
    assert "Longest silence" in question.locator(".q-evidence").inner_text()
    flagged = page.locator('#evaluation li.q[data-q="no_third_party_disclosure"]')
    assert flagged.get_attribute("data-value") == "no"
    assert flagged.locator("button.evidence").count() >= 1  # play from the flag
    # an override without a comment is refused, with one it is saved
    question.locator("select.q-value").select_option(flipped)
    page.locator("#form-save").click()
    page.locator("#form-status", has_text="comment is required").wait_for()
    question.locator("input.q-comment").fill("silence was the customer fetching a card")
    page.locator('#evaluation li.q[data-q="greeting_and_name"] select.q-value').select_option("yes")
    page.locator("#form-submit").click()
    page.locator("#toast", has_text="Evaluation finished").wait_for()
    overridden = page.locator('#evaluation li.q[data-q="no_dead_air"]')
    overridden.locator(".q-by", has_text="fetching a card").wait_for()
    assert overridden.get_attribute("data-overridden") == "1"
    final = live.api("qa", "GET", f"/calls/{call}/evaluation")["final"]
    assert final["reviewer"] == "ui-qa" and final["submitted_at"]
    assert page.locator("#form-final-score").inner_text().startswith(
        str(final["score"]).removesuffix(".0"))
    # correct the call's intent and sentiment
    page.locator("#label-intent").select_option("collection_complaint")
    page.locator("#label-sentiment").select_option("negative")
    page.locator("#labels-save").click()
    page.locator("#toast", has_text="Correction saved").wait_for()
    labels = live.api("qa", "GET", f"/calls/{call}/labels")
    assert labels["intent"] == "collection_complaint" and labels["sentiment"] == "negative"
    page.locator("#evaluation").scroll_into_view_if_needed()
    check_screenshot(page, live.shots / "call-evaluation.png")
    # in Chinese the panel has no English leftovers (ids are on hover only)
    page.locator("#lang").select_option("zh")
    page.locator("#evaluation h2", has_text="质检评分").wait_for()
    page.locator('#evaluation li.q[data-q="no_dead_air"] .q-by').wait_for()
    texts = page.evaluate("""() => [...document.querySelectorAll(
        '#evaluation h2, #evaluation dt, #evaluation legend, #evaluation .q-text, #evaluation .q-head .badge,'
        + ' #evaluation .q-evidence > span, #evaluation div.q-evidence[data-source=metric],'
        + ' #evaluation div.q-evidence[data-source=sentiment], #evaluation label > span,'
        + ' #evaluation button:not(.evidence), #evaluation option, #labels h2, #labels label > span,'
        + ' #labels button')].map(el => el.textContent.trim()).filter(Boolean)""")
    assert len(texts) > 60
    leftovers = [x for x in texts if LATIN.search(x) and not CJK.search(x)]
    assert leftovers == [], leftovers
    page.locator("#lang").select_option("en")
    page.locator("#evaluation h2", has_text="Evaluation").wait_for()
    # the queue shows the call done
    page.goto(f"{live.base}/ui/#/queue?preset=any&status=done&who=all")
    page.wait_for_function("(c) => document.querySelector(`#queue tr[data-call=\"${c}\"]`)"
                           "?.dataset.status === 'done'", arg=call)
    # a second reviewer disagrees on one question: calibration on the dashboard
    live.api("admin", "PUT", f"/calls/{call}/evaluation/answers", json={"answers": [
        {"question_id": "greeting_and_name", "value": "no", "comment": "no staff number"}]})
    # the manager sees form scores by agent and team over time
    sign_in_as_other(page, live, "manager")
    page.locator("#form-score-table tbody tr").first.wait_for()
    page.locator('#form-calibration tbody tr[data-q="greeting_and_name"]').wait_for()
    assert page.locator("#form-calibration tbody tr").first.get_attribute("data-q") == \
        "greeting_and_name"  # least agreed first
    scores = live.api("manager", "GET", "/forms/consumer_finance_qa/scores")["points"]
    agents = {p["key"] for p in scores}
    assert page.locator("#form-score-table tbody tr").count() == len(agents)
    assert page.locator("#chart-form-agents svg circle").count() == len(scores)
    page.locator("#chart-form-teams svg").wait_for()
    check_screenshot(page, live.shots / "dashboard-form-scores.png")
