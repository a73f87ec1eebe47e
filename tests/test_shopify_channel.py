"""The Shopify channel end to end, with real processes and real HTTP: the gateway runs as its
own process (`run.py serve`) with the `shopify` channel; the Shopify stand-in sends it signed
webhooks and answers its Admin API calls; two simulated suppliers take the POs and ship.

The gateway gives the channel all of plugin API 2 (`ctx.state`, `ctx.orders`, `ctx.updates`):
a channel that logs one of them missing fails the test rather than skipping what needs it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from dropship_simulator.shopify_shop import ShopifyShop, sign_webhook
from dropship_simulator.supplier_server import SupplierSimulator
from tests.conftest import WriteConfig, base_config
from tests.harness import GatewayProcess, Mosquitto, order_reaching, wait_for_http

TOKEN = "shpat_channel_test"
SECRET = "shpss_channel_test"
ADDRESS = {
    "first_name": "三",
    "last_name": "张",
    "name": "三 张",
    "address1": "文三路 100 号",
    "city": "杭州市",
    "province": "Zhejiang",
    "province_code": "ZJ",
    "country": "China",
    "country_code": "CN",
    "zip": "310000",
    "phone": "+86 138 1234 5678",
}
ORDER_TOPICS = ("orders/create", "orders/updated", "orders/paid", "orders/cancelled")


@dataclass
class World:
    shop: ShopifyShop
    sup_a: SupplierSimulator
    sup_b: SupplierSimulator
    gateway: GatewayProcess
    http: aiohttp.ClientSession
    webhook_url: str

    async def orders_of(self, shopify_order: dict[str, Any]) -> list[dict[str, Any]]:
        """The gateway's orders for one Shopify order (there should be one)."""
        async with self.http.get(
            f"{self.gateway.url}/api/v1/orders", params={"channel": "shopify", "limit": "500"}
        ) as response:
            page = await response.json()
        return [o for o in page["orders"] if o["external_id"] == str(shopify_order["id"])]

    async def the_order(self, shopify_order: dict[str, Any], timeout: float = 20) -> str:
        """The gateway's order id of a Shopify order, once it was taken in."""
        view = await wait_for_http(
            self.http,
            f"{self.gateway.url}/api/v1/orders?channel=shopify&limit=500",
            lambda page: any(o["external_id"] == str(shopify_order["id"]) for o in page["orders"]),
            timeout=timeout,
            what=f"Shopify order {shopify_order['name']} taken in",
        )
        [match] = [o for o in view["orders"] if o["external_id"] == str(shopify_order["id"])]
        return str(match["order_id"])

    def log_lines(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.gateway.log_events() if e.get("event") == event]

    async def wait_for_log(self, event: str, count: int = 1, timeout: float = 20) -> None:
        """Until the gateway's log has `count` lines of `event` (its output arrives through a
        pipe, after the HTTP answers that caused them)."""
        watcher = self.gateway.watcher
        assert watcher is not None
        start = 0
        for _ in range(count):
            line = await asyncio.to_thread(
                watcher.wait_for, lambda ln: f'"{event}"' in ln, timeout, start
            )
            start = watcher.lines.index(line, start) + 1


@pytest.fixture
async def suppliers() -> AsyncIterator[tuple[SupplierSimulator, SupplierSimulator]]:
    sup_a = SupplierSimulator("sup-a", seed=1, skus=["A-1"], webhook_secret="sup-a-notice-secret")
    sup_b = SupplierSimulator("sup-b", seed=2, skus=["B-1"], webhook_secret="sup-b-notice-secret")
    async with sup_a, sup_b:
        yield sup_a, sup_b


@pytest.fixture
async def shop() -> AsyncIterator[ShopifyShop]:
    async with ShopifyShop(
        access_token=TOKEN, api_secret=SECRET, retry_schedule_s=(0.2, 0.5, 1.0, 2.0)
    ) as stand_in:
        yield stand_in


Launch = Callable[..., Awaitable[World]]


@pytest.fixture
async def launch(
    tmp_path: Path,
    broker: Mosquitto,
    write_config: WriteConfig,
    gateway_process: Callable[[Path], GatewayProcess],
    shop: ShopifyShop,
    suppliers: tuple[SupplierSimulator, SupplierSimulator],
    http: aiohttp.ClientSession,
) -> Launch:
    sup_a, sup_b = suppliers

    async def start(**channel_options: Any) -> World:
        for sim in suppliers:
            sim.gateway_url = None  # set below, once the gateway's port is known
        config = base_config(
            tmp_path,
            broker,
            suppliers=[
                {
                    "id": sim.supplier_id,
                    "name": sim.supplier_id,
                    "url": sim.url,
                    "regions": ["CN"],
                    "webhook_secret": f"{sim.supplier_id}-notice-secret",
                    "retry_base_s": 0.05,
                }
                for sim in suppliers
            ],
            catalog=[
                {"sku": "A-1", "supplier": "sup-a", "cost": "10.00", "stock": 1000},
                {"sku": "B-1", "supplier": "sup-b", "cost": "20.00", "stock": 1000},
            ],
            channels=[
                {
                    "id": "shopify",
                    "adapter": "shopify",
                    "options": {
                        "shop_url": shop.url,
                        "access_token": TOKEN,
                        "api_secret": SECRET,
                        "listen": "127.0.0.1:0",
                        "reconcile_every_s": 3600,
                        **channel_options,
                    },
                }
            ],
        )
        process = gateway_process(write_config(config))
        await process.start()
        assert process.watcher is not None
        line = await asyncio.to_thread(
            process.watcher.wait_for, lambda ln: '"shopify.listening"' in ln, 20
        )
        webhook_url = json.loads(line)["url"]
        # The first reconciliation pass runs at start; wait for it, so that what a test does
        # next is not raced by it (each test says when reconciliation may take orders in).
        await asyncio.to_thread(
            process.watcher.wait_for, lambda ln: '"shopify.reconciled"' in ln, 20
        )
        # By the first pass the channel has said whether the gateway lacks part of API 2.
        missing = [
            e for e in process.log_events() if e.get("event") == "shopify.feature_unavailable"
        ]
        assert missing == [], missing
        for sim in suppliers:
            sim.gateway_url = process.url
        shop.subscriptions = [(topic, webhook_url) for topic in ORDER_TOPICS]
        return World(shop, sup_a, sup_b, process, http, webhook_url)

    return start


def delivered(shop: ShopifyShop, order: dict[str, Any], topic: str) -> Callable[[], bool]:
    return lambda: any(w.delivered for w in shop.webhooks_for(order["id"], topic))


async def test_a_forged_signature_is_refused_and_changes_nothing(launch: Launch) -> None:
    world = await launch()
    shop = world.shop
    shop.lose_webhooks = True  # we deliver this order's webhook by hand
    order = shop.create_order([{"sku": "A-1", "quantity": 1, "price": "19.90"}], ADDRESS)
    [webhook] = shop.webhooks_for(order["id"], "orders/create")
    headers = webhook.headers("dropship-demo.myshopify.com", "2024-10")

    forged = {**headers, "X-Shopify-Hmac-Sha256": sign_webhook(webhook.body, "not the secret")}
    assert await shop.post_webhook(world.webhook_url, webhook.body, forged) == (401, None)
    unsigned = {k: v for k, v in headers.items() if k != "X-Shopify-Hmac-Sha256"}
    assert await shop.post_webhook(world.webhook_url, webhook.body, unsigned) == (401, None)
    tampered = webhook.body.replace(b'"quantity":1', b'"quantity":9')
    assert await shop.post_webhook(world.webhook_url, tampered, headers) == (401, None)

    await world.wait_for_log("shopify.webhook_unauthorized", 3)
    assert await world.orders_of(order) == []
    assert world.sup_a.orders == {}
    # The refused attempts did not mark the event as handled: the genuine one is taken in.
    assert await shop.redeliver(webhook) == 200
    order_id = await world.the_order(order)
    view = await order_reaching(world.http, world.gateway.url, order_id, "acknowledged")
    assert [line["quantity"] for line in view["purchase_orders"][0]["lines"]] == [1]


async def test_a_webhook_delivered_three_times_creates_one_order(launch: Launch) -> None:
    world = await launch()
    shop = world.shop
    order = shop.create_order([{"sku": "A-1", "quantity": 2, "price": "19.90"}], ADDRESS)
    await shop.wait_until(delivered(shop, order, "orders/create"), what="orders/create delivered")
    [webhook] = shop.webhooks_for(order["id"], "orders/create")
    assert await shop.redeliver(webhook) == 200
    assert await shop.redeliver(webhook) == 200

    order_id = await world.the_order(order)
    view = await order_reaching(world.http, world.gateway.url, order_id, "acknowledged")
    assert len(await world.orders_of(order)) == 1
    assert view["external_id"] == str(order["id"])
    await world.sup_a.wait_for_orders(1)
    assert len(world.sup_a.orders) == 1
    assert [a.status for a in world.sup_a.received] == [201]  # one PO, sent once
    await world.wait_for_log("shopify.webhook_duplicate", 2)
    assert len(world.log_lines("shopify.webhook_duplicate")) == 2


async def test_an_order_paid_later_is_held_then_released(launch: Launch) -> None:
    world = await launch()
    shop = world.shop
    order = shop.create_order(
        [{"sku": "A-1", "quantity": 1, "price": "19.90"}],
        ADDRESS,
        financial_status="pending",
        gateway="bank_deposit",
    )
    order_id = await world.the_order(order)
    held = await order_reaching(world.http, world.gateway.url, order_id, "on_hold")
    assert held["hold_reason"] == "unpaid"
    assert world.sup_a.orders == {}

    shop.mark_paid(order["id"])
    released = await order_reaching(world.http, world.gateway.url, order_id, "acknowledged")
    assert [po["supplier_id"] for po in released["purchase_orders"]] == ["sup-a"]
    assert len(world.sup_a.orders) == 1


async def test_an_order_cancelled_in_shopify_is_cancelled(launch: Launch) -> None:
    world = await launch()
    shop = world.shop
    order = shop.create_order([{"sku": "A-1", "quantity": 1, "price": "19.90"}], ADDRESS)
    order_id = await world.the_order(order)
    await order_reaching(world.http, world.gateway.url, order_id, "acknowledged")

    shop.cancel_order(order["id"], reason="customer")
    cancelled = await order_reaching(world.http, world.gateway.url, order_id, "cancelled")
    assert [po["status"] for po in cancelled["purchase_orders"]] == ["cancelled"]
    [po_id] = world.sup_a.orders
    await world.sup_a.wait_until(
        lambda: world.sup_a.orders[po_id].status == "cancelled", what="the PO cancelled"
    )


async def test_a_split_order_gets_one_fulfillment_per_tracking_number(launch: Launch) -> None:
    world = await launch()
    shop = world.shop
    order = shop.create_order(
        [
            {"sku": "A-1", "quantity": 2, "price": "19.90"},
            {"sku": "B-1", "quantity": 1, "price": "29.90"},
        ],
        ADDRESS,
    )
    order_id = await world.the_order(order)
    view = await order_reaching(world.http, world.gateway.url, order_id, "acknowledged")
    pos = {po["supplier_id"]: po["po_id"] for po in view["purchase_orders"]}
    assert set(pos) == {"sup-a", "sup-b"}

    # sup-a sends its two units in two parcels, sup-b its one.
    for sim, carrier, number, lines in (
        (world.sup_a, "SF", "SF100000000001", {"A-1": 1}),
        (world.sup_a, "YTO", "YT200000000002", {"A-1": 1}),
        (world.sup_b, "ZTO", "ZT300000000003", {"B-1": 1}),
    ):
        answer = await sim.ship(pos[sim.supplier_id], carrier, number, lines)
        assert answer.status in (200, 201), answer.body
    await order_reaching(world.http, world.gateway.url, order_id, "shipped")

    await shop.wait_until(
        lambda: len(shop.fulfillments_of(order["id"])) == 3, timeout=20, what="three fulfillments"
    )
    line_ids = {line["sku"]: line["id"] for line in order["line_items"]}
    fulfilled = {
        f.tracking[0]["number"]: (f.tracking[0]["company"], f.tracking[0]["url"], f.lines)
        for f in shop.fulfillments_of(order["id"])
    }
    assert fulfilled == {
        "SF100000000001": ("SF Express", None, [(line_ids["A-1"], 1)]),
        "YT200000000002": (
            "YTO Express",
            "https://www.kuaidi100.com/chaxun?com=yuantong&nu=YT200000000002",
            [(line_ids["A-1"], 1)],
        ),
        "ZT300000000003": (
            "ZTO Express",
            "https://www.kuaidi100.com/chaxun?com=zhongtong&nu=ZT300000000003",
            [(line_ids["B-1"], 1)],
        ),
    }
    assert shop.state.orders[order["id"]]["fulfillment_status"] == "fulfilled"


async def test_lost_webhooks_are_recovered_by_reconciliation_exactly_once(
    launch: Launch,
) -> None:
    world = await launch(reconcile_every_s=0.3)
    shop = world.shop
    shop.lose_webhooks = True  # the listener never hears of these
    lost = [
        shop.create_order([{"sku": "A-1", "quantity": 1, "price": "19.90"}], ADDRESS),
        shop.create_order([{"sku": "B-1", "quantity": 3, "price": "29.90"}], ADDRESS),
    ]
    order_ids = [await world.the_order(order) for order in lost]
    for order_id in order_ids:
        await order_reaching(world.http, world.gateway.url, order_id, "acknowledged")

    # Several more passes see the same orders again and take nothing in twice.
    assert world.gateway.watcher is not None
    seen = len(world.log_lines("shopify.reconciled"))
    await asyncio.to_thread(
        world.gateway.watcher.wait_for,
        lambda ln: '"shopify.reconciled"' in ln,
        20,
        len(world.gateway.watcher.lines),
    )
    assert len(world.log_lines("shopify.reconciled")) > seen
    for order in lost:
        assert len(await world.orders_of(order)) == 1
    taken_in = world.log_lines("shopify.order_taken_in")
    assert sorted(line["shopify_order_id"] for line in taken_in) == sorted(o["id"] for o in lost)
    assert {line["source"] for line in taken_in} == {"reconciliation"}
    assert len(world.sup_a.orders) == 1
    assert len(world.sup_b.orders) == 1
    assert [a.status for a in world.sup_a.received + world.sup_b.received] == [201, 201]
    assert all(not w.delivered for w in shop.webhooks)
