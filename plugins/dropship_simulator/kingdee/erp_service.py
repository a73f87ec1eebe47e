"""The demo's ERP: a simulated K3Cloud account, run as a gateway service (``kingdee_erp``), in
which clerks approve sales orders at a steady pace for the ``kingdee`` channel to take in.

Options::

    host = "127.0.0.1"
    port = 9120
    acct_id = "6565a0b1c2d3e4"
    user_name = "demo"               # the integration user
    password = "demo-password"       # for auth = "password"
    app_id = "..."                   # the third-party app the channel signs with
    app_secret = "..."
    skus = ["TEA-001", ...]          # what the sales orders are made of
    orders_per_second = 5
    max_orders = 1000                # optional: stop approving after that many
    seed = 11
    suppliers = ["VEN-FAST", ...]    # BD_Supplier numbers purchase orders may name
    carriers = ["SF", ...]           # 承运商 numbers outbound bills may name
    invalid_rate = 0.0               # share of orders with bad data (no material, qty 0, ...)
"""

from __future__ import annotations

import asyncio
import random
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from dropship_simulator.kingdee.server import KingdeeSimulator
from dropship_simulator.shop_channel import OrderFactory
from gateway.plugin_api.adapters import ServiceContext


class ErpOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: int = 9120
    acct_id: str = "6565a0b1c2d3e4"
    user_name: str = "demo"
    password: str = "demo-password"
    app_id: str | None = None
    app_secret: str | None = None
    skus: Annotated[list[str], Meta(min_length=1)]
    orders_per_second: Annotated[float, Meta(gt=0)] = 5.0
    max_orders: Annotated[int, Meta(ge=0)] | None = None
    seed: int | None = None
    suppliers: list[str] = []
    carriers: list[str] = []
    invalid_rate: Annotated[float, Meta(ge=0, le=1)] = 0.0


def sales_order_fields(order: dict[str, Any]) -> dict[str, Any]:
    """The receiver of an intake-shaped order as a tenant keeps it on a sales order."""
    ship_to = order["ship_to"]
    return {
        "FLinkMan": ship_to["name"],
        "FLinkPhone": ship_to["phone"],
        "F_PAEZ_Province": ship_to["province"],
        "F_PAEZ_City": ship_to["city"],
        "F_PAEZ_District": ship_to.get("district") or "",
        "FReceiveAddress": ship_to["address1"],
    }


class KingdeeErp:
    """Service ``kingdee_erp``: runs a `KingdeeSimulator` and approves sales orders in it."""

    def __init__(self) -> None:
        self.simulator: KingdeeSimulator | None = None
        self.approved = 0

    async def run(self, ctx: ServiceContext) -> None:
        options = msgspec.convert(ctx.options, ErpOptions)
        apps = {options.app_id: options.app_secret} if options.app_id and options.app_secret else {}
        simulator = KingdeeSimulator(
            host=options.host,
            port=options.port,
            acct_id=options.acct_id,
            users={options.user_name: options.password},
            apps=apps,
        )
        simulator.add_base_data("supplier", options.suppliers)
        simulator.add_base_data("carrier", options.carriers)
        self.simulator = simulator
        rng = random.Random(options.seed)
        factory = OrderFactory(options.skus, rng, options.invalid_rate)
        async with simulator:
            ctx.log.info("kingdee_erp.started", url=simulator.url)
            interval_s = 1.0 / options.orders_per_second
            next_at = ctx.clock.monotonic()
            while options.max_orders is None or self.approved < options.max_orders:
                order = factory.make("", ctx.clock.now())
                simulator.create_sales_order(
                    customer=f"CUST{rng.randrange(1, 500):04d}",
                    lines=[
                        (line["sku"], float(line["quantity"]), float(line["unit_price"]))
                        for line in order["lines"]
                    ],
                    fields=sales_order_fields(order),
                )
                self.approved += 1
                next_at += interval_s
                delay_s = next_at - ctx.clock.monotonic()
                if delay_s > 0:
                    await ctx.clock.sleep(delay_s)
                else:
                    next_at = ctx.clock.monotonic()
            ctx.log.info("kingdee_erp.done", approved=self.approved)
            await asyncio.get_running_loop().create_future()  # serve until cancelled
