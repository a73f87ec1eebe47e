"""The aiohttp application: routes, limits, the error middleware."""

from __future__ import annotations

import structlog
from aiohttp import web

from gateway.api import ops, orders, suppliers
from gateway.api.context import CONTEXT, ApiContext
from gateway.api.errors import error_middleware, expect_handler

PREFIX = "/api/v1"

log = structlog.get_logger(__name__)


def build_app(ctx: ApiContext) -> web.Application:
    app = web.Application(client_max_size=ctx.max_body, middlewares=[error_middleware])
    app[CONTEXT] = ctx
    routes = (
        ("POST", f"{PREFIX}/orders", orders.post_orders),
        ("GET", f"{PREFIX}/orders", orders.get_many),
        ("GET", f"{PREFIX}/orders/{{order_id}}", orders.get_one),
        ("GET", f"{PREFIX}/suppliers", suppliers.list_suppliers),
        ("POST", f"{PREFIX}/suppliers/{{supplier_id}}/shipments", suppliers.post_shipment),
        ("GET", "/healthz", ops.healthz),
        ("GET", "/readyz", ops.readyz),
        ("GET", "/metrics", ops.metrics),
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
    return app
