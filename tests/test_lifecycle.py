"""How an order's status follows from its purchase orders (CONTRACT §4)."""

from __future__ import annotations

import pytest

from gateway.domain.lifecycle import derive_order_status, order_event_type
from gateway.domain.model import OrderStatus as O
from gateway.domain.model import PoStatus as P

# (current order status, PO statuses, the order status they imply)
TABLE = [
    # no purchase orders (yet): nothing to derive
    (O.ROUTED, [], O.ROUTED),
    (O.ON_HOLD, [], O.ON_HOLD),
    # on the way to the suppliers
    (O.ROUTED, [P.PENDING], O.ROUTED),
    (O.ROUTED, [P.PENDING, P.SENT], O.ROUTED),
    (O.ROUTED, [P.PENDING, P.ACCEPTED], O.ROUTED),
    (O.ROUTED, [P.SENT], O.DISPATCHED),
    (O.ROUTED, [P.SENT, P.SENT], O.DISPATCHED),
    (O.DISPATCHED, [P.SENT, P.ACCEPTED], O.DISPATCHED),
    # every supplier has accepted
    (O.DISPATCHED, [P.ACCEPTED], O.ACKNOWLEDGED),
    (O.DISPATCHED, [P.ACCEPTED, P.ACCEPTED], O.ACKNOWLEDGED),
    # shipping
    (O.ACKNOWLEDGED, [P.PARTIALLY_SHIPPED], O.PARTIALLY_SHIPPED),
    (O.ACKNOWLEDGED, [P.ACCEPTED, P.PARTIALLY_SHIPPED], O.PARTIALLY_SHIPPED),
    (O.ACKNOWLEDGED, [P.ACCEPTED, P.SHIPPED], O.PARTIALLY_SHIPPED),
    (O.DISPATCHED, [P.SENT, P.SHIPPED], O.PARTIALLY_SHIPPED),
    (O.ACKNOWLEDGED, [P.SHIPPED], O.SHIPPED),
    (O.PARTIALLY_SHIPPED, [P.SHIPPED, P.SHIPPED], O.SHIPPED),
    (O.SHIPPED, [P.SHIPPED, P.DELIVERED], O.SHIPPED),
    (O.SHIPPED, [P.DELIVERED, P.DELIVERED], O.DELIVERED),
    # any exception puts the order on hold, even while other POs move on
    (O.DISPATCHED, [P.REJECTED], O.ON_HOLD),
    (O.DISPATCHED, [P.REJECTED, P.ACCEPTED], O.ON_HOLD),
    (O.ROUTED, [P.FAILED, P.PENDING], O.ON_HOLD),
    (O.PARTIALLY_SHIPPED, [P.SHIPPED, P.FAILED], O.ON_HOLD),
    # ... and the hold lifts once no PO is in exception any more
    (O.ON_HOLD, [P.ACCEPTED], O.ACKNOWLEDGED),
    (O.ON_HOLD, [P.CANCELLED, P.SENT], O.DISPATCHED),
    # cancelled POs are ignored unless every PO is cancelled
    (O.ACKNOWLEDGED, [P.CANCELLED], O.CANCELLED),
    (O.ACKNOWLEDGED, [P.CANCELLED, P.CANCELLED], O.CANCELLED),
    (O.DISPATCHED, [P.CANCELLED, P.ACCEPTED], O.ACKNOWLEDGED),
    (O.PARTIALLY_SHIPPED, [P.CANCELLED, P.SHIPPED], O.SHIPPED),
    (O.DISPATCHED, [P.CANCELLED, P.REJECTED], O.ON_HOLD),
    # sticky: only an explicit action moves an order out of these
    (O.CANCELLED, [P.ACCEPTED], O.CANCELLED),
    (O.CANCELLED, [P.SHIPPED, P.SHIPPED], O.CANCELLED),
    (O.REJECTED, [P.SHIPPED], O.REJECTED),
    (O.RECEIVED, [P.ACCEPTED], O.RECEIVED),
    (O.RECEIVED, [P.CANCELLED], O.RECEIVED),
]


@pytest.mark.parametrize(
    ("current", "pos", "expected"),
    TABLE,
    ids=[f"{c.value}-{'+'.join(p.value for p in ps) or 'none'}" for c, ps, _ in TABLE],
)
def test_order_status_from_its_purchase_orders(current: O, pos: list[P], expected: O) -> None:
    assert derive_order_status(current, pos) == expected


def test_po_order_does_not_matter() -> None:
    statuses = [P.SHIPPED, P.ACCEPTED, P.CANCELLED]

    assert derive_order_status(O.ACKNOWLEDGED, statuses) == O.PARTIALLY_SHIPPED
    assert derive_order_status(O.ACKNOWLEDGED, reversed(statuses)) == O.PARTIALLY_SHIPPED


def test_po_statuses_may_be_any_iterable() -> None:
    """A generator is read once, not exhausted by a first pass and then seen as empty."""
    assert derive_order_status(O.DISPATCHED, (s for s in [P.ACCEPTED])) == O.ACKNOWLEDGED


@pytest.mark.parametrize(
    ("status", "event"),
    [
        (O.ON_HOLD, "order.exception"),
        (O.ROUTED, "order.routed"),
        (O.SHIPPED, "order.shipped"),
        (O.CANCELLED, "order.cancelled"),
        (O.PARTIALLY_SHIPPED, "order.partially_shipped"),
    ],
)
def test_event_type_of_a_status_change(status: O, event: str) -> None:
    """The MQTT event types of CONTRACT §6; a hold is published as order.exception."""
    assert order_event_type(status) == event
