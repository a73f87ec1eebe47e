"""The aiohttp application: routes, limits, the error middleware."""

from __future__ import annotations

from aiohttp import web

from gateway.api import ops, orders, plugins, suppliers
from gateway.api.context import CONTEXT, ApiContext
from gateway.api.errors import error_middleware

PREFIX = "/api/v1"


def build_app(ctx: ApiContext) -> web.Application:
    app = web.Application(client_max_size=ctx.max_body, middlewares=[error_middleware])
    app[CONTEXT] = ctx
    app.router.add_post(f"{PREFIX}/orders", orders.post_orders)
    app.router.add_get(f"{PREFIX}/orders", orders.get_many)
    app.router.add_get(f"{PREFIX}/orders/{{order_id}}", orders.get_one)
    app.router.add_get(f"{PREFIX}/suppliers", suppliers.list_suppliers)
    app.router.add_post(f"{PREFIX}/suppliers/{{supplier_id}}/shipments", suppliers.post_shipment)
    app.router.add_get(f"{PREFIX}/plugins", plugins.list_plugins)
    app.router.add_get("/healthz", ops.healthz)
    app.router.add_get("/readyz", ops.readyz)
    app.router.add_get("/metrics", ops.metrics)
    return app
