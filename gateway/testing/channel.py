"""The channel adapter conformance kit: each rule of `rules.CHANNEL_RULES` as a check that runs
the channel against a counterpart source, with the gateway's side played by the kit: an intake
that validates exactly as the gateway's does, a clock the kit moves (so one poll is one tick, and
no check sleeps), a write-back feed, and a log that is read.

    @pytest.fixture
    def channel_under_test() -> ChannelUnderTest:
        return ChannelUnderTest(factory=ErpPoller, counterpart=HttpSource())

    test_channel_contract = channel_contract_tests()
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import inspect
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import structlog
import structlog.testing

from gateway.domain.intake import InvalidJson, decode_order, normalise
from gateway.domain.model import Order
from gateway.domain.validation import ValidationFailed
from gateway.plugin_api.adapters import (
    ChannelAdapterFactory,
    ChannelContext,
    IntakeBusy,
    OrderUpdate,
    SubmitResult,
)
from gateway.testing.answers import CannotExpress
from gateway.testing.orders import KitOrders
from gateway.testing.rules import CHANNEL_RULES, Rule, rule
from gateway.testing.running import ContractBroken, NotApplicable, run_in_own_loop
from gateway.testing.source import ChannelCounterpart
from gateway.testing.state import MemoryState
from gateway.testing.waits import KitWaits


def sample_order(external_id: str, quantity: int = 2) -> dict[str, Any]:
    """An order in the intake format (`POST /api/v1/orders`) that the kit puts at the source."""
    return {
        "external_id": external_id,
        "created_at": "2026-11-23T10:00:00+08:00",
        "priority": "normal",
        "currency": "CNY",
        "payment": {"status": "paid", "amount": "39.80"},
        "ship_to": {
            "name": "张三丰",
            "phone": "13812345678",
            "country": "CN",
            "province": "浙江省",
            "city": "杭州市",
            "district": "西湖区",
            "address1": "文三路 100 号",
            "postal_code": "310000",
        },
        "lines": [{"line_id": "1", "sku": "SKU-1", "quantity": quantity, "unit_price": "19.90"}],
    }


@dataclass
class ChannelUnderTest:
    """What the kit checks: a channel adapter factory, and a fresh counterpart source.

    `options` are the channel's own options; the counterpart's are merged over them. A check gives
    the channel up to `polls` ticks of the clock to do what it should, and `slack_s` of real time
    for each step (a request to the source)."""

    factory: ChannelAdapterFactory
    counterpart: ChannelCounterpart
    options: dict[str, Any] = field(default_factory=dict)
    polls: int = 5
    slack_s: float = 5.0
    channel_id: str = "kit-channel"


# -- the gateway's side, played by the kit -------------------------------------------------------


class KitClock:
    """A clock that moves only when the kit ticks it; tells the kit when someone sleeps on it."""

    def __init__(self, waits: KitWaits) -> None:
        self._start = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
        self._elapsed = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._counter = itertools.count()
        self._tasks: dict[asyncio.Future[None], asyncio.Task[object] | None] = {}
        self._waits = waits
        self.changed = asyncio.Event()

    def monotonic(self) -> float:
        return self._elapsed

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed)

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (self._elapsed + max(0.0, seconds), next(self._counter), future)
        heapq.heappush(self._sleepers, entry)
        self.changed.set()
        with self._waits.waiting() as task:
            self._tasks[future] = task
            try:
                await future
            finally:
                self._tasks.pop(future, None)

    def sleeping(self) -> bool:
        return any(not f.done() for _, _, f in self._sleepers)

    def wake_next(self) -> None:
        """Move time to the earliest sleeper's deadline and wake everyone due by then."""
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)
        if self._sleepers:
            self._elapsed = max(self._elapsed, self._sleepers[0][0])
        while self._sleepers and self._sleepers[0][0] <= self._elapsed:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)
                self._waits.woken(self._tasks.get(future))


class KitIntake:
    """`ctx.submit`: validates each order as the gateway's intake does; remembers everything."""

    def __init__(self, changed: asyncio.Event, waits: KitWaits) -> None:
        self.results: list[SubmitResult] = []
        self.misuse: list[str] = []
        self.calls = 0
        self.busy_for: list[float] = []  # raise IntakeBusy(retry_after_s) at the next calls
        self.busy_at: list[float] = []  # the kit clock's time of each IntakeBusy raised
        self.call_times: list[float] = []
        self.now: Callable[[], float] = lambda: 0.0
        self.open = asyncio.Event()
        self.open.set()
        self.called = asyncio.Event()
        # The offered order a submitted external id stands for (`ChannelCounterpart.offered_id`).
        self.offered_id: Callable[[str], str] = lambda external_id: external_id
        self._waits = waits
        self._known: dict[str, str] = {}
        self.orders: dict[str, Order] = {}  # by order id, as the gateway stored them
        self._changed = changed

    async def submit(self, raw_orders: list[bytes]) -> list[SubmitResult]:
        self.calls += 1
        self.called.set()
        self._changed.set()
        if not isinstance(raw_orders, list) or not all(
            isinstance(r, bytes | bytearray | msgspec.Raw) for r in raw_orders
        ):
            kinds = sorted({type(r).__name__ for r in raw_orders}) if raw_orders else []
            self.misuse.append(
                f"submit({type(raw_orders).__name__} of {', '.join(kinds) or 'nothing'})"
            )
            raise TypeError("ctx.submit takes a list of bytes: the JSON of one order each")
        self.call_times.append(self.now())
        if self.busy_for:
            self.busy_at.append(self.now())
            raise IntakeBusy(self.busy_for.pop(0))
        if not self.open.is_set():
            with self._waits.waiting():
                await self.open.wait()
        results = [self._one(bytes(raw)) for raw in raw_orders]
        self.results.extend(results)
        self._changed.set()
        return results

    def _one(self, raw: bytes) -> SubmitResult:
        try:
            order = decode_order(raw)
        except ValidationFailed as failed:
            problems = tuple((p.json_path(), p.message) for p in failed.problems)
            return SubmitResult(external_id=_external_id(raw), problems=problems)
        except InvalidJson as error:
            return SubmitResult(external_id=None, problems=(("$", f"not valid JSON: {error}"),))
        duplicate = order.external_id in self._known
        order_id = self._known.setdefault(order.external_id, f"ord_kit{len(self._known):09d}")
        if not duplicate:
            self.orders[order_id] = normalise(order, order_id=order_id)
        return SubmitResult(external_id=order.external_id, order_id=order_id, duplicate=duplicate)

    def accepted(self) -> dict[str, str]:
        """The order ids of the accepted orders, by the external id they were offered under."""
        return {
            self.offered_id(r.external_id): r.order_id
            for r in self.results
            if r.external_id and r.order_id
        }

    def submitted_as(self, offered: str) -> str:
        """The external id the channel submitted for the order offered as `offered`."""
        for result in self.results:
            if result.external_id and self.offered_id(result.external_id) == offered:
                return result.external_id
        return offered


def _external_id(raw: bytes) -> str | None:
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    found = value.get("external_id") if isinstance(value, dict) else None
    return found if isinstance(found, str) else None


class KitUpdates:
    """`ctx.updates`: the write-back feed, filled by the kit."""

    def __init__(
        self, changed: asyncio.Event, on_ack: Callable[[int], None], waits: KitWaits
    ) -> None:
        self.updates: list[OrderUpdate] = []
        self.position = 0
        self.reads = 0
        self.acks: list[int] = []
        self._more = asyncio.Event()
        self._changed = changed
        self._on_ack = on_ack
        self._waits = waits
        self._reader: asyncio.Task[object] | None = None

    def push(self, update: OrderUpdate) -> None:
        self.updates.append(update)
        self._more.set()
        self._waits.woken(self._reader)  # it has an update to write back now

    async def next_batch(self, limit: int = 100) -> list[OrderUpdate]:
        self.reads += 1
        self._changed.set()
        while True:
            waiting = [u for u in self.updates if u.seq > self.position][:limit]
            if waiting:
                return waiting
            self._more.clear()
            with self._waits.waiting() as self._reader:
                await self._more.wait()

    async def ack(self, through_seq: int) -> None:
        self._on_ack(through_seq)
        self.acks.append(through_seq)
        self.position = max(self.position, through_seq)
        self._changed.set()


# -- one check's channel -------------------------------------------------------------------------


class ChannelRun:
    """The counterpart started and the channel's `run(ctx)` running as a task; the kit ticks the
    clock to let it poll. On exit the channel is cancelled and the counterpart stopped."""

    def __init__(self, subject: ChannelUnderTest, checked: Rule) -> None:
        self.subject = subject
        self.rule = checked
        self.counterpart = subject.counterpart
        self.changed = asyncio.Event()
        self.waits = KitWaits(self.changed)
        self.clock = KitClock(self.waits)
        self.clock.changed = self.changed
        self.intake = KitIntake(self.changed, self.waits)
        self.intake.now = self.clock.monotonic
        self.intake.offered_id = getattr(self.counterpart, "offered_id", self.intake.offered_id)
        self.early_acks: list[int] = []
        self.updates = KitUpdates(self.changed, self._check_ack, self.waits)
        self.log = structlog.testing.CapturingLogger()
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ChannelRun:
        await self.counterpart.start()
        return self

    def start(self) -> None:
        ctx = ChannelContext(
            channel_id=self.subject.channel_id,
            options={**self.subject.options, **self.counterpart.options()},
            submit=self.intake.submit,
            clock=self.clock,
            log=structlog.wrap_logger(
                self.log,
                processors=[],  # the kit reads the events as they are logged
                wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
            ),
            state=MemoryState(),
            updates=self.updates,
            orders=KitOrders(self.intake.orders, lambda: self.updates.updates),
        )
        try:
            instance = self.subject.factory()
        except Exception as error:
            raise self.broken(
                "the kit built the channel: factory()",
                f"the factory raised {type(error).__name__}: {error}",
                "a channel adapter",
            ) from error
        if not inspect.iscoroutinefunction(getattr(instance, "run", None)):
            raise self.broken(
                "the kit built the channel: factory()",
                f"{type(instance).__name__} has no async run(ctx)",
                "an object with async run(ctx) (ChannelAdapter)",
            )
        self.task = asyncio.get_running_loop().create_task(instance.run(ctx))
        self.task.add_done_callback(lambda _: self.changed.set())

    async def __aexit__(self, *_: object) -> None:
        try:
            if self.task is not None and not self.task.done():
                self.task.cancel()
                await asyncio.wait({self.task}, timeout=self.subject.slack_s)
            if self.task is not None and self.task.done() and not self.task.cancelled():
                self.task.exception()  # seen: the check has reported it if it mattered
        finally:
            await self.counterpart.stop()

    def broken(self, situation: str, got: str, expected: str) -> ContractBroken:
        return ContractBroken(self.rule, situation, got, expected)

    def _check_ack(self, through_seq: int) -> None:
        try:
            written = self.counterpart.written_back()
        except CannotExpress:
            return
        due = [u for u in self.updates.updates if u.seq <= through_seq]
        missing = [
            u.seq
            for u in due
            if not any(
                w.external_id == self.intake.offered_id(u.external_id) and w.type == u.type
                for w in written
            )
        ]
        if missing:
            self.early_acks.extend(missing)

    async def settle(self, done: Callable[[], bool] = lambda: False) -> None:
        """Wait until the channel is idle (each of its tasks waits on the kit: `KitWaits`) with
        someone asleep on the clock, ends, or `done()` (bounded: `slack_s`)."""
        assert self.task is not None
        deadline = asyncio.get_running_loop().time() + self.subject.slack_s
        while not ((self.waits.idle() and self.clock.sleeping()) or self.task.done() or done()):
            self.changed.clear()
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise ContractBroken(
                    rule("channel.clock"),
                    "the kit let the channel run and waited for it to wait on ctx.clock",
                    f"no call of ctx.clock.sleep within {self.subject.slack_s:g} s"
                    " (asyncio.sleep, a blocking call, or a wait on something else)",
                    "await ctx.clock.sleep(seconds) between polls",
                )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self.changed.wait()

    async def until(self, done: Callable[[], bool], polls: int | None = None) -> bool:
        """Tick the clock, one poll at a time, until `done()` or the polls run out."""
        assert self.task is not None
        for _ in range((polls or self.subject.polls) + 1):
            await self.settle(done)
            if done():
                return True
            if self.task.done():
                return done()
            self.clock.wake_next()
            await asyncio.sleep(0)
        return done()

    def crashed(self) -> BaseException | None:
        if self.task is not None and self.task.done() and not self.task.cancelled():
            return self.task.exception()
        return None

    def must_still_run(self, situation: str) -> None:
        assert self.task is not None
        if self.task.done():
            error = self.crashed()
            ended = f"run() raised {_describe(error)}" if error else "run() returned"
            raise self.broken(
                situation,
                ended,
                "run() keeps going until cancelled: a source that is away, or a bad order, is"
                " handled, logged once, and tried again",
            )

    def must_submit_properly(self, situation: str) -> None:
        if self.intake.misuse:
            raise self.broken(
                situation,
                f"the channel called {self.intake.misuse[0]}",
                "ctx.submit(list of bytes), each the JSON of one order in the intake format",
            )


def _describe(error: BaseException) -> str:
    """`ValueError: ...`, also from inside the ExceptionGroup of a TaskGroup."""
    if isinstance(error, BaseExceptionGroup):
        return "; ".join(_describe(inner) for inner in error.exceptions)
    if isinstance(error, NotImplementedError):
        return f"NotImplementedError (not written yet): {error}"
    return f"{type(error).__name__}: {error}"


# -- the checks ----------------------------------------------------------------------------------

Check = Callable[[ChannelUnderTest, Rule], Awaitable[None]]
CHECKS: dict[str, Check] = {}


def _check(rule_id: str) -> Callable[[Check], Check]:
    def register(check: Check) -> Check:
        CHECKS[rule_id] = check
        return check

    return register


@_check("channel.submits")
async def _submits(subject: ChannelUnderTest, checked: Rule) -> None:
    async with ChannelRun(subject, checked) as run:
        for external_id in ("SO-KIT-1", "SO-KIT-2"):
            run.counterpart.offer(sample_order(external_id))
        situation = "the source had two new orders, SO-KIT-1 and SO-KIT-2"
        run.start()
        taken = await run.until(lambda: {"SO-KIT-1", "SO-KIT-2"} <= set(run.intake.accepted()))
        run.must_submit_properly(situation)
        refused = [r for r in run.intake.results if not r.accepted]
        if refused:
            problems = "; ".join(f"{p}: {m}" for r in refused for p, m in r.problems)
            raise run.broken(
                situation,
                f"the intake refused what the channel submitted: {problems}",
                "each order in the intake format of POST /api/v1/orders (docs/openapi.yaml)",
            )
        if not taken:
            run.must_still_run(situation)
            raise run.broken(
                situation,
                f"after {subject.polls} polls ctx.submit had {sorted(run.intake.accepted())}",
                "both orders handed to ctx.submit",
            )


@_check("channel.confirms_after_submit")
async def _confirms_after_submit(subject: ChannelUnderTest, checked: Rule) -> None:
    async with ChannelRun(subject, checked) as run:
        run.counterpart.offer(sample_order("SO-KIT-1"))
        run.intake.open.clear()  # submit is slow: the orders are being stored
        situation = "the source had SO-KIT-1 and ctx.submit took its time to store it"
        run.start()
        called = await run.until(lambda: run.intake.calls > 0)
        if not called:
            run.must_still_run(situation)
            raise run.broken(situation, "ctx.submit was never called", "ctx.submit([...])")
        if "SO-KIT-1" in run.counterpart.confirmed():
            raise run.broken(
                situation,
                "the channel confirmed SO-KIT-1 to the source before ctx.submit returned",
                "confirm only after ctx.submit returned (the orders are stored then)",
            )
        run.intake.open.set()
        if not await run.until(lambda: "SO-KIT-1" in run.counterpart.confirmed()):
            raise run.broken(
                situation + " (then returned)",
                f"after {subject.polls} polls the source had confirmations of"
                f" {run.counterpart.confirmed()}",
                "SO-KIT-1 confirmed at the source",
            )


@_check("channel.refused_orders")
async def _refused_orders(subject: ChannelUnderTest, checked: Rule) -> None:
    async with ChannelRun(subject, checked) as run:
        run.counterpart.offer(sample_order("SO-KIT-BAD", quantity=0))
        run.counterpart.offer(sample_order("SO-KIT-1"))
        situation = "the source had SO-KIT-BAD (quantity 0, refused by the intake) and SO-KIT-1"
        run.start()
        await run.until(lambda: "SO-KIT-1" in run.intake.accepted())
        run.must_still_run(situation)
        run.counterpart.offer(sample_order("SO-KIT-2"))
        later = await run.until(lambda: "SO-KIT-2" in run.intake.accepted())
        run.must_still_run(situation + ", then SO-KIT-2")
        if not later or "SO-KIT-1" not in run.intake.accepted():
            raise run.broken(
                situation + ", then SO-KIT-2",
                f"ctx.submit accepted {sorted(run.intake.accepted())}",
                "SO-KIT-1 and SO-KIT-2 taken in: a refused order stops nothing behind it",
            )


@_check("channel.intake_busy")
async def _intake_busy(subject: ChannelUnderTest, checked: Rule) -> None:
    async with ChannelRun(subject, checked) as run:
        run.counterpart.offer(sample_order("SO-KIT-1"))
        run.intake.busy_for = [7.0]
        situation = "the source had SO-KIT-1 and ctx.submit raised IntakeBusy(retry_after_s=7)"
        run.start()
        busy = await run.until(lambda: bool(run.intake.busy_at))
        if not busy:
            run.must_still_run(situation)
            raise run.broken(situation, "ctx.submit was never called", "ctx.submit([...])")
        await run.settle()
        confirmed_early = "SO-KIT-1" in run.counterpart.confirmed()
        taken = await run.until(lambda: "SO-KIT-1" in run.intake.accepted())
        run.must_still_run(situation)
        if confirmed_early:
            raise run.broken(
                situation,
                "the channel confirmed SO-KIT-1 to the source although nothing was stored",
                "no confirmation until ctx.submit returned",
            )
        if not taken:
            raise run.broken(
                situation,
                f"after {subject.polls} polls SO-KIT-1 was still not submitted again",
                "the same orders submitted again after retry_after_s",
            )
        waited = run.intake.call_times[-1] - run.intake.busy_at[0]
        if waited < 7.0:
            raise run.broken(
                situation,
                f"the channel submitted again after {waited:g} s of ctx.clock",
                "at least retry_after_s (7 s) of ctx.clock.sleep before trying again",
            )


@_check("channel.source_away")
async def _source_away(subject: ChannelUnderTest, checked: Rule) -> None:
    async with ChannelRun(subject, checked) as run:
        try:
            run.counterpart.set_available(False)
        except CannotExpress as why:
            raise NotApplicable(f"the counterpart cannot make the source go away ({why})") from None
        situation = f"the source was away for {subject.polls} polls"
        run.start()
        await run.until(lambda: False)
        run.must_still_run(situation)
        complaints = [
            c
            for c in run.log.calls
            if c.method_name in ("warning", "error", "exception", "critical")
        ]
        if len(complaints) > 1:
            events = ", ".join(
                str(c.args[0] if c.args else c.kwargs.get("event")) for c in complaints
            )
            raise run.broken(
                situation,
                f"the channel logged {len(complaints)} warnings or errors: {events}",
                "one line when the source goes away (and one when it is back), not one per poll",
            )
        run.counterpart.set_available(True)
        run.counterpart.offer(sample_order("SO-KIT-1"))
        if not await run.until(lambda: "SO-KIT-1" in run.intake.accepted()):
            run.must_still_run(situation)
            raise run.broken(
                situation + ", then came back with SO-KIT-1",
                f"after {subject.polls} more polls ctx.submit had {sorted(run.intake.accepted())}",
                "SO-KIT-1 taken in once the source is back",
            )


@_check("channel.clock")
async def _clock(subject: ChannelUnderTest, checked: Rule) -> None:
    async with ChannelRun(subject, checked) as run:
        run.start()
        await run.settle()
        run.must_still_run("the source had nothing new")


@_check("channel.cancellation")
async def _cancellation(subject: ChannelUnderTest, checked: Rule) -> None:
    async with ChannelRun(subject, checked) as run:
        run.start()
        await run.settle()
        assert run.task is not None
        situation = "the channel was waiting for its next poll and the kit cancelled it"
        run.must_still_run("the source had nothing new")
        run.task.cancel()
        done, _ = await asyncio.wait({run.task}, timeout=subject.slack_s)
        if not done:
            raise run.broken(
                situation,
                f"run() was still running {subject.slack_s:g} s later",
                "asyncio.CancelledError, promptly",
            )
        if not run.task.cancelled():
            error = run.task.exception()
            got = f"run() raised {_describe(error)}" if error else "run() returned"
            raise run.broken(
                situation, got + " (the cancellation was swallowed)", "asyncio.CancelledError"
            )


@_check("channel.write_back")
async def _write_back(subject: ChannelUnderTest, checked: Rule) -> None:
    async with ChannelRun(subject, checked) as run:
        try:
            run.counterpart.written_back()
        except CannotExpress as why:
            raise NotApplicable(f"the source takes no write-back ({why})") from None
        run.counterpart.offer(sample_order("SO-KIT-1"))
        run.start()
        if not await run.until(lambda: "SO-KIT-1" in run.intake.accepted()):
            run.must_still_run("the source had SO-KIT-1")
            raise run.broken(
                "the source had SO-KIT-1", "it was never submitted", "SO-KIT-1 submitted"
            )
        order_id = run.intake.accepted()["SO-KIT-1"]
        update = OrderUpdate(
            seq=1,
            event_id="evt_kit000000001",
            type="po.shipped",
            at=run.clock.now(),
            order_id=order_id,
            external_id=run.intake.submitted_as("SO-KIT-1"),
            po_id=f"po_{order_id[4:]}-1",
            supplier_id="sup-a",
            data={  # as the gateway's po.shipped event has it
                "shipment_id": "shp_kit000000001",
                "carrier": "SF",
                "tracking_number": "SF1234567890",
                "complete": True,
                "lines": [{"sku": "SKU-1", "quantity": 2}],
            },
        )
        run.updates.push(update)
        situation = "SO-KIT-1 shipped (update po.shipped, SF SF1234567890)"
        written = await run.until(
            lambda: (
                any(
                    w.external_id == "SO-KIT-1" and w.type == "po.shipped"
                    for w in run.counterpart.written_back()
                )
                and 1 in run.updates.acks
            )
        )
        if run.early_acks:
            raise run.broken(
                situation,
                f"ctx.updates.ack({run.updates.acks[0]}) came before the source had the update",
                "write the update to the source, then ack it",
            )
        if not written:
            run.must_still_run(situation)
            got = (
                "the channel never read ctx.updates"
                if run.updates.reads == 0
                else f"the source got {run.counterpart.written_back()}, acks {run.updates.acks}"
            )
            raise run.broken(situation, got, "the update written back to the source, then ack(1)")
        tracking = next(w for w in run.counterpart.written_back() if w.type == "po.shipped")
        if "SF1234567890" not in str(tracking.data):
            raise run.broken(
                situation, f"the source got {tracking}", "the tracking number SF1234567890"
            )


# -- pytest --------------------------------------------------------------------------------------


def check_channel_rule(subject: ChannelUnderTest, checked: Rule) -> None:
    """Check one rule; raise ContractBroken or NotApplicable, or return when the rule holds."""
    limit = 4 * subject.polls * subject.slack_s + 30
    run_in_own_loop(
        lambda: CHECKS[checked.id](subject, checked), limit, checked, f"checking {checked.id}"
    )


def channel_contract_tests(fixture: str = "channel_under_test") -> Callable[..., None]:
    """A pytest test, one case per rule of the channel adapter contract, checking the
    `ChannelUnderTest` the fixture named `fixture` returns:
    `test_channel_contract = channel_contract_tests()`."""
    import pytest

    @pytest.mark.parametrize("contract_rule", CHANNEL_RULES, ids=lambda r: r.id)
    def test(contract_rule: Rule, request: pytest.FixtureRequest) -> None:
        subject: ChannelUnderTest = request.getfixturevalue(fixture)
        request.node.user_properties.append(("contract_rule", f"channel:{contract_rule.id}"))
        try:
            check_channel_rule(subject, contract_rule)
        except ContractBroken as broken:
            failure = str(broken)
        except NotApplicable as why:
            skipped = f"{contract_rule.id} not applicable: {why}"
        else:
            return
        if "failure" in locals():
            pytest.fail(failure, pytrace=False)
        pytest.skip(skipped)

    test.__doc__ = "The channel adapter contract of the Dropship Gateway, one rule per case."
    return test
