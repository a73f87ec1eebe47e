"""Intake is idempotent on (channel, external_id) under concurrency: the same order POSTed twenty
times at once through a real gateway is one order, answered `duplicate: false` once, and its
supplier (a server written from CONTRACT §5) gets one purchase order."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import WriteConfig, base_config, start_gateway
from tests.contract_supplier import ContractSupplier
from tests.harness import Mosquitto, order_json, order_reaching

COPIES = 20


async def test_twenty_concurrent_posts_of_one_order_make_one_order_and_one_po(
    tmp_path: Path, broker: Mosquitto, write_config: WriteConfig, http: aiohttp.ClientSession
) -> None:
    async with ContractSupplier() as supplier:
        config = base_config(
            tmp_path,
            broker,
            suppliers=[{"id": "sup-a", "name": "A", "url": supplier.url, "regions": ["CN"]}],
            catalog=[{"sku": "SKU-1", "supplier": "sup-a", "cost": "3.00", "stock": 100}],
        )
        gateway = await start_gateway(write_config(config))
        try:
            body = order_json("SO-TWICE", [("SKU-1", 1)], channel="shop")
            # A burst of twenty connections at once; none of them waits for another.
            connector = aiohttp.TCPConnector(limit=COPIES, force_close=True)
            async with aiohttp.ClientSession(connector=connector) as burst:

                async def post() -> dict[str, Any]:
                    async with burst.post(f"{gateway.http_url}/api/v1/orders", json=body) as r:
                        assert r.status == 202, await r.text()
                        [accepted] = (await r.json())["accepted"]
                        return dict(accepted)

                answers = await asyncio.gather(*(post() for _ in range(COPIES)))

            assert len({a["order_id"] for a in answers}) == 1, answers
            assert sorted(a["duplicate"] for a in answers) == [False] + [True] * (COPIES - 1)
            order_id = answers[0]["order_id"]

            order = await order_reaching(http, gateway.http_url, order_id, "acknowledged")
            [po] = order["purchase_orders"]
            assert {r.po_id for r in supplier.posts()} == {po["po_id"]}
            async with http.get(f"{gateway.http_url}/api/v1/orders?channel=shop") as response:
                listed = (await response.json())["orders"]
            assert [o["order_id"] for o in listed] == [order_id]
            received = [e for e in order["timeline"] if e["type"] == "order.received"]
            assert len(received) == 1
        finally:
            await gateway.stop()
