"""A supplier actor's outcomes, recorded in groups.

Deliveries finish one by one; recording each as a write of its own would cost a hand-off to the
writer per PO. The recorder keeps one write in flight at a time and gathers what arrives
meanwhile into the next, so under load each write carries many outcomes.

`sent` is provisional: a PO whose answer comes back quickly goes from `pending` straight to its
answer, and only a PO still unanswered after `sent_after_s` (a slow supplier, retries) is
recorded as `sent`. Both statuses are resent alike after a restart, so nothing is lost by it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from gateway.infra.clock import Clock
from gateway.store.db import Database
from gateway.store.purchase_orders import (
    CountFailedAttempts,
    MarkAccepted,
    MarkRejected,
    MarkSent,
    PoOutcome,
    record_outcomes,
)

log = structlog.get_logger(__name__)

SENT_AFTER_S = 1.0


class _Entry:
    __slots__ = ("done", "outcome")

    def __init__(self, outcome: PoOutcome, done: asyncio.Future[bool] | None) -> None:
        self.outcome = outcome
        self.done = done


class OutcomeRecorder:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        sent_after_s: float = SENT_AFTER_S,
        loop_time: Callable[[], float] | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._sent_after_s = sent_after_s
        self._time = loop_time or asyncio.get_running_loop().time
        self._ready: list[_Entry] = []
        self._provisional: dict[str, tuple[float, MarkSent]] = {}  # po_id -> (due, outcome)
        self._wake = asyncio.Event()

    def provisionally_sent(self, po_id: str) -> None:
        """The first attempt of `po_id` is going out; record `sent` if it stays unanswered."""
        self._provisional[po_id] = (self._time() + self._sent_after_s, MarkSent(po_id))
        self._wake.set()

    def record(self, outcome: PoOutcome) -> asyncio.Future[bool]:
        """Queue `outcome`; the future says, once committed, whether it changed anything."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue(outcome, future)
        return future

    def record_nowait(self, outcome: PoOutcome) -> None:
        """Queue `outcome` without waiting for it (a failed attempt's count)."""
        self._queue(outcome, None)

    def _queue(self, outcome: PoOutcome, future: asyncio.Future[bool] | None) -> None:
        if isinstance(outcome, MarkAccepted | MarkRejected | MarkSent):
            # Answered (or sent with what the supplier said): the provisional `sent` is moot.
            self._provisional.pop(outcome.po_id, None)
        elif isinstance(outcome, CountFailedAttempts) and (
            pending := self._provisional.pop(outcome.po_id, None)
        ):
            self._ready.append(_Entry(pending[1], None))  # out and unanswered: it is sent
        self._ready.append(_Entry(outcome, future))
        self._wake.set()

    async def run(self) -> None:
        """Write what is queued, one write at a time, until cancelled."""
        try:
            while True:
                now = self._time()
                due = [po_id for po_id, (at, _) in self._provisional.items() if at <= now]
                for po_id in due:
                    self._ready.append(_Entry(self._provisional.pop(po_id)[1], None))
                if not self._ready:
                    await self._sleep_until_work()
                    continue
                batch, self._ready = self._ready, []
                await self._write(batch)
        finally:
            for entry in self._ready:
                if entry.done is not None and not entry.done.done():
                    entry.done.cancel()

    async def _sleep_until_work(self) -> None:
        self._wake.clear()
        timeout = None
        if self._provisional:
            timeout = max(0.0, min(at for at, _ in self._provisional.values()) - self._time())
        try:
            async with asyncio.timeout(timeout):
                await self._wake.wait()
        except TimeoutError:
            pass

    async def _write(self, batch: list[_Entry]) -> None:
        try:
            changed = await record_outcomes(self._db, [e.outcome for e in batch], self._clock.now())
        except asyncio.CancelledError:
            raise
        except Exception as error:
            # The POs stay as they were in the store and are delivered again by the next sweep
            # (same po_id); their deliveries are told so and end.
            log.error("outcomes.write_failed", error=repr(error), outcomes=len(batch))
            for entry in batch:
                if entry.done is not None and not entry.done.done():
                    entry.done.set_exception(error)
            return
        for entry, result in zip(batch, changed, strict=True):
            if entry.done is not None and not entry.done.done():
                entry.done.set_result(result)
