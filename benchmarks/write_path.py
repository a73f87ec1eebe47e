"""Two ways to drive SQLite for the same units of work (issue 5 asks for both to be measured):

(a) the gateway's writer (`gateway.store.db.Database`): each unit of work is a synchronous
    function run on the store's writer thread, one hand-off per group commit;
(b) aiosqlite with set-based statements: every statement is awaited through aiosqlite's thread,
    but there are few of them, one `executemany` per kind of write per group.

The work: store a group of 64 received orders with their `order.received` events (one
transaction), then route them (a second one: read the orders and the catalog, plan, write the
purchase orders, stock, order statuses and `order.routed` events). (a) runs the gateway's own
store functions; (b) runs the same SQL, and the same planner and row building for routing
(the store's own helpers), through aiosqlite. Both on a fresh file with the gateway's schema and
the same `synchronous`. Printed per order: wall time and this process's CPU (both threads).
"""

from __future__ import annotations

import resource
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiosqlite

from benchmarks.load import SKUS, order_bodies
from gateway.domain.intake import decode_order, normalise
from gateway.domain.model import CatalogItem, Order, OrderStatus
from gateway.domain.routing import Candidate, Hold, RulePlanner, SupplierView
from gateway.store import routing as store_routing
from gateway.store.codec import encode, iso, new_id, order_decoder
from gateway.store.db import Database, row_chunks
from gateway.store.intake import store_orders

GROUP = 64
_INSERT_ORDER = (
    "INSERT INTO orders (order_id, channel, external_id, status, created_at, received_at,"
    " updated_at, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (channel, external_id) DO NOTHING"
)
_INSERT_EVENT = (
    "INSERT INTO events (type, at, order_id, po_id, supplier_id, data) VALUES (?, ?, ?, ?, ?, ?)"
)
CATALOG = [
    CatalogItem(sku=sku, supplier_id=s, cost=Decimal("10.00"), priority=1, stock=10**9)
    for sku, s in SKUS.items()
]
VIEWS = {s: SupplierView(supplier_id=s, regions=("*",)) for s in SKUS.values()}


@dataclass(frozen=True)
class Timing:
    driver: str
    orders: int
    wall_s: float
    cpu_s: float

    @property
    def wall_us(self) -> float:
        return self.wall_s / self.orders * 1e6

    @property
    def cpu_us(self) -> float:
        return self.cpu_s / self.orders * 1e6


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def groups_of_orders(label: str, groups: int) -> list[list[Order]]:
    now = datetime.now(UTC)
    orders = [
        normalise(decode_order(body), order_id=new_id("ord"), received_at=now)
        for body in order_bodies(label, groups * GROUP)
    ]
    return [orders[i : i + GROUP] for i in range(0, len(orders), GROUP)]


async def _fresh(path: Path, synchronous: str) -> None:
    db = Database(path, synchronous="full" if synchronous == "full" else "normal")
    await db.open()
    await store_routing.sync_catalog(db, CATALOG)
    await db.close()


# -- (a) the gateway's writer --------------------------------------------------------------------


async def through_writer(path: Path, groups: list[list[Order]], synchronous: str) -> Timing:
    await _fresh(path, synchronous)
    db = Database(path, synchronous="full" if synchronous == "full" else "normal")
    await db.open()
    planner = RulePlanner()
    try:
        began, cpu = time.perf_counter(), _own_cpu()
        for orders in groups:
            now = datetime.now(UTC)
            await store_orders(db, orders, now)
            await store_routing.route_orders(
                db,
                [o.order_id for o in orders],
                planner,
                lambda: VIEWS,
                lambda: datetime.now(UTC),
                lambda _: None,
            )
        wall, cpu = time.perf_counter() - began, _own_cpu() - cpu
    finally:
        await db.close()
    return Timing("writer thread, units of work", sum(map(len, groups)), wall, cpu)


# -- (b) aiosqlite, set-based --------------------------------------------------------------------


class _Recorder:
    """Stands in for a Tx where the store's routing helpers only write: keeps each
    `executemany` so that it can be replayed through aiosqlite, statement for statement."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[Sequence[Any]]]] = []

    def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        self.calls.append((sql, list(params)))

    def execute_rows(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        for statement, params in row_chunks(sql, rows):
            self.calls.append((statement, [params]))


async def _store_group(conn: aiosqlite.Connection, orders: list[Order], now: datetime) -> None:
    stamp = iso(now)
    await conn.execute("BEGIN IMMEDIATE")
    await conn.executemany(
        _INSERT_ORDER,
        [
            (
                o.order_id,
                o.channel,
                o.external_id,
                OrderStatus.RECEIVED.value,
                iso(o.created_at),
                iso(o.received_at),
                stamp,
                encode(o),
            )
            for o in orders
        ],
    )
    # Which of them are new (a duplicate keeps the first order's id): one read for the group.
    marks = ",".join("?" * len(orders))
    stored = {
        row[0]
        for row in await conn.execute_fetchall(
            f"SELECT order_id FROM orders WHERE order_id IN ({marks})", [o.order_id for o in orders]
        )
    }
    await conn.executemany(
        _INSERT_EVENT,
        [
            (
                "order.received",
                stamp,
                o.order_id,
                None,
                None,
                encode(
                    {
                        "external_id": o.external_id,
                        "channel": o.channel,
                        "lines": len(o.lines),
                        "region": o.ship_to.region,
                    }
                ),
            )
            for o in orders
            if o.order_id in stored
        ],
    )
    await conn.execute("COMMIT")


async def _route_group(
    conn: aiosqlite.Connection, order_ids: list[str], planner: RulePlanner
) -> None:
    moment = datetime.now(UTC)
    at = iso(moment)
    await conn.execute("BEGIN IMMEDIATE")
    marks = ",".join("?" * len(order_ids))
    orders = [
        order_decoder.decode(row[0])
        for row in await conn.execute_fetchall(
            f"SELECT doc FROM orders WHERE order_id IN ({marks}) AND status = ? ORDER BY seq",
            [*order_ids, OrderStatus.RECEIVED.value],
        )
    ]
    skus = sorted({line.sku for order in orders for line in order.lines})
    catalog = {
        (row[1], row[0]): Candidate(
            supplier_id=row[1], sku=row[0], cost=Decimal(row[2]), priority=row[3], stock=row[4]
        )
        for row in await conn.execute_fetchall(
            "SELECT sku, supplier_id, cost, priority, stock FROM catalog"
            f" WHERE sku IN ({','.join('?' * len(skus))})",
            skus,
        )
    }
    writes = store_routing._Writes()
    for order in orders:
        wanted = {line.sku for line in order.lines}
        plan = planner.plan(order, [c for (_, s), c in catalog.items() if s in wanted], VIEWS)
        if isinstance(plan, Hold):
            store_routing._hold(
                writes, order.order_id, plan.reason, plan.detail, plan.explanation, at
            )
        else:
            store_routing._assign(writes, order, plan, catalog, moment, ready={})
    recorder = _Recorder()
    store_routing._apply(recorder, writes, moment)  # type: ignore[arg-type]
    for sql, params in recorder.calls:
        await conn.executemany(sql, params)
    await conn.execute("COMMIT")


async def through_aiosqlite(path: Path, groups: list[list[Order]], synchronous: str) -> Timing:
    await _fresh(path, synchronous)
    conn = await aiosqlite.connect(path, isolation_level=None)
    for pragma in (
        "journal_mode = WAL",
        f"synchronous = {synchronous.upper()}",
        "foreign_keys = ON",
        "cache_size = -65536",
    ):
        await conn.execute(f"PRAGMA {pragma}")
    planner = RulePlanner()
    try:
        began, cpu = time.perf_counter(), _own_cpu()
        for orders in groups:
            await _store_group(conn, orders, datetime.now(UTC))
            await _route_group(conn, [o.order_id for o in orders], planner)
        wall, cpu = time.perf_counter() - began, _own_cpu() - cpu
    finally:
        await conn.close()
    return Timing("aiosqlite, set-based", sum(map(len, groups)), wall, cpu)


async def compare(groups: int, rounds: int, synchronous: str, workdir: Path) -> list[Timing]:
    """Alternate the two drivers `rounds` times on fresh files; every timing, in run order."""
    timings: list[Timing] = []
    with tempfile.TemporaryDirectory(dir=workdir) as scratch:
        for r in range(rounds):
            for name in ("writer", "aiosqlite"):
                path = Path(scratch) / f"{name}-{r}.db"
                orders = groups_of_orders(f"WP{r}", groups)
                if name == "aiosqlite":
                    timings.append(await through_aiosqlite(path, orders, synchronous))
                else:
                    timings.append(await through_writer(path, orders, synchronous))
    return timings
