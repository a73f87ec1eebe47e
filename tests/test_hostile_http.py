"""Hostile input and hostile clients (issue 6), each case through a real gateway process, over
a bare socket where a client library would refuse to send the bytes.

The answer to every malformed request is its documented 4xx in the CONTRACT §3 error shape;
nothing produces a 5xx, and the gateway keeps serving. One gateway serves the whole module
(start-up is the expensive part); tests that need their own limits start their own.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import hashlib
import hmac
import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import tomli_w

from gateway.domain.notices import sign, sign_legacy
from tests.harness import GatewayProcess, Mosquitto, free_port, order_json, wait_for_http
from tests.rawhttp import RawConnection, exchange, request_bytes

SECRET = "notice-secret"
LEGACY_SECRET = "legacy-secret"
ORDERS = "/api/v1/orders"

# sup-a signs (timestamped), sup-legacy may still use the body-only form, sup-open has no
# secret but allows unsigned notices, sup-closed has no secret and so takes no notice at all.
SUPPLIERS = {
    "sup-a": {"webhook_secret": SECRET},
    "sup-legacy": {"webhook_secret": LEGACY_SECRET, "legacy_signature": True},
    "sup-open": {"unsigned_notices": True},
    "sup-closed": {},
}
SKU_OF = {"sup-a": "SKU-A", "sup-legacy": "SKU-L", "sup-open": "SKU-O", "sup-closed": "SKU-C"}


def gateway_config(tmp: Path, broker: Mosquitto, **http: Any) -> dict[str, Any]:
    ports = {supplier: free_port() for supplier in SUPPLIERS}
    return {
        "gateway": {"data_dir": str(tmp / "var"), "shutdown_grace_s": 2},
        "http": {"host": "127.0.0.1", "port": 0, **http},
        "mqtt": {"url": broker.url, "topic_prefix": "dropship", "reconnect_max_s": 0.5},
        "log": {"level": "info", "format": "json"},
        "metrics": {"channels": ["erp"]},
        "suppliers": [
            {
                "id": supplier,
                "name": supplier,
                "url": f"http://127.0.0.1:{ports[supplier]}",
                "regions": ["CN"],
                **extra,
            }
            for supplier, extra in SUPPLIERS.items()
        ],
        "catalog": [
            {"sku": SKU_OF[supplier], "supplier": supplier, "cost": "10.00", "stock": 100000}
            for supplier in SUPPLIERS
        ],
        # The suppliers themselves: simulators run inside the gateway process as a service.
        "services": [
            {
                "id": "fleet",
                "plugin": "supplier_fleet",
                "options": {
                    "suppliers": [
                        {"id": supplier, "port": ports[supplier], "skus": [SKU_OF[supplier]]}
                        for supplier in SUPPLIERS
                    ]
                },
            }
        ],
    }


def launch(tmp: Path, config: dict[str, Any]) -> GatewayProcess:
    path = tmp / "gateway.toml"
    path.write_text(tomli_w.dumps(config), encoding="utf-8")
    process = GatewayProcess(path, tmp)
    process.start_blocking()
    return process


@pytest.fixture(scope="module")
def module_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, module_broker: Mosquitto
) -> Iterator[GatewayProcess]:
    tmp = tmp_path_factory.mktemp("hostile")
    process = launch(tmp, gateway_config(tmp, module_broker))
    try:
        yield process
    finally:
        process.ensure_stopped()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session


async def call(
    http: aiohttp.ClientSession,
    gateway: GatewayProcess,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    sent = {"Content-Type": "application/json", **(headers or {})} if body is not None else headers
    async with http.request(method, gateway.url + path, data=body, headers=sent) as response:
        text = await response.text()
        assert response.content_type == "application/json", (response.status, text[:200])
        return response.status, json.loads(text)


def error_code(answer: Any) -> str:
    assert set(answer) == {"error"}, answer
    assert set(answer["error"]) == {"code", "message", "details"}, answer
    return str(answer["error"]["code"])


def details(answer: Any) -> dict[str, str]:
    return {d["path"]: d["message"] for d in answer["error"]["details"]}


async def assert_serving(http: aiohttp.ClientSession, gateway: GatewayProcess) -> None:
    assert gateway.running()
    async with http.get(gateway.url + "/readyz") as response:
        assert response.status == 200, await response.text()


def no_errors_logged(gateway: GatewayProcess, since: int = 0) -> list[dict[str, Any]]:
    events = gateway.log_events()[since:]
    return [e for e in events if e.get("level") in ("error", "critical")]


async def placed_po(
    http: aiohttp.ClientSession, gateway: GatewayProcess, supplier: str, external_id: str
) -> tuple[str, str]:
    """An order for one of `supplier`'s SKUs, accepted by it: (order_id, po_id)."""
    body = json.dumps(order_json(external_id, [(SKU_OF[supplier], 2)])).encode()
    status, answer = await call(http, gateway, "POST", ORDERS, body)
    assert status == 202, answer
    order_id = answer["accepted"][0]["order_id"]
    view = await wait_for_http(
        http,
        f"{gateway.url}{ORDERS}/{order_id}",
        lambda o: o["status"] == "acknowledged",
        timeout=30,
        what=f"order {external_id} acknowledged",
    )
    return order_id, view["purchase_orders"][0]["po_id"]


def notice(po_id: str, **fields: Any) -> bytes:
    return json.dumps(
        {"po_id": po_id, "carrier": "SF", "tracking_number": "SF1", **fields}
    ).encode()


def shipments(supplier: str) -> str:
    return f"/api/v1/suppliers/{supplier}/shipments"


def signed(secret: str, body: bytes, at: float | None = None) -> dict[str, str]:
    return {"X-Signature": sign(secret, body, int(time.time() if at is None else at))}


# -- no 5xx, whatever the body ----------------------------------------------------------------


async def test_json_nested_a_thousand_levels_deep_is_400_not_500(
    http: aiohttp.ClientSession, gateway: GatewayProcess
) -> None:
    deep = b"[" * 1000 + b"]" * 1000
    for body in (deep, b"[" * 100_000 + b"]" * 100_000, b'{"orders": [' + deep + b"]}"):
        status, answer = await call(http, gateway, "POST", ORDERS, body)
        assert status == 400, answer
        assert error_code(answer) == "invalid_json"
        assert "nested" in answer["error"]["details"][0]["message"]

    # One order nested too deeply in a batch is that order's problem, not the batch's.
    nested = json.loads(json.dumps(order_json("SO-DEEP", [("SKU-A", 1)])))
    nested["notes"] = json.loads("[" * 60 + "]" * 60)
    batch = {"orders": [order_json("SO-FINE", [("SKU-A", 1)]), nested]}
    status, answer = await call(http, gateway, "POST", ORDERS, json.dumps(batch).encode())
    assert status == 202, answer
    assert [a["external_id"] for a in answer["accepted"]] == ["SO-FINE"]
    [rejected] = answer["rejected"]
    assert rejected["index"] == 1
    assert "nested" in rejected["error"]["details"][0]["message"]
    await assert_serving(http, gateway)


async def test_signed_notices_that_are_malformed_and_mistyped_are_4xx(
    http: aiohttp.ClientSession, gateway: GatewayProcess
) -> None:
    deep = b'{"po_id": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    cases = {
        b'{"po_id": 5, ': 400,  # a type error first, a syntax error after it
        b'{"po_id": 5} trailing': 400,
        b'{"po_id": 1e400}': 400,  # a number out of range is not JSON msgspec will read
        b'{"po_id": 1e400, "carrier": "SF", "tracking_number": "X"}': 400,
        b'{"po_id": 5, "carrier": "SF", "tracking_number": "X", "lines": [{"sku": 1}]}': 422,
        deep: 400,
        b"[1, 2, 3]": 422,
        b'"just a string"': 422,
    }
    for body, expected in cases.items():
        status, answer = await call(
            http, gateway, "POST", shipments("sup-a"), body, signed(SECRET, body)
        )
        assert status == expected, (body[:40], answer)
        assert error_code(answer) in ("invalid_json", "validation_failed")
    await assert_serving(http, gateway)


async def test_a_non_ascii_signature_is_401(gateway: GatewayProcess) -> None:
    body = b'{"po_id": "po_x", "carrier": "SF", "tracking_number": "SF1"}'
    # Each way a signature is checked: timestamped, legacy (body-only), and no secret at all.
    for supplier, code in (
        ("sup-a", "bad_signature"),
        ("sup-legacy", "bad_signature"),
        ("sup-closed", "unsigned_notices_refused"),
    ):
        for value in ("sha256=é".encode(), "t=1,sha256=签名".encode(), b"\xff\xfe\xfd"):
            answer = await exchange(
                gateway.url,
                request_bytes(
                    "POST",
                    shipments(supplier),
                    body,
                    {"Content-Type": "application/json"},
                    raw_headers=b"X-Signature: " + value + b"\r\n",
                ),
            )
            assert (answer.status, answer.error_code) == (401, code), (supplier, value, answer)


async def test_a_body_that_is_not_what_its_content_encoding_says_is_4xx(
    gateway: GatewayProcess,
) -> None:
    order = json.dumps(order_json("SO-GZ", [("SKU-A", 1)])).encode()
    for encoding, body, status, code in (
        ("gzip", order, 400, "bad_encoding"),
        ("deflate", order, 400, "bad_encoding"),
        ("gzip", gzip.compress(order)[:20], 400, "invalid_json"),  # cut short
        ("br", order, 415, "unsupported_content_encoding"),
        ("zstd", order, 415, "unsupported_content_encoding"),
    ):
        answer = await exchange(
            gateway.url,
            request_bytes(
                "POST",
                ORDERS,
                body,
                {"Content-Type": "application/json", "Content-Encoding": encoding},
            ),
        )
        assert (answer.status, answer.error_code) == (status, code), (encoding, answer)
    # A body that is what it says is welcome.
    answer = await exchange(
        gateway.url,
        request_bytes(
            "POST",
            ORDERS,
            gzip.compress(order),
            {"Content-Type": "application/json", "Content-Encoding": "gzip"},
        ),
    )
    assert answer.status == 202, answer


def cursor_of(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


async def test_odd_list_queries_are_400_naming_the_parameter(
    http: aiohttp.ClientSession, gateway: GatewayProcess
) -> None:
    for query, path in (
        ("limit=²", "query.limit"),
        ("limit=①", "query.limit"),
        ("limit=٣", "query.limit"),
        ("limit=99999999999999999999999", "query.limit"),
        (f"cursor={cursor_of('s' + '9' * 30)}", "query.cursor"),
        (f"cursor={cursor_of('s①')}", "query.cursor"),
        (f"cursor={cursor_of('s-1')}", "query.cursor"),
        (f"cursor={cursor_of('s²')}", "query.cursor"),
        ("cursor=%FF%FE", "query.cursor"),
        ("since=", "query.since"),
        ("status=" + "x" * 5000, "query.status"),
    ):
        status, answer = await call(http, gateway, "GET", f"{ORDERS}?{query}")
        assert status == 400, (query, answer)
        assert [d["path"] for d in answer["error"]["details"]] == [path], query
        assert len(answer["error"]["details"][0]["message"]) < 300  # a short quote at most
    status, answer = await call(http, gateway, "GET", f"{ORDERS}?cursor=&limit=1")
    assert status == 200, answer
    # The same kinds of number on the other endpoints that read them.
    for path, where in (
        ("/api/v1/audit?limit=²", "query.limit"),
        ("/api/v1/audit?cursor=①", "query.cursor"),
        ("/api/v1/audit?cursor=99999999999999999999999", "query.cursor"),
        ("/api/v1/kpis?idle_days=٣", "query.idle_days"),
        ("/api/v1/kpis?to=", "query.to"),
    ):
        status, answer = await call(http, gateway, "GET", path)
        assert status == 400, (path, answer)
        assert [d["path"] for d in answer["error"]["details"]] == [where], path


async def test_an_order_placed_before_2000_is_refused(
    http: aiohttp.ClientSession, gateway: GatewayProcess
) -> None:
    for created_at in ("0494-04-07T00:45:36.67Z", "1999-12-31T23:59:59Z"):
        order = order_json("SO-WHEN-PLACED", [("SKU-A", 1)], created_at=created_at)
        status, answer = await call(http, gateway, "POST", ORDERS, json.dumps(order).encode())
        assert status == 422, (created_at, answer)
        assert list(details(answer)) == ["$.created_at"]
    # Nothing odd got into the store: the list still reads (a year 494 once made it a 500).
    status, answer = await call(http, gateway, "GET", f"{ORDERS}?limit=200")
    assert status == 200, answer


async def test_messages_quote_only_a_short_prefix_and_paths_name_the_key(
    http: aiohttp.ClientSession, gateway: GatewayProcess
) -> None:
    order = order_json("SO-LONG", [("SKU-A", 1)])
    order["priority"] = "x" * 100_000
    order["attributes"] = {"gift wrap": 5, "colour": "red"}
    order["lines"][0]["line_id"] = "L" * 100
    order["lines"].append({**order["lines"][0]})  # a duplicate line id, quoted back
    status, answer = await call(http, gateway, "POST", ORDERS, json.dumps(order).encode())
    assert status == 422, answer
    found = details(answer)
    assert set(found) == {"$.priority", '$.attributes["gift wrap"]', "$.lines[1].line_id"}
    assert all(len(message) < 200 for message in found.values()), found

    status, answer = await call(http, gateway, "GET", f"{ORDERS}/{'o' * 5000}")
    assert status == 404
    assert len(answer["error"]["message"]) < 200

    # A repeated "orders" key: the one that counts is an object, and that is what is said.
    body = b'{"orders": [' + json.dumps(order_json("SO-R", [("SKU-A", 1)])).encode()
    body += b'], "orders": {"a": 1}}'
    status, answer = await call(http, gateway, "POST", ORDERS, body)
    assert status == 422, answer
    assert details(answer) == {"$.orders": "Expected `array`, got `object`"}


async def test_a_whole_number_written_as_a_float_is_a_whole_number(
    http: aiohttp.ClientSession, gateway: GatewayProcess
) -> None:
    body = json.dumps(order_json("SO-FLOAT", [("SKU-A", 1)])).replace(
        '"quantity": 1', '"quantity": 754942.0'
    )
    status, answer = await call(http, gateway, "POST", ORDERS, body.encode())
    assert status == 202, answer
    body = body.replace("754942.0", "2.5").replace("SO-FLOAT", "SO-HALF")
    status, answer = await call(http, gateway, "POST", ORDERS, body.encode())
    assert status == 422, answer
    assert list(details(answer)) == ["$.lines[0].quantity"]


# -- aiohttp's own answers, in our shape -------------------------------------------------------


async def test_requests_the_server_cannot_parse_get_the_error_shape(
    gateway: GatewayProcess,
) -> None:
    cases = {
        b"FOO /api/v1/orders HTTP/1.1\r\nHost: g\r\n\r\n": 400,
        b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: g\r\n\r\n": 400,
        b"GET /healthz HTTP/1.1\r\nHost: g\r\nX-Big: " + b"b" * 10_000 + b"\r\n\r\n": 400,
        b"GET /healthz HTTP/1.1\r\nHost: g\r\nBad Header\r\n\r\n": 400,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03": 400,  # TLS on the plain port
        b"GET /healthz HTTP/1.1\r\nHost: g\r\nExpect: tea\r\n\r\n": 417,
    }
    since = len(gateway.log_events())
    for request, status in cases.items():
        answer = await exchange(gateway.url, request)
        assert answer.status == status, (request[:30], answer)
        assert answer.headers["content-type"].startswith("application/json")
        assert answer.error_code
        assert b"aaaa" not in answer.body  # nothing of the request echoed
        assert b"bbbb" not in answer.body
    assert no_errors_logged(gateway, since) == []


async def test_a_declared_body_over_the_limit_is_413_before_it_is_sent(
    gateway: GatewayProcess,
) -> None:
    head = b"POST /api/v1/orders HTTP/1.1\r\nHost: g\r\nContent-Type: application/json\r\n"
    # Nothing of the 10 MB body is ever sent: the answer comes from the headers alone.
    answer = await exchange(gateway.url, head + b"Content-Length: 10000000\r\n\r\n")
    assert (answer.status, answer.error_code) == (413, "payload_too_large")
    answer = await exchange(
        gateway.url, head + b"Content-Length: 10000000\r\nExpect: 100-continue\r\n\r\n"
    )
    assert (answer.status, answer.error_code) == (413, "payload_too_large")
    assert answer.interim == []  # no "100 Continue" first

    # Within the limit, Expect: 100-continue still gets its go-ahead.
    body = json.dumps(order_json("SO-EXPECT", [("SKU-A", 1)])).encode()
    connection = await RawConnection.open(gateway.url)
    try:
        await connection.send(
            head + f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n".encode()
        )
        head_only = await connection.reader.readuntil(b"\r\n\r\n")
        assert head_only.startswith(b"HTTP/1.1 100")
        await connection.send(body)
        answer = await connection.response()
        assert answer.status == 202, answer
    finally:
        await connection.close()


async def test_an_aborted_upload_is_one_info_line(gateway: GatewayProcess) -> None:
    since = len(gateway.log_events())
    connection = await RawConnection.open(gateway.url)
    await connection.send(
        b"POST /api/v1/orders HTTP/1.1\r\nHost: g\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100000\r\n\r\n" + b'{"orders": [' + b" " * 1000
    )
    await connection.close()  # gone mid-body
    assert gateway.watcher is not None
    gateway.watcher.wait_for(lambda line: "http.upload_aborted" in line, timeout=15, start=since)
    events = gateway.log_events()[since:]
    aborted = [e for e in events if e.get("event") == "http.upload_aborted"]
    assert len(aborted) == 1
    assert aborted[0]["level"] == "info"
    assert "exception" not in aborted[0]
    assert no_errors_logged(gateway, since) == []


# -- shipment notices --------------------------------------------------------------------------


async def test_notices_need_a_fresh_timestamped_signature(
    http: aiohttp.ClientSession, gateway: GatewayProcess
) -> None:
    _, po_id = await placed_po(http, gateway, "sup-a", "SO-SIG")
    body = notice(po_id, lines=[{"sku": "SKU-A", "quantity": 1}])
    refusals: list[dict[str, str]] = [
        {},
        {"X-Signature": "garbage"},
        {"X-Signature": sign_legacy(SECRET, body)},  # the old form: not for this supplier
        {"X-Signature": sign("wrong", body, int(time.time()))},
        signed(SECRET, body, time.time() - 3600),  # a replay an hour later
        signed(SECRET, body, time.time() + 3600),
        {"X-Signature": sign(SECRET, body + b" ", int(time.time()))},
    ]
    for headers in refusals:
        status, answer = await call(http, gateway, "POST", shipments("sup-a"), body, headers)
        assert (status, error_code(answer)) == (401, "bad_signature"), headers
    status, answer = await call(
        http, gateway, "POST", shipments("sup-a"), body, signed(SECRET, body)
    )
    assert status == 201, answer


async def test_the_legacy_signature_only_where_the_config_asks_for_it(
    http: aiohttp.ClientSession, gateway: GatewayProcess
) -> None:
    _, po_id = await placed_po(http, gateway, "sup-legacy", "SO-LEGACY")
    first = notice(po_id, lines=[{"sku": "SKU-L", "quantity": 1}])
    status, answer = await call(
        http,
        gateway,
        "POST",
        shipments("sup-legacy"),
        first,
        {"X-Signature": sign_legacy(LEGACY_SECRET, first)},
    )
    assert status == 201, answer
    second = notice(po_id, tracking_number="SF2")
    status, answer = await call(
        http, gateway, "POST", shipments("sup-legacy"), second, signed(LEGACY_SECRET, second)
    )
    assert status == 201, answer


async def test_a_supplier_without_a_secret_takes_no_notice_unless_its_config_says_so(
    http: aiohttp.ClientSession, gateway: GatewayProcess
) -> None:
    order_id, po_id = await placed_po(http, gateway, "sup-closed", "SO-CLOSED")
    body = notice(po_id)
    for headers in ({}, {"X-Signature": "garbage"}, signed("anything", body)):
        status, answer = await call(http, gateway, "POST", shipments("sup-closed"), body, headers)
        assert (status, error_code(answer)) == (401, "unsigned_notices_refused"), headers
    status, view = await call(http, gateway, "GET", f"{ORDERS}/{order_id}")
    assert view["status"] == "acknowledged"  # nothing shipped

    _, po_id = await placed_po(http, gateway, "sup-open", "SO-OPEN")
    status, answer = await call(http, gateway, "POST", shipments("sup-open"), notice(po_id))
    assert status == 201, answer
    logged = gateway.log_events()
    warned = [e for e in logged if e.get("event") == "shipments.unsigned_notices_allowed"]
    assert [(e["level"], e["supplier_id"]) for e in warned] == [("warning", "sup-open")]
    # At start: before the gateway says it has started, not on the first notice.
    names = [e.get("event") for e in logged]
    assert names.index("shipments.unsigned_notices_allowed") < names.index("gateway.started")


async def test_carrier_codes_are_one_carrier_whatever_their_spelling(
    http: aiohttp.ClientSession, gateway: GatewayProcess
) -> None:
    order_id, po_id = await placed_po(http, gateway, "sup-a", "SO-CARRIER")
    first = notice(
        po_id, carrier="SF", tracking_number="sf100", lines=[{"sku": "SKU-A", "quantity": 1}]
    )
    status, answer = await call(
        http, gateway, "POST", shipments("sup-a"), first, signed(SECRET, first)
    )
    assert status == 201, answer
    for carrier, tracking in (("sf", "SF100"), (" Sf ", " sf100"), ("ＳＦ", "ｓｆ１００")):
        again = notice(
            po_id,
            carrier=carrier,
            tracking_number=tracking,
            lines=[{"sku": "SKU-A", "quantity": 1}],
        )
        status, duplicate = await call(
            http, gateway, "POST", shipments("sup-a"), again, signed(SECRET, again)
        )
        assert (status, duplicate["duplicate"]) == (200, True), (carrier, duplicate)
        assert duplicate["shipment_id"] == answer["shipment_id"]
    status, view = await call(http, gateway, "GET", f"{ORDERS}/{order_id}")
    [shipment] = view["purchase_orders"][0]["shipments"]
    assert (shipment["carrier"], shipment["tracking_number"]) == ("SF", "SF100")
    assert view["status"] == "partially_shipped"


async def test_a_shipped_at_before_the_po_or_in_the_future_is_refused(
    http: aiohttp.ClientSession, gateway: GatewayProcess
) -> None:
    _, po_id = await placed_po(http, gateway, "sup-a", "SO-WHEN")
    yesterday = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 86400))
    tomorrow = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86400))
    for shipped_at in ("1970-01-01T00:00:00Z", "9999-12-31T23:59:59Z", yesterday, tomorrow):
        body = notice(po_id, shipped_at=shipped_at)
        status, answer = await call(
            http, gateway, "POST", shipments("sup-a"), body, signed(SECRET, body)
        )
        assert status == 422, (shipped_at, answer)
        assert list(details(answer)) == ["$.shipped_at"]
    body = notice(po_id, shipped_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    status, answer = await call(
        http, gateway, "POST", shipments("sup-a"), body, signed(SECRET, body)
    )
    assert status == 201, answer


def metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        series, _, value = line.rpartition(" ")
        if series.startswith(name) and series.endswith("{" + wanted + "}"):
            return float(value)
    return 0.0


async def test_bad_signatures_are_counted_and_logged_at_a_bounded_rate(
    http: aiohttp.ClientSession, gateway: GatewayProcess
) -> None:
    async with http.get(gateway.url + "/metrics") as response:
        before = metric(
            await response.text(),
            "dropship_notice_signature_failures_total",
            reason="mismatch",
            supplier="sup-legacy",
        )
    since = len(gateway.log_events())
    body = notice("po_whatever")
    for _ in range(25):
        status, _answer = await call(
            http,
            gateway,
            "POST",
            shipments("sup-legacy"),
            body,
            {"X-Signature": sign("wrong", body, int(time.time()))},
        )
        assert status == 401
    async with http.get(gateway.url + "/metrics") as response:
        after = metric(
            await response.text(),
            "dropship_notice_signature_failures_total",
            reason="mismatch",
            supplier="sup-legacy",
        )
    assert after - before == 25
    lines = [
        e
        for e in gateway.log_events()[since:]
        if e.get("event") == "shipment.refused_signature" and e.get("supplier_id") == "sup-legacy"
    ]
    assert len(lines) <= 1  # at most one a minute per supplier, however many arrive
    assert any(
        e.get("event") == "shipment.refused_signature" and e.get("supplier_id") == "sup-legacy"
        for e in gateway.log_events()
    )


async def test_metric_labels_come_from_the_config_not_from_requests(
    http: aiohttp.ClientSession, gateway: GatewayProcess
) -> None:
    orders = [order_json(f"SO-CH-{i}", [("SKU-A", 1)], channel=f"made-up-{i}") for i in range(200)]
    orders.append(order_json("SO-CH-ERP", [("SKU-A", 1)], channel="erp"))
    status, answer = await call(
        http, gateway, "POST", ORDERS, json.dumps({"orders": orders}).encode()
    )
    assert status == 202, answer
    assert len(answer["accepted"]) == 201, answer
    # Suppliers likewise: a notice for one the config does not know counts under no label.
    body = notice("po_x")
    status, answer = await call(
        http, gateway, "POST", shipments("made-up-supplier"), body, signed(SECRET, body)
    )
    assert (status, error_code(answer)) == (404, "not_found"), answer
    async with http.get(gateway.url + "/metrics") as response:
        text = await response.text()
    channels = set(re.findall(r'dropship_orders_received_total\{channel="([^"]*)"', text))
    assert channels <= {"api", "erp", "other"}, channels
    assert {"erp", "other"} <= channels
    assert "made-up" not in text


async def test_log_lines_escape_unicode_line_separators(
    http: aiohttp.ClientSession, gateway: GatewayProcess
) -> None:
    external_id = "SO-\u2028forged\u2029line\u0085"
    since = len(gateway.log_events())
    body = json.dumps(order_json(external_id, [("SKU-A", 1)])).encode()
    status, answer = await call(http, gateway, "POST", ORDERS, body)
    assert status == 202, answer
    assert gateway.watcher is not None
    line = gateway.watcher.wait_for(
        lambda text: "order.accepted" in text and "forged" in text, timeout=15, start=since
    )
    for raw in ("\u2028", "\u2029", "\u0085"):
        assert raw not in line
    assert json.loads(line)["external_id"] == external_id


# -- a junk batch does not stall everyone else -------------------------------------------------


def junk_order(index: int) -> dict[str, Any]:
    """An order wrong in many ways at once (about 4 KB of JSON, 60-odd problems)."""
    return {
        "external_id": f"JUNK-{index}",
        "channel": f"made-up-{index}",
        "priority": "asap",
        "currency": "rmb",
        "ship_to": {"name": "", "phone": "x" * 30, "province": "火星" * 20, "city": 5},
        "lines": [
            {"line_id": "1", "sku": "S" * 130, "quantity": -1, "unit_price": 1.5, "bogus": True}
            for _ in range(16)
        ],
        "attributes": {f"k{j}": j for j in range(10)},
        "notes": ["x"] * 20,
    }


class Probe:
    """One client asking the same thing, one request at a time, counting the answers that
    arrive while a junk batch is being judged (between `judging` and `answered`)."""

    def __init__(self, name: str, expected: int) -> None:
        self.name = name
        self.expected = expected
        self.during = 0
        self.latencies: list[float] = []
        self.wrong: list[int] = []

    async def run(
        self,
        ask: Any,
        judging: asyncio.Event,
        answered: asyncio.Event,
    ) -> None:
        while not answered.is_set():
            started = time.perf_counter()
            status = await ask()
            if status != self.expected:
                self.wrong.append(status)
            if judging.is_set() and not answered.is_set():
                self.during += 1
                self.latencies.append(time.perf_counter() - started)

    def figures(self) -> str:
        ordered = sorted(self.latencies) or [0.0]
        p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
        return (
            f"{self.name}: {self.during} answers, p99 {p99 * 1000:.1f} ms,"
            f" max {ordered[-1] * 1000:.1f} ms"
        )


async def test_a_junk_batch_does_not_stall_other_clients_or_the_mqtt_link(
    http: aiohttp.ClientSession, gateway: GatewayProcess
) -> None:
    """A 4 MB batch of 1,000 invalid orders, posted twice, while other clients keep asking for
    /healthz and posting single orders. Asserted: those clients are served *while* the batch
    is judged, every answer is the right one, the MQTT link never drops. Not asserted: how fast
    (a shared 2-core CI machine decides that); the figures are printed, and
    `python -m benchmarks.hostile_load` measures them against the issue's 50 ms p99."""
    junk = json.dumps({"orders": [junk_order(i) for i in range(1000)]}).encode()
    assert len(junk) >= 4_000_000
    since = len(gateway.log_events())
    serial = iter(range(1_000_000))

    async def healthz() -> int:
        async with http.get(gateway.url + "/healthz") as response:
            await response.read()
            return response.status

    async def single_order() -> int:
        body = json.dumps(order_json(f"SO-BESIDE-JUNK-{next(serial)}", [("SKU-A", 1)]))
        async with http.post(
            gateway.url + ORDERS, data=body, headers={"Content-Type": "application/json"}
        ) as response:
            await response.read()
            return response.status

    for round_ in range(2):
        judging, answered = asyncio.Event(), asyncio.Event()
        probes = [(Probe("healthz", 200), healthz), (Probe("single order", 202), single_order)]
        tasks = [asyncio.create_task(p.run(ask, judging, answered)) for p, ask in probes]
        connection = await RawConnection.open(gateway.url)
        try:
            await connection.send(
                request_bytes("POST", ORDERS, junk, {"Content-Type": "application/json"})
            )
            judging.set()  # every byte is on its way: from here on the gateway judges it
            answer = await connection.response(timeout=120)
        finally:
            answered.set()
            await asyncio.gather(*tasks)
            await connection.close()
        assert answer.status == 202, answer.body[:300]
        assert answer.body.count(b'"index":') == 1000  # every order rejected, none lost
        figures = "; ".join(p.figures() for p, _ in probes)
        print(f"round {round_ + 1}: {figures}")
        for probe, _ in probes:
            assert probe.wrong == [], (probe.name, probe.wrong)
        healthz_probe, order_probe = (p for p, _ in probes)
        # A loop blocked while it judges answers nobody meanwhile: each probe gets the one
        # answer it was waiting for when the block ends, and a few while the body is read
        # (4 and 1 when validation was made to run without a break; here hundreds and dozens).
        # Answered while the batch was judged, not after it (how many depends on the machine).
        assert healthz_probe.during >= 5, figures
        assert order_probe.during >= 1, figures
    assert gateway.running()
    events = gateway.log_events()[since:]
    assert [e for e in events if e.get("event") == "mqtt.disconnected"] == []
    assert no_errors_logged(gateway, since) == []


# -- slow and greedy clients: a gateway with tight limits --------------------------------------


@pytest.fixture(scope="module")
def strict_gateway(
    tmp_path_factory: pytest.TempPathFactory, module_broker: Mosquitto
) -> Iterator[GatewayProcess]:
    tmp = tmp_path_factory.mktemp("strict")
    config = gateway_config(
        tmp,
        module_broker,
        header_timeout_s=1,
        body_timeout_s=1.5,
        idle_timeout_s=2,
        max_connections=6,
    )
    config["services"] = []  # no suppliers needed: nothing is routed
    config["mqtt"]["client_id"] = "strict-gateway"  # the same broker as the other gateway
    process = launch(tmp, config)
    try:
        yield process
    finally:
        process.ensure_stopped()


async def test_a_request_head_that_never_ends_is_408_and_closed(
    strict_gateway: GatewayProcess,
) -> None:
    connection = await RawConnection.open(strict_gateway.url)
    try:
        await connection.send(b"GET /healthz HTTP/1.1\r\nHost: g\r\nX-Slow: ")
        rest = await connection.closed_by_server()
    finally:
        await connection.close()
    assert rest.startswith(b"HTTP/1.1 408 ")
    assert b'"request_timeout"' in rest


async def test_a_body_trickled_byte_by_byte_is_408_and_closed(
    strict_gateway: GatewayProcess,
) -> None:
    connection = await RawConnection.open(strict_gateway.url)
    try:
        await connection.send(
            b"POST /api/v1/orders HTTP/1.1\r\nHost: g\r\nContent-Type: application/json\r\n"
            b"Content-Length: 5000\r\n\r\n{"
        )

        async def trickle() -> None:
            # A byte now and then, never the whole body: the server must not wait forever.
            for _ in range(300):
                await connection.send(b" ")
                await asyncio.sleep(0.05)  # the client's pace, not synchronisation

        trickling = asyncio.create_task(trickle())
        try:
            answer = await connection.response(timeout=15)
            rest = await connection.closed_by_server()
        finally:
            trickling.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await trickling
    finally:
        await connection.close()
    assert (answer.status, answer.error_code) == (408, "request_timeout")
    assert rest == b""


async def test_an_idle_connection_is_closed(strict_gateway: GatewayProcess) -> None:
    connection = await RawConnection.open(strict_gateway.url)
    try:
        await connection.send(b"GET /healthz HTTP/1.1\r\nHost: g\r\n\r\n")
        answer = await connection.response()
        assert answer.status == 200
        assert await connection.closed_by_server() == b""  # kept alive, then closed when idle
    finally:
        await connection.close()


async def test_connections_past_the_cap_get_503_and_the_rest_are_served(
    strict_gateway: GatewayProcess,
) -> None:
    held: list[RawConnection] = []
    refused = None
    try:
        for _ in range(20):
            connection = await RawConnection.open(strict_gateway.url)
            held.append(connection)
            await connection.send(b"GET /healthz HTTP/1.1\r\nHost: g\r\n\r\n")
            answer = await connection.response()
            if answer.status == 503:
                refused = answer
                break
            assert answer.status == 200
        assert refused is not None, "20 connections held open and none refused"
        assert refused.error_code == "too_many_connections"
        assert refused.closed
    finally:
        for connection in held:
            await connection.close()
    # Once they are gone, new connections are served again.
    deadline = asyncio.get_running_loop().time() + 15
    while True:
        answer = await exchange(strict_gateway.url, b"GET /healthz HTTP/1.1\r\nHost: g\r\n\r\n")
        if answer.status == 200:
            break
        assert asyncio.get_running_loop().time() < deadline, "the cap never freed up"
        await asyncio.sleep(0.05)  # the server learns of closed sockets on its own schedule


def test_signature_helpers_follow_the_contract() -> None:
    """CONTRACT §3, written out independently of gateway.domain.notices."""
    body = b'{"po_id": "p"}'
    expected = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign(SECRET, body, 1_700_000_000) == f"t=1700000000,sha256={expected}"
    legacy = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert sign_legacy(SECRET, body) == f"sha256={legacy}"
