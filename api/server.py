"""The HTTP server's own limits, which an ASGI app cannot set: a request's headers must
arrive within CALLQA_API_HEADER_TIMEOUT_S (slowloris), and its body may not stall for
more than CALLQA_API_BODY_IDLE_TIMEOUT_S between chunks (slow POST). `callqa serve`
runs uvicorn's h11 protocol with these."""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from core.settings import get_settings


class TimedH11Protocol(H11Protocol):
    """Closes a connection whose request line and headers are not complete within the
    header timeout of its first byte (or of connecting): uvicorn alone waits forever."""

    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer = None
        self._arm()

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(get_settings().api_header_timeout_s,
                                                      self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:
            self._arm()
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._disarm()

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


class _Stalled(Exception):
    pass


class BodyTimeout:
    """408 when a request body stalls longer than the idle timeout between two chunks.
    Only the body is timed: after it, `receive` waits for the disconnect as long as the
    app likes (streaming responses listen for it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        idle_s = get_settings().api_body_idle_timeout_s
        state: dict[str, Any] = {"body_done": False, "started": False, "stalled": False}

        async def timed_receive() -> Message:
            if state["body_done"]:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), idle_s)
            except TimeoutError:
                state["stalled"] = True
                raise _Stalled() from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                state["body_done"] = True
            return message

        async def guarded_send(message: Message) -> None:
            if state["stalled"]:  # whatever the app makes of the cut-off body (FastAPI: a
                return  # 400 "error parsing the body") is replaced by the 408
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, timed_receive, guarded_send)
        except _Stalled:
            pass
        except Exception:
            if not state["stalled"]:
                raise
        if state["stalled"] and not state["started"]:
            body = (b'{"error":{"code":"request_timeout","message":"the request body '
                    b'stalled; send it without pauses","detail":null}}')
            await send({"type": "http.response.start", "status": 408, "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
            await send({"type": "http.response.body", "body": body})
