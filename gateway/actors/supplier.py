"""One actor per supplier: takes its purchase orders from the store and delivers each through the
supplier's adapter plugin, with the retries, circuit and concurrency cap the adapter leaves to it.

Delivery of one PO: attempt until the supplier accepts or rejects it. Temporary failures are
retried with exponential backoff and full jitter, honouring `Retry-After`, for up to
`give_up_after_s` from the PO's creation (then it is `failed`, a visible exception). The PO
keeps its po_id (the idempotency key) through retries and restarts.

Poison is contained per PO: an adapter that raises anything else on a PO (a bug, an answer it
cannot read, a wrong return type) makes that a failed attempt of that PO alone, retried with
backoff, counted in the store, and after `max_adapter_errors` the PO is `failed`
(`adapter_error`) while the supplier's other POs keep flowing. Outcomes are recorded in groups
(see `outcomes.py`). Cancelled POs the supplier may hold are cancelled at the supplier once no
delivery of them is in flight, and a reporting adapter is asked for its answers on a schedule.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
from datetime import datetime
from typing import Any

import structlog
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_any,
    wait_random_exponential,
)
from tenacity.stop import stop_base

from gateway.actors.bus import (
    SWEEP_INTERVAL_S,
    CancelPurchaseOrders,
    Mailbox,
    Message,
    PurchaseOrdersReady,
)
from gateway.actors.outcomes import OutcomeRecorder
from gateway.actors.supplier_health import SupplierHealth
from gateway.domain.masking import mask_text
from gateway.infra.clock import Clock
from gateway.infra.config import SupplierConfig
from gateway.infra.metrics import Metrics
from gateway.infra.supervision import Ready, describe_error
from gateway.plugin_api.adapters import (
    Accepted,
    PluginState,
    PurchaseOrderRequest,
    Submitted,
    SupplierAdapter,
    SupplierAdapterFactory,
    SupplierContext,
    SupplierFailed,
    SupplierRejected,
    SupplierUnavailable,
)
from gateway.store import purchase_orders as po_store
from gateway.store.db import Database
from gateway.store.purchase_orders import (
    CountFailedAttempts,
    MarkAccepted,
    MarkCancelConfirmed,
    MarkRejected,
    MarkSent,
    WaitingPo,
)
from gateway.store.reports import record_reports

log = structlog.get_logger(__name__)

# At most this many POs are held in memory per supplier; the rest wait in the store and are
# loaded as these finish. Keeps memory flat after a long outage built up a backlog.
MAX_ACTIVE = 2000
ADAPTER_ERROR = "adapter_error"


class AdapterError(Exception):
    """The adapter raised something the adapter contract does not allow (a bug, an answer it
    could not read): a failed attempt of this PO, counted towards `max_adapter_errors`."""


class _Cancelled(Exception):
    """The PO was cancelled while its delivery was retrying."""


class RetrySchedule:
    """tenacity wait strategy: the supplier's Retry-After when it gave one, else exponential
    backoff with full jitter (a random wait between 0 and the exponential ceiling)."""

    def __init__(self, base_s: float, max_s: float) -> None:
        self.base_s = base_s
        self._full_jitter = wait_random_exponential(multiplier=base_s, max=max_s)

    def __call__(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        retry_after = getattr(error, "retry_after", None)
        if isinstance(retry_after, int | float) and retry_after > 0:
            return float(retry_after) + random.uniform(0, self.base_s)
        return float(self._full_jitter(state))


class GiveUp(stop_base):
    """tenacity stop condition: the PO is older than `give_up_after_s`."""

    def __init__(self, clock: Clock, created_at: datetime, give_up_after_s: float) -> None:
        self._clock = clock
        self._created_at = created_at
        self._limit = give_up_after_s

    def __call__(self, _: RetryCallState) -> bool:
        return (self._clock.now() - self._created_at).total_seconds() >= self._limit


class PoisonLimit(stop_base):
    """tenacity stop condition: the adapter raised on this PO `limit` times (across restarts)."""

    def __init__(self, errors_so_far: int, limit: int) -> None:
        self.errors = errors_so_far
        self._limit = limit

    def __call__(self, state: RetryCallState) -> bool:
        """Called once for each failed attempt: counts the adapter's errors as it goes."""
        if state.outcome is None or not isinstance(state.outcome.exception(), AdapterError):
            return False
        self.errors += 1
        return self.errors >= self._limit


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
        state: PluginState | None = None,
    ) -> None:
        self.config = config
        self._factory = adapter_factory
        self._db = db
        self._mailbox = mailbox
        self._health = health
        self._clock = clock
        self._metrics = metrics
        self._state = state
        self._slots = asyncio.Semaphore(config.max_in_flight)
        self._active: set[str] = set()  # POs being delivered, until their outcome is committed
        self._cancelled: set[str] = set()  # cancelled POs still to cancel at the supplier
        self._cancelling: set[str] = set()
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
                state=self._state,
                clock=self._clock,
                log=self._log,
            )
        )
        self._active.clear()
        self._cancelling.clear()
        try:
            # start() is bounded like any call: one that hangs is a crash of this incarnation
            # (restarts, then `down`), never a supplier stuck in `starting` for good.
            async with asyncio.timeout(self.config.timeout_s + 1.0):
                await adapter.start()
        except TimeoutError:
            raise AdapterError(
                f"start() did not return within {self.config.timeout_s + 1.0:g}s"
            ) from None
        try:
            async with asyncio.TaskGroup() as tasks:
                recorder = OutcomeRecorder(self._db, self._clock)
                tasks.create_task(recorder.run(), name=f"outcomes:{self.config.id}")
                if callable(getattr(adapter, "collect_reports", None)):
                    tasks.create_task(self._poll_reports(adapter), name=f"reports:{self.config.id}")
                worker = _Worker(self, adapter, tasks, recorder)
                ready()
                await worker.sweep()
                while True:
                    message = await self._mailbox.get_or_none(SWEEP_INTERVAL_S)
                    if message is None:
                        await worker.sweep()
                    elif isinstance(message, PurchaseOrdersReady):
                        await worker.take(message)
                    elif isinstance(message, CancelPurchaseOrders):
                        worker.cancel(message.po_ids)
                    if self._mailbox.take_overflow():
                        await worker.sweep()
        finally:
            self._health.in_flight = self._health.queue_depth = 0
            await adapter.close()

    async def quiesce(self, timeout_s: float) -> None:
        """Start no new calls; wait up to `timeout_s` for the calls in flight to finish.
        Their POs stay as they were in the store if cut short, and are resent at the next start."""
        self._calls_allowed.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, timeout_s)):
                await self._idle.wait()

    def _update_depth(self) -> None:
        self._health.queue_depth = max(0, len(self._active) - self._health.in_flight)

    async def call(self, what: str, operation: Any) -> Any:
        """One call to the supplier through the circuit and the in-flight cap, bounded in time.
        What the adapter raises outside its contract comes out as AdapterError."""
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
                    result = await operation()
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
            except Exception as error:
                self._metrics.adapter_errors.labels(self.config.id).inc()
                raise AdapterError(f"{what}: {describe_error(error)}") from error
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

    async def _poll_reports(self, adapter: Any) -> None:
        """Ask a reporting adapter for the supplier's answers, record them, confirm them."""
        while True:
            await self._clock.sleep(self.config.poll_interval_s)
            try:
                batch = await self.call("collect_reports", adapter.collect_reports)
            except (SupplierUnavailable, SupplierFailed, SupplierRejected, AdapterError) as error:
                self._log.warning("reports.collect_failed", error=str(error))
                continue
            if not batch.reports and not batch.problems:
                continue
            recorded = await record_reports(
                self._db, self.config.id, batch.reports, batch.problems, self._clock.now()
            )
            if recorded.problems:
                self._log.warning(
                    "reports.problems",
                    problems=len(recorded.problems),
                    first=recorded.problems[0].message,
                )
            self._log.info(
                "reports.recorded", applied=recorded.applied, unchanged=recorded.unchanged
            )
            try:
                confirm = functools.partial(adapter.confirm_reports, batch.receipt)
                await self.call("confirm_reports", confirm)
            except (SupplierUnavailable, SupplierFailed, SupplierRejected, AdapterError) as error:
                # Collected again next time and recorded idempotently: nothing counts twice.
                self._log.warning("reports.confirm_failed", error=str(error))


class _Worker:
    """The deliveries and cancellations of one incarnation of a supplier actor."""

    def __init__(
        self,
        actor: SupplierActor,
        adapter: SupplierAdapter,
        tasks: asyncio.TaskGroup,
        recorder: OutcomeRecorder,
    ) -> None:
        self.actor = actor
        self.config = actor.config
        self.adapter = adapter
        self.tasks = tasks
        self.recorder = recorder

    async def sweep(self) -> None:
        """Load what the store says still awaits this supplier, up to MAX_ACTIVE: POs to
        deliver and cancellations to pass on."""
        actor = self.actor
        waiting = await po_store.purchase_orders_awaiting(actor._db, self.config.id, MAX_ACTIVE)
        actor._backlog_in_store = len(waiting) >= MAX_ACTIVE
        for po in waiting:
            if po.request.po_id not in actor._active and len(actor._active) < MAX_ACTIVE:
                self._start(po)
        self.cancel(await po_store.cancellations_requested(actor._db, self.config.id))

    async def take(self, message: PurchaseOrdersReady) -> None:
        """Start the POs the message names: new ones as they came, others read from the store."""
        actor = self.actor
        fresh = [p for p in message.po_ids if p not in actor._active]
        if len(actor._active) + len(fresh) > MAX_ACTIVE:
            actor._backlog_in_store = True
            return
        given = {r.po_id: WaitingPo(r, attempts=0) for r in message.requests}
        to_read = [p for p in fresh if p not in given]
        waiting = [given[p] for p in fresh if p in given]
        waiting += await po_store.load_requests(actor._db, to_read)
        for po in waiting:
            if po.request.po_id not in actor._active:
                self._start(po)

    def cancel(self, po_ids: list[str] | tuple[str, ...]) -> None:
        """Cancel these POs at the supplier, each once no delivery of it is in flight."""
        actor = self.actor
        for po_id in po_ids:
            if po_id in actor._cancelling:
                continue
            if po_id in actor._active:
                actor._cancelled.add(po_id)  # its delivery stops and then cancels
                continue
            actor._cancelling.add(po_id)
            self.tasks.create_task(self._cancel_at_supplier(po_id))

    def _start(self, po: WaitingPo) -> None:
        self.actor._active.add(po.request.po_id)
        self.actor._update_depth()
        self.tasks.create_task(self._deliver_then_refill(po))

    async def _deliver_then_refill(self, po: WaitingPo) -> None:
        actor = self.actor
        po_id = po.request.po_id
        try:
            await self._deliver(po)
        finally:
            actor._active.discard(po_id)
            actor._update_depth()
        if po_id in actor._cancelled:
            actor._cancelled.discard(po_id)
            self.cancel([po_id])
        if actor._backlog_in_store and len(actor._active) < MAX_ACTIVE // 2:
            actor._backlog_in_store = False  # one refill at a time; the sweep sets it again
            await self.sweep()

    async def _deliver(self, po: WaitingPo) -> None:
        """Deliver one PO until it has an outcome, and wait until that outcome is committed
        (until then a sweep must not start it again)."""
        outcome = await self._attempt_until_answered(po)
        if outcome is None:
            return
        try:
            await self.recorder.record(outcome)
        except asyncio.CancelledError:
            raise
        except Exception:  # logged by the recorder; the next sweep delivers the PO again
            return

    async def _attempt_until_answered(self, po: WaitingPo) -> Any:
        actor, request = self.actor, po.request
        poison = PoisonLimit(po.adapter_errors, self.config.max_adapter_errors)
        if po.attempts == 0:
            self.recorder.provisionally_sent(request.po_id)
        metrics = actor._metrics.po_outcomes
        po_log = actor._log.bind(po_id=request.po_id, order_id=request.order_id)
        try:
            try:
                # The first attempt without tenacity: most POs need no other, and its machinery
                # cost ~4 % of the loop's time per PO (issue 5).
                answer = await self._attempt(request)
            except (SupplierUnavailable, AdapterError) as failure:
                answer = await self._retry(request, poison, failure)
        except _Cancelled:
            return None
        except SupplierRejected as rejection:
            message = outside_text(request, rejection.message)
            po_log.warning("po.rejected", reason=rejection.reason, message=message)
            metrics.labels(self.config.id, "rejected").inc()
            return MarkRejected(request.po_id, rejection.reason, message)
        except SupplierFailed as failure:
            message = outside_text(request, failure.message)
            po_log.error("po.failed", reason=failure.reason, message=message)
            metrics.labels(self.config.id, "failed").inc()
            return MarkRejected(request.po_id, failure.reason, message, failed=True)
        except AdapterError as error:
            last = outside_text(request, str(error))
            po_log.error("po.poison", error=last, adapter_errors=poison.errors)
            metrics.labels(self.config.id, ADAPTER_ERROR).inc()
            message = f"the adapter failed on this PO {poison.errors} times; last: {last}"
            return MarkRejected(request.po_id, ADAPTER_ERROR, message, failed=True)
        except SupplierUnavailable as unavailable:
            last = outside_text(request, unavailable.message)
            po_log.error("po.gave_up", error=last)
            metrics.labels(self.config.id, "gave_up").inc()
            message = (
                f"no attempt succeeded within {self.config.give_up_after_s:g}s; last error: {last}"
            )
            return MarkRejected(request.po_id, "gave_up", message, failed=True)
        if isinstance(answer, Submitted):
            metrics.labels(self.config.id, "submitted").inc()
            return MarkSent(request.po_id, answer.supplier_ref, submitted=True)
        metrics.labels(self.config.id, "accepted").inc()
        return MarkAccepted(request.po_id, answer.supplier_ref)

    async def _attempt(self, request: PurchaseOrderRequest) -> Accepted | Submitted:
        actor = self.actor
        if request.po_id in actor._cancelled:
            raise _Cancelled
        answer = await actor.call(
            "send_purchase_order", functools.partial(self.adapter.send_purchase_order, request)
        )
        if not isinstance(answer, Accepted | Submitted):
            actor._metrics.adapter_errors.labels(self.config.id).inc()
            raise AdapterError(
                f"send_purchase_order returned {type(answer).__name__}, not Accepted or Submitted"
            )
        return answer

    async def _retry(
        self, request: PurchaseOrderRequest, poison: PoisonLimit, first_failure: Exception
    ) -> Accepted | Submitted:
        """The attempts after a first one that failed, with tenacity: the first attempt it
        makes is that failure again, so that its stop conditions (the poison limit counts
        it), its backoff and `_note_retry` see every attempt, the first included."""
        actor = self.actor
        retrying = AsyncRetrying(
            retry=retry_if_exception_type((SupplierUnavailable, AdapterError)),
            wait=RetrySchedule(self.config.retry_base_s, self.config.retry_max_s),
            stop=stop_any(
                GiveUp(actor._clock, request.created_at, self.config.give_up_after_s), poison
            ),
            sleep=actor._clock.sleep,
            before_sleep=functools.partial(self._note_retry, request),
            reraise=True,
        )
        failed: Exception | None = first_failure
        async for attempt in retrying:
            with attempt:
                if failed is not None:
                    failure, failed = failed, None
                    raise failure
                return await self._attempt(request)
        raise AssertionError("tenacity ended without an outcome")  # reraise=True: unreachable

    async def _note_retry(self, request: PurchaseOrderRequest, state: RetryCallState) -> None:
        """Before each backoff: count the failed attempt and keep its error visible on the PO."""
        actor = self.actor
        error = state.outcome.exception() if state.outcome else None
        message = outside_text(request, str(error)) if error else "unknown error"
        adapter_error = isinstance(error, AdapterError)
        actor._metrics.po_retries.labels(self.config.id).inc()
        if state.attempt_number == 1:  # log once when a PO starts failing, not every retry
            actor._log.warning(
                "po.retrying",
                po_id=request.po_id,
                error=message,
                retry_in_s=round(state.upcoming_sleep, 2),
            )
        self.recorder.record_nowait(
            CountFailedAttempts(request.po_id, message, adapter_errors=int(adapter_error))
        )

    async def _cancel_at_supplier(self, po_id: str) -> None:
        """Tell the supplier a PO is cancelled, retrying until it has heard."""
        actor = self.actor
        retrying = AsyncRetrying(
            retry=retry_if_exception_type((SupplierUnavailable, AdapterError)),
            wait=RetrySchedule(self.config.retry_base_s, self.config.retry_max_s),
            sleep=actor._clock.sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    await actor.call(
                        "cancel_purchase_order",
                        functools.partial(self.adapter.cancel_purchase_order, po_id),
                    )
        except (SupplierRejected, SupplierFailed) as refusal:
            # The supplier will not cancel (it shipped already, say): visible, and final. Its
            # words may quote the customer, masked knowing who that is (issue 6).
            ship_to = await po_store.ship_to_of(actor._db, po_id)
            error = mask_text(str(refusal), known=ship_to)
            actor._log.warning("po.cancel_refused", po_id=po_id, error=error)
        actor._log.info("po.cancelled_at_supplier", po_id=po_id)
        await self.recorder.record(MarkCancelConfirmed(po_id))
        actor._cancelling.discard(po_id)


def outside_text(request: PurchaseOrderRequest, text: str) -> str:
    """A supplier's own words (a refusal, an error body) as the gateway keeps, shows, publishes
    and logs them: masked where they come in, knowing whose order it is, so that the customer's
    name, street and phone are hidden wherever the supplier quoted them (issue 6)."""
    return mask_text(text, known=request.ship_to)
