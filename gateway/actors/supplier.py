"""One actor per supplier: takes its purchase orders from the store and delivers each through the
supplier's adapter plugin, with the retries, circuit and concurrency cap the adapter leaves to it.

Delivery of one PO: mark it `sent`, then attempt until the supplier accepts or rejects it.
Temporary failures are retried with exponential backoff and full jitter, honouring
`Retry-After`, for up to `give_up_after_s` from the PO's creation (then it is `failed`, a
visible exception). The PO keeps its po_id (the idempotency key) through retries and restarts.

Anything else an adapter raises is a bug: the actor crashes and its supervisor restarts it;
the POs it was delivering are still `pending`/`sent` in the store and are picked up again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
from datetime import datetime
from typing import Any

import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

from gateway.actors.bus import SWEEP_INTERVAL_S, Mailbox, Message, PurchaseOrdersReady
from gateway.actors.supplier_health import SupplierHealth
from gateway.infra.clock import Clock
from gateway.infra.config import SupplierConfig
from gateway.infra.metrics import Metrics
from gateway.infra.supervision import Ready
from gateway.plugin_api.adapters import (
    PurchaseOrderRequest,
    SupplierAdapter,
    SupplierAdapterFactory,
    SupplierContext,
    SupplierFailed,
    SupplierRejected,
    SupplierUnavailable,
)
from gateway.store import purchase_orders as po_store
from gateway.store.db import Database

log = structlog.get_logger(__name__)

# At most this many POs are held in memory per supplier; the rest wait in the store and are
# loaded as these finish. Keeps memory flat after a long outage built up a backlog.
MAX_ACTIVE = 2000


class RetrySchedule:
    """tenacity wait strategy: full-jitter exponential backoff, or the supplier's Retry-After."""

    def __init__(self, base_s: float, max_s: float) -> None:
        self.base_s = base_s
        self.max_s = max_s

    def __call__(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        retry_after = getattr(error, "retry_after", None)
        if isinstance(retry_after, int | float) and retry_after > 0:
            return float(retry_after) + random.uniform(0, self.base_s)
        ceiling = min(self.max_s, self.base_s * 2 ** (state.attempt_number - 1))
        return random.uniform(self.base_s / 2, ceiling)


class GiveUp:
    """tenacity stop condition: the PO is older than `give_up_after_s`."""

    def __init__(self, clock: Clock, created_at: datetime, give_up_after_s: float) -> None:
        self._clock = clock
        self._created_at = created_at
        self._limit = give_up_after_s

    def __call__(self, _: RetryCallState) -> bool:
        return (self._clock.now() - self._created_at).total_seconds() >= self._limit


class SupplierActor:
    def __init__(
        self,
        config: SupplierConfig,
        adapter_factory: SupplierAdapterFactory,
        db: Database,
        mailbox: Mailbox[Message],
        health: SupplierHealth,
        clock: Clock,
        metrics: Metrics,
    ) -> None:
        self.config = config
        self._factory = adapter_factory
        self._db = db
        self._mailbox = mailbox
        self._health = health
        self._clock = clock
        self._metrics = metrics
        self._slots = asyncio.Semaphore(config.max_in_flight)
        self._active: set[str] = set()
        self._backlog_in_store = False
        self._calls_allowed = asyncio.Event()
        self._calls_allowed.set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._log = log.bind(supplier_id=config.id)

    async def run(self, ready: Ready) -> None:
        """One incarnation: ends only by crashing or being cancelled."""
        adapter = self._factory(
            SupplierContext(
                supplier_id=self.config.id,
                url=self.config.url,
                timeout_s=self.config.timeout_s,
                max_in_flight=self.config.max_in_flight,
                options=dict(self.config.options),
            )
        )
        self._active.clear()
        await adapter.start()
        try:
            async with asyncio.TaskGroup() as tasks:
                ready()
                await self._sweep(adapter, tasks)
                while True:
                    message = await self._mailbox.get_or_none(SWEEP_INTERVAL_S)
                    if message is None:
                        await self._sweep(adapter, tasks)
                    elif isinstance(message, PurchaseOrdersReady):
                        fresh = [p for p in message.po_ids if p not in self._active]
                        if len(self._active) + len(fresh) > MAX_ACTIVE:
                            self._backlog_in_store = True
                        else:
                            for request in await po_store.load_requests(self._db, fresh):
                                self._start(adapter, tasks, request)
                    if self._mailbox.take_overflow():
                        await self._sweep(adapter, tasks)
        finally:
            self._health.in_flight = self._health.queue_depth = 0
            await adapter.close()

    async def _sweep(self, adapter: SupplierAdapter, tasks: asyncio.TaskGroup) -> None:
        """Load the POs of this supplier the store says still await it, up to MAX_ACTIVE."""
        waiting = await po_store.purchase_orders_awaiting(self._db, self.config.id, MAX_ACTIVE)
        self._backlog_in_store = len(waiting) >= MAX_ACTIVE
        for request in waiting:
            if request.po_id not in self._active and len(self._active) < MAX_ACTIVE:
                self._start(adapter, tasks, request)

    def _start(
        self, adapter: SupplierAdapter, tasks: asyncio.TaskGroup, request: PurchaseOrderRequest
    ) -> None:
        self._active.add(request.po_id)
        self._update_depth()
        tasks.create_task(self._deliver_then_refill(adapter, tasks, request))

    async def _deliver_then_refill(
        self, adapter: SupplierAdapter, tasks: asyncio.TaskGroup, request: PurchaseOrderRequest
    ) -> None:
        try:
            await self._deliver(adapter, request)
        finally:
            self._active.discard(request.po_id)
            self._update_depth()
        if self._backlog_in_store and len(self._active) < MAX_ACTIVE // 2:
            self._backlog_in_store = False  # one refill at a time; the sweep sets it again
            await self._sweep(adapter, tasks)

    def _update_depth(self) -> None:
        self._health.queue_depth = max(0, len(self._active) - self._health.in_flight)

    async def _deliver(self, adapter: SupplierAdapter, request: PurchaseOrderRequest) -> None:
        # `sent` is recorded while the first attempt is under way rather than before it: the
        # writer commits in order, so it still lands before whatever outcome follows, and the
        # PO does not wait for a commit before leaving. (The po_id makes a resend harmless.)
        sent = asyncio.create_task(po_store.mark_sent(self._db, request.po_id, self._clock.now()))
        try:
            await self._deliver_and_record(adapter, request)
        finally:
            await sent

    async def _deliver_and_record(
        self, adapter: SupplierAdapter, request: PurchaseOrderRequest
    ) -> None:
        po_log = self._log.bind(po_id=request.po_id, order_id=request.order_id)
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(SupplierUnavailable),
            wait=RetrySchedule(self.config.retry_base_s, self.config.retry_max_s),
            stop=GiveUp(self._clock, request.created_at, self.config.give_up_after_s),
            sleep=self._clock.sleep,
            before_sleep=functools.partial(self._note_retry, request),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    accepted = await self._attempt(adapter, request)
        except SupplierRejected as rejection:
            po_log.warning("po.rejected", reason=rejection.reason, message=rejection.message)
            self._metrics.po_outcomes.labels(self.config.id, "rejected").inc()
            await po_store.mark_rejected(
                self._db, request.po_id, rejection.reason, rejection.message, self._clock.now()
            )
            return
        except SupplierFailed as failure:
            po_log.error("po.failed", reason=failure.reason, message=failure.message)
            self._metrics.po_outcomes.labels(self.config.id, "failed").inc()
            await po_store.mark_rejected(
                self._db,
                request.po_id,
                failure.reason,
                failure.message,
                self._clock.now(),
                failed=True,
            )
            return
        except SupplierUnavailable as unavailable:
            po_log.error("po.gave_up", error=unavailable.message)
            self._metrics.po_outcomes.labels(self.config.id, "gave_up").inc()
            await po_store.mark_rejected(
                self._db,
                request.po_id,
                "gave_up",
                f"no attempt succeeded within {self.config.give_up_after_s:g}s; "
                f"last error: {unavailable.message}",
                self._clock.now(),
                failed=True,
            )
            return
        self._metrics.po_outcomes.labels(self.config.id, "accepted").inc()
        await po_store.mark_accepted(
            self._db, request.po_id, accepted.supplier_ref, self._clock.now()
        )

    async def quiesce(self, timeout_s: float) -> None:
        """Start no new calls; wait up to `timeout_s` for the calls in flight to finish.
        Their POs stay `sent` in the store if cut short, and are resent at the next start."""
        self._calls_allowed.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, timeout_s)):
                await self._idle.wait()

    async def _attempt(self, adapter: SupplierAdapter, request: PurchaseOrderRequest) -> Any:
        """One call to the supplier, through the circuit and the in-flight cap."""
        await self._calls_allowed.wait()
        await self._health.circuit.admit()
        answered = False
        async with self._slots:
            self._health.in_flight += 1
            self._idle.clear()
            self._update_depth()
            started = self._clock.monotonic()
            try:
                # The actor owns timeouts: an adapter that forgets its own cannot hold a slot
                # forever. A little over timeout_s, so a well-behaved adapter's timeout wins.
                async with asyncio.timeout(self.config.timeout_s + 1.0):
                    result = await adapter.send_purchase_order(request)
                answered = True
                return result
            except TimeoutError:
                self._health.record(False, self._clock.monotonic() - started)
                raise SupplierUnavailable(
                    f"no answer within {self.config.timeout_s:g}s (adapter did not time out)"
                ) from None
            except (SupplierRejected, SupplierFailed):
                answered = True
                raise
            except SupplierUnavailable:
                self._health.record(False, self._clock.monotonic() - started)
                raise
            finally:
                elapsed = self._clock.monotonic() - started
                self._metrics.supplier_latency.labels(self.config.id).observe(elapsed)
                if answered:
                    self._health.record(True, elapsed)
                else:
                    self._health.circuit.release_probe()
                self._health.in_flight -= 1
                if self._health.in_flight == 0:
                    self._idle.set()
                self._update_depth()

    async def _note_retry(self, request: PurchaseOrderRequest, state: RetryCallState) -> None:
        """Before each backoff: count the failed attempt and keep its error visible on the PO."""
        error = state.outcome.exception() if state.outcome else None
        message = str(error) if error else "unknown error"
        self._metrics.po_retries.labels(self.config.id).inc()
        if state.attempt_number == 1:  # log once when a PO starts failing, not every retry
            self._log.warning(
                "po.retrying",
                po_id=request.po_id,
                error=message,
                retry_in_s=round(state.upcoming_sleep, 2),
            )
        await po_store.note_failed_attempt(self._db, request.po_id, message, self._clock.now())
