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


def assert_channel_never_crashed(gateway: GatewayProcess) -> None:
    """Survived means handled inside the channel: a crash would be restarted by the supervisor
    and the orders would still come, so the log is what tells the two apart."""
    crashes = [
        e
        for e in gateway.log_events()
        if e.get("event") == "actor.crashed" and e.get("actor") == f"channel:{CHANNEL}"
    ]
    assert crashes == [], crashes


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
    assert_channel_never_crashed(gateway)


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
    assert_channel_never_crashed(gateway)


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
    # The second run started from the durable watermark: at most the page that was in flight
    # when the first run died is read again, not the thousands of orders before it.
    assert erp.rows_served <= total + 2 * 1000, erp.rows_served


async def test_purchase_orders_and_outbound_bills_with_tracking_come_back_linked(
    tmp_path: Path,
    broker: Mosquitto,
    erp: KingdeeSimulator,
    suppliers: dict[str, SupplierSimulator],
    write_config: WriteConfig,
    gateway_process: Callable[[Path], GatewayProcess],
) -> None:
    zhejiang = erp.create_sales_order(
        customer="CUST-01", lines=[("TEA-001", 2, 19.9)], fields=RECEIVER
    )
    guangdong = erp.create_sales_order(
        customer="CUST-02", lines=[("TEA-001", 1, 19.9), ("CUP-002", 3, 9.5)], fields=GUANGDONG
    )
    # sup-cn's K3Cloud number is mistyped in the config: its purchase order is refused by
    # K3Cloud, visibly; its shipments are still recorded, and the other order is untouched.
    settings = config(
        tmp_path,
        broker,
        erp,
        suppliers,
        purchase_order={"suppliers": {"sup-zj": "VEN-A", "sup-cn": "VEN-TYPO"}},
        outstock={"carriers": {"SF": "SF", "ZTO": "ZTO"}},
    )
    for supplier in settings["suppliers"]:
        supplier["webhook_secret"] = f"secret-{supplier['id']}"
    gateway = gateway_process(write_config(settings))
    await gateway.start()
    for sid, sim in suppliers.items():
        sim.gateway_url = gateway.url
        sim.webhook_secret = f"secret-{sid}"

    await suppliers["sup-zj"].wait_for_orders(1, timeout=30)
    await suppliers["sup-cn"].wait_for_orders(1, timeout=30)
    [zj_po] = suppliers["sup-zj"].orders
    [cn_po] = suppliers["sup-cn"].orders
    refused = await log_line(gateway, event("kingdee.writeback_refused", po_id=cn_po))
    assert refused["sales_order"] == guangdong.number
    assert "VEN-TYPO" in refused["erp_message"]

    assert (await suppliers["sup-zj"].ship(zj_po, "SF", "SF1001")).status == 201
    assert (await suppliers["sup-cn"].ship(cn_po, "ZTO", "ZT2001", {"TEA-001": 1})).status == 201
    assert (await suppliers["sup-cn"].ship(cn_po, "ZTO", "ZT2002", {"CUP-002": 3})).status == 201
    await erp.wait_until(
        lambda: len(erp.audited("SAL_OUTSTOCK")) == 3, timeout=30, what="3 audited outbound bills"
    )

    [purchase_order] = erp.bills("PUR_PurchaseOrder")
    assert purchase_order.status == "C"
    assert purchase_order.header["fsupplierid.fnumber"] == "VEN-A"
    assert [
        (e["fmaterialid.fnumber"], e["fqty"], e["fsrcbillno"]) for e in purchase_order.entries
    ] == [("TEA-001", 2, zhejiang.number)]
    outbound = {
        bill.header["fcarriageno"]: (
            bill.header["fcarrierid.fnumber"],
            [(e["fsrcbillno"], e["fsoentryid"], e["frealqty"]) for e in bill.entries],
        )
        for bill in erp.audited("SAL_OUTSTOCK")
    }
    tea_gd, cup_gd = (e["fentryid"] for e in guangdong.entries)
    assert outbound == {
        "SF1001": ("SF", [(zhejiang.number, zhejiang.entries[0]["fentryid"], 2)]),
        "ZT2001": ("ZTO", [(guangdong.number, tea_gd, 1)]),
        "ZT2002": ("ZTO", [(guangdong.number, cup_gd, 3)]),
    }
    # Everything ordered is now shipped in K3Cloud too: nothing left to push.
    assert all(
        erp.ledger.remaining(so, entry) == 0 for so in (zhejiang, guangdong) for entry in so.entries
    )
    assert_channel_never_crashed(gateway)


async def test_a_session_lost_between_save_and_submit_and_a_call_limit_in_write_back(
    tmp_path: Path,
    broker: Mosquitto,
    erp: KingdeeSimulator,
    suppliers: dict[str, SupplierSimulator],
    write_config: WriteConfig,
    gateway_process: Callable[[Path], GatewayProcess],
) -> None:
    """Mid-document: the session ends right after the purchase order is saved, so its Submit
    is the call that finds the session lost; then a call limit while the outbound bill is
    written. Intake polls once an hour here, so nothing else touches the session."""
    order = erp.create_sales_order(
        customer="CUST-01", lines=[("TEA-001", 2, 19.9)], fields=RECEIVER
    )
    settings = config(
        tmp_path,
        broker,
        erp,
        suppliers,
        auth="app_secret",
        poll_interval_s=3600,
        purchase_order={"suppliers": {"sup-zj": "VEN-A"}},
    )
    for supplier in settings["suppliers"]:
        supplier["webhook_secret"] = f"secret-{supplier['id']}"
    erp.expire_sessions_after("Save", "PUR_PurchaseOrder")
    gateway = gateway_process(write_config(settings))
    await gateway.start()
    sim = suppliers["sup-zj"]
    sim.gateway_url, sim.webhook_secret = gateway.url, "secret-sup-zj"
    await sim.wait_for_orders(1, timeout=30)
    [po_id] = sim.orders

    lost = await log_line(gateway, event("kingdee.session_lost"))
    assert lost["service"] == "DynamicFormService.Submit"
    written = await log_line(gateway, event("kingdee.purchase_order_written", po_id=po_id))
    assert erp.logins == 2
    [purchase_order] = erp.bills("PUR_PurchaseOrder")
    assert (purchase_order.number, purchase_order.status) == (written["bill_no"], "C")
    [entry] = purchase_order.entries
    assert [
        (link["fpoorderentry_link_fsbillid"], link["fpoorderentry_link_fsid"])
        for link in entry["links"]
    ] == [(order.fid, order.entries[0]["fentryid"])]  # linked to the sales order's entry

    erp.limit_next(3)
    assert (await sim.ship(po_id, "SF", "SF4001")).status == 201
    await log_line(gateway, event("kingdee.call_limited"))
    await log_line(gateway, event("kingdee.outstock_written", po_id=po_id))
    assert erp.refused_for_limit == 3
    [outbound] = erp.audited("SAL_OUTSTOCK")
    assert outbound.header["fcarriageno"] == "SF4001"
    assert {e["fsrcbillno"] for e in outbound.entries} == {order.number}
    assert len(erp.bills("PUR_PurchaseOrder")) == 1
    assert not any(e.get("event") == "kingdee.writeback_refused" for e in gateway.log_events())
    assert_channel_never_crashed(gateway)


async def test_write_back_waits_out_outages_and_restarts_without_a_second_bill(
    tmp_path: Path,
    broker: Mosquitto,
    erp: KingdeeSimulator,
    suppliers: dict[str, SupplierSimulator],
    write_config: WriteConfig,
    gateway_process: Callable[[Path], GatewayProcess],
) -> None:
    order = erp.create_sales_order(
        customer="CUST-01", lines=[("TEA-001", 2, 19.9)], fields=RECEIVER
    )
    settings = config(
        tmp_path, broker, erp, suppliers, purchase_order={"suppliers": {"sup-zj": "VEN-A"}}
    )
    for supplier in settings["suppliers"]:
        supplier["webhook_secret"] = f"secret-{supplier['id']}"
    path = write_config(settings)
    # K3Cloud goes away right after saving the purchase order, before it is submitted.
    erp.go_down_after("Save", "PUR_PurchaseOrder")
    gateway = gateway_process(path)
    await gateway.start()
    sim = suppliers["sup-zj"]
    sim.gateway_url, sim.webhook_secret = gateway.url, "secret-sup-zj"
    await sim.wait_for_orders(1, timeout=30)
    [po_id] = sim.orders
    await log_line(gateway, event("kingdee.unavailable", part="writeback"))
    assert [b.status for b in erp.bills("PUR_PurchaseOrder")] == ["A"]
    gateway.kill()
    erp.down = False

    # The next run finds the saved bill by its reference and finishes it: no second bill.
    again = gateway_process(path)
    await again.start()
    sim.gateway_url = again.url
    await log_line(again, event("kingdee.purchase_order_written", po_id=po_id))
    assert [b.status for b in erp.bills("PUR_PurchaseOrder")] == ["C"]

    # Down while a shipment is to be written, and killed meanwhile: written once, later.
    erp.down = True
    assert (await sim.ship(po_id, "SF", "SF3001")).status == 201
    await log_line(again, event("kingdee.unavailable", part="writeback"))
    again.kill()
    erp.down = False
    third = gateway_process(path)
    await third.start()
    await log_line(third, event("kingdee.outstock_written", po_id=po_id))
    assert [b.header["fcarriageno"] for b in erp.audited("SAL_OUTSTOCK")] == ["SF3001"]
    assert len(erp.bills("PUR_PurchaseOrder")) == 1
    assert order.number in {e["fsrcbillno"] for e in erp.bills("SAL_OUTSTOCK")[0].entries}
