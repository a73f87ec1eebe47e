"""KPIs (`GET /api/v1/kpis`) against figures computed by hand from a small seeded history.

The history is written through the store's own write path (intake, routing, sent, accepted,
rejected, shipments) at chosen moments, so the rollup triggers see exactly what they see in
production. The hand computation is written next to each assertion.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gateway.actors.bus import Bus
from gateway.actors.intake import IntakeService
from gateway.api.app import build_app
from gateway.api.context import ApiContext
from gateway.domain.model import CatalogItem
from gateway.domain.routing import RulePlanner, SupplierView
from gateway.infra.clock import FakeClock
from gateway.infra.config import KpiSection
from gateway.infra.metrics import Metrics
from gateway.store.db import Database
from gateway.store.kpis import status_counts
from gateway.store.purchase_orders import (
    MarkAccepted,
    MarkRejected,
    MarkSent,
    record_outcomes,
)
from gateway.store.routing import route_orders, sync_catalog
from gateway.store.shipments import record_shipment
from tests.harness import order_json

T0 = datetime(2026, 11, 20, tzinfo=UTC)
MIGRATIONS = Path(__file__).resolve().parent.parent / "gateway" / "store" / "migrations"
KPI_MIGRATION = int(next(MIGRATIONS.glob("*_kpis.sql")).name[:4])
NOW = T0 + timedelta(days=4)  # 2026-11-24T00:00Z: "now" for every query below
H = 3600.0

SUPPLIERS = {
    "sup-a": SupplierView(supplier_id="sup-a", regions=("CN",)),
    "sup-b": SupplierView(supplier_id="sup-b", regions=("CN",)),
}
CATALOG = [
    CatalogItem(sku="SKU-1", supplier_id="sup-a", cost=Decimal("10"), priority=1, stock=1000),
    CatalogItem(sku="SKU-2", supplier_id="sup-b", cost=Decimal("10"), priority=1, stock=1000),
    # never ordered
    CatalogItem(sku="SKU-3", supplier_id="sup-a", cost=Decimal("10"), priority=1, stock=1000),
]


class History:
    """Drives the store's write path at moments of our choosing."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.clock = FakeClock(T0)
        self.intake = IntakeService(db, Bus(), self.clock, Metrics())
        self.pos: dict[str, dict[str, str]] = {}  # order name → supplier → po_id

    def at(self, seconds: float) -> datetime:
        return T0 + timedelta(seconds=seconds)

    async def order(
        self, name: str, at_s: float, channel: str, lines: list[tuple[str, int]]
    ) -> str:
        self.clock.advance(at_s - self.clock.monotonic())
        body = json.dumps(order_json(name, lines, channel=channel)).encode()
        [result] = await self.intake.submit([body])
        assert result.order_id is not None
        routed = await route_orders(
            self.db,
            [result.order_id],
            RulePlanner("cost", "allow"),
            lambda: SUPPLIERS,
            lambda: self.at(at_s),
            lambda _: None,
        )
        self.pos[name] = {s: ids[0] for s, ids in routed[0].po_ids_by_supplier.items()}
        return result.order_id

    async def sent(self, name: str, supplier: str, at_s: float) -> None:
        po_id = self.pos[name][supplier]
        assert await record_outcomes(self.db, [MarkSent(po_id)], self.at(at_s)) == [True]

    async def accepted(self, name: str, supplier: str, at_s: float) -> None:
        po_id = self.pos[name][supplier]
        outcome = MarkAccepted(po_id, "REF")
        assert await record_outcomes(self.db, [outcome], self.at(at_s)) == [True]

    async def rejected(self, name: str, supplier: str, at_s: float, reason: str) -> None:
        outcome = MarkRejected(self.pos[name][supplier], reason, "none left")
        assert await record_outcomes(self.db, [outcome], self.at(at_s)) == [True]

    async def shipped(self, name: str, supplier: str, at_s: float) -> None:
        po_id = self.pos[name][supplier]
        await record_shipment(
            self.db, supplier, po_id, "SF", f"SF-{po_id}", self.at(at_s), (), self.at(at_s)
        )


async def seed(db: Database) -> None:
    await sync_catalog(db, CATALOG)
    h = History(db)
    # o1: erp, received T0; dispatched after 60 s; shipped after 10 h.
    await h.order("o1", 0, "erp", [("SKU-1", 2)])
    await h.sent("o1", "sup-a", 60)
    await h.accepted("o1", "sup-a", 120)
    await h.shipped("o1", "sup-a", 10 * H)
    # o2: erp, received T0+1h, split over both suppliers; dispatched once the second PO is
    # sent (90 s); sup-a ships after 20 h, sup-b after 50 h (the order is shipped then).
    await h.order("o2", 1 * H, "erp", [("SKU-1", 1), ("SKU-2", 3)])
    await h.sent("o2", "sup-a", 1 * H + 30)
    await h.sent("o2", "sup-b", 1 * H + 90)
    await h.shipped("o2", "sup-a", 21 * H)
    await h.shipped("o2", "sup-b", 51 * H)
    # o3: shop, received 11-21 02:00; dispatched after 300 s; never shipped.
    await h.order("o3", 26 * H, "shop", [("SKU-2", 5)])
    await h.sent("o3", "sup-b", 26 * H + 300)
    # o4: shop, received 11-21 03:00; nobody carries SKU-X: on hold, no_route.
    await h.order("o4", 27 * H, "shop", [("SKU-X", 1)])
    # o5: erp, received 11-22 00:00; dispatched after 30 s, then refused: bad_address.
    await h.order("o5", 48 * H, "erp", [("SKU-1", 4)])
    await h.sent("o5", "sup-a", 48 * H + 30)
    await h.rejected("o5", "sup-a", 48 * H + 100, "bad_address")
    # o6: api, received 11-23 20:00 (11-24 04:00 in UTC+8); dispatched after 45 s.
    await h.order("o6", 92 * H, "api", [("SKU-1", 2)])
    await h.sent("o6", "sup-a", 92 * H + 45)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with Database(tmp_path / "gateway.db") as database:
        await seed(database)
        yield database


@pytest.fixture
async def kpi_api(db: Database) -> AsyncIterator[Any]:
    """The real aiohttp app on 127.0.0.1, reading the seeded store, its clock at NOW."""
    runners: list[web.AppRunner] = []

    async def serve(settings: KpiSection) -> str:
        clock = FakeClock(NOW)
        ctx = ApiContext(
            db=db,
            intake=None,  # type: ignore[arg-type]
            suppliers={},
            healths={},
            clock=clock,
            metrics=Metrics(),
            readiness=lambda: (True, {}),
            max_body=1024,
            order_actions=None,  # type: ignore[arg-type]
            kpis=settings,
        )
        runner = web.AppRunner(build_app(ctx, access=None))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        host, port = runner.addresses[0][:2]
        return f"http://{host}:{port}/api/v1/kpis"

    yield serve
    for runner in runners:
        await runner.cleanup()


async def get(http: aiohttp.ClientSession, url: str, **params: str) -> dict[str, Any]:
    async with http.get(url, params=params) as response:
        body: dict[str, Any] = await response.json()
        assert response.status == 200, body
        return body


RANGE = {"from": "2026-11-20T00:00:00Z", "to": "2026-11-24T00:00:00Z"}


async def test_every_figure_matches_the_hand_computation(
    kpi_api: Any, http: aiohttp.ClientSession
) -> None:
    url = await kpi_api(KpiSection(ship_sla_h=48))
    k = await get(http, url, **RANGE)

    assert k["orders"]["total"] == 6
    assert k["orders"]["per_day"] == [
        {"day": "2026-11-20", "orders": 2},  # o1, o2
        {"day": "2026-11-21", "orders": 2},  # o3, o4
        {"day": "2026-11-22", "orders": 1},  # o5
        {"day": "2026-11-23", "orders": 1},  # o6
    ]
    assert k["orders"]["per_channel"] == [
        {"channel": "erp", "orders": 3, "share": 0.5},
        {"channel": "shop", "orders": 2, "share": 0.3333},
        {"channel": "api", "orders": 1, "share": 0.1667},
    ]
    # Dispatched: 60, 90, 300, 30, 45 s → mean 525/5 = 105; p95 = rank ceil(4.75) = 5th = 300.
    assert k["latency"]["received_to_dispatched"] == {"orders": 5, "avg_s": 105.0, "p95_s": 300.0}
    # Shipped: o1 after 36,000 s, o2 after 180,000 s → mean 108,000; p95 = rank 2 = 180,000.
    assert k["latency"]["received_to_shipped"] == {
        "orders": 2,
        "avg_s": 108000.0,
        "p95_s": 180000.0,
    }
    assert k["exceptions"] == {
        "total": 2,
        "rate": 0.3333,
        "by_type": [
            {"type": "bad_address", "count": 1, "rate": 0.1667},
            {"type": "no_route", "count": 1, "rate": 0.1667},
        ],
        "open_now": 2,
    }
    suppliers = {s["supplier_id"]: s for s in k["suppliers"]}
    # sup-a: POs of o1, o2, o5, o6. Shipped on time: o1 (10 h), o2 (20 h). o5 was refused;
    # o6 (received 11-23 20:00) is not due before 11-25 20:00. Due 2, on time 2.
    assert suppliers["sup-a"] == {
        "supplier_id": "sup-a",
        "purchase_orders": 4,
        "share": 0.6667,
        "shipped": 2,
        "rejected": 1,
        "failed": 0,
        "cancelled": 0,
        "sla_h": 48.0,
        "due": 2,
        "on_time": 2,
        "on_time_rate": 1.0,
    }
    # sup-b: o2 shipped after 50 h (late for 48 h); o3 unshipped and due since 11-23 02:00.
    assert suppliers["sup-b"]["purchase_orders"] == 2
    assert suppliers["sup-b"]["share"] == 0.3333
    assert (suppliers["sup-b"]["due"], suppliers["sup-b"]["on_time"]) == (2, 0)
    assert suppliers["sup-b"]["on_time_rate"] == 0.0
    # SKU-1: 2 + 1 + 4 + 2 units in 4 orders; SKU-2: 3 + 5 in 2; SKU-X: 1. SKU-3 never sold.
    assert k["skus"]["top"] == [
        {"sku": "SKU-1", "quantity": 9, "orders": 4},
        {"sku": "SKU-2", "quantity": 8, "orders": 2},
        {"sku": "SKU-X", "quantity": 1, "orders": 1},
    ]
    assert k["skus"]["idle"] == [{"sku": "SKU-3", "last_sold_day": None}]


async def test_supplier_sla_days_offset_and_idle_window_are_settings(
    kpi_api: Any, http: aiohttp.ClientSession
) -> None:
    url = await kpi_api(
        KpiSection(ship_sla_h=48, supplier_ship_sla_h={"sup-b": 72}, utc_offset_h=8)
    )
    k = await get(http, url, **RANGE, idle_days="1")
    sup_b = next(s for s in k["suppliers"] if s["supplier_id"] == "sup-b")
    # 72 h for sup-b: o2's 50 h is on time, and o3 (received 11-21 02:00) is due only at
    # 11-24 02:00, after NOW. Due 1, on time 1.
    assert (sup_b["sla_h"], sup_b["due"], sup_b["on_time"], sup_b["on_time_rate"]) == (
        72.0,
        1,
        1,
        1.0,
    )
    # In UTC+8, o6 (11-23 20:00Z) was received on the 24th.
    assert k["orders"]["per_day"][-2:] == [
        {"day": "2026-11-22", "orders": 1},
        {"day": "2026-11-24", "orders": 1},
    ]
    # Idle for a day: SKU-2 last sold on the 21st, SKU-3 never; SKU-1 sold on the 23rd.
    assert k["skus"]["idle"] == [
        {"sku": "SKU-2", "last_sold_day": "2026-11-21"},
        {"sku": "SKU-3", "last_sold_day": None},
    ]


async def test_channel_and_supplier_filters(kpi_api: Any, http: aiohttp.ClientSession) -> None:
    url = await kpi_api(KpiSection())
    shop = await get(http, url, **RANGE, channel="shop")
    assert shop["orders"]["total"] == 2  # o3, o4
    assert shop["latency"]["received_to_dispatched"]["avg_s"] == 300.0
    assert shop["exceptions"]["by_type"] == [{"type": "no_route", "count": 1, "rate": 0.5}]
    assert [s["supplier_id"] for s in shop["suppliers"]] == ["sup-b"]  # o4 has no PO
    assert shop["skus"]["top"][0] == {"sku": "SKU-2", "quantity": 5, "orders": 1}

    sup_b = await get(http, url, **RANGE, supplier="sup-b")
    assert sup_b["orders"]["total"] == 2  # o2, o3
    assert sup_b["latency"]["received_to_dispatched"] == {
        "orders": 2,
        "avg_s": 195.0,  # (90 + 300) / 2
        "p95_s": 300.0,
    }
    assert [s["supplier_id"] for s in sup_b["suppliers"]] == ["sup-b"]

    one_day = await get(http, url, **{"from": "2026-11-21", "to": "2026-11-21"})
    assert one_day["orders"]["total"] == 2  # a date `to` includes its whole day


@pytest.mark.parametrize(
    ("params", "path"),
    [
        ({"from": "yesterday"}, "query.from"),
        ({"to": "2026-13-01"}, "query.to"),
        ({"from": "2026-11-24", "to": "2026-11-20"}, "query.from"),
        ({"idle_days": "0"}, "query.idle_days"),
    ],
)
async def test_a_bad_query_is_named(
    kpi_api: Any, http: aiohttp.ClientSession, params: dict[str, str], path: str
) -> None:
    url = await kpi_api(KpiSection())
    async with http.get(url, params=params) as response:
        body = await response.json()
    assert response.status == 400
    assert body["error"]["code"] == "invalid_query"
    assert [d["path"] for d in body["error"]["details"]] == [path]


async def test_live_status_counts_follow_every_move(db: Database) -> None:
    # o1, o2 shipped; o3, o6 dispatched; o4, o5 on hold.
    assert await status_counts(db) == {"shipped": 2, "dispatched": 2, "on_hold": 2}
    rows = await db.fetchall("SELECT status, count(*) FROM orders GROUP BY 1")
    assert {r[0]: r[1] for r in rows} == await status_counts(db)


async def test_the_migration_backfills_a_store_that_had_orders(tmp_path: Path) -> None:
    """A store that held orders before the rollups existed gets the same figures."""
    path = tmp_path / "old.db"
    async with Database(path) as database:
        await seed(database)
        before = await database.fetchall("SELECT * FROM kpi_orders ORDER BY order_id")
        before_pos = await database.fetchall("SELECT * FROM kpi_pos ORDER BY po_id")
        before_skus = await database.fetchall("SELECT * FROM kpi_sku_daily ORDER BY 1, 2, 3")

        def forget(tx: Any) -> None:
            """Back to the schema before the KPI migration (and the ones after it)."""
            for kind in ("trigger", "table"):
                for (name,) in tx.fetchall(
                    "SELECT name FROM sqlite_master WHERE type = ? AND (name LIKE 'kpi_%'"
                    " OR name IN ('alerts', 'alerts_open', 'alerts_by_fired'))",
                    (kind,),
                ):
                    tx.execute(f"DROP {kind} {name}")
            tx.execute(f"PRAGMA user_version = {KPI_MIGRATION - 1}")

        await database.write(forget)
    async with Database(path) as reopened:  # migrates again from version 1
        after = await reopened.fetchall("SELECT * FROM kpi_orders ORDER BY order_id")
        after_pos = await reopened.fetchall("SELECT * FROM kpi_pos ORDER BY po_id")
        after_skus = await reopened.fetchall("SELECT * FROM kpi_sku_daily ORDER BY 1, 2, 3")
        counts = await status_counts(reopened)

    def rows(items: list[Any]) -> list[tuple[Any, ...]]:
        return [tuple(round(v, 3) if isinstance(v, float) else v for v in r) for r in items]

    assert rows(after) == rows(before)
    assert rows(after_pos) == rows(before_pos)
    assert rows(after_skus) == rows(before_skus)
    assert counts == {"shipped": 2, "dispatched": 2, "on_hold": 2}
