"""Storing accepted orders: idempotent on (channel, external_id), with the `order.received`
event in the same transaction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import msgspec

from gateway.domain.model import NewEvent, Order, OrderStatus
from gateway.store import events
from gateway.store.codec import encode, iso
from gateway.store.db import Database, Tx

_INSERT = (
    "INSERT INTO orders (order_id, channel, external_id, status, created_at, received_at,"
    " updated_at, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (channel, external_id) DO NOTHING"
)


class Stored(msgspec.Struct, frozen=True):
    order_id: str
    external_id: str
    duplicate: bool


async def store_orders(
    db: Database,
    orders: list[Order],
    now: datetime,
    on_commit: Callable[[list[str]], None] | None = None,
) -> list[Stored]:
    """Store new orders as `received`; for one already known, return the first `order_id`.

    Returns once the orders are committed: only then may the caller answer 202.
    `on_commit` gets the ids of the orders that are new.
    """

    def job(tx: Tx) -> list[Stored]:
        results: list[Stored] = []
        received: list[NewEvent] = []
        stamp = iso(now)
        for order in orders:
            cursor = tx.execute(
                _INSERT,
                (
                    order.order_id,
                    order.channel,
                    order.external_id,
                    OrderStatus.RECEIVED.value,
                    iso(order.created_at),
                    iso(order.received_at),
                    stamp,
                    encode(order),
                ),
            )
            if cursor.rowcount == 0:
                row = tx.fetchone(
                    "SELECT order_id FROM orders WHERE channel = ? AND external_id = ?",
                    (order.channel, order.external_id),
                )
                assert row is not None
                results.append(Stored(row["order_id"], order.external_id, duplicate=True))
                continue
            received.append(
                NewEvent(
                    type="order.received",
                    order_id=order.order_id,
                    data={
                        "external_id": order.external_id,
                        "channel": order.channel,
                        "lines": len(order.lines),
                        "region": order.ship_to.region,
                    },
                )
            )
            results.append(Stored(order.order_id, order.external_id, duplicate=False))
        events.append(tx, now, received)
        if on_commit is not None and received:
            new_ids = [e.order_id for e in received if e.order_id]
            tx.after_commit(lambda: on_commit(new_ids))
        return results

    return await db.write(job, units=len(orders))
