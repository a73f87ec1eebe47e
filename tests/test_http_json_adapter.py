"""The `http_json` adapter sorts every answer of CONTRACT §5 into accepted, rejected, failed or
try-again-later, against real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from aiohttp import web

from dropship_http_json.adapter import HttpJsonSupplier
from dropship_simulator.supplier_server import SupplierSimulator
from gateway.domain.model import Address
from gateway.plugin_api import retry_after_seconds
from gateway.plugin_api.adapters import (
    Accepted,
    PurchaseOrderLine,
    PurchaseOrderRequest,
    SupplierContext,
    SupplierFailed,
    SupplierRejected,
    SupplierUnavailable,
)
from tests.harness import free_port

Responder = Callable[[web.Request], Awaitable[web.StreamResponse]]


def request(po_id: str = "po_test-1", sku: str = "SKU-1") -> PurchaseOrderRequest:
    return PurchaseOrderRequest(
        po_id=po_id,
        order_id="ord_test",
        order_external_id="SO-1",
        supplier_id="sup",
        created_at=datetime(2026, 11, 23, 2, 0, tzinfo=UTC),
        priority="normal",
        currency="CNY",
        ship_to=Address(
            name="张三",
            phone="13812345678",
            country="CN",
            region="CN-ZJ",
            province="浙江省",
            city="杭州市",
            address1="文三路 100 号",
        ),
        lines=(PurchaseOrderLine(line_id="1", sku=sku, quantity=2),),
    )


async def adapter_for(url: str, timeout_s: float = 5.0) -> HttpJsonSupplier:
    adapter = HttpJsonSupplier(
        SupplierContext(
            supplier_id="sup", url=url, timeout_s=timeout_s, max_in_flight=4, options={}
        )
    )
    await adapter.start()
    return adapter


class Stub:
    """A one-route HTTP server answering POST /purchase-orders as each test says."""

    def __init__(self) -> None:
        self.runners: list[web.AppRunner] = []
        self.released = asyncio.Event()  # held requests end when the test is over

    async def serve(self, responder: Responder) -> str:
        app = web.Application()
        app.router.add_post("/purchase-orders", responder)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        self.runners.append(runner)
        return f"http://127.0.0.1:{port}"


@pytest.fixture
async def stub() -> AsyncIterator[Stub]:
    server = Stub()
    yield server
    server.released.set()
    for runner in server.runners:
        await runner.cleanup()


async def test_accepted_then_409_keeps_the_supplier_ref_and_sends_the_po_id_as_key() -> None:
    async with SupplierSimulator("sup", seed=1) as sim:
        adapter = await adapter_for(sim.url)
        try:
            first = await adapter.send_purchase_order(request())
            again = await adapter.send_purchase_order(request())
        finally:
            await adapter.close()
    assert first == again == Accepted(sim.orders["po_test-1"].supplier_ref)
    assert [(a.idempotency_key, a.status) for a in sim.received] == [
        ("po_test-1", 201),
        ("po_test-1", 409),
    ]
    assert sim.orders["po_test-1"].po.ship_to.region == "CN-ZJ"


async def test_a_422_is_a_rejection_with_the_suppliers_reason() -> None:
    async with SupplierSimulator("sup", seed=1, skus=["SKU-1"]) as sim:
        adapter = await adapter_for(sim.url)
        try:
            with pytest.raises(SupplierRejected) as rejected:
                await adapter.send_purchase_order(request(sku="NOPE"))
        finally:
            await adapter.close()
    assert rejected.value.reason == "unknown_sku"


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504])
async def test_temporary_answers_are_retryable(stub: Stub, status: int) -> None:
    async def answer(_: web.Request) -> web.Response:
        return web.json_response({"message": "busy"}, status=status, headers={"Retry-After": "7"})

    adapter = await adapter_for(await stub.serve(answer))
    try:
        with pytest.raises(SupplierUnavailable) as unavailable:
            await adapter.send_purchase_order(request())
    finally:
        await adapter.close()
    assert unavailable.value.retry_after == 7.0
    assert f"HTTP {status}" in unavailable.value.message


@pytest.mark.parametrize("status", [400, 401, 403, 404])
async def test_other_client_errors_fail_the_po_without_retries(stub: Stub, status: int) -> None:
    async def answer(_: web.Request) -> web.Response:
        return web.json_response({"message": "no such endpoint"}, status=status)

    adapter = await adapter_for(await stub.serve(answer))
    try:
        with pytest.raises(SupplierFailed) as failed:
            await adapter.send_purchase_order(request())
    finally:
        await adapter.close()
    assert failed.value.reason == f"http_{status}"
    assert failed.value.message == "no such endpoint"


async def test_a_2xx_with_an_unreadable_body_is_still_accepted(
    stub: Stub,
) -> None:
    """The status says the supplier took it; refusing to believe that would resend the PO."""

    async def answer(_: web.Request) -> web.Response:
        return web.Response(status=201, text="<html>ok</html>")

    adapter = await adapter_for(await stub.serve(answer))
    try:
        assert await adapter.send_purchase_order(request()) == Accepted(None)
    finally:
        await adapter.close()


async def test_a_supplier_that_does_not_answer_in_time_is_unavailable(
    stub: Stub,
) -> None:
    async def answer(_: web.Request) -> web.Response:
        await stub.released.wait()  # the supplier never answers while the test runs
        return web.Response()

    adapter = await adapter_for(await stub.serve(answer), timeout_s=0.2)
    try:
        with pytest.raises(SupplierUnavailable, match=r"no answer within 0\.2s"):
            await adapter.send_purchase_order(request())
    finally:
        await adapter.close()


async def test_a_refused_connection_is_unavailable() -> None:
    adapter = await adapter_for(f"http://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(SupplierUnavailable):
            await adapter.send_purchase_order(request())
    finally:
        await adapter.close()


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert retry_after_seconds("120") == 120.0
    assert (
        retry_after_seconds(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30.0
    )
    assert (
        retry_after_seconds(format_datetime(now - timedelta(seconds=30), usegmt=True), now) == 0.0
    )
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


async def test_cancel_inventory_and_status_follow_the_protocol() -> None:
    async with SupplierSimulator("sup", seed=1, stock={"SKU-1": 10}) as sim:
        adapter = await adapter_for(sim.url)
        try:
            await adapter.send_purchase_order(request())
            sim.record_shipment(
                "po_test-1", carrier="SF", tracking_number="SF1", lines={"SKU-1": 1}
            )
            report = await adapter.fetch_purchase_order("po_test-1")
            assert await adapter.fetch_purchase_order("po_unknown-1") is None
            stock = await adapter.fetch_inventory()
            await adapter.cancel_purchase_order("po_unknown-1")  # 404 is final, not an error
        finally:
            await adapter.close()
    assert report is not None
    assert report.status == "partially_shipped"
    assert [(s.carrier, s.tracking_number, s.lines) for s in report.shipments] == [
        ("SF", "SF1", (("SKU-1", 1),))
    ]
    assert [(s.sku, s.available) for s in stock] == [("SKU-1", 8)]
