"""How domain values are written to and read from SQLite columns."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

import msgspec

from gateway.domain.model import Order, PoLine, ShipmentLine

_encoder = msgspec.json.Encoder(decimal_format="string")
order_decoder = msgspec.json.Decoder(Order)
po_lines_decoder = msgspec.json.Decoder(list[PoLine])
shipment_lines_decoder = msgspec.json.Decoder(tuple[ShipmentLine, ...])
any_decoder = msgspec.json.Decoder()


def encode(value: Any) -> bytes:
    return _encoder.encode(value)


def iso(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds always written (`2026-11-23T02:00:00.000000Z`): every
    timestamp column holds this fixed-width form, so comparing text compares time."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    return msgspec.convert(text, datetime)


def new_id(prefix: str) -> str:
    """A random id such as `ord_3f9c0a1b2c4d5e6f` (64 bits: collisions are not a concern)."""
    return f"{prefix}_{secrets.token_hex(8)}"


def po_id_for(order_id: str, index: int) -> str:
    """PO ids derive from the order id: one glance tells which order a supplier's PO is."""
    return f"{order_id.replace('ord_', 'po_', 1)}-{index}"
