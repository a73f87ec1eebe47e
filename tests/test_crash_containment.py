"""A crashing adapter is restarted by its supervisor; past the restart limit its supplier shows
`down` (API, feed, alert, metrics) while the other suppliers keep flowing, and its orders wait
instead of being lost. A poison PO (one the adapter raises on) is contained to itself."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from dropship_simulator.supplier_server import SupplierSimulator
from tests.conftest import WriteConfig, base_config, start_gateway
from tests.fixture_plugins import poison
from tests.harness import FeedCollector, Mosquitto, order_json, order_reaching, wait_for_http


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
        # The feed is watched from before the start: alerts are not retained.
        async with FeedCollector(broker.port) as feed:
            gateway = await start_gateway(write_config(config))
            try:
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

                # The order routed to the crashed supplier is not lost: its PO waits to be sent.
                async with http.get(f"{url}/api/v1/orders/{bad_order}") as response:
                    view = await response.json()
                assert view["status"] == "routed"
                assert [po["status"] for po in view["purchase_orders"]] == ["pending"]

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


async def test_a_poison_po_fails_alone_and_is_not_retried_past_its_limit_across_restarts(
    tmp_path: Path, broker: Mosquitto, write_config: WriteConfig, http: aiohttp.ClientSession
) -> None:
    """The adapter raises on one PO and answers another with a wrong type: each is a failed
    attempt of that PO alone, counted in the store; after `max_adapter_errors` the PO is failed
    (`adapter_error`, order on hold) while the supplier's other POs are accepted and the actor
    never crashes. A restart resumes the count instead of starting it again."""
    poison.CALLS.clear()

    def config(retry_base_s: float) -> Path:
        supplier = {
            "id": "sup-p",
            "name": "P",
            "adapter": "poison_sensitive",
            "url": "http://127.0.0.1:9",
            "regions": ["CN"],
            "max_adapter_errors": 4,
            "retry_base_s": retry_base_s,
            "retry_max_s": retry_base_s,
        }
        catalog = [
            {"sku": sku, "supplier": "sup-p", "cost": "1.00", "stock": 100}
            for sku in ("POISON-1", "WRONG-1", "OK-1")
        ]
        plugins = {"plugin_modules": ["tests.fixture_plugins.poison"]}
        return write_config(
            base_config(tmp_path, broker, gateway=plugins, suppliers=[supplier], catalog=catalog)
        )

    # 1. Slow retries: each poison PO has one failed attempt, counted, when the gateway stops.
    gateway = await start_gateway(config(retry_base_s=3600))
    try:
        url = gateway.http_url
        batch = {
            "orders": [
                order_json("SO-P", [("POISON-1", 1)]),
                order_json("SO-W", [("WRONG-1", 1)]),
                order_json("SO-OK", [("OK-1", 1)]),
            ]
        }
        async with http.post(f"{url}/api/v1/orders", json=batch) as response:
            poisoned, wrong, fine = [a["order_id"] for a in (await response.json())["accepted"]]
        view = await order_reaching(http, url, fine, "acknowledged")
        assert view["purchase_orders"][0]["supplier_ref"].startswith("ref-po_")
        for order_id in (poisoned, wrong):
            await wait_for_http(
                http,
                f"{url}/api/v1/orders/{order_id}",
                lambda o: o["purchase_orders"][0]["attempts"] == 1,
                timeout=20,
                what=f"{order_id}: one failed attempt recorded",
            )
    finally:
        await gateway.stop()
    assert sorted(poison.CALLS.values()) == [1, 1, 1]

    # 2. Fast retries after a restart: three more attempts each (four in all), then failed.
    gateway = await start_gateway(config(retry_base_s=0.01))
    try:
        url = gateway.http_url
        for order_id, error in ((poisoned, "KeyError"), (wrong, "returned dict")):
            view = await order_reaching(http, url, order_id, "on_hold")
            (po,) = view["purchase_orders"]
            assert view["hold_reason"] == "adapter_error"
            assert (po["status"], po["reason"]) == ("failed", "adapter_error")
            assert error in po["message"]
            assert poison.CALLS[po["po_id"]] == 4
        async with http.get(f"{url}/api/v1/suppliers") as response:
            (supplier,) = (await response.json())["suppliers"]
        assert supplier["state"] != "down"
        status = gateway.supervisor.status("supplier:sup-p")
        assert status is not None
        assert status.restarts == 0
    finally:
        await gateway.stop()

    # 3. Another restart sends the supplier nothing more for the failed POs.
    calls_before = sum(poison.CALLS.values())
    gateway = await start_gateway(config(retry_base_s=0.01))
    try:
        async with http.post(
            f"{gateway.http_url}/api/v1/orders", json=order_json("SO-OK2", [("OK-1", 1)])
        ) as response:
            order_id = (await response.json())["accepted"][0]["order_id"]
        await order_reaching(http, gateway.http_url, order_id, "acknowledged")
        assert sum(poison.CALLS.values()) == calls_before + 1
    finally:
        await gateway.stop()
