"""How each supplier is doing: latency and error rate over recent calls, a circuit that stops
hammering a supplier that is not answering, and the state and score routing and operators see.

The circuit is a gate rather than the usual fail-fast breaker: a purchase order must wait for
its supplier (it is never sent to a second one while the first may still accept it), so while
the circuit is open callers wait at `admit()`; after the cool-down one probe goes through
(half-open) and its outcome closes or reopens the circuit.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import math
from collections.abc import Callable
from typing import Any

from gateway.domain.masking import mask_text
from gateway.infra.clock import Clock


class SupplierState(enum.StrEnum):
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"


class CircuitState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Circuit:
    def __init__(
        self,
        clock: Clock,
        *,
        failure_threshold: int = 5,
        cooldown_s: float = 5.0,
        max_cooldown_s: float = 60.0,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._clock = clock
        self.failure_threshold = failure_threshold
        self.base_cooldown_s = cooldown_s
        self.max_cooldown_s = max_cooldown_s
        self._on_change = on_change
        self.state = CircuitState.CLOSED
        self._consecutive_failures = 0
        self._opened_at = 0.0
        self._cooldown_s = cooldown_s
        self._probe_out = False
        self._changed = asyncio.Event()

    async def admit(self) -> None:
        """Wait until a call may go out."""
        while True:
            if self.state == CircuitState.CLOSED:
                return
            if self.state == CircuitState.OPEN:
                wait = self._opened_at + self._cooldown_s - self._clock.monotonic()
                if wait <= 0:
                    self._set(CircuitState.HALF_OPEN)
                    continue
                await self._wait_change_or(wait)
                continue
            if not self._probe_out:  # half-open: exactly one probe at a time
                self._probe_out = True
                return
            await self._wait_change_or(None)

    async def _wait_change_or(self, seconds: float | None) -> None:
        self._changed.clear()
        waiter = asyncio.ensure_future(self._changed.wait())
        try:
            if seconds is None:
                await waiter
            else:
                sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
                try:
                    await asyncio.wait([waiter, sleeper], return_when=asyncio.FIRST_COMPLETED)
                finally:
                    sleeper.cancel()
        finally:
            waiter.cancel()

    def success(self) -> None:
        self._consecutive_failures = 0
        self._probe_out = False
        self._cooldown_s = self.base_cooldown_s
        self._set(CircuitState.CLOSED)

    def failure(self) -> None:
        self._consecutive_failures += 1
        was_probe = self.state == CircuitState.HALF_OPEN
        self._probe_out = False
        if was_probe:
            self._cooldown_s = min(self.max_cooldown_s, self._cooldown_s * 2)
        if was_probe or self._consecutive_failures >= self.failure_threshold:
            self._opened_at = self._clock.monotonic()
            self._set(CircuitState.OPEN)

    def release_probe(self) -> None:
        """A probe ended without telling us anything about the supplier (cancelled)."""
        if self.state == CircuitState.HALF_OPEN:
            self._probe_out = False
            self._changed.set()

    def _set(self, state: CircuitState) -> None:
        if state != self.state:
            self.state = state
            self._changed.set()
            if self._on_change:
                self._on_change()


class SupplierHealth:
    """Live figures of one supplier, shared by its actor (writer), routing and the API."""

    WINDOW = 200
    DEGRADED_ERROR_RATE = 0.2
    MIN_CALLS_FOR_RATE = 10  # three failures of three calls is noise, not a degraded supplier

    def __init__(
        self,
        supplier_id: str,
        clock: Clock,
        on_change: Callable[[str], None] | None = None,
        *,
        name: str = "",
        adapter: str = "",
    ) -> None:
        self.supplier_id = supplier_id
        self.name = name or supplier_id
        self.adapter = adapter
        self._on_change = on_change
        self.circuit = Circuit(clock, on_change=self._changed)
        self.actor_down = False
        self.actor_error: str | None = None
        self.in_flight = 0
        self.queue_depth = 0
        self._latencies: collections.deque[float] = collections.deque(maxlen=self.WINDOW)
        self._outcomes: collections.deque[bool] = collections.deque(maxlen=self.WINDOW)
        # Kept up to date as calls come in, not counted and sorted at every read: routing reads
        # every supplier's score once per group of orders, far more often than calls end.
        self._failures = 0  # of the calls in `_outcomes`
        self._p95_ms: float | None = None
        self._p95_stale = False
        self._last_state = self.state

    def record(self, ok: bool, latency_s: float | None) -> None:
        """One call's outcome: ok means the supplier answered as a working system would."""
        outcomes = self._outcomes
        if len(outcomes) == outcomes.maxlen and not outcomes[0]:
            self._failures -= 1  # the oldest, about to drop out of the window, had failed
        outcomes.append(ok)
        if not ok:
            self._failures += 1
        if latency_s is not None:
            self._latencies.append(latency_s)
            self._p95_stale = True
        if ok:
            self.circuit.success()
        else:
            self.circuit.failure()
        self._maybe_changed()

    def set_actor_down(self, down: bool, error: str | None = None) -> None:
        self.actor_down = down
        self.actor_error = error if down else None
        self._changed()

    @property
    def error_rate(self) -> float:
        return self._failures / len(self._outcomes) if self._outcomes else 0.0

    @property
    def latency_p95_ms(self) -> float | None:
        if self._p95_stale:
            ordered = sorted(self._latencies)
            self._p95_ms = round(ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)] * 1000, 1)
            self._p95_stale = False
        return self._p95_ms

    @property
    def state(self) -> SupplierState:
        if self.actor_down:
            return SupplierState.DOWN
        if self.circuit.state != CircuitState.CLOSED:
            return SupplierState.DEGRADED
        if (
            len(self._outcomes) >= self.MIN_CALLS_FOR_RATE
            and self.error_rate > self.DEGRADED_ERROR_RATE
        ):
            return SupplierState.DEGRADED
        return SupplierState.UP

    @property
    def score(self) -> float:
        """0..1, higher is better: the share of calls that worked, discounted for slowness
        (a p95 of one second halves it). Routing strategy `score` ranks by it."""
        if self.actor_down:
            return 0.0
        p95 = self.latency_p95_ms or 0.0
        return round((1.0 - self.error_rate) / (1.0 + p95 / 1000.0), 4)

    @property
    def routable(self) -> bool:
        return not self.actor_down

    def snapshot(self) -> dict[str, Any]:
        """The supplier entry of `GET /api/v1/suppliers` and of `{p}/suppliers/{id}/health`."""
        return {
            "supplier_id": self.supplier_id,
            "name": self.name,
            "adapter": self.adapter,
            "state": self.state.value,
            "circuit": self.circuit.state.value,
            "queue_depth": self.queue_depth,
            "in_flight": self.in_flight,
            "latency_p95_ms": self.latency_p95_ms,
            "error_rate": round(self.error_rate, 4),
            "score": self.score,
            "calls": len(self._outcomes),
            # An exception's text may quote what the adapter was handling: mask it as a log is.
            "last_error": mask_text(self.actor_error) if self.actor_error else None,
        }

    def _changed(self) -> None:
        self._last_state = self.state
        if self._on_change:
            self._on_change(self.supplier_id)

    def _maybe_changed(self) -> None:
        if self.state != self._last_state:
            self._changed()
