"""Numbers in query strings, read the strict way: ASCII digits only (`²`, `①` and `٣` are
digits to `str.isdigit` but not to `int()`), a bounded length, a range."""

from __future__ import annotations

import re

# A positive 63-bit integer: what SQLite can hold.
MAX_INT64 = 2**63 - 1
_DIGITS = re.compile(r"[0-9]{1,19}")


def bounded_int(text: str, low: int, high: int) -> int | None:
    """`text` as an integer in `low..high`, or None when it is anything else."""
    if not _DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if low <= value <= high else None
