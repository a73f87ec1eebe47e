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
        try:
            asyncio.run(_as_coroutine(check))
        except BaseException as error:
            outcome["error"] = error
        finally:
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


async def _as_coroutine(check: Callable[[], Awaitable[None]]) -> None:
    await check()
