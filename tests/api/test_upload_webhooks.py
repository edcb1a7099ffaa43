"""Uploads of real audio (refusals store nothing) and signed webhooks to a real local
HTTP server, with retries and the delivery log."""

from __future__ import annotations

import json
import threading
import wave
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from core import webhooks
from core.db import AuditEntry, Call, WebhookDelivery, session_scope
from tests.api.conftest import World, write_wav
from tests.conftest import RENDERED


class Receiver:
    """Records every POST; answers `plan` status codes in turn, then 200."""

    def __init__(self, plan: list[int] | None = None) -> None:
        self.plan = list(plan or [])
        self.received: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with outer.lock:
                    outer.received.append({"path": self.path, "headers": dict(self.headers),
                                           "body": body})
                    code = outer.plan.pop(0) if outer.plan else 200
                self.send_response(code)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


SECRET = "s3cret-for-tests"


def _nothing_stored(w: World, calls_before: int) -> None:
    with session_scope() as db:
        assert db.query(Call).count() == calls_before
    originals = w.data_dir / "objects" / "originals"
    assert len([p for p in originals.rglob("*") if p.is_file()]) == calls_before
    assert not any((w.data_dir / "tmp").glob("upload-*"))


def test_refused_uploads_store_nothing(fresh_world: World, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from core.settings import reset_settings

    w = fresh_world
    qa = w.as_("qa")
    before = len(w.calls)
    monkeypatch.setenv("CALLQA_MAX_UPLOAD_BYTES", "20000")
    reset_settings()
    big = write_wav(tmp_path / "big.wav", seconds=3.0, seed=99)  # 48 kB
    # Content-Length over the limit: refused before the body is read
    r = w.client.post("/calls", headers=qa, files={"file": ("big.wav", big.read_bytes())})
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
    assert r.json()["error"]["detail"]["limit_bytes"] == 20000
    _nothing_stored(w, before)

    # No Content-Length (chunked): cut off while streaming
    boundary = "b0undary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"big.wav\"\r\nContent-Type: audio/wav\r\n\r\n").encode()
    sent = {"chunks": 0}

    async def stream() -> AsyncIterator[bytes]:
        yield head
        for _ in range(200):  # 200 x 4 kB: far past 20 kB + slack
            sent["chunks"] += 1
            yield b"\0" * 4096
        yield f"\r\n--{boundary}--\r\n".encode()

    async def post() -> httpx.Response:
        # httpx's ASGI transport hands the body over chunk by chunk, as a server does.
        transport = httpx.ASGITransport(app=w.client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return await client.post("/calls", content=stream(), headers={
                **qa, "Content-Type": f"multipart/form-data; boundary={boundary}"})

    r = anyio.run(post)
    assert r.status_code == 413, r.text
    assert "content-length" not in {k.lower() for k in r.request.headers}
    assert sent["chunks"] < 40  # the server stopped reading soon after the limit
    _nothing_stored(w, before)

    # Within the limit but not audio, empty, silent, bad metadata: 422 with the reason
    silent = tmp_path / "silent.wav"

    with wave.open(str(silent), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * 8800)
    small = write_wav(tmp_path / "ok.wav", seconds=1.2, seed=5)
    cases = [({"file": ("notes.wav", b"this is not audio")}, {}, "not_audio"),
             ({"file": ("empty.wav", b"")}, {}, "empty"),
             ({"file": ("silent.wav", silent.read_bytes())}, {}, "silent"),
             ({"file": ("ok.wav", small.read_bytes())}, {"started_at": "yesterday"},
              "validation_error"),
             ({"file": ("ok.wav", small.read_bytes())}, {"direction": "sideways"},
              "validation_error"),
             ({"file": ("ok.wav", small.read_bytes())}, {"channel_map": "agent,customer"},
              "bad_metadata"),
             ({"file": ("ok.wav", small.read_bytes())}, {"call_id": "../../etc"},
              "validation_error"),
             ({"file": ("ok.wav", small.read_bytes())}, {"speakers": "0"}, "validation_error"),
             ({"file": ("ok.wav", small.read_bytes())}, {"speakers": "two"},
              "validation_error")]
    for files, data, code in cases:
        r = w.client.post("/calls", headers=qa, files=files, data=data)
        assert r.status_code == 422, (code, r.text)
        assert r.json()["error"]["code"] == code, r.text
        assert "/tmp" not in r.json()["error"]["message"]
    r = w.client.post("/calls", headers=qa, data={"agent_id": "A1"})
    assert r.status_code == 422 and r.json()["error"]["detail"][0]["loc"] == ["body", "file"]
    r = w.client.post("/calls", headers=qa, files={"file": ("ok.wav", small.read_bytes())},
                      data={"call_id": w.calls[0], "process": "false"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "call_id_taken"
    _nothing_stored(w, before)
    metrics = w.client.get("/metrics", headers=qa).text
    assert 'callqa_uploads_total{outcome="not_audio"} 1.0' in metrics


def test_upload_real_call_processes_and_sends_signed_webhooks(
        fresh_world: World, rendered: Path, receiver: Receiver,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from core.settings import reset_settings

    w = fresh_world
    monkeypatch.setenv("CALLQA_WEBHOOK_URLS", receiver.url())
    monkeypatch.setenv("CALLQA_WEBHOOK_SECRET", SECRET)
    reset_settings()
    audio = rendered / "stereo" / f"{RENDERED[1]}.wav"  # en-10: a critical threat
    meta = json.loads(audio.with_suffix(".json").read_text())
    form = {k: meta[k] for k in ("agent_id", "team", "customer_id", "started_at", "direction")}
    r = w.client.post("/calls", headers=w.as_("qa"), data={**form, "batch_id": "b-1"},
                      files={"file": ("2026-11-03 call.wav", audio.read_bytes(), "audio/wav")})
    assert r.status_code == 201, r.text
    call_id = r.json()["call_id"]
    assert r.json()["outcome"] == "accepted" and call_id.startswith("c-")

    # TestClient returns once the background pipeline (eager, tiny.en) has run.
    detail = w.client.get(f"/calls/{call_id}", headers=w.as_("qa")).json()
    assert detail["call"]["status"] == "indexed", detail["call"]
    assert [s["status"] for s in detail["stages"]] == ["done", "done", "done"]
    assert detail["call"]["agent_id"] == meta["agent_id"] and detail["call"]["batch_id"] == "b-1"
    assert detail["call"]["source_name"] == "2026-11-03 call.wav"
    assert {u["role"] for u in detail["transcript"]["utterances"]} == {"agent", "customer"}
    rule_ids = {f["rule_id"] for f in detail["flags"]}
    assert "threat_or_abuse" in rule_ids
    batch = w.client.get("/calls", params={"batch_id": "b-1"}, headers=w.as_("qa")).json()
    assert [c["call_id"] for c in batch["items"]] == [call_id]

    assert webhooks.wait_idle(30)
    events = [json.loads(x["body"]) for x in receiver.received]
    kinds = sorted(e["event"] for e in events)
    critical = [f for f in detail["flags"] if f["severity"] == "critical"]
    assert kinds == sorted(["call.completed"] + ["flag.critical"] * len(critical))
    for got in receiver.received:
        header = got["headers"]["X-Callqa-Signature"]
        assert webhooks.verify(SECRET, header, got["body"])
        assert not webhooks.verify(SECRET, header, got["body"] + b" ")
        assert not webhooks.verify("other", header, got["body"])
    completed = next(e for e in events if e["event"] == "call.completed")
    assert completed["data"]["call_id"] == call_id and "utterances" not in completed["data"]
    flagged = next(e for e in events if e["event"] == "flag.critical")
    assert flagged["data"]["flag_key"] in {f["key"] for f in critical}
    log = w.client.get("/webhooks/deliveries", headers=w.as_("admin")).json()
    assert log["total"] == len(events)
    assert {d["status"] for d in log["items"]} == {"delivered"}

    # Stereo: fixing the roles also fixes the channel map (a re-transcription keeps it).
    fixed = w.client.patch(f"/calls/{call_id}/roles", json={"swap": True}, headers=w.as_("qa"))
    assert fixed.status_code == 200, fixed.text
    with session_scope() as db:
        call = db.get(Call, call_id)
        assert call is not None and call.channel_map == ["customer", "agent"]

    # Same audio again: the existing call, nothing new stored.
    again = w.client.post("/calls", headers=w.as_("qa"),
                          files={"file": ("copy.wav", audio.read_bytes())})
    assert again.status_code == 200 and again.json() == {
        **again.json(), "outcome": "duplicate", "call_id": call_id}
    with session_scope() as db:
        assert db.query(AuditEntry).filter_by(action="upload").count() == 1


def test_webhook_retries_with_backoff_then_fails(fresh_world: World,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from core.settings import reset_settings

    flaky, dead = Receiver([500, 503]), Receiver([500] * 10)
    try:
        monkeypatch.setenv("CALLQA_WEBHOOK_URLS", f"{flaky.url()},{dead.url()}")
        monkeypatch.setenv("CALLQA_WEBHOOK_SECRET", SECRET)
        monkeypatch.setenv("CALLQA_WEBHOOK_BACKOFF_S", "0.05")
        monkeypatch.setenv("CALLQA_WEBHOOK_MAX_ATTEMPTS", "4")
        reset_settings()
        r = fresh_world.client.post("/webhooks/test", headers=fresh_world.as_("admin"))
        assert r.status_code == 202, r.text
        assert webhooks.wait_idle(30)
        with session_scope() as db:
            rows = {row.url: row for row in db.query(WebhookDelivery)}
        assert rows[flaky.url()].status == "delivered" and rows[flaky.url()].attempts == 3
        assert rows[dead.url()].status == "failed" and rows[dead.url()].attempts == 4
        assert rows[dead.url()].response_code == 500
        assert len(flaky.received) == 3 and len(dead.received) == 4
        # every attempt is signed, each with its own timestamp
        assert all(webhooks.verify(SECRET, x["headers"]["X-Callqa-Signature"], x["body"])
                   for x in flaky.received + dead.received)
        failed = fresh_world.client.get("/webhooks/deliveries", params={"status": "failed"},
                                        headers=fresh_world.as_("admin")).json()
        assert [d["url"] for d in failed["items"]] == [dead.url()]
        dead.plan.clear()  # the receiver is fixed: retry by hand
        retry = fresh_world.client.post(f"/webhooks/deliveries/{failed['items'][0]['id']}/retry",
                                        headers=fresh_world.as_("admin"))
        assert retry.status_code == 202
        assert webhooks.wait_idle(30)
        with session_scope() as db:
            row = db.get(WebhookDelivery, failed["items"][0]["id"])
            assert row is not None and row.status == "delivered" and row.attempts == 1
    finally:
        flaky.close()
        dead.close()


def test_signature_and_backoff_units() -> None:
    body = b'{"event":"ping"}'
    header = webhooks.sign(SECRET, 1_700_000_000, body)
    assert webhooks.verify(SECRET, header, body, now=1_700_000_100)
    assert not webhooks.verify(SECRET, header, body, now=1_700_000_000 + 301)  # replayed
    assert not webhooks.verify(SECRET, "garbage", body)
    assert [webhooks.backoff(n, 2.0) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]
    assert webhooks.backoff(50, 2.0) == 3600.0


def test_celery_task_delivers_and_gives_up(fresh_world: World,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The `callqa.webhook` task (what a worker runs with a broker): one attempt per run,
    retried until delivered or out of attempts."""
    from celery.exceptions import Retry

    from core.celery_app import celery_app
    from core.settings import reset_settings

    ok, dead = Receiver(), Receiver([500] * 10)
    try:
        monkeypatch.setenv("CALLQA_WEBHOOK_MAX_ATTEMPTS", "3")
        monkeypatch.setenv("CALLQA_WEBHOOK_BACKOFF_S", "2")
        reset_settings()
        assert celery_app.conf.task_routes["callqa.webhook"] == {"queue": "cpu"}
        with session_scope() as db:
            rows = [WebhookDelivery(event="ping", url=r.url(), payload=webhooks.envelope(
                "ping", {}), status="pending", attempts=0) for r in (ok, dead)]
            db.add_all(rows)
            db.flush()
            ids = [r.id for r in rows]
        countdowns: dict[int, list[float]] = {i: [] for i in ids}
        for delivery_id in ids:
            for _ in range(10):  # a worker runs the task again when it asks for a retry
                try:
                    webhooks.webhook_task.apply(args=[delivery_id])
                    break
                except Retry as retry:
                    countdowns[delivery_id].append(float(retry.when))  # type: ignore[arg-type]
        assert countdowns == {ids[0]: [], ids[1]: [2.0, 4.0]}  # back-off doubles
        with session_scope() as db:
            done, failed = (db.get(WebhookDelivery, i) for i in ids)
            assert done is not None and (done.status, done.attempts) == ("delivered", 1)
            assert failed is not None and (failed.status, failed.attempts) == ("failed", 3)
        assert len(ok.received) == 1 and len(dead.received) == 3
    finally:
        ok.close()
        dead.close()


def test_pending_deliveries_resume_when_the_api_starts(fresh_world: World,
                                                       receiver: Receiver) -> None:
    """A process that stopped with deliveries pending (no broker): the next start sends them."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    with session_scope() as db:
        row = WebhookDelivery(event="ping", url=receiver.url(), status="pending", attempts=0,
                              payload=webhooks.envelope("ping", {}))
        db.add(row)
        db.flush()
        delivery_id = row.id
    with TestClient(create_app()):
        assert webhooks.wait_idle(30)
    with session_scope() as db:
        done = db.get(WebhookDelivery, delivery_id)
        assert done is not None and done.status == "delivered"
    assert len(receiver.received) == 1
