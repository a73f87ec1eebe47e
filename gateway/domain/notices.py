"""Shipment notices from suppliers (CONTRACT §3, `POST /api/v1/suppliers/{id}/shipments`):
the wire format, its signature, and the normal form of what it says.

Signature: `X-Signature: t=<unix seconds>,sha256=<hex HMAC-SHA256 of "<t>." + raw body>`, with
`t` within the supplier's window of the gateway's clock, so a captured notice cannot be replayed
later. The older `sha256=<hex HMAC-SHA256 of the raw body>` is accepted only where the supplier's
config asks for it (`legacy_signature = true`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated

import msgspec
from msgspec import Meta

from gateway.domain.fields import AwareDatetime, Identifier, Quantity, Text
from gateway.domain.json_depth import exceeds_depth
from gateway.domain.validation import (
    FLOAT_FOR_INT,
    Problem,
    ValidationFailed,
    collect_problems,
)

SIGNATURE_HEADER = "X-Signature"
SIGNATURE_SCHEME = "sha256="
# How far in the future a shipment may say it left: clocks disagree a little, not by days.
SHIPPED_AT_MAX_AHEAD = timedelta(minutes=10)
# Before this no PO of ours can have existed; a notice from 1970 is a bug or a forgery.
SHIPPED_AT_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


class ShipmentNoticeLine(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    sku: Identifier
    quantity: Quantity


class ShipmentNotice(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    po_id: Identifier
    carrier: Text
    tracking_number: Annotated[str, Meta(min_length=1, max_length=64)]
    shipped_at: AwareDatetime | None = None
    # Empty: everything left on the PO shipped.
    lines: Annotated[list[ShipmentNoticeLine], Meta(max_length=500)] = []


class InvalidNotice(ValueError):
    """The body is not JSON (or nests too deeply)."""


_notice_decoder = msgspec.json.Decoder(ShipmentNotice)
_any_decoder = msgspec.json.Decoder()


def decode_notice(body: bytes) -> ShipmentNotice:
    """Decode and validate a notice: InvalidNotice when it is not JSON, ValidationFailed with
    every problem when it is JSON but not a notice. Carrier and tracking number come back in
    their normal form (`normalise_code`)."""
    try:
        notice = _notice_decoder.decode(body)
    except msgspec.ValidationError:
        # Mistyped, and perhaps also malformed further on (`{"po_id": 5, `): parse it
        # untyped to tell which, then list every problem.
        if exceeds_depth(body):
            raise InvalidNotice("JSON nested too deeply") from None
        try:
            value = _any_decoder.decode(body)
        except msgspec.DecodeError as error:
            raise InvalidNotice(str(error)) from None
        problems = collect_problems(value, ShipmentNotice)
        # `"quantity": 2.0` is the whole number 2: JSON has one kind of number.
        if not problems or any(p.message.startswith(FLOAT_FOR_INT) for p in problems):
            try:
                notice = msgspec.convert(_whole_numbers(value), ShipmentNotice)
                problems = []
            except msgspec.ValidationError as error:
                problems = problems or [Problem((), str(error))]
        if problems:
            raise ValidationFailed(problems) from None
    except msgspec.DecodeError as error:
        raise InvalidNotice(str(error)) from None
    except RecursionError:
        raise InvalidNotice("JSON nested too deeply") from None
    return msgspec.structs.replace(
        notice,
        carrier=normalise_code(notice.carrier),
        tracking_number=normalise_code(notice.tracking_number),
    )


def _whole_numbers(value: object) -> object:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(v) for v in value]
    return value


_SPACES = re.compile(r"\s+")


def normalise_code(code: str) -> str:
    """A carrier code or tracking number in one form, so that `SF`, `sf`, ` SF ` and the
    full-width `ＳＦ` are one carrier and a notice repeated in another spelling is recognised
    as the same shipment: Unicode NFKC, upper case, inner spaces collapsed, ends trimmed."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", code)).strip().upper()


def shipped_at_problems(
    shipped_at: datetime | None, now: datetime, po_created_at: datetime | None = None
) -> list[Problem]:
    """A shipment cannot leave before its PO existed, nor later than now (either beyond
    SHIPPED_AT_MAX_AHEAD of clock skew), nor before SHIPPED_AT_EARLIEST."""
    if shipped_at is None:
        return []
    where = ("shipped_at",)
    if shipped_at > now + SHIPPED_AT_MAX_AHEAD:
        ahead = SHIPPED_AT_MAX_AHEAD.total_seconds() / 60
        return [Problem(where, f"is in the future (more than {ahead:g} minutes ahead)")]
    if shipped_at < SHIPPED_AT_EARLIEST:
        return [Problem(where, f"is before {SHIPPED_AT_EARLIEST.year}: not a real shipment date")]
    if po_created_at is not None and shipped_at < po_created_at - SHIPPED_AT_MAX_AHEAD:
        return [Problem(where, "is before the purchase order was created")]
    return []


# -- signatures --------------------------------------------------------------------------------


class SignatureCheck(StrEnum):
    """The outcome of checking a notice's signature; all but VALID are refusals."""

    VALID = "valid"
    MISSING = "missing"
    MALFORMED = "malformed"
    STALE = "stale"  # its timestamp is outside the window
    MISMATCH = "mismatch"


_TIMESTAMPED = re.compile(r"t=(?P<t>[0-9]{1,12}),sha256=(?P<digest>[0-9a-fA-F]{64})")
_BODY_ONLY = re.compile(r"sha256=(?P<digest>[0-9a-fA-F]{64})")


def _hmac_hex(secret: str, *parts: bytes) -> str:
    mac = hmac.new(secret.encode(), digestmod=hashlib.sha256)
    for part in parts:
        mac.update(part)
    return mac.hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The `X-Signature` value a supplier sends: `t=<timestamp>,sha256=<hex HMAC-SHA256 of
    "<timestamp>." + the raw body>`."""
    return f"t={timestamp},sha256={_hmac_hex(secret, f'{timestamp}.'.encode(), body)}"


def sign_legacy(secret: str, body: bytes) -> str:
    """The older `X-Signature` value: `sha256=<hex HMAC-SHA256 of the raw body>`."""
    return SIGNATURE_SCHEME + _hmac_hex(secret, body)


def check_signature(
    secret: str,
    body: bytes,
    header: str | None,
    now: datetime,
    window_s: float,
    *,
    legacy: bool = False,
) -> SignatureCheck:
    """Check a notice's signature against the supplier's secret, in constant time."""
    if header is None or not header.strip():
        return SignatureCheck.MISSING
    header = header.strip()
    if not header.isascii():
        return SignatureCheck.MALFORMED
    timestamped = _TIMESTAMPED.fullmatch(header)
    if timestamped is not None:
        timestamp = int(timestamped.group("t"))
        if abs(now.timestamp() - timestamp) > window_s:
            return SignatureCheck.STALE
        expected = _hmac_hex(secret, f"{timestamp}.".encode(), body)
        given = timestamped.group("digest").lower()
    elif legacy and (body_only := _BODY_ONLY.fullmatch(header)) is not None:
        expected = _hmac_hex(secret, body)
        given = body_only.group("digest").lower()
    else:
        return SignatureCheck.MALFORMED
    if hmac.compare_digest(expected.encode(), given.encode()):
        return SignatureCheck.VALID
    return SignatureCheck.MISMATCH
