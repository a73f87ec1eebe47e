"""`GET /api/v1/orders/{order_id}/ship_to`: the full address, for operators and admins only,
and every read is in the audit log (issue 9). Viewers see orders masked, as everyone does in
`GET /api/v1/orders/{order_id}`."""

from __future__ import annotations

from aiohttp import web

from gateway.api.context import context
from gateway.api.errors import error_response, json_response
from gateway.store.personal_data import get_ship_to


async def get_order_ship_to(request: web.Request) -> web.Response:
    order_id = request.match_info["order_id"]
    address = await get_ship_to(context(request).db, order_id)
    if address is None:
        return error_response(404, "not_found", f"no order {order_id!r}")
    return json_response({"order_id": order_id, "ship_to": address})
