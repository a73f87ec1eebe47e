"""Shipment notices from suppliers (CONTRACT §3, `POST /api/v1/suppliers/{id}/shipments`):
the wire format and the signature check."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

import msgspec
from msgspec import Meta

from gateway.domain.fields import AwareDatetime, Identifier, Quantity, Text

SIGNATURE_HEADER = "X-Signature"
SIGNATURE_SCHEME = "sha256="


class ShipmentNoticeLine(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    sku: Identifier
    quantity: Quantity


class ShipmentNotice(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    po_id: Identifier
    carrier: Text
    tracking_number: Annotated[str, Meta(min_length=1, max_length=64)]
    shipped_at: AwareDatetime | None = None
    # Empty: everything left on the PO shipped.
    lines: Annotated[list[ShipmentNoticeLine], Meta(max_length=500)] = []


def sign(secret: str, body: bytes) -> str:
    """The `X-Signature` value a supplier sends: `sha256=<hex HMAC-SHA256 of the raw body>`."""
    return SIGNATURE_SCHEME + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    """Constant-time check of a notice's signature against the supplier's secret."""
    if not header or not header.startswith(SIGNATURE_SCHEME):
        return False
    return hmac.compare_digest(sign(secret, body), header.strip())
