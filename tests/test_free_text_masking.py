"""Free text from outside never carries personal data out (issue 6): a supplier that quotes the
customer in its refusal ("cannot deliver to <name> at <street> tel <phone>") through a real
gateway process; the name, street and phones appear neither in the API, nor on the MQTT feed,
nor in the log."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import tomli_w
from aiohttp import web

from tests.conftest import base_config
from tests.harness import FeedCollector, GatewayProcess, Mosquitto, order_json, order_reaching

NAME = "张三"
STREET = "文三路 100 号"
PHONE = "13812345678"
# A supplier's refusal quoting the customer every way it can: after a word that introduces a
# name and bare, the street, the mobile alone and inside a longer run of digits (a waybill
# number glued to it), and an international number of the customer's other contact.
REFUSAL = (
    f"cannot deliver to {NAME} at {STREET} tel {PHONE}; {NAME} was not home, "
    f"waybill 2026112313812345678, call +44 20 7946 0958"
)
# What must not appear anywhere (the digits of the international number in any grouping).
PERSONAL = (NAME, "文三路", PHONE, "2026112313812345678", "7946 0958", "79460958")


@pytest.fixture
async def refusing_supplier() -> AsyncIterator[str]:
    """A supplier speaking CONTRACT §5 that refuses every PO with a 422 quoting its customer."""

    async def refuse(_: web.Request) -> web.Response:
        return web.json_response({"reason": "bad_address", "message": REFUSAL}, status=422)

    app = web.Application()
    app.router.add_post("/purchase-orders", refuse)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def leaks(text: str) -> list[str]:
    return [secret for secret in PERSONAL if secret in text]


async def test_a_refusal_quoting_the_customer_leaks_nothing(
    tmp_path: Path,
    broker: Mosquitto,
    refusing_supplier: str,
    http: aiohttp.ClientSession,
) -> None:
    config: dict[str, Any] = base_config(
        tmp_path,
        broker,
        suppliers=[
            {
                "id": "sup-q",
                "name": "Quoting supplier",
                "url": refusing_supplier,
                "regions": ["*"],
                "retry_base_s": 0.05,
            }
        ],
        catalog=[{"sku": "SKU-Q", "supplier": "sup-q", "cost": "5.00", "stock": 100}],
    )
    path = tmp_path / "gateway.toml"
    path.write_text(tomli_w.dumps(config), encoding="utf-8")
    gateway = GatewayProcess(path, tmp_path)
    await gateway.start()
    try:
        async with FeedCollector(broker.port) as feed:
            body = json.dumps(order_json("SO-QUOTED", [("SKU-Q", 1)])).encode()
            async with http.post(
                f"{gateway.url}/api/v1/orders",
                data=body,
                headers={"Content-Type": "application/json"},
            ) as response:
                assert response.status == 202, await response.text()
                order_id = (await response.json())["accepted"][0]["order_id"]
            view = await order_reaching(http, gateway.url, order_id, "on_hold")
            await feed.wait_until(
                lambda f: any(e.get("order_id") == order_id for e in f.events("po.rejected")),
                timeout=20,
                what="the po.rejected event",
            )
            feed_text = json.dumps(
                [[topic, payload] for topic, payload, _ in feed.messages], ensure_ascii=False
            )
        async with http.get(f"{gateway.url}/api/v1/orders/{order_id}") as response:
            api_text = await response.text()
        async with http.get(f"{gateway.url}/api/v1/orders?limit=200") as response:
            api_text += await response.text()
    finally:
        gateway.terminate()
    log_text = "\n".join(gateway.watcher.lines if gateway.watcher else [])

    # The refusal reached every place, so each check below looks at it ...
    [po] = view["purchase_orders"]
    assert (po["status"], po["reason"]) == ("rejected", "bad_address")
    assert "cannot deliver" in po["message"]
    rejected = [e for e in json.loads(feed_text) if e[0].endswith("/events/po.rejected")]
    assert "cannot deliver" in json.dumps(rejected, ensure_ascii=False)
    assert "cannot deliver" in log_text
    # ... and none of them carries the customer's name, street or phones.
    assert leaks(api_text) == [], api_text
    assert leaks(feed_text) == [], feed_text
    assert leaks(log_text) == [], [line for line in log_text.splitlines() if leaks(line)]
    # What is left still says what happened: the masked forms.
    assert "138****5678" in po["message"]
