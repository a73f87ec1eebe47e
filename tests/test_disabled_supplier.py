"""A supplier switched off with `enabled = false` gets nothing, not even as a last resort."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from dropship_simulator.supplier_server import SupplierSimulator
from tests.conftest import WriteConfig, base_config, start_gateway
from tests.harness import Mosquitto, order_json, order_reaching


async def test_a_disabled_supplier_receives_nothing(
    tmp_path: Path, broker: Mosquitto, write_config: WriteConfig, http: aiohttp.ClientSession
) -> None:
    async with SupplierSimulator("off", seed=1) as off:
        config = base_config(
            tmp_path,
            broker,
            suppliers=[
                {"id": "off", "name": "Off", "url": off.url, "regions": ["*"], "enabled": False}
            ],
            catalog=[{"sku": "ONLY-OFF", "supplier": "off", "cost": "1.00", "stock": 10}],
        )
        gateway = await start_gateway(write_config(config))
        try:
            async with http.post(
                f"{gateway.http_url}/api/v1/orders", json=order_json("SO-OFF", [("ONLY-OFF", 1)])
            ) as response:
                order_id = (await response.json())["accepted"][0]["order_id"]
            view = await order_reaching(http, gateway.http_url, order_id, "on_hold")
            assert view["hold_reason"] == "no_route"
            assert view["purchase_orders"] == []
            assert off.received == []
        finally:
            await gateway.stop()
