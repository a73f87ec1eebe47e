"""The supplier protocol of CONTRACT §5 and the shipment notice of §3, as wire types.

The simulated supplier decodes what the gateway sends with these Structs and encodes what it
sends back with them, so this module doubles as a readable statement of the protocol:

- ``POST /purchase-orders`` (header ``Idempotency-Key: <po_id>``) with a `PurchaseOrder` body;
  the answer is ``201 {"supplier_ref"}``, ``409 {"supplier_ref", "message"}`` for a po_id the
  supplier already has, ``422 {"reason", "message"}`` for a PO it refuses (`REJECT_REASONS`),
  ``429`` with ``Retry-After`` or ``5xx`` for "try again later".
- ``DELETE /purchase-orders/{po_id}``, ``GET /purchase-orders/{po_id}`` (`PurchaseOrderState`),
  ``GET /inventory`` (a list of `StockEntry`).
- The supplier's shipment notice to ``POST {gateway}/api/v1/suppliers/{id}/shipments`` is a
  `ShipmentNotice`, signed with ``X-Signature: t=<unix seconds>,sha256=<hex HMAC-SHA256 of
  "<t>." + the raw body>`` (CONTRACT §3).

Every error body is JSON, ``{"reason": "...", "message": "..."}``, whatever the status.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

NonEmpty = Annotated[str, Meta(min_length=1, max_length=500)]
AwareDatetime = Annotated[datetime, Meta(tz=True)]

IDEMPOTENCY_HEADER = "Idempotency-Key"
SIGNATURE_HEADER = "X-Signature"

# The 422 reasons the simulator gives (a real supplier may have more; the gateway keeps them).
OUT_OF_STOCK = "out_of_stock"
UNKNOWN_SKU = "unknown_sku"
BAD_ADDRESS = "bad_address"
REJECT_REASONS = (OUT_OF_STOCK, UNKNOWN_SKU, BAD_ADDRESS)

# PO statuses as the supplier reports them on GET (a subset of CONTRACT §4's PO statuses).
PoState = Literal["accepted", "partially_shipped", "shipped", "cancelled"]


class ShipTo(msgspec.Struct, kw_only=True, frozen=True):
    """The address a supplier needs to ship. Further fields the gateway sends are ignored."""

    name: NonEmpty
    phone: NonEmpty
    country: str = "CN"
    region: str | None = None  # ISO 3166-2 code (CN-ZJ) when the gateway sends one
    province: NonEmpty
    city: NonEmpty
    district: str | None = None
    address1: NonEmpty
    address2: str | None = None
    postal_code: str | None = None


class PurchaseOrderLine(msgspec.Struct, kw_only=True, frozen=True):
    sku: NonEmpty
    quantity: Annotated[int, Meta(gt=0)]
    unit_cost: Decimal | None = None  # a decimal string; money is never a float


class PurchaseOrder(msgspec.Struct, kw_only=True, frozen=True):
    """The body of ``POST /purchase-orders``."""

    po_id: NonEmpty
    order_external_id: NonEmpty
    created_at: AwareDatetime
    priority: Literal["low", "normal", "high", "urgent"]
    ship_to: ShipTo
    lines: Annotated[list[PurchaseOrderLine], Meta(min_length=1)]


class ShippedLine(msgspec.Struct, kw_only=True, frozen=True):
    sku: str
    quantity: int


class Shipment(msgspec.Struct, kw_only=True, frozen=True):
    """One parcel, as listed under ``GET /purchase-orders/{po_id}``."""

    carrier: str
    tracking_number: str
    shipped_at: datetime
    lines: tuple[ShippedLine, ...]


class ShipmentNotice(msgspec.Struct, kw_only=True, frozen=True):
    """One parcel, as the supplier announces it: the body of the shipment notice."""

    po_id: str
    carrier: str
    tracking_number: str
    shipped_at: datetime
    lines: tuple[ShippedLine, ...]

    def shipment(self) -> Shipment:
        return Shipment(
            carrier=self.carrier,
            tracking_number=self.tracking_number,
            shipped_at=self.shipped_at,
            lines=self.lines,
        )


class PurchaseOrderState(msgspec.Struct, kw_only=True, frozen=True):
    """The answer of ``GET /purchase-orders/{po_id}``."""

    po_id: str
    status: PoState
    supplier_ref: str
    shipments: list[Shipment]


class StockEntry(msgspec.Struct, frozen=True):
    """One entry of ``GET /inventory``."""

    sku: str
    available: int


_po_decoder = msgspec.json.Decoder(PurchaseOrder)


def decode_purchase_order(body: bytes) -> PurchaseOrder:
    """Decode and validate a PO body; raises msgspec.DecodeError (ValidationError included)
    with the JSON path of the first problem."""
    return _po_decoder.decode(body)


def sign(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``X-Signature`` value of a notice: the time of sending and the HMAC-SHA256 of
    ``"<t>."`` followed by the exact bytes sent, so that a notice cannot be replayed later."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},sha256={digest}"


def signature_matches(body: bytes, secret: str, header: str | None) -> bool:
    """Whether a received ``X-Signature`` header is right (its own timestamp, any age),
    compared in constant time."""
    if header is None or not header.isascii() or not header.startswith("t="):
        return False
    t = header[2:].partition(",")[0]
    return t.isdigit() and hmac.compare_digest(sign(body, secret, int(t)), header)
