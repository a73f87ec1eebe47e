"""How an order's status follows from its purchase orders (CONTRACT §4). Pure functions."""

from __future__ import annotations

from collections.abc import Iterable

from gateway.domain.model import PO_ACCEPTED_OR_LATER, PO_EXCEPTION, OrderStatus, PoStatus

# Statuses an order leaves only by an explicit action, never by what its POs do.
_STICKY = (OrderStatus.REJECTED, OrderStatus.CANCELLED, OrderStatus.RECEIVED)
_SHIPPED_OR_LATER = (PoStatus.SHIPPED, PoStatus.DELIVERED)


def derive_order_status(current: OrderStatus, po_statuses: Iterable[PoStatus]) -> OrderStatus:
    """The order status its purchase orders imply.

    An exception on any PO puts the order on hold (it needs a rule or a person) even when other
    POs are moving: hold is what operators watch. Cancelled POs are ignored unless all are.
    """
    statuses = list(po_statuses)
    if current in _STICKY or not statuses:
        return current
    active = [s for s in statuses if s != PoStatus.CANCELLED]
    if not active:
        return OrderStatus.CANCELLED
    if any(s in PO_EXCEPTION for s in active):
        return OrderStatus.ON_HOLD
    if all(s == PoStatus.DELIVERED for s in active):
        return OrderStatus.DELIVERED
    if all(s in _SHIPPED_OR_LATER for s in active):
        return OrderStatus.SHIPPED
    if any(s in (*_SHIPPED_OR_LATER, PoStatus.PARTIALLY_SHIPPED) for s in active):
        return OrderStatus.PARTIALLY_SHIPPED
    if all(s in PO_ACCEPTED_OR_LATER for s in active):
        return OrderStatus.ACKNOWLEDGED
    if all(s != PoStatus.PENDING for s in active):
        return OrderStatus.DISPATCHED
    return OrderStatus.ROUTED


def order_event_type(status: OrderStatus) -> str:
    """The event an order's move into `status` is published as."""
    return "order.exception" if status == OrderStatus.ON_HOLD else f"order.{status.value}"
