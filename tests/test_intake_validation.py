"""Order intake (CONTRACT §3): decoding, validation with every problem and its JSON path at once,
batch splitting, and normalisation into the canonical Order."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from gateway.domain.intake import (
    MAX_BATCH,
    IntakeOrder,
    InvalidJson,
    decode_order,
    normalise,
    order_schema,
    split_body,
)
from gateway.domain.model import Priority
from gateway.domain.validation import Problem, ValidationFailed

MONEY_HINT = 'expected a non-negative decimal amount as a string, such as "19.90"'

# The example order of CONTRACT §3, verbatim.
CONTRACT_ORDER: dict[str, Any] = {
    "external_id": "SO-20261123-0001",
    "channel": "erp",
    "created_at": "2026-11-23T10:00:00+08:00",
    "priority": "normal",
    "currency": "CNY",
    "customer": {"id": "C-1", "tier": "vip"},
    "payment": {"status": "paid", "amount": "39.80"},
    "ship_to": {
        "name": "张三",
        "phone": "13812345678",
        "country": "CN",
        "province": "浙江省",
        "city": "杭州市",
        "district": "西湖区",
        "address1": "文三路 100 号",
        "postal_code": "310000",
    },
    "lines": [{"line_id": "1", "sku": "SKU-1", "quantity": 2, "unit_price": "19.90"}],
}


def an_order() -> dict[str, Any]:
    """A fresh, mutable copy of the contract's example order."""
    return copy.deepcopy(CONTRACT_ORDER)


def encode(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def problems_of(value: Any) -> dict[str, str]:
    """Decode `value` as one order, which must fail; its problems as {json path: message}."""
    with pytest.raises(ValidationFailed) as caught:
        decode_order(encode(value))
    paths = [p.json_path() for p in caught.value.problems]
    assert len(paths) == len(set(paths)), f"a path reported twice: {paths}"
    return {p.json_path(): p.message for p in caught.value.problems}


def batch_problems_of(body: bytes) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as caught:
        split_body(body)
    return {p.json_path(): p.message for p in caught.value.problems}


# -- valid orders -----------------------------------------------------------------------------


def test_contract_example_decodes_with_typed_values() -> None:
    """The example of CONTRACT §3 is accepted as written, every field typed."""
    order = decode_order(encode(CONTRACT_ORDER))

    assert isinstance(order, IntakeOrder)
    assert order.external_id == "SO-20261123-0001"
    assert order.channel == "erp"
    assert order.priority is Priority.NORMAL
    assert order.created_at == datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    assert order.ship_to.province == "浙江省"
    assert [(ln.line_id, ln.sku, ln.quantity, ln.unit_price) for ln in order.lines] == [
        ("1", "SKU-1", 2, "19.90")
    ]


def test_minimal_order_gets_the_documented_defaults() -> None:
    """Only external_id, ship_to and lines are required; channel defaults to "api", priority to
    normal, currency to CNY and the country to CN."""
    minimal = {
        "external_id": "E-1",
        "ship_to": {
            "name": "李四",
            "phone": "13912345678",
            "province": "上海",
            "city": "上海市",
            "address1": "南京东路 1 号",
        },
        "lines": [{"line_id": "a", "sku": "SKU-9", "quantity": 1}],
    }
    received = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)

    order = normalise(decode_order(encode(minimal)), order_id="ord_1", received_at=received)

    assert order.channel == "api"
    assert order.priority is Priority.NORMAL
    assert order.currency == "CNY"
    assert order.ship_to.country == "CN"
    assert order.ship_to.region == "CN-SH"
    assert order.created_at == received  # no created_at given: the time it was received
    assert order.payment is None
    assert order.lines[0].unit_price is None


@pytest.mark.parametrize("priority", ["low", "normal", "high", "urgent"])
def test_every_documented_priority_is_accepted(priority: str) -> None:
    order = an_order()
    order["priority"] = priority

    assert decode_order(encode(order)).priority == Priority(priority)


@pytest.mark.parametrize("amount", ["0", "19.9", "19.90", "19.9000", "1234567890123"])
def test_money_strings_within_the_format_are_accepted(amount: str) -> None:
    order = an_order()
    order["payment"]["amount"] = amount
    order["lines"][0]["unit_price"] = amount

    normalised = normalise(decode_order(encode(order)), order_id="ord_m")

    assert normalised.payment is not None
    assert normalised.payment.amount == Decimal(amount)
    assert normalised.lines[0].unit_price == Decimal(amount)


def test_decode_order_accepts_a_raw_batch_element() -> None:
    """split_body hands out msgspec.Raw elements; decode_order takes them as they are."""
    raws = split_body(encode({"orders": [CONTRACT_ORDER]}))

    assert raws is not None
    assert decode_order(raws[0]).external_id == "SO-20261123-0001"


# -- every problem, with its path, at once ----------------------------------------------------


def test_an_order_with_many_problems_reports_all_of_them_with_paths() -> None:
    """One response lists every problem: type errors, unknown fields, missing fields and the
    semantic checks (duplicate line ids, unknown province) together."""
    order = an_order()
    del order["external_id"]
    order["foo"] = 1
    order["priority"] = "asap"
    order["created_at"] = "2026-11-23T10:00:00"
    order["ship_to"]["province"] = "火星"
    order["lines"] = [
        {"line_id": "1", "sku": "S", "quantity": 0, "unit_price": 19.9},
        {"line_id": "1", "sku": "S", "quantity": -1, "unit_price": "-1"},
        {"line_id": "3", "sku": "S", "quantity": 1, "unit_price": "1.23456"},
    ]

    problems = problems_of(order)

    assert set(problems) == {
        "$.external_id",
        "$.foo",
        "$.priority",
        "$.created_at",
        "$.ship_to.province",
        "$.lines[0].quantity",
        "$.lines[0].unit_price",
        "$.lines[1].quantity",
        "$.lines[1].unit_price",
        "$.lines[1].line_id",
        "$.lines[2].unit_price",
    }
    assert problems["$.external_id"] == "required field is missing"
    assert problems["$.foo"] == "unknown field"
    assert problems["$.lines[1].line_id"] == "duplicate line_id '1'"
    assert problems["$.lines[2].unit_price"] == MONEY_HINT


def test_validation_failed_message_names_every_path() -> None:
    """The exception text (what ends up in a log line) carries the paths too."""
    order = an_order()
    order["lines"][0]["quantity"] = 0
    order["currency"] = "rmb"

    with pytest.raises(ValidationFailed) as caught:
        decode_order(encode(order))

    assert "$.lines[0].quantity" in str(caught.value)
    assert "$.currency" in str(caught.value)


@pytest.mark.parametrize(
    ("where", "path"),
    [
        ((), "$.surprise"),
        (("ship_to",), "$.ship_to.surprise"),
        (("lines", 0), "$.lines[0].surprise"),
        (("payment",), "$.payment.surprise"),
        (("customer",), "$.customer.surprise"),
    ],
)
def test_unknown_fields_are_rejected_at_every_level(where: tuple[Any, ...], path: str) -> None:
    """A misspelt key is an error, not silently dropped."""
    order = an_order()
    node: Any = order
    for part in where:
        node = node[part]
    node["surprise"] = "x"

    assert problems_of(order) == {path: "unknown field"}


@pytest.mark.parametrize("quantity", [0, -1, 1.5, "2", None, 1_000_001])
def test_quantity_must_be_a_positive_whole_number(quantity: Any) -> None:
    order = an_order()
    order["lines"][0]["quantity"] = quantity

    assert list(problems_of(order)) == ["$.lines[0].quantity"]


@pytest.mark.parametrize("amount", [19.9, 20, "-1.00", "1.23456", "1,00", "", "abc", "1e3"])
def test_bad_money_is_rejected_with_the_hint(amount: Any) -> None:
    """Money is a non-negative decimal string with at most 4 decimals; the message says so in
    words rather than showing a regex."""
    order = an_order()
    order["lines"][0]["unit_price"] = amount
    order["payment"]["amount"] = amount

    assert problems_of(order) == {
        "$.lines[0].unit_price": MONEY_HINT,
        "$.payment.amount": MONEY_HINT,
    }


def test_naive_datetime_is_rejected() -> None:
    """created_at without an offset is ambiguous and refused."""
    order = an_order()
    order["created_at"] = "2026-11-23T10:00:00"

    problems = problems_of(order)

    assert list(problems) == ["$.created_at"]
    assert "timezone" in problems["$.created_at"]


def test_offset_datetime_keeps_the_instant() -> None:
    order = an_order()
    order["created_at"] = "2026-11-23T10:00:00-05:00"

    created = decode_order(encode(order)).created_at

    assert created is not None
    assert created.utcoffset() == timedelta(hours=-5)
    assert created == datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize("priority", ["asap", "NORMAL", "", 1])
def test_bad_priority_is_rejected(priority: Any) -> None:
    order = an_order()
    order["priority"] = priority

    assert list(problems_of(order)) == ["$.priority"]


@pytest.mark.parametrize(
    ("where", "path"),
    [
        ((), "external_id"),
        ((), "ship_to"),
        ((), "lines"),
        (("ship_to",), "phone"),
        (("ship_to",), "province"),
        (("ship_to",), "address1"),
        (("lines", 0), "sku"),
        (("lines", 0), "quantity"),
        (("lines", 0), "line_id"),
    ],
)
def test_missing_required_field_is_reported_at_its_path(where: tuple[Any, ...], path: str) -> None:
    order = an_order()
    node: Any = order
    for part in where:
        node = node[part]
    del node[path]
    expected = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in (*where, path))

    assert problems_of(order) == {expected: "required field is missing"}


def test_an_order_needs_at_least_one_line() -> None:
    order = an_order()
    order["lines"] = []

    assert list(problems_of(order)) == ["$.lines"]


def test_wrongly_typed_containers_are_reported_where_they_are() -> None:
    order = an_order()
    order["ship_to"] = "Hangzhou"
    order["lines"] = [1, {"line_id": "2", "sku": "S", "quantity": 1}]

    assert set(problems_of(order)) == {"$.ship_to", "$.lines[0]"}


def test_duplicate_line_id_in_an_otherwise_valid_order() -> None:
    order = an_order()
    order["lines"].append({"line_id": "1", "sku": "SKU-2", "quantity": 1})

    assert problems_of(order) == {"$.lines[1].line_id": "duplicate line_id '1'"}


# -- provinces and regions --------------------------------------------------------------------


def test_unknown_province_is_rejected_with_the_accepted_forms() -> None:
    order = an_order()
    order["ship_to"]["province"] = "火星"

    problems = problems_of(order)

    assert list(problems) == ["$.ship_to.province"]
    assert "火星" in problems["$.ship_to.province"]
    assert "浙江省" in problems["$.ship_to.province"]
    assert "CN-ZJ" in problems["$.ship_to.province"]


@pytest.mark.parametrize("province", ["浙江省", "浙江", "CN-ZJ", "cn-zj", " 浙江省 "])
def test_accepted_province_forms_normalise_to_one_region(province: str) -> None:
    """浙江省, 浙江 and CN-ZJ are the same place; routing only ever sees CN-ZJ, and the order
    keeps the full Chinese name."""
    order = an_order()
    order["ship_to"]["province"] = province

    normalised = normalise(decode_order(encode(order)), order_id="ord_p")

    assert normalised.ship_to.region == "CN-ZJ"
    assert normalised.ship_to.province == "浙江省"


@pytest.mark.parametrize(
    ("province", "region", "full_name"),
    [
        ("北京", "CN-BJ", "北京市"),
        ("内蒙古", "CN-NM", "内蒙古自治区"),
        ("CN-GD", "CN-GD", "广东省"),
    ],
)
def test_other_provinces_map_to_their_codes(province: str, region: str, full_name: str) -> None:
    order = an_order()
    order["ship_to"]["province"] = province

    normalised = normalise(decode_order(encode(order)), order_id="ord_p")

    assert (normalised.ship_to.region, normalised.ship_to.province) == (region, full_name)


@pytest.mark.parametrize(
    ("country", "province", "region"),
    [
        ("US", "US-CA", "US-CA"),
        ("DE", "de-by", "DE-BY"),
        ("US", "California", "US"),  # a name we cannot map: the country alone
        ("US", "CN-ZJ", "US"),  # another country's code is not taken
    ],
)
def test_non_cn_country_uses_its_iso_subdivision_or_the_country(
    country: str, province: str, region: str
) -> None:
    order = an_order()
    order["ship_to"].update(country=country, province=province)

    normalised = normalise(decode_order(encode(order)), order_id="ord_us")

    assert normalised.ship_to.country == country
    assert normalised.ship_to.region == region


@pytest.mark.parametrize("country", ["cn", "CHN", "中国"])
def test_country_must_be_an_iso_alpha2_code(country: str) -> None:
    order = an_order()
    order["ship_to"]["country"] = country

    assert list(problems_of(order)) == ["$.ship_to.country"]


# -- normalise --------------------------------------------------------------------------------


def test_normalise_builds_the_canonical_order() -> None:
    """Everything routing and the store need, with money as Decimal and the phone as digits."""
    order = an_order()
    order["ship_to"]["phone"] = "+86 138-1234-5678"
    order["ship_to"]["name"] = " 张三 "
    order["notes"] = "leave at the door"
    order["attributes"] = {"shop": "tmall"}
    received = datetime(2026, 11, 23, 2, 5, tzinfo=UTC)

    canonical = normalise(decode_order(encode(order)), order_id="ord_x", received_at=received)

    assert canonical.order_id == "ord_x"
    assert canonical.external_id == "SO-20261123-0001"
    assert canonical.channel == "erp"
    assert canonical.received_at == received
    assert canonical.created_at == datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    assert canonical.customer is not None
    assert (canonical.customer.id, canonical.customer.tier) == ("C-1", "vip")
    assert canonical.payment is not None
    assert canonical.payment.status == "paid"
    assert canonical.payment.amount == Decimal("39.80")
    assert canonical.ship_to.phone == "+8613812345678"
    assert canonical.ship_to.name == "张三"
    assert canonical.ship_to.city == "杭州市"
    assert canonical.ship_to.district == "西湖区"
    assert canonical.ship_to.address1 == "文三路 100 号"
    assert canonical.lines[0].unit_price == Decimal("19.90")
    assert canonical.notes == "leave at the door"
    assert canonical.attributes == {"shop": "tmall"}


def test_normalise_uses_the_default_channel_only_when_none_is_given() -> None:
    without = an_order()
    del without["channel"]

    assert normalise(decode_order(encode(without)), order_id="o").channel == "api"
    assert (
        normalise(decode_order(encode(without)), order_id="o", default_channel="shop").channel
        == "shop"
    )
    assert normalise(decode_order(encode(an_order())), order_id="o").channel == "erp"


# -- bodies that are not an order -------------------------------------------------------------


@pytest.mark.parametrize("body", [b"{nope", b"", b'{"external_id": ', b"\xff\xfe"])
def test_invalid_json_raises_invalid_json(body: bytes) -> None:
    with pytest.raises(InvalidJson):
        decode_order(body)
    with pytest.raises(InvalidJson):
        split_body(body)


@pytest.mark.parametrize("body", [b"[1, 2]", b"[]", b"null", b'"order"', b"42"])
def test_top_level_non_object_is_one_problem_at_the_root(body: bytes) -> None:
    """A JSON array (or any non-object) is not an order; split_body leaves it to decode_order,
    which reports it at `$`."""
    assert split_body(body) is None
    with pytest.raises(ValidationFailed) as caught:
        decode_order(body)
    assert [(p.json_path(), p.message) for p in caught.value.problems] == [
        ("$", "expected a JSON object")
    ]


# -- batches ----------------------------------------------------------------------------------


def test_a_single_order_is_not_a_batch() -> None:
    assert split_body(encode(CONTRACT_ORDER)) is None


def test_a_batch_splits_into_its_orders_in_order() -> None:
    second = an_order()
    second["external_id"] = "SO-2"

    raws = split_body(encode({"orders": [CONTRACT_ORDER, second]}))

    assert raws is not None
    assert [decode_order(raw).external_id for raw in raws] == ["SO-20261123-0001", "SO-2"]


def test_a_batch_element_is_split_out_even_when_it_is_invalid() -> None:
    """Each order of a batch is judged on its own (rejected by index), so split_body does not
    validate the orders themselves."""
    raws = split_body(encode({"orders": [{"external_id": "bad"}, CONTRACT_ORDER]}))

    assert raws is not None
    assert len(raws) == 2
    with pytest.raises(ValidationFailed):
        decode_order(raws[0])
    assert decode_order(raws[1]).external_id == "SO-20261123-0001"


@pytest.mark.parametrize("orders", [5, "x", {"a": 1}, None])
def test_orders_that_is_not_a_list_is_a_problem_at_dollar_orders(orders: Any) -> None:
    assert list(batch_problems_of(encode({"orders": orders}))) == ["$.orders"]


def test_an_empty_batch_is_rejected() -> None:
    problems = batch_problems_of(b'{"orders": []}')

    assert list(problems) == ["$.orders"]
    assert ">= 1" in problems["$.orders"]


def test_the_batch_limit_is_1000_orders() -> None:
    assert MAX_BATCH == 1000
    at_limit = split_body(encode({"orders": [CONTRACT_ORDER] * MAX_BATCH}))
    assert at_limit is not None
    assert len(at_limit) == MAX_BATCH

    problems = batch_problems_of(encode({"orders": [CONTRACT_ORDER] * (MAX_BATCH + 1)}))

    assert list(problems) == ["$.orders"]
    assert "1000" in problems["$.orders"]


def test_unknown_key_beside_orders_is_the_only_problem_reported() -> None:
    """Regression: batch elements (msgspec.Raw) were converted from Python objects while
    collecting problems, adding a bogus `$.orders[0]: Expected raw, got object`."""
    problems = batch_problems_of(encode({"orders": [CONTRACT_ORDER], "extra": 1}))

    assert problems == {"$.extra": "unknown field"}


# -- paths and schema -------------------------------------------------------------------------


def test_problem_paths_in_api_and_config_form() -> None:
    problem = Problem(("lines", 0, "quantity"), "x")

    assert problem.json_path() == "$.lines[0].quantity"
    assert problem.key_path() == "lines[0].quantity"
    assert Problem((), "x").json_path() == "$"
    assert Problem((), "x").key_path() == "(top level)"


def test_order_schema_is_a_json_schema_with_the_required_fields() -> None:
    schema = order_schema()
    json.dumps(schema)  # plain JSON all the way down

    definitions = schema["$defs"]
    assert schema["$ref"] == "#/$defs/IntakeOrder"
    order = definitions["IntakeOrder"]
    assert set(order["required"]) == {"external_id", "ship_to", "lines"}
    assert {"external_id", "channel", "created_at", "priority", "payment", "lines"} <= set(
        order["properties"]
    )
    assert set(definitions["IntakeLine"]["required"]) == {"line_id", "sku", "quantity"}
    assert {"name", "phone", "province", "city", "address1"} <= set(
        definitions["IntakeAddress"]["required"]
    )
    assert definitions["IntakeOrder"]["additionalProperties"] is False
