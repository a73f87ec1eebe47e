"""Tracking written back to the Shopify stand-in over HTTP, as the channel's write-back does it:
one fulfillment per parcel with exactly its line items, carriers named as Shopify names them,
a parcel written twice written once, and what Shopify refuses reported with its words."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from dropship_shopify.admin import ShopifyAdmin
from dropship_shopify.carriers import Carriers
from dropship_shopify.fulfillment import CannotWriteBack, FulfillmentWriter
from dropship_simulator.shopify_shop import ShopifyShop
from gateway.infra.clock import SystemClock
from tests.test_shopify_standin import ADDRESS, SECRET, TOKEN


@pytest.fixture
async def shop() -> AsyncIterator[ShopifyShop]:
    async with ShopifyShop(access_token=TOKEN, api_secret=SECRET) as stand_in:
        yield stand_in


@pytest.fixture
async def writer(shop: ShopifyShop) -> AsyncIterator[FulfillmentWriter]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        admin = ShopifyAdmin(session, shop.admin_url, TOKEN, SystemClock())
        yield FulfillmentWriter(admin, Carriers(), notify_customer=False)


async def test_each_parcel_becomes_one_fulfillment_of_exactly_its_lines(
    shop: ShopifyShop, writer: FulfillmentWriter
) -> None:
    # Two lines of the same SKU: line 1 went to one supplier, line 3 to another.
    order = shop.create_order(
        [
            {"sku": "A-1", "quantity": 2, "price": "10.00"},
            {"sku": "B-1", "quantity": 1, "price": "20.00"},
            {"sku": "A-1", "quantity": 1, "price": "10.00"},
        ],
        ADDRESS,
    )
    first, second, third = (line["id"] for line in order["line_items"])
    shopify_id = str(order["id"])
    # Supplier 1 holds lines 1 and 2 and ships them in two parcels; supplier 2 holds line 3.
    po_1 = {"A-1": [first], "B-1": [second]}
    await writer.write(shopify_id, "SF", "SF001", [("A-1", 1), ("B-1", 1)], po_1)
    await writer.write(shopify_id, "SF", "SF002", [("A-1", 1)], po_1)
    await writer.write(shopify_id, "JD", "JD003", [("A-1", 1)], {"A-1": [third]})

    written = {f.tracking[0]["number"]: f for f in shop.fulfillments_of(order["id"])}
    assert {n: sorted(f.lines) for n, f in written.items()} == {
        "SF001": sorted([(first, 1), (second, 1)]),
        "SF002": [(first, 1)],
        "JD003": [(third, 1)],
    }
    assert written["SF001"].tracking == [{"company": "SF Express", "number": "SF001", "url": None}]
    assert written["JD003"].tracking == [
        {
            "company": "JD Logistics",
            "number": "JD003",
            "url": "https://www.kuaidi100.com/chaxun?com=jd&nu=JD003",
        }
    ]
    assert shop.state.orders[order["id"]]["fulfillment_status"] == "fulfilled"


async def test_a_parcel_written_again_is_not_fulfilled_twice(
    shop: ShopifyShop, writer: FulfillmentWriter
) -> None:
    order = shop.create_order([{"sku": "A-1", "quantity": 3, "price": "10.00"}], ADDRESS)
    line = order["line_items"][0]["id"]
    first = await writer.write(str(order["id"]), "YTO", "YT1", [("A-1", 1)], {"A-1": [line]})
    again = await writer.write(str(order["id"]), "YTO", "YT1", [("A-1", 1)], {"A-1": [line]})
    assert not first.already
    assert again.already
    assert again.fulfillment_ids == first.fulfillment_ids
    assert len(shop.fulfillments_of(order["id"])) == 1


async def test_what_shopify_cannot_fulfil_is_refused_with_the_reason(
    shop: ShopifyShop, writer: FulfillmentWriter
) -> None:
    order = shop.create_order([{"sku": "A-1", "quantity": 1, "price": "10.00"}], ADDRESS)
    line = order["line_items"][0]["id"]
    await writer.write(str(order["id"]), "SF", "SF1", [("A-1", 1)], {"A-1": [line]})
    with pytest.raises(CannotWriteBack, match="1 × A-1 shipped, but Shopify has 0 of it left"):
        await writer.write(str(order["id"]), "SF", "SF2", [("A-1", 1)], {"A-1": [line]})
    with pytest.raises(CannotWriteBack, match="Shopify has no order 42"):
        await writer.write("42", "SF", "SF3", [("A-1", 1)], None)
    assert len(shop.fulfillments_of(order["id"])) == 1
