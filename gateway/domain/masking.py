"""Masking of personal data (CONTRACT §1): phone numbers, names, street addresses, ID numbers.

Applied as a structlog processor, so no call site can forget it, and used to build the API's and
the feed's views of an order. Key-based rules catch the fields we know; a pattern sweep over every
string (`mask_text`) catches what slipped into free text: ID numbers, phones (Chinese mobiles also
inside longer digit runs, international `+44 20 7946 0958`, grouped landlines), street addresses
(`文三路 100 号`, `221B Baker Street`) and names after words that introduce one (`收件人 张三`,
`deliver to John Smith`).

Free text from outside (a supplier's refusal that quotes the customer) is best masked where it
comes in, knowing whose order it is: `mask_text(text, known=order.ship_to)` also hides that
person's exact name, street, phone and ID number wherever they appear.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from typing import Any

import msgspec

_MOBILE = re.compile(r"(?<!\d)(\+?86)?(1[3-9]\d)(\d{4})(\d{4})(?!\d)")
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{8})(\d{3}[\dXx])(?![0-9A-Za-z])")
# A Chinese mobile anywhere in a longer run of digits ("2026112313812345678"), or written in
# groups ("138 1234 5678", "138-1234-5678").
_MOBILE_IN_RUN = re.compile(r"(1[3-9]\d)[ -]?(\d{4})[ -]?(\d{4})")
_DIGIT_RUN = re.compile(r"\d[\d -]{9,}\d")
# International numbers: "+447946095812", "+44 20 7946 0958", "+1 (415) 555-2671", "0044 ...".
_LATIN_WORD = "0-9A-Za-z_"
_INTERNATIONAL = re.compile(
    rf"(?<![{_LATIN_WORD}+])(?:\+|00)[1-9][\d ()\-]{{5,22}}\d(?![{_LATIN_WORD}])"
)
# Numbers written in groups: "(020) 7946 0958", "021-6234 5678" (8 digits or more).
_GROUPED = re.compile(
    rf"(?<![{_LATIN_WORD}+])\(?\d{{2,5}}\)?(?:[ \-]\(?\d{{2,5}}\)?){{1,4}}(?![{_LATIN_WORD}])"
)
_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}")
# Every pattern below needs a digit, a CJK character or a capital letter: ASCII text with no
# digit and no capital holds nothing to mask, and is passed by one scan instead of nine.
_MAYBE_PERSONAL = re.compile(r"[0-9A-Z]")
# Street addresses. Chinese: a road name and a house number (the city before it is kept).
_CN_STREET = re.compile(
    r"(?:(?![省市区县镇])[\u4e00-\u9fff]){1,12}?(?:大道|胡同|路|街|巷|弄|道)\s*\d+\s*[号號]"
    r"(?:\s*\d+\s*(?:号楼|栋|幢|单元|室|层|楼))*"
)
_EN_STREET = re.compile(
    r"\b\d{1,5}[A-Za-z]?,?\s+(?:[A-Z][A-Za-z'.-]*\s+){1,4}"
    r"(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Dr|Boulevard|Blvd|Way|Court|Ct|Place|Pl"
    r"|Terrace|Close|Crescent|Square|Highway|Hwy)\b\.?"
)
# Names after a word that introduces one. A place (…省, …市, …区, …县) is not a name.
_PLACE_END = "省市区县镇乡村路街道号"
_CN_NAME = re.compile(
    r"(收件人|收货人|联系人|客户|顾客|姓名|寄给|送给|给|致|(?i:to|for|name|customer|recipient))"
    rf"([:：\s]*)((?:(?![{_PLACE_END}])[\u4e00-\u9fff·]){{2,4}})(?![{_PLACE_END}])"
)
_CAPITALISED = r"[A-Z][a-z]+"
_EN_NAME = re.compile(
    # a title or a word for the person, then one to three capitalised words ...
    r"\b((?i:recipient|customer|consignee|attn|contact|name)\b[:\s]\s*|(?:Mr|Mrs|Ms|Miss|Dr)\.?\s+)"
    rf"({_CAPITALISED}(?:[ -]{_CAPITALISED}){{0,2}})\b"
    # ... or "deliver to" and two or three ("deliver to Hangzhou" names no one)
    rf"|\b((?i:deliver|ship|send|sent|addressed)\s+(?i:to)\s+)"
    rf"({_CAPITALISED}(?:[ -]{_CAPITALISED}){{1,2}})\b"
)


def _mask_en_name(match: re.Match[str]) -> str:
    if match.group(1) is not None:
        return match.group(1) + mask_name(match.group(2))
    return match.group(3) + mask_name(match.group(4))


PHONE_KEYS = frozenset({"phone", "mobile", "telephone", "tel"})
NAME_KEYS = frozenset({"receiver_name", "recipient", "consignee", "customer_name", "contact_name"})
STREET_KEYS = frozenset({"address1", "address2", "street", "street_address", "detail_address"})
ID_KEYS = frozenset({"id_number", "id_card", "identity_number"})
ADDRESS_KEYS = frozenset({"ship_to", "address", "shipping_address", "receiver"})
# Identifiers are never personal data, and a pattern must not mangle them (a tracking number
# can look like a phone number).
IDENTIFIER_KEYS = frozenset(
    {
        "order_id",
        "po_id",
        "external_id",
        "shipment_id",
        "event_id",
        "supplier_id",
        "supplier_ref",
        "tracking_number",
        "carrier",
        "sku",
        "line_id",
        "channel",
        "channel_id",
    }
)
# Added to every log line by the logging chain itself, never from outside: nothing to mask.
_LOG_CHAIN_KEYS = frozenset({"ts", "level", "logger"})
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


def mask_text(text: str, known: Any = None) -> str:
    """Mask personal data wherever it appears in free text (see the module doc).

    `known`: the person the text is about (an Address, or a mapping with the same keys), whose
    exact name, street lines, phone and ID number are masked wherever they appear too.
    """
    if known is not None:
        text = _mask_known(text, known)
    elif text.isascii() and not _MAYBE_PERSONAL.search(text):
        return text  # the common log value ("order.routed", "sent"): no pattern can match
    return _mask_patterns(text)


def _mask_patterns(text: str) -> str:
    text = _ID_NUMBER.sub(lambda m: f"{m.group(1)[:4]}{'*' * 10}{m.group(3)[-4:]}", text)
    text = _MOBILE.sub(lambda m: f"{m.group(2)}****{m.group(4)}", text)
    text = _DIGIT_RUN.sub(_mask_mobile_in_run, text)
    text = _INTERNATIONAL.sub(_mask_number, text)
    text = _GROUPED.sub(_mask_number, text)
    text = _CN_STREET.sub("***", text)
    text = _EN_STREET.sub("***", text)
    text = _CN_NAME.sub(lambda m: m.group(1) + m.group(2) + mask_name(m.group(3)), text)
    return _EN_NAME.sub(_mask_en_name, text)


def _mask_mobile_in_run(match: re.Match[str]) -> str:
    return _MOBILE_IN_RUN.sub(lambda m: f"{m.group(1)}****{m.group(3)}", match.group())


def _mask_number(match: re.Match[str]) -> str:
    number = match.group()
    digits = sum(c.isdigit() for c in number)
    if digits < 8 or _DATE.fullmatch(number):
        return number
    return ("+" if number.startswith("+") else "") + mask_phone(number)


def _mask_known(text: str, known: Any) -> str:
    fields = msgspec.to_builtins(known) if isinstance(known, msgspec.Struct) else known
    if not isinstance(fields, Mapping):
        return text
    for key in ("address1", "address2", "name", "id_number"):
        value = fields.get(key)
        if isinstance(value, str) and len(value.strip()) >= 2:
            if key == "name":
                masked = mask_name(value)
            else:
                masked = mask_id_number(value) if key == "id_number" else "***"
            text = re.sub(r"\s*".join(map(re.escape, value.split())), masked, text)
    phone = fields.get("phone")
    digits = "".join(c for c in phone if c.isdigit()) if isinstance(phone, str) else ""
    if len(digits) >= 7:
        # The same digits written with any separators between them.
        spaced = r"[\s\-().]*".join(digits[-11:] if len(digits) > 11 else digits)
        text = re.sub(spaced, mask_phone(digits), text)
    return text


def mask_value(key: str | None, value: Any) -> Any:
    """The masked form of one value, given the key it sits under."""
    if isinstance(value, int) and key in PHONE_KEYS:
        return mask_phone(str(value))  # a phone number logged as a number
    if key in IDENTIFIER_KEYS and isinstance(value, str | int):
        return value
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
    """structlog processor: mask every value of a log event (but the ones the chain adds)."""
    for key, value in event_dict.items():
        if key in _LOG_CHAIN_KEYS:
            continue
        if isinstance(value, str | int | Mapping | list | tuple | msgspec.Struct):
            event_dict[key] = mask_value(key, value)
    return event_dict
