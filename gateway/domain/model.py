"""The canonical model: what an order, a purchase order, a shipment and an event are inside the
gateway, whatever channel they came from and whatever supplier they go to.

These Structs are stored (msgspec-encoded) and follow msgspec's schema-evolution rules: a field
added later gets a default, so rows written by an older version still decode.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec


class OrderStatus(enum.StrEnum):
    RECEIVED = "received"
    ROUTED = "routed"
    DISPATCHED = "dispatched"
    ACKNOWLEDGED = "acknowledged"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    ON_HOLD = "on_hold"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class PoStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    ACCEPTED = "accepted"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    FAILED = "failed"


# A PO in one of these states still needs the supplier actor: it may not have reached the
# supplier yet, so it is sent (again, under the same po_id) after any restart.
PO_AWAITING_SUPPLIER = (PoStatus.PENDING, PoStatus.SENT)
PO_EXCEPTION = (PoStatus.REJECTED, PoStatus.FAILED)
PO_ACCEPTED_OR_LATER = (
    PoStatus.ACCEPTED,
    PoStatus.PARTIALLY_SHIPPED,
    PoStatus.SHIPPED,
    PoStatus.DELIVERED,
)


class Priority(enum.StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class Address(msgspec.Struct, kw_only=True, frozen=True):
    name: str
    phone: str
    country: str
    region: str  # ISO 3166-2 code (CN-ZJ), or the country code when subdivisions are unknown
    province: str
    city: str
    district: str | None = None
    address1: str
    address2: str | None = None
    postal_code: str | None = None
    id_number: str | None = None


class Customer(msgspec.Struct, kw_only=True, frozen=True):
    id: str | None = None
    tier: str | None = None


class Payment(msgspec.Struct, kw_only=True, frozen=True):
    status: str = "paid"
    amount: Decimal | None = None


class OrderLine(msgspec.Struct, kw_only=True, frozen=True):
    line_id: str
    sku: str
    quantity: int
    unit_price: Decimal | None = None


class Order(msgspec.Struct, kw_only=True, frozen=True):
    """An order as accepted: validated and normalised, before routing."""

    order_id: str
    external_id: str
    channel: str
    created_at: datetime
    received_at: datetime
    priority: Priority
    currency: str
    customer: Customer | None = None
    payment: Payment | None = None
    ship_to: Address
    lines: tuple[OrderLine, ...]
    notes: str | None = None
    attributes: dict[str, str] = {}


class PoLine(msgspec.Struct, kw_only=True):
    """One line of a PO and its quantities. `accepted_qty` is not stored: reads derive it from
    the PO's status (a supplier accepts a PO whole)."""

    line_id: str
    sku: str
    quantity: int
    unit_cost: Decimal | None = None
    accepted_qty: int = 0
    shipped_qty: int = 0
    cancelled_qty: int = 0


class ShipmentLine(msgspec.Struct, kw_only=True, frozen=True):
    sku: str
    quantity: int


class Shipment(msgspec.Struct, kw_only=True, frozen=True):
    shipment_id: str
    po_id: str
    carrier: str
    tracking_number: str
    shipped_at: datetime
    lines: tuple[ShipmentLine, ...]


class PurchaseOrder(msgspec.Struct, kw_only=True):
    """The part of one order sent to one supplier."""

    po_id: str
    order_id: str
    supplier_id: str
    status: PoStatus
    lines: list[PoLine]
    supplier_ref: str | None = None
    reason: str | None = None
    message: str | None = None
    attempts: int = 0
    created_at: datetime
    updated_at: datetime
    shipments: list[Shipment] = []


class Event(msgspec.Struct, kw_only=True, frozen=True):
    """One status change: the audit trail, and what the MQTT feed publishes. `seq` is its place
    in the event log; `event_id` is unique for de-duplication by subscribers."""

    event_id: str
    type: str
    at: datetime
    order_id: str | None = None
    po_id: str | None = None
    supplier_id: str | None = None
    data: dict[str, Any] = {}
    seq: int = 0


class NewEvent(msgspec.Struct, kw_only=True, frozen=True):
    """An event about to be appended to the log (its sequence and id come from the store)."""

    type: str
    order_id: str | None = None
    po_id: str | None = None
    supplier_id: str | None = None
    data: dict[str, Any] = {}


def alert_event(kind: str, severity: str, message: str, subject: dict[str, Any]) -> NewEvent:
    """An alert (`{p}/alerts/{kind}` on the feed); its id and time come from the event log."""
    return NewEvent(
        type=f"alert.{kind}",
        supplier_id=subject.get("supplier_id"),
        data={"severity": severity, "message": message, "subject": subject},
    )


class OrderState(msgspec.Struct, kw_only=True, frozen=True):
    """An order with everything that happened to it: what `GET /orders/{id}` shows (masked) and
    what the channel that submitted it reads."""

    order: Order
    status: OrderStatus
    hold_reason: str | None = None
    hold_detail: str | None = None
    updated_at: datetime
    purchase_orders: tuple[PurchaseOrder, ...] = ()
    timeline: tuple[Event, ...] = ()


class OrderSummary(msgspec.Struct, kw_only=True, frozen=True):
    """One entry of a page of orders."""

    seq: int
    order_id: str
    external_id: str
    channel: str
    status: OrderStatus
    hold_reason: str | None
    created_at: datetime
    received_at: datetime
    updated_at: datetime


class PoSnapshot(msgspec.Struct, kw_only=True, frozen=True):
    po_id: str
    supplier_id: str
    status: PoStatus
    carrier: str | None = None
    tracking_number: str | None = None


class OrderSnapshot(msgspec.Struct, kw_only=True, frozen=True):
    """An order's latest status and its POs' (the retained status message of the feed)."""

    order_id: str
    external_id: str
    channel: str
    status: OrderStatus
    hold_reason: str | None
    updated_at: str
    purchase_orders: tuple[PoSnapshot, ...] = ()


class CatalogItem(msgspec.Struct, kw_only=True, frozen=True):
    """One supplier's offer of one SKU: what routing chooses from."""

    sku: str
    supplier_id: str
    cost: Decimal
    priority: int
    stock: int
