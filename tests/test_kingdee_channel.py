"""The ``kingdee`` channel end to end: the gateway as its own process (`run.py serve`), a real
Mosquitto, supplier servers and a simulated K3Cloud on 127.0.0.1. Approved sales orders are
made in K3Cloud; what a user checks is where they went (the gateway's API, the suppliers) and
what the gateway said about the ones it could not take (its log)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from dropship_simulator.kingdee import KingdeeSimulator
from dropship_simulator.supplier_server import SupplierSimulator
from tests.conftest import WriteConfig, base_config
from tests.harness import GatewayProcess, Mosquitto, wait_for_http
from tests.kingdee_fixtures import RECEIVER, channel_options, simulator

CHANNEL = "kingdee-erp"

GUANGDONG = {
    **RECEIVER,
    "F_PAEZ_Province": "广东省",
    "F_PAEZ_City": "深圳市",
    "F_PAEZ_District": "南山区",
}


@pytest.fixture
async def erp() -> AsyncIterator[KingdeeSimulator]:
    async with simulator() as running:
        yield running


@pytest.fixture
async def suppliers() -> AsyncIterator[dict[str, SupplierSimulator]]:
    sims = {
        "sup-zj": SupplierSimulator("sup-zj", seed=1, latency_ms=[1, 5]),
        "sup-cn": SupplierSimulator("sup-cn", seed=2, latency_ms=[1, 5]),
    }
    for sim in sims.values():
        await sim.start()
    try:
        yield sims
    finally:
        for sim in sims.values():
            await sim.stop()


def config(
    tmp_path: Path,
    broker: Mosquitto,
    erp: KingdeeSimulator,
    suppliers: dict[str, SupplierSimulator] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """sup-zj ships TEA-001 to Zhejiang only; sup-cn ships TEA-001 (dearer) and CUP-002 to all
    of China. Without suppliers, every order waits on hold (no route): intake alone."""
    sections: dict[str, Any] = {
        "channels": [
            {"id": CHANNEL, "adapter": "kingdee", "options": channel_options(erp, **options)}
        ]
    }
    if suppliers:
        sections["suppliers"] = [
            {
                "id": sid,
                "name": sid,
                "url": sim.url,
                "regions": ["CN-ZJ"] if sid == "sup-zj" else ["CN"],
                "retry_base_s": 0.05,
            }
            for sid, sim in suppliers.items()
        ]
        sections["catalog"] = [
            {"sku": "TEA-001", "supplier": "sup-zj", "cost": "10.00", "stock": 100000},
            {"sku": "TEA-001", "supplier": "sup-cn", "cost": "12.00", "stock": 100000},
            {"sku": "CUP-002", "supplier": "sup-cn", "cost": "5.00", "stock": 100000},
        ]
    return base_config(tmp_path, broker, **sections)


async def channel_orders(http: aiohttp.ClientSession, url: str) -> dict[str, dict[str, Any]]:
    """Every order of the channel, by external id (the K3Cloud bill number), via the API."""
    found: dict[str, dict[str, Any]] = {}
    cursor = None
    while True:
        query = f"{url}/api/v1/orders?channel={CHANNEL}&limit=500"
        async with http.get(query + (f"&cursor={cursor}" if cursor else "")) as response:
            page = await response.json()
        for order in page["orders"]:
            assert order["external_id"] not in found, f"{order['external_id']} taken twice"
            found[order["external_id"]] = order
        cursor = page.get("next_cursor")
        if not cursor:
            return found


async def log_line(
    gateway: GatewayProcess, predicate: Callable[[dict[str, Any]], bool], timeout: float = 30
) -> dict[str, Any]:
    """The first JSON log line of the gateway that matches (waits on its output, no polling)."""

    def matches(line: str) -> bool:
        try:
            return bool(predicate(json.loads(line)))
        except ValueError:
            return False

    assert gateway.watcher is not None
    line = await asyncio.to_thread(gateway.watcher.wait_for, matches, timeout)
    parsed: dict[str, Any] = json.loads(line)
    return parsed


def event(name: str, **fields: Any) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e.get("event") == name and all(e.get(k) == v for k, v in fields.items())


async def test_approved_sales_orders_reach_the_right_suppliers(
    tmp_path: Path,
    broker: Mosquitto,
    erp: KingdeeSimulator,
    suppliers: dict[str, SupplierSimulator],
    write_config: WriteConfig,
    gateway_process: Callable[[Path], GatewayProcess],
    http: aiohttp.ClientSession,
) -> None:
    zhejiang = erp.create_sales_order(
        customer="CUST-01", lines=[("TEA-001", 2, 19.9)], fields=RECEIVER
    )
    guangdong = erp.create_sales_order(
        customer="CUST-02", lines=[("TEA-001", 1, 19.9), ("CUP-002", 3, 9.5)], fields=GUANGDONG
    )
    draft = erp.create_sales_order(
        customer="CUST-03", lines=[("TEA-001", 1, 1.0)], fields=RECEIVER, approve=False
    )
    gateway = gateway_process(write_config(config(tmp_path, broker, erp, suppliers)))
    await gateway.start()

    await suppliers["sup-cn"].wait_for_orders(1, timeout=30)
    await suppliers["sup-zj"].wait_for_orders(1, timeout=30)
    by_supplier = {
        sid: sorted(
            (o.po.order_external_id, tuple(line.sku for line in o.po.lines))
            for o in sim.orders.values()
        )
        for sid, sim in suppliers.items()
    }
    assert by_supplier == {
        "sup-zj": [(zhejiang.number, ("TEA-001",))],
        "sup-cn": [(guangdong.number, ("TEA-001", "CUP-002"))],
    }
    # Approved later: taken at the next poll. The draft never is.
    erp.approve(draft)
    await suppliers["sup-zj"].wait_for_orders(2, timeout=30)
    orders = await channel_orders(http, gateway.url)
    assert set(orders) == {zhejiang.number, guangdong.number, draft.number}
    async with http.get(f"{gateway.url}/api/v1/orders/{orders[guangdong.number]['order_id']}") as r:
        view = await r.json()
    assert [(line["sku"], line["quantity"]) for line in view["lines"]] == [
        ("TEA-001", 1),
        ("CUP-002", 3),
    ]
    assert view["ship_to"]["province"] == "广东省"
    assert view["ship_to"]["name"] != "张三"  # masked in the API


async def test_bad_erp_data_is_rejected_or_held_with_the_bill_number_never_a_crash(
    tmp_path: Path,
    broker: Mosquitto,
    erp: KingdeeSimulator,
    suppliers: dict[str, SupplierSimulator],
    write_config: WriteConfig,
    gateway_process: Callable[[Path], GatewayProcess],
    http: aiohttp.ClientSession,
) -> None:
    no_sku = erp.create_sales_order(customer="C", lines=[("", 1, 10.0)], fields=RECEIVER)
    zero = erp.create_sales_order(customer="C", lines=[("TEA-001", 0, 10.0)], fields=RECEIVER)
    mars = erp.create_sales_order(
        customer="C", lines=[("TEA-001", 1, 10.0)], fields={**RECEIVER, "F_PAEZ_Province": "火星省"}
    )
    unknown_sku = erp.create_sales_order(
        customer="C", lines=[("NOT-SOLD", 1, 10.0)], fields=RECEIVER
    )
    good = erp.create_sales_order(customer="C", lines=[("TEA-001", 1, 10.0)], fields=RECEIVER)
    gateway = gateway_process(write_config(config(tmp_path, broker, erp, suppliers)))
    await gateway.start()

    reasons = {}
    for bill in (no_sku, zero, mars):
        line = await log_line(gateway, event("kingdee.order_rejected", bill_no=bill.number))
        reasons[bill.number] = " ".join(line["reasons"])
    assert (
        f"{no_sku.number} entry {no_sku.entries[0]['fentryid']} FMaterialId.FNumber"
        in reasons[no_sku.number]
    )
    assert f"{zero.number} entry {zero.entries[0]['fentryid']} FQty" in reasons[zero.number]
    assert f"{mars.number} F_PAEZ_Province" in reasons[mars.number]
    assert "火星省" in reasons[mars.number]

    held = await wait_for_http(
        http,
        f"{gateway.url}/api/v1/orders?channel={CHANNEL}&status=on_hold",
        lambda page: any(o["external_id"] == unknown_sku.number for o in page["orders"]),
        timeout=30,
        what=f"{unknown_sku.number} on hold",
    )
    assert [(o["external_id"], o["hold_reason"]) for o in held["orders"]] == [
        (unknown_sku.number, "no_route")
    ]
    await suppliers["sup-zj"].wait_for_orders(1, timeout=30)
    assert [o.po.order_external_id for o in suppliers["sup-zj"].orders.values()] == [good.number]
    assert gateway.running()
    assert set(await channel_orders(http, gateway.url)) == {unknown_sku.number, good.number}


def taken(bill_no: str) -> Callable[[dict[str, Any]], bool]:
    """The log line saying a page ending with `bill_no` was handed to the gateway."""
    return event("kingdee.orders_taken", last=bill_no)


async def test_session_loss_call_limits_and_an_erp_outage_are_survived(
    tmp_path: Path,
    broker: Mosquitto,
    erp: KingdeeSimulator,
    write_config: WriteConfig,
    gateway_process: Callable[[Path], GatewayProcess],
    http: aiohttp.ClientSession,
) -> None:
    def new_order() -> str:
        return erp.create_sales_order(
            customer="C", lines=[("TEA-001", 1, 10.0)], fields=RECEIVER
        ).number

    first = [new_order(), new_order()]
    gateway = gateway_process(write_config(config(tmp_path, broker, erp, auth="app_secret")))
    await gateway.start()
    await log_line(gateway, taken(first[-1]))
    assert erp.logins == 1

    # The session ends on the server (idle timeout, IIS recycle): one new login, no order lost.
    erp.expire_sessions()
    after_expiry = new_order()
    await log_line(gateway, event("kingdee.session_lost"))
    await log_line(gateway, taken(after_expiry))
    assert erp.logins == 2

    # A call limit: the channel pauses and carries on.
    erp.limit_next(3)
    after_limit = new_order()
    await log_line(gateway, event("kingdee.call_limited"))
    await log_line(gateway, taken(after_limit))
    assert erp.refused_for_limit == 3

    # K3Cloud down for a while: said once, said again when it is back, nothing lost.
    erp.down = True
    during_outage = new_order()
    await log_line(gateway, event("kingdee.unavailable", part="intake"))
    erp.down = False
    await log_line(gateway, event("kingdee.back", part="intake"))
    await log_line(gateway, taken(during_outage))

    orders = await channel_orders(http, gateway.url)
    assert set(orders) == {*first, after_expiry, after_limit, during_outage}
    assert sum(1 for e in gateway.log_events() if e.get("event") == "kingdee.unavailable") == 1


async def test_ten_thousand_sales_orders_are_taken_in_exactly_once_across_kill_9(
    tmp_path: Path,
    broker: Mosquitto,
    erp: KingdeeSimulator,
    write_config: WriteConfig,
    gateway_process: Callable[[Path], GatewayProcess],
    http: aiohttp.ClientSession,
) -> None:
    total = 10_000
    numbers = [
        erp.create_sales_order(customer="C", lines=[("TEA-001", 1, 10.0)], fields=RECEIVER).number
        for _ in range(total)
    ]
    settings = config(tmp_path, broker, erp, page_size=1000)
    # A process crash (kill -9) is what this test is about; `normal` survives it in WAL mode.
    settings["gateway"]["sqlite_synchronous"] = "normal"
    path = write_config(settings)
    gateway = gateway_process(path)
    await gateway.start()
    await log_line(
        gateway, lambda e: e.get("event") == "kingdee.orders_taken" and e["accepted"] >= 3000, 60
    )
    gateway.kill()

    again = gateway_process(path)
    await again.start()
    await log_line(again, taken(numbers[-1]), timeout=120)
    orders = await channel_orders(http, again.url)  # fails on any order taken twice
    assert sorted(orders) == sorted(numbers)
