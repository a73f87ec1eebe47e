"""Bad input gets its documented 4xx with paths, never a 5xx, and the gateway keeps serving.
A gateway in-process, on a real port, with a real broker and a real supplier server."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from dropship_simulator.supplier_server import SupplierSimulator
from gateway.app.runtime import Gateway
from gateway.domain.notices import sign
from tests.conftest import WriteConfig, base_config, start_gateway
from tests.harness import Mosquitto, order_json, wait_for_http

SECRET = "hmac-secret"


@pytest.fixture
async def supplier() -> AsyncIterator[SupplierSimulator]:
    async with SupplierSimulator("sup-a", seed=1) as sim:
        yield sim


@pytest.fixture
async def gateway(
    tmp_path: Path, broker: Mosquitto, supplier: SupplierSimulator, write_config: WriteConfig
) -> AsyncIterator[Gateway]:
    config = base_config(
        tmp_path,
        broker,
        http={"max_body_bytes": 64 * 1024},
        suppliers=[
            {
                "id": "sup-a",
                "name": "A",
                "url": supplier.url,
                "regions": ["CN"],
                "webhook_secret": SECRET,
            }
        ],
        catalog=[{"sku": "SKU-1", "supplier": "sup-a", "cost": "10.00", "stock": 1000}],
    )
    running = await start_gateway(write_config(config))
    try:
        yield running
    finally:
        await running.stop()


async def post_raw(
    http: aiohttp.ClientSession,
    gateway: Gateway,
    body: bytes,
    content_type: str = "application/json",
    path: str = "/api/v1/orders",
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    async with http.post(
        f"{gateway.http_url}{path}",
        data=body,
        headers={"Content-Type": content_type, **(headers or {})},
    ) as response:
        text = await response.text()
        assert response.content_type == "application/json", text
        return response.status, json.loads(text)


def details(answer: dict[str, Any]) -> dict[str, str]:
    return {d["path"]: d["message"] for d in answer["error"]["details"]}


async def assert_still_serving(http: aiohttp.ClientSession, gateway: Gateway) -> None:
    async with http.get(f"{gateway.http_url}/readyz") as response:
        assert response.status == 200


async def test_malformed_json_is_400_with_the_parser_message(
    http: aiohttp.ClientSession, gateway: Gateway
) -> None:
    status, answer = await post_raw(http, gateway, b'{"external_id": "x", ')
    assert status == 400
    assert answer["error"]["code"] == "invalid_json"
    assert answer["error"]["details"][0]["path"] == "$"
    await assert_still_serving(http, gateway)


async def test_every_problem_of_an_order_comes_back_at_once_with_its_path(
    http: aiohttp.ClientSession, gateway: Gateway
) -> None:
    body = order_json("SO-BAD", [("SKU-1", -2), ("SKU-1", 1)])
    body["lines"][1]["unit_price"] = 19.9  # money as a float
    body["lines"][1]["line_id"] = "1"  # duplicate
    body["created_at"] = "2026-11-31T10:00:00+08:00"  # no such date
    body["priority"] = "asap"
    body["ship_to"]["phone"] = 13812345678  # wrong type
    del body["ship_to"]["city"]
    body["payment"]["amount"] = "-39.80"
    status, answer = await post_raw(http, gateway, json.dumps(body).encode())
    assert status == 422
    assert answer["error"]["code"] == "validation_failed"
    found = details(answer)
    assert set(found) == {
        "$.lines[0].quantity",
        "$.lines[1].unit_price",
        "$.lines[1].line_id",
        "$.created_at",
        "$.priority",
        "$.ship_to.phone",
        "$.ship_to.city",
        "$.payment.amount",
    }
    assert "decimal" in found["$.lines[1].unit_price"]
    assert "missing" in found["$.ship_to.city"]
    await assert_still_serving(http, gateway)


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda o: o.pop("external_id"), "$.external_id"),
        (lambda o: o.update(lines=[]), "$.lines"),
        (lambda o: o.update(lines="SKU-1"), "$.lines"),
        (lambda o: o["lines"][0].update(quantity=0), "$.lines[0].quantity"),
        (lambda o: o["lines"][0].update(quantity="2"), "$.lines[0].quantity"),
        (lambda o: o["lines"][0].update(unit_price="19.999999"), "$.lines[0].unit_price"),
        (lambda o: o.update(created_at="2026-11-23T10:00:00"), "$.created_at"),
        (lambda o: o.update(currency="rmb"), "$.currency"),
        (lambda o: o["ship_to"].update(province="火星"), "$.ship_to.province"),
        (lambda o: o.update(surprise=True), "$.surprise"),
    ],
)
async def test_one_bad_field_is_named(
    http: aiohttp.ClientSession, gateway: Gateway, mutate: Any, path: str
) -> None:
    body = order_json("SO-ONE", [("SKU-1", 1)])
    mutate(body)
    status, answer = await post_raw(http, gateway, json.dumps(body).encode())
    assert status == 422
    assert list(details(answer)) == [path]


async def test_a_batch_accepts_the_good_and_lists_the_bad_by_index(
    http: aiohttp.ClientSession, gateway: Gateway
) -> None:
    bad = order_json("SO-B2", [("SKU-1", 1)])
    bad["lines"][0]["quantity"] = -1
    batch = {"orders": [order_json("SO-B1", [("SKU-1", 1)]), bad, {"not": "an order"}]}
    status, answer = await post_raw(http, gateway, json.dumps(batch).encode())
    assert status == 202
    assert [a["external_id"] for a in answer["accepted"]] == ["SO-B1"]
    assert [(r["index"], r["external_id"]) for r in answer["rejected"]] == [(1, "SO-B2"), (2, None)]
    assert answer["rejected"][0]["error"]["details"][0]["path"] == "$.lines[0].quantity"


async def test_a_malformed_batch_is_422(http: aiohttp.ClientSession, gateway: Gateway) -> None:
    for body, path in (({"orders": 5}, "$.orders"), ({"orders": []}, "$.orders")):
        status, answer = await post_raw(http, gateway, json.dumps(body).encode())
        assert status == 422
        assert list(details(answer)) == [path]
    too_many = {"orders": [{"external_id": str(i)} for i in range(1001)]}
    status, answer = await post_raw(http, gateway, json.dumps(too_many).encode())
    assert status == 422
    assert details(answer) == {"$.orders": "Expected `array` of length <= 1000"}


async def test_a_huge_body_is_413_and_the_gateway_keeps_serving(
    http: aiohttp.ClientSession, gateway: Gateway
) -> None:
    body = order_json("SO-HUGE", [("SKU-1", 1)])
    body["notes"] = "x" * (200 * 1024)
    status, answer = await post_raw(http, gateway, json.dumps(body).encode())
    assert status == 413
    assert answer["error"]["code"] == "payload_too_large"
    await assert_still_serving(http, gateway)


async def test_a_non_json_body_is_415(http: aiohttp.ClientSession, gateway: Gateway) -> None:
    status, answer = await post_raw(
        http, gateway, b"external_id=1", "application/x-www-form-urlencoded"
    )
    assert status == 415
    assert answer["error"]["code"] == "unsupported_media_type"


async def test_unknown_routes_and_orders_answer_404_in_the_error_shape(
    http: aiohttp.ClientSession, gateway: Gateway
) -> None:
    for path in ("/api/v1/nothing", "/api/v1/orders/ord_doesnotexist"):
        async with http.get(f"{gateway.http_url}{path}") as response:
            assert response.status == 404
            assert (await response.json())["error"]["code"] == "not_found"
    async with http.delete(f"{gateway.http_url}/api/v1/orders") as response:
        assert response.status == 405
        assert (await response.json())["error"]["code"] == "method_not_allowed"


async def test_bad_list_queries_are_400_naming_the_parameter(
    http: aiohttp.ClientSession, gateway: Gateway
) -> None:
    for query, path in (
        ("limit=0", "query.limit"),
        ("limit=lots", "query.limit"),
        ("status=lost", "query.status"),
        ("since=yesterday", "query.since"),
        ("cursor=%%%", "query.cursor"),
    ):
        async with http.get(f"{gateway.http_url}/api/v1/orders?{query}") as response:
            assert response.status == 400, query
            answer = await response.json()
        assert [d["path"] for d in answer["error"]["details"]] == [path]


async def test_list_filters_and_cursor_walk_every_order_once(
    http: aiohttp.ClientSession, gateway: Gateway
) -> None:
    batch = {"orders": [order_json(f"SO-L{i}", [("SKU-1", 1)]) for i in range(7)]}
    status, answer = await post_raw(http, gateway, json.dumps(batch).encode())
    assert status == 202
    wanted = {a["order_id"] for a in answer["accepted"]}
    await wait_for_http(
        http,
        f"{gateway.http_url}/api/v1/orders?status=acknowledged&supplier=sup-a&limit=100",
        lambda page: len(page["orders"]) == 7,
        timeout=20,
        what="7 orders acknowledged",
    )
    seen: list[str] = []
    cursor = ""
    while True:
        async with http.get(
            f"{gateway.http_url}/api/v1/orders?limit=3&channel=erp{cursor}"
        ) as response:
            page = await response.json()
        seen += [o["order_id"] for o in page["orders"]]
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert seen == [a["order_id"] for a in answer["accepted"]]  # oldest first, each once
    assert set(seen) == wanted
    async with http.get(f"{gateway.http_url}/api/v1/orders?channel=shop") as response:
        assert (await response.json())["orders"] == []


async def test_the_order_view_masks_personal_data(
    http: aiohttp.ClientSession, gateway: Gateway
) -> None:
    _status, answer = await post_raw(
        http, gateway, json.dumps(order_json("SO-MASK", [("SKU-1", 1)])).encode()
    )
    order_id = answer["accepted"][0]["order_id"]
    async with http.get(f"{gateway.http_url}/api/v1/orders/{order_id}") as response:
        text = await response.text()
    view = json.loads(text)
    assert view["ship_to"]["phone"] == "138****5678"
    assert view["ship_to"]["name"] == "张*"
    assert view["ship_to"]["province"] == "浙江省"
    assert view["ship_to"]["region"] == "CN-ZJ"
    assert "13812345678" not in text
    assert "文三路" not in text


async def test_shipment_notices_need_the_right_signature_and_a_known_po(
    http: aiohttp.ClientSession, gateway: Gateway, supplier: SupplierSimulator
) -> None:
    status, answer = await post_raw(
        http, gateway, json.dumps(order_json("SO-SHIP", [("SKU-1", 2)])).encode()
    )
    order_id = answer["accepted"][0]["order_id"]
    await supplier.wait_for_orders(1, timeout=20)
    po_id = next(iter(supplier.orders))
    path = "/api/v1/suppliers/sup-a/shipments"

    def notice(**fields: Any) -> bytes:
        return json.dumps(
            {"po_id": po_id, "carrier": "SF", "tracking_number": "SF1", **fields}
        ).encode()

    body = notice()
    for headers in (
        {},
        {"X-Signature": "sha256=" + "0" * 64},
        {"X-Signature": sign("wrong", body, int(time.time()))},
    ):
        status, answer = await post_raw(http, gateway, body, path=path, headers=headers)
        assert status == 401
        assert answer["error"]["code"] == "bad_signature"

    async def signed(raw: bytes, supplier_path: str = path) -> tuple[int, Any]:
        return await post_raw(
            http,
            gateway,
            raw,
            path=supplier_path,
            headers={"X-Signature": sign(SECRET, raw, int(time.time()))},
        )

    status, answer = await signed(b"{not json")
    assert status == 400
    status, answer = await signed(notice(lines=[{"sku": "SKU-1", "quantity": 0}]))
    assert status == 422
    assert list(details(answer)) == ["$.lines[0].quantity"]
    status, answer = await signed(notice(lines=[{"sku": "OTHER", "quantity": 1}]))
    assert status == 422
    assert list(details(answer)) == ["$.lines[0].sku"]
    status, answer = await signed(notice(lines=[{"sku": "SKU-1", "quantity": 3}]))
    assert status == 422
    assert list(details(answer)) == ["$.lines[0].quantity"]
    status, answer = await signed(notice(po_id="po_unknown-1"))
    assert status == 404
    status, answer = await post_raw(http, gateway, body, path="/api/v1/suppliers/nobody/shipments")
    assert status == 404

    status, answer = await signed(notice(lines=[{"sku": "SKU-1", "quantity": 1}]))
    assert status == 201
    assert answer["po_status"] == "partially_shipped"
    status, again = await signed(notice(lines=[{"sku": "SKU-1", "quantity": 1}]))
    assert status == 200
    assert again["duplicate"]
    assert again["shipment_id"] == answer["shipment_id"]
    status, answer = await signed(notice(tracking_number="SF2"))
    assert status == 201
    assert answer["po_status"] == "shipped"
    async with http.get(f"{gateway.http_url}/api/v1/orders/{order_id}") as response:
        view = await response.json()
    assert view["status"] == "shipped"
    assert [s["tracking_number"] for s in view["purchase_orders"][0]["shipments"]] == ["SF1", "SF2"]
    await assert_still_serving(http, gateway)


async def test_operations_endpoints(http: aiohttp.ClientSession, gateway: Gateway) -> None:
    async with http.get(f"{gateway.http_url}/healthz") as response:
        assert response.status == 200
    async with http.get(f"{gateway.http_url}/readyz") as response:
        ready = await response.json()
    assert ready["ready"]
    assert ready["database"] == "open"
    assert ready["actors"]["supplier:sup-a"] == "running"
    async with http.get(f"{gateway.http_url}/metrics") as response:
        text = await response.text()
    assert response.status == 200
    assert "dropship_orders_received_total" in text
    assert "dropship_store_commits_total" in text
    async with http.get(f"{gateway.http_url}/api/v1/suppliers") as response:
        (entry,) = (await response.json())["suppliers"]
    assert entry["supplier_id"] == "sup-a"
    assert entry["state"] == "up"
    assert set(entry) >= {
        "circuit",
        "queue_depth",
        "in_flight",
        "latency_p95_ms",
        "error_rate",
        "score",
    }


async def test_since_includes_orders_updated_later_in_the_same_second(
    http: aiohttp.ClientSession, gateway: Gateway
) -> None:
    """Timestamps are stored fixed-width, so `since` compares as time, not as text."""
    _, answer = await post_raw(
        http, gateway, json.dumps(order_json("SO-SINCE", [("SKU-1", 1)])).encode()
    )
    order_id = answer["accepted"][0]["order_id"]
    async with http.get(f"{gateway.http_url}/api/v1/orders/{order_id}") as response:
        updated_at = (await response.json())["updated_at"]
    whole_second = updated_at[:19] + "Z"  # 2026-11-23T09:40:58Z
    async with http.get(
        f"{gateway.http_url}/api/v1/orders", params={"since": whole_second}
    ) as response:
        listed = [o["order_id"] for o in (await response.json())["orders"]]
    assert order_id in listed
