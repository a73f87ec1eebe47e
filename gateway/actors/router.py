"""The router actor: turns received orders into purchase orders and hands them to suppliers."""

from __future__ import annotations

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
from gateway.store.routing import orders_waiting_for_routing, route_orders

log = structlog.get_logger(__name__)

BATCH = 200


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
    ) -> None:
        self._db = db
        self._mailbox = mailbox
        self._bus = bus
        self._planner = planner
        self._suppliers = suppliers
        self._clock = clock
        self._metrics = metrics

    async def run(self, ready: Ready) -> None:
        ready()
        await self._sweep()
        while True:
            message: Message | None = await self._mailbox.get_or_none(SWEEP_INTERVAL_S)
            if message is None:
                await self._sweep()
                continue
            order_ids: list[str] = []
            # Coalesce what is already waiting: one transaction routes many orders.
            while message is not None:
                if isinstance(message, OrdersAccepted):
                    order_ids.extend(message.order_ids)
                if len(order_ids) >= BATCH:
                    break
                message = self._mailbox.get_nowait()
            if order_ids:
                await self._route(order_ids)
            if self._mailbox.take_overflow():
                await self._sweep()

    async def _sweep(self) -> None:
        """Route every order the store says is still waiting (after a restart or overflow)."""
        while True:
            waiting = await orders_waiting_for_routing(self._db, BATCH)
            if waiting:
                await self._route(waiting)
            if len(waiting) < BATCH:
                return

    async def _route(self, order_ids: Sequence[str]) -> None:
        outcomes = await route_orders(
            self._db, order_ids, self._planner, self._suppliers, self._clock.now, self._dispatch
        )
        for outcome in outcomes:
            routed = outcome.status == OrderStatus.ROUTED
            self._metrics.orders_routed.labels("routed" if routed else "on_hold").inc()
            log.info(
                "order.routed" if routed else "order.on_hold",
                order_id=outcome.order_id,
                suppliers=sorted(outcome.po_ids_by_supplier),
            )

    def _dispatch(self, po_ids_by_supplier: dict[str, list[str]]) -> None:
        for supplier_id, po_ids in po_ids_by_supplier.items():
            self._bus.offer(supplier_address(supplier_id), PurchaseOrdersReady(tuple(po_ids)))
