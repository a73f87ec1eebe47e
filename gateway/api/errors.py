"""The one error shape of the HTTP API (CONTRACT §3):
`{"error": {"code": "...", "message": "...", "details": [{"path": "...", "message": "..."}]}}`.
Every failure, including aiohttp's own (404 route, 405, 413), leaves in this shape; nothing a
client sends may produce a 5xx."""

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
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "busy",
    503: "unavailable",
}


def json_response(payload: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=msgspec.json.encode(payload), status=status, content_type="application/json"
    )


def error_response(
    status: int, code: str, message: str, details: Sequence[dict[str, str]] = ()
) -> web.Response:
    return json_response(
        {"error": {"code": code, "message": message, "details": list(details)}}, status
    )


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = exc.reason
        if exc.status == 413:
            limit = request.app[CONTEXT].max_body
            message = f"the body is larger than the limit of {limit} bytes"
        response = error_response(exc.status, _CODES.get(exc.status, "error"), message)
        for header in ("Allow", "Retry-After"):
            if header in exc.headers:
                response.headers[header] = exc.headers[header]
        return response
    except Exception as error:  # a bug of ours; answer in shape and keep serving
        log.error("http.unhandled", path=request.path, error=repr(error), exc_info=error)
        return error_response(500, "internal_error", "an internal error occurred")
