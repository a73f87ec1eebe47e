"""Hypothesis strategies for what comes in from outside: intake orders (CONTRACT §3), shipment
notices, and anything else a client might send instead (any JSON, any bytes).

Valid values are built from the CONTRACT's rules, not from the code's types, so a property
that says "every valid order is accepted" checks the code against the contract.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from gateway.domain.regions import CN_NAME_BY_CODE

# The gateway's clock in property tests: shipped_at is judged against it.
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)

_ID_CHARS = st.characters(codec="utf-8", exclude_categories=("Cs",))
identifiers = st.text(_ID_CHARS, min_size=1, max_size=128)
channels = st.from_regex(r"\A[a-z0-9][a-z0-9_-]{0,39}\Z")
money = st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False).map(str)
quantities = st.integers(min_value=1, max_value=1_000_000)
cn_mobiles = st.from_regex(r"\A1[3-9][0-9]{9}\Z")
provinces = st.sampled_from(sorted(CN_NAME_BY_CODE)).flatmap(
    lambda code: st.sampled_from([code, CN_NAME_BY_CODE[code]])
)
names = st.text(st.characters(codec="utf-8", categories=("Lo", "Lu", "Ll")), min_size=1)
free_text = st.text(_ID_CHARS, min_size=1, max_size=200).filter(lambda s: s.strip() != "")
moments = st.datetimes(
    min_value=datetime(2000, 1, 2), max_value=datetime(2026, 12, 1), timezones=st.just(UTC)
)


def rfc3339(moment: datetime) -> str:
    return moment.isoformat()


@st.composite
def valid_orders(draw: st.DrawFn) -> dict[str, Any]:
    """An order CONTRACT §3 says must be accepted, with every optional part sometimes left out."""
    line_ids = draw(st.lists(identifiers, min_size=1, max_size=5, unique=True))
    order: dict[str, Any] = {
        "external_id": draw(identifiers),
        "ship_to": {
            "name": draw(names.filter(lambda s: s.strip() != "" and len(s) <= 200)),
            "phone": draw(cn_mobiles),
            "country": "CN",
            "province": draw(provinces),
            "city": draw(free_text),
            "address1": draw(free_text),
        },
        "lines": [
            {"line_id": line_id, "sku": draw(identifiers), "quantity": draw(quantities)}
            for line_id in line_ids
        ],
    }
    optional = {
        "channel": channels,
        "created_at": moments.map(rfc3339),
        "priority": st.sampled_from(["low", "normal", "high", "urgent"]),
        "currency": st.from_regex(r"\A[A-Z]{3}\Z"),
        "customer": st.fixed_dictionaries({}, optional={"id": identifiers}),
        "payment": st.fixed_dictionaries(
            {"status": st.sampled_from(["paid", "unpaid", "partially_paid", "cod", "refunded"])},
            optional={"amount": money},
        ),
        "notes": st.text(max_size=2000),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            order[key] = draw(strategy)
    if draw(st.booleans()):
        for line in order["lines"]:
            line["unit_price"] = draw(money)
    return order


# Any JSON value, nested a little: what a client may send where an order belongs.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=20), children, max_size=5)
    ),
    max_leaves=30,
)

# The fields of an order and values of the wrong kind for each.
ORDER_FIELDS = ("external_id", "channel", "created_at", "priority", "currency", "ship_to", "lines")


@st.composite
def orders_with_one_bad_field(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """A valid order with one top-level field replaced by a value of the wrong type or shape;
    and that field's name."""
    order = draw(valid_orders())
    field = draw(st.sampled_from(ORDER_FIELDS))
    bad = {
        "external_id": st.sampled_from([5, None, "", [], {}]),
        "channel": st.sampled_from(["UPPER", "", 7, "x" * 41, "has space"]),
        "created_at": st.sampled_from(
            ["yesterday", "2026-11-23T10:00:00", 5, "1999-12-31T00:00:00Z"]
        ),
        "priority": st.text(max_size=10).filter(
            lambda s: s not in ("low", "normal", "high", "urgent")
        ),
        "currency": st.sampled_from(["rmb", "", "YUAN", 156]),
        "ship_to": st.sampled_from([None, "杭州", [], {"name": "x"}]),
        "lines": st.sampled_from([[], None, "SKU-1", [{"sku": "S"}], [1, 2]]),
    }[field]
    order[field] = draw(bad)
    return order, field


@st.composite
def valid_notices(draw: st.DrawFn, now: datetime = NOW) -> dict[str, Any]:
    notice: dict[str, Any] = {
        "po_id": draw(identifiers),
        "carrier": draw(free_text),
        "tracking_number": draw(st.text(_ID_CHARS, min_size=1, max_size=64)),
    }
    if draw(st.booleans()):
        latest = now.replace(tzinfo=None) - timedelta(seconds=1)
        shipped = draw(st.datetimes(min_value=datetime(2000, 1, 2), max_value=latest))
        notice["shipped_at"] = rfc3339(shipped.replace(tzinfo=UTC))
    if draw(st.booleans()):
        notice["lines"] = draw(
            st.lists(
                st.fixed_dictionaries({"sku": identifiers, "quantity": quantities}), max_size=5
            )
        )
    return notice


def encode(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()
