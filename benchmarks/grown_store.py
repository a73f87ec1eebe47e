"""A gateway database that already holds many orders, bulk-loaded (not through the API), for
measuring whether the gateway slows down as its store grows.

Each stored order is a copy of a template order that went the whole way through the gateway's
own store functions on a scratch database (received, routed, accepted, shipped: its order row,
purchase order, shipment and their ~6 events), with fresh ids, its own external id and its own
timestamps (10,000 orders a day, ending yesterday). The copies are written with plain sqlite3
in large transactions into a database that `Database` migrated, so the schema is exactly the
gateway's. The MQTT consumer's position is put at the head of the log: the old events count as
published long ago.

Building a million takes minutes, so the result is cached under `benchmarks/.cache/` (git-ignored)
and copied for each run while the schema version (and this loader's version) match.
"""

from __future__ import annotations

import functools
import re
import secrets
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from benchmarks.load import SKUS
from gateway.domain.intake import decode_order, normalise
from gateway.domain.model import CatalogItem, ShipmentLine
from gateway.domain.routing import RulePlanner, SupplierView
from gateway.store.codec import iso, new_id
from gateway.store.db import Database
from gateway.store.intake import store_orders
from gateway.store.purchase_orders import MarkAccepted, record_outcomes
from gateway.store.routing import route_orders, sync_catalog
from gateway.store.shipments import record_shipment
from tests.harness import order_json

CACHE = Path(__file__).resolve().parent / ".cache"
LOADER_VERSION = 1  # bump when what a stored order looks like changes
ORDERS_PER_DAY = 10_000
CHUNK = 20_000  # orders per transaction
TABLES = ("orders", "purchase_orders", "shipments", "events")
_TEMPLATE_EXTERNAL = "GROW-0000000000"
_TEMPLATE_TRACKING = "SF9999999999999"
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")

Row = tuple[Any, ...]


class Template(msgspec.Struct):
    """One order's rows in every table, and the ids to replace in each copy."""

    order_hex: str
    shipment_hex: str
    rows: dict[str, tuple[list[str], list[Row]]]  # table -> (columns, rows)


def schema_version() -> int:
    """The version the migrations create (a scratch database, migrated and read)."""
    with tempfile.TemporaryDirectory() as scratch:
        conn = sqlite3.connect(Path(scratch) / "v.db")
        try:
            from gateway.store.db import migrate

            return migrate(conn)
        finally:
            conn.close()


def cached_path(orders: int) -> Path:
    return CACHE / f"grown-{orders}-schema{schema_version()}-loader{LOADER_VERSION}.db"


async def prepare(orders: int, target: Path, progress: Callable[[str], None]) -> tuple[bool, float]:
    """Put a database holding `orders` orders at `target`. (built now?, seconds it took)."""
    began = time.perf_counter()
    cached = cached_path(orders)
    built = False
    if not cached.exists():
        progress(f"building a store of {orders:,} orders (cached for next time: {cached})")
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        await _migrated(partial)
        templates = [await _template(sku, supplier) for sku, supplier in SKUS.items()]
        _bulk_load(partial, templates, orders, progress)
        partial.rename(cached)
        built = True
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cached, target)
    return built, time.perf_counter() - began


async def _migrated(path: Path) -> None:
    db = Database(path)
    await db.open()
    await db.close()


async def _template(sku: str, supplier_id: str) -> Template:
    """Run one order through the store's own units of work and read back every row of it."""
    with tempfile.TemporaryDirectory() as scratch:
        db = Database(Path(scratch) / "template.db")
        await db.open()
        try:
            return await _walk_order(db, sku, supplier_id)
        finally:
            await db.close()


async def _walk_order(db: Database, sku: str, supplier_id: str) -> Template:
    now = datetime.now(UTC)
    await sync_catalog(
        db,
        [CatalogItem(sku=sku, supplier_id=supplier_id, cost=Decimal("10.00"), priority=1, stock=9)],
    )
    body = msgspec.json.encode(order_json(_TEMPLATE_EXTERNAL, [(sku, 2)], "浙江省"))
    order = normalise(decode_order(body), order_id=new_id("ord"), received_at=now)
    await store_orders(db, [order], now)
    views = {supplier_id: SupplierView(supplier_id=supplier_id, regions=("*",))}
    routed = await route_orders(
        db, [order.order_id], RulePlanner(), lambda: views, lambda: now, lambda _: None
    )
    po_id = routed[0].po_ids_by_supplier[supplier_id][0]
    await record_outcomes(db, [MarkAccepted(po_id, f"{supplier_id}-{po_id}")], now)
    shipment = await record_shipment(
        db,
        supplier_id,
        po_id,
        "SF",
        _TEMPLATE_TRACKING,
        now,
        (ShipmentLine(sku=sku, quantity=2),),
        now,
    )
    rows: dict[str, tuple[list[str], list[Row]]] = {}
    where = {
        "orders": ("order_id = ?", order.order_id),
        "purchase_orders": ("order_id = ?", order.order_id),
        "shipments": ("po_id = ?", po_id),
        "events": ("order_id = ? ORDER BY seq", order.order_id),
    }
    for table, (condition, key) in where.items():
        rows[table] = await db.read(functools.partial(_rows, table=table, where=condition, key=key))
    return Template(
        order_hex=order.order_id.removeprefix("ord_"),
        shipment_hex=shipment.shipment_id.removeprefix("shp_"),
        rows=rows,
    )


def _rows(
    conn: sqlite3.Connection, table: str, where: str, key: str
) -> tuple[list[str], list[Row]]:
    cursor = conn.execute(f"SELECT * FROM {table} WHERE {where}", (key,))
    columns = [d[0] for d in cursor.description]
    keep = [i for i, name in enumerate(columns) if name != "seq"]  # the log numbers its rows
    return [columns[i] for i in keep], [tuple(row[i] for i in keep) for row in cursor.fetchall()]


def _copy(value: Any, subs: list[tuple[str, str]], stamp: str) -> Any:
    if isinstance(value, str):
        if _TIMESTAMP.match(value):
            return stamp
        for old, new in subs:
            value = value.replace(old, new)
        return value
    if isinstance(value, bytes):
        for old, new in subs:
            value = value.replace(old.encode(), new.encode())
        return value
    return value


def _copies(
    templates: list[Template], first: int, count: int, start: datetime
) -> Iterator[tuple[str, Row]]:
    """(table, row) of orders first .. first+count-1."""
    step = timedelta(days=1) / ORDERS_PER_DAY
    for i in range(first, first + count):
        template = templates[i % len(templates)]
        subs = [
            (template.order_hex, secrets.token_hex(8)),
            (template.shipment_hex, secrets.token_hex(8)),
            (_TEMPLATE_EXTERNAL, f"GROW-{i:010d}"),
            (_TEMPLATE_TRACKING, f"SF{i:013d}"),
        ]
        stamp = iso(start + i * step)
        for table in TABLES:
            for row in template.rows[table][1]:
                yield table, tuple(_copy(v, subs, stamp) for v in row)


def _bulk_load(
    path: Path, templates: list[Template], orders: int, progress: Callable[[str], None]
) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = DELETE")  # a bulk load needs no WAL; set back below
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -1048576")  # 1 GiB: random-key indexes stay in memory
        inserts = {
            table: "INSERT INTO {} ({}) VALUES ({})".format(
                table, ", ".join(cols), ", ".join("?" * len(cols))
            )
            for table, (cols, _) in templates[0].rows.items()
        }
        start = datetime.now(UTC) - timedelta(days=1 + orders / ORDERS_PER_DAY)
        began = time.perf_counter()
        for first in range(0, orders, CHUNK):
            count = min(CHUNK, orders - first)
            by_table: dict[str, list[Row]] = {table: [] for table in TABLES}
            for table, row in _copies(templates, first, count, start):
                by_table[table].append(row)
            conn.execute("BEGIN")
            for table in TABLES:
                conn.executemany(inserts[table], by_table[table])
            conn.execute("COMMIT")
            done = first + count
            if done % (10 * CHUNK) == 0 or done == orders:
                rate = done / (time.perf_counter() - began)
                progress(f"  {done:,} of {orders:,} orders stored ({rate:,.0f}/s)")
        conn.execute(
            "INSERT INTO feed_positions (consumer, seq) VALUES ('mqtt', (SELECT max(seq) FROM"
            " events)) ON CONFLICT (consumer) DO UPDATE SET seq = excluded.seq"
        )
        conn.execute("PRAGMA journal_mode = WAL")
    finally:
        conn.close()


def summary(path: Path) -> dict[str, int]:
    """Rows per table and the file's size, to print what the grown store holds."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        counts = {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in TABLES}
    finally:
        conn.close()
    counts["bytes"] = path.stat().st_size
    return counts
