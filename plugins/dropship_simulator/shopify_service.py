"""The demo's Shopify shop, run as a supervised gateway service (``shopify_shop``): a
`ShopifyShop` stand-in whose customers place orders at a steady pace, some paying later, some
cancelling, all announced by signed webhooks to the Shopify channel's listener.

Options::

    port = 9200                          # the shop's Admin API
    access_token = "demo-shopify-token"  # or env:NAME, as the channel's options
    api_secret = "demo-shopify-secret"
    webhook_address = "http://127.0.0.1:8091/shopify/webhooks"
    skus = ["TEA-001", "CUP-002"]
    orders_per_minute = 30
    pay_later_rate = 0.2                 # pending at checkout, paid `pay_after_s` later
    pay_after_s = 5
    cancel_rate = 0.05                   # cancelled by the merchant `cancel_after_s` later
    cancel_after_s = 3
    retry_schedule_s = [1, 2, 4, 8]      # webhook retries (Shopify's own: 8 over 4 hours)
    seed = 11
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from dropship_simulator.shop_channel import (
    GIVEN_NAME_CHARS,
    MOBILE_PREFIXES,
    PLACES,
    STREETS,
    SURNAMES,
)
from dropship_simulator.shopify_shop import ShopifyShop
from dropship_simulator.shopify_state import CN_PROVINCES_EN
from gateway.domain.regions import region_code
from gateway.plugin_api import ServiceContext

TOPICS = ("orders/create", "orders/updated", "orders/paid", "orders/cancelled")


class ShopifyShopOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    access_token: str
    api_secret: str
    webhook_address: str
    skus: Annotated[list[str], Meta(min_length=1)]
    host: str = "127.0.0.1"
    port: int = 0
    orders_per_minute: Annotated[float, Meta(gt=0)] = 30.0
    pay_later_rate: Annotated[float, Meta(ge=0, le=1)] = 0.2
    pay_after_s: Annotated[float, Meta(ge=0)] = 5.0
    cancel_rate: Annotated[float, Meta(ge=0, le=1)] = 0.05
    cancel_after_s: Annotated[float, Meta(ge=0)] = 3.0
    retry_schedule_s: list[float] = msgspec.field(default_factory=lambda: [1.0, 2.0, 4.0, 8.0])
    max_orders: Annotated[int, Meta(ge=0)] | None = None
    seed: int | None = None


class ShopifyShopService:
    """Service ``shopify_shop``: the stand-in shop and its customers, until cancelled."""

    def __init__(self) -> None:
        self.shop: ShopifyShop | None = None
        self.ready = asyncio.Event()

    async def run(self, ctx: ServiceContext) -> None:
        options = msgspec.convert(ctx.options, ShopifyShopOptions)
        rng = random.Random(options.seed)
        shop = ShopifyShop(
            access_token=_secret(options.access_token, "access_token"),
            api_secret=_secret(options.api_secret, "api_secret"),
            host=options.host,
            port=options.port,
            subscriptions=[(topic, options.webhook_address) for topic in TOPICS],
            retry_schedule_s=options.retry_schedule_s,
        )
        async with shop, asyncio.TaskGroup() as later:
            self.shop = shop
            ctx.log.info("shopify_shop.running", admin=shop.admin_url)
            self.ready.set()
            placed = 0
            prices = {sku: f"{rng.randrange(990, 19_900) / 100:.2f}" for sku in options.skus}
            while options.max_orders is None or placed < options.max_orders:
                pay_later = rng.random() < options.pay_later_rate
                order = shop.create_order(
                    _line_items(rng, options.skus, prices),
                    _address(rng),
                    financial_status="pending" if pay_later else "paid",
                    gateway="bank_deposit" if pay_later else "alipay",
                )
                placed += 1
                if pay_later:
                    later.create_task(self._after(options.pay_after_s, shop.mark_paid, order))
                elif rng.random() < options.cancel_rate:
                    later.create_task(self._after(options.cancel_after_s, shop.cancel_order, order))
                await ctx.clock.sleep(60.0 / options.orders_per_minute)
            await asyncio.get_running_loop().create_future()  # idle until cancelled

    @staticmethod
    async def _after(delay_s: float, action: Any, order: dict[str, Any]) -> None:
        await asyncio.sleep(delay_s)
        with contextlib.suppress(KeyError):
            action(order["id"])


def _line_items(
    rng: random.Random, skus: list[str], prices: dict[str, str]
) -> list[dict[str, Any]]:
    chosen = rng.sample(skus, rng.randint(1, min(3, len(skus))))
    return [{"sku": sku, "quantity": rng.randint(1, 3), "price": prices[sku]} for sku in chosen]


def _address(rng: random.Random) -> dict[str, Any]:
    province, city, districts, postal_code = rng.choice(PLACES)
    code = region_code("CN", province).removeprefix("CN-")
    given = "".join(rng.choices(GIVEN_NAME_CHARS, k=rng.randint(1, 2)))
    family = rng.choice(SURNAMES)
    return {
        "first_name": given,
        "last_name": family,
        "name": f"{given} {family}",
        "address1": f"{rng.choice(districts)}{rng.choice(STREETS)} {rng.randint(1, 999)} 号",
        "address2": None,
        "city": city,
        "province": CN_PROVINCES_EN[code],
        "province_code": code,
        "country": "China",
        "country_code": "CN",
        "zip": postal_code,
        "phone": f"+86 {rng.choice(MOBILE_PREFIXES)}{rng.randrange(10**8):08d}",
        "company": None,
    }


def _secret(value: str, key: str) -> str:
    if not value.startswith("env:"):
        return value
    name = value.removeprefix("env:")
    secret = os.environ.get(name)
    if secret is None:
        raise ValueError(f"{key}: environment variable {name} is not set")
    return secret
