"""The one error shape of the HTTP API (CONTRACT §3):
`{"error": {"code": "...", "message": "...", "details": [{"path": "...", "message": "..."}]}}`.
Every failure, including aiohttp's own (404 route, 405, 413, and the requests it cannot parse,
see `gateway.api.server`), leaves in this shape; nothing a client sends may produce a 5xx."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec
import structlog
from aiohttp import web

from gateway.api.context import CONTEXT

log = structlog.get_logger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    417: "expectation_failed",
    422: "validation_failed",
    429: "busy",
    503: "unavailable",
}


class RequestRefused(Exception):
    """Raised by a handler's helpers to answer with an error at once (`close`: and end the
    connection, for a client that cannot be trusted to finish its request)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Sequence[dict[str, str]] = (),
        *,
        close: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = list(details)
        self.close = close


def json_response(payload: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=msgspec.json.encode(payload), status=status, content_type="application/json"
    )


def error_body(code: str, message: str, details: Sequence[dict[str, str]] = ()) -> bytes:
    return msgspec.json.encode(
        {"error": {"code": code, "message": message, "details": list(details)}}
    )


def error_response(
    status: int, code: str, message: str, details: Sequence[dict[str, str]] = ()
) -> web.Response:
    return web.Response(
        body=error_body(code, message, details), status=status, content_type="application/json"
    )


def too_large(limit: int) -> web.Response:
    response = error_response(
        413, "payload_too_large", f"the body is larger than the limit of {limit} bytes"
    )
    response.force_close()
    return response


async def expect_handler(request: web.Request) -> web.StreamResponse | None:
    """`Expect: 100-continue`: a body declared larger than the limit gets its 413 instead of
    the go-ahead, so the client never sends it. Runs before the middleware does."""
    expect = request.headers.get("Expect", "")
    if expect.lower() != "100-continue":
        response = error_response(
            417, "expectation_failed", "the only Expect this server knows is 100-continue"
        )
        response.force_close()
        return response
    limit = request.app[CONTEXT].max_body
    if request.content_length is not None and request.content_length > limit:
        return too_large(limit)
    if request.version >= (1, 1):
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # the real response is still to come
    return None


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    limit = request.app[CONTEXT].max_body
    if request.content_length is not None and request.content_length > limit:
        return too_large(limit)  # before a byte of it is read
    try:
        return await handler(request)
    except RequestRefused as refused:
        response = error_response(refused.status, refused.code, refused.message, refused.details)
        if refused.close:
            response.force_close()
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 413:
            return too_large(limit)
        response = error_response(exc.status, _CODES.get(exc.status, "error"), exc.reason)
        for header in ("Allow", "Retry-After"):
            if header in exc.headers:
                response.headers[header] = exc.headers[header]
        return response
    except Exception as error:  # a bug of ours; answer in shape and keep serving
        log.error("http.unhandled", path=request.path, error=repr(error), exc_info=error)
        return error_response(500, "internal_error", "an internal error occurred")
