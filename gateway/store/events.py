"""The event log: every status change is one row, appended in the same transaction as the change.

The log is also the outbox. Its consumers (the MQTT publisher, each channel's write-back) read it
in sequence order from a durable position of their own that they move when they are done, so
an event is written once and never copied or deleted.
"""

from __future__ import annotations

import itertools
import operator
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
    PoStatus,
)
from gateway.store.codec import any_decoder, encode, iso, parse_iso
from gateway.store.db import IN_LIST, Database, Tx, json_list

_INSERT = "INSERT INTO events (type, at, order_id, po_id, supplier_id, data) VALUES {rows}"


def event_id(instance_id: str, seq: int) -> str:
    """Unique across the gateway's life: the database's instance id and the event's sequence."""
    return f"evt_{instance_id}_{seq}"


def append(tx: Tx, now: datetime, events: Iterable[NewEvent]) -> None:
    """Append events to the log, in order."""
    at = iso(now)
    append_stamped(tx, [(at, e) for e in events])


def append_stamped(tx: Tx, events: Sequence[tuple[str, NewEvent]]) -> None:
    """Append (`at` as stored, event) pairs to the log, in order."""
    if events:
        tx.execute_rows(
            _INSERT,
            [(e.type, at, e.order_id, e.po_id, e.supplier_id, encode(e.data)) for at, e in events],
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
    append(tx, now, [_status_event(order_id, status, reason, data, event_type)])
    return True


def _status_event(
    order_id: str,
    status: OrderStatus,
    reason: str | None,
    data: dict[str, Any] | None,
    event_type: str | None = None,
) -> NewEvent:
    event_data = {**(data or {}), "status": status.value}
    if reason:
        event_data["reason"] = reason
    kind = event_type or order_event_type(status)
    return NewEvent(type=kind, order_id=order_id, data=event_data)


_ORDERS_AND_POS = (
    "SELECT json_group_array(json_array(o.order_id, o.status, po.po_id, po.supplier_id,"
    " po.status, po.reason, po.message))"
    " FROM orders o LEFT JOIN purchase_orders po ON po.order_id = o.order_id"
    f" WHERE o.order_id {IN_LIST}"
)
_SET_STATUSES = (
    "UPDATE orders SET status = v.column2, hold_reason = v.column3, hold_detail = v.column4,"
    " updated_at = v.column5 FROM (VALUES {rows}) AS v"
    " WHERE orders.order_id = v.column1 AND orders.status != v.column2"
)


class _PoState(msgspec.Struct, array_like=True, frozen=True):
    order_id: str
    order_status: OrderStatus
    po_id: str | None
    supplier_id: str | None
    status: PoStatus | None
    reason: str | None
    message: str | None


_po_states = msgspec.json.Decoder(list[_PoState])


def refresh_orders(tx: Tx, order_ids: Iterable[str], now: datetime) -> None:
    """Re-derive the status of orders whose POs changed, and record the ones that moved: one
    read, one update and one insert of events for the whole group."""
    ids = sorted(set(order_ids))
    if not ids:
        return
    states = tx.fetch_json(_ORDERS_AND_POS, [json_list(ids)], _po_states)
    current: dict[str, OrderStatus] = {}
    pos: dict[str, list[_PoState]] = {}
    for state in sorted(states, key=lambda p: (p.order_id, p.po_id or "")):
        current[state.order_id] = state.order_status
        if state.po_id is not None:
            pos.setdefault(state.order_id, []).append(state)
    at = iso(now)
    moves: list[tuple[str, str, str | None, str | None, str]] = []
    moved: list[tuple[str, NewEvent]] = []
    for order_id, status in current.items():
        rows = pos.get(order_id, [])
        derived = derive_order_status(status, (r.status for r in rows if r.status is not None))
        if derived == status:
            continue
        reason = detail = None
        data: dict[str, Any] = {}
        if derived == OrderStatus.ON_HOLD:
            failed = next(r for r in rows if r.status in (PoStatus.REJECTED, PoStatus.FAILED))
            reason, detail = failed.reason, failed.message
            data = {"po_id": failed.po_id, "supplier_id": failed.supplier_id}
        moves.append((order_id, derived.value, reason, detail, at))
        moved.append((at, _status_event(order_id, derived, reason, data)))
    if moves:
        tx.execute_rows(_SET_STATUSES, moves)
        append_stamped(tx, moved)


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


# The feed's reads return their whole result as one JSON value, decoded straight into the
# domain's Structs: each row fetched is a SQLite step that gives up the GIL, and the reader
# thread then waits to get it back from the busy loop (see `Tx.execute_rows`).
_EVENTS_AFTER = (
    "SELECT json_group_array(json_object('seq', seq, 'event_id', 'evt_' || ? || '_' || seq,"
    " 'type', type, 'at', at, 'order_id', order_id, 'po_id', po_id, 'supplier_id', supplier_id,"
    " 'data', json(CAST(data AS TEXT))))"
    " FROM (SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?)"
)
_ORDER_SNAPSHOTS = (
    "SELECT json_group_array(json_object('order_id', o.order_id, 'external_id', o.external_id,"
    " 'channel', o.channel, 'status', o.status, 'hold_reason', o.hold_reason,"
    " 'updated_at', o.updated_at, 'purchase_orders', json(("
    "   SELECT json_group_array(json_object('po_id', po_id, 'supplier_id', supplier_id,"
    "     'status', status, 'carrier', carrier, 'tracking_number', tracking_number))"
    "   FROM (SELECT po.po_id, po.supplier_id, po.status, s.carrier, s.tracking_number"
    "     FROM purchase_orders po LEFT JOIN shipments s ON s.shipment_id = ("
    "       SELECT shipment_id FROM shipments WHERE po_id = po.po_id"
    "       ORDER BY received_at DESC LIMIT 1)"
    "     WHERE po.order_id = o.order_id ORDER BY po.po_id)))))"
    f" FROM orders o WHERE o.order_id {IN_LIST}"
)
_events = msgspec.json.Decoder(list[Event])
_SEQ = operator.attrgetter("seq")
_PO_ID = operator.attrgetter("po_id")
_snapshots = msgspec.json.Decoder(list[OrderSnapshot])


def events_after(
    conn: sqlite3.Connection, instance: str, after_seq: int, limit: int
) -> list[Event]:
    """The next `limit` events after `after_seq`, in order (an index range: linear catch-up)."""
    row = conn.execute(_EVENTS_AFTER, (instance, after_seq, limit)).fetchone()
    found = _events.decode(row[0])
    found.sort(key=_SEQ)  # already in order; the sort only makes sure of it
    return found


def order_snapshots(conn: sqlite3.Connection, order_ids: Sequence[str]) -> list[OrderSnapshot]:
    """The latest state of these orders and their POs, each PO with its latest shipment."""
    if not order_ids:
        return []
    row = conn.execute(_ORDER_SNAPSHOTS, [json_list(order_ids)]).fetchone()
    return [_pos_in_order(order) for order in _snapshots.decode(row[0])]


def _pos_in_order(order: OrderSnapshot) -> OrderSnapshot:
    """The POs by po_id, as the query lists them (made sure of: most orders have one PO)."""
    pos = order.purchase_orders
    if all(a.po_id < b.po_id for a, b in itertools.pairwise(pos)):
        return order
    return msgspec.structs.replace(order, purchase_orders=tuple(sorted(pos, key=_PO_ID)))


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
