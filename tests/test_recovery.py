"""Nothing answered 202 is lost, and nothing is sent twice under a new po_id: across kill -9,
supplier failures, refusals, broker outages and a graceful stop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from dropship_simulator.supplier_server import Scripted, SupplierSimulator
from gateway.app.runtime import Gateway
from tests.conftest import WriteConfig, base_config, start_gateway
from tests.harness import (
    FeedCollector,
    GatewayProcess,
    Mosquitto,
    gather_limited,
    order_json,
    order_reaching,
    post_order,
    wait_for_http,
)


def two_supplier_config(
    tmp_path: Path,
    broker: Mosquitto,
    main: SupplierSimulator,
    backup: SupplierSimulator,
    **extra: Any,
) -> dict[str, Any]:
    """SKU-1 at `main` (cheaper) and at `backup`; both ship everywhere in China."""
    supplier = {"regions": ["CN"], "retry_base_s": 0.05, "retry_max_s": 0.5}
    return base_config(
        tmp_path,
        broker,
        suppliers=[
            {"id": "main", "name": "Main", "url": main.url, **supplier, **extra},
            {"id": "backup", "name": "Backup", "url": backup.url, **supplier},
        ],
        catalog=[
            {"sku": "SKU-1", "supplier": "main", "cost": "10.00", "stock": 100000},
            {"sku": "SKU-1", "supplier": "backup", "cost": "11.00", "stock": 100000},
        ],
    )


@pytest.fixture
async def main_and_backup() -> AsyncIterator[tuple[SupplierSimulator, SupplierSimulator]]:
    async with (
        SupplierSimulator("main", seed=7) as main,
        SupplierSimulator("backup", seed=8) as backup,
    ):
        yield main, backup


Launch = Callable[..., Awaitable[Gateway]]


@pytest.fixture
async def launch(
    tmp_path: Path,
    broker: Mosquitto,
    main_and_backup: tuple[SupplierSimulator, SupplierSimulator],
    write_config: WriteConfig,
) -> AsyncIterator[Launch]:
    """Start an in-process gateway on the two suppliers; `extra` goes to the main supplier's
    table, `plugin_modules` to the gateway's. Every gateway started is stopped afterwards."""
    started: list[Gateway] = []

    async def start(plugin_modules: tuple[str, ...] = (), **extra: Any) -> Gateway:
        main, backup = main_and_backup
        config = two_supplier_config(tmp_path, broker, main, backup, **extra)
        config["gateway"]["plugin_modules"] = list(plugin_modules)
        gateway = await start_gateway(write_config(config))
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        await gateway.stop()


async def order(http: aiohttp.ClientSession, url: str, order_id: str) -> dict[str, Any]:
    async with http.get(f"{url}/api/v1/orders/{order_id}") as response:
        assert response.status == 200
        result: dict[str, Any] = await response.json()
        return result


async def test_kill_9_mid_run_loses_nothing_and_sends_nothing_under_a_new_po_id(
    tmp_path: Path,
    broker: Mosquitto,
    write_config: WriteConfig,
    gateway_process: Callable[[Path], GatewayProcess],
    http: aiohttp.ClientSession,
) -> None:
    async with (
        SupplierSimulator("main", seed=1, latency_ms=150) as main,
        SupplierSimulator("backup", seed=2) as backup,
    ):
        config = two_supplier_config(tmp_path, broker, main, backup, max_in_flight=2)
        gateway = gateway_process(write_config(config))
        await gateway.start()

        async def post(i: int) -> str | None:
            try:
                return await post_order(
                    http, gateway.url, order_json(f"SO-K9-{i:03d}", [("SKU-1", 1)])
                )
            except aiohttp.ClientError:
                return None  # the gateway died before answering: not promised, may or may not exist

        first = await gather_limited([post(i) for i in range(40)], limit=8)
        # Kill while POs are in flight and more are queued, and while intake is still busy.
        late = asyncio.gather(*(post(i) for i in range(40, 80)))
        await main.wait_for_orders(8, timeout=30)
        gateway.kill()
        second = await late
        answered = [oid for oid in [*first, *second] if oid is not None]
        assert len(answered) >= 40

        async with FeedCollector(broker.port) as feed:
            await gateway.start()
            await feed.wait_until(
                lambda f: all(
                    (f.status_of(o) or {}).get("status") == "acknowledged" for o in answered
                ),
                timeout=90,
                what="every answered order acknowledged after the restart",
            )
        gateway_pos: set[str] = set()
        for order_id in answered:
            detail = await order(http, gateway.url, order_id)
            assert detail["status"] == "acknowledged"
            assert [po["po_id"] for po in detail["purchase_orders"]] == [
                order_id.replace("ord_", "po_") + "-1"
            ]
            gateway_pos.update(po["po_id"] for po in detail["purchase_orders"])
        # Every PO the suppliers hold is one the gateway knows, each created exactly once.
        supplier_pos = set(main.orders) | set(backup.orders)
        assert gateway_pos <= supplier_pos
        async with http.get(f"{gateway.url}/api/v1/orders?limit=500") as response:
            known = {o["order_id"] for o in (await response.json())["orders"]}
        assert {p.replace("po_", "ord_").rsplit("-", 1)[0] for p in supplier_pos} <= known
        assert not set(main.orders) & set(backup.orders)
        assert all(sim.created_count(p) == 1 for sim in (main, backup) for p in sim.orders)
        assert gateway.terminate() == 0


async def test_a_supplier_answering_500_gets_the_po_once_it_recovers(
    broker: Mosquitto,
    main_and_backup: tuple[SupplierSimulator, SupplierSimulator],
    launch: Launch,
    http: aiohttp.ClientSession,
) -> None:
    main, backup = main_and_backup
    main.fail_next(3, status=500)
    gateway = await launch()
    order_id = await post_order(http, gateway.http_url, order_json("SO-500", [("SKU-1", 2)]))
    detail = await order_reaching(http, gateway.http_url, order_id, "acknowledged")
    (po,) = detail["purchase_orders"]
    assert po["supplier_id"] == "main"  # retried at the same supplier, never sent to the backup
    assert po["attempts"] == 4
    assert [a.status for a in main.received] == [500, 500, 500, 201]
    assert main.created_count(po["po_id"]) == 1
    assert not backup.received


async def test_a_422_puts_the_order_on_hold_with_the_suppliers_reason(
    broker: Mosquitto,
    main_and_backup: tuple[SupplierSimulator, SupplierSimulator],
    launch: Launch,
    http: aiohttp.ClientSession,
) -> None:
    main, _ = main_and_backup
    main.reject_next(reason="out_of_stock")
    gateway = await launch()
    async with FeedCollector(broker.port) as feed:
        order_id = await post_order(http, gateway.http_url, order_json("SO-422", [("SKU-1", 1)]))
        await feed.wait_until(
            lambda f: (f.status_of(order_id) or {}).get("status") == "on_hold",
            timeout=20,
            what="the order on hold",
        )
        status = feed.status_of(order_id)
        assert status is not None
        assert status["hold_reason"] == "out_of_stock"
        assert status["purchase_orders"][0]["status"] == "rejected"
        rejected = [e for e in feed.events("po.rejected") if e["order_id"] == order_id]
        assert rejected[0]["data"]["reason"] == "out_of_stock"
        detail = await order(http, gateway.http_url, order_id)
        assert detail["hold_reason"] == "out_of_stock"
        assert detail["purchase_orders"][0]["reason"] == "out_of_stock"

        # The supplier said it has none: the next order for that SKU goes to the backup.
        next_id = await post_order(http, gateway.http_url, order_json("SO-422-2", [("SKU-1", 1)]))
        await feed.wait_until(
            lambda f: (f.status_of(next_id) or {}).get("status") == "acknowledged",
            timeout=20,
            what="the next order acknowledged",
        )
        assert (feed.status_of(next_id) or {})["purchase_orders"][0]["supplier_id"] == "backup"


async def test_the_feed_catches_up_after_a_broker_outage(
    broker: Mosquitto,
    launch: Launch,
    http: aiohttp.ClientSession,
) -> None:
    gateway = await launch()
    broker.stop()

    # Intake does not wait for MQTT: orders are accepted and flow to suppliers meanwhile.
    order_ids = await gather_limited(
        [
            post_order(http, gateway.http_url, order_json(f"SO-MQ-{i}", [("SKU-1", 1)]))
            for i in range(20)
        ],
        limit=5,
    )
    await wait_for_http(
        http,
        f"{gateway.http_url}/api/v1/orders?status=acknowledged&limit=100",
        lambda page: len(page["orders"]) == 20,
        timeout=30,
        what="20 orders acknowledged while the broker is down",
    )
    # Still ready without a broker (intake and suppliers work), and saying the feed is down.
    async with asyncio.timeout(10):
        await gateway.publisher.wait_connected(False)
    async with http.get(f"{gateway.http_url}/readyz") as response:
        ready = await response.json()
    assert ready["mqtt"] == "disconnected"
    assert ready["ready"] is True

    broker.start()  # same port, empty: no retained messages survive a restart without persistence
    async with FeedCollector(broker.port) as feed:
        await feed.wait_until(
            lambda f: (
                all((f.status_of(oid) or {}).get("status") == "acknowledged" for oid in order_ids)
                and f.latest.get("dropship/gateway/status") == "online"
            ),
            timeout=30,
            what="the retained statuses republished after the outage",
        )


async def test_graceful_stop_answers_503_and_waits_for_calls_in_flight(
    tmp_path: Path,
    broker: Mosquitto,
    main_and_backup: tuple[SupplierSimulator, SupplierSimulator],
    write_config: WriteConfig,
    http: aiohttp.ClientSession,
) -> None:
    main, backup = main_and_backup
    main.hang = True  # the supplier holds the call until released
    config = two_supplier_config(tmp_path, broker, main, backup)
    config["gateway"]["shutdown_grace_s"] = 30
    gateway = await start_gateway(write_config(config))
    try:
        order_id = await post_order(http, gateway.http_url, order_json("SO-TERM", [("SKU-1", 1)]))
        await main.wait_until(lambda: main.stalled == 1, timeout=10, what="a held call")

        stopping = asyncio.create_task(gateway.stop())
        async with asyncio.timeout(10):
            await gateway.stopping.wait()
        async with http.get(f"{gateway.http_url}/readyz") as response:
            assert (await response.json())["intake"] == "closed"
        async with http.post(
            f"{gateway.http_url}/api/v1/orders", json=order_json("SO-LATE", [("SKU-1", 1)])
        ) as response:
            assert response.status == 503
            assert (await response.json())["error"]["code"] == "shutting_down"
            assert response.headers["Retry-After"]
        assert not stopping.done()  # still waiting for the call in flight

        main.hang = False
        await asyncio.wait_for(stopping, 30)
    finally:
        with contextlib.suppress(Exception):
            await gateway.stop()

    # The PO finished during the grace: accepted, and recorded before the database closed.
    restarted = await start_gateway(write_config(config))
    try:
        detail = await order(http, restarted.http_url, order_id)
        assert detail["purchase_orders"][0]["status"] == "accepted"
        assert main.created_count(detail["purchase_orders"][0]["po_id"]) == 1
    finally:
        await restarted.stop()


async def test_an_old_order_is_still_retried_the_deadline_counts_from_the_po(
    broker: Mosquitto,
    main_and_backup: tuple[SupplierSimulator, SupplierSimulator],
    launch: Launch,
    http: aiohttp.ClientSession,
) -> None:
    """An order placed long ago (an ERP catching up) is not given up on at its first failure."""
    main, _ = main_and_backup
    main.fail_next(1, status=503)
    gateway = await launch(give_up_after_s=3600)
    body = order_json("SO-OLD", [("SKU-1", 1)])
    body["created_at"] = "2026-01-01T10:00:00+08:00"
    order_id = await post_order(http, gateway.http_url, body)
    detail = await order_reaching(http, gateway.http_url, order_id, ("acknowledged", "on_hold"))
    assert detail["status"] == "acknowledged"
    assert detail["purchase_orders"][0]["attempts"] == 2


async def test_a_suppliers_free_text_reaches_the_feed_masked(
    broker: Mosquitto,
    main_and_backup: tuple[SupplierSimulator, SupplierSimulator],
    launch: Launch,
    http: aiohttp.ClientSession,
) -> None:
    main, _ = main_and_backup
    main.script(
        "*", [Scripted(422, reason="bad_address", message="call 13812345678: no such door")]
    )
    gateway = await launch()
    async with FeedCollector(broker.port) as feed:
        order_id = await post_order(http, gateway.http_url, order_json("SO-TXT", [("SKU-1", 1)]))
        await feed.wait_until(
            lambda f: any(e["order_id"] == order_id for e in f.events("po.rejected")),
            timeout=20,
            what="the rejection in the feed",
        )
    (event,) = [e for e in feed.events("po.rejected") if e["order_id"] == order_id]
    assert event["data"]["message"] == "call 138****5678: no such door"
    assert "13812345678" not in str(feed.messages)


async def test_the_actor_cuts_off_an_adapter_that_ignores_its_timeout(
    broker: Mosquitto,
    launch: Launch,
    http: aiohttp.ClientSession,
) -> None:
    gateway = await launch(
        plugin_modules=("tests.fixture_plugins.hanging",), adapter="hanging", timeout_s=0.2
    )
    order_id = await post_order(http, gateway.http_url, order_json("SO-HANG", [("SKU-1", 1)]))
    detail = await order_reaching(http, gateway.http_url, order_id, "acknowledged")
    (po,) = detail["purchase_orders"]
    assert po["attempts"] == 2
    assert po["supplier_ref"] == f"REF-{po['po_id']}"
