"""The per-token intake bucket (issue 9), on a clock the test moves."""

from __future__ import annotations

from gateway.infra.clock import FakeClock
from gateway.infra.rate_limit import RateLimiter, retry_after_header


def test_a_bucket_allows_its_burst_then_refills_at_its_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock, rate_per_s=2.0, burst=3)
    assert [limiter.acquire("erp") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("erp") == 0.5  # one token comes back every half second
    assert limiter.acquire("other") == 0.0  # each key has its own bucket
    clock.advance(0.25)
    assert limiter.acquire("erp") == 0.25
    clock.advance(0.25)
    assert limiter.acquire("erp") == 0.0
    clock.advance(60)
    assert [limiter.acquire("erp") for _ in range(4)] == [0.0, 0.0, 0.0, 0.5]  # never past burst


def test_a_zero_rate_turns_the_limit_off() -> None:
    limiter = RateLimiter(FakeClock(), rate_per_s=0, burst=1)
    assert not limiter.enabled
    assert all(limiter.acquire("erp") == 0.0 for _ in range(100))


def test_retry_after_is_whole_seconds_rounded_up() -> None:
    assert [retry_after_header(w) for w in (0.01, 1.0, 1.2, 999.5)] == ["1", "1", "2", "1000"]
