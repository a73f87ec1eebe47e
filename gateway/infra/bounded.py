"""Calling code we do not control with a time limit.

A plugin's import or hook runs synchronously, and Python cannot stop a thread. So the call runs
in a daemon thread of its own, and the caller waits for it up to a limit: past it the caller goes
on and the thread is left behind (a daemon thread does not keep the process alive). What the late
call returns or changes afterwards must then be ignored by the caller, so it should work on
objects of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class StillRunning(TimeoutError):
    """The call had not returned when its time was up; its thread is still running."""

    def __init__(self, what: str, timeout_s: float) -> None:
        super().__init__(f"{what} did not return within {timeout_s:g} s")
        self.what = what
        self.timeout_s = timeout_s


class _Outcome(Generic[T]):
    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: T | None = None
        self.error: BaseException | None = None


def _start(fn: Callable[[], T], name: str, on_done: Callable[[], None]) -> _Outcome[T]:
    outcome: _Outcome[T] = _Outcome()

    def run() -> None:
        try:
            outcome.value = fn()
        except BaseException as error:  # SystemExit from a plugin is its failure, not ours
            outcome.error = error
        finally:
            outcome.done.set()
            on_done()

    threading.Thread(target=run, name=name, daemon=True).start()
    return outcome


def _result(outcome: _Outcome[T]) -> T:
    if outcome.error is not None:
        raise outcome.error
    return outcome.value  # type: ignore[return-value]


def call_bounded(fn: Callable[[], T], timeout_s: float, what: str) -> T:
    """`fn()`, or StillRunning if it has not returned after `timeout_s`; its exception is
    raised here. `what` names the call in the error (`plugin 'acme': importing dropship_acme`)."""
    outcome = _start(fn, f"bounded: {what}"[:60], lambda: None)
    if not outcome.done.wait(timeout_s):
        raise StillRunning(what, timeout_s)
    return _result(outcome)


async def call_bounded_async(fn: Callable[[], T], timeout_s: float, what: str) -> T:
    """`call_bounded` for a coroutine: the event loop keeps running while `fn` does."""
    loop = asyncio.get_running_loop()
    finished = asyncio.Event()

    def wake() -> None:
        with contextlib.suppress(RuntimeError):  # the loop may be closed by the time it returns
            loop.call_soon_threadsafe(finished.set)

    outcome = _start(fn, f"bounded: {what}"[:60], wake)
    try:
        async with asyncio.timeout(timeout_s):
            await finished.wait()
    except TimeoutError:
        raise StillRunning(what, timeout_s) from None
    return _result(outcome)
