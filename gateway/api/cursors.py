"""Opaque page cursors of `GET /api/v1/orders`: the position after which the next page starts."""

from __future__ import annotations

import base64
import binascii

# A cursor names an order's position in the store, a positive 63-bit integer.
_MAX_SEQ = 2**63 - 1


class BadCursor(ValueError):
    pass


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"s{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadCursor("not a cursor this API returned") from None
    digits = text[1:]
    if not text.startswith("s") or not digits.isascii() or not digits.isdigit():
        raise BadCursor("not a cursor this API returned")
    if len(digits) > 19 or not 0 < int(digits) <= _MAX_SEQ:
        raise BadCursor("not a cursor this API returned")
    return int(digits)
