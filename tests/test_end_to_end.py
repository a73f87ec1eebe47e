"""One order's whole path, 200 times, through the real stack: the gateway as its own process,
a real Mosquitto, three supplier servers on 127.0.0.1 speaking CONTRACT §5."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from dropship_simulator.supplier_server import SupplierSimulator
from tests.conftest import WriteConfig, base_config
from tests.harness import FeedCollector, GatewayProcess, Mosquitto, gather_limited, order_json

SECRETS = {"sup-a": "secret-a", "sup-b": "secret-b", "sup-c": "secret-c"}


@pytest.fixture
async def suppliers() -> AsyncIterator[dict[str, SupplierSimulator]]:
    sims = {
        "sup-a": SupplierSimulator("sup-a", seed=1, latency_ms=[1, 10]),
        "sup-b": SupplierSimulator("sup-b", seed=2, latency_ms=[1, 10]),
        "sup-c": SupplierSimulator("sup-c", seed=3, latency_ms=[1, 10]),
    }
    for sim in sims.values():
        await sim.start()
    try:
        yield sims
    finally:
        for sim in sims.values():
            await sim.stop()


def three_supplier_config(
    tmp_path: Path, broker: Mosquitto, sims: dict[str, SupplierSimulator]
) -> dict[str, Any]:
    """sup-a ships to Zhejiang and Shanghai, sup-b to all of China, sup-c everywhere.
    COMMON is cheaper at sup-a, so orders to Zhejiang get it from sup-a, others from sup-b."""
    return base_config(
        tmp_path,
        broker,
        suppliers=[
            {
                "id": "sup-a",
                "name": "Supplier A",
                "url": sims["sup-a"].url,
                "regions": ["CN-ZJ", "CN-SH"],
                "webhook_secret": "env:SUP_A_SECRET",
                "retry_base_s": 0.05,
            },
            {
                "id": "sup-b",
                "name": "Supplier B",
                "url": sims["sup-b"].url,
                "regions": ["CN"],
                "webhook_secret": SECRETS["sup-b"],
                "retry_base_s": 0.05,
            },
            {
                "id": "sup-c",
                "name": "Supplier C",
                "url": sims["sup-c"].url,
                "regions": ["*"],
                "webhook_secret": SECRETS["sup-c"],
                "retry_base_s": 0.05,
            },
        ],
        catalog=[
            {"sku": "A-1", "supplier": "sup-a", "cost": "10.00", "stock": 100000},
            {"sku": "B-1", "supplier": "sup-b", "cost": "20.00", "stock": 100000},
            {"sku": "C-1", "supplier": "sup-c", "cost": "30.00", "stock": 100000},
            {"sku": "COMMON", "supplier": "sup-a", "cost": "5.00", "stock": 100000},
            {"sku": "COMMON", "supplier": "sup-b", "cost": "6.00", "stock": 100000},
        ],
    )


def scenario(i: int) -> tuple[list[tuple[str, int]], str, dict[str, list[str]]]:
    """Order i: its lines, province, and the suppliers expected for each SKU."""
    kind = i % 4
    if kind == 0:
        return [("A-1", 1)], "浙江省", {"sup-a": ["A-1"]}
    if kind == 1:
        return [("B-1", 2)], "广东省", {"sup-b": ["B-1"]}
    if kind == 2:  # split across two suppliers
        return [("A-1", 1), ("B-1", 1)], "CN-ZJ", {"sup-a": ["A-1"], "sup-b": ["B-1"]}
    return [("COMMON", 3), ("C-1", 1)], "广东", {"sup-b": ["COMMON"], "sup-c": ["C-1"]}


@pytest.fixture
async def gateway(
    tmp_path: Path,
    broker: Mosquitto,
    suppliers: dict[str, SupplierSimulator],
    write_config: WriteConfig,
    gateway_process: Callable[[Path], GatewayProcess],
) -> GatewayProcess:
    """The gateway as its own process, its suppliers set to sign notices back to it."""
    process = gateway_process(write_config(three_supplier_config(tmp_path, broker, suppliers)))
    process.env["SUP_A_SECRET"] = SECRETS["sup-a"]  # the config names it as env:SUP_A_SECRET
    await process.start()
    for supplier_id, sim in suppliers.items():
        sim.gateway_url = process.url
        sim.webhook_secret = SECRETS[supplier_id]
    return process


async def post(http: aiohttp.ClientSession, url: str, body: Any) -> dict[str, Any]:
    async with http.post(f"{url}/api/v1/orders", json=body) as response:
        assert response.status == 202, await response.text()
        result: dict[str, Any] = await response.json()
        return result


async def test_two_hundred_orders_reach_their_suppliers_once_and_ship(
    broker: Mosquitto,
    suppliers: dict[str, SupplierSimulator],
    gateway: GatewayProcess,
    http: aiohttp.ClientSession,
) -> None:
    orders = {f"SO-E2E-{i:04d}": scenario(i) for i in range(200)}
    bodies = {ext: order_json(ext, lines, province) for ext, (lines, province, _) in orders.items()}
    external_ids = list(bodies)
    async with FeedCollector(broker.port) as feed:
        # 100 orders one by one, 100 in four batches of 25.
        singles = await gather_limited(
            [post(http, gateway.url, bodies[ext]) for ext in external_ids[:100]], limit=16
        )
        batches = [
            await post(http, gateway.url, {"orders": [bodies[e] for e in external_ids[k : k + 25]]})
            for k in range(100, 200, 25)
        ]
        accepted = [a for answer in [*singles, *batches] for a in answer["accepted"]]
        assert all(not answer["rejected"] for answer in [*singles, *batches])
        order_ids = {a["external_id"]: a["order_id"] for a in accepted}
        assert len(order_ids) == 200
        assert not any(a["duplicate"] for a in accepted)

        await feed.wait_until(
            lambda f: all(
                (f.status_of(oid) or {}).get("status") == "acknowledged"
                for oid in order_ids.values()
            ),
            timeout=60,
            what="all 200 orders acknowledged",
        )

        # Every PO went to the supplier routing promised, and exactly once per po_id.
        expected_po_ids: dict[str, set[str]] = {sid: set() for sid in suppliers}
        for ext, order_id in order_ids.items():
            async with http.get(f"{gateway.url}/api/v1/orders/{order_id}") as response:
                detail = await response.json()
            routed = {
                po["supplier_id"]: sorted(line["sku"] for line in po["lines"])
                for po in detail["purchase_orders"]
            }
            assert routed == orders[ext][2], f"{ext} routed {routed}"
            for po in detail["purchase_orders"]:
                expected_po_ids[po["supplier_id"]].add(po["po_id"])
                assert po["status"] == "accepted"
                assert po["supplier_ref"]
        for supplier_id, sim in suppliers.items():
            assert set(sim.orders) == expected_po_ids[supplier_id]
            assert all(sim.created_count(po_id) == 1 for po_id in sim.orders)
        all_po_ids = [p for ids in expected_po_ids.values() for p in ids]
        assert len(all_po_ids) == len(set(all_po_ids)) == 300  # 2 split kinds of 50 orders

        # The supplier's copy carries the ship-to it needs; the feed carries no personal data.
        some_po = suppliers["sup-a"].orders[next(iter(expected_po_ids["sup-a"]))]
        assert some_po.po.ship_to.phone == "13812345678"
        raw_feed = " ".join(str(v) for _, v, _ in feed.messages)
        assert "13812345678" not in raw_feed
        assert "文三路" not in raw_feed
        assert "张三" not in raw_feed

        # Shipment notices, signed by each supplier, turn every order shipped.
        notices = [
            sim.ship(po_id, carrier="SF", tracking_number=f"SF{po_id[-8:]}")
            for sim in suppliers.values()
            for po_id in sim.orders
        ]
        answers = await gather_limited(notices, limit=16)
        assert {answer.status for answer in answers} == {201}
        await feed.wait_until(
            lambda f: all(
                (f.status_of(oid) or {}).get("status") == "shipped" for oid in order_ids.values()
            ),
            timeout=60,
            what="all 200 orders shipped",
        )
        status = feed.status_of(order_ids["SO-E2E-0002"])
        assert status is not None
        assert {po["carrier"] for po in status["purchase_orders"]} == {"SF"}
        assert all(po["tracking_number"].startswith("SF") for po in status["purchase_orders"])

        received = feed.events("order.received")
        assert len({e["event_id"] for e in received}) == 200
        assert feed.latest.get("dropship/gateway/status") == "online"

    # Sending an order again returns its first order_id and dispatches nothing new.
    again = await post(http, gateway.url, bodies["SO-E2E-0000"])
    assert again["accepted"] == [
        {"order_id": order_ids["SO-E2E-0000"], "external_id": "SO-E2E-0000", "duplicate": True}
    ]
    assert gateway.terminate() == 0
    assert len(suppliers["sup-a"].orders) == len(expected_po_ids["sup-a"])


async def test_an_order_no_catalog_carries_is_accepted_and_held_no_route(
    broker: Mosquitto,
    suppliers: dict[str, SupplierSimulator],
    gateway: GatewayProcess,
    http: aiohttp.ClientSession,
) -> None:
    async with FeedCollector(broker.port) as feed:
        answer = await post(http, gateway.url, order_json("SO-NOSKU", [("NOBODY-SELLS", 1)]))
        order_id = answer["accepted"][0]["order_id"]
        await feed.wait_until(
            lambda f: (f.status_of(order_id) or {}).get("status") == "on_hold",
            timeout=20,
            what="the order on hold",
        )
        assert (feed.status_of(order_id) or {})["hold_reason"] == "no_route"
        exceptions = [e for e in feed.events("order.exception") if e["order_id"] == order_id]
        assert exceptions
        assert exceptions[0]["data"]["reason"] == "no_route"
        assert "NOBODY-SELLS" in exceptions[0]["data"]["detail"]
    assert not any(sim.received for sim in suppliers.values())
