"""A simulated web shop: a channel adapter that produces realistic Chinese orders.

It goes through the same door as a real channel, `ChannelContext.submit`, with orders in the
intake format of CONTRACT §3 (JSON bytes), so the demo exercises validation, storage, routing
and dispatch exactly as production traffic would. Options (``[[channels]]`` table):

- ``skus`` (required): the SKUs orders are made of;
- ``orders_per_second`` (5), ``batch_size`` (10): the pace, kept with the injected clock;
- ``seed``: makes the orders reproducible; ``max_orders``: stop producing after that many;
- ``invalid_rate`` (0): fraction of orders with a deliberate defect, to show rejections;
- ``id_prefix`` ("SIM"): external ids are ``{prefix}-{channel}-{start stamp}-{n}``, unique
  across runs, so a second demo run against the same database is not all duplicates.
"""

from __future__ import annotations

import asyncio
import json
import random
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from gateway.plugin_api.adapters import ChannelContext, SubmitResult

# (province, city, districts, postal code): real places, so region mapping is exercised.
PLACES: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("浙江省", "杭州市", ("西湖区", "拱墅区", "滨江区", "余杭区"), "310000"),
    ("浙江省", "宁波市", ("海曙区", "鄞州区", "江北区"), "315000"),
    ("上海市", "上海市", ("浦东新区", "徐汇区", "静安区", "闵行区"), "200000"),
    ("北京市", "北京市", ("朝阳区", "海淀区", "东城区", "丰台区"), "100000"),
    ("广东省", "广州市", ("天河区", "越秀区", "海珠区"), "510000"),
    ("广东省", "深圳市", ("南山区", "福田区", "宝安区"), "518000"),
    ("江苏省", "南京市", ("玄武区", "鼓楼区", "建邺区"), "210000"),
    ("江苏省", "苏州市", ("姑苏区", "吴中区", "虎丘区"), "215000"),
    ("四川省", "成都市", ("武侯区", "锦江区", "青羊区"), "610000"),
    ("湖北省", "武汉市", ("武昌区", "洪山区", "江汉区"), "430000"),
    ("山东省", "青岛市", ("市南区", "崂山区", "黄岛区"), "266000"),
    ("福建省", "厦门市", ("思明区", "湖里区"), "361000"),
)
STREETS = ("文三路", "中山路", "人民路", "解放路", "建设路", "长江路", "和平路", "学院路", "科技路")
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN_NAME_CHARS = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀英华文斌婷宇"
MOBILE_PREFIXES = ("138", "139", "137", "136", "135", "150", "151", "158", "186", "187", "199")
PRIORITIES = (("low", 5), ("normal", 80), ("high", 12), ("urgent", 3))


class ShopOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    skus: Annotated[list[str], Meta(min_length=1)]
    orders_per_second: Annotated[float, Meta(gt=0)] = 5.0
    batch_size: Annotated[int, Meta(gt=0, le=1000)] = 10
    seed: int | None = None
    max_orders: Annotated[int, Meta(ge=0)] | None = None
    invalid_rate: Annotated[float, Meta(ge=0, le=1)] = 0.0
    id_prefix: str = "SIM"


class OrderFactory:
    """Makes intake orders (as dicts) from one random.Random, so a seed reproduces them."""

    def __init__(self, skus: list[str], rng: random.Random, invalid_rate: float = 0.0) -> None:
        self._skus = list(dict.fromkeys(skus))
        self._rng = rng
        self._invalid_rate = invalid_rate
        # One shelf price per SKU for the whole run, as a shop has.
        self._prices = {sku: Decimal(rng.randrange(990, 29_900)).scaleb(-2) for sku in self._skus}

    def make(self, external_id: str, created_at: datetime) -> dict[str, Any]:
        rng = self._rng
        lines = self._lines()
        total = sum((Decimal(line["unit_price"]) * line["quantity"] for line in lines), Decimal())
        order: dict[str, Any] = {
            "external_id": external_id,
            "created_at": created_at.isoformat(),
            "priority": rng.choices([p for p, _ in PRIORITIES], [w for _, w in PRIORITIES])[0],
            "currency": "CNY",
            "customer": {"id": f"C-{rng.randrange(1, 50_000)}", "tier": self._tier()},
            "payment": {"status": "paid", "amount": str(total)},
            "ship_to": self._address(),
            "lines": lines,
        }
        if self._invalid_rate and rng.random() < self._invalid_rate:
            self._spoil(order)
        return order

    def _lines(self) -> list[dict[str, Any]]:
        count = self._rng.randint(1, min(3, len(self._skus)))
        skus = self._rng.sample(self._skus, count)
        return [
            {
                "line_id": str(index),
                "sku": sku,
                "quantity": self._rng.randint(1, 3),
                "unit_price": str(self._prices[sku]),
            }
            for index, sku in enumerate(skus, start=1)
        ]

    def _address(self) -> dict[str, str]:
        rng = self._rng
        province, city, districts, postal_code = rng.choice(PLACES)
        address1 = f"{rng.choice(STREETS)} {rng.randint(1, 999)} 号"
        if rng.random() < 0.6:
            address1 += (
                f" {rng.randint(1, 30)} 幢 {rng.randint(1, 4)} 单元 {rng.randint(101, 2802)} 室"
            )
        return {
            "name": rng.choice(SURNAMES)
            + "".join(rng.choices(GIVEN_NAME_CHARS, k=rng.randint(1, 2))),
            "phone": rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}",
            "country": "CN",
            "province": province,
            "city": city,
            "district": rng.choice(districts),
            "address1": address1,
            "postal_code": postal_code,
        }

    def _tier(self) -> str:
        return "vip" if self._rng.random() < 0.1 else "normal"

    def _spoil(self, order: dict[str, Any]) -> None:
        """One defect a real shop's export does produce now and then."""
        defect = self._rng.randrange(3)
        if defect == 0:
            order["lines"][0]["quantity"] = 0
        elif defect == 1:
            order["ship_to"]["province"] = "火星省"
        else:
            order["ship_to"]["phone"] = "unknown"


class SimulatedShop:
    """Channel adapter ``simulated_shop``. Counts what the gateway made of its orders."""

    def __init__(self) -> None:
        self.submitted = 0
        self.accepted = 0
        self.duplicates = 0
        self.rejected = 0
        self.done = asyncio.Event()  # set once max_orders have been submitted

    async def run(self, ctx: ChannelContext) -> None:
        options = msgspec.convert(ctx.options, ShopOptions)
        factory = OrderFactory(options.skus, random.Random(options.seed), options.invalid_rate)
        stamp = ctx.clock.now().strftime("%Y%m%d%H%M%S")
        id_base = f"{options.id_prefix}-{ctx.channel_id}-{stamp}"
        interval_s = options.batch_size / options.orders_per_second
        ctx.log.info("shop.started", orders_per_second=options.orders_per_second)

        next_at = ctx.clock.monotonic()
        while options.max_orders is None or self.submitted < options.max_orders:
            size = options.batch_size
            if options.max_orders is not None:
                size = min(size, options.max_orders - self.submitted)
            now = ctx.clock.now()
            batch = [
                json.dumps(
                    factory.make(f"{id_base}-{self.submitted + i + 1:06d}", now),
                    ensure_ascii=False,
                ).encode()
                for i in range(size)
            ]
            results = await ctx.submit(batch)
            self.submitted += len(batch)
            self._count(results)
            if options.max_orders is not None and self.submitted >= options.max_orders:
                break
            next_at += interval_s
            delay_s = next_at - ctx.clock.monotonic()
            if delay_s > 0:
                await ctx.clock.sleep(delay_s)
            else:
                next_at = ctx.clock.monotonic()  # fell behind: keep the pace, do not burst

        ctx.log.info(
            "shop.finished",
            submitted=self.submitted,
            accepted=self.accepted,
            rejected=self.rejected,
        )
        self.done.set()
        # Idle until cancelled: a channel that returns is restarted and would start over.
        await asyncio.get_running_loop().create_future()

    def _count(self, results: list[SubmitResult]) -> None:
        for result in results:
            if not result.accepted:
                self.rejected += 1
            elif result.duplicate:
                self.duplicates += 1
            else:
                self.accepted += 1
