"""The HTTP server under the API: limits on connections and on slow clients, and aiohttp's own
errors (a request it cannot parse) in the CONTRACT §3 error shape.

aiohttp answers a request line it cannot parse, an unknown method, an over-long header or an
unsupported `Content-Encoding` itself, as plain text, before any handler or middleware runs,
and it never closes a connection that trickles its request head. `GatewayRequestHandler`
(aiohttp's protocol, one per connection) closes those gaps:

- a connection past `http.max_connections` is answered 503 and closed at once;
- a request head not complete `http.header_timeout_s` after its first byte is answered 408;
- a connection idle between requests is closed after `http.idle_timeout_s`;
- the errors aiohttp answers itself leave as `{"error": {...}}` JSON, logged on one line.

The body's own timeout (`http.body_timeout_s`) is applied where handlers read it
(`gateway.api.body`). aiohttp offers no public hook for a protocol class, so the runner
swaps the class of the server it builds; tests/test_hostile_http.py fails if that stops working.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from typing import Any, cast

import structlog
from aiohttp import web
from aiohttp.http_exceptions import (
    BadHttpMethod,
    ContentEncodingError,
    HttpProcessingError,
    LineTooLong,
)
from aiohttp.web_protocol import RequestHandler

from gateway.api.errors import error_body
from gateway.infra.config import HttpSection

log = structlog.get_logger(__name__)

# When a client stops sending a body we answered early (413), how long to read and drop what
# it still sends, so that it sees the answer rather than a reset.
LINGER_S = 2.0


def raw_error_response(status: int, code: str, message: str) -> bytes:
    """A complete HTTP/1.1 error response that closes the connection, for the moments when no
    request object exists to answer through."""
    body = error_body(code, message)
    reason = HTTPStatus(status).phrase
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n"
    )
    if status == 503:
        head += "Retry-After: 1\r\n"
    return head.encode() + b"\r\n" + body


_TOO_MANY = raw_error_response(
    503, "too_many_connections", "the gateway has too many open connections; retry later"
)


def _describe(error: BaseException | None, status: int) -> tuple[int, str, str]:
    """Status, code and message of a request aiohttp could not parse. The message never quotes
    the request back (it may be megabytes of anything)."""
    if isinstance(error, BadHttpMethod):
        return 400, "bad_request", "not an HTTP request, or an unknown method"
    if isinstance(error, LineTooLong):
        return 400, "line_too_long", "the request line or a header is too long"
    if isinstance(error, ContentEncodingError):
        return 415, "unsupported_content_encoding", "the Content-Encoding is not supported"
    if isinstance(error, HttpProcessingError) and 400 <= error.code < 500:
        return error.code, "bad_request", "the request is not valid HTTP"
    if status >= 500:
        return 500, "internal_error", "an internal error occurred"
    return status, "bad_request", "the request is not valid HTTP"


class GatewayRequestHandler(RequestHandler):
    """aiohttp's per-connection protocol with the gateway's limits (see the module doc)."""

    _limits: HttpSection
    _refused = False
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        server = self._manager
        if server is not None and len(server.connections) >= self._limits.max_connections:
            self._refused = True
            writable = cast(asyncio.WriteTransport, transport)  # uvloop's is not a subclass
            writable.write(_TOO_MANY)
            # Half-close and drop what the client still sends for a moment before closing:
            # closing with its request unread would reset the connection, and the client
            # would see a reset instead of the 503.
            if writable.can_write_eof():
                writable.write_eof()
            self._head_timer = self._loop.call_later(LINGER_S, writable.close)
            log.warning("http.connection_refused", limit=self._limits.max_connections)
            return
        super().connection_made(transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._cancel_head_timer()
        if not self._refused:
            super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        super().data_received(data)
        # Bytes came, no request is complete and none is being handled: a head is arriving.
        # It has header_timeout_s from its first byte; a complete head stops the clock.
        arriving = not self._messages and not self._request_in_progress
        if arriving and self._head_timer is None and not self._force_close:
            self._head_timer = self._loop.call_later(
                self._limits.header_timeout_s, self._head_timed_out
            )
        elif not arriving:
            self._cancel_head_timer()

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        # Still no complete request (the connection is waiting for one): the head is late.
        waiting = self._waiter is not None and not self._waiter.done()
        if not waiting or self._messages or self.transport is None:
            return
        log.info("http.header_timeout", timeout_s=self._limits.header_timeout_s)
        self.transport.write(
            raw_error_response(
                408,
                "request_timeout",
                f"the request head did not arrive within {self._limits.header_timeout_s:g}s",
            )
        )
        self.force_close()

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """aiohttp's answer to a request it could not parse (or to a bug that escaped the
        error middleware): the error shape, one log line, no traceback for a client's fault."""
        status, code, text = _describe(exc, status)
        if status >= 500:
            log.error("http.unhandled", error=repr(exc), exc_info=exc)
        else:
            log.info("http.malformed_request", status=status, code=code)
        if request.writer.output_size > 0:
            raise ConnectionError("the response had started; the connection is closed")
        response = web.Response(
            status=status, body=error_body(code, text), content_type="application/json"
        )
        response.force_close()
        return response


class _LimitedServer(web.Server):
    """aiohttp's Server making GatewayRequestHandler protocols."""

    limits: HttpSection

    def __call__(self) -> RequestHandler:
        handler = GatewayRequestHandler(self, loop=self._loop, **self._kwargs)
        handler._limits = self.limits
        return handler


class GatewayRunner(web.AppRunner):
    """An AppRunner whose connections follow `[http]`'s limits."""

    def __init__(self, app: web.Application, limits: HttpSection) -> None:
        super().__init__(
            app,
            access_log=None,
            handle_signals=False,
            keepalive_timeout=limits.idle_timeout_s,
            lingering_time=LINGER_S,
        )
        self._limits = limits

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _LimitedServer
        assert isinstance(server, _LimitedServer)
        server.limits = self._limits
        return server
