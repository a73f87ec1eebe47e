"""The audit trail and the outbox: every status change becomes an event row and the outbox rows
that carry it to MQTT, in the same transaction as the change itself.

Payloads carry ids and statuses, never personal data (CONTRACT §6).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from gateway.domain.lifecycle import derive_order_status, order_event_type
from gateway.domain.masking import mask_value
from gateway.domain.model import Event, OrderStatus, PoStatus
from gateway.store.codec import encode, iso, new_id
from gateway.store.db import Database, Tx


class OutboxRow(msgspec.Struct, frozen=True):
    id: int
    topic: str  # relative to mqtt.topic_prefix
    payload: bytes
    retain: bool


def order_status_topic(order_id: str) -> str:
    return f"orders/{order_id}/status"


def event_topic(event_type: str) -> str:
    return f"events/{event_type}"


def supplier_health_topic(supplier_id: str) -> str:
    return f"suppliers/{supplier_id}/health"


def alert_topic(kind: str) -> str:
    return f"alerts/{kind}"


async def enqueue(tx: Tx, topic: str, payload: bytes, *, retain: bool, now: datetime) -> None:
    await tx.execute(
        "INSERT INTO outbox (topic, payload, retain, created_at) VALUES (?, ?, ?, ?)",
        (topic, payload, int(retain), iso(now)),
    )


async def emit(
    tx: Tx,
    event_type: str,
    now: datetime,
    *,
    order_id: str | None = None,
    po_id: str | None = None,
    supplier_id: str | None = None,
    data: dict[str, Any] | None = None,
) -> Event:
    """Record an event in the audit trail and queue it for `{p}/events/{type}`."""
    event = Event(
        event_id=new_id("evt"),
        type=event_type,
        at=now,
        order_id=order_id,
        po_id=po_id,
        supplier_id=supplier_id,
        # Masked like a log line: suppliers' free-text messages may quote a phone number.
        data=mask_value(None, data or {}),
    )
    payload = encode(event)
    await tx.execute(
        "INSERT INTO events (event_id, type, at, order_id, po_id, supplier_id, data)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (event.event_id, event_type, iso(now), order_id, po_id, supplier_id, encode(event.data)),
    )
    await enqueue(tx, event_topic(event_type), payload, retain=False, now=now)
    return event


async def publish_order_status(tx: Tx, order_id: str, now: datetime) -> None:
    """Queue the retained `{p}/orders/{id}/status` message: the order's latest state."""
    order = await tx.fetchone(
        "SELECT order_id, external_id, channel, status, hold_reason, updated_at"
        " FROM orders WHERE order_id = ?",
        (order_id,),
    )
    if order is None:
        return
    pos = await tx.fetchall(
        "SELECT po.po_id, po.supplier_id, po.status, s.carrier, s.tracking_number"
        " FROM purchase_orders po LEFT JOIN shipments s ON s.shipment_id = ("
        "   SELECT shipment_id FROM shipments WHERE po_id = po.po_id"
        "   ORDER BY received_at DESC LIMIT 1)"
        " WHERE po.order_id = ? ORDER BY po.po_id",
        (order_id,),
    )
    payload: dict[str, Any] = {
        "order_id": order["order_id"],
        "external_id": order["external_id"],
        "channel": order["channel"],
        "status": order["status"],
        "updated_at": order["updated_at"],
        "purchase_orders": [
            {
                "po_id": po["po_id"],
                "supplier_id": po["supplier_id"],
                "status": po["status"],
                "carrier": po["carrier"],
                "tracking_number": po["tracking_number"],
            }
            for po in pos
        ],
    }
    if order["hold_reason"]:
        payload["hold_reason"] = order["hold_reason"]
    await enqueue(tx, order_status_topic(order_id), encode(payload), retain=True, now=now)


async def set_order_status(
    tx: Tx,
    order_id: str,
    status: OrderStatus,
    now: datetime,
    *,
    reason: str | None = None,
    detail: str | None = None,
    data: dict[str, Any] | None = None,
) -> bool:
    """Move an order to `status` with its event and retained status; False if it was there."""
    cursor = await tx.execute(
        "UPDATE orders SET status = ?, hold_reason = ?, hold_detail = ?, updated_at = ?"
        " WHERE order_id = ? AND status != ?",
        (status.value, reason, detail, iso(now), order_id, status.value),
    )
    if cursor.rowcount == 0:
        return False
    event_data = dict(data or {})
    event_data["status"] = status.value
    if reason:
        event_data["reason"] = reason
    await emit(tx, order_event_type(status), now, order_id=order_id, data=event_data)
    await publish_order_status(tx, order_id, now)
    return True


async def refresh_order_status(tx: Tx, order_id: str, now: datetime) -> OrderStatus:
    """Re-derive an order's status from its POs after one of them changed, and publish it."""
    row = await tx.fetchone("SELECT status FROM orders WHERE order_id = ?", (order_id,))
    current = OrderStatus(row["status"])
    pos = await tx.fetchall(
        "SELECT status, reason, message, po_id, supplier_id FROM purchase_orders"
        " WHERE order_id = ? ORDER BY po_id",
        (order_id,),
    )
    derived = derive_order_status(current, (PoStatus(p["status"]) for p in pos))
    if derived == current:
        await publish_order_status(tx, order_id, now)  # a PO changed: the snapshot did too
        return current
    reason = detail = None
    data: dict[str, Any] = {}
    if derived == OrderStatus.ON_HOLD:
        failed = next(p for p in pos if p["status"] in (PoStatus.REJECTED, PoStatus.FAILED))
        reason, detail = failed["reason"], failed["message"]
        data = {"po_id": failed["po_id"], "supplier_id": failed["supplier_id"]}
    await set_order_status(tx, order_id, derived, now, reason=reason, detail=detail, data=data)
    return derived


async def fetch_outbox(db: Database, after_id: int, limit: int) -> list[OutboxRow]:
    """The oldest waiting rows after `after_id`, in the order they were written."""
    rows = await db.fetchall(
        "SELECT id, topic, payload, retain FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
        (after_id, limit),
    )
    return [OutboxRow(r["id"], r["topic"], bytes(r["payload"]), bool(r["retain"])) for r in rows]


async def delete_outbox_through(db: Database, last_id: int) -> None:
    """Forget the rows up to `last_id`, which the broker acknowledged. The publisher reads the
    outbox from its start in id order, and ids grow in commit order (one writer), so every row
    up to the last one it read was in its batch."""

    async def job(tx: Tx) -> None:
        await tx.execute("DELETE FROM outbox WHERE id <= ?", (last_id,))

    await db.write(job)


async def outbox_depth(db: Database) -> int:
    row = await db.fetchone("SELECT count(*) FROM outbox")
    return int(row[0])
