"""The router actor: turns received orders into purchase orders and hands them to suppliers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence

import structlog

from gateway.actors.bus import (
    SWEEP_INTERVAL_S,
    Bus,
    Mailbox,
    Message,
    OrdersAccepted,
    PurchaseOrdersReady,
    supplier_address,
)
from gateway.domain.model import OrderStatus
from gateway.domain.routing import Planner, SupplierView
from gateway.infra.clock import Clock
from gateway.infra.metrics import Metrics
from gateway.infra.supervision import Ready
from gateway.store.db import Database
from gateway.store.routing import (
    NewPurchaseOrders,
    Routed,
    hold_for_internal_error,
    orders_waiting_for_routing,
    route_orders,
)

log = structlog.get_logger(__name__)

BATCH = 200
# Once an order arrives, how long the router waits for more before it routes them together
# (unless BATCH are waiting already). Routed alone, each order was a unit of work of its own
# (the suppliers' scores, the catalog read, five statements, its events): at 300 orders/s,
# 20 ms gathers ~6 orders and took the gateway's CPU per order down ~12 % and its SQL
# statements per order by half (docs/performance.md). An order routes at most 20 ms later.
ROUTE_LINGER_S = 0.02


class RouterActor:
    def __init__(
        self,
        db: Database,
        mailbox: Mailbox[Message],
        bus: Bus,
        planner: Planner,
        suppliers: Callable[[], Mapping[str, SupplierView]],
        clock: Clock,
        metrics: Metrics,
        *,
        linger_s: float = ROUTE_LINGER_S,
    ) -> None:
        self._db = db
        self._mailbox = mailbox
        self._bus = bus
        self._planner = planner
        self._suppliers = suppliers
        self._clock = clock
        self._metrics = metrics
        self._linger_s = linger_s

    async def run(self, ready: Ready) -> None:
        ready()
        await self._sweep()
        while True:
            message: Message | None = await self._mailbox.get_or_none(SWEEP_INTERVAL_S)
            if message is None:
                await self._sweep()
                continue
            order_ids = await self._gather(message)
            if order_ids:
                await self._route(order_ids)
            if self._mailbox.take_overflow():
                await self._sweep()

    async def _gather(self, first: Message) -> list[str]:
        """The orders of `first` and of the messages that arrive within the linger after it,
        up to BATCH: one transaction routes them all."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._linger_s
        order_ids: list[str] = []
        message: Message | None = first
        while message is not None:
            if isinstance(message, OrdersAccepted):
                order_ids.extend(message.order_ids)
            if len(order_ids) >= BATCH:
                break
            message = self._mailbox.get_nowait()
            if message is None and (left := deadline - loop.time()) > 0:
                message = await self._mailbox.get_or_none(left)
        return order_ids

    async def _sweep(self) -> None:
        """Route every order the store says is still waiting (after a restart or overflow)."""
        while True:
            waiting = await orders_waiting_for_routing(self._db, BATCH)
            if waiting:
                await self._route(waiting)
            if len(waiting) < BATCH:
                return

    async def _route(self, order_ids: Sequence[str]) -> None:
        """Route a group in one unit of work. If the unit itself fails (not the planner, whose
        errors are contained per order inside it), route the orders one by one, and set aside
        (`internal_error`, on hold) any that fails alone: the router never crash-loops on one
        order, and the rest of its group routes."""
        try:
            outcomes = await self._route_group(order_ids)
        except Exception as error:
            if len(order_ids) == 1:
                await self._set_aside(order_ids[0], error)
                return
            log.error("routing.group_failed", orders=len(order_ids), error=repr(error))
            for order_id in order_ids:
                await self._route([order_id])
            return
        for outcome in outcomes:
            routed = outcome.status == OrderStatus.ROUTED
            self._metrics.orders_routed.labels("routed" if routed else "on_hold").inc()
            if outcome.error:
                log.error("order.routing_failed", order_id=outcome.order_id, error=outcome.error)
            log.info(
                "order.routed" if routed else "order.on_hold",
                order_id=outcome.order_id,
                suppliers=sorted(outcome.po_ids_by_supplier),
            )

    async def _route_group(self, order_ids: Sequence[str]) -> list[Routed]:
        return await route_orders(
            self._db, order_ids, self._planner, self._suppliers, self._clock.now, self._dispatch
        )

    async def _set_aside(self, order_id: str, error: Exception) -> None:
        log.error("order.routing_failed", order_id=order_id, error=repr(error), exc_info=error)
        if await hold_for_internal_error(self._db, order_id, repr(error), self._clock.now()):
            self._metrics.orders_routed.labels("on_hold").inc()

    def _dispatch(self, ready: NewPurchaseOrders) -> None:
        for supplier_id, requests in ready.items():
            message = PurchaseOrdersReady(tuple(r.po_id for r in requests), tuple(requests))
            self._bus.offer(supplier_address(supplier_id), message)
