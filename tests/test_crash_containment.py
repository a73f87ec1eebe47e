"""A crashing adapter is restarted by its supervisor; past the restart limit its supplier shows
`down` (API, feed, alert, metrics) while the other suppliers keep flowing, and its orders wait
instead of being lost."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from dropship_simulator.supplier_server import SupplierSimulator
from tests.conftest import WriteConfig, base_config, start_gateway
from tests.harness import FeedCollector, Mosquitto, order_json, wait_for_http


async def test_a_crashing_adapter_goes_down_and_the_others_keep_flowing(
    tmp_path: Path, broker: Mosquitto, write_config: WriteConfig, http: aiohttp.ClientSession
) -> None:
    async with SupplierSimulator("sup-good", seed=3) as good:
        config = base_config(
            tmp_path,
            broker,
            gateway={
                "plugin_modules": [
                    "tests.fixture_plugins.crashing",
                    "tests.fixture_plugins.broken_import",
                ],
                "restart_intensity": 2,
                "restart_period_s": 60,
            },
            suppliers=[
                {
                    "id": "sup-bad",
                    "name": "Bad",
                    "adapter": "crashing",
                    "url": "http://127.0.0.1:9",
                    "regions": ["CN"],
                },
                {"id": "sup-good", "name": "Good", "url": good.url, "regions": ["CN"]},
                {
                    "id": "sup-orphan",
                    "name": "Orphan",
                    "adapter": "from_broken",
                    "url": "http://127.0.0.1:9",
                    "regions": ["CN"],
                },
            ],
            catalog=[
                {"sku": "X-1", "supplier": "sup-bad", "cost": "1.00", "stock": 100},
                {"sku": "G-1", "supplier": "sup-good", "cost": "1.00", "stock": 100},
                {"sku": "O-1", "supplier": "sup-orphan", "cost": "1.00", "stock": 100},
            ],
        )
        gateway = await start_gateway(write_config(config))
        try:
            async with FeedCollector(broker.port) as feed:
                url = gateway.http_url
                async with http.post(
                    f"{url}/api/v1/orders", json=order_json("SO-X", [("X-1", 1)])
                ) as response:
                    bad_order = (await response.json())["accepted"][0]["order_id"]
                await feed.wait_until(
                    lambda f: (
                        (f.latest.get("dropship/suppliers/sup-bad/health") or {}).get("state")
                        == "down"
                    ),
                    timeout=20,
                    what="sup-bad reported down",
                )
                alerts = {
                    v["subject"]["supplier_id"]: v
                    for t, v, _ in feed.messages
                    if t == "dropship/alerts/supplier_down"
                }
                assert alerts["sup-bad"]["severity"] == "critical"
                assert "KeyError" in alerts["sup-bad"]["message"]
                # The supplier whose plugin failed to load is down from the start, and says so.
                assert "from_broken" in alerts["sup-orphan"]["message"]

                batch = {"orders": [order_json(f"SO-G{i}", [("G-1", 1)]) for i in range(3)]}
                async with http.post(f"{url}/api/v1/orders", json=batch) as response:
                    good_orders = [a["order_id"] for a in (await response.json())["accepted"]]
                await feed.wait_until(
                    lambda f: all(
                        (f.status_of(o) or {}).get("status") == "acknowledged" for o in good_orders
                    ),
                    timeout=20,
                    what="the good supplier's orders acknowledged",
                )

            async with http.get(f"{url}/api/v1/suppliers") as response:
                states = {s["supplier_id"]: s for s in (await response.json())["suppliers"]}
            assert states["sup-bad"]["state"] == "down"
            assert "KeyError" in states["sup-bad"]["last_error"]
            assert states["sup-good"]["state"] == "up"
            assert states["sup-orphan"]["state"] == "down"
            assert "from_broken" in states["sup-orphan"]["last_error"]

            # The order routed to the crashed supplier is not lost: its PO waits to be resent.
            async with http.get(f"{url}/api/v1/orders/{bad_order}") as response:
                view = await response.json()
            assert view["status"] == "dispatched"
            assert [po["status"] for po in view["purchase_orders"]] == ["sent"]

            async with http.get(f"{url}/metrics") as response:
                metrics = await response.text()
            assert 'dropship_actor_down{actor="supplier:sup-bad"} 1.0' in metrics
            restarts = next(
                line
                for line in metrics.splitlines()
                if line.startswith('dropship_actor_restarts_total{actor="supplier:sup-bad"}')
            )
            assert float(restarts.rsplit(" ", 1)[1]) >= 2
            await wait_for_http(
                http, f"{url}/readyz", lambda body: body["ready"], timeout=5, what="ready"
            )
        finally:
            await gateway.stop()
