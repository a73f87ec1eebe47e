"""Per-key token buckets (issue 9: a per-token limit on intake).

Hand-written on purpose (see the README's dependency table): the libraries we looked at either
wait for capacity instead of refusing (aiolimiter), count fixed or moving windows on wall time
with helper threads (limits), or cannot say how long to wait (token-bucket). A refusal must
carry an honest `Retry-After`, and tests drive time with the injected clock.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

from gateway.infra.clock import Clock

MAX_KEYS = 10_000  # buckets kept; the least recently used goes first (a full one is harmless)


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """`rate_per_s` requests a second per key, bursts of up to `burst`."""

    def __init__(self, clock: Clock, rate_per_s: float, burst: int) -> None:
        self._clock = clock
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.rate_per_s > 0

    def acquire(self, key: str) -> float:
        """Take one request for `key`: 0.0 if allowed, else the seconds until it would be."""
        if not self.enabled:
            return 0.0
        now = self._clock.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            if len(self._buckets) > MAX_KEYS:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket.tokens = min(
                float(self.burst), bucket.tokens + (now - bucket.at) * self.rate_per_s
            )
            bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate_per_s


def retry_after_header(wait_s: float) -> str:
    """Whole seconds, rounded up, at least 1 (RFC 9110 delta-seconds)."""
    return str(max(1, math.ceil(wait_s)))
