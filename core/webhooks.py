"""Webhooks: call.completed and flag.critical, signed, retried with back-off, logged.

Every delivery (one event to one URL) is a row in `webhook_deliveries`, created
`pending` before the first attempt and updated after each one (attempts, last
response code or error), ending `delivered` or `failed`.

Signature: header `X-Callqa-Signature: t=<unix seconds>,v1=<hex>` where hex is
HMAC-SHA256(secret, f"{t}.{raw body}"). A receiver recomputes it over the raw body,
compares in constant time and rejects old timestamps (replays); see docs/api.md.

Delivery runs as the thin Celery task `callqa.webhook` (queue `cpu`), one attempt
per run, retried with a countdown that doubles each time. With no broker (eager
mode) it runs in-process on a background thread, sleeping between attempts, so
the pipeline stage that raised the event is not held up by a slow receiver.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select

from core.celery_app import celery_app
from core.db import WebhookDelivery, session_scope, utcnow
from core.settings import get_settings

log = logging.getLogger("callqa.webhooks")

EVENTS = ("call.completed", "flag.critical", "ping")
SIGNATURE_HEADER = "X-Callqa-Signature"
EVENT_HEADER = "X-Callqa-Event"
DELIVERY_HEADER = "X-Callqa-Delivery"
TOLERANCE_S = 300

_threads: set[threading.Thread] = set()
_threads_lock = threading.Lock()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str, body: bytes, now: float | None = None,
           tolerance_s: int = TOLERANCE_S) -> bool:
    """What a receiver does: recompute over the raw body, constant-time compare, and
    refuse a timestamp older (or newer) than `tolerance_s`."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((now or time.time()) - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def backoff(attempt: int, base: float) -> float:
    """Delay before attempt `attempt + 1`: base, 2 base, 4 base, ... (capped at an hour)."""
    return float(min(base * (2 ** max(attempt - 1, 0)), 3600.0))


def envelope(event: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": uuid.uuid4().hex, "event": event, "created_at": utcnow().isoformat(),
            "data": data}


def call_events(call_id: str, document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """call.completed for the call and one flag.critical per critical flag. No transcript
    text and no personal data: receivers fetch what their key allows through the API."""
    fields = ("agent_id", "team", "customer_id", "started_at", "language", "duration",
              "primary_intent", "sentiment", "risk", "rule_ids", "flag_count", "max_severity",
              "review_status", "outcome")
    events = [envelope("call.completed", {"call_id": call_id, "status": "indexed",
                                          **{f: document.get(f) for f in fields}})]
    for flag in document.get("flags", []):
        if flag.get("severity") == "critical":
            events.append(envelope("flag.critical", {
                "call_id": call_id, "flag_key": flag["key"], "rule_id": flag["rule_id"],
                "title": flag.get("title"), "severity": "critical", "start": flag.get("start"),
                "agent_id": document.get("agent_id"), "team": document.get("team"),
                "customer_id": document.get("customer_id")}))
    return events


def queue(events: list[dict[str, Any]], urls: list[str] | None = None) -> list[int]:
    """A pending delivery row per event and URL, then dispatch each. Returns the row ids."""
    urls = get_settings().webhook_url_list if urls is None else urls
    if not urls or not events:
        return []
    with session_scope() as db:
        rows = [WebhookDelivery(event=e["event"], url=url, payload=e, status="pending", attempts=0)
                for e in events for url in urls]
        db.add_all(rows)
        db.flush()
        ids = [r.id for r in rows]
    for delivery_id in ids:
        dispatch(delivery_id)
    return ids


def resume_pending() -> int:
    """In-process mode only: deliveries left pending by a process that stopped are sent
    again (with a broker, their tasks are still queued)."""
    if not celery_app.conf.task_always_eager:
        return 0
    with session_scope() as db:
        ids = list(db.scalars(select(WebhookDelivery.id).where(WebhookDelivery.status == "pending")))
    for delivery_id in ids:
        dispatch(delivery_id)
    return len(ids)


def notify_call_indexed(call_id: str, document: Mapping[str, Any]) -> list[int]:
    """Called by the index stage once a call is indexed. Never fails the stage."""
    try:
        return queue(call_events(call_id, document))
    except Exception:
        log.exception("webhook queueing failed", extra={"call_id": call_id})
        return []


def dispatch(delivery_id: int) -> None:
    if celery_app.conf.task_always_eager:
        thread = threading.Thread(target=_deliver_in_process, args=(delivery_id,),
                                  name=f"webhook-{delivery_id}", daemon=True)
        with _threads_lock:
            _threads.add(thread)
        thread.start()
    else:
        webhook_task.apply_async(args=[delivery_id])


def _deliver_in_process(delivery_id: int) -> None:
    try:
        while True:
            delay = attempt(delivery_id)
            if delay is None:
                return
            time.sleep(delay)
    except Exception:
        log.exception("webhook delivery crashed", extra={"delivery_id": delivery_id})
    finally:
        with _threads_lock:
            _threads.discard(threading.current_thread())


def wait_idle(timeout: float = 30.0) -> bool:
    """Wait for in-process deliveries (eager mode) to finish; True if none is left."""
    deadline = time.monotonic() + timeout
    while True:
        with _threads_lock:
            pending = list(_threads)
        if not pending:
            return True
        for thread in pending:
            thread.join(max(0.0, deadline - time.monotonic()))
        if time.monotonic() >= deadline:
            with _threads_lock:
                return not _threads


@dataclass
class _Outcome:
    code: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.code is not None and 200 <= self.code < 300


def _post(url: str, payload: dict[str, Any], delivery_id: int, timeout: float) -> _Outcome:
    settings = get_settings()
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "callqa-webhooks/1",
               EVENT_HEADER: payload.get("event", ""), DELIVERY_HEADER: str(delivery_id)}
    if settings.webhook_secret:
        headers[SIGNATURE_HEADER] = sign(settings.webhook_secret, int(time.time()), body)
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=timeout,
                              follow_redirects=False)
    except httpx.HTTPError as exc:
        return _Outcome(None, f"{type(exc).__name__}: {exc}"[:500])
    error = None if 200 <= response.status_code < 300 else response.text[:500]
    return _Outcome(response.status_code, error)


def attempt(delivery_id: int) -> float | None:
    """One attempt. Returns the delay before the next one, or None when done (delivered,
    failed for good, or the row is gone)."""
    settings = get_settings()
    with session_scope() as db:
        row = db.get(WebhookDelivery, delivery_id)
        if row is None or row.status != "pending":
            return None
        url, payload = row.url, dict(row.payload)
    outcome = _post(url, payload, delivery_id, settings.webhook_timeout_s)
    with session_scope() as db:
        row = db.get(WebhookDelivery, delivery_id)
        if row is None:
            return None
        row.attempts = (row.attempts or 0) + 1
        row.response_code, row.error = outcome.code, outcome.error
        if outcome.ok:
            row.status, row.delivered_at = "delivered", utcnow()
        elif row.attempts >= settings.webhook_max_attempts:
            row.status = "failed"
        attempts, status = row.attempts, row.status
    log.info("webhook attempt", extra={"delivery_id": delivery_id, "url": url,
                                       "event": payload.get("event"), "code": outcome.code,
                                       "attempt": attempts, "status": status})
    if status != "pending":
        return None
    return backoff(attempts, settings.webhook_backoff_s)


@celery_app.task(name="callqa.webhook", bind=True, acks_late=True, max_retries=None)
def webhook_task(self: Any, delivery_id: int) -> str:
    delay = attempt(delivery_id)
    if delay is not None:
        raise self.retry(countdown=delay)
    return str(delivery_id)
