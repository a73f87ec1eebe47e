"""Helpers for adapters that speak HTTP to their supplier or shop."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """A `Retry-After` header as seconds to wait: delta-seconds or an HTTP date (RFC 9110
    §10.2.3), a date in the past as 0; None when absent or unreadable. Give it to
    `SupplierUnavailable(retry_after=...)` and the gateway waits that long before the retry."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())
