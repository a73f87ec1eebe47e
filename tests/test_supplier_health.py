"""A supplier's live figures keep up with the calls: error rate and p95 latency over the last
`WINDOW` calls, as routing and `GET /suppliers` read them."""

from __future__ import annotations

import math
import random

from gateway.actors.supplier_health import SupplierHealth, SupplierState
from gateway.infra.clock import FakeClock


def _p95_ms(latencies: list[float]) -> float | None:
    if not latencies:
        return None
    ordered = sorted(latencies)
    return round(ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)] * 1000, 1)


def test_error_rate_and_p95_follow_the_last_window_of_calls() -> None:
    """Checked after every call against the figures counted afresh from the calls themselves,
    across the window filling up, sliding, and calls that end without a latency (cancelled)."""
    health = SupplierHealth("sup-a", FakeClock())
    window = SupplierHealth.WINDOW
    rng = random.Random(5)
    calls: list[bool] = []
    latencies: list[float] = []
    assert health.error_rate == 0.0
    assert health.latency_p95_ms is None
    for index in range(3 * window):
        ok = rng.random() > (0.5 if index < window else 0.05)  # a bad patch, then recovery
        latency = None if index % 7 == 0 else rng.uniform(0.001, 2.0)
        health.record(ok, latency)
        calls.append(ok)
        if latency is not None:
            latencies.append(latency)
        recent = calls[-window:]
        assert health.error_rate == recent.count(False) / len(recent), index
        assert health.latency_p95_ms == _p95_ms(latencies[-window:]), index
    assert health.state == SupplierState.UP  # the bad patch has left the window
    p95 = _p95_ms(latencies[-window:])
    assert p95 is not None
    assert health.score == round((1.0 - health.error_rate) / (1.0 + p95 / 1000), 4)
