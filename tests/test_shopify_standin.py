"""The Shopify stand-in speaks Shopify: Shopify's own Python library (ShopifyAPI) runs its
GraphQL client against it, its webhooks verify the way Shopify documents, and its limits push
back the way Shopify's do. The channel's Admin API client is checked against the same limits.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
import shopify
from aiohttp import web

from dropship_shopify.admin import ShopifyAdmin, ShopifyRefused, ShopifyUnavailable
from dropship_shopify.fulfillment import FULFILLMENT_CREATE, ORDER_FULFILLMENT_QUERY
from dropship_shopify.receiver import signature_valid
from dropship_simulator.shopify_shop import ShopifyShop
from gateway.infra.clock import SystemClock

TOKEN = "shpat_test_token"
SECRET = "shpss_test_secret"
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


class Inbox:
    """An HTTP endpoint that keeps what is posted to it: the webhooks as they arrive."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.answer = 200
        self.arrived = asyncio.Event()
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        self.arrived.set()
        return web.Response(status=self.answer)


@pytest.fixture
async def inbox() -> AsyncIterator[Inbox]:
    box = Inbox()
    app = web.Application()
    app.router.add_post("/hooks", box.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    box.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hooks"
    try:
        yield box
    finally:
        await runner.cleanup()


@pytest.fixture
async def shop() -> AsyncIterator[ShopifyShop]:
    async with ShopifyShop(
        access_token=TOKEN, api_secret=SECRET, retry_schedule_s=(0.05, 0.05)
    ) as stand_in:
        yield stand_in


@pytest.fixture
def shopify_library(shop: ShopifyShop) -> Iterator[None]:
    """ShopifyAPI pointed at the stand-in the way its README sets up a private app."""
    shopify.ShopifyResource.set_site(shop.admin_url)
    shopify.ShopifyResource.set_headers({"X-Shopify-Access-Token": TOKEN})
    try:
        yield
    finally:
        shopify.ShopifyResource.clear_session()


async def library_graphql(query: str, variables: dict[str, Any]) -> dict[str, Any]:
    """ShopifyAPI's GraphQL client is synchronous (urllib): run it off the event loop."""
    raw = await asyncio.to_thread(shopify.GraphQL().execute, query, variables)
    result: dict[str, Any] = json.loads(raw)
    return result


async def test_shopify_api_library_reads_fulfillment_orders_and_creates_a_fulfillment(
    shop: ShopifyShop, shopify_library: None
) -> None:
    order = shop.create_order(
        [
            {"sku": "TEA-001", "quantity": 2, "price": "18.00"},
            {"sku": "CUP-002", "quantity": 1, "price": "9.50"},
        ],
        ADDRESS,
    )
    read = await library_graphql(ORDER_FULFILLMENT_QUERY, {"id": order["admin_graphql_api_id"]})
    assert "errors" not in read, read
    [fo] = read["data"]["order"]["fulfillmentOrders"]["nodes"]
    assert fo["status"] == "OPEN"
    items = {i["lineItem"]["sku"]: i for i in fo["lineItems"]["nodes"]}
    assert {sku: i["remainingQuantity"] for sku, i in items.items()} == {
        "TEA-001": 2,
        "CUP-002": 1,
    }
    cost = read["extensions"]["cost"]
    assert cost["requestedQueryCost"] > 0
    assert cost["throttleStatus"]["currentlyAvailable"] < cost["throttleStatus"]["maximumAvailable"]

    created = await library_graphql(
        FULFILLMENT_CREATE,
        {
            "fulfillment": {
                "lineItemsByFulfillmentOrder": [
                    {
                        "fulfillmentOrderId": fo["id"],
                        "fulfillmentOrderLineItems": [
                            {"id": items["TEA-001"]["id"], "quantity": 1}
                        ],
                    }
                ],
                "trackingInfo": {"company": "SF Express", "number": "SF1234567890"},
            },
            "message": None,
        },
    )
    payload = created["data"]["fulfillmentCreate"]
    assert payload["userErrors"] == []
    assert payload["fulfillment"]["trackingInfo"] == [
        {"company": "SF Express", "number": "SF1234567890", "url": None}
    ]
    [fulfillment] = shop.fulfillments_of(order["id"])
    assert fulfillment.lines == [(order["line_items"][0]["id"], 1)]

    # What is left, as the library reads it again; more than is left is a user error.
    again = await library_graphql(ORDER_FULFILLMENT_QUERY, {"id": order["admin_graphql_api_id"]})
    [fo] = again["data"]["order"]["fulfillmentOrders"]["nodes"]
    assert fo["status"] == "IN_PROGRESS"
    left = {i["lineItem"]["sku"]: i["remainingQuantity"] for i in fo["lineItems"]["nodes"]}
    assert left == {"TEA-001": 1, "CUP-002": 1}
    assert again["data"]["order"]["fulfillments"][0]["trackingInfo"] == [{"number": "SF1234567890"}]
    too_many = await library_graphql(
        FULFILLMENT_CREATE,
        {
            "fulfillment": {
                "lineItemsByFulfillmentOrder": [
                    {
                        "fulfillmentOrderId": fo["id"],
                        "fulfillmentOrderLineItems": [
                            {"id": items["TEA-001"]["id"], "quantity": 2}
                        ],
                    }
                ],
                "trackingInfo": {"company": "SF Express", "number": "SF999"},
            },
            "message": None,
        },
    )
    assert too_many["data"]["fulfillmentCreate"]["fulfillment"] is None
    assert too_many["data"]["fulfillmentCreate"]["userErrors"] == [
        {
            "field": [
                "fulfillment",
                "lineItemsByFulfillmentOrder",
                "0",
                "fulfillmentOrderLineItems",
                "0",
                "quantity",
            ],
            "message": "Invalid fulfillment order line item quantity requested.",
        }
    ]


async def test_graphql_errors_have_shopifys_shape(shop: ShopifyShop, shopify_library: None) -> None:
    unknown_field = await library_graphql("{ shop { name planName } }", {})
    assert "data" not in unknown_field
    [error] = unknown_field["errors"]
    assert "planName" in error["message"]
    assert error["locations"]

    shopify.ShopifyResource.set_headers({"X-Shopify-Access-Token": "wrong"})
    with pytest.raises(Exception, match="401"):
        await library_graphql("{ shop { name } }", {})


def shopify_documented_verify(secret: str, data: bytes, hmac_header: str) -> bool:
    """The webhook check Shopify's "Verify webhooks" guide gives for Python. ShopifyAPI itself
    (12.7) ships no webhook helper: its `Session.validate_hmac` is for OAuth query strings."""
    digest = hmac.new(secret.encode("utf-8"), data, hashlib.sha256).digest()
    computed = base64.b64encode(digest)
    return hmac.compare_digest(computed, hmac_header.encode("utf-8"))


async def test_webhooks_carry_shopifys_headers_and_verify(shop: ShopifyShop, inbox: Inbox) -> None:
    shop.subscriptions = [("orders/create", inbox.url), ("orders/paid", inbox.url)]
    order = shop.create_order([{"sku": "TEA-001", "quantity": 1, "price": "18.00"}], ADDRESS)
    await shop.wait_until(lambda: len(inbox.received) == 2, what="two webhooks")
    topics = set()
    for headers, body in inbox.received:
        topics.add(headers["X-Shopify-Topic"])
        assert shopify_documented_verify(SECRET, body, headers["X-Shopify-Hmac-Sha256"])
        assert signature_valid(body, headers["X-Shopify-Hmac-Sha256"], SECRET)
        assert not shopify_documented_verify(
            "another secret", body, headers["X-Shopify-Hmac-Sha256"]
        )
        assert headers["X-Shopify-Shop-Domain"] == "dropship-demo.myshopify.com"
        assert headers["X-Shopify-API-Version"] == "2024-10"
        assert headers["X-Shopify-Event-Id"]
        assert headers["X-Shopify-Webhook-Id"]
        assert datetime.fromisoformat(headers["X-Shopify-Triggered-At"].replace("Z", "+00:00"))
        assert json.loads(body)["id"] == order["id"]  # the REST resource, not wrapped
    assert topics == {"orders/create", "orders/paid"}
    # Two topics are two events.
    assert len({h["X-Shopify-Event-Id"] for h, _ in inbox.received}) == 2


async def test_an_unanswered_webhook_is_retried_with_the_same_body_and_ids(
    shop: ShopifyShop, inbox: Inbox
) -> None:
    shop.subscriptions = [("orders/create", inbox.url)]
    inbox.answer = 500
    shop.create_order([{"sku": "TEA-001", "quantity": 1, "price": "18.00"}], ADDRESS)
    await shop.wait_until(lambda: len(inbox.received) == 3, what="three attempts")
    [webhook] = shop.webhooks
    await shop.wait_until(lambda: webhook.attempts == 3, what="the last attempt recorded")
    assert not webhook.delivered
    assert len({body for _, body in inbox.received}) == 1
    assert {h["X-Shopify-Event-Id"] for h, _ in inbox.received} == {webhook.event_id}
    assert {h["X-Shopify-Webhook-Id"] for h, _ in inbox.received} == {webhook.webhook_id}
    assert [d.status for d in shop.deliveries] == [500, 500, 500]


async def test_rest_order_list_pages_with_link_headers(shop: ShopifyShop) -> None:
    orders = [
        shop.create_order([{"sku": "TEA-001", "quantity": 1, "price": "18.00"}], ADDRESS)
        for _ in range(5)
    ]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        admin = ShopifyAdmin(session, shop.admin_url, TOKEN, SystemClock())
        since = datetime.now(UTC) - timedelta(minutes=5)
        pages = [page async for page in admin.orders_updated_since(since, page_size=2)]
    assert [len(p) for p in pages] == [2, 2, 1]
    assert sorted(o.id for p in pages for o in p) == sorted(o["id"] for o in orders)
    assert all("page_info=" in r.path for r in shop.rest_requests[1:])


async def test_admin_client_waits_out_rest_429_and_graphql_throttling(shop: ShopifyShop) -> None:
    shop.create_order([{"sku": "TEA-001", "quantity": 1, "price": "18.00"}], ADDRESS)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        admin = ShopifyAdmin(session, shop.admin_url, TOKEN, SystemClock())
        since = datetime.now(UTC) - timedelta(minutes=5)
        shop.throttle_rest_next(1)
        pages = [page async for page in admin.orders_updated_since(since)]
        assert [len(p) for p in pages] == [1]
        assert [r.status for r in shop.rest_requests] == [429, 200]

        shop.throttle_graphql_next(1)
        data = await admin.graphql("{ shop { myshopifyDomain } }", {}, expected_cost=1)
        assert data == {"shop": {"myshopifyDomain": "dropship-demo.myshopify.com"}}
        assert [r.throttled for r in shop.graphql_requests] == [True, False]
        assert admin.throttled == 2
        # The bucket Shopify reported is what the client plans with.
        assert admin.cost.maximum == 2000
        assert admin.cost.wait_for(admin.cost.maximum + 1) > 0


async def test_admin_client_tells_refusals_from_outages(shop: ShopifyShop) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        clock = SystemClock()
        wrong_token = ShopifyAdmin(session, shop.admin_url, "wrong", clock)
        with pytest.raises(ShopifyUnavailable, match=r"401.*check access_token"):
            await wrong_token.graphql("{ shop { name } }", {}, expected_cost=1)
        admin = ShopifyAdmin(session, shop.admin_url, TOKEN, clock)
        with pytest.raises(ShopifyRefused, match="planName"):
            await admin.graphql("{ shop { planName } }", {}, expected_cost=1)
        gone = ShopifyAdmin(session, "http://127.0.0.1:9/admin/api/2024-10", TOKEN, clock)
        with pytest.raises(ShopifyUnavailable, match="ClientConnectorError"):
            await gone.graphql("{ shop { name } }", {}, expected_cost=1)
        shop.available = False  # an outage: both APIs answer 503
        with pytest.raises(ShopifyUnavailable, match="503 Service Unavailable"):
            await admin.graphql("{ shop { name } }", {}, expected_cost=1)
        with pytest.raises(ShopifyUnavailable, match="503 Service Unavailable"):
            [_ async for _ in admin.orders_updated_since(datetime.now(UTC))]
