"""The dashboard at `/`: one static page with its script and style (no CDN, no framework), and
`GET /api/v1/live`, a server-sent event stream of the figures the page shows live.

The page reads everything else through the public API (orders, suppliers, KPIs, alerts), with
the access of whoever logged in, so it can show nothing a token could not read itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.resources
from datetime import timedelta
from typing import Any

import msgspec
from aiohttp import web

from gateway.api.context import context
from gateway.api.errors import error_response, json_response
from gateway.store.alerts import recent_alerts
from gateway.store.codec import iso
from gateway.store.kpis import orders_received_since, status_counts, supplier_volume_since

LIVE_INTERVAL_S = 1.0
_ASSETS = {"app.js": "text/javascript", "app.css": "text/css"}
# Only our own files, no inline script: a stolen page cannot load or run anything else.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self';"
    " img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_STREAMS = web.AppKey("dashboard_streams", set[asyncio.Event])


def _static(name: str) -> bytes:
    return (importlib.resources.files("gateway.api") / "static" / name).read_bytes()


def setup(app: web.Application) -> None:
    """Let open live streams end when the server shuts down, instead of holding it up."""
    app[_STREAMS] = set()

    async def end_streams(app: web.Application) -> None:
        for stop in app[_STREAMS]:
            stop.set()

    app.on_shutdown.append(end_streams)


def _page(body: bytes, content_type: str) -> web.Response:
    response = web.Response(body=body, content_type=content_type, charset="utf-8")
    response.headers["Content-Security-Policy"] = _CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-cache"
    return response


async def index(_: web.Request) -> web.Response:
    return _page(_static("index.html"), "text/html")


async def asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    content_type = _ASSETS.get(name)
    if content_type is None:
        return error_response(404, "not_found", f"no dashboard file {name!r}")
    return _page(_static(name), content_type)


async def snapshot(request: web.Request) -> dict[str, Any]:
    """What the dashboard shows live: orders by status, arrivals in the last minute, each
    supplier's state and figures with its share of the last 24 hours' purchase orders."""
    ctx = context(request)
    now = ctx.clock.now()
    by_status = await status_counts(ctx.db)
    volume = await supplier_volume_since(ctx.db, now - timedelta(hours=24))
    total_pos = sum(volume.values())
    suppliers = []
    for supplier_id, health in ctx.healths.items():
        entry = health.snapshot()
        entry["purchase_orders_24h"] = volume.get(supplier_id, 0)
        entry["share_24h"] = round(volume.get(supplier_id, 0) / total_pos, 4) if total_pos else None
        suppliers.append(entry)
    alerts = await recent_alerts(ctx.db, limit=20)
    return {
        "at": iso(now),
        "orders": {
            "total": sum(by_status.values()),
            "by_status": by_status,
            "received_last_minute": await orders_received_since(ctx.db, now - timedelta(minutes=1)),
        },
        "suppliers": suppliers,
        "alerts_open": [a for a in alerts if a["resolved_at"] is None],
    }


async def live(request: web.Request) -> web.StreamResponse:
    """`text/event-stream`: a `snapshot` event now and every second, until the client leaves
    or the server stops. EventSource reconnects by itself."""
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # a reverse proxy must not hold events back
        }
    )
    await response.prepare(request)
    stop = asyncio.Event()
    streams = request.app[_STREAMS]
    streams.add(stop)
    try:
        while not stop.is_set():
            data = msgspec.json.encode(await snapshot(request))
            try:
                await response.write(b"event: snapshot\ndata: " + data + b"\n\n")
            except ConnectionResetError:
                break
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(LIVE_INTERVAL_S):
                    await stop.wait()
    finally:
        streams.discard(stop)
    return response


async def list_alerts(request: web.Request) -> web.Response:
    """`GET /api/v1/alerts`: the latest alerts of the rules, open ones first."""
    alerts = await recent_alerts(context(request).db, limit=100)
    return json_response({"alerts": alerts})
