"""The simulator plugin, driven over real HTTP on 127.0.0.1.

The supplier simulator is the end-to-end tests' stand-in supplier, so these tests pin down that
it speaks CONTRACT §5 faithfully: if it lied, the gateway's tests would prove nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp import web

from dropship_simulator import SimulatedShop, SupplierFleet, SupplierSimulator
from dropship_simulator.supplier_server import Scripted
from gateway.app.plugins import load_plugins
from gateway.domain.intake import decode_order
from gateway.domain.validation import ValidationFailed
from gateway.infra.clock import SystemClock
from gateway.plugin_api.adapters import ChannelContext, ServiceContext, SubmitResult

SECRET = "s3cret"


def purchase_order(
    po_id: str = "PO-1",
    lines: tuple[tuple[str, int], ...] = (("SKU-1", 2),),
    province: str = "浙江省",
    region: str | None = None,
) -> dict[str, Any]:
    """A PO body as the http_json adapter sends it."""
    return {
        "po_id": po_id,
        "order_external_id": "SO-1",
        "created_at": "2026-11-23T10:00:00+08:00",
        "priority": "normal",
        "ship_to": {
            "name": "张三",
            "phone": "13812345678",
            "country": "CN",
            "region": region,
            "province": province,
            "city": "杭州市",
            "district": "西湖区",
            "address1": "文三路 100 号",
            "postal_code": "310000",
        },
        "lines": [{"sku": sku, "quantity": qty, "unit_cost": "12.50"} for sku, qty in lines],
    }


class Answer:
    def __init__(self, status: int, body: Any, headers: Any) -> None:
        self.status, self.body, self.headers = status, body, headers


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    body: dict[str, Any] | bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    async with http.request(method, url, data=data, headers=headers) as response:
        # Every answer of a supplier is JSON, errors included.
        assert response.content_type == "application/json", await response.text()
        return Answer(response.status, await response.json(), response.headers)


async def post_po(
    http: aiohttp.ClientSession,
    sim: SupplierSimulator,
    body: dict[str, Any],
    key: str | None = "same-as-po",
) -> Answer:
    headers = {"Idempotency-Key": body["po_id"] if key == "same-as-po" else key}
    if key is None:
        headers = {}
    return await call(http, "POST", f"{sim.url}/purchase-orders", body, headers)


# -- POST /purchase-orders -----------------------------------------------------------------------


async def test_repeated_po_id_answers_409_with_the_first_supplier_ref(
    http: aiohttp.ClientSession,
) -> None:
    async with SupplierSimulator("sup-a") as sim:
        first = await post_po(http, sim, purchase_order("PO-1"))
        again = await post_po(http, sim, purchase_order("PO-1"))

    assert first.status == 201
    assert first.body["supplier_ref"]
    assert again.status == 409
    assert again.body["supplier_ref"] == first.body["supplier_ref"]
    assert sim.created_count("PO-1") == 1
    assert [(a.po_id, a.idempotency_key, a.status) for a in sim.received] == [
        ("PO-1", "PO-1", 201),
        ("PO-1", "PO-1", 409),
    ]
    assert sim.orders["PO-1"].body["order_external_id"] == "SO-1"
    assert sim.orders["PO-1"].status == "accepted"


async def test_concurrent_attempts_with_one_po_id_create_it_once(
    http: aiohttp.ClientSession,
) -> None:
    # The latency makes the five attempts overlap inside the server.
    async with SupplierSimulator("sup-a", latency_ms=[5, 30], seed=3) as sim:
        answers = await asyncio.gather(
            *(post_po(http, sim, purchase_order("PO-1")) for _ in range(5))
        )

    assert sorted(a.status for a in answers) == [201, 409, 409, 409, 409]
    assert len({a.body["supplier_ref"] for a in answers}) == 1
    assert sim.created_count("PO-1") == 1


async def test_distinct_pos_get_distinct_refs(http: aiohttp.ClientSession) -> None:
    async with SupplierSimulator("sup-a") as sim:
        refs = [(await post_po(http, sim, purchase_order(f"PO-{i}"))).body for i in range(3)]
        await sim.wait_for_orders(3, timeout=1)

    assert len({r["supplier_ref"] for r in refs}) == 3


async def test_unknown_sku_is_refused_with_422(http: aiohttp.ClientSession) -> None:
    async with SupplierSimulator("sup-a", skus=["SKU-1"], stock=10) as sim:
        answer = await post_po(http, sim, purchase_order(lines=(("SKU-1", 1), ("SKU-9", 1))))

    assert answer.status == 422
    assert answer.body["reason"] == "unknown_sku"
    assert "SKU-9" in answer.body["message"]
    assert sim.orders == {}
    assert sim.inventory == {"SKU-1": 10}


async def test_inventory_is_taken_on_accept_and_short_stock_is_refused(
    http: aiohttp.ClientSession,
) -> None:
    async with SupplierSimulator("sup-a", stock={"SKU-1": 3, "SKU-2": 5}) as sim:
        accepted = await post_po(http, sim, purchase_order("PO-1", (("SKU-1", 2), ("SKU-2", 1))))
        short = await post_po(http, sim, purchase_order("PO-2", (("SKU-1", 2),)))
        inventory = await call(http, "GET", f"{sim.url}/inventory")

    assert accepted.status == 201
    assert short.status == 422
    assert short.body["reason"] == "out_of_stock"
    assert inventory.status == 200
    assert inventory.body == [{"sku": "SKU-1", "available": 1}, {"sku": "SKU-2", "available": 4}]
    assert sim.created_count("PO-2") == 0


async def test_lines_of_one_sku_count_together_against_stock(
    http: aiohttp.ClientSession,
) -> None:
    async with SupplierSimulator("sup-a", stock={"SKU-1": 3}) as sim:
        answer = await post_po(http, sim, purchase_order(lines=(("SKU-1", 2), ("SKU-1", 2))))

    assert answer.status == 422
    assert answer.body["reason"] == "out_of_stock"
    assert sim.inventory == {"SKU-1": 3}


@pytest.mark.parametrize(
    ("province", "region", "status"),
    [
        ("浙江省", None, 201),
        ("CN-ZJ", None, 201),
        ("上海", None, 201),
        ("广东省", None, 422),
        ("广东省", "CN-ZJ", 201),  # the gateway's normalised region code wins
        ("火星省", None, 422),
    ],
)
async def test_ship_to_outside_the_regions_is_a_bad_address(
    http: aiohttp.ClientSession, province: str, region: str | None, status: int
) -> None:
    async with SupplierSimulator("sup-a", regions=["CN-ZJ", "CN-SH"]) as sim:
        answer = await post_po(http, sim, purchase_order(province=province, region=region))

    assert answer.status == status
    if status == 422:
        assert answer.body["reason"] == "bad_address"


def _without_lines(body: dict[str, Any]) -> dict[str, Any]:
    del body["lines"]
    return body


def _zero_quantity(body: dict[str, Any]) -> dict[str, Any]:
    body["lines"][0]["quantity"] = 0
    return body


def _naive_created_at(body: dict[str, Any]) -> dict[str, Any]:
    body["created_at"] = "2026-11-23T10:00:00"
    return body


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (_without_lines, "lines"),
        (_zero_quantity, "$.lines[0].quantity"),
        (_naive_created_at, "$.created_at"),
    ],
)
async def test_malformed_body_answers_400_naming_the_field(
    http: aiohttp.ClientSession, mutate: Callable[[dict[str, Any]], dict[str, Any]], expected: str
) -> None:
    async with SupplierSimulator("sup-a") as sim:
        answer = await post_po(http, sim, mutate(purchase_order()))

    assert answer.status == 400
    assert answer.body["reason"] == "invalid_request"
    assert expected in answer.body["message"]
    assert sim.orders == {}


async def test_idempotency_key_is_required_and_must_match_po_id(
    http: aiohttp.ClientSession,
) -> None:
    async with SupplierSimulator("sup-a") as sim:
        missing = await post_po(http, sim, purchase_order("PO-1"), key=None)
        mismatch = await post_po(http, sim, purchase_order("PO-1"), key="PO-2")
        not_json = await call(
            http, "POST", f"{sim.url}/purchase-orders", b"{not json", {"Idempotency-Key": "PO-1"}
        )

    assert (missing.status, missing.body["reason"]) == (400, "missing_idempotency_key")
    assert (mismatch.status, mismatch.body["reason"]) == (400, "idempotency_key_mismatch")
    assert (not_json.status, not_json.body["reason"]) == (400, "invalid_request")
    assert sim.orders == {}
    assert [a.status for a in sim.received] == [400, 400, 400]


async def test_unknown_routes_and_methods_answer_json(http: aiohttp.ClientSession) -> None:
    async with SupplierSimulator("sup-a") as sim:
        not_found = await call(http, "GET", f"{sim.url}/nothing-here")
        wrong_method = await call(http, "PUT", f"{sim.url}/purchase-orders")

    assert (not_found.status, not_found.body["reason"]) == (404, "not_found")
    assert wrong_method.status == 405
    assert "POST" in wrong_method.headers["Allow"]


# -- failures, throttling, scripts ---------------------------------------------------------------


async def test_scripted_500s_then_the_po_is_created(http: aiohttp.ClientSession) -> None:
    async with SupplierSimulator("sup-a") as sim:
        sim.script("PO-1", [500, 500, 201])
        statuses = [(await post_po(http, sim, purchase_order("PO-1"))).status for _ in range(4)]
        other = await post_po(http, sim, purchase_order("PO-2"))

    assert statuses == [500, 500, 201, 409]
    assert other.status == 201  # a per-PO script leaves other POs alone
    assert sim.created_count("PO-1") == 1


async def test_fail_next_applies_to_any_po_and_does_nothing(http: aiohttp.ClientSession) -> None:
    async with SupplierSimulator("sup-a", stock={"SKU-1": 5}) as sim:
        sim.fail_next(2, status=503)
        failed = [await post_po(http, sim, purchase_order(f"PO-{i}")) for i in (1, 2)]
        assert sim.orders == {}
        assert sim.inventory == {"SKU-1": 5}
        third = await post_po(http, sim, purchase_order("PO-3"))

    assert [a.status for a in failed] == [503, 503]
    assert failed[0].body["reason"] == "simulated_failure"
    assert third.status == 201


async def test_throttled_answer_carries_retry_after(http: aiohttp.ClientSession) -> None:
    async with SupplierSimulator("sup-a") as sim:
        sim.throttle_next(retry_after=3)
        throttled = await post_po(http, sim, purchase_order())
        retried = await post_po(http, sim, purchase_order())

    assert throttled.status == 429
    assert throttled.headers["Retry-After"] == "3"
    assert throttled.body["reason"] == "throttled"
    assert retried.status == 201


async def test_scripted_rejection_and_ref_less_409(http: aiohttp.ClientSession) -> None:
    async with SupplierSimulator("sup-a") as sim:
        sim.reject_next(reason="discontinued")
        sim.script("*", [Scripted(status=409)])
        rejected = await post_po(http, sim, purchase_order("PO-1"))
        conflict = await post_po(http, sim, purchase_order("PO-2"))

    assert (rejected.status, rejected.body["reason"]) == (422, "discontinued")
    assert conflict.status == 409
    assert "supplier_ref" not in conflict.body
    assert sim.orders == {}


async def test_random_faults_are_reproducible_with_a_seed(http: aiohttp.ClientSession) -> None:
    async def statuses(seed: int) -> list[int]:
        async with SupplierSimulator(
            "sup-a", seed=seed, failure_rate=0.3, throttle_rate=0.3
        ) as sim:
            return [(await post_po(http, sim, purchase_order(f"PO-{i}"))).status for i in range(30)]

    first, second = await statuses(42), await statuses(42)
    assert first == second
    assert {500, 429, 201} <= set(first)


# -- hanging ------------------------------------------------------------------------------------


async def test_a_held_request_is_still_processed_after_the_client_gave_up(
    http: aiohttp.ClientSession,
) -> None:
    async with SupplierSimulator("sup-a") as sim:
        sim.hang = True
        with pytest.raises(TimeoutError):
            async with http.post(
                f"{sim.url}/purchase-orders",
                json=purchase_order("PO-1"),
                headers={"Idempotency-Key": "PO-1"},
                timeout=aiohttp.ClientTimeout(total=0.3),
            ):
                pass
        assert sim.stalled == 1
        assert sim.orders == {}

        sim.hang = False
        await sim.wait_for_orders(1, timeout=2)
        retry = await post_po(http, sim, purchase_order("PO-1"))

    # The client never heard the 201, so it retries, and the key makes that safe.
    assert retry.status == 409
    assert retry.body["supplier_ref"] == sim.orders["PO-1"].supplier_ref
    assert sim.created_count("PO-1") == 1


async def test_hang_until_an_event_then_answer(http: aiohttp.ClientSession) -> None:
    release = asyncio.Event()
    async with SupplierSimulator("sup-a") as sim:
        sim.hang_until(release)
        held = asyncio.create_task(call(http, "GET", f"{sim.url}/inventory"))
        await sim.wait_until(lambda: sim.stalled == 1, timeout=2, what="a held request")
        assert not held.done()
        release.set()
        answer = await asyncio.wait_for(held, timeout=2)

    assert answer.status == 200
    assert not sim.hang


async def test_stop_answers_held_requests_with_503(http: aiohttp.ClientSession) -> None:
    sim = SupplierSimulator("sup-a")
    await sim.start()
    sim.hang = True
    held = asyncio.create_task(post_po(http, sim, purchase_order("PO-1")))
    await sim.wait_until(lambda: sim.stalled == 1, timeout=2, what="a held request")

    await sim.stop()

    answer = await held
    assert answer.status == 503
    assert sim.orders == {}
    assert not sim.running


# -- GET, DELETE ---------------------------------------------------------------------------------


async def test_get_reports_status_and_shipments(http: aiohttp.ClientSession) -> None:
    async with SupplierSimulator("sup-a") as sim:
        unknown = await call(http, "GET", f"{sim.url}/purchase-orders/PO-404")
        created = await post_po(http, sim, purchase_order("PO-1", (("SKU-1", 2), ("SKU-2", 1))))
        before = await call(http, "GET", f"{sim.url}/purchase-orders/PO-1")
        sim.record_shipment("PO-1", carrier="SF", tracking_number="SF1", lines={"SKU-1": 2})
        partial = await call(http, "GET", f"{sim.url}/purchase-orders/PO-1")
        sim.record_shipment("PO-1", carrier="YTO", tracking_number="YT2")
        shipped = await call(http, "GET", f"{sim.url}/purchase-orders/PO-1")

    assert unknown.status == 404
    assert before.body == {
        "po_id": "PO-1",
        "status": "accepted",
        "supplier_ref": created.body["supplier_ref"],
        "shipments": [],
    }
    assert partial.body["status"] == "partially_shipped"
    assert shipped.body["status"] == "shipped"
    assert [
        (s["carrier"], s["tracking_number"], s["lines"]) for s in shipped.body["shipments"]
    ] == [
        ("SF", "SF1", [{"sku": "SKU-1", "quantity": 2}]),
        ("YTO", "YT2", [{"sku": "SKU-2", "quantity": 1}]),
    ]
    assert datetime.fromisoformat(shipped.body["shipments"][0]["shipped_at"]).tzinfo is not None


async def test_delete_cancels_and_gives_the_stock_back(http: aiohttp.ClientSession) -> None:
    async with SupplierSimulator("sup-a", stock={"SKU-1": 5}) as sim:
        await post_po(http, sim, purchase_order("PO-1", (("SKU-1", 2),)))
        assert sim.inventory == {"SKU-1": 3}
        cancelled = await call(http, "DELETE", f"{sim.url}/purchase-orders/PO-1")
        again = await call(http, "DELETE", f"{sim.url}/purchase-orders/PO-1")
        unknown = await call(http, "DELETE", f"{sim.url}/purchase-orders/PO-404")
        state = await call(http, "GET", f"{sim.url}/purchase-orders/PO-1")

    assert (cancelled.status, cancelled.body["status"]) == (200, "cancelled")
    assert (again.status, again.body["status"]) == (200, "cancelled")
    assert unknown.status == 404
    assert state.body["status"] == "cancelled"
    assert sim.inventory == {"SKU-1": 5}


async def test_a_shipped_po_cannot_be_cancelled(http: aiohttp.ClientSession) -> None:
    async with SupplierSimulator("sup-a") as sim:
        await post_po(http, sim, purchase_order("PO-1"))
        sim.record_shipment("PO-1")
        answer = await call(http, "DELETE", f"{sim.url}/purchase-orders/PO-1")

    assert (answer.status, answer.body["reason"]) == (409, "already_shipped")
    assert sim.orders["PO-1"].status == "shipped"


# -- shipment notices ----------------------------------------------------------------------------


class Gateway:
    """A minimal stand-in for the gateway's shipment endpoint that checks signatures itself."""

    def __init__(self, answers: list[int] | None = None) -> None:
        self.notices: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self.answers = list(answers or [])
        self.calls = 0
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        raw = await request.read()
        signature = request.headers.get("X-Signature", "")
        t = signature.removeprefix("t=").partition(",")[0]  # CONTRACT §3: t=<unix>,sha256=...
        mac = hmac.new(SECRET.encode(), f"{t}.".encode() + raw, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature, f"t={t},sha256={mac}"):
            return web.json_response({"error": {"code": "bad_signature"}}, status=401)
        if self.answers:
            return web.json_response({"error": {"code": "busy"}}, status=self.answers.pop(0))
        await self.notices.put((request.match_info["supplier_id"], json.loads(raw)))
        return web.json_response({"ok": True})


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    receiver = Gateway()
    app = web.Application()
    app.router.add_post("/api/v1/suppliers/{supplier_id}/shipments", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield receiver
    await runner.cleanup()


async def test_accepted_po_is_shipped_with_a_signed_notice(
    http: aiohttp.ClientSession, gateway: Gateway
) -> None:
    async with SupplierSimulator(
        "sup-a", ship_after_s=0, gateway_url=gateway.url, webhook_secret=SECRET
    ) as sim:
        await post_po(http, sim, purchase_order("PO-1", (("SKU-1", 2), ("SKU-2", 1))))
        supplier_id, notice = await asyncio.wait_for(gateway.notices.get(), timeout=5)
        await sim.wait_for_deliveries(1, timeout=2)

    assert supplier_id == "sup-a"
    assert notice["po_id"] == "PO-1"
    assert notice["carrier"] in sim.carriers
    assert notice["tracking_number"].startswith(notice["carrier"])
    shipped_at = datetime.fromisoformat(notice["shipped_at"])
    assert abs(datetime.now(UTC) - shipped_at) < timedelta(minutes=1)
    assert notice["lines"] == [{"sku": "SKU-1", "quantity": 2}, {"sku": "SKU-2", "quantity": 1}]
    assert sim.deliveries[0].status == 200
    assert sim.orders["PO-1"].status == "shipped"
    assert sim.orders["PO-1"].shipments[0].tracking_number == notice["tracking_number"]


async def test_notice_is_retried_while_the_gateway_fails(
    http: aiohttp.ClientSession, gateway: Gateway
) -> None:
    gateway.answers = [503, 500]
    async with SupplierSimulator(
        "sup-a",
        ship_after_s=0,
        gateway_url=gateway.url,
        webhook_secret=SECRET,
        notice_backoff_s=0.01,
    ) as sim:
        await post_po(http, sim, purchase_order("PO-1"))
        await sim.wait_for_deliveries(1, timeout=5)

    assert gateway.calls == 3
    assert (sim.deliveries[0].status, sim.deliveries[0].attempts) == (200, 3)
    assert gateway.notices.qsize() == 1


async def test_notice_to_an_unreachable_gateway_gives_up_and_says_so(
    http: aiohttp.ClientSession,
) -> None:
    async with SupplierSimulator("sup-a") as closed:  # a port nobody listens on after this
        dead_url = closed.url
    async with SupplierSimulator(
        "sup-a", ship_after_s=0, gateway_url=dead_url, notice_attempts=2, notice_backoff_s=0.01
    ) as sim:
        await post_po(http, sim, purchase_order("PO-1"))
        await sim.wait_for_deliveries(1, timeout=5)

    assert (sim.deliveries[0].status, sim.deliveries[0].attempts) == (None, 2)
    assert sim.orders["PO-1"].status == "shipped"  # the parcel left; only the notice is lost
    assert sim.internal_errors == []


async def test_ship_returns_the_gateway_answer(
    http: aiohttp.ClientSession, gateway: Gateway
) -> None:
    async with SupplierSimulator("sup-a", gateway_url=gateway.url, webhook_secret=SECRET) as sim:
        await post_po(http, sim, purchase_order("PO-1", (("SKU-1", 3),)))
        answer = await sim.ship("PO-1", carrier="SF", tracking_number="SF123", lines={"SKU-1": 1})
        forged = await sim.send_notice(answer.notice or b"", signature="sha256=" + "0" * 64)
        unsigned = await sim.send_notice(answer.notice or b"", sign=False)

    assert (answer.status, answer.body) == (200, {"ok": True})
    _, notice = gateway.notices.get_nowait()
    assert (notice["tracking_number"], notice["lines"]) == (
        "SF123",
        [{"sku": "SKU-1", "quantity": 1}],
    )
    assert forged.status == 401
    assert unsigned.status == 401
    assert sim.orders["PO-1"].status == "partially_shipped"


async def test_ship_refuses_what_the_supplier_does_not_have(
    http: aiohttp.ClientSession, gateway: Gateway
) -> None:
    async with SupplierSimulator("sup-a", gateway_url=gateway.url) as sim:
        with pytest.raises(LookupError):
            await sim.ship("PO-404")
        await post_po(http, sim, purchase_order("PO-1"))
        await call(http, "DELETE", f"{sim.url}/purchase-orders/PO-1")
        with pytest.raises(ValueError, match="cancelled"):
            await sim.ship("PO-1")

    assert gateway.calls == 0


async def test_restart_keeps_the_port_and_the_orders(http: aiohttp.ClientSession) -> None:
    sim = SupplierSimulator("sup-a")
    async with sim:
        first = await post_po(http, sim, purchase_order("PO-1"))
        url = sim.url
    with pytest.raises(aiohttp.ClientConnectionError):
        await post_po(http, sim, purchase_order("PO-1"))
    async with sim:
        again = await post_po(http, sim, purchase_order("PO-1"))
        assert sim.url == url

    assert again.status == 409
    assert again.body["supplier_ref"] == first.body["supplier_ref"]


# -- the simulated shop --------------------------------------------------------------------------


class InstantClock(SystemClock):
    """Time that jumps forward on sleep: pacing is observable without waiting for it."""

    def __init__(self) -> None:
        self.elapsed = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.elapsed

    def now(self) -> datetime:
        return datetime(2026, 11, 23, 10, 0, tzinfo=UTC) + timedelta(seconds=self.elapsed)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.elapsed += seconds


class Intake:
    """The gateway's submit, reduced to its validation: the real intake decoder."""

    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []

    async def submit(self, raw_orders: list[bytes]) -> list[SubmitResult]:
        self.batches.append([json.loads(raw) for raw in raw_orders])
        results = []
        for raw in raw_orders:
            try:
                order = decode_order(raw)
            except ValidationFailed as error:
                problems = tuple((p.json_path(), p.message) for p in error.problems)
                results.append(SubmitResult(external_id=None, problems=problems))
            else:
                results.append(SubmitResult(external_id=order.external_id, order_id="O-1"))
        return results


async def run_shop(options: dict[str, Any]) -> tuple[SimulatedShop, Intake, InstantClock]:
    shop, intake, clock = SimulatedShop(), Intake(), InstantClock()
    ctx = ChannelContext(
        channel_id="shop",
        options=options,
        submit=intake.submit,
        clock=clock,
        log=structlog.get_logger(),
    )
    task = asyncio.create_task(shop.run(ctx))
    try:
        await asyncio.wait_for(shop.done.wait(), timeout=5)
        assert not task.done()  # it idles rather than return and get restarted
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    return shop, intake, clock


async def test_shop_orders_pass_the_real_intake_validation() -> None:
    shop, intake, clock = await run_shop(
        {"skus": ["SKU-1", "SKU-2", "SKU-3"], "max_orders": 25, "batch_size": 10, "seed": 1}
    )

    orders = [order for batch in intake.batches for order in batch]
    assert [len(batch) for batch in intake.batches] == [10, 10, 5]
    assert clock.sleeps == [2.0, 2.0]  # 10 orders a batch at 5 orders a second
    assert (shop.submitted, shop.accepted, shop.rejected) == (25, 25, 0)
    assert len({o["external_id"] for o in orders}) == 25
    assert all(o["external_id"].startswith("SIM-shop-20261123100000-") for o in orders)
    for order in orders:
        assert 1 <= len(order["lines"]) <= 3
        assert {line["sku"] for line in order["lines"]} <= {"SKU-1", "SKU-2", "SKU-3"}
        assert all(1 <= line["quantity"] <= 3 for line in order["lines"])
        assert order["payment"]["status"] == "paid"
        assert order["ship_to"]["phone"].isdigit()
        assert len(order["ship_to"]["phone"]) == 11


async def test_shop_is_reproducible_with_a_seed_and_varies_without() -> None:
    options = {"skus": ["SKU-1", "SKU-2"], "max_orders": 5, "seed": 7}
    _, first, _ = await run_shop(options)
    _, second, _ = await run_shop(options)
    _, other, _ = await run_shop({**options, "seed": 8})

    assert first.batches == second.batches
    assert first.batches != other.batches


async def test_shop_counts_rejected_orders() -> None:
    shop, _, _ = await run_shop({"skus": ["SKU-1"], "max_orders": 6, "invalid_rate": 1.0})

    assert (shop.submitted, shop.accepted, shop.rejected) == (6, 0, 6)


# -- the supplier fleet service and plugin registration ------------------------------------------


async def test_fleet_serves_every_supplier_until_cancelled(
    http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUP_B_SECRET", SECRET)
    fleet = SupplierFleet()
    ctx = ServiceContext(
        service_id="suppliers",
        options={
            "gateway_url": "http://127.0.0.1:1",
            "seed": 5,
            "suppliers": [
                {"id": "sup-a", "skus": ["SKU-1"], "stock": 10, "latency_ms": [1, 3]},
                {"id": "sup-b", "regions": ["CN-SH"], "webhook_secret": "env:SUP_B_SECRET"},
            ],
        },
        clock=SystemClock(),
        log=structlog.get_logger(),
    )
    task = asyncio.create_task(fleet.run(ctx))
    await asyncio.wait_for(fleet.ready.wait(), timeout=5)
    sims = dict(fleet.simulators)

    a = await post_po(http, sims["sup-a"], purchase_order("PO-1"))
    b = await post_po(http, sims["sup-b"], purchase_order("PO-1"))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert (a.status, b.status) == (201, 422)
    assert sims["sup-b"].webhook_secret == SECRET
    assert not any(sim.running for sim in sims.values())
    assert fleet.simulators == {}


async def test_fleet_reports_a_missing_secret_by_key_path() -> None:
    ctx = ServiceContext(
        service_id="suppliers",
        options={"suppliers": [{"id": "sup-a", "webhook_secret": "env:NOT_SET_ANYWHERE_42"}]},
        clock=SystemClock(),
        log=structlog.get_logger(),
    )
    with pytest.raises(ValueError, match=r"suppliers\[0\]\.webhook_secret"):
        await SupplierFleet().run(ctx)


def test_plugin_registers_through_the_entry_point() -> None:
    plugins = load_plugins()

    info = next(p for p in plugins.plugins if p.module == "dropship_simulator")
    assert info.error is None
    assert info.version == "0.1.0"
    assert plugins.registry.channel_adapters["simulated_shop"] is SimulatedShop
    assert plugins.registry.services["supplier_fleet"] is SupplierFleet
    assert plugins.registry.owner[("service", "supplier_fleet")] == info.name
