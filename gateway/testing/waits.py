"""Which of a channel's tasks wait on the kit: the kit may tick its clock only once the channel
is idle, and a channel may run several tasks (a poller and a write-back loop).

"Someone sleeps on the clock" is not enough: a poller asleep between polls says nothing of a
write-back loop in the middle of its requests, and ticking then runs the checks' polls out
while that loop still works. So the kit notes every task that waits on something of its own
(`ctx.clock.sleep`, `ctx.updates.next_batch` with nothing to read, a `ctx.submit` the kit holds)
and calls the channel idle when each task it has seen is waiting so, or has ended.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator


class KitWaits:
    def __init__(self, changed: asyncio.Event) -> None:
        self._seen: set[asyncio.Task[object]] = set()
        self._waiting: set[asyncio.Task[object]] = set()
        self._changed = changed

    @contextlib.contextmanager
    def waiting(self) -> Iterator[asyncio.Task[object] | None]:
        """Around an await on the kit: the current task waits on the kit meanwhile."""
        task = asyncio.current_task()
        if task is not None:
            self._seen.add(task)
            self._waiting.add(task)
            self._changed.set()
        try:
            yield task
        finally:
            if task is not None:
                self._waiting.discard(task)

    def woken(self, task: asyncio.Task[object] | None) -> None:
        """The kit has just released `task` (it runs again at its next turn)."""
        if task is not None:
            self._waiting.discard(task)

    def idle(self) -> bool:
        """Every task seen waits on the kit or has ended (and at least one was seen)."""
        return bool(self._seen) and all(t in self._waiting or t.done() for t in self._seen)
