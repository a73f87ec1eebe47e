"""Reading a request body from a client that may be slow, may give up, or may lie about it."""

from __future__ import annotations

import asyncio

import structlog
from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from gateway.api.context import context
from gateway.api.errors import RequestRefused

log = structlog.get_logger(__name__)


async def read_body(request: web.Request) -> bytes:
    """The whole body, within `http.body_timeout_s` and `http.max_body_bytes`.

    A client that disconnects mid-body is logged on one info line (it will never see an
    answer); one too slow gets 408 and the connection is closed; a body whose
    Content-Encoding does not decode is 400.
    """
    timeout_s = context(request).http.body_timeout_s
    try:
        async with asyncio.timeout(timeout_s):
            return await request.read()
    except TimeoutError:
        log.info("http.body_timeout", path=request.path, timeout_s=timeout_s)
        raise RequestRefused(
            408,
            "request_timeout",
            f"the body did not arrive within {timeout_s:g}s",
            close=True,
        ) from None
    except RequestPayloadError as error:  # e.g. Content-Encoding: gzip over bytes that are not
        raise RequestRefused(
            400,
            "bad_encoding",
            "the body does not decode as its Content-Encoding / Transfer-Encoding says",
            close=True,
        ) from error
    except ConnectionError:
        log.info("http.upload_aborted", path=request.path, method=request.method)
        raise RequestRefused(400, "upload_aborted", "the client went away", close=True) from None
