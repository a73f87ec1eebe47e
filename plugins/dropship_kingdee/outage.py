"""Waiting out a K3Cloud that is away: doubling pauses, logged once when it goes and once when
it is back, never a line per failed attempt."""

from __future__ import annotations

from typing import Any

from dropship_kingdee.errors import KingdeeAuthFailed, KingdeeBusinessError, KingdeeError
from dropship_kingdee.options import KingdeeOptions


class Outage:
    def __init__(self, what: str, options: KingdeeOptions, log: Any) -> None:
        self._what = what
        self._options = options
        self._log = log
        self._failures = 0

    @property
    def away(self) -> bool:
        return self._failures > 0

    def succeeded(self) -> None:
        if self._failures:
            self._log.info("kingdee.back", part=self._what, failed_attempts=self._failures)
        self._failures = 0

    def failed(self, error: KingdeeError) -> float:
        """How long to wait before the next attempt."""
        options = self._options
        retry_after: float | None = getattr(error, "retry_after", None)
        delay: float = min(options.retry_base_s * 2**self._failures, options.retry_max_s)
        if isinstance(error, KingdeeAuthFailed | KingdeeBusinessError):
            delay = options.retry_max_s  # a person has to change something first
        if retry_after:
            delay = max(delay, retry_after)
        if self._failures == 0:
            event = (
                "kingdee.auth_failed"
                if isinstance(error, KingdeeAuthFailed)
                else "kingdee.refused"
                if isinstance(error, KingdeeBusinessError)
                else "kingdee.unavailable"
            )
            self._log.error(event, part=self._what, error=str(error), retry_in_s=delay)
        self._failures += 1
        return delay
