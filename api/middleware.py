"""ASGI middleware: the upload size limit (enforced while the body streams in) and
Prometheus request metrics."""

from __future__ import annotations

import json
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import ApiError, error_response
from core.settings import get_settings

# Form fields beside the file (metadata) may add this much to the body.
FORM_SLACK = 64 * 1024


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("callqa_http_requests_total", "HTTP requests by route and status",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("callqa_http_request_seconds", "HTTP request latency",
                                 ["method", "route"], registry=self.registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.uploads = Counter("callqa_uploads_total", "Uploads by outcome (accepted, duplicate, "
                               "or the refusal reason)", ["outcome"], registry=self.registry)
        self.calls = Gauge("callqa_calls", "Registered calls by processing status", ["status"],
                           registry=self.registry)
        self.webhooks = Gauge("callqa_webhook_deliveries", "Webhook deliveries by status",
                              ["status"], registry=self.registry)
        self.index_docs = Gauge("callqa_index_documents", "Calls in the search index",
                                registry=self.registry)


class _TooLarge(Exception):
    pass


def _check_key(headers: dict[bytes, bytes]) -> Response | None:
    """An upload's key and role are checked before its body is read: no one without a
    qa or admin key can make the server spool a file."""
    from http.cookies import CookieError, SimpleCookie

    from api.deps import SESSION_COOKIE, UI_HEADER, UPLOAD_ROLES, check_role, principal_from

    key = headers.get(b"x-api-key", b"").decode("latin-1")
    auth = headers.get(b"authorization", b"").decode("latin-1")
    if not key and auth.lower().startswith("bearer "):
        key = auth[7:].strip()
    if not key and b"cookie" in headers:  # the web UI's session works here as everywhere
        try:
            jar = SimpleCookie(headers[b"cookie"].decode("latin-1"))
        except CookieError:
            jar = SimpleCookie()
        if SESSION_COOKIE in jar:
            if headers.get(UI_HEADER.lower().encode(), b"") != b"1":
                return error_response(403, "forbidden", f"requests that change data with the "
                                      f"session cookie need the {UI_HEADER}: 1 header")
            key = jar[SESSION_COOKIE].value
    try:
        check_role(principal_from(key or None), UPLOAD_ROLES)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.detail, exc.headers)
    return None


class UploadLimit:
    """Refuses a POST /calls body larger than CALLQA_MAX_UPLOAD_BYTES (plus a little for
    the form fields) with 413: at once from Content-Length, else as soon as the
    streamed body passes the limit. The route never sees the rest, and nothing is stored
    (the multipart parser's spool files are discarded)."""

    def __init__(self, app: ASGIApp, path: str = "/calls") -> None:
        self.app, self.path = app, path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        limit = get_settings().max_upload_bytes
        allowed = limit + FORM_SLACK
        headers = dict(scope.get("headers") or [])
        refusal = await run_in_threadpool(_check_key, headers)
        if refusal is not None:  # before a byte of the body is read
            await refusal(scope, receive, send)
            return
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > allowed:
            await self._refuse(send, limit, int(declared))
            return
        seen = 0
        over = False
        started = False

        async def counting_receive() -> Message:
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > allowed:
                    over = True
                    raise _TooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if over:  # whatever the app answers to a cut-off body is replaced by the 413
                return
            started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except _TooLarge:
            pass
        except Exception:
            if not over:
                raise
        if over and not started:
            await self._refuse(send, limit, seen)

    @staticmethod
    async def _refuse(send: Send, limit: int, size: int) -> None:
        body = json.dumps({"error": {
            "code": "too_large",
            "message": f"upload is larger than the {limit} byte limit (CALLQA_MAX_UPLOAD_BYTES)",
            "detail": {"limit_bytes": limit, "received_bytes_at_least": size}}}).encode()
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


class RequestMetrics:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 500}
        started = time.perf_counter()

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route: Any = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            self.metrics.requests.labels(method, template, str(status["code"])).inc()
            self.metrics.latency.labels(method, template).observe(time.perf_counter() - started)


# Every response gets these unless it set its own (the web UI's static files carry theirs,
# the audio route a sandbox). The API answers JSON and files: nothing of it needs to run
# scripts, so the default policy allows nothing at all.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# The interactive docs (/docs, /redoc): their scripts, styles and images are served from
# the package (api.app, offline), plus FastAPI's inline bootstrap script; ReDoc runs a
# web worker from a blob.
DOCS_CSP = ("default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "font-src 'self' data:; img-src 'self' data:; connect-src 'self'; worker-src blob:; "
            "frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
DOCS_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc")


class SecurityHeaders:
    """nosniff, a Content-Security-Policy, no referrer and no framing on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = (DOCS_CSP if scope.get("path") in DOCS_PATHS else API_CSP).encode()

        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {name.lower() for name, _ in headers}
                for name, value in ((b"content-security-policy", csp),
                                    (b"x-content-type-options", b"nosniff"),
                                    (b"referrer-policy", b"no-referrer"),
                                    (b"x-frame-options", b"DENY")):
                    if name not in present:
                        headers.append((name, value))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, add_headers)
