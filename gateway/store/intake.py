"""Storing accepted orders: idempotent on (channel, external_id), with the `order.received`
event and the first retained status in the same transaction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import msgspec

from gateway.domain.model import Order, OrderStatus
from gateway.store.codec import encode, iso
from gateway.store.db import Database, Tx
from gateway.store.feed import emit, publish_order_status


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

    async def job(tx: Tx) -> list[Stored]:
        results: list[Stored] = []
        new_ids: list[str] = []
        for order in orders:
            cursor = await tx.execute(
                "INSERT INTO orders (order_id, channel, external_id, status, created_at,"
                " received_at, updated_at, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (channel, external_id) DO NOTHING",
                (
                    order.order_id,
                    order.channel,
                    order.external_id,
                    OrderStatus.RECEIVED.value,
                    iso(order.created_at),
                    iso(order.received_at),
                    iso(now),
                    encode(order),
                ),
            )
            if cursor.rowcount == 0:
                row = await tx.fetchone(
                    "SELECT order_id FROM orders WHERE channel = ? AND external_id = ?",
                    (order.channel, order.external_id),
                )
                results.append(Stored(row["order_id"], order.external_id, duplicate=True))
                continue
            await emit(
                tx,
                "order.received",
                now,
                order_id=order.order_id,
                data={
                    "external_id": order.external_id,
                    "channel": order.channel,
                    "lines": len(order.lines),
                    "region": order.ship_to.region,
                },
            )
            await publish_order_status(tx, order.order_id, now)
            results.append(Stored(order.order_id, order.external_id, duplicate=False))
            new_ids.append(order.order_id)
        if on_commit is not None and new_ids:
            tx.after_commit(lambda: on_commit(new_ids))
        return results

    return await db.write(job)
