"""Properties of intake, notices, signatures and masking over generated input (issue 6): every
valid order and notice is taken, anything else is refused with problems that name where, and
nothing a client sends raises anything but the two refusals the API turns into 4xx."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gateway.domain.intake import InvalidJson, decode_order, normalise, split_body
from gateway.domain.masking import mask_text
from gateway.domain.notices import (
    InvalidNotice,
    SignatureCheck,
    check_signature,
    decode_notice,
    normalise_code,
    shipped_at_problems,
    sign,
)
from gateway.domain.validation import MAX_PROBLEMS, QUOTE_LIMIT, ValidationFailed
from tests.strategies import (
    NOW,
    cn_mobiles,
    encode,
    json_values,
    orders_with_one_bad_field,
    valid_notices,
    valid_orders,
)

# Bounded so that the whole file stays within a few seconds; derandomized so that a failure
# reproduces (hypothesis prints the example).
FAST = settings(
    max_examples=60,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def judged(raw: bytes) -> list[tuple[str, str]] | None:
    """None when the order is taken, else its problems as (path, message); raises whatever
    else decode_order raises (which is what the properties forbid)."""
    try:
        decode_order(raw)
    except ValidationFailed as failed:
        return [(p.json_path(), p.message) for p in failed.problems]
    except InvalidJson as error:
        return [("$", str(error))]
    return None


@FAST
@given(valid_orders())
def test_every_valid_order_is_taken_and_normalised(order: dict[str, Any]) -> None:
    intake = decode_order(encode(order))
    canonical = normalise(intake, order_id="ord_p", received_at=NOW)
    assert canonical.external_id == order["external_id"]
    assert canonical.ship_to.region.startswith("CN-")
    assert [line.quantity for line in canonical.lines] == [q["quantity"] for q in order["lines"]]
    # A batch of it is one element that is the same order.
    [element] = split_body(encode({"orders": [order]})) or []
    assert decode_order(element).external_id == order["external_id"]


@FAST
@given(orders_with_one_bad_field())
def test_an_order_with_a_bad_field_is_refused_naming_that_field(
    case: tuple[dict[str, Any], str],
) -> None:
    order, field = case
    problems = judged(encode(order))
    assert problems, f"{field}={order[field]!r} was taken"
    assert any(path.startswith(f"$.{field}") for path, _ in problems), problems


@FAST
@given(json_values)
@example([])
@example({"orders": None})
@example("x" * 100_000)
def test_any_json_is_taken_or_refused_with_short_messages(value: Any) -> None:
    problems = judged(encode(value))
    if problems is None:
        return
    assert 1 <= len(problems) <= 2 * MAX_PROBLEMS + 2
    for path, message in problems:
        assert path.startswith("$")
        assert len(message) <= 200 + 2 * QUOTE_LIMIT, message


@FAST
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
@example(b"[" * 5000 + b"]" * 5000)
@example(b'{"external_id": 5, ')
@example(b'{"external_id": 1e400}')
def test_any_bytes_are_refused_as_json_or_as_an_order_never_otherwise(raw: bytes) -> None:
    judged(raw)  # raises nothing else
    with contextlib.suppress(InvalidJson, ValidationFailed):
        split_body(raw)


@FAST
@given(valid_notices())
def test_every_valid_notice_is_taken_with_its_codes_normalised(notice: dict[str, Any]) -> None:
    decoded = decode_notice(encode(notice))
    assert decoded.carrier == normalise_code(notice["carrier"])
    assert normalise_code(decoded.carrier) == decoded.carrier  # idempotent
    assert shipped_at_problems(decoded.shipped_at, NOW) == []


@FAST
@given(json_values | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
@example('{"po_id": 5, ')
def test_any_notice_body_is_taken_or_refused_never_otherwise(value: Any) -> None:
    raw = value.encode() if isinstance(value, str) else encode(value)
    with contextlib.suppress(InvalidNotice, ValidationFailed):
        decode_notice(raw)


@FAST
@given(st.text(min_size=1, max_size=40), st.binary(max_size=200))
def test_a_fresh_signature_is_valid_and_any_change_is_not(secret: str, body: bytes) -> None:
    now = time.time()
    header = sign(secret, body, int(now))
    moment = NOW.fromtimestamp(now, tz=NOW.tzinfo)
    assert check_signature(secret, body, header, moment, 300) == SignatureCheck.VALID
    assert check_signature(secret, body + b"x", header, moment, 300) == SignatureCheck.MISMATCH
    late = NOW.fromtimestamp(now + 301, tz=NOW.tzinfo)
    assert check_signature(secret, body, header, late, 300) == SignatureCheck.STALE


@FAST
@given(st.text(max_size=120))
@example("sha256=é")
@example("t=1,sha256=签名")
@example("t=99999999999999999999,sha256=" + "0" * 64)
def test_any_signature_header_is_judged_never_raises(header: str) -> None:
    result = check_signature("secret", b"{}", header, NOW, 300)
    assert result != SignatureCheck.VALID


@FAST
@given(cn_mobiles, st.text(max_size=30), st.text(max_size=30))
def test_a_mobile_number_is_masked_wherever_it_sits_in_text(
    phone: str, before: str, after: str
) -> None:
    for text in (
        f"{before}{phone}{after}",
        f"{before} tel {phone[:3]} {phone[3:7]} {phone[7:]} {after}",
        f"{before}waybill 2026{phone}{after}",
        f"{before}+86 {phone}{after}",
    ):
        assert phone not in mask_text(text).replace(" ", ""), text


@FAST
@given(st.from_regex(r"\A\+[1-9][0-9]{1,3} [0-9]{2,4} [0-9]{4} [0-9]{4}\Z"), st.text(max_size=20))
def test_an_international_number_is_masked(number: str, around: str) -> None:
    masked = mask_text(f"call {number} {around}")
    digits = "".join(c for c in number if c.isdigit())
    assert digits not in "".join(c for c in masked if c.isdigit())
    assert "****" in masked
