"""Reads behind `GET /api/v1/orders...`: an order with its POs, shipments and timeline, and
filtered pages of orders. Personal data leaves here masked: the API serves operators and
integrations, neither of which needs a full phone number or street address."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from typing import Any

import msgspec

from gateway.domain.masking import mask_name, mask_phone
from gateway.domain.model import Address
from gateway.store.codec import (
    any_decoder,
    iso,
    order_decoder,
    po_lines_decoder,
    shipment_lines_decoder,
)
from gateway.store.db import Database

MAX_PAGE = 500


class BadCursor(ValueError):
    pass


class OrderFilter(msgspec.Struct, kw_only=True, frozen=True):
    status: tuple[str, ...] = ()
    supplier: str | None = None
    channel: str | None = None
    since: datetime | None = None  # orders updated at or after this moment
    limit: int = 50
    cursor: str | None = None


def masked_address(address: Address) -> dict[str, Any]:
    return {
        "name": mask_name(address.name),
        "phone": mask_phone(address.phone),
        "country": address.country,
        "region": address.region,
        "province": address.province,
        "city": address.city,
        "district": address.district,
    }


async def get_order(db: Database, order_id: str) -> dict[str, Any] | None:
    row = await db.fetchone(
        "SELECT status, hold_reason, hold_detail, updated_at, doc FROM orders WHERE order_id = ?",
        (order_id,),
    )
    if row is None:
        return None
    order = order_decoder.decode(row["doc"])
    po_rows = await db.fetchall(
        "SELECT * FROM purchase_orders WHERE order_id = ? ORDER BY po_id", (order_id,)
    )
    shipment_rows = await db.fetchall(
        "SELECT s.* FROM shipments s JOIN purchase_orders po ON po.po_id = s.po_id"
        " WHERE po.order_id = ? ORDER BY s.received_at",
        (order_id,),
    )
    event_rows = await db.fetchall(
        "SELECT event_id, type, at, po_id, supplier_id, data FROM events"
        " WHERE order_id = ? ORDER BY seq",
        (order_id,),
    )
    shipments: dict[str, list[dict[str, Any]]] = {}
    for s in shipment_rows:
        shipments.setdefault(s["po_id"], []).append(
            {
                "shipment_id": s["shipment_id"],
                "carrier": s["carrier"],
                "tracking_number": s["tracking_number"],
                "shipped_at": s["shipped_at"],
                "lines": msgspec.to_builtins(shipment_lines_decoder.decode(s["lines"])),
            }
        )
    return {
        "order_id": order.order_id,
        "external_id": order.external_id,
        "channel": order.channel,
        "status": row["status"],
        "hold_reason": row["hold_reason"],
        "hold_detail": row["hold_detail"],
        "priority": order.priority.value,
        "currency": order.currency,
        "created_at": iso(order.created_at),
        "received_at": iso(order.received_at),
        "updated_at": row["updated_at"],
        "customer": msgspec.to_builtins(order.customer) if order.customer else None,
        "payment": msgspec.to_builtins(order.payment) if order.payment else None,
        "ship_to": masked_address(order.ship_to),
        "lines": msgspec.to_builtins(order.lines),
        "purchase_orders": [
            {
                "po_id": po["po_id"],
                "supplier_id": po["supplier_id"],
                "status": po["status"],
                "supplier_ref": po["supplier_ref"],
                "reason": po["reason"],
                "message": po["message"],
                "attempts": po["attempts"],
                "lines": msgspec.to_builtins(po_lines_decoder.decode(po["lines"])),
                "shipments": shipments.get(po["po_id"], []),
                "created_at": po["created_at"],
                "updated_at": po["updated_at"],
            }
            for po in po_rows
        ],
        "timeline": [
            {
                "event_id": e["event_id"],
                "type": e["type"],
                "at": e["at"],
                "po_id": e["po_id"],
                "supplier_id": e["supplier_id"],
                "data": any_decoder.decode(e["data"]),
            }
            for e in event_rows
        ],
    }


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"s{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadCursor("not a cursor this API returned") from None
    # ASCII digits within SQLite's integer range: `s①` or `s` + 30 digits is not ours.
    if not re.fullmatch(r"s[0-9]{1,18}", text):
        raise BadCursor("not a cursor this API returned")
    return int(text[1:])


async def list_orders(db: Database, query: OrderFilter) -> tuple[list[dict[str, Any]], str | None]:
    """A page of orders, oldest first, and the cursor of the next page (None at the end)."""
    where: list[str] = []
    params: list[Any] = []
    if query.cursor:
        where.append("o.seq > ?")
        params.append(decode_cursor(query.cursor))
    if query.status:
        where.append(f"o.status IN ({','.join('?' * len(query.status))})")
        params.extend(query.status)
    if query.channel:
        where.append("o.channel = ?")
        params.append(query.channel)
    if query.since:
        where.append("o.updated_at >= ?")
        params.append(iso(query.since))
    if query.supplier:
        where.append(
            "EXISTS (SELECT 1 FROM purchase_orders po"
            " WHERE po.order_id = o.order_id AND po.supplier_id = ?)"
        )
        params.append(query.supplier)
    sql = (
        "SELECT o.seq, o.order_id, o.external_id, o.channel, o.status, o.hold_reason,"
        " o.created_at, o.received_at, o.updated_at FROM orders o"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + " ORDER BY o.seq LIMIT ?"
    )
    rows = await db.fetchall(sql, [*params, query.limit + 1])
    page = rows[: query.limit]
    next_cursor = encode_cursor(page[-1]["seq"]) if len(rows) > query.limit and page else None
    items = [
        {
            "order_id": r["order_id"],
            "external_id": r["external_id"],
            "channel": r["channel"],
            "status": r["status"],
            "hold_reason": r["hold_reason"],
            "created_at": r["created_at"],
            "received_at": r["received_at"],
            "updated_at": r["updated_at"],
        }
        for r in page
    ]
    return items, next_cursor
