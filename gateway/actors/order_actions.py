"""Actions on orders after intake (cancel, payment updates), shared by the HTTP API and the
channels: each is one unit of work, and the actors concerned are told once it is committed."""

from __future__ import annotations

import structlog

from gateway.actors.bus import ROUTER, Bus, CancelPurchaseOrders, OrdersAccepted, supplier_address
from gateway.domain.model import OrderState
from gateway.infra.clock import Clock
from gateway.store import order_actions
from gateway.store.db import Database, Tx
from gateway.store.order_actions import Cancelled, OrderMissing, PaymentUpdated
from gateway.store.queries import get_order

log = structlog.get_logger(__name__)

__all__ = ["OrderActions", "OrderMissing"]


class OrderActions:
    def __init__(self, db: Database, bus: Bus, clock: Clock) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock

    async def cancel(self, order_id: str, reason: str) -> OrderState:
        """Cancel what has not shipped; suppliers holding a cancelled PO are told. Raises
        OrderMissing."""
        now = self._clock.now()

        def job(tx: Tx) -> Cancelled:
            outcome = order_actions.cancel_order(tx, order_id, reason, now)
            if outcome.to_notify:
                tx.after_commit(lambda: self._notify_suppliers(outcome.to_notify))
            return outcome

        outcome = await self._db.write(job)
        if outcome.changed:
            log.info("order.cancelled", order_id=order_id, reason=reason)
        return await self._state(order_id)

    async def set_payment(self, order_id: str, payment_status: str) -> OrderState:
        """Record a payment status; `paid` releases an order held as unpaid. Raises OrderMissing."""
        now = self._clock.now()

        def job(tx: Tx) -> PaymentUpdated:
            outcome = order_actions.set_payment(tx, order_id, payment_status, now)
            if outcome.released:
                tx.after_commit(lambda: self._tell_router(order_id))
            return outcome

        outcome = await self._db.write(job)
        if outcome.changed:
            log.info(
                "order.payment_updated",
                order_id=order_id,
                payment_status=payment_status,
                released=outcome.released,
            )
        return await self._state(order_id)

    async def _state(self, order_id: str) -> OrderState:
        state = await get_order(self._db, order_id)
        if state is None:
            raise OrderMissing(order_id)
        return state

    def _tell_router(self, order_id: str) -> None:
        self._bus.offer(ROUTER, OrdersAccepted((order_id,)))

    def _notify_suppliers(self, po_ids_by_supplier: dict[str, list[str]]) -> None:
        for supplier_id, po_ids in po_ids_by_supplier.items():
            self._bus.offer(supplier_address(supplier_id), CancelPurchaseOrders(tuple(po_ids)))
