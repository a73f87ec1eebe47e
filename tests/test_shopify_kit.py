"""The Shopify channel through the channel conformance kit (`gateway.testing`), against the
Shopify stand-in.

The kit checks a channel that polls its source; the Shopify channel's polling half is its
reconciliation through the Admin API, and that is what runs here (the stand-in has no webhook
subscriptions). Webhooks are pushed to the channel, which the kit does not model: they are
shown end to end in `test_shopify_channel`.

How the kit's words map onto Shopify:

- an order *offered* at the source is a checkout in the stand-in; Shopify numbers it itself,
  and the channel submits that number as `external_id` (`ShopifySource.offered_id` maps back);
- Shopify has no "confirm" call: a channel that reconciles confirms by moving its cursor. An
  order is *confirmed* once the channel lists orders from its `updated_at` on (with
  `reconcile_overlap_s = 0`, the cursor is exactly the last `updated_at` it took in);
- the source *away* is an outage: the Admin API answers 503;
- *written back* are the fulfillments the channel created.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from dropship_shopify import ShopifyChannel
from dropship_simulator.shopify_shop import ShopifyShop
from gateway.domain.regions import region_code
from gateway.testing import ChannelUnderTest, WrittenBack, channel_contract_tests

TOKEN = "shpat_kit"
SECRET = "shpss_kit"


class ShopifySource:
    """The Shopify stand-in as the kit's `ChannelCounterpart`."""

    def __init__(self) -> None:
        self.shop = ShopifyShop(access_token=TOKEN, api_secret=SECRET)
        self._shopify_ids: dict[str, int] = {}  # offered external id -> Shopify order id

    async def start(self) -> None:
        await self.shop.start()

    async def stop(self) -> None:
        await self.shop.stop()

    def options(self) -> dict[str, Any]:
        return {
            "shop_url": self.shop.url,
            "access_token": TOKEN,
            "api_secret": SECRET,
            "listen": "127.0.0.1:0",
            "reconcile_overlap_s": 0,
            # The kit's clock starts on a fixed day, the stand-in's orders carry today's date:
            # the first pass looks back far enough for both.
            "reconcile_lookback_s": 20 * 365 * 86400,
        }

    def offer(self, order: dict[str, Any]) -> None:
        ship_to = order["ship_to"]
        name = ship_to["name"]
        province = region_code(ship_to["country"], ship_to["province"])
        address = {
            "first_name": name[1:],
            "last_name": name[:1],
            "name": name,
            "address1": ship_to["address1"],
            "city": ship_to["city"],
            "province_code": province.partition("-")[2],
            "country_code": ship_to["country"],
            "zip": ship_to.get("postal_code"),
            "phone": ship_to["phone"],
        }
        lines = [
            # Shopify has no line of quantity 0. Its order that the intake refuses is one
            # with a custom item, which has no SKU.
            {"sku": line["sku"], "quantity": line["quantity"], "price": line["unit_price"]}
            if line["quantity"] > 0
            else {"sku": None, "quantity": 1, "price": line["unit_price"], "title": "Custom item"}
            for line in order["lines"]
        ]
        paid = order["payment"]["status"] == "paid"
        created = self.shop.create_order(
            lines, address, financial_status="paid" if paid else "pending"
        )
        self._shopify_ids[str(order["external_id"])] = int(created["id"])

    def offered_id(self, external_id: str) -> str:
        for offered, shopify_id in self._shopify_ids.items():
            if str(shopify_id) == external_id:
                return offered
        return external_id

    def confirmed(self) -> list[str]:
        cursors = [
            datetime.fromisoformat(values[0])
            for request in self.shop.rest_requests
            if request.status == 200
            for values in [parse_qs(urlsplit(request.path).query).get("updated_at_min", [])]
            if values
        ]
        return [
            offered
            for offered, shopify_id in self._shopify_ids.items()
            if any(
                cursor >= datetime.fromisoformat(self.shop.state.orders[shopify_id]["updated_at"])
                for cursor in cursors
            )
        ]

    def set_available(self, available: bool) -> None:
        self.shop.available = available

    def written_back(self) -> list[WrittenBack]:
        return [
            WrittenBack(
                offered,
                "po.shipped",
                {"tracking": fulfillment.tracking, "line_items": fulfillment.lines},
            )
            for offered, shopify_id in self._shopify_ids.items()
            for fulfillment in self.shop.fulfillments_of(shopify_id)
        ]


@pytest.fixture
def channel_under_test() -> ChannelUnderTest:
    return ChannelUnderTest(factory=ShopifyChannel, counterpart=ShopifySource())


test_the_shopify_channel_keeps_the_channel_contract = channel_contract_tests()
