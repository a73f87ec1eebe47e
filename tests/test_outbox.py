"""The event log as the outbox: what is appended while no broker is up goes out once one comes,
every event once and each order's events in sequence, the publisher's durable position ends at
the head of the log, and a batch read is bounded however long the backlog is.

A real SQLite store written through the same units of work as the gateway's actors, the real
publisher, and a real Mosquitto that starts only after the events are in the log."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from gateway.actors.bus import Bus
from gateway.actors.intake import IntakeService
from gateway.domain.model import CatalogItem, NewEvent
from gateway.domain.routing import RulePlanner, SupplierView
from gateway.feed.publisher import BATCH, CONSUMER, Publisher
from gateway.infra.clock import FakeClock
from gateway.infra.config import MqttSection
from gateway.infra.metrics import Metrics
from gateway.store import events
from gateway.store.db import Database
from gateway.store.purchase_orders import MarkAccepted, MarkSent, record_outcomes
from gateway.store.routing import route_orders, sync_catalog
from tests.harness import FeedCollector, Mosquitto, order_json, until_committed

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
SUPPLIERS = {"sup-a": SupplierView(supplier_id="sup-a", regions=("CN",))}
CATALOG = [
    CatalogItem(sku="SKU-1", supplier_id="sup-a", cost=Decimal("1"), priority=1, stock=10**6)
]
# Each order below makes six events: received, routed, po.sent, dispatched, po.accepted,
# acknowledged. 2 x 100 orders make 1,200: more than two of the publisher's batches.
ORDERS_PER_ROUND = 400


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with Database(tmp_path / "gateway.db") as database:
        await sync_catalog(database, CATALOG)
        yield database


async def orders_through_to_acknowledged(db: Database, clock: FakeClock, prefix: str) -> None:
    """Take orders in, route them, and record their POs sent and accepted: the actors' writes."""
    intake = IntakeService(db, Bus(), clock, Metrics())
    bodies = [
        json.dumps(order_json(f"{prefix}-{i}", [("SKU-1", 1)])).encode()
        for i in range(ORDERS_PER_ROUND)
    ]
    order_ids = [r.order_id for r in await intake.submit(bodies) if r.order_id]
    routed = await route_orders(
        db, order_ids, RulePlanner(), lambda: SUPPLIERS, clock.now, lambda _: None
    )
    po_ids = [po for r in routed for ids in r.po_ids_by_supplier.values() for po in ids]
    assert len(po_ids) == ORDERS_PER_ROUND
    await record_outcomes(db, [MarkSent(po) for po in po_ids], clock.now())
    await record_outcomes(db, [MarkAccepted(po, f"REF-{po}") for po in po_ids], clock.now())


async def end_every_wait(clock: FakeClock) -> None:
    while True:
        await clock.wait_sleepers(1)
        clock.advance(60)


def seq_of(event_id: str) -> int:
    return int(event_id.rsplit("_", 1)[1])


async def test_events_appended_without_a_broker_all_go_out_in_order_once_one_comes(
    tmp_path: Path, db: Database
) -> None:
    workdir = tmp_path / "mosquitto"
    workdir.mkdir()
    broker = Mosquitto(workdir)  # its port is chosen, nothing listens on it yet
    clock = FakeClock(T0)  # the publisher's reconnect backoff waits on this clock
    publisher = Publisher(db, MqttSection(url=broker.url, reconnect_max_s=1), clock, Metrics())

    await orders_through_to_acknowledged(db, clock, "BEFORE")  # before the publisher runs
    running = asyncio.create_task(publisher.run(lambda: None), name="publisher")
    keeper: asyncio.Task[None] | None = None
    try:
        async with asyncio.timeout(30):
            await publisher.wait_connected(False)  # it tried, and there is no broker
        await orders_through_to_acknowledged(db, clock, "DURING")  # while it knows none
        log = await db.fetchall("SELECT seq, order_id, type FROM events ORDER BY seq")
        head = log[-1]["seq"]
        assert len(log) == 2 * ORDERS_PER_ROUND * 6 > 2 * BATCH
        assert await db.read(lambda conn: events.position(conn, CONSUMER)) == 0

        await asyncio.to_thread(broker.start)
        async with FeedCollector(broker.port) as feed:
            # Only now, with the feed listening, does the publisher's backoff end: each time it
            # waits to try again (a failed attempt under load too), time moves past the wait.
            keeper = asyncio.create_task(end_every_wait(clock), name="time-keeper")

            async def position_at_head() -> int | None:
                position = await db.read(lambda conn: events.position(conn, CONSUMER))
                return position if position == head else None

            await until_committed(db, position_at_head, 60, "the mqtt position at the head")
            await feed.wait_until(
                lambda f: len(f.events()) >= len(log), 30, f"{len(log)} events on the feed"
            )
            received = [e["event_id"] for e in feed.events()]
            expected = [events.event_id(db.instance_id, row["seq"]) for row in log]
            # Every event once (the broker acknowledged each; nothing was sent twice).
            assert Counter(received) == Counter(expected)
            # Each order's events arrived in the order of the log, with the log's types.
            by_order: dict[str, list[tuple[int, str]]] = {}
            for event in feed.events():
                by_order.setdefault(event["order_id"], []).append(
                    (seq_of(event["event_id"]), event["type"])
                )
            for row in log:
                assert (row["seq"], row["type"]) in by_order[row["order_id"]]
            for order_id, seen in by_order.items():
                assert seen == sorted(seen), f"{order_id}: events out of order: {seen}"
            # And every order's retained status is its latest state.
            order_ids = {row["order_id"] for row in log}
            await feed.wait_until(
                lambda f: all(
                    (f.status_of(o) or {}).get("status") == "acknowledged" for o in order_ids
                ),
                30,
                "every order's status acknowledged",
            )
    finally:
        if keeper is not None:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
        if not await publisher.flush(10):
            running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await asyncio.to_thread(broker.stop)


def vm_steps(conn: sqlite3.Connection, read: functools.partial[events.FeedBatch]) -> int:
    """How much work SQLite does for `read`, in units of 100 virtual machine instructions:
    deterministic, unlike time, and it grows with every row a statement visits."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0  # go on

    conn.set_progress_handler(count, 100)
    try:
        read(conn)
    finally:
        conn.set_progress_handler(None, 0)
    return steps


def full_scans(conn: sqlite3.Connection, read: functools.partial[events.FeedBatch]) -> list[str]:
    """The statements `read` runs whose query plan walks a whole table (SQLite's own count(*)
    is one instruction per table, so only the plan shows it)."""
    statements: list[str] = []
    conn.set_trace_callback(statements.append)  # parameters come expanded into the text
    try:
        read(conn)
    finally:
        conn.set_trace_callback(None)
    return [
        f"{sql[:80]}: {step[3]}"
        for sql in statements
        for step in conn.execute(f"EXPLAIN QUERY PLAN {sql}")
        # A subquery's rows are what its own (checked) plan found, not a table; json_each walks
        # the list of keys the statement was given (`store.db.IN_LIST`), not a table.
        if step[3].startswith("SCAN")
        and not step[3].startswith(("SCAN (subquery", "SCAN json_each VIRTUAL TABLE"))
    ]


async def test_a_batch_read_is_bounded_by_its_limit_not_by_the_backlog(db: Database) -> None:
    clock = FakeClock(T0)
    await orders_through_to_acknowledged(db, clock, "SO")
    instance = db.instance_id
    limit = 50

    first = await db.read(
        functools.partial(events.feed_batch, instance=instance, after_seq=0, limit=limit)
    )
    assert [e.seq for e in first.events] == list(range(1, limit + 1))
    assert first.head == ORDERS_PER_ROUND * 6
    # Snapshots for the orders of this batch only, not for the whole backlog.
    assert {o.order_id for o in first.orders} == {e.order_id for e in first.events}
    assert len(first.orders) < ORDERS_PER_ROUND
    following = await db.read(
        functools.partial(events.feed_batch, instance=instance, after_seq=limit, limit=limit)
    )
    assert [e.seq for e in following.events] == list(range(limit + 1, 2 * limit + 1))

    read = functools.partial(events.feed_batch, instance=instance, after_seq=0, limit=limit)
    before = await db.read(functools.partial(vm_steps, read=read))
    # Twenty times the backlog (events of no order: supplier health), the same batch to read.
    filler = [
        NewEvent(type="supplier.health", supplier_id="sup-a", data={"state": "up"})
        for _ in range(20 * ORDERS_PER_ROUND * 6)
    ]
    await events.record(db, clock.now(), filler)
    after = await db.read(functools.partial(vm_steps, read=read))
    grown = await db.read(read)
    assert grown.events == first.events
    assert grown.head == 21 * ORDERS_PER_ROUND * 6
    # A read that counted or scanned the backlog would do about twenty times the work.
    assert after <= 2 * max(before, 1), (before, after)
    assert await db.read(functools.partial(full_scans, read=read)) == []
