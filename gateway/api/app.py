"""The aiohttp application: routes, limits, the error middleware."""

from __future__ import annotations

from aiohttp import web

from gateway.api import audit, ops, orders, personal_data, plugins, sessions, suppliers
from gateway.api.access import ACCESS, AccessControl, access_middleware
from gateway.api.context import CONTEXT, ApiContext
from gateway.api.errors import error_middleware

PREFIX = "/api/v1"


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
    app.router.add_post(f"{PREFIX}/orders", orders.post_orders)
    app.router.add_get(f"{PREFIX}/orders", orders.get_many)
    app.router.add_get(f"{PREFIX}/orders/{{order_id}}", orders.get_one)
    app.router.add_post(f"{PREFIX}/orders/{{order_id}}/cancel", orders.post_cancel)
    app.router.add_get(f"{PREFIX}/suppliers", suppliers.list_suppliers)
    app.router.add_post(f"{PREFIX}/suppliers/{{supplier_id}}/shipments", suppliers.post_shipment)
    app.router.add_get(f"{PREFIX}/plugins", plugins.list_plugins)
    app.router.add_get("/healthz", ops.healthz)
    app.router.add_get("/readyz", ops.readyz)
    app.router.add_get("/metrics", ops.metrics)
    # -- access control, audit, personal data (issue 9) --
    app.router.add_post(f"{PREFIX}/session", sessions.login)
    app.router.add_get(f"{PREFIX}/session", sessions.whoami)
    app.router.add_delete(f"{PREFIX}/session", sessions.logout)
    app.router.add_get(f"{PREFIX}/audit", audit.get_audit)
    app.router.add_get(f"{PREFIX}/orders/{{order_id}}/ship_to", personal_data.get_order_ship_to)
    return app
