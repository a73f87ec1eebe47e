"""How the kit runs a check: in an event loop of its own, in a thread of its own, with limits,
so that neither the test runner's loop nor an adapter that blocks or hangs can stall the suite;
and how it says a rule was broken."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from gateway.testing.rules import Rule


class ContractBroken(AssertionError):
    """An adapter broke `rule`. The message says what the counterpart did, what the adapter
    did, and what the rule expects."""

    def __init__(self, rule: Rule, situation: str, got: str, expected: str) -> None:
        self.rule = rule
        self.situation = situation
        self.got = got
        self.expected = expected
        super().__init__(
            f"broken rule {rule.id}: {rule.title}\n"
            f"  when:     {situation}\n"
            f"  adapter:  {got}\n"
            f"  expected: {expected}\n"
            f"  why:      {rule.why}\n"
            f"  see:      {rule.reference}"
        )


class NotApplicable(Exception):
    """The rule cannot be checked for this adapter (its counterpart cannot express a situation,
    or the adapter says `not_supported`); the message says why."""


def run_in_own_loop(
    check: Callable[[], Awaitable[None]], limit_s: float, rule: Rule, what: str
) -> None:
    """Run `check()` to completion in a new event loop in a daemon thread; raise what it raised.
    Past `limit_s` the check is abandoned and the rule reported broken: the adapter blocked the
    event loop or ignored every cancellation."""
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(_as_coroutine(check))
        except BaseException as error:
            outcome["error"] = error
        finally:
            _close(loop)
            done.set()

    threading.Thread(target=run, name=f"contract-kit {rule.id}", daemon=True).start()
    if not done.wait(limit_s):
        raise ContractBroken(
            rule,
            what,
            f"the check was still running after {limit_s:g} s",
            "every call returns within ctx.timeout_s, without blocking the event loop "
            "(use async clients; wrap blocking calls in asyncio.to_thread)",
        )
    if "error" in outcome:
        raise outcome["error"]


# Tasks of adapters that ignored their cancellation, kept referenced for the life of the process:
# finalised later, they would raise inside whatever test happens to be running then.
_ABANDONED: list[asyncio.Task[Any]] = []


def _close(loop: asyncio.AbstractEventLoop, grace_s: float = 1.0) -> None:
    """Cancel what is left and close the loop; a task that ignores its cancellation (the adapter
    under test may swallow it) is abandoned after `grace_s` instead of holding the check."""
    try:
        left = asyncio.all_tasks(loop)
        for task in left:
            task.cancel()
        if left:
            loop.run_until_complete(asyncio.wait(left, timeout=grace_s))
        _ABANDONED.extend(task for task in left if not task.done())
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()


async def _as_coroutine(check: Callable[[], Awaitable[None]]) -> None:
    await check()
