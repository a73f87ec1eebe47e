"""The aiohttp application: routes, limits, the error middleware."""

from __future__ import annotations

import structlog
from aiohttp import web

from gateway.api import (
    audit,
    dashboard,
    kpis,
    ops,
    orders,
    personal_data,
    plugins,
    sessions,
    suppliers,
)
from gateway.api.access import ACCESS, AccessControl, access_middleware
from gateway.api.context import CONTEXT, ApiContext
from gateway.api.errors import error_middleware, expect_handler

PREFIX = "/api/v1"

log = structlog.get_logger(__name__)


def build_app(ctx: ApiContext, *, access: AccessControl | None) -> web.Application:
    """`access` None builds the routes without access control: for tests of the API's shape
    only; the gateway always passes one (gateway.api.access)."""
    middlewares = [error_middleware]
    if access is not None:
        middlewares.append(access_middleware)
    app = web.Application(client_max_size=ctx.max_body, middlewares=middlewares)
    app[CONTEXT] = ctx
    if access is not None:
        app[ACCESS] = access
    routes = (
        ("POST", f"{PREFIX}/orders", orders.post_orders),
        ("GET", f"{PREFIX}/orders", orders.get_many),
        ("GET", f"{PREFIX}/orders/{{order_id}}", orders.get_one),
        ("POST", f"{PREFIX}/orders/{{order_id}}/cancel", orders.post_cancel),
        ("GET", f"{PREFIX}/suppliers", suppliers.list_suppliers),
        ("POST", f"{PREFIX}/suppliers/{{supplier_id}}/shipments", suppliers.post_shipment),
        ("GET", f"{PREFIX}/plugins", plugins.list_plugins),
        # -- KPIs, alerts, dashboard (issue 9) --
        ("GET", f"{PREFIX}/kpis", kpis.get_kpis),
        ("GET", f"{PREFIX}/alerts", dashboard.list_alerts),
        ("GET", f"{PREFIX}/live", dashboard.live),
        ("GET", "/", dashboard.index),
        ("GET", "/dashboard/{name}", dashboard.asset),
        ("GET", "/healthz", ops.healthz),
        ("GET", "/readyz", ops.readyz),
        ("GET", "/metrics", ops.metrics),
        # -- access control, audit, personal data (issue 9) --
        ("POST", f"{PREFIX}/session", sessions.login),
        ("GET", f"{PREFIX}/session", sessions.whoami),
        ("DELETE", f"{PREFIX}/session", sessions.logout),
        ("GET", f"{PREFIX}/audit", audit.get_audit),
        ("GET", f"{PREFIX}/orders/{{order_id}}/ship_to", personal_data.get_order_ship_to),
    )
    for method, path, handler in routes:
        # Our Expect handler answers an over-long declared body with 413, not 100 Continue.
        app.router.add_route(method, path, handler, expect_handler=expect_handler)
    for supplier in (ctx.suppliers or {}).values():
        if supplier.unsigned_notices and not supplier.webhook_secret:
            log.warning(
                "shipments.unsigned_notices_allowed",
                supplier_id=supplier.id,
                hint="anyone who can reach the API can post this supplier's shipment notices",
            )
    dashboard.setup(app)
    return app
