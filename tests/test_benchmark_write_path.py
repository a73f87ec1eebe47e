"""The benchmark's write-path comparison (docs/performance.md, case 6) is only fair while both
drivers do the same work: the store's writer and set-based aiosqlite, given the same orders,
leave the same rows. This also keeps the benchmark from drifting away from the store's code
(it calls the store's routing helpers, which the suite would otherwise not notice changing)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from benchmarks import write_path

TABLES = ("orders", "purchase_orders", "events")


def _shape(path: Path) -> dict[str, object]:
    conn = sqlite3.connect(path)
    try:
        shape: dict[str, object] = {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in TABLES
        }
        shape["statuses"] = sorted(conn.execute("SELECT status, count(*) FROM orders GROUP BY 1"))
        shape["events"] = sorted(conn.execute("SELECT type, count(*) FROM events GROUP BY 1"))
        shape["stock"] = sorted(conn.execute("SELECT supplier_id, sku, stock FROM catalog"))
        return shape
    finally:
        conn.close()


async def test_both_write_paths_store_and_route_the_same_orders_alike(tmp_path: Path) -> None:
    groups = write_path.groups_of_orders("T", 2)
    writer = await write_path.through_writer(tmp_path / "writer.db", groups, "normal")
    direct = await write_path.through_aiosqlite(tmp_path / "aiosqlite.db", groups, "normal")

    assert writer.orders == direct.orders == 2 * write_path.GROUP
    by_writer, by_aiosqlite = _shape(tmp_path / "writer.db"), _shape(tmp_path / "aiosqlite.db")
    assert by_writer == by_aiosqlite
    assert by_writer["orders"] == 2 * write_path.GROUP
    assert by_writer["statuses"] == [("routed", 2 * write_path.GROUP)]
