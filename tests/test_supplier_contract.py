"""CONTRACT §5 end to end, against a supplier written in this test from the contract's text
(tests/contract_supplier.py), not the project's simulator: a misreading the adapter and the
simulator share would pass every other test and fail here.

The gateway runs as users run it (`run.py serve`, its own process) with a real Mosquitto; the
test waits on the supplier's requests and on the gateway's MQTT feed, never on the clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import WriteConfig, base_config
from tests.contract_supplier import Answer, ContractSupplier
from tests.harness import FeedCollector, GatewayProcess, Mosquitto, feed_of, order_json

# What the supplier does with a PO, by the SKU of its first line.
SCRIPT = {
    "SKU-REFUSED": [Answer(422, {"reason": "bad_address", "message": "no such street"})],
    "SKU-BUSY": [
        Answer(503, {"message": "try again"}, {"Retry-After": "1"}),
        Answer(201, {"supplier_ref": "REF-AFTER-503"}),
    ],
    "SKU-KNOWN": [Answer(409, {"supplier_ref": "REF-ALREADY"})],
    "SKU-KNOWN-BARE": [Answer(409)],
}
SKUS = ["SKU-OK", "SKU-CANCEL", *SCRIPT]
PO_FIELDS = {"po_id", "order_external_id", "created_at", "priority", "ship_to", "lines"}


@pytest.fixture
async def supplier() -> AsyncIterator[ContractSupplier]:
    async with ContractSupplier(SCRIPT) as server:
        yield server


@pytest.fixture
async def gateway(
    tmp_path: Path,
    broker: Mosquitto,
    supplier: ContractSupplier,
    write_config: WriteConfig,
    gateway_process: Callable[[Path], GatewayProcess],
) -> GatewayProcess:
    config = base_config(
        tmp_path,
        broker,
        suppliers=[
            {
                "id": "sup-x",
                "name": "Supplier X",
                "adapter": "http_json",
                "url": supplier.url,
                "regions": ["CN"],
                "retry_base_s": 0.05,
                "retry_max_s": 0.5,
            }
        ],
        catalog=[{"sku": sku, "supplier": "sup-x", "cost": "12.50", "stock": 100} for sku in SKUS],
    )
    process = gateway_process(write_config(config))
    await process.start()
    return process


async def submit(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> str:
    async with http.post(f"{url}/api/v1/orders", json=body) as response:
        assert response.status == 202, await response.text()
        order_id: str = (await response.json())["accepted"][0]["order_id"]
    return order_id


async def view(http: aiohttp.ClientSession, url: str, order_id: str) -> dict[str, Any]:
    async with http.get(f"{url}/api/v1/orders/{order_id}") as response:
        assert response.status == 200
        answer: dict[str, Any] = await response.json()
    return answer


async def reaching(feed: FeedCollector, order_id: str, status: str) -> None:
    await feed.wait_until(
        lambda f: (f.status_of(order_id) or {}).get("status") == status,
        timeout=30,
        what=f"order {order_id} {status}",
    )


async def test_the_gateway_speaks_contract_section_5_to_a_supplier_written_from_it(
    gateway: GatewayProcess, supplier: ContractSupplier, http: aiohttp.ClientSession
) -> None:
    url = gateway.url
    async with feed_of(url) as feed:
        ids = {
            name: await submit(
                http, url, order_json(name, [(sku, 2)], priority="high", channel="shop")
            )
            for name, sku in [
                ("SO-OK", "SKU-OK"),
                ("SO-REFUSED", "SKU-REFUSED"),
                ("SO-BUSY", "SKU-BUSY"),
                ("SO-KNOWN", "SKU-KNOWN"),
                ("SO-KNOWN-BARE", "SKU-KNOWN-BARE"),
                ("SO-CANCEL", "SKU-CANCEL"),
            ]
        }

        # 201: accepted, once, under the PO's id as idempotency key, with §5's body.
        await reaching(feed, ids["SO-OK"], "acknowledged")
        ok = await view(http, url, ids["SO-OK"])
        [po] = ok["purchase_orders"]
        [post] = supplier.posts(po["po_id"])
        assert post.headers["Idempotency-Key"] == po["po_id"]
        assert post.headers["Content-Type"].startswith("application/json")
        body = post.body
        assert set(body) >= PO_FIELDS, f"missing: {PO_FIELDS - set(body)}"
        assert body["po_id"] == po["po_id"]
        assert body["order_external_id"] == "SO-OK"
        assert body["priority"] == "high"
        assert datetime.fromisoformat(body["created_at"]).tzinfo is not None
        [line] = body["lines"]
        assert (line["sku"], line["quantity"]) == ("SKU-OK", 2)
        assert isinstance(line["unit_cost"], str)  # money is a decimal string
        assert Decimal(line["unit_cost"]) == Decimal("12.50")
        # The supplier ships it: the address as the customer gave it, unmasked.
        assert {k: body["ship_to"].get(k) for k in ("name", "phone", "city", "address1")} == {
            "name": "张三",
            "phone": "13812345678",
            "city": "杭州市",
            "address1": "文三路 100 号",
        }
        assert po["status"] == "accepted"
        assert po["supplier_ref"] == f"REF-{po['po_id']}"

        # 422 with a reason: the PO is rejected and the order on hold with that reason.
        await reaching(feed, ids["SO-REFUSED"], "on_hold")
        refused = await view(http, url, ids["SO-REFUSED"])
        assert refused["hold_reason"] == "bad_address"
        [po] = refused["purchase_orders"]
        assert (po["status"], po["reason"]) == ("rejected", "bad_address")
        assert len(supplier.posts(po["po_id"])) == 1  # a refusal is not retried
        assert (feed.status_of(ids["SO-REFUSED"]) or {}).get("hold_reason") == "bad_address"

        # 503 with Retry-After, then 201: retried under the same key and accepted.
        await reaching(feed, ids["SO-BUSY"], "acknowledged")
        [po] = (await view(http, url, ids["SO-BUSY"]))["purchase_orders"]
        attempts = supplier.posts(po["po_id"])
        assert len(attempts) == 2
        assert {a.headers["Idempotency-Key"] for a in attempts} == {po["po_id"]}
        assert (po["status"], po["supplier_ref"]) == ("accepted", "REF-AFTER-503")

        # 409: the supplier already has it, which counts as accepted (its ref kept if given).
        for name, ref in [("SO-KNOWN", "REF-ALREADY"), ("SO-KNOWN-BARE", None)]:
            await reaching(feed, ids[name], "acknowledged")
            [po] = (await view(http, url, ids[name]))["purchase_orders"]
            assert (po["status"], po["supplier_ref"]) == ("accepted", ref)
            assert len(supplier.posts(po["po_id"])) == 1

        # Cancelling through the API: the supplier gets DELETE {url}/purchase-orders/{po_id}.
        await reaching(feed, ids["SO-CANCEL"], "acknowledged")
        [to_cancel] = (await view(http, url, ids["SO-CANCEL"]))["purchase_orders"]
        cancel_id = to_cancel["po_id"]
        async with http.post(f"{url}/api/v1/orders/{ids['SO-CANCEL']}/cancel") as response:
            assert response.status == 200, await response.text()
            assert (await response.json())["status"] == "cancelled"
        await supplier.wait_for(lambda s: cancel_id in s.cancelled, 30, f"DELETE of {cancel_id}")
        await reaching(feed, ids["SO-CANCEL"], "cancelled")

    # Nothing else was sent: one PO per order (the busy one twice), the one DELETE only.
    assert sorted(r.body["order_external_id"] for r in supplier.posts()) == sorted(
        [*ids, "SO-BUSY"]
    )
    assert [r.path for r in supplier.deletes()] == [f"/purchase-orders/{cancel_id}"]
