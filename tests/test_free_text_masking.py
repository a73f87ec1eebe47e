"""Free text from outside never carries personal data out (issue 6): a supplier that quotes the
customer in its refusal ("cannot deliver to <name> at <street> tel <phone>") through a real
gateway process; the name, street and phones appear neither in the API, nor on the MQTT feed,
nor in the log."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from dropship_simulator.file_supplier import FileSupplierSimulator
from tests.conftest import WriteConfig, base_config
from tests.harness import (
    FeedCollector,
    GatewayProcess,
    Mosquitto,
    order_json,
    order_reaching,
    post_order,
    wait_for_http,
)
from tests.test_file_exchange import STAND_IN_OPTIONS

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


class QuotingSupplier:
    """A supplier speaking CONTRACT §5 that quotes its customer in every word it says: a PO of
    SKU-Q gets a 503 whose error body quotes them until `release` is set, then a 422 refusal
    quoting them; a PO of SKU-OK is accepted, and its cancellation refused, quoting them."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.url = ""

    async def purchase_order(self, request: web.Request) -> web.Response:
        skus = {line["sku"] for line in (await request.json())["lines"]}
        if "SKU-OK" in skus:
            return web.json_response({"supplier_ref": "R-1"}, status=201)
        if not self.release.is_set():
            return web.json_response({"message": f"backend down: {REFUSAL}"}, status=503)
        return web.json_response({"reason": "bad_address", "message": REFUSAL}, status=422)

    async def cancel(self, _: web.Request) -> web.Response:
        return web.json_response({"reason": "already_packed", "message": REFUSAL}, status=422)


@pytest.fixture
async def quoting_supplier() -> AsyncIterator[QuotingSupplier]:
    supplier = QuotingSupplier()
    app = web.Application()
    app.router.add_post("/purchase-orders", supplier.purchase_order)
    app.router.add_delete("/purchase-orders/{po_id}", supplier.cancel)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    supplier.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield supplier
    finally:
        await runner.cleanup()


def po_message(view: dict[str, Any]) -> str:
    return str((view["purchase_orders"] or [{}])[0].get("message") or "")


def leaks(text: str) -> list[str]:
    return [secret for secret in PERSONAL if secret in text]


async def test_a_supplier_quoting_the_customer_leaks_nothing(
    tmp_path: Path,
    broker: Mosquitto,
    quoting_supplier: QuotingSupplier,
    http: aiohttp.ClientSession,
    write_config: WriteConfig,
    gateway_process: Callable[[Path], GatewayProcess],
) -> None:
    config: dict[str, Any] = base_config(
        tmp_path,
        broker,
        suppliers=[
            {
                "id": "sup-q",
                "name": "Quoting supplier",
                "url": quoting_supplier.url,
                "regions": ["*"],
                "retry_base_s": 0.05,
                "retry_max_s": 0.2,
            }
        ],
        catalog=[
            {"sku": "SKU-Q", "supplier": "sup-q", "cost": "5.00", "stock": 100},
            {"sku": "SKU-OK", "supplier": "sup-q", "cost": "5.00", "stock": 100},
        ],
    )
    gateway = gateway_process(write_config(config))
    await gateway.start()
    orders = f"{gateway.url}/api/v1/orders"
    try:
        async with FeedCollector(broker.port) as feed:
            order_ids = {
                sku: await post_order(http, gateway.url, order_json(external_id, [(sku, 1)]))
                for external_id, sku in (("SO-QUOTED", "SKU-Q"), ("SO-KEPT", "SKU-OK"))
            }
            order_id = order_ids["SKU-Q"]
            # The supplier's error body, while it is retried: kept on the PO and shown.
            retrying = await wait_for_http(
                http,
                f"{orders}/{order_id}",
                lambda o: "backend down" in po_message(o),
                timeout=20,
                what="the supplier's error body on the PO",
            )
            quoting_supplier.release.set()
            view = await order_reaching(http, gateway.url, order_id, "on_hold")
            await feed.wait_until(
                lambda f: any(e.get("order_id") == order_id for e in f.events("po.rejected")),
                timeout=20,
                what="the po.rejected event",
            )
            # A cancellation the supplier refuses, quoting the customer once more.
            kept = await order_reaching(http, gateway.url, order_ids["SKU-OK"], "acknowledged")
            async with http.post(f"{orders}/{kept['order_id']}/cancel") as response:
                assert response.status == 200, await response.text()
            assert gateway.watcher is not None
            gateway.watcher.wait_for(lambda line: "po.cancel_refused" in line, timeout=20)
            feed_text = json.dumps(
                [[topic, payload] for topic, payload, _ in feed.messages], ensure_ascii=False
            )
        api_text = json.dumps(retrying, ensure_ascii=False)
        for url in (f"{orders}/{order_id}", f"{orders}/{kept['order_id']}", f"{orders}?limit=200"):
            async with http.get(url) as response:
                api_text += await response.text()
    finally:
        gateway.terminate()
    log_text = "\n".join(gateway.watcher.lines if gateway.watcher else [])
    events = [json.loads(line) for line in log_text.splitlines() if line.startswith("{")]

    # The supplier's words reached every place, so each check below looks at them ...
    [po] = view["purchase_orders"]
    assert (po["status"], po["reason"]) == ("rejected", "bad_address")
    assert "cannot deliver" in po["message"]
    assert "cannot deliver" in retrying["purchase_orders"][0]["message"]
    rejected = [e for e in json.loads(feed_text) if e[0].endswith("/events/po.rejected")]
    assert "cannot deliver" in json.dumps(rejected, ensure_ascii=False)
    for event in ("po.retrying", "po.rejected", "po.cancel_refused"):
        [line] = [e for e in events if e.get("event") == event]
        assert "cannot deliver" in json.dumps(line, ensure_ascii=False), line
    # ... and none of them carries the customer's name, street or phones.
    assert leaks(api_text) == [], api_text
    assert leaks(feed_text) == [], feed_text
    assert leaks(log_text) == [], [line for line in log_text.splitlines() if leaks(line)]
    # What is left still says what happened: the masked forms.
    assert "138****5678" in po["message"]


# -- a file-exchange supplier: its refusal arrives in a file, later, as a report ---------------

SFTP_PASSWORD = "quoting-sftp"


@pytest.fixture
async def file_supplier(tmp_path: Path) -> AsyncIterator[FileSupplierSimulator]:
    """Only the supplier's SFTP folder: the test plays its back office, writing the refusal."""
    async with FileSupplierSimulator(tmp_path / "sftp", password=SFTP_PASSWORD) as supplier:
        yield supplier


async def test_a_refusal_in_a_supplier_file_quoting_the_customer_leaks_nothing(
    tmp_path: Path,
    broker: Mosquitto,
    file_supplier: FileSupplierSimulator,
    http: aiohttp.ClientSession,
    write_config: WriteConfig,
    gateway_process: Callable[[Path], GatewayProcess],
) -> None:
    options = {
        "password": SFTP_PASSWORD,
        "host_key": file_supplier.server.host_key,
        **STAND_IN_OPTIONS,
        "ack_columns": {**STAND_IN_OPTIONS["ack_columns"], "message": "说明"},
    }
    config: dict[str, Any] = base_config(
        tmp_path,
        broker,
        suppliers=[
            {
                "id": "sup-files",
                "name": "Quoting file supplier",
                "adapter": "file_exchange",
                "url": file_supplier.server.url("dropship"),
                "regions": ["CN"],
                "poll_interval_s": 0.1,
                "options": options,
            }
        ],
        catalog=[{"sku": "SILK-007", "supplier": "sup-files", "cost": "88.00", "stock": 10}],
    )
    gateway = gateway_process(write_config(config))
    await gateway.start()
    try:
        async with FeedCollector(broker.port) as feed:
            order_id = await post_order(http, gateway.url, order_json("SO-FILE", [("SILK-007", 1)]))
            sent = await order_reaching(http, gateway.url, order_id, "dispatched")
            po_id = sent["purchase_orders"][0]["po_id"]
            # The back office refuses it in its answer file, quoting the customer.
            replies = file_supplier.folder / "replies"
            answer = f"采购单号,状态,供应商单号,原因,说明\r\n{po_id},拒单,,缺货,{REFUSAL}\r\n"
            (replies / ".ACK_1.csv.part").write_bytes(answer.encode("gbk"))
            os.replace(replies / ".ACK_1.csv.part", replies / "ACK_1.csv")
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
    finally:
        gateway.terminate()
    log_text = "\n".join(gateway.watcher.lines if gateway.watcher else [])

    [po] = view["purchase_orders"]
    assert (po["status"], po["reason"]) == ("rejected", "out_of_stock")
    assert "cannot deliver" in po["message"]
    assert "cannot deliver" in feed_text
    assert leaks(api_text) == [], api_text
    assert leaks(feed_text) == [], feed_text
    assert leaks(log_text) == [], [line for line in log_text.splitlines() if leaks(line)]
