"""Personal data never reaches the logs unmasked (CONTRACT §1): phones as 138****5678, names
as 张*, addresses as province and city only, ID numbers with the middle hidden."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from gateway.actors.supplier_health import SupplierHealth
from gateway.domain.masking import (
    _mask_patterns,
    mask_address,
    mask_event_dict,
    mask_id_number,
    mask_name,
    mask_phone,
    mask_text,
    mask_value,
)
from gateway.domain.model import Address
from gateway.infra.clock import FakeClock
from gateway.infra.logs import LogFormat, configure_logging

PHONE = "13812345678"
ID_NUMBER = "33010619900101123X"
SHIP_TO: dict[str, Any] = {
    "name": "张三",
    "phone": PHONE,
    "country": "CN",
    "region": "CN-ZJ",
    "province": "浙江省",
    "city": "杭州市",
    "district": "西湖区",
    "address1": "文三路 100 号",
    "postal_code": "310000",
    "id_number": ID_NUMBER,
}
# What must never appear in a log line.
SECRETS = (PHONE, "张三", "文三路", "西湖区", ID_NUMBER, "19900101")


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("13812345678", "138****5678"),
        ("+86 138-1234-5678", "138****5678"),
        ("8613812345678", "138****5678"),
        ("021-6234 5678", "021****5678"),
        ("12345", "*****"),
    ],
)
def test_mask_phone(phone: str, masked: str) -> None:
    assert mask_phone(phone) == masked


@pytest.mark.parametrize(
    ("name", "masked"),
    [("张三", "张*"), ("张", "张*"), ("欧阳娜娜", "欧***"), ("John Smith", "J*** S****"), ("", "")],
)
def test_mask_name(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_mask_id_number_keeps_only_the_ends() -> None:
    assert mask_id_number(ID_NUMBER) == "3301**********123X"
    assert mask_id_number("1234") == "****"


def test_mask_address_keeps_only_country_region_province_and_city() -> None:
    assert mask_address(SHIP_TO) == {
        "country": "CN",
        "region": "CN-ZJ",
        "province": "浙江省",
        "city": "杭州市",
    }


def test_mask_text_finds_phones_and_id_numbers_in_free_text() -> None:
    text = f"call {PHONE} or +8613912345678; ID {ID_NUMBER}, id 330106199001011234."

    assert mask_text(text) == (
        "call 138****5678 or 139****5678; ID 3301**********123X, id 3301**********1234."
    )


@pytest.mark.parametrize(
    "text",
    [
        "order 20261123000112345678 has 3 lines",  # a long number that is neither
        "amount 12345678.90",
    ],
)
def test_mask_text_leaves_other_numbers_alone(text: str) -> None:
    assert mask_text(text) == text


def test_mask_value_by_key() -> None:
    assert mask_value("mobile", PHONE) == "138****5678"
    assert mask_value("consignee", "张三") == "张*"
    assert mask_value("street", "文三路 100 号") == "***"
    assert mask_value("id_card", ID_NUMBER) == "3301**********123X"
    assert mask_value("po_id", "po_123") == "po_123"


def test_mask_event_dict_masks_nested_ship_to_and_lists() -> None:
    event = {
        "event": f"order.received from {PHONE}",
        "order": {"order_id": "ord_1", "ship_to": dict(SHIP_TO)},
        "receivers": [{"tel": PHONE, "recipient": "张三"}],
        "lines": 3,
    }

    masked = mask_event_dict(None, "info", event)

    assert masked == {
        "event": "order.received from 138****5678",
        "order": {
            "order_id": "ord_1",
            "ship_to": {"country": "CN", "region": "CN-ZJ", "province": "浙江省", "city": "杭州市"},
        },
        "receivers": [{"tel": "138****5678", "recipient": "张*"}],
        "lines": 3,
    }


# -- the configured log pipeline --------------------------------------------------------------


@contextlib.contextmanager
def _logging_into_buffer(fmt: LogFormat) -> Iterator[io.StringIO]:
    """configure_logging into a buffer; the previous logging setup is restored after."""
    saved_structlog = structlog.get_config()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging(level="info", fmt=fmt, stream=stream)
    try:
        yield stream
    finally:
        structlog.configure(**saved_structlog)
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """The JSON format, the daemon's."""
    with _logging_into_buffer("json") as stream:
        yield stream


@pytest.fixture
def console_output() -> Iterator[io.StringIO]:
    """The console format (what a terminal, or `log.format = "console"`, gets)."""
    with _logging_into_buffer("console") as stream:
        yield stream


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_unicode_line_separators_cannot_start_a_forged_log_line(
    fmt: str, request: pytest.FixtureRequest
) -> None:
    """U+2028, U+2029 and U+0085 end a line for many readers (splitlines, log shippers): a
    client's text carrying them must stay on its one line in either format (issue 6)."""
    stream: io.StringIO = request.getfixturevalue(
        "log_output" if fmt == "json" else "console_output"
    )
    forged = 'SO-1\u2028{"event": "admin.login"}\u2029x\u0085y'
    structlog.get_logger("test").info(f"order {forged}", external_id=forged, notes=[forged])

    text = stream.getvalue()
    assert len(text.splitlines()) == 1, text
    for raw in ("\u2028", "\u2029", "\u0085"):
        assert raw not in text
    if fmt == "json":
        assert json.loads(text)["external_id"] == forged  # the escape decodes to the same


def log_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def assert_no_personal_data(stream: io.StringIO) -> None:
    text = stream.getvalue()
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, f"{leaked} in the log: {text}"


def test_logged_ship_to_and_phone_are_masked_in_the_json_line(log_output: io.StringIO) -> None:
    structlog.get_logger("test").info(
        "order.received", order_id="ord_1", ship_to=dict(SHIP_TO), phone=PHONE
    )

    [line] = log_lines(log_output)
    assert line["event"] == "order.received"
    assert line["level"] == "info"
    assert "ts" in line
    assert line["order_id"] == "ord_1"
    assert line["phone"] == "138****5678"
    assert line["ship_to"] == {
        "country": "CN",
        "region": "CN-ZJ",
        "province": "浙江省",
        "city": "杭州市",
    }
    assert_no_personal_data(log_output)


def test_standard_library_log_records_are_masked_too(log_output: io.StringIO) -> None:
    """Libraries log through `logging`; their messages pass the same masking."""
    logging.getLogger("some.library").warning("retrying for %s", PHONE)

    [line] = log_lines(log_output)
    assert line["event"] == "retrying for 138****5678"
    assert line["logger"] == "some.library"
    assert_no_personal_data(log_output)


def test_exception_text_in_a_log_line_is_masked(log_output: io.StringIO) -> None:
    """Regression: tracebacks were rendered after the masking processor, so an exception
    message quoting a phone (the supervisor logs crashes with exc_info) went out unmasked."""
    try:
        raise ValueError(f"supplier rejected phone {PHONE}")
    except ValueError as error:
        structlog.get_logger("test").error("actor.crashed", exc_info=error)

    assert "exception" in log_lines(log_output)[0]
    assert_no_personal_data(log_output)


def test_a_ship_to_logged_as_an_address_struct_is_masked(log_output: io.StringIO) -> None:
    """Regression: only dicts, lists and strings were masked; an Address Struct was encoded
    whole (name, phone, street) by the JSON renderer."""
    fields = {k: v for k, v in SHIP_TO.items() if k != "postal_code"}
    structlog.get_logger("test").info("order.received", ship_to=Address(**fields))

    assert_no_personal_data(log_output)


def test_a_phone_logged_as_a_number_is_masked() -> None:
    assert mask_value("phone", 13812345678) == "138****5678"
    assert mask_value("quantity", 13812345678) == 13812345678  # other numbers are left alone


def test_a_supplier_error_quoting_a_phone_is_masked_in_its_health() -> None:
    """A supplier's `last_error` goes to the API, the retained health topic and alerts."""
    health = SupplierHealth("sup", FakeClock())
    health.set_actor_down(True, "KeyError: 'no route for 13812345678'")
    assert health.snapshot()["last_error"] == "KeyError: 'no route for 138****5678'"


# Lower-case ASCII prose with the words the name patterns look for: what the shortcut in
# mask_text passes unscanned, so every pattern must leave it as it is.
_UNSCANNED = st.text(
    alphabet=st.sampled_from(list("abcdefghijklmnopqrstuvwxyz .,:;-+()_/'\"\n")),
    max_size=80,
) | st.lists(
    st.sampled_from(["deliver", "to", "customer", "name", "mr", "street", "road", "tel", "+"]),
    max_size=12,
).map(" ".join)


@given(_UNSCANNED)
def test_text_the_shortcut_passes_holds_nothing_any_pattern_would_mask(text: str) -> None:
    assert _mask_patterns(text) == text
    assert mask_text(text) == text
