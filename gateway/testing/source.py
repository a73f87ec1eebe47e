"""What a channel adapter's author supplies to the conformance kit: a counterpart for the source
of orders (an ERP's or a shop's API in miniature), and `HttpSource`, one over HTTP.

`HttpSource` speaks a plain dialect out of the box: `GET /orders/new` lists the orders not
confirmed yet (intake JSON), `POST /orders/ack` confirms a list of external ids, and
`POST /orders/{external_id}/updates` takes a write-back (`{"type", ...the update's data}`).
Subclass it for another dialect: override `routes`-like methods `render_orders`, `read_ack` and
`read_update`, or implement `ChannelCounterpart` from scratch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from gateway.testing.answers import CannotExpress


@dataclass(frozen=True)
class WrittenBack:
    """One update a channel wrote back to its source."""

    external_id: str
    type: str  # the OrderUpdate's type: po.accepted, po.shipped, ...
    data: dict[str, Any]


class ChannelCounterpart(Protocol):
    """A source of orders in miniature, scripted by the kit. One instance serves one check."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def options(self) -> dict[str, Any]:
        """What the channel needs in `ChannelContext.options` to reach this source (its URL),
        merged over the author's own options."""
        ...

    def offer(self, order: dict[str, Any]) -> None:
        """A new order appears at the source. `order` is in the gateway's intake format; the
        source holds it in its own (the channel must bring it back to the intake format)."""
        ...

    def confirmed(self) -> list[str]:
        """The external ids the channel confirmed at the source (acknowledged, marked taken)."""
        ...

    def set_available(self, available: bool) -> None:
        """The source goes away (every call fails as the real one fails) or comes back.
        Raise CannotExpress if it cannot."""
        ...

    def written_back(self) -> list[WrittenBack]:
        """What the channel wrote back. Raise CannotExpress if the source takes no write-back."""
        ...

    # Optional, for a source that numbers its orders itself (a shop gives each order its own id,
    # which is what the channel submits as `external_id`):
    #
    #     def offered_id(self, external_id: str) -> str:
    #         """The `external_id` of the offered order that the channel submitted as
    #         `external_id`."""
    #
    # Without it the kit expects the channel to submit the offered order's own external id.
    # `confirmed()` and `written_back()` speak of the offered ids either way.


class HttpSource:
    """A `ChannelCounterpart` over HTTP on 127.0.0.1 (see the module's docstring)."""

    def __init__(self) -> None:
        self.orders: dict[str, dict[str, Any]] = {}
        self._confirmed: list[str] = []
        self._written: list[WrittenBack] = []
        self.available = True
        self._runner: web.AppRunner | None = None
        self.url = ""

    # -- the dialect: override for another source ----------------------------------------------

    def render_orders(self, orders: list[dict[str, Any]]) -> Any:
        """The body of `GET /orders/new` for these orders (here: the intake JSON as it is)."""
        return orders

    def read_ack(self, body: Any) -> list[str]:
        """The external ids a `POST /orders/ack` body confirms."""
        return [str(external_id) for external_id in body]

    def read_update(self, external_id: str, body: Any) -> WrittenBack:
        """A write-back request as the source reads it."""
        data = dict(body)
        return WrittenBack(external_id, str(data.pop("type")), data)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/orders/new", self._new_orders)
        app.router.add_post("/orders/ack", self._ack)
        app.router.add_post("/orders/{external_id}/updates", self._update)

    # -- ChannelCounterpart --------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        self.add_routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> HttpSource:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    def options(self) -> dict[str, Any]:
        return {"url": self.url}

    def offer(self, order: dict[str, Any]) -> None:
        self.orders[str(order["external_id"])] = order

    def confirmed(self) -> list[str]:
        return list(self._confirmed)

    def set_available(self, available: bool) -> None:
        self.available = available

    def written_back(self) -> list[WrittenBack]:
        return list(self._written)

    # -- serving -------------------------------------------------------------------------------

    def _away(self) -> web.Response | None:
        if self.available:
            return None
        return web.json_response({"message": "maintenance"}, status=503)

    async def _new_orders(self, _: web.Request) -> web.Response:
        away = self._away()
        if away is not None:
            return away
        pending = [o for e, o in self.orders.items() if e not in self._confirmed]
        return web.json_response(self.render_orders(pending))

    async def _ack(self, request: web.Request) -> web.Response:
        away = self._away()
        if away is not None:
            return away
        for external_id in self.read_ack(json.loads(await request.read())):
            if external_id not in self._confirmed:
                self._confirmed.append(external_id)
        return web.json_response({"ok": True})

    async def _update(self, request: web.Request) -> web.Response:
        away = self._away()
        if away is not None:
            return away
        external_id = request.match_info["external_id"]
        if external_id not in self.orders:
            return web.json_response({"message": "no such order"}, status=404)
        self._written.append(self.read_update(external_id, json.loads(await request.read())))
        return web.json_response({"ok": True})


__all__ = ["CannotExpress", "ChannelCounterpart", "HttpSource", "WrittenBack"]
