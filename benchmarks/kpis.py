"""How fast `GET /api/v1/kpis` answers with a million orders, and what keeping its rollups costs
each order on the write path.

    .venv/bin/python -m benchmarks.kpis                   # 1,000,000 orders over 100 days
    .venv/bin/python -m benchmarks.kpis --orders 100000   # a quicker look

The store is the real one (migrations, WAL, the rollup triggers of migration 0004). Its orders
are generated with plain SQL inserts and status updates into `orders` and `purchase_orders`,
which fire the same triggers the write path does; going through intake and routing for a
million orders would measure those instead. The generated database is kept in `build/` and
reused by the next run with the same figures. It prints figures and asserts nothing.

Sections:
1. write cost: the time to store and move orders through their statuses, with and without
   the rollup triggers (100,000 orders each), per order.
2. queries: each KPI query over 1, 7, 30 and all 100 days, alone and filtered by channel and
   by supplier: the median of 5 runs, measured through `compute_kpis` as the API calls it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gateway.store.codec import iso
from gateway.store.db import Database
from gateway.store.kpis import KpiQuery, compute_kpis, status_counts

BUILD = Path(__file__).resolve().parent.parent / "build" / "bench-kpis"
START = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 100
CHANNELS = (("erp", 0.6), ("shop", 0.3), ("api", 0.1))
SUPPLIERS = ("sup-a", "sup-b", "sup-c", "sup-d", "sup-e")
SKUS = [f"SKU-{n:04d}" for n in range(1, 501)]
HOLD_REASONS = ("no_route", "out_of_stock", "bad_address", "unpaid")


def _pick_channel(rng: random.Random) -> str:
    roll = rng.random()
    for name, share in CHANNELS:
        if roll < share:
            return name
        roll -= share
    return CHANNELS[-1][0]


def _orders(count: int, seed: int) -> Iterator[dict[str, Any]]:
    """Orders spread evenly over DAYS, with lines, POs and a fate each."""
    rng = random.Random(seed)
    span = DAYS * 86400.0
    weights = [1.0 / (rank + 1) for rank in range(len(SKUS))]  # a few best sellers, a long tail
    for n in range(count):
        received = START + timedelta(seconds=span * n / count)
        skus = rng.choices(SKUS[:450], weights[:450], k=rng.choice((1, 1, 1, 2, 3)))
        lines = [
            {"line_id": str(i + 1), "sku": sku, "quantity": rng.randint(1, 5)}
            for i, sku in enumerate(skus)
        ]
        fate = rng.random()
        yield {
            "order_id": f"ord_{n:016x}",
            "channel": _pick_channel(rng),
            "received": received,
            "lines": lines,
            "suppliers": rng.sample(SUPPLIERS, 2 if len(lines) > 1 and rng.random() < 0.3 else 1),
            "fate": "hold" if fate < 0.03 else "open" if fate < 0.08 else "shipped",
            "reason": rng.choice(HOLD_REASONS),
            "dispatch_s": rng.uniform(1, 600),
            "ship_s": rng.lognormvariate(10.5, 0.6),  # around 10 h, a tail past 48 h
        }


def _store(conn: sqlite3.Connection, orders: Iterator[dict[str, Any]], batch: int) -> int:
    """Insert and move orders as the write path does; returns how many were stored."""
    stored = 0
    while True:
        chunk = [o for _, o in zip(range(batch), orders, strict=False)]
        if not chunk:
            return stored
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO orders (order_id, channel, external_id, status, created_at,"
            " received_at, updated_at, doc) VALUES (?, ?, ?, 'received', ?, ?, ?, ?)",
            [
                (
                    o["order_id"],
                    o["channel"],
                    o["order_id"],
                    iso(o["received"]),
                    iso(o["received"]),
                    iso(o["received"]),
                    json.dumps({"order_id": o["order_id"], "lines": o["lines"]}).encode(),
                )
                for o in chunk
            ],
        )
        pos = [
            (f"{o['order_id']}-{i}", o["order_id"], supplier, iso(o["received"]))
            for o in chunk
            if o["fate"] != "hold"
            for i, supplier in enumerate(o["suppliers"], start=1)
        ]
        conn.executemany(
            "INSERT INTO purchase_orders (po_id, order_id, supplier_id, status, lines,"
            " created_at, updated_at) VALUES (?, ?, ?, 'pending', x'5b5d', ?, ?)",
            [(*p, p[3]) for p in pos],
        )

        def move(status: str, rows: list[tuple[str, str, str | None]]) -> None:
            conn.executemany(
                "UPDATE orders SET status = ?, updated_at = ?, hold_reason = ? WHERE order_id = ?",
                [(status, at, reason, order_id) for order_id, at, reason in rows],
            )

        def later(o: dict[str, Any], seconds: float) -> str:
            return iso(o["received"] + timedelta(seconds=seconds))

        move(
            "on_hold",
            [(o["order_id"], later(o, 1), o["reason"]) for o in chunk if o["fate"] == "hold"],
        )
        active = [o for o in chunk if o["fate"] != "hold"]
        move("routed", [(o["order_id"], later(o, 1), None) for o in active])
        move("dispatched", [(o["order_id"], later(o, o["dispatch_s"]), None) for o in active])
        shipped = [o for o in active if o["fate"] == "shipped"]
        conn.executemany(
            "UPDATE purchase_orders SET status = 'shipped', updated_at = ? WHERE order_id = ?",
            [(later(o, o["ship_s"]), o["order_id"]) for o in shipped],
        )
        move("shipped", [(o["order_id"], later(o, o["ship_s"]), None) for o in shipped])
        conn.execute("COMMIT")
        stored += len(chunk)


async def _migrated(path: Path) -> None:
    async with Database(path):
        pass


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA cache_size = -65536")
    return conn


def write_cost(orders: int) -> None:
    print(f"\n1. write cost of the rollup triggers ({orders:,} orders, synchronous=NORMAL)")
    results: dict[str, float] = {}
    for label in ("without triggers", "with triggers"):
        path = BUILD / f"write-{label.replace(' ', '-')}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        asyncio.run(_migrated(path))
        conn = _connect(path)
        if label == "without triggers":
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'kpi_%'"
            ).fetchall():
                conn.execute(f"DROP TRIGGER {name}")
        started = time.perf_counter()
        _store(conn, _orders(orders, seed=7), batch=2000)
        results[label] = time.perf_counter() - started
        conn.close()
        print(
            f"   {label:<17} {results[label]:6.2f} s   "
            f"{results[label] / orders * 1e6:6.1f} µs per order"
        )
    extra = (results["with triggers"] - results["without triggers"]) / orders * 1e6
    print(f"   the rollups add {extra:.1f} µs per order (insert, 3 status moves, POs, shipment)")


def build(orders: int) -> Path:
    path = BUILD / f"kpis-{orders}.db"
    if path.exists():
        print(f"\n(using {path}, built by an earlier run)")
        return path
    tmp = path.with_suffix(".tmp")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{tmp}{suffix}").unlink(missing_ok=True)
    asyncio.run(_migrated(tmp))
    conn = _connect(tmp)
    started = time.perf_counter()
    print(f"\nbuilding a store of {orders:,} orders over {DAYS} days ...", flush=True)
    _store(conn, _orders(orders, seed=1), batch=5000)
    conn.executemany(
        "INSERT INTO catalog (sku, supplier_id, cost, priority, stock, configured_stock)"
        " VALUES (?, ?, '10.00', 1, 1000, 1000)",
        [(sku, SUPPLIERS[i % len(SUPPLIERS)]) for i, sku in enumerate(SKUS)],
    )
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    tmp.rename(path)
    print(f"   built in {time.perf_counter() - started:.0f} s, {path.stat().st_size / 1e6:.0f} MB")
    return path


async def _timed(runs: int, call: Callable[[], Any]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


async def queries(path: Path) -> None:
    end = START + timedelta(days=DAYS)
    print("\n2. query time (median of 5 runs, ms): the whole /api/v1/kpis answer")
    print(f"   {'range':<10}{'orders':>10}{'all':>10}{'channel':>10}{'supplier':>10}")
    async with Database(path) as db:
        for days in (1, 7, 30, DAYS):
            start = end - timedelta(days=days)

            def query(**filters: Any) -> KpiQuery:
                return KpiQuery(start=start, end=end, now=end, **filters)  # noqa: B023

            first = await compute_kpis(db, query())
            row = [
                await _timed(5, lambda: compute_kpis(db, query())),
                await _timed(5, lambda: compute_kpis(db, query(channel="shop"))),
                await _timed(5, lambda: compute_kpis(db, query(supplier="sup-c"))),
            ]
            print(
                f"   {days:>3} days {first['orders']['total']:>10,}"
                + "".join(f"{ms:>10.1f}" for ms in row)
            )
        live = await _timed(5, lambda: status_counts(db))
        print(f"\n   live status counts (dashboard, every second): {live:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument(
        "--write-orders", type=int, default=100_000, help="orders of section 1 (0: skip it)"
    )
    args = parser.parse_args()
    BUILD.mkdir(parents=True, exist_ok=True)
    print(f"sqlite {sqlite3.sqlite_version}")
    if args.write_orders:
        write_cost(args.write_orders)
    asyncio.run(queries(build(args.orders)))


if __name__ == "__main__":
    main()
