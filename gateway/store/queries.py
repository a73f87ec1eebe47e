"""Reads of orders: one order with its POs, shipments and timeline, and filtered pages.
Each read is one function on the reader thread, so it sees one snapshot of the database."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

import msgspec

from gateway.domain.model import (
    PO_ACCEPTED_OR_LATER,
    OrderState,
    OrderStatus,
    OrderSummary,
    PoStatus,
    PurchaseOrder,
    Shipment,
)
from gateway.store.codec import (
    iso,
    order_decoder,
    parse_iso,
    po_lines_decoder,
    shipment_lines_decoder,
)
from gateway.store.db import Database
from gateway.store.events import event_from_row

MAX_PAGE = 500


class OrderFilter(msgspec.Struct, kw_only=True, frozen=True):
    status: tuple[str, ...] = ()
    supplier: str | None = None
    channel: str | None = None
    since: datetime | None = None  # orders updated at or after this moment
    limit: int = 50
    after_seq: int = 0  # the page starts after this order (a cursor)


def purchase_order_from_row(row: sqlite3.Row, shipments: list[Shipment]) -> PurchaseOrder:
    status = PoStatus(row["status"])
    lines = po_lines_decoder.decode(row["lines"])
    if status in PO_ACCEPTED_OR_LATER:  # a supplier accepts a PO whole
        for line in lines:
            line.accepted_qty = line.quantity - line.cancelled_qty
    return PurchaseOrder(
        po_id=row["po_id"],
        order_id=row["order_id"],
        supplier_id=row["supplier_id"],
        status=status,
        lines=lines,
        supplier_ref=row["supplier_ref"],
        reason=row["reason"],
        message=row["message"],
        attempts=row["attempts"],
        created_at=parse_iso(row["created_at"]),
        updated_at=parse_iso(row["updated_at"]),
        shipments=shipments,
    )


def read_order(
    conn: sqlite3.Connection, instance_id: str, where: str, params: tuple[Any, ...]
) -> OrderState | None:
    row = conn.execute(
        "SELECT order_id, status, hold_reason, hold_detail, updated_at, doc FROM orders"
        f" WHERE {where}",
        params,
    ).fetchone()
    if row is None:
        return None
    order_id = row["order_id"]
    shipments: dict[str, list[Shipment]] = {}
    for s in conn.execute(
        "SELECT s.* FROM shipments s JOIN purchase_orders po ON po.po_id = s.po_id"
        " WHERE po.order_id = ? ORDER BY s.received_at",
        (order_id,),
    ):
        shipments.setdefault(s["po_id"], []).append(
            Shipment(
                shipment_id=s["shipment_id"],
                po_id=s["po_id"],
                carrier=s["carrier"],
                tracking_number=s["tracking_number"],
                shipped_at=parse_iso(s["shipped_at"]),
                lines=shipment_lines_decoder.decode(s["lines"]),
            )
        )
    purchase_orders = tuple(
        purchase_order_from_row(po, shipments.get(po["po_id"], []))
        for po in conn.execute(
            "SELECT * FROM purchase_orders WHERE order_id = ? ORDER BY po_id", (order_id,)
        )
    )
    timeline = tuple(
        event_from_row(instance_id, e)
        for e in conn.execute(
            "SELECT seq, type, at, order_id, po_id, supplier_id, data FROM events"
            " WHERE order_id = ? ORDER BY seq",
            (order_id,),
        )
    )
    return OrderState(
        order=order_decoder.decode(row["doc"]),
        status=OrderStatus(row["status"]),
        hold_reason=row["hold_reason"],
        hold_detail=row["hold_detail"],
        updated_at=parse_iso(row["updated_at"]),
        purchase_orders=purchase_orders,
        timeline=timeline,
    )


async def get_order(db: Database, order_id: str) -> OrderState | None:
    return await db.read(lambda conn: read_order(conn, db.instance_id, "order_id = ?", (order_id,)))


async def find_order(db: Database, channel: str, external_id: str) -> OrderState | None:
    return await db.read(
        lambda conn: read_order(
            conn, db.instance_id, "channel = ? AND external_id = ?", (channel, external_id)
        )
    )


async def list_orders(db: Database, query: OrderFilter) -> tuple[list[OrderSummary], bool]:
    """A page of orders, oldest first, and whether more follow."""
    where: list[str] = []
    params: list[Any] = []
    if query.after_seq:
        where.append("o.seq > ?")
        params.append(query.after_seq)
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
    page = [
        OrderSummary(
            seq=r["seq"],
            order_id=r["order_id"],
            external_id=r["external_id"],
            channel=r["channel"],
            status=OrderStatus(r["status"]),
            hold_reason=r["hold_reason"],
            created_at=parse_iso(r["created_at"]),
            received_at=parse_iso(r["received_at"]),
            updated_at=parse_iso(r["updated_at"]),
        )
        for r in rows[: query.limit]
    ]
    return page, len(rows) > query.limit
