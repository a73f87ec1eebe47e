"""Operations endpoints: liveness, readiness, metrics (CONTRACT §3)."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from gateway.api.context import context
from gateway.api.errors import json_response


async def healthz(_: web.Request) -> web.Response:
    return json_response({"status": "alive"})


async def readyz(request: web.Request) -> web.Response:
    ready, detail = context(request).readiness()
    return json_response({"ready": ready, **detail}, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    body = context(request).metrics.render()
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response
