"""The `mapped_json` adapter drives a supplier whose JSON looks nothing like CONTRACT §5 (the
open-platform stand-in: signed requests, snake_case, business codes inside HTTP 200) through
send, accept, refuse and retry, by configuration alone: over real HTTP, and end to end through a
gateway with a real broker."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from dropship_mapped import MappedJsonSupplier
from dropship_mapped.adapter import MappingInvalid
from dropship_mapped.options import check_options
from dropship_mapped.template import Compiler, TemplateError, encode_json, po_document
from dropship_simulator.open_platform import (
    GOODS_NOT_FOUND,
    SYSTEM_BUSY,
    OpenPlatformSupplier,
    open_platform_mapping,
)
from gateway.plugin_api import (
    Accepted,
    Address,
    PurchaseOrderLine,
    PurchaseOrderRequest,
    SupplierContext,
    SupplierFailed,
    SupplierRejected,
    SupplierUnavailable,
)
from tests.conftest import WriteConfig, base_config, start_gateway
from tests.harness import ROOT, Mosquitto, order_json, order_reaching

APP_SECRET = "open-platform-secret"

# The whole integration: no code, only this table (as it would sit in [suppliers.options]).
MAPPING = open_platform_mapping(APP_SECRET)


def mapping(**changes: Any) -> dict[str, Any]:
    options = copy.deepcopy(MAPPING)
    options.update(changes)
    return options


def purchase_order(
    po_id: str = "po_00000000000000aa-1", sku: str = "TEA-001", quantity: int = 2
) -> PurchaseOrderRequest:
    return PurchaseOrderRequest(
        po_id=po_id,
        order_id="ord_00000000000000aa",
        order_external_id="SO-1",
        supplier_id="wholesale",
        created_at=datetime(2026, 11, 23, 2, 0, tzinfo=UTC),
        priority="urgent",
        currency="CNY",
        ship_to=Address(
            name="张三",
            phone="13812345678",
            country="CN",
            region="CN-ZJ",
            province="浙江省",
            city="杭州市",
            district="西湖区",
            address1="文三路 100 号",
            address2="3 楼",
            postal_code="310000",
        ),
        lines=(
            PurchaseOrderLine(line_id="1", sku=sku, quantity=quantity, unit_cost=Decimal("18.5")),
            PurchaseOrderLine(line_id="2", sku="CUP-002", quantity=1, unit_cost=Decimal("9.999")),
        ),
    )


@pytest.fixture
async def platform() -> AsyncIterator[OpenPlatformSupplier]:
    async with OpenPlatformSupplier(
        app_key="app-1001", app_secret=APP_SECRET, stock={"TEA-001": 10, "CUP-002": 10}
    ) as supplier:
        yield supplier


@pytest.fixture
async def adapter(platform: OpenPlatformSupplier) -> AsyncIterator[MappedJsonSupplier]:
    supplier = MappedJsonSupplier(
        SupplierContext(
            supplier_id="wholesale", url=platform.url, timeout_s=5, max_in_flight=4, options=MAPPING
        )
    )
    await supplier.start()
    yield supplier
    await supplier.close()


# -- the adapter over real HTTP ----------------------------------------------------------------


async def test_the_body_is_built_from_the_template_and_accepted_with_its_reference(
    platform: OpenPlatformSupplier, adapter: MappedJsonSupplier
) -> None:
    outcome = await adapter.send_purchase_order(purchase_order())

    created = platform.trades["po_00000000000000aa-1"]
    assert outcome == Accepted(created.trade_no)
    assert json.loads(created.raw) == {
        "out_trade_no": "po_00000000000000aa-1",
        "shop_order_no": "SO-1",
        "order_time": "2026-11-23 10:00:00",  # in +08:00, the platform's format
        "is_urgent": 1,
        "receiver": {
            "name": "张三",
            "mobile": "13812345678",
            "state": "浙江省",
            "city": "杭州市",
            "district": "西湖区",
            "address": "文三路 100 号 3 楼",
            "zip": "310000",
        },
        "items": [
            {"goods_no": "TEA-001", "qty": 2, "price": 18.5},
            {"goods_no": "CUP-002", "qty": 1, "price": 10.0},
        ],
        "total_qty": 3,
        "channel": "dropship-gateway",
    }
    assert b'"price":18.50' in created.raw  # a JSON number, digit for digit: never a float
    assert b'"price":10.00' in created.raw  # 9.999 rounded half up to the cent


async def test_a_business_refusal_is_rejected_with_the_mapped_reason(
    adapter: MappedJsonSupplier,
) -> None:
    with pytest.raises(SupplierRejected) as short:
        await adapter.send_purchase_order(purchase_order(quantity=11))
    assert short.value.reason == "out_of_stock"
    assert short.value.message == "库存不足: TEA-001"

    with pytest.raises(SupplierRejected) as unknown:
        await adapter.send_purchase_order(purchase_order("po_00000000000000bb-1", sku="PAN-9"))
    assert unknown.value.reason == "unknown_sku"


async def test_busy_codes_and_5xx_are_temporary_and_a_retry_creates_one_trade(
    platform: OpenPlatformSupplier, adapter: MappedJsonSupplier
) -> None:
    platform.script("po_00000000000000aa-1", [SYSTEM_BUSY, 503])
    with pytest.raises(SupplierUnavailable, match="retry: 系统繁忙"):
        await adapter.send_purchase_order(purchase_order())
    with pytest.raises(SupplierUnavailable, match="HTTP 503"):
        await adapter.send_purchase_order(purchase_order())

    first = await adapter.send_purchase_order(purchase_order())
    again = await adapter.send_purchase_order(purchase_order())  # a retry after a lost answer

    assert again == first  # E3001 "trade exists" carries the first trade_no: accepted
    assert platform.created_count("po_00000000000000aa-1") == 1
    assert [a.code for a in platform.attempts] == [SYSTEM_BUSY, "", "0", "E3001"]


async def test_a_bad_signature_is_a_configuration_failure(
    platform: OpenPlatformSupplier,
) -> None:
    wrong = mapping(auth={**MAPPING["auth"], "secret": "not-the-secret"})
    adapter = MappedJsonSupplier(
        SupplierContext(
            supplier_id="wholesale", url=platform.url, timeout_s=5, max_in_flight=1, options=wrong
        )
    )
    await adapter.start()
    try:
        with pytest.raises(SupplierFailed) as failed:
            await adapter.send_purchase_order(purchase_order())
    finally:
        await adapter.close()
    assert failed.value.reason == "E1001"
    assert platform.trades == {}


async def test_without_a_failed_rule_a_parameter_error_is_a_refusal_naming_the_field(
    platform: OpenPlatformSupplier,
) -> None:
    broken = mapping()
    broken["body"]["order_time"] = "$.created_at"  # ISO, not the platform's format
    del broken["response"]["failed"]
    adapter = MappedJsonSupplier(
        SupplierContext(
            supplier_id="wholesale", url=platform.url, timeout_s=5, max_in_flight=1, options=broken
        )
    )
    await adapter.start()
    try:
        with pytest.raises(SupplierRejected) as refused:
            await adapter.send_purchase_order(purchase_order())
    finally:
        await adapter.close()
    assert refused.value.reason == "E1003"
    assert "order_time" in refused.value.message


async def test_static_token_auth_and_extra_headers(platform: OpenPlatformSupplier) -> None:
    for auth, expected in (
        ({"type": "bearer", "token": "t0k"}, ("Authorization", "Bearer t0k")),
        ({"type": "header", "header": "X-Api-Key", "token": "t0k"}, ("X-Api-Key", "t0k")),
    ):
        adapter = MappedJsonSupplier(
            SupplierContext(
                supplier_id="s", url=platform.url, timeout_s=5, max_in_flight=1,
                options=mapping(auth=auth, headers={"X-Tenant": "42"}),
            )
        )  # fmt: skip
        request = adapter.build_request(purchase_order())
        assert request.headers[expected[0]] == expected[1]
        assert request.headers["X-Tenant"] == "42"


def test_a_broken_mapping_is_refused_at_construction_naming_the_key() -> None:
    with pytest.raises(MappingInvalid, match=r"options\.body\.total_qty\.path"):
        MappedJsonSupplier(
            SupplierContext(
                supplier_id="s", url="http://127.0.0.1:9", timeout_s=1, max_in_flight=1,
                options=mapping(body={"total_qty": {"path": "$.totl"}}),
            )
        )  # fmt: skip


# -- checking a mapping -----------------------------------------------------------------------


def test_check_options_names_every_problem_with_its_path() -> None:
    options = mapping(
        body={
            "receiver": {
                "name": "$.ship_to.nmae",
                "zip": {"path": "$.ship_to.postal_code", "as": "text"},
            },
            "items": {"each": "$.lines", "item": {"goods_no": "@.skuu", "qty": "$.lines.x"}},
            "price": {"path": "$.total_cost", "decimal": "0.05"},
            "when": {"path": "$.created_at", "tz": "Beijing"},
            "both": {"path": "$.po_id", "const": 1},
            "stray": "@.sku",
        },
        response={"reason": "data.code", "success": {"path": "$.ok"}, "reject_statuses": [429]},
        auth={"type": "hmac", "header": "X-Sign", "payload": "{ts}{body}"},
        mehtod="POST",
    )  # fmt: skip
    problems = {(p.path, p.message) for p in check_options(options)}
    paths = {path for path, _ in problems}
    assert paths == {("mehtod",)}  # unknown keys are reported before the rest is judged

    del options["mehtod"]
    problems = {(p.path, p.message) for p in check_options(options)}
    paths = {path for path, _ in problems}
    assert paths == {
        ("body", "receiver", "name"),
        ("body", "receiver", "zip", "as"),
        ("body", "items", "item", "goods_no"),
        ("body", "items", "item", "qty"),
        ("body", "price", "decimal"),
        ("body", "when", "tz"),
        ("body", "both"),
        ("body", "stray"),
        ("response", "reason"),
        ("response", "success"),
        ("response", "reject_statuses", 0),
        ("auth", "secret"),
        ("auth", "payload"),
    }
    messages = dict(problems)
    assert "unknown field 'nmae'" in messages[("body", "receiver", "name")]
    assert "name, phone" in messages[("body", "receiver", "name")]  # says what there is
    assert "unknown field 'skuu'" in messages[("body", "items", "item", "goods_no")]


def test_check_passes_the_example_mapping() -> None:
    assert check_options(MAPPING) == []


def test_run_py_check_reports_under_the_config_key_and_preview_prints_the_body(
    tmp_path: Path, write_config: WriteConfig
) -> None:
    supplier = {
        "id": "wholesale",
        "name": "Wholesale",
        "adapter": "mapped_json",
        "url": "http://127.0.0.1:9",
        "regions": ["CN"],
        "options": mapping(body={"qty": "$.total_qty"}),
    }
    path = write_config({"suppliers": [supplier]})

    checked = _run("check", "--config", str(path))
    assert checked.returncode == 2
    assert checked.stdout.splitlines() == [
        "suppliers[0].options.body.qty: '$.total_qty': unknown field 'total_qty' "
        "(po_id, order_id, order_external_id, supplier_id, created_at, order_created_at, "
        "priority, currency, total_quantity, total_cost, line_count, ship_to, lines)"
    ]

    supplier["options"] = MAPPING
    path = write_config({"suppliers": [supplier]})
    assert _run("check", "--config", str(path)).returncode == 0
    preview = _run("preview", "--config", str(path), "wholesale")
    assert preview.returncode == 0, preview.stderr
    head, _, body = preview.stdout.partition("\n\n")
    assert head.splitlines()[0] == "POST http://127.0.0.1:9/open/api/trade/create"
    assert "X-App-Key: app-1001" in head.splitlines()
    assert APP_SECRET not in preview.stdout
    sent = json.loads(body)
    assert sent["receiver"]["state"] == "浙江省"
    assert sent["items"][0]["goods_no"]
    assert sent["total_qty"] == sum(item["qty"] for item in sent["items"])


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "run.py"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# -- end to end: a gateway, a real broker, orders in over HTTP ---------------------------------


async def test_a_gateway_sends_accepts_refuses_and_retries_by_config_alone(
    tmp_path: Path,
    broker: Mosquitto,
    write_config: WriteConfig,
    http: aiohttp.ClientSession,
    platform: OpenPlatformSupplier,
) -> None:
    supplier = {
        "id": "wholesale",
        "name": "Wholesale Open Platform",
        "adapter": "mapped_json",
        "url": platform.url,
        "regions": ["CN"],
        "retry_base_s": 0.05,
        "retry_max_s": 0.2,
        "options": MAPPING,
    }
    catalog = [
        {"sku": sku, "supplier": "wholesale", "cost": "18.50", "stock": 1000}
        for sku in ("TEA-001", "CUP-002", "GONE-404")
    ]
    platform.script("*", ["0", SYSTEM_BUSY, 503])  # the 2nd and 3rd attempts get busy answers
    gateway = await start_gateway(
        write_config(base_config(tmp_path, broker, suppliers=[supplier], catalog=catalog))
    )
    views: dict[str, dict[str, Any]] = {}
    try:
        # One at a time, so that the script's answers meet the orders they are meant for.
        for external_id, sku, outcome in (
            ("SO-OK", "TEA-001", "acknowledged"),
            ("SO-RETRY", "CUP-002", "acknowledged"),
            ("SO-NO", "GONE-404", "on_hold"),
        ):
            async with http.post(
                f"{gateway.http_url}/api/v1/orders", json=order_json(external_id, [(sku, 1)])
            ) as response:
                assert response.status == 202
                order_id = (await response.json())["accepted"][0]["order_id"]
            views[external_id] = await order_reaching(http, gateway.http_url, order_id, outcome)
    finally:
        await gateway.stop()
    ok, retried, refused = views["SO-OK"], views["SO-RETRY"], views["SO-NO"]

    [ok_po] = ok["purchase_orders"]
    assert ok_po["status"] == "accepted"
    assert ok_po["supplier_ref"] == platform.trades[ok_po["po_id"]].trade_no
    [retried_po] = retried["purchase_orders"]
    assert retried_po["supplier_ref"] == platform.trades[retried_po["po_id"]].trade_no
    codes = [a.code for a in platform.attempts if a.out_trade_no == retried_po["po_id"]]
    assert codes == [SYSTEM_BUSY, "", "0"]  # busy, 503, then taken: one trade
    [refused_po] = refused["purchase_orders"]
    assert refused_po["status"] == "rejected"
    assert refused["hold_reason"] == "unknown_sku"
    assert [a.code for a in platform.attempts if a.out_trade_no == refused_po["po_id"]] == [
        GOODS_NOT_FOUND
    ]


# -- the template language, rendered directly ---------------------------------------------------


def render(template: Any, *, omit_nulls: bool = False) -> Any:
    compiler = Compiler(omit_nulls=omit_nulls)
    node = compiler.compile(template)
    assert compiler.problems == []
    return json.loads(encode_json(node.render(po_document(purchase_order()), None)))


def test_each_transform_of_the_template_language() -> None:
    assert render(
        {
            "literal_dollar": {"const": "$.po_id"},
            "unmapped_stays": {"path": "$.currency", "map": {"USD": "840"}},
            "unmapped_default": {"path": "$.currency", "map": {"USD": "840"}, "default": "156"},
            "mapped": {"path": "$.ship_to.region", "map": {"CN-ZJ": 33}},
            "unix": {"path": "$.created_at", "date": "unix"},
            "iso_utc": {"path": "$.created_at", "date": "iso", "tz": "+00:00"},
            "cents": {"path": "$.lines[0].unit_cost", "decimal": "0.01"},
            "whole": {"path": "$.total_quantity", "as": "string"},
            "total": {"path": "$.total_cost", "decimal": "0.01", "as": "number"},
            "first_sku": "$.lines[0].sku",
            "missing_line": "$.lines[5].sku",
            "joined": {"join": ["$.ship_to.city", "$.ship_to.id_number", "$.ship_to.district"]},
            "skus": {"each": "$.lines", "item": "@.sku"},
            "fixed": [1, True, "x"],
        }
    ) == {
        "literal_dollar": "$.po_id",
        "unmapped_stays": "CNY",
        "unmapped_default": "156",
        "mapped": 33,
        "unix": 1795399200,
        "iso_utc": "2026-11-23T02:00:00+00:00",
        "cents": "18.50",
        "whole": "3",
        "total": 47.0,
        "first_sku": "TEA-001",
        "missing_line": None,
        "joined": "杭州市 西湖区",  # the empty ID number is left out, not joined as ""
        "skus": ["TEA-001", "CUP-002"],
        "fixed": [1, True, "x"],
    }
    assert render({"gone": "$.ship_to.id_number", "kept": 0}, omit_nulls=True) == {"kept": 0}


def test_a_transform_that_meets_the_wrong_value_fails_the_po_naming_the_key() -> None:
    compiler = Compiler()
    node = compiler.compile({"receiver": {"name": {"path": "$.ship_to.name", "decimal": "1"}}})
    with pytest.raises(TemplateError, match=r"receiver\.name: decimal of a value"):
        node.render(po_document(purchase_order()), None)
