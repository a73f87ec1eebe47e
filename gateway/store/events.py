"""The event log: every status change is one row, appended in the same transaction as the change.

The log is also the outbox. Its consumers (the MQTT publisher, each channel's write-back) read it
in sequence order from a durable position of their own that they move when they are done, so
an event is written once and never copied or deleted.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import msgspec

from gateway.domain.lifecycle import derive_order_status, order_event_type
from gateway.domain.model import (
    Event,
    NewEvent,
    OrderSnapshot,
    OrderStatus,
    PoSnapshot,
    PoStatus,
)
from gateway.store.codec import any_decoder, encode, iso, parse_iso
from gateway.store.db import Database, Tx

_INSERT = (
    "INSERT INTO events (type, at, order_id, po_id, supplier_id, data) VALUES (?, ?, ?, ?, ?, ?)"
)


def event_id(instance_id: str, seq: int) -> str:
    """Unique across the gateway's life: the database's instance id and the event's sequence."""
    return f"evt_{instance_id}_{seq}"


def append(tx: Tx, now: datetime, events: Iterable[NewEvent]) -> None:
    """Append events to the log, in order."""
    at = iso(now)
    tx.executemany(
        _INSERT,
        [(e.type, at, e.order_id, e.po_id, e.supplier_id, encode(e.data)) for e in events],
    )


async def record(db: Database, now: datetime, events: Sequence[NewEvent]) -> None:
    """Append events that belong to no other change (supplier health, alerts)."""
    if events:
        await db.write(lambda tx: append(tx, now, events))


def set_order_status(
    tx: Tx,
    order_id: str,
    status: OrderStatus,
    now: datetime,
    *,
    reason: str | None = None,
    detail: str | None = None,
    data: dict[str, Any] | None = None,
    allowed_from: Sequence[OrderStatus] = (),
    event_type: str | None = None,
) -> bool:
    """Move an order to `status` with its event: one update, one insert. False if it was there
    already (or, with `allowed_from`, in none of those statuses)."""
    guard = ""
    params: list[Any] = [status.value, reason, detail, iso(now), order_id, status.value]
    if allowed_from:
        guard = f" AND status IN ({','.join('?' * len(allowed_from))})"
        params.extend(s.value for s in allowed_from)
    cursor = tx.execute(
        "UPDATE orders SET status = ?, hold_reason = ?, hold_detail = ?, updated_at = ?"
        f" WHERE order_id = ? AND status != ?{guard}",
        params,
    )
    if cursor.rowcount == 0:
        return False
    event_data = {**(data or {}), "status": status.value}
    if reason:
        event_data["reason"] = reason
    kind = event_type or order_event_type(status)
    append(tx, now, [NewEvent(type=kind, order_id=order_id, data=event_data)])
    return True


def refresh_orders(tx: Tx, order_ids: Iterable[str], now: datetime) -> None:
    """Re-derive the status of orders whose POs changed, and record the ones that moved."""
    ids = sorted(set(order_ids))
    if not ids:
        return
    marks = ",".join("?" * len(ids))
    current = {
        r[0]: OrderStatus(r[1])
        for r in tx.fetchall(
            f"SELECT order_id, status FROM orders WHERE order_id IN ({marks})", ids
        )
    }
    pos: dict[str, list[sqlite3.Row]] = {}
    for row in tx.fetchall(
        "SELECT order_id, po_id, supplier_id, status, reason, message FROM purchase_orders"
        f" WHERE order_id IN ({marks}) ORDER BY po_id",
        ids,
    ):
        pos.setdefault(row["order_id"], []).append(row)
    for order_id, status in current.items():
        rows = pos.get(order_id, [])
        derived = derive_order_status(status, (PoStatus(r["status"]) for r in rows))
        if derived == status:
            continue
        reason = detail = None
        data: dict[str, Any] = {}
        if derived == OrderStatus.ON_HOLD:
            failed = next(r for r in rows if r["status"] in (PoStatus.REJECTED, PoStatus.FAILED))
            reason, detail = failed["reason"], failed["message"]
            data = {"po_id": failed["po_id"], "supplier_id": failed["supplier_id"]}
        set_order_status(tx, order_id, derived, now, reason=reason, detail=detail, data=data)


# -- reading the log -----------------------------------------------------------------------------


def event_from_row(instance_id: str, row: sqlite3.Row) -> Event:
    return Event(
        seq=row["seq"],
        event_id=event_id(instance_id, row["seq"]),
        type=row["type"],
        at=parse_iso(row["at"]),
        order_id=row["order_id"],
        po_id=row["po_id"],
        supplier_id=row["supplier_id"],
        data=any_decoder.decode(row["data"]),
    )


def position(conn: sqlite3.Connection, consumer: str) -> int:
    """Where `consumer` has got to in the log (0: the start)."""
    row = conn.execute("SELECT seq FROM feed_positions WHERE consumer = ?", (consumer,)).fetchone()
    return int(row[0]) if row else 0


def last_seq(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0])


async def move_position(db: Database, consumer: str, seq: int) -> None:
    """`consumer` is done with every event up to `seq`. Positions only move forward."""

    def job(tx: Tx) -> None:
        tx.execute(
            "INSERT INTO feed_positions (consumer, seq) VALUES (?, ?) ON CONFLICT (consumer)"
            " DO UPDATE SET seq = max(seq, excluded.seq)",
            (consumer, seq),
        )

    await db.write(job)


def events_after(
    conn: sqlite3.Connection, instance: str, after_seq: int, limit: int
) -> list[Event]:
    """The next `limit` events after `after_seq`, in order (an index range: linear catch-up)."""
    rows = conn.execute(
        "SELECT seq, type, at, order_id, po_id, supplier_id, data FROM events"
        " WHERE seq > ? ORDER BY seq LIMIT ?",
        (after_seq, limit),
    ).fetchall()
    return [event_from_row(instance, row) for row in rows]


def order_snapshots(conn: sqlite3.Connection, order_ids: Sequence[str]) -> list[OrderSnapshot]:
    """The latest state of these orders and their POs, each PO with its latest shipment."""
    if not order_ids:
        return []
    marks = ",".join("?" * len(order_ids))
    pos: dict[str, list[PoSnapshot]] = {}
    for row in conn.execute(
        "SELECT po.order_id, po.po_id, po.supplier_id, po.status, s.carrier, s.tracking_number"
        " FROM purchase_orders po LEFT JOIN shipments s ON s.shipment_id = ("
        "   SELECT shipment_id FROM shipments WHERE po_id = po.po_id"
        "   ORDER BY received_at DESC LIMIT 1)"
        f" WHERE po.order_id IN ({marks}) ORDER BY po.po_id",
        list(order_ids),
    ):
        pos.setdefault(row["order_id"], []).append(
            PoSnapshot(
                po_id=row["po_id"],
                supplier_id=row["supplier_id"],
                status=PoStatus(row["status"]),
                carrier=row["carrier"],
                tracking_number=row["tracking_number"],
            )
        )
    return [
        OrderSnapshot(
            order_id=row["order_id"],
            external_id=row["external_id"],
            channel=row["channel"],
            status=OrderStatus(row["status"]),
            hold_reason=row["hold_reason"],
            updated_at=row["updated_at"],
            purchase_orders=tuple(pos.get(row["order_id"], ())),
        )
        for row in conn.execute(
            "SELECT order_id, external_id, channel, status, hold_reason, updated_at FROM orders"
            f" WHERE order_id IN ({marks})",
            list(order_ids),
        )
    ]


class FeedBatch(msgspec.Struct, frozen=True):
    """The next events for a consumer, the latest state of the orders they are about, and
    the newest sequence in the log (how far behind the consumer is)."""

    events: list[Event]
    orders: list[OrderSnapshot]
    head: int


def feed_batch(conn: sqlite3.Connection, instance: str, after_seq: int, limit: int) -> FeedBatch:
    batch = events_after(conn, instance, after_seq, limit)
    order_ids = sorted({e.order_id for e in batch if e.order_id})
    return FeedBatch(batch, order_snapshots(conn, order_ids), last_seq(conn))


def channel_events(
    conn: sqlite3.Connection, instance: str, channel: str, after_seq: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """The next events of one channel's orders after `after_seq`, as `OrderUpdate` fields, and
    how far the log was scanned (so a channel with few orders does not rescan the same events)."""
    head = last_seq(conn)
    rows = conn.execute(
        "SELECT e.seq, e.type, e.at, e.order_id, e.po_id, e.supplier_id, e.data, o.external_id"
        " FROM events e JOIN orders o ON o.order_id = e.order_id"
        " WHERE e.seq > ? AND e.seq <= ? AND o.channel = ? ORDER BY e.seq LIMIT ?",
        (after_seq, head, channel, limit),
    ).fetchall()
    updates = [
        {**msgspec.structs.asdict(event_from_row(instance, row)), "external_id": row["external_id"]}
        for row in rows
    ]
    return updates, head
