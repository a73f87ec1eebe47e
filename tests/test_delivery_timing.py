"""The timers of delivery, on a FakeClock (no real time passes): the circuit, the retry
schedule (full jitter, Retry-After), giving up, and the poison limit."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from typing import Any

import pytest
from tenacity import RetryCallState

from gateway.actors.supplier import AdapterError, GiveUp, PoisonLimit, RetrySchedule
from gateway.actors.supplier_health import Circuit, CircuitState
from gateway.infra.clock import FakeClock
from gateway.plugin_api import SupplierUnavailable


def failed_attempt(number: int, error: BaseException) -> RetryCallState:
    """The state tenacity hands its strategies after attempt `number` raised `error`."""
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.attempt_number = number
    state.set_exception((type(error), error, None))
    return state


async def waiting(clock: FakeClock, n: int) -> None:
    async with asyncio.timeout(5):
        await clock.wait_sleepers(n)


# -- circuit ---------------------------------------------------------------------------------------


async def test_the_circuit_opens_after_the_threshold_and_holds_calls_back() -> None:
    clock = FakeClock()
    changes: list[CircuitState] = []
    circuit = Circuit(
        clock, failure_threshold=3, cooldown_s=5, on_change=lambda: changes.append(circuit.state)
    )
    for _ in range(2):
        circuit.failure()
    assert circuit.state == CircuitState.CLOSED
    await circuit.admit()  # closed: no wait at all
    circuit.failure()
    assert circuit.state == CircuitState.OPEN
    assert changes == [CircuitState.OPEN]

    caller = asyncio.create_task(circuit.admit())
    await waiting(clock, 1)  # the caller waits out the cool-down on the clock
    clock.advance(4.9)
    assert clock.sleeping == 1  # not yet
    clock.advance(0.1)
    async with asyncio.timeout(5):
        await caller  # the cool-down is over: it goes out as the probe
    assert circuit.state == CircuitState.HALF_OPEN


async def test_half_open_lets_one_probe_through_and_its_outcome_decides() -> None:
    clock = FakeClock()
    circuit = Circuit(clock, failure_threshold=1, cooldown_s=5, max_cooldown_s=60)
    circuit.failure()
    clock.advance(5)
    await circuit.admit()  # the probe
    second = asyncio.create_task(circuit.admit())
    # One loop turn runs the new task's first step, which ends where admit() waits (it has no
    # other await before): deterministic, not a guess at how long something takes.
    await asyncio.sleep(0)
    assert not second.done(), "a second call went out while the probe was out"
    circuit.failure()  # the probe failed: open again, with a doubled cool-down
    assert circuit.state == CircuitState.OPEN
    # Had the second call gone out beside the probe, it would not wait here on the clock.
    await waiting(clock, 1)
    assert not second.done()
    clock.advance(9.9)
    assert clock.sleeping == 1  # not yet
    clock.advance(0.1)
    async with asyncio.timeout(5):
        await second  # after 10 s it is the next probe
    circuit.success()
    assert circuit.state == CircuitState.CLOSED
    await circuit.admit()


async def test_a_probe_that_ends_without_an_answer_lets_the_next_one_go() -> None:
    clock = FakeClock()
    circuit = Circuit(clock, failure_threshold=1, cooldown_s=1)
    circuit.failure()
    clock.advance(1)
    await circuit.admit()
    waiter = asyncio.create_task(circuit.admit())
    circuit.release_probe()  # the probe was cancelled: it told us nothing
    async with asyncio.timeout(5):
        await waiter


# -- retry schedule --------------------------------------------------------------------------------


@pytest.mark.parametrize("attempt", [1, 2, 3, 6, 12])
def test_retry_waits_are_full_jitter_within_the_exponential_ceiling(attempt: int) -> None:
    random.seed(attempt)
    schedule = RetrySchedule(base_s=0.5, max_s=60)
    ceiling = min(60, 0.5 * 2 ** (attempt - 1))
    state = failed_attempt(attempt, SupplierUnavailable("503"))
    waits = [schedule(state) for _ in range(2000)]
    assert all(0 <= w <= ceiling for w in waits)
    # Full jitter: the whole range is used, from near zero to near the ceiling.
    assert min(waits) < ceiling * 0.05
    assert max(waits) > ceiling * 0.95


def test_retry_after_is_honoured_with_a_little_jitter_on_top() -> None:
    random.seed(1)
    schedule = RetrySchedule(base_s=0.5, max_s=60)
    state = failed_attempt(1, SupplierUnavailable("429", retry_after=30))
    waits = [schedule(state) for _ in range(500)]
    assert all(30 <= w <= 30.5 for w in waits)


# -- giving up and the poison limit ---------------------------------------------------------------


def test_give_up_counts_from_the_pos_creation_not_from_the_first_attempt() -> None:
    clock = FakeClock()
    created = clock.now() - timedelta(seconds=50)  # made before a restart, say
    give_up = GiveUp(clock, created, give_up_after_s=60)
    state = failed_attempt(1, SupplierUnavailable("down"))
    assert not give_up(state)
    clock.advance(9.9)
    assert not give_up(state)
    clock.advance(0.1)
    assert give_up(state)


def test_the_poison_limit_counts_only_the_adapters_own_errors_and_resumes_a_count() -> None:
    limit = PoisonLimit(errors_so_far=2, limit=4)  # two recorded before a restart
    unavailable: Any = failed_attempt(1, SupplierUnavailable("503"))
    poison: Any = failed_attempt(2, AdapterError("KeyError: 'x'"))
    assert not limit(unavailable)
    assert not limit(unavailable)
    assert limit.errors == 2
    assert not limit(poison)
    assert limit.errors == 3
    assert limit(poison)
