"""Supervisors (OTP style): restart with backoff, mark DOWN past the restart intensity, revive,
restart types, orderly stop. Time is a FakeClock; nothing here sleeps for real."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gateway.infra.clock import FakeClock
from gateway.infra.supervision import (
    ChildSpec,
    ChildState,
    ChildStatus,
    Ready,
    Restart,
    RestartPolicy,
    Supervisor,
)

POLICY = RestartPolicy(
    intensity=3, period_s=30.0, backoff_s=1.0, backoff_max_s=10.0, revive_after_s=100.0
)


class Boom(RuntimeError):
    pass


class Child:
    """A scripted child. Each incarnation counts itself, signals `started`, then behaves as
    `mode` says at that moment:

    - "crash": ready, then raise at once
    - "crash_early": raise before calling ready
    - "return": ready, then return normally
    - "run": ready, then serve until `crash_now` is set (then raise) or until cancelled
    """

    def __init__(self, name: str, mode: str = "run", log: list[str] | None = None) -> None:
        self.name = name
        self.mode = mode
        self.starts = 0
        self.started = asyncio.Event()
        self.crash_now = asyncio.Event()
        self.gate: asyncio.Event | None = None  # when set: wait for it before ready()
        self.log = log if log is not None else []

    def spec(self, restart: Restart = Restart.PERMANENT) -> ChildSpec:
        return ChildSpec(self.name, self.run, restart)

    async def run(self, ready: Ready) -> None:
        self.starts += 1
        self.started.set()
        if self.mode == "crash_early":
            raise Boom(f"{self.name} failed to start")
        if self.gate is not None:
            await self.gate.wait()
        ready()
        if self.mode == "crash":
            raise Boom(f"{self.name} crashed")
        if self.mode == "return":
            return
        try:
            await self.crash_now.wait()
        except asyncio.CancelledError:
            self.log.append(f"stopped {self.name}")
            raise
        self.crash_now.clear()
        raise Boom(f"{self.name} crashed")

    async def next_start(self) -> None:
        """Wait (bounded) for the next incarnation to begin."""
        await asyncio.wait_for(self.started.wait(), timeout=2)
        self.started.clear()


async def quiet(clock: FakeClock, sleepers: int = 1) -> None:
    """Until `sleepers` supervised children wait on the clock (a backoff, a revive): every
    other task then waits on an event, so whatever was going to happen has happened."""
    async with asyncio.timeout(2):
        await clock.wait_sleepers(sleepers)


class Recorder:
    """An on_change listener keeping a copy of every status it is shown."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, ChildState, str | None]] = []
        self._changed = asyncio.Event()

    def __call__(self, status: ChildStatus) -> None:
        self.seen.append((status.name, status.state, status.last_error))
        self._changed.set()

    async def reached(self, name: str, state: ChildState) -> None:
        """Until `name` has been in `state`."""
        async with asyncio.timeout(2):
            while state not in self.states(name):
                self._changed.clear()
                await self._changed.wait()

    def states(self, name: str) -> list[ChildState]:
        return [state for who, state, _ in self.seen if who == name]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def supervisor(clock: FakeClock, recorder: Recorder) -> AsyncIterator[Supervisor]:
    sup = Supervisor("sup", POLICY, clock, on_change=recorder)
    yield sup
    await sup.stop()


def state_of(supervisor: Supervisor, name: str) -> ChildState:
    status = supervisor.status(name)
    assert status is not None
    return status.state


def supervised_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("sup/") and not t.done()]


# -- the restart policy -----------------------------------------------------------------------


def test_backoff_doubles_per_recent_crash_up_to_the_maximum() -> None:
    policy = RestartPolicy(backoff_s=0.5, backoff_max_s=3.0)

    assert [policy.backoff(n) for n in range(6)] == [0.5, 0.5, 1.0, 2.0, 3.0, 3.0]


# -- start ------------------------------------------------------------------------------------


async def test_start_child_returns_once_the_child_is_ready(supervisor: Supervisor) -> None:
    child = Child("c")
    child.gate = asyncio.Event()

    starting = asyncio.create_task(supervisor.start_child(child.spec()))
    await child.next_start()  # the child waits at its gate, before ready()

    assert not starting.done(), "start_child returned before the child called ready()"
    assert state_of(supervisor, "c") == ChildState.STARTING

    child.gate.set()
    await asyncio.wait_for(starting, timeout=2)
    assert state_of(supervisor, "c") == ChildState.RUNNING


async def test_start_child_returns_when_the_first_incarnation_crashes_before_ready(
    supervisor: Supervisor, clock: FakeClock
) -> None:
    child = Child("c", mode="crash_early")

    await asyncio.wait_for(supervisor.start_child(child.spec()), timeout=2)
    await quiet(clock)  # the backoff before the next incarnation

    status = supervisor.status("c")
    assert status is not None
    assert status.state == ChildState.RESTARTING
    assert status.last_error == "Boom: c failed to start"

    # it is not given up on: the next incarnation starts after the backoff
    child.mode = "run"
    clock.advance(1.0)
    await child.next_start()
    assert child.starts == 2


async def test_a_child_name_can_be_started_only_once(supervisor: Supervisor) -> None:
    await supervisor.start_child(Child("c").spec())

    with pytest.raises(ValueError, match="already started"):
        await supervisor.start_child(Child("c").spec())


# -- restarts ---------------------------------------------------------------------------------


async def test_a_crashed_child_is_restarted_after_its_backoff_not_before(
    supervisor: Supervisor, clock: FakeClock, recorder: Recorder
) -> None:
    child = Child("c")
    await supervisor.start_child(child.spec())
    child.started.clear()

    child.crash_now.set()
    await quiet(clock)
    assert state_of(supervisor, "c") == ChildState.RESTARTING
    assert recorder.seen[-1] == ("c", ChildState.RESTARTING, "Boom: c crashed")

    clock.advance(0.5)
    assert clock.sleeping == 1, "restarted before the backoff elapsed"
    assert child.starts == 1

    clock.advance(0.5)
    await child.next_start()
    assert child.starts == 2
    assert state_of(supervisor, "c") == ChildState.RUNNING
    assert supervisor.status("c").restarts == 1  # type: ignore[union-attr]


async def test_the_backoff_grows_with_each_recent_crash(
    supervisor: Supervisor, clock: FakeClock
) -> None:
    """1 s after the first crash, 2 s after the second, 4 s after the third."""
    child = Child("c")
    await supervisor.start_child(child.spec())
    child.started.clear()

    for expected_backoff in (1.0, 2.0, 4.0):
        child.crash_now.set()
        await quiet(clock)
        clock.advance(expected_backoff - 0.25)
        assert clock.sleeping == 1, f"restarted before {expected_backoff} s"
        clock.advance(0.25)
        await child.next_start()

    assert child.starts == 4


async def test_too_many_crashes_within_the_period_mark_the_child_down(
    supervisor: Supervisor, clock: FakeClock, recorder: Recorder
) -> None:
    """intensity 3: the fourth crash within 30 s marks the child DOWN; it is tried again after
    revive_after_s (100 s), with a fresh restart budget."""
    child = Child("c", mode="crash")
    await supervisor.start_child(child.spec())
    child.started.clear()
    await quiet(clock)

    for backoff in (1.0, 2.0, 4.0):  # crashes 1-3: restarted each time
        assert state_of(supervisor, "c") == ChildState.RESTARTING
        clock.advance(backoff)
        await child.next_start()
        await quiet(clock)  # crashed again: the next backoff, or the wait to revive

    # crash 4, at t = 7 s: down
    assert state_of(supervisor, "c") == ChildState.DOWN
    assert ("c", ChildState.DOWN, "Boom: c crashed") in recorder.seen
    assert child.starts == 4

    clock.advance(99.0)
    assert clock.sleeping == 1, "revived before revive_after_s"
    assert child.starts == 4
    assert state_of(supervisor, "c") == ChildState.DOWN

    child.mode = "run"
    clock.advance(1.0)
    await child.next_start()
    assert state_of(supervisor, "c") == ChildState.RUNNING
    assert recorder.states("c")[-2:] == [ChildState.DOWN, ChildState.RUNNING]

    # the budget is fresh: one crash now is an ordinary restart, not DOWN again
    child.crash_now.set()
    await quiet(clock)
    assert state_of(supervisor, "c") == ChildState.RESTARTING


async def test_crashes_spread_wider_than_the_period_never_mark_it_down(
    supervisor: Supervisor, clock: FakeClock, recorder: Recorder
) -> None:
    child = Child("c")
    await supervisor.start_child(child.spec())
    child.started.clear()

    for _ in range(6):  # twice the intensity, each crash 31 s after the one before
        clock.advance(30.0)
        child.crash_now.set()
        await quiet(clock)
        assert state_of(supervisor, "c") == ChildState.RESTARTING
        clock.advance(1.0)  # always the first backoff: no other crash is recent
        await child.next_start()

    assert child.starts == 7
    assert ChildState.DOWN not in recorder.states("c")


async def test_a_permanent_child_that_returns_is_restarted(
    supervisor: Supervisor, clock: FakeClock
) -> None:
    child = Child("c", mode="return")
    await supervisor.start_child(child.spec(Restart.PERMANENT))
    child.started.clear()
    await quiet(clock)

    status = supervisor.status("c")
    assert status is not None
    assert (status.state, status.last_error) == (ChildState.RESTARTING, "exited")

    child.mode = "run"
    clock.advance(1.0)
    await child.next_start()
    assert child.starts == 2


async def test_a_transient_child_that_returns_is_not_restarted(
    supervisor: Supervisor, clock: FakeClock, recorder: Recorder
) -> None:
    child = Child("c", mode="return")
    await supervisor.start_child(child.spec(Restart.TRANSIENT))
    await recorder.reached("c", ChildState.STOPPED)

    assert clock.sleeping == 0  # nothing waits to start it again
    clock.advance(1000.0)
    assert child.starts == 1


async def test_a_transient_child_that_crashes_is_restarted(
    supervisor: Supervisor, clock: FakeClock
) -> None:
    child = Child("c", mode="crash")
    await supervisor.start_child(child.spec(Restart.TRANSIENT))
    child.started.clear()
    await quiet(clock)

    assert state_of(supervisor, "c") == ChildState.RESTARTING
    child.mode = "run"
    clock.advance(1.0)
    await child.next_start()
    assert child.starts == 2


@pytest.mark.parametrize("mode", ["crash", "return"])
async def test_a_temporary_child_is_never_restarted(
    supervisor: Supervisor, clock: FakeClock, mode: str, recorder: Recorder
) -> None:
    child = Child("c", mode=mode)
    await supervisor.start_child(child.spec(Restart.TEMPORARY))
    await recorder.reached("c", ChildState.STOPPED)

    status = supervisor.status("c")
    assert status is not None
    assert status.last_error == ("Boom: c crashed" if mode == "crash" else None)
    assert clock.sleeping == 0  # nothing waits to start it again
    clock.advance(1000.0)
    assert child.starts == 1


async def test_one_childs_crashes_do_not_touch_its_siblings(
    supervisor: Supervisor, clock: FakeClock, recorder: Recorder
) -> None:
    """one_for_one: a child going DOWN leaves the others running."""
    steady = Child("steady")
    flaky = Child("flaky", mode="crash")
    await supervisor.start_child(steady.spec())
    await supervisor.start_child(flaky.spec())
    for backoff in (1.0, 2.0, 4.0):
        await quiet(clock)
        clock.advance(backoff)
    await recorder.reached("flaky", ChildState.DOWN)

    assert state_of(supervisor, "flaky") == ChildState.DOWN
    assert state_of(supervisor, "steady") == ChildState.RUNNING
    assert steady.starts == 1


# -- stop -------------------------------------------------------------------------------------


async def test_stop_stops_children_in_reverse_start_order_and_leaves_no_tasks(
    clock: FakeClock, recorder: Recorder
) -> None:
    supervisor = Supervisor("sup", POLICY, clock, on_change=recorder)
    log: list[str] = []
    for name in ("first", "second", "third"):
        await supervisor.start_child(Child(name, log=log).spec())
    assert len(supervised_tasks()) == 3

    await supervisor.stop()

    assert log == ["stopped third", "stopped second", "stopped first"]
    assert [s.state for s in supervisor.statuses()] == [ChildState.STOPPED] * 3
    assert supervised_tasks() == []


async def test_stop_also_ends_children_waiting_to_restart_or_revive(
    clock: FakeClock, recorder: Recorder
) -> None:
    supervisor = Supervisor("sup", POLICY, clock, on_change=recorder)
    down = Child("down", mode="crash")
    await supervisor.start_child(down.spec())
    for backoff in (1.0, 2.0, 4.0):
        await quiet(clock)
        clock.advance(backoff)
    await recorder.reached("down", ChildState.DOWN)
    await quiet(clock)  # waiting to revive
    restarting = Child("restarting")
    await supervisor.start_child(restarting.spec())
    restarting.crash_now.set()
    await quiet(clock, sleepers=2)
    assert state_of(supervisor, "down") == ChildState.DOWN
    assert state_of(supervisor, "restarting") == ChildState.RESTARTING
    assert clock.sleeping == 2

    await supervisor.stop()

    assert supervised_tasks() == []
    assert state_of(supervisor, "down") == ChildState.STOPPED
    assert state_of(supervisor, "restarting") == ChildState.STOPPED
    assert clock.sleeping == 0
    clock.advance(1000.0)
    assert (down.starts, restarting.starts) == (4, 1)


async def test_stop_child_stops_one_child(supervisor: Supervisor) -> None:
    log: list[str] = []
    await supervisor.start_child(Child("a", log=log).spec())
    await supervisor.start_child(Child("b", log=log).spec())

    await supervisor.stop_child("a")
    await supervisor.stop_child("unknown")  # a no-op, not an error

    assert log == ["stopped a"]
    assert state_of(supervisor, "a") == ChildState.STOPPED
    assert state_of(supervisor, "b") == ChildState.RUNNING
