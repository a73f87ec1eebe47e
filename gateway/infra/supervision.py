"""Supervisors in the manner of Erlang/OTP, for asyncio.

A supervisor owns its children's tasks: it starts them in order, stops them in reverse, and
restarts a crashed child on its own (`one_for_one`) after a backoff. More than `intensity`
crashes within `period_s` seconds and the child is marked DOWN and reported; the rest of the
gateway carries on. Unlike OTP we do not escalate further: a gateway with one broken supplier
must keep serving the others. A DOWN child is tried again after `revive_after_s` with a fresh
restart budget, so a supplier that was broken for an hour comes back without a person.
"""

from __future__ import annotations

import asyncio
import collections
import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import msgspec
import structlog

from gateway.infra.clock import Clock

log = structlog.get_logger(__name__)


class Restart(enum.StrEnum):
    PERMANENT = "permanent"  # always restarted, even after a normal return
    TRANSIENT = "transient"  # restarted only after a crash
    TEMPORARY = "temporary"  # never restarted


class ChildState(enum.StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    RESTARTING = "restarting"
    DOWN = "down"
    STOPPED = "stopped"


class RestartPolicy(msgspec.Struct, frozen=True, kw_only=True):
    intensity: int = 3
    period_s: float = 30.0
    backoff_s: float = 0.5
    backoff_max_s: float = 10.0
    revive_after_s: float = 300.0

    def backoff(self, recent_crashes: int) -> float:
        return float(min(self.backoff_max_s, self.backoff_s * 2 ** max(0, recent_crashes - 1)))


Ready = Callable[[], None]


def describe_error(error: BaseException) -> str:
    """`KeyError: 'x'` for an operator, also when the error arrives wrapped in the
    ExceptionGroup of a TaskGroup (which alone says nothing about the cause)."""
    if isinstance(error, BaseExceptionGroup):
        return "; ".join(describe_error(inner) for inner in error.exceptions)
    return f"{type(error).__name__}: {error}"


@dataclass(frozen=True)
class ChildSpec:
    """A child: `run(ready)` runs one incarnation until it returns or raises, and calls
    `ready()` once it is serving (so start-up order is explicit, not guessed)."""

    name: str
    run: Callable[[Ready], Awaitable[None]]
    restart: Restart = Restart.PERMANENT


class ChildStatus(msgspec.Struct, kw_only=True):
    name: str
    state: ChildState
    restarts: int = 0
    last_error: str | None = None


StateListener = Callable[[ChildStatus], None]


class Supervisor:
    def __init__(
        self,
        name: str,
        policy: RestartPolicy,
        clock: Clock,
        on_change: StateListener | None = None,
    ) -> None:
        self.name = name
        self.policy = policy
        self._clock = clock
        self._on_change = on_change
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._status: dict[str, ChildStatus] = {}

    async def start_child(self, spec: ChildSpec, ready_timeout_s: float | None = None) -> None:
        """Start a child and wait until its first incarnation is ready or has ended; at most
        `ready_timeout_s` when given (a plugin's child that hangs while starting must not hold
        up the rest: it goes on starting in the background, and says so in the log)."""
        if spec.name in self._tasks:
            raise ValueError(f"{self.name}: child {spec.name!r} already started")
        self._status[spec.name] = ChildStatus(name=spec.name, state=ChildState.STARTING)
        first_ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(self._keep(spec, first_ready), name=f"{self.name}/{spec.name}")
        self._tasks[spec.name] = task
        done, _ = await asyncio.wait(
            [first_ready, task], timeout=ready_timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
        if not done:
            log.warning(
                "actor.start_slow", supervisor=self.name, actor=spec.name, waited_s=ready_timeout_s
            )

    def status(self, name: str) -> ChildStatus | None:
        return self._status.get(name)

    def statuses(self) -> list[ChildStatus]:
        return list(self._status.values())

    async def stop_child(self, name: str, timeout_s: float = 10.0) -> None:
        """Cancel a child and wait for it; a child that ignores cancellation is asked again,
        then left behind with an error in the log: shutdown must end."""
        task = self._tasks.pop(name, None)
        if task is None:
            return
        for _ in range(2):
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=timeout_s / 2)
            if done:
                break
        else:
            log.error("actor.stop_timeout", supervisor=self.name, actor=name, timeout_s=timeout_s)
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.error("actor.stop_failed", actor=name, error=repr(task.exception()))
        self._set(name, ChildState.STOPPED)

    async def stop(self) -> None:
        """Stop every child, the last started first."""
        for name in reversed(list(self._tasks)):
            await self.stop_child(name)

    def _set(self, name: str, state: ChildState, error: str | None = None) -> None:
        status = self._status[name]
        if status.state == state and error is None:
            return
        status.state = state
        if error is not None:
            status.last_error = error
        if self._on_change is not None:
            self._on_change(status)

    async def _keep(self, spec: ChildSpec, first_ready: asyncio.Future[None]) -> None:
        crashes: collections.deque[float] = collections.deque()
        status = self._status[spec.name]

        def ready() -> None:
            self._set(spec.name, ChildState.RUNNING)
            if not first_ready.done():
                first_ready.set_result(None)

        while True:
            error: str | None = None
            try:
                await spec.run(ready)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                error = describe_error(exc)
                log.error(
                    "actor.crashed",
                    supervisor=self.name,
                    actor=spec.name,
                    error=error,
                    exc_info=exc,
                )
            if not first_ready.done():
                first_ready.set_result(None)
            if error is None and spec.restart != Restart.PERMANENT:
                self._set(spec.name, ChildState.STOPPED)
                return
            if spec.restart == Restart.TEMPORARY:
                self._set(spec.name, ChildState.STOPPED, error)
                return
            now = self._clock.monotonic()
            crashes.append(now)
            while crashes and now - crashes[0] > self.policy.period_s:
                crashes.popleft()
            status.restarts += 1
            if len(crashes) > self.policy.intensity:
                log.error(
                    "actor.down",
                    supervisor=self.name,
                    actor=spec.name,
                    crashes=len(crashes),
                    period_s=self.policy.period_s,
                    revive_after_s=self.policy.revive_after_s,
                )
                self._set(spec.name, ChildState.DOWN, error or "exited")
                await self._clock.sleep(self.policy.revive_after_s)
                crashes.clear()
                log.info("actor.reviving", supervisor=self.name, actor=spec.name)
            else:
                self._set(spec.name, ChildState.RESTARTING, error or "exited")
                await self._clock.sleep(self.policy.backoff(len(crashes)))
