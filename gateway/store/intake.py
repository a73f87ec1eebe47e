"""Storing accepted orders: idempotent on (channel, external_id), with the `order.received`
event in the same transaction."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime

import msgspec

from gateway.domain.model import NewEvent, Order, OrderStatus
from gateway.store import events
from gateway.store.codec import encode, iso
from gateway.store.db import IN_LIST, Database, Tx, json_list

_INSERT = (
    "INSERT INTO orders (order_id, channel, external_id, status, created_at, received_at,"
    " updated_at, doc) VALUES {rows} ON CONFLICT (channel, external_id) DO NOTHING"
)
_STORED = f"SELECT json_group_array(order_id) FROM orders WHERE order_id {IN_LIST}"
_FIRST_ID = "SELECT order_id FROM orders WHERE channel = ? AND external_id = ?"
_ids = msgspec.json.Decoder(list[str])


class Stored(msgspec.Struct, frozen=True):
    order_id: str
    external_id: str
    duplicate: bool


class _Submission(msgspec.Struct, frozen=True):
    orders: list[Order]
    now: datetime
    on_commit: Callable[[list[str]], None] | None


async def store_orders(
    db: Database,
    orders: list[Order],
    now: datetime,
    on_commit: Callable[[list[str]], None] | None = None,
) -> list[Stored]:
    """Store new orders as `received`; for one already known, return the first `order_id`.

    Returns once the orders are committed: only then may the caller answer 202.
    `on_commit` gets the ids of the orders that are new. Submissions waiting for the same group
    commit are stored together (`Database.write_batched`): a few statements for all of them.
    """
    return await db.write_batched(_store, _Submission(orders, now, on_commit), units=len(orders))


def _store(tx: Tx, submissions: list[_Submission]) -> list[list[Stored]]:
    stamps = [iso(submission.now) for submission in submissions]
    rows: list[tuple[str, str, str, str, str, str, str, bytes]] = []
    for submission, stamp in zip(submissions, stamps, strict=True):
        for order in submission.orders:
            rows.append(
                (
                    order.order_id,
                    order.channel,
                    order.external_id,
                    OrderStatus.RECEIVED.value,
                    iso(order.created_at),
                    iso(order.received_at),
                    stamp,
                    encode(order),
                )
            )
    inserted = tx.execute_rows(_INSERT, rows)
    new_ids = None if inserted == len(rows) else _new_among(tx, [row[0] for row in rows])
    results: list[list[Stored]] = []
    received: list[tuple[str, NewEvent]] = []
    for submission, stamp in zip(submissions, stamps, strict=True):
        stored: list[Stored] = []
        for order in submission.orders:
            if new_ids is not None and order.order_id not in new_ids:
                # Known already (or twice in this group): the first order's id answers.
                row = tx.fetchone(_FIRST_ID, (order.channel, order.external_id))
                assert row is not None
                stored.append(Stored(row["order_id"], order.external_id, duplicate=True))
                continue
            received.append((stamp, _received(order)))
            stored.append(Stored(order.order_id, order.external_id, duplicate=False))
        results.append(stored)
        fresh = [s.order_id for s in stored if not s.duplicate]
        if submission.on_commit is not None and fresh:
            tx.after_commit(functools.partial(submission.on_commit, fresh))
    events.append_stamped(tx, received)
    return results


def _new_among(tx: Tx, order_ids: list[str]) -> set[str]:
    """Which of these ids the insert stored (the rest were duplicates)."""
    stored: list[str] = tx.fetch_json(_STORED, [json_list(order_ids)], _ids)
    return set(stored)


def _received(order: Order) -> NewEvent:
    return NewEvent(
        type="order.received",
        order_id=order.order_id,
        data={
            "external_id": order.external_id,
            "channel": order.channel,
            "lines": len(order.lines),
            "region": order.ship_to.region,
        },
    )
