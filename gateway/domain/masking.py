"""Masking of personal data (CONTRACT §1): phone numbers, names, street addresses, ID numbers.

Applied as a structlog processor, so no call site can forget it, and used to build the API's and
the feed's views of an order. Key-based rules catch the fields we know; a pattern sweep over every
string catches a phone or ID number that slipped into free text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from typing import Any

import msgspec

_MOBILE = re.compile(r"(?<!\d)(\+?86)?(1[3-9]\d)(\d{4})(\d{4})(?!\d)")
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{8})(\d{3}[\dXx])(?![0-9A-Za-z])")

PHONE_KEYS = frozenset({"phone", "mobile", "telephone", "tel"})
NAME_KEYS = frozenset({"receiver_name", "recipient", "consignee", "customer_name", "contact_name"})
STREET_KEYS = frozenset({"address1", "address2", "street", "street_address", "detail_address"})
ID_KEYS = frozenset({"id_number", "id_card", "identity_number"})
ADDRESS_KEYS = frozenset({"ship_to", "address", "shipping_address", "receiver"})
# An address is reduced to the parts that routing and operators need.
ADDRESS_KEEP = ("country", "region", "province", "city")


def mask_phone(phone: str) -> str:
    """`13812345678` → `138****5678`."""
    digits = "".join(c for c in phone if c.isdigit())
    if len(digits) >= 11 and digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if len(digits) >= 7:
        return f"{digits[:3]}****{digits[-4:]}"
    return "*" * len(digits)


def mask_name(name: str) -> str:
    """`张三` → `张*`; `John Smith` → `J*** S****`."""
    name = name.strip()
    if not name:
        return name
    if " " in name:
        return " ".join(mask_name(part) for part in name.split())
    return name[0] + "*" * max(1, len(name) - 1)


def mask_id_number(value: str) -> str:
    """Keep the region prefix and the last four characters."""
    if len(value) <= 8:
        return "*" * len(value)
    return f"{value[:4]}{'*' * (len(value) - 8)}{value[-4:]}"


def mask_address(address: Mapping[str, Any]) -> dict[str, Any]:
    """Province and city only (and the country and region code, which are not personal)."""
    return {key: address[key] for key in ADDRESS_KEEP if key in address}


def mask_text(text: str) -> str:
    """Mask mobile and ID numbers wherever they appear in free text."""
    text = _ID_NUMBER.sub(lambda m: f"{m.group(1)[:4]}{'*' * 10}{m.group(3)[-4:]}", text)
    return _MOBILE.sub(lambda m: f"{m.group(2)}****{m.group(4)}", text)


def mask_value(key: str | None, value: Any) -> Any:
    """The masked form of one value, given the key it sits under."""
    if isinstance(value, int) and key in PHONE_KEYS:
        return mask_phone(str(value))  # a phone number logged as a number
    if isinstance(value, str):
        if key in PHONE_KEYS:
            return mask_phone(value)
        if key in NAME_KEYS:
            return mask_name(value)
        if key in STREET_KEYS:
            return "***"
        if key in ID_KEYS:
            return mask_id_number(value)
        return mask_text(value)
    if isinstance(value, msgspec.Struct):
        value = msgspec.to_builtins(value)  # an Address or Order logged whole
    if isinstance(value, Mapping):
        if key in ADDRESS_KEYS:
            return mask_address(value)
        return {k: mask_value(k, v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_value(key, item) for item in value]
    return value


def mask_event_dict(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask every value of a log event."""
    for key, value in event_dict.items():
        if isinstance(value, str | int | Mapping | list | tuple | msgspec.Struct):
            event_dict[key] = mask_value(key, value)
    return event_dict
