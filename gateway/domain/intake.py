"""The intake format of CONTRACT §3 (`POST /api/v1/orders`): decode, validate, normalise.

Valid input decodes in a single msgspec pass. Invalid input is walked again by
`validation.collect_problems` so the caller gets every problem with its JSON path at once;
that walk is bounded (`MAX_PROBLEMS`, `MAX_JSON_DEPTH`), so invalid input costs little more
than valid input of the same size.
"""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from gateway.domain.fields import (
    AwareDatetime,
    ChannelName,
    CountryCode,
    Currency,
    Identifier,
    Money,
    Phone,
    Quantity,
    Text,
)
from gateway.domain.json_depth import MAX_JSON_DEPTH, exceeds_depth
from gateway.domain.model import Address, Customer, Order, OrderLine, Payment, Priority
from gateway.domain.regions import CN_NAME_BY_CODE, UnknownRegion, region_code
from gateway.domain.validation import (
    FLOAT_FOR_INT,
    MAX_PROBLEMS,
    Problem,
    ValidationFailed,
    collect_problems,
    problem_from_msgspec,
    quote,
)

MAX_BATCH = 1000
# An order placed before this is a typo or a forgery, and a year before 1000 would also break
# what sorts and reads times as fixed-width text (GET /orders answered 500 after one).
CREATED_AT_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


class IntakeAddress(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Text
    phone: Phone
    country: CountryCode = "CN"
    province: Text
    city: Text
    district: Text | None = None
    address1: Annotated[str, Meta(min_length=1, max_length=500)]
    address2: Annotated[str, Meta(max_length=500)] | None = None
    postal_code: Annotated[str, Meta(max_length=20)] | None = None
    id_number: Annotated[str, Meta(max_length=40)] | None = None


class IntakeCustomer(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: Identifier | None = None
    tier: Annotated[str, Meta(max_length=40)] | None = None


class IntakePayment(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    status: Literal["paid", "unpaid", "partially_paid", "cod", "refunded"] = "paid"
    amount: Money | None = None


class IntakeLine(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    line_id: Identifier
    sku: Identifier
    quantity: Quantity
    unit_price: Money | None = None


class IntakeOrder(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """An order as a channel sends it (CONTRACT §3)."""

    external_id: Identifier
    channel: ChannelName | None = None  # default: "api" over HTTP, the channel's id otherwise
    created_at: AwareDatetime | None = None
    priority: Priority = Priority.NORMAL
    currency: Currency = "CNY"
    customer: IntakeCustomer | None = None
    payment: IntakePayment | None = None
    ship_to: IntakeAddress
    lines: Annotated[list[IntakeLine], Meta(min_length=1, max_length=500)]
    notes: Annotated[str, Meta(max_length=2000)] | None = None
    attributes: dict[str, Annotated[str, Meta(max_length=500)]] = {}


BatchOrders = Annotated[list[msgspec.Raw], Meta(min_length=1, max_length=MAX_BATCH)]


class IntakeBatch(msgspec.Struct, forbid_unknown_fields=True):
    orders: BatchOrders


class InvalidJson(ValueError):
    """The body is not JSON at all (or nests deeper than MAX_JSON_DEPTH)."""


TOO_DEEP = f"JSON nested deeper than {MAX_JSON_DEPTH} levels"

# Built once, reused: decoders are the hot path of intake.
_order_decoder = msgspec.json.Decoder(IntakeOrder)
_any_decoder = msgspec.json.Decoder()
# A body's top level with each value left undecoded: whether it is a batch is known without
# building the whole document (4 MB of orders) as Python objects.
_envelope_decoder = msgspec.json.Decoder(dict[str, msgspec.Raw])
_batch_orders_decoder = msgspec.json.Decoder(BatchOrders)
_raw_decoder = msgspec.json.Decoder(msgspec.Raw)
_FIRST_TOKEN = re.compile(rb"[ \t\r\n]*(.)", re.DOTALL)


def order_schema() -> dict[str, Any]:
    """The JSON Schema of one intake order (`python run.py schema order`)."""
    return msgspec.json.schema(IntakeOrder)


def split_body(body: bytes) -> list[msgspec.Raw] | None:
    """The orders of a batch body (`{"orders": [...]}`), or None when the body is one order.

    Raises InvalidJson for a body that does not parse (or nests too deeply), ValidationFailed
    for a malformed batch. The orders of a batch are not judged here: `decode_order` does that,
    one at a time, and one too deep is that order's problem alone.
    """
    try:
        envelope = _envelope_decoder.decode(body)
    except msgspec.ValidationError:  # not an object: one (invalid) order, if it is JSON
        _check_json(body)
        return None
    except msgspec.DecodeError as error:
        raise InvalidJson(str(error)) from None
    except RecursionError:
        raise InvalidJson(TOO_DEEP) from None
    if "orders" not in envelope:
        _check_json(body)
        return None
    problems = [Problem((key,), "unknown field") for key in envelope if key != "orders"]
    try:
        orders = _batch_orders_decoder.decode(envelope["orders"])
    except msgspec.ValidationError as error:
        problems.append(problem_from_msgspec(error, ("orders",)))
        orders = []
    if problems:
        raise ValidationFailed(problems)
    return orders


def _check_json(body: bytes) -> None:
    """Raise InvalidJson unless `body` is JSON within MAX_JSON_DEPTH, without building it."""
    if exceeds_depth(body):
        raise InvalidJson(TOO_DEEP)
    try:
        _raw_decoder.decode(body)
    except msgspec.DecodeError as error:
        raise InvalidJson(str(error)) from None
    except RecursionError:
        raise InvalidJson(TOO_DEEP) from None


def decode_order(raw: bytes | msgspec.Raw) -> IntakeOrder:
    """Decode and validate one order, raising ValidationFailed with every problem, or
    InvalidJson when it is not JSON."""
    try:
        order = _order_decoder.decode(raw)
    except msgspec.ValidationError:
        order = _decode_slowly(raw)
    except msgspec.DecodeError as error:
        raise InvalidJson(str(error)) from None
    problems = semantic_problems(
        [line.line_id for line in order.lines],
        order.ship_to.country,
        order.ship_to.province,
        order.created_at,
    )
    if problems:
        raise ValidationFailed(problems, external_id=order.external_id)
    return order


def _decode_slowly(raw: bytes | msgspec.Raw) -> IntakeOrder:
    """The path of an order the fast decoder refused: every problem with its path, or the
    order after all when the only fault was a whole number written as `2.0`."""
    if exceeds_depth(memoryview(raw)):
        raise InvalidJson(TOO_DEEP)
    try:
        first = _FIRST_TOKEN.match(memoryview(raw))
        if first is None or first.group(1) != b"{":
            _raw_decoder.decode(raw)  # only whether it parses: nothing to walk in it
            raise ValidationFailed([Problem((), "expected a JSON object")])
        value = _any_decoder.decode(raw)
    except msgspec.DecodeError as error:  # mistyped before it was malformed: `{"a": 5, `
        raise InvalidJson(str(error)) from None
    if not isinstance(value, dict):
        raise ValidationFailed([Problem((), "expected a JSON object")])
    external_id = value.get("external_id")
    external_id = external_id if isinstance(external_id, str) else None
    problems = collect_problems(value, IntakeOrder)
    if any(p.message.startswith(FLOAT_FOR_INT) for p in problems) and _whole_floats_to_ints(value):
        # JSON has one kind of number: 2.0 is the integer 2 (and JSON Schema agrees).
        try:
            return msgspec.convert(value, IntakeOrder)
        except msgspec.ValidationError:
            problems = collect_problems(value, IntakeOrder)
    reported = {p.path for p in problems}
    problems += [p for p in _semantic_problems_of_raw(value) if p.path not in reported]
    raise ValidationFailed(problems, external_id=external_id)


def _whole_floats_to_ints(value: Any, depth: int = 0) -> bool:
    """Replace floats with no fractional part by ints, in place; whether any was found."""
    found = False
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return False
    for key, item in items:
        if isinstance(item, float):
            if item.is_integer():
                value[key] = int(item)
                found = True
        elif isinstance(item, dict | list) and depth < MAX_JSON_DEPTH:
            found = _whole_floats_to_ints(item, depth + 1) or found
    return found


def semantic_problems(
    line_ids: list[Any],
    country: Any,
    province: Any,
    created_at: Any = None,
) -> list[Problem]:
    """What types alone cannot say: unique line ids, a known province, a believable
    `created_at`.

    Takes plain values so the same rules apply to an order that failed type checks, and the
    caller hears about every problem at once.
    """
    problems: list[Problem] = []
    seen: set[str] = set()
    for index, line_id in enumerate(line_ids):
        if not isinstance(line_id, str):
            continue
        if line_id in seen:
            if len(problems) == MAX_PROBLEMS:  # as many as the type checks list, at most
                problems.append(
                    Problem(
                        ("lines",), f"more duplicate line_ids; these are the first {MAX_PROBLEMS}"
                    )
                )
                break
            problems.append(
                Problem(("lines", index, "line_id"), f"duplicate line_id {quote(line_id)}")
            )
        seen.add(line_id)
    # A province too long to be one is reported by the type check; not quoted back here.
    if isinstance(country, str) and isinstance(province, str) and 0 < len(province) <= 200:
        try:
            region_code(country, province)
        except UnknownRegion as error:
            problems.append(Problem(("ship_to", "province"), str(error)))
    if isinstance(created_at, datetime) and created_at < CREATED_AT_EARLIEST:
        problems.append(Problem(("created_at",), f"is before {CREATED_AT_EARLIEST.year}"))
    return problems


def _semantic_problems_of_raw(value: dict[str, Any]) -> list[Problem]:
    lines = value.get("lines")
    line_ids = (
        [ln.get("line_id") if isinstance(ln, dict) else None for ln in lines]
        if isinstance(lines, list)
        else []
    )
    created_at: Any = None
    with contextlib.suppress(msgspec.ValidationError):  # a bad one is reported by the types
        created_at = msgspec.convert(value.get("created_at"), AwareDatetime | None)
    ship_to = value.get("ship_to")
    if not isinstance(ship_to, dict):
        return semantic_problems(line_ids, None, None, created_at)
    return semantic_problems(
        line_ids, ship_to.get("country", "CN"), ship_to.get("province"), created_at
    )


def normalise(
    intake: IntakeOrder,
    *,
    order_id: str,
    received_at: datetime | None = None,
    default_channel: str = "api",
) -> Order:
    """The canonical Order of a validated intake order."""
    now = received_at or datetime.now(UTC)
    ship_to = intake.ship_to
    region = region_code(ship_to.country, ship_to.province)

    return Order(
        order_id=order_id,
        external_id=intake.external_id,
        channel=intake.channel or default_channel,
        created_at=intake.created_at or now,
        received_at=now,
        priority=intake.priority,
        currency=intake.currency,
        customer=Customer(id=intake.customer.id, tier=intake.customer.tier)
        if intake.customer
        else None,
        payment=Payment(
            status=intake.payment.status,
            amount=_decimal(intake.payment.amount),
        )
        if intake.payment
        else None,
        ship_to=Address(
            name=ship_to.name.strip(),
            phone=_digits(ship_to.phone),
            country=ship_to.country,
            region=region,
            province=CN_NAME_BY_CODE.get(region, ship_to.province.strip()),
            city=ship_to.city.strip(),
            district=ship_to.district.strip() if ship_to.district else None,
            address1=ship_to.address1.strip(),
            address2=ship_to.address2,
            postal_code=ship_to.postal_code,
            id_number=ship_to.id_number,
        ),
        lines=tuple(
            OrderLine(
                line_id=line.line_id,
                sku=line.sku,
                quantity=line.quantity,
                unit_price=_decimal(line.unit_price),
            )
            for line in intake.lines
        ),
        notes=intake.notes,
        attributes=dict(intake.attributes),
    )


def _decimal(value: str | None) -> Decimal | None:
    return Decimal(value) if value is not None else None


def _digits(phone: str) -> str:
    return "".join(c for c in phone if c.isdigit() or c == "+")
