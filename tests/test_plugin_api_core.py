"""The gateway's side of plugin API 2, through a real gateway, a real supplier server and a
channel plugin loaded like any other: durable plugin state, the channel's order updates
(at least once, from a durable position), order actions (cancel, payment), admission control,
and POs for a supplier no actor serves."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from dropship_simulator.supplier_server import SupplierSimulator
from gateway.plugin_api import (
    IntakeBusy,
    OrderNotFound,
    PoAcknowledged,
    PoShipment,
    ReportProblem,
    SupplierReport,
)
from tests.conftest import WriteConfig, base_config, start_gateway
from tests.fixture_plugins import reporting_supplier as reporting
from tests.fixture_plugins import writeback_channel as channel
from tests.harness import FeedCollector, Mosquitto, order_json, order_reaching


def config_with(
    tmp_path: Path, broker: Mosquitto, supplier_url: str, **channel_options: Any
) -> dict[str, Any]:
    return base_config(
        tmp_path,
        broker,
        gateway={"plugin_modules": ["tests.fixture_plugins.writeback_channel"]},
        suppliers=[{"id": "sup-a", "name": "A", "url": supplier_url, "regions": ["CN"]}],
        catalog=[{"sku": "SKU-1", "supplier": "sup-a", "cost": "2.00", "stock": 100}],
        channels=[{"id": "erp", "adapter": "writeback", "options": channel_options}],
    )


def types_of(order_id: str) -> list[str]:
    return [u.type for u in channel.SEEN if u.order_id == order_id]


@pytest.fixture(autouse=True)
def fresh_channel() -> None:
    channel.reset()


async def test_order_updates_reach_the_channel_once_acknowledged_and_state_survives_a_restart(
    tmp_path: Path, broker: Mosquitto, write_config: WriteConfig, http: aiohttp.ClientSession
) -> None:
    async with SupplierSimulator("sup-a", seed=1) as supplier:
        path = write_config(
            config_with(tmp_path, broker, supplier.url, submit=[order_json("SO-1", [("SKU-1", 1)])])
        )
        gateway = await start_gateway(path)
        try:
            await channel.wait_for(lambda: "po.accepted" in [u.type for u in channel.SEEN])
            (first,) = {u.order_id for u in channel.SEEN}
            assert {u.external_id for u in channel.SEEN} == {"SO-1"}
            await channel.wait_for(lambda: "order.acknowledged" in types_of(first))
            assert types_of(first)[:2] == ["order.received", "order.routed"]
            accepted = next(u for u in channel.SEEN if u.type == "po.accepted")
            assert accepted.supplier_id == "sup-a"
            assert accepted.po_id is not None
            assert accepted.data["supplier_ref"] == supplier.orders[accepted.po_id].supplier_ref
            # An order of another channel is not this channel's business.
            other = order_json("SO-OTHER", [("SKU-1", 1)], channel="shop")
            async with http.post(f"{gateway.http_url}/api/v1/orders", json=other) as response:
                other_id = (await response.json())["accepted"][0]["order_id"]
            await order_reaching(http, gateway.http_url, other_id, "acknowledged")
            last_seen = channel.SEEN[-1].seq
        finally:
            await gateway.stop()

        seen_before = len(channel.SEEN)
        gateway = await start_gateway(path)
        try:
            await channel.wait_for(lambda: channel.STARTS.get("erp") == 2)
            # The same order submitted again is a duplicate; a new one of the channel's flows.
            later = order_json("SO-2", [("SKU-1", 1)], channel="erp")
            async with http.post(f"{gateway.http_url}/api/v1/orders", json=later) as response:
                second = (await response.json())["accepted"][0]["order_id"]
            await channel.wait_for(lambda: "order.acknowledged" in types_of(second))
            replayed = channel.SEEN[seen_before:]
            assert {u.order_id for u in replayed} == {second}  # nothing acknowledged came again
            assert all(u.seq > last_seen for u in replayed)
            assert other_id not in {u.order_id for u in channel.SEEN}
        finally:
            await gateway.stop()


async def test_unacknowledged_updates_come_again_after_a_restart(
    tmp_path: Path, broker: Mosquitto, write_config: WriteConfig
) -> None:
    async with SupplierSimulator("sup-a", seed=2) as supplier:
        path = write_config(
            config_with(
                tmp_path,
                broker,
                supplier.url,
                ack=False,
                submit=[order_json("SO-1", [("SKU-1", 1)])],
            )
        )
        gateway = await start_gateway(path)
        try:
            await channel.wait_for(lambda: "po.accepted" in [u.type for u in channel.SEEN])
            first_run = [u.event_id for u in channel.SEEN]
        finally:
            await gateway.stop()
        channel.SEEN.clear()
        gateway = await start_gateway(path)
        try:
            await channel.wait_for(lambda: len(channel.SEEN) >= len(first_run))
            assert [u.event_id for u in channel.SEEN][: len(first_run)] == first_run
        finally:
            await gateway.stop()


async def test_a_channel_cancels_its_order_and_the_supplier_is_told(
    tmp_path: Path, broker: Mosquitto, write_config: WriteConfig, http: aiohttp.ClientSession
) -> None:
    async with SupplierSimulator("sup-a", seed=3) as supplier:
        path = write_config(
            config_with(tmp_path, broker, supplier.url, submit=[order_json("SO-1", [("SKU-1", 3)])])
        )
        gateway = await start_gateway(path)
        try:
            await channel.wait_for(lambda: "po.accepted" in [u.type for u in channel.SEEN])
            ctx = channel.CONTEXTS["erp"]
            assert ctx.orders is not None
            found = await ctx.orders.find("SO-1")
            assert found is not None
            assert found.order.ship_to.phone == "13812345678"  # the channel's own, unmasked
            cancelled = await ctx.orders.cancel(found.order.order_id, "customer asked")
            assert cancelled.status == "cancelled"
            (po,) = cancelled.purchase_orders
            assert po.status == "cancelled"
            assert [line.cancelled_qty for line in po.lines] == [3]
            await supplier.wait_until(
                lambda: any(r.method == "DELETE" for r in supplier.requests),
                timeout=20,
                what="the cancellation",
            )
            assert [r.path for r in supplier.requests if r.method == "DELETE"] == [
                f"/purchase-orders/{po.po_id}"
            ]
            await channel.wait_for(lambda: "order.cancelled" in types_of(found.order.order_id))
            async with http.get(f"{gateway.http_url}/api/v1/orders/{po.order_id}") as response:
                view = await response.json()
            assert view["status"] == "cancelled"
            # The reserved units went back.
            stock = await gateway.db.fetchone(
                "SELECT stock FROM catalog WHERE sku = 'SKU-1' AND supplier_id = 'sup-a'"
            )
            assert stock is not None
            assert stock[0] == 100
            with pytest.raises(OrderNotFound):
                await ctx.orders.cancel("ord_0000000000000000", "nope")
        finally:
            await gateway.stop()


async def test_a_paid_later_order_is_held_then_released_by_its_channel(
    tmp_path: Path, broker: Mosquitto, write_config: WriteConfig, http: aiohttp.ClientSession
) -> None:
    unpaid = order_json("SO-LATE", [("SKU-1", 1)], payment={"status": "unpaid", "amount": "2"})
    async with SupplierSimulator("sup-a", seed=4) as supplier:
        gateway = await start_gateway(
            write_config(config_with(tmp_path, broker, supplier.url, submit=[unpaid]))
        )
        try:
            await channel.wait_for(lambda: "order.exception" in [u.type for u in channel.SEEN])
            ctx = channel.CONTEXTS["erp"]
            assert ctx.orders is not None
            held = await ctx.orders.find("SO-LATE")
            assert held is not None
            assert (held.status, held.hold_reason) == ("on_hold", "unpaid")
            assert supplier.received == []
            released = await ctx.orders.set_payment(held.order.order_id, "paid")
            assert released.order.payment is not None
            assert released.order.payment.status == "paid"
            view = await order_reaching(http, gateway.http_url, held.order.order_id, "acknowledged")
            assert [po["supplier_id"] for po in view["purchase_orders"]] == ["sup-a"]
            assert "order.released" in [e["type"] for e in view["timeline"]]
        finally:
            await gateway.stop()


async def test_intake_answers_429_while_the_store_is_behind(
    tmp_path: Path, broker: Mosquitto, write_config: WriteConfig, http: aiohttp.ClientSession
) -> None:
    """The writer is held busy by a unit of work as large as `intake_max_pending` allows: new
    orders are told to come back (HTTP 429, a channel's IntakeBusy), and nothing of them is
    kept; once the store has caught up they get in."""
    async with SupplierSimulator("sup-a", seed=5) as supplier:
        config = config_with(tmp_path, broker, supplier.url)
        config["gateway"]["intake_max_pending"] = 1
        gateway = await start_gateway(write_config(config))
        release = threading.Event()
        try:
            await channel.wait_for(lambda: "erp" in channel.CONTEXTS)
            busy = asyncio.create_task(gateway.db.write(lambda _: release.wait(30), units=1))
            url = f"{gateway.http_url}/api/v1/orders"
            async with http.post(url, json=order_json("SO-1", [("SKU-1", 1)])) as response:
                assert response.status == 429
                assert int(response.headers["Retry-After"]) >= 1
                error = (await response.json())["error"]
            assert error["code"] == "busy"
            ctx = channel.CONTEXTS["erp"]
            with pytest.raises(IntakeBusy):
                await ctx.submit([b'{"external_id": "SO-2"}'])
            release.set()
            await busy
            async with http.post(url, json=order_json("SO-1", [("SKU-1", 1)])) as response:
                assert response.status == 202
            rows = await gateway.db.fetchall("SELECT external_id FROM orders ORDER BY seq")
            assert [r[0] for r in rows] == ["SO-1"]
        finally:
            release.set()
            await gateway.stop()


async def test_pos_waiting_for_a_supplier_nobody_serves_are_visible_and_alerted(
    tmp_path: Path, broker: Mosquitto, write_config: WriteConfig, http: aiohttp.ClientSession
) -> None:
    async with SupplierSimulator("sup-a", seed=6) as supplier:
        supplier.hang = True  # its POs stay waiting
        config = config_with(tmp_path, broker, supplier.url)
        config["gateway"]["shutdown_grace_s"] = 0  # stop without waiting for the hung call
        path = write_config(config)
        gateway = await start_gateway(path)
        try:
            async with http.post(
                f"{gateway.http_url}/api/v1/orders", json=order_json("SO-1", [("SKU-1", 1)])
            ) as response:
                order_id = (await response.json())["accepted"][0]["order_id"]
            await supplier.wait_for_attempts(1, timeout=20)
        finally:
            await gateway.stop()
            supplier.hang = False

        config = config_with(tmp_path, broker, supplier.url)
        config["suppliers"] = [{"id": "sup-b", "name": "B", "url": supplier.url, "regions": ["*"]}]
        config["catalog"] = [{"sku": "SKU-1", "supplier": "sup-b", "cost": "2.00", "stock": 1}]
        async with FeedCollector(broker.port) as feed:
            gateway = await start_gateway(write_config(config))
            try:
                async with http.get(f"{gateway.http_url}/api/v1/suppliers") as response:
                    entries = {s["supplier_id"]: s for s in (await response.json())["suppliers"]}
                assert entries["sup-a"]["state"] == "down"
                assert entries["sup-a"]["queue_depth"] == 1
                assert "not in the config" in entries["sup-a"]["last_error"]
                await feed.wait_until(
                    lambda f: any(
                        v["subject"] == {"supplier_id": "sup-a"}
                        for v in f.events_on("dropship/alerts/supplier_down")
                    ),
                    timeout=20,
                    what="an alert about sup-a",
                )
                async with http.get(f"{gateway.http_url}/api/v1/orders/{order_id}") as response:
                    view = await response.json()
                assert view["purchase_orders"][0]["status"] in ("pending", "sent")
            finally:
                await gateway.stop()


async def test_a_reporting_supplier_is_polled_and_its_reports_count_once(
    tmp_path: Path, broker: Mosquitto, write_config: WriteConfig, http: aiohttp.ClientSession
) -> None:
    reporting.reset()
    config = base_config(
        tmp_path,
        broker,
        gateway={"plugin_modules": ["tests.fixture_plugins.reporting_supplier"]},
        suppliers=[
            {
                "id": "sup-m",
                "name": "M",
                "adapter": "mailbox",
                "url": "sftp://127.0.0.1/in",
                "regions": ["CN"],
                "poll_interval_s": 0.05,
            }
        ],
        catalog=[{"sku": "SKU-1", "supplier": "sup-m", "cost": "2.00", "stock": 100}],
    )
    async with FeedCollector(broker.port) as feed:
        gateway = await start_gateway(write_config(config))
        try:
            url = gateway.http_url
            async with http.post(
                f"{url}/api/v1/orders", json=order_json("SO-1", [("SKU-1", 2)])
            ) as response:
                order_id = (await response.json())["accepted"][0]["order_id"]
            view = await order_reaching(http, url, order_id, "dispatched")
            (po,) = view["purchase_orders"]
            assert (po["status"], po["supplier_ref"]) == ("sent", f"file-{po['po_id']}.csv")
            assert po["po_id"] in reporting.SENT

            reports: list[SupplierReport] = [
                PoAcknowledged(po_id=po["po_id"], supplier_ref="ACK-1"),
                PoShipment(po_id=po["po_id"], carrier="SF", tracking_number="SF1", lines=()),
                PoShipment(po_id="po_unknown-1", carrier="SF", tracking_number="SF2"),
            ]
            bad_row = ReportProblem(
                source="ship-1.csv",
                line=3,
                column="quantity",
                message="not a number",
                po_id=po["po_id"],
            )
            reporting.QUEUED.append((reports, [bad_row]))
            view = await order_reaching(http, url, order_id, "shipped")
            (po,) = view["purchase_orders"]
            assert [(s["carrier"], s["tracking_number"]) for s in po["shipments"]] == [
                ("SF", "SF1")
            ]
            problems = [
                e["data"] for e in view["timeline"] if e["type"] == "supplier.report_problem"
            ]
            assert problems == [
                {
                    "source": "ship-1.csv",
                    "line": 3,
                    "column": "quantity",
                    "message": "not a number",
                    "po_id": po["po_id"],
                }
            ]
            await feed.wait_until(
                lambda f: (
                    len(f.events("supplier.report_problem")) == 2
                    and bool(f.events_on("dropship/alerts/supplier_report_problem"))
                ),
                timeout=20,
                what="both problems and their alert on the feed",
            )
            unknown = next(
                e for e in feed.events("supplier.report_problem") if e["order_id"] is None
            )
            assert "po_unknown-1" in unknown["data"]["message"]

            # The same batch collected again (a crash before it was confirmed) changes nothing.
            reporting.QUEUED.append((reports[:2], []))
            before = len(view["timeline"])
            await reporting.wait_for(lambda: len(reporting.CONFIRMED) == 2)
            assert reporting.CONFIRMED == reporting.COLLECTED
            async with http.get(f"{url}/api/v1/orders/{order_id}") as response:
                again = await response.json()
            assert len(again["timeline"]) == before
            assert len(again["purchase_orders"][0]["shipments"]) == 1
        finally:
            await gateway.stop()
