"""The supplier adapter conformance kit: each rule of `rules.SUPPLIER_RULES` as a check that
scripts the counterpart, drives the adapter, and names the rule when the adapter breaks it.

    @pytest.fixture
    def supplier_under_test() -> SupplierUnderTest:
        return SupplierUnderTest(factory=AcmeSupplier, counterpart=AcmeCounterpart())

    test_supplier_contract = supplier_contract_tests()
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import msgspec
import structlog

from gateway.domain.model import Address, PoStatus
from gateway.infra.clock import SystemClock
from gateway.plugin_api.adapters import (
    Accepted,
    PoAcknowledged,
    PoRefused,
    PoShipment,
    PurchaseOrderLine,
    PurchaseOrderReport,
    PurchaseOrderRequest,
    ReportBatch,
    ShipmentReport,
    StockLevel,
    Submitted,
    SupplierAdapterFactory,
    SupplierContext,
    SupplierFailed,
    SupplierRejected,
    SupplierUnavailable,
)
from gateway.testing.answers import (
    AlreadyHave,
    Answer,
    Busy,
    CannotExpress,
    Confirmed,
    Garbled,
    Hangup,
    Malformed,
    NoAnswer,
    NotAllowed,
    Operation,
    Refuse,
    Report,
    Status,
    Stock,
    Take,
    UnknownPo,
    describe,
)
from gateway.testing.counterpart import SupplierCounterpart
from gateway.testing.rules import SUPPLIER_RULES, Rule, rule
from gateway.testing.running import ContractBroken, NotApplicable, run_in_own_loop
from gateway.testing.state import MemoryState

if TYPE_CHECKING:
    import pytest

ADAPTER_METHODS = (
    "start",
    "close",
    "send_purchase_order",
    "cancel_purchase_order",
    "fetch_purchase_order",
    "fetch_inventory",
)
REPORTING_METHODS = ("collect_reports", "confirm_reports")
LIFECYCLE = rule("adapter.lifecycle")
FACTORY_LIMIT_S = 2.0  # a factory only stores its context; anything slower is doing I/O
SHIPPED_AT = datetime(2026, 11, 24, 8, 30, tzinfo=UTC)


def sample_purchase_order(po_id: str = "po_0123456789abcdef-1") -> PurchaseOrderRequest:
    """The PO the kit sends: two lines, and a full address with the personal data a real one has
    (which must reach the supplier and nothing else)."""
    return PurchaseOrderRequest(
        po_id=po_id,
        order_id="ord_0123456789abcdef",
        order_external_id="SO-20261123-0001",
        supplier_id="kit-supplier",
        created_at=datetime(2026, 11, 23, 2, 0, tzinfo=UTC),
        priority="normal",
        currency="CNY",
        ship_to=Address(
            name="张三丰",
            phone="13812345678",
            country="CN",
            region="CN-ZJ",
            province="浙江省",
            city="杭州市",
            district="西湖区",
            address1="文三路 100 号",
            postal_code="310000",
            id_number="330106199001011234",
        ),
        lines=(
            PurchaseOrderLine(line_id="1", sku="SKU-1", quantity=2, unit_cost=Decimal("12.50")),
            PurchaseOrderLine(line_id="2", sku="SKU-2", quantity=1, unit_cost=Decimal("3.00")),
        ),
        order_created_at=datetime(2026, 11, 23, 1, 58, tzinfo=UTC),
    )


@dataclass
class SupplierUnderTest:
    """What the kit checks: an adapter factory, and a fresh counterpart to check it against.

    `options` are the adapter's own options (credentials...); the counterpart's `options()` are
    merged over them. `timeout_s` is the `SupplierContext.timeout_s` of every check except
    `send.timeout`, which uses `no_answer_timeout_s`. A call may take `slack_s` more than its
    timeout before the kit calls it hung."""

    factory: SupplierAdapterFactory
    counterpart: SupplierCounterpart
    options: dict[str, Any] = field(default_factory=dict)
    timeout_s: float = 5.0
    no_answer_timeout_s: float = 1.0
    slack_s: float = 5.0
    purchase_order: PurchaseOrderRequest = field(default_factory=sample_purchase_order)
    supplier_id: str = "kit-supplier"

    def po(self, n: int = 1) -> PurchaseOrderRequest:
        """The kit's PO number `n` (a different po_id for each situation of one check)."""
        base = self.purchase_order.po_id.rsplit("-", 1)[0]
        return msgspec.structs.replace(self.purchase_order, po_id=f"{base}-{n}")


# -- one check's adapter and counterpart ---------------------------------------------------------


@dataclass
class Outcome:
    """How one call of the adapter ended."""

    call: str
    value: Any = None
    error: BaseException | None = None
    hung_after_s: float | None = None

    def __str__(self) -> str:
        if self.hung_after_s is not None:
            return f"{self.call} did not return within {self.hung_after_s:g} s"
        if isinstance(self.error, NotImplementedError):
            return f"{self.call} is not written yet: {self.error}"
        if self.error is not None:
            hint = _hint(self.error)
            return f"{self.call} raised {_show(self.error)}{hint}"
        return f"{self.call} returned {_clip(repr(self.value))}"


def _show(error: BaseException) -> str:
    extra = ""
    if isinstance(error, SupplierUnavailable):
        extra = f", retry_after={error.retry_after!r}"
    if isinstance(error, SupplierRejected | SupplierFailed):
        return f"{type(error).__name__}(reason={error.reason!r}, message={_clip(error.message)!r})"
    return f"{type(error).__name__}({_clip(str(error))!r}{extra})"


def _clip(text: str, limit: int = 240) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _hint(error: BaseException) -> str:
    module = type(error).__module__
    if isinstance(error, TimeoutError) or module.startswith(("aiohttp", "asyncssh", "httpx")):
        return " (a network error or timeout escaped: translate it into SupplierUnavailable)"
    if module.startswith(("msgspec", "json")) or isinstance(error, ValueError | KeyError):
        return " (an answer that cannot be read is SupplierUnavailable, not a crash)"
    return ""


class Trial:
    """One check: the counterpart started, the adapter built against it and started; on exit
    the adapter is closed, the counterpart stopped, and nothing may be left running."""

    def __init__(self, subject: SupplierUnderTest, checked: Rule, timeout_s: float | None = None):
        self.subject = subject
        self.rule = checked
        self.counterpart = subject.counterpart
        self.timeout_s = timeout_s if timeout_s is not None else subject.timeout_s
        self.adapter: Any = None
        self.reporting = False
        self._started = False
        self._tasks_before: set[asyncio.Task[Any]] = set()

    async def __aenter__(self) -> Trial:
        self._tasks_before = set(asyncio.all_tasks())
        await self.counterpart.start()
        try:
            await self._build_and_start()
        except BaseException:
            await self.counterpart.stop()
            raise
        return self

    async def _build_and_start(self) -> None:
        ctx = SupplierContext(
            supplier_id=self.subject.supplier_id,
            url=self.counterpart.url(),
            timeout_s=self.timeout_s,
            max_in_flight=4,
            options={**self.subject.options, **self.counterpart.options()},
            state=MemoryState(),
            clock=SystemClock(),
            log=structlog.get_logger("gateway.testing").bind(supplier_id=self.subject.supplier_id),
        )
        built = f"the kit built the adapter: factory({_short(ctx)})"
        began = time.monotonic()
        try:
            self.adapter = self.subject.factory(ctx)
        except Exception as error:
            raise ContractBroken(
                LIFECYCLE, built, f"the factory raised {_show(error)}", "an adapter"
            ) from error
        took = time.monotonic() - began
        if took > FACTORY_LIMIT_S:
            raise ContractBroken(
                LIFECYCLE,
                built,
                f"the factory took {took:.1f} s",
                "a factory that returns at once: it runs on the gateway's event loop, so do I/O"
                " (logins, connections) in start()",
            )
        not_async = [
            m
            for m in ADAPTER_METHODS
            if not inspect.iscoroutinefunction(getattr(self.adapter, m, None))
        ]
        if not_async:
            raise ContractBroken(
                LIFECYCLE,
                built,
                f"{type(self.adapter).__name__} has no async {', '.join(not_async)}",
                f"async methods {', '.join(ADAPTER_METHODS)} (SupplierAdapter)",
            )
        reporting = [m for m in REPORTING_METHODS if callable(getattr(self.adapter, m, None))]
        if reporting and len(reporting) < len(REPORTING_METHODS):
            raise ContractBroken(
                LIFECYCLE,
                built,
                f"{type(self.adapter).__name__} has {reporting[0]} alone",
                "both collect_reports and confirm_reports (ReportingSupplierAdapter), or neither",
            )
        self.reporting = bool(reporting)
        started = await self.call("start")
        if started.error is not None or started.hung_after_s is not None:
            raise ContractBroken(
                LIFECYCLE,
                "the kit called start()",
                str(started),
                "start() opens what the adapter needs and returns",
            )
        self._started = True

    async def __aexit__(self, kind: object, error: BaseException | None, _: object) -> None:
        try:
            if self._started:
                closed = await self.call("close")
                if error is None and (closed.error is not None or closed.hung_after_s):
                    raise ContractBroken(
                        LIFECYCLE,
                        "the kit called close() after the check",
                        str(closed),
                        "close() releases what start() opened and returns",
                    )
        finally:
            await self.counterpart.stop()
        if error is None:
            await self._nothing_left_running()

    async def _nothing_left_running(self) -> None:
        current = asyncio.current_task()
        await asyncio.sleep(0)  # let tasks that close() cancelled finish cancelling
        left = [
            t
            for t in asyncio.all_tasks()
            if t not in self._tasks_before and t is not current and not t.done()
        ]
        if left:
            for task in left:
                task.cancel()
            raise ContractBroken(
                LIFECYCLE,
                f"the adapter was closed after checking {self.rule.id}",
                f"tasks were still running: {', '.join(sorted(_task_name(t) for t in left))}",
                "close() ends every task the adapter started (own them; cancel and await them)",
            )

    async def call(self, method: str, *args: Any, limit_s: float | None = None) -> Outcome:
        """Call an adapter method, bounded by its timeout plus the slack."""
        shown = ", ".join(_short(a) for a in args)
        outcome = Outcome(f"{method}({shown})")
        limit = limit_s if limit_s is not None else self.timeout_s + self.subject.slack_s
        task: asyncio.Task[Any] = asyncio.ensure_future(getattr(self.adapter, method)(*args))
        done, _ = await asyncio.wait({task}, timeout=limit)
        if not done:
            task.cancel()
            await asyncio.wait({task}, timeout=self.subject.slack_s)
            outcome.hung_after_s = limit
        elif task.cancelled():
            outcome.error = asyncio.CancelledError()
        elif task.exception() is not None:
            outcome.error = task.exception()
        else:
            outcome.value = task.result()
        return outcome

    # -- scripting and expectations ------------------------------------------------------------

    def script(self, operation: Operation, po_id: str | None, *answers: Answer) -> Answer:
        """Script the first of `answers` the counterpart can express (a dialect without
        references takes `Take(None)` where `Take("REF")` cannot be said)."""
        reasons: list[str] = []
        for answer in answers:
            try:
                self.counterpart.script(operation, po_id, answer)
            except CannotExpress as why:
                reasons.append(str(why) or type(answer).__name__)
                continue
            return answer
        raise NotApplicable(
            f"the counterpart cannot express that the supplier {describe(answers[0])} "
            f"({'; '.join(reasons)})"
        )

    def publish(self, report: Report) -> None:
        try:
            self.counterpart.publish(report)
        except CannotExpress as why:
            raise NotApplicable(
                f"{self.rule.id}: the counterpart cannot publish reports ({why})"
            ) from None

    def broken(self, situation: str, got: str, expected: str) -> ContractBroken:
        return ContractBroken(self.rule, situation, got, expected)

    def raised(
        self, outcome: Outcome, kind: type[BaseException], situation: str, expected: str
    ) -> Any:
        """The exception of `outcome` if it is a `kind`; else the rule is broken."""
        if isinstance(outcome.error, kind):
            return outcome.error
        raise self.broken(situation, str(outcome), expected)

    def returned(
        self, outcome: Outcome, kind: type | tuple[type, ...], situation: str, expected: str
    ) -> Any:
        if (
            outcome.error is None
            and outcome.hung_after_s is None
            and isinstance(outcome.value, kind)
        ):
            return outcome.value
        raise self.broken(situation, str(outcome), expected)

    def not_supported(self, outcome: Outcome) -> None:
        """An adapter may answer `SupplierFailed("not_supported")` for what its supplier cannot
        do (cancel, status, inventory); the rules about it then do not apply."""
        if isinstance(outcome.error, SupplierFailed) and outcome.error.reason == "not_supported":
            raise NotApplicable(f"the adapter says {outcome.call.split('(')[0]} is not_supported")

    def require_reporting(self) -> None:
        if not self.reporting:
            raise NotApplicable("the adapter has no collect_reports (not a reporting adapter)")


def _short(value: Any) -> str:
    if isinstance(value, PurchaseOrderRequest):
        return f"<PO {value.po_id}>"
    if isinstance(value, SupplierContext):
        return f"SupplierContext(url={value.url!r}, timeout_s={value.timeout_s:g}, ...)"
    return repr(value)


def _batch_text(batch: ReportBatch) -> str:
    reports, problems = list(batch.reports), list(batch.problems)
    return f"collect_reports returned reports={reports}, problems={problems}"


def _task_name(task: asyncio.Task[Any]) -> str:
    coro = task.get_coro()
    name = getattr(coro, "__qualname__", None) or task.get_name()
    return str(name)


def _personal_data(po: PurchaseOrderRequest) -> dict[str, str]:
    """Each personal value of the PO's address, and the forms it takes inside a message: as
    text, JSON-escaped (`\\u5f20`), and as the repr of its UTF-8 bytes (`\\xe5\\xbc`)."""
    ship_to = po.ship_to
    found: dict[str, str] = {}
    for label, value in (
        ("name", ship_to.name),
        ("phone", ship_to.phone),
        ("address1", ship_to.address1),
        ("id_number", ship_to.id_number),
    ):
        if value:
            for form in (value, json.dumps(value)[1:-1], repr(value.encode())[2:-1]):
                found[form] = label
    return found


def _lines(po: PurchaseOrderRequest) -> tuple[tuple[str, int], ...]:
    return tuple((line.sku, line.quantity) for line in po.lines)


# -- the checks, one per rule --------------------------------------------------------------------

Check = Callable[[SupplierUnderTest, Rule], Awaitable[None]]
CHECKS: dict[str, Check] = {}


def _check(rule_id: str) -> Callable[[Check], Check]:
    def register(check: Check) -> Check:
        CHECKS[rule_id] = check
        return check

    return register


@_check("adapter.lifecycle")
async def _lifecycle(subject: SupplierUnderTest, checked: Rule) -> None:
    unclosed: list[str] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, context: unclosed.append(str(context.get("message"))))
    async with Trial(subject, checked) as trial:
        po = subject.po()
        trial.script(Operation.SEND, po.po_id, Take("SUP-REF-1"), Take(None))
        await trial.call("send_purchase_order", po)
        adapter_type = type(trial.adapter).__name__
    trial.adapter = None
    gc.collect()
    await asyncio.sleep(0)
    loop.set_exception_handler(None)
    left = [m for m in unclosed if "nclosed" in m]  # aiohttp: "Unclosed client session"
    if left:
        raise trial.broken(
            "the kit started the adapter, sent one PO and closed it",
            f"{adapter_type} left resources open: {'; '.join(left)}",
            "close() releases everything start() opened",
        )


@_check("send.accepted")
async def _send_accepted(subject: SupplierUnderTest, checked: Rule) -> None:
    async with Trial(subject, checked) as trial:
        po = subject.po()
        answer = trial.script(Operation.SEND, po.po_id, Take("SUP-REF-1"), Take(None))
        situation = f"the supplier {describe(answer)}"
        outcome = await trial.call("send_purchase_order", po)
        value = trial.returned(
            outcome,
            (Accepted, Submitted),
            situation,
            "Accepted(supplier_ref=...) or Submitted(...)",
        )
        expected_ref = getattr(answer, "supplier_ref", None)
        if isinstance(value, Submitted) and not trial.reporting:
            raise trial.broken(
                situation,
                str(outcome),
                "Accepted: Submitted is only for an adapter with collect_reports, through which "
                "the supplier's answer comes later; here it would never come",
            )
        if isinstance(value, Accepted) and expected_ref and value.supplier_ref != expected_ref:
            raise trial.broken(situation, str(outcome), f"Accepted(supplier_ref={expected_ref!r})")
        received = [r for r in trial.counterpart.received() if r.po_id == po.po_id]
        if len(received) != 1:
            raise trial.broken(
                situation,
                f"the supplier read {len(received)} attempts of {po.po_id} "
                f"(it received {len(trial.counterpart.received())} readable POs)",
                "exactly one attempt per call, with the PO's po_id",
            )
        if sorted(received[0].lines) != sorted(_lines(po)):
            raise trial.broken(
                situation,
                f"the supplier read the lines {list(received[0].lines)}",
                f"the PO's lines {list(_lines(po))} as (sku, quantity)",
            )


@_check("send.idempotency_key")
async def _send_idempotency_key(subject: SupplierUnderTest, checked: Rule) -> None:
    async with Trial(subject, checked) as trial:
        po = subject.po()
        trial.script(Operation.SEND, po.po_id, Busy(None))
        trial.script(Operation.SEND, po.po_id, AlreadyHave("SUP-REF-1"), AlreadyHave(None))
        await trial.call("send_purchase_order", po)
        await trial.call("send_purchase_order", po)
        keys = [r.idempotency_key for r in trial.counterpart.received() if r.po_id == po.po_id]
        if keys != [po.po_id, po.po_id]:
            raise trial.broken(
                f"the kit sent {po.po_id} twice (a first attempt answered 'busy', then a retry)",
                f"the supplier read the idempotency keys {keys}",
                f"[{po.po_id!r}, {po.po_id!r}]: the po_id on every attempt",
            )


@_check("send.duplicate")
async def _send_duplicate(subject: SupplierUnderTest, checked: Rule) -> None:
    async with Trial(subject, checked) as trial:
        po = subject.po()
        answer = trial.script(Operation.SEND, po.po_id, AlreadyHave("SUP-REF-1"), AlreadyHave(None))
        situation = f"the supplier {describe(answer)}"
        outcome = await trial.call("send_purchase_order", po)
        value = trial.returned(outcome, (Accepted, Submitted), situation, "Accepted(...)")
        expected_ref = getattr(answer, "supplier_ref", None)
        if isinstance(value, Accepted) and expected_ref and value.supplier_ref != expected_ref:
            raise trial.broken(situation, str(outcome), f"Accepted(supplier_ref={expected_ref!r})")


@_check("send.refused")
async def _send_refused(subject: SupplierUnderTest, checked: Rule) -> None:
    async with Trial(subject, checked) as trial:
        for n, reason in ((1, "out_of_stock"), (2, "bad_address")):
            po = subject.po(n)
            answer = trial.script(Operation.SEND, po.po_id, Refuse(reason, "cannot take this PO"))
            situation = f"the supplier {describe(answer)}"
            outcome = await trial.call("send_purchase_order", po)
            refused = trial.raised(
                outcome, SupplierRejected, situation, f"SupplierRejected(reason={reason!r}, ...)"
            )
            if refused.reason != reason:
                raise trial.broken(
                    situation, str(outcome), f"SupplierRejected(reason={reason!r}, ...)"
                )


@_check("send.retry_after")
async def _send_retry_after(subject: SupplierUnderTest, checked: Rule) -> None:
    async with Trial(subject, checked) as trial:
        po = subject.po()
        answer = trial.script(Operation.SEND, po.po_id, Busy(7))
        situation = f"the supplier {describe(answer)}"
        outcome = await trial.call("send_purchase_order", po)
        busy = trial.raised(
            outcome, SupplierUnavailable, situation, "SupplierUnavailable(..., retry_after=7)"
        )
        if not isinstance(busy.retry_after, int | float) or abs(busy.retry_after - 7) > 1:
            raise trial.broken(situation, str(outcome), "SupplierUnavailable(..., retry_after=7)")


@_check("send.temporary")
async def _send_temporary(subject: SupplierUnderTest, checked: Rule) -> None:
    async with Trial(subject, checked) as trial:
        po = subject.po()
        answer = trial.script(Operation.SEND, po.po_id, Busy(None))
        situation = f"the supplier {describe(answer)}"
        outcome = await trial.call("send_purchase_order", po)
        busy = trial.raised(
            outcome, SupplierUnavailable, situation, "SupplierUnavailable(..., retry_after=None)"
        )
        if busy.retry_after is not None and busy.retry_after > 0:
            raise trial.broken(
                situation,
                str(outcome),
                "retry_after=None: the supplier named no delay, so the actor's backoff decides",
            )
        attempts = len([r for r in trial.counterpart.received() if r.po_id == po.po_id])
        if attempts != 1:
            raise trial.broken(
                situation,
                f"the adapter made {attempts} attempts in one call",
                "exactly one attempt per call: the actor retries, with backoff and the circuit",
            )


@_check("send.permanent_failure")
async def _send_permanent_failure(subject: SupplierUnderTest, checked: Rule) -> None:
    async with Trial(subject, checked) as trial:
        po = subject.po()
        answer = trial.script(Operation.SEND, po.po_id, NotAllowed())
        outcome = await trial.call("send_purchase_order", po)
        trial.raised(
            outcome,
            SupplierFailed,
            f"the supplier {describe(answer)}",
            "SupplierFailed(reason, message)",
        )


@_check("send.timeout")
async def _send_timeout(subject: SupplierUnderTest, checked: Rule) -> None:
    async with Trial(subject, checked, timeout_s=subject.no_answer_timeout_s) as trial:
        po = subject.po()
        answer = trial.script(Operation.SEND, po.po_id, NoAnswer())
        situation = f"the supplier {describe(answer)} (ctx.timeout_s = {trial.timeout_s:g})"
        outcome = await trial.call("send_purchase_order", po)
        trial.raised(
            outcome,
            SupplierUnavailable,
            situation,
            f"SupplierUnavailable within ctx.timeout_s ({trial.timeout_s:g} s)",
        )


@_check("send.unreadable")
async def _send_unreadable(subject: SupplierUnderTest, checked: Rule) -> None:
    async with Trial(subject, checked) as trial:
        po = subject.po()
        answer = trial.script(Operation.SEND, po.po_id, Garbled())
        outcome = await trial.call("send_purchase_order", po)
        trial.raised(
            outcome, SupplierUnavailable, f"the supplier {describe(answer)}", "SupplierUnavailable"
        )


@_check("send.connection_lost")
async def _send_connection_lost(subject: SupplierUnderTest, checked: Rule) -> None:
    async with Trial(subject, checked) as trial:
        po = subject.po()
        answer = trial.script(Operation.SEND, po.po_id, Hangup())
        outcome = await trial.call("send_purchase_order", po)
        trial.raised(
            outcome, SupplierUnavailable, f"the supplier {describe(answer)}", "SupplierUnavailable"
        )


@_check("send.cancellation")
async def _send_cancellation(subject: SupplierUnderTest, checked: Rule) -> None:
    async with Trial(subject, checked) as trial:
        po = subject.po()
        trial.script(Operation.SEND, po.po_id, NoAnswer())
        situation = "the supplier held the call, and the kit cancelled it (a shutdown)"
        call: asyncio.Task[Any] = asyncio.ensure_future(trial.adapter.send_purchase_order(po))
        arrived = asyncio.ensure_future(trial.counterpart.wait_for_call(Operation.SEND))
        await asyncio.wait(
            {call, arrived},
            timeout=trial.timeout_s + subject.slack_s,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if not arrived.done():
            arrived.cancel()
            call.cancel()
            await asyncio.wait({call, arrived}, timeout=subject.slack_s)
            raise trial.broken(
                situation, "the call never reached the supplier", "a send that reaches the supplier"
            )
        call.cancel()
        done, _ = await asyncio.wait({call}, timeout=subject.slack_s)
        if not done:
            raise trial.broken(
                situation,
                f"send_purchase_order was still running {subject.slack_s:g} s after cancel()",
                "asyncio.CancelledError, promptly",
            )
        if not call.cancelled():
            error = call.exception()
            got = (
                f"send_purchase_order raised {_show(error)}"
                if error is not None
                else f"send_purchase_order returned {call.result()!r}"
            )
            raise trial.broken(
                situation,
                got + " (the cancellation was swallowed)",
                "asyncio.CancelledError: never catch it (except BaseException) without re-raising",
            )


@_check("errors.no_personal_data")
async def _no_personal_data(subject: SupplierUnderTest, checked: Rule) -> None:
    async with Trial(subject, checked) as trial:
        private = _personal_data(subject.purchase_order)
        situations: list[Answer] = [
            Refuse("bad_address", "cannot deliver there"),
            Busy(None),
            NotAllowed(),
            Garbled(),
            Hangup(),
        ]
        tried = 0
        for n, answer in enumerate(situations, start=1):
            po = subject.po(n)
            try:
                trial.script(Operation.SEND, po.po_id, answer)
            except NotApplicable:
                continue
            tried += 1
            outcome = await trial.call("send_purchase_order", po)
            error = outcome.error
            if error is None:
                continue
            said = " ".join(
                str(part)
                for part in (error, getattr(error, "message", ""), getattr(error, "reason", ""))
            )
            leaked = sorted({label for form, label in private.items() if form in said})
            if leaked:
                raise trial.broken(
                    f"the supplier {describe(answer)}",
                    f"{outcome}: the message contains the customer's {', '.join(leaked)}",
                    "messages that say what went wrong without the customer's personal data",
                )
        if not tried:
            raise NotApplicable("the counterpart can express none of the failures")


@_check("cancel.confirmed")
async def _cancel_confirmed(subject: SupplierUnderTest, checked: Rule) -> None:
    async with Trial(subject, checked) as trial:
        po = subject.po()
        answer = trial.script(Operation.CANCEL, po.po_id, Confirmed())
        situation = f"the supplier {describe(answer)}"
        outcome = await trial.call("cancel_purchase_order", po.po_id)
        trial.not_supported(outcome)
        trial.returned(outcome, type(None), situation, "None")
        if po.po_id not in trial.counterpart.cancelled():
            raise trial.broken(
                situation,
                f"the supplier received cancellations of {trial.counterpart.cancelled()}",
                f"a cancellation of {po.po_id}",
            )


@_check("cancel.unknown")
async def _cancel_unknown(subject: SupplierUnderTest, checked: Rule) -> None:
    async with Trial(subject, checked) as trial:
        po = subject.po()
        answer = trial.script(Operation.CANCEL, po.po_id, UnknownPo())
        outcome = await trial.call("cancel_purchase_order", po.po_id)
        trial.not_supported(outcome)
        trial.returned(outcome, type(None), f"the supplier {describe(answer)}", "None")


@_check("cancel.temporary")
async def _cancel_temporary(subject: SupplierUnderTest, checked: Rule) -> None:
    async with Trial(subject, checked) as trial:
        po = subject.po()
        answer = trial.script(Operation.CANCEL, po.po_id, Busy(None))
        outcome = await trial.call("cancel_purchase_order", po.po_id)
        trial.not_supported(outcome)
        trial.raised(
            outcome, SupplierUnavailable, f"the supplier {describe(answer)}", "SupplierUnavailable"
        )


@_check("status.report")
async def _status_report(subject: SupplierUnderTest, checked: Rule) -> None:
    async with Trial(subject, checked) as trial:
        for n, status in ((1, PoStatus.ACCEPTED), (2, PoStatus.CANCELLED)):
            po = subject.po(n)
            answer = trial.script(
                Operation.STATUS, po.po_id, Status(status.value, "SUP-REF-1"), Status(status.value)
            )
            situation = f"the supplier {describe(answer)}"
            outcome = await trial.call("fetch_purchase_order", po.po_id)
            trial.not_supported(outcome)
            report = trial.returned(
                outcome,
                PurchaseOrderReport,
                situation,
                f"PurchaseOrderReport(status={status.value!r}, ...)",
            )
            expected_ref = getattr(answer, "supplier_ref", None)
            if report.status != status.value or (
                expected_ref and report.supplier_ref != expected_ref
            ):
                raise trial.broken(
                    situation,
                    str(outcome),
                    f"PurchaseOrderReport(status={status.value!r}, supplier_ref={expected_ref!r}):"
                    f" the status in the gateway's words ({', '.join(s.value for s in PoStatus)})",
                )


@_check("status.shipments")
async def _status_shipments(subject: SupplierUnderTest, checked: Rule) -> None:
    async with Trial(subject, checked) as trial:
        po = subject.po()
        parcels = (
            ShipmentReport(
                carrier="SF",
                tracking_number="SF1234567890",
                shipped_at=SHIPPED_AT,
                lines=(("SKU-1", 2),),
            ),
            ShipmentReport(
                carrier="YTO",
                tracking_number="YT9876543210",
                shipped_at=SHIPPED_AT,
                lines=(("SKU-2", 1),),
            ),
        )
        answer = trial.script(
            Operation.STATUS, po.po_id, Status(PoStatus.SHIPPED.value, "SUP-REF-1", parcels)
        )
        situation = f"the supplier {describe(answer)}: {[p.tracking_number for p in parcels]}"
        outcome = await trial.call("fetch_purchase_order", po.po_id)
        trial.not_supported(outcome)
        report = trial.returned(
            outcome, PurchaseOrderReport, situation, "a PurchaseOrderReport with both shipments"
        )
        got = sorted(
            (s.carrier, s.tracking_number, tuple(sorted(s.lines))) for s in report.shipments
        )
        want = sorted((p.carrier, p.tracking_number, tuple(sorted(p.lines))) for p in parcels)
        times_ok = all(s.shipped_at in (None, SHIPPED_AT) for s in report.shipments)
        if got != want or not times_ok:
            raise trial.broken(
                situation,
                f"fetch_purchase_order reported shipments {list(report.shipments)}",
                f"(carrier, tracking_number, lines) {want}, shipped_at"
                f" {SHIPPED_AT.isoformat()} (or None where the dialect has no time)",
            )


@_check("status.unknown")
async def _status_unknown(subject: SupplierUnderTest, checked: Rule) -> None:
    async with Trial(subject, checked) as trial:
        po = subject.po()
        answer = trial.script(Operation.STATUS, po.po_id, UnknownPo())
        outcome = await trial.call("fetch_purchase_order", po.po_id)
        trial.not_supported(outcome)
        trial.returned(outcome, type(None), f"the supplier {describe(answer)}", "None")


@_check("status.unreadable")
async def _status_unreadable(subject: SupplierUnderTest, checked: Rule) -> None:
    async with Trial(subject, checked) as trial:
        po = subject.po()
        answer = trial.script(Operation.STATUS, po.po_id, Garbled())
        outcome = await trial.call("fetch_purchase_order", po.po_id)
        trial.not_supported(outcome)
        trial.raised(
            outcome, SupplierUnavailable, f"the supplier {describe(answer)}", "SupplierUnavailable"
        )


@_check("inventory.levels")
async def _inventory_levels(subject: SupplierUnderTest, checked: Rule) -> None:
    async with Trial(subject, checked) as trial:
        levels = {"SKU-1": 12, "SKU-2": 0, "SKU-3": 250}
        answer = trial.script(Operation.INVENTORY, None, Stock(levels))
        situation = f"the supplier {describe(answer)}"
        outcome = await trial.call("fetch_inventory")
        trial.not_supported(outcome)
        stock = trial.returned(outcome, list, situation, "a list of StockLevel")
        ok = (
            all(isinstance(s, StockLevel) and type(s.available) is int for s in stock)
            and {s.sku: s.available for s in stock} == levels
            and len(stock) == len(levels)
        )
        if not ok:
            raise trial.broken(
                situation,
                str(outcome),
                f"[{', '.join(f'StockLevel({k!r}, {v})' for k, v in levels.items())}]",
            )


@_check("inventory.temporary")
async def _inventory_temporary(subject: SupplierUnderTest, checked: Rule) -> None:
    async with Trial(subject, checked) as trial:
        answer = trial.script(Operation.INVENTORY, None, Busy(None))
        outcome = await trial.call("fetch_inventory")
        trial.not_supported(outcome)
        trial.raised(
            outcome, SupplierUnavailable, f"the supplier {describe(answer)}", "SupplierUnavailable"
        )


@_check("inventory.unreadable")
async def _inventory_unreadable(subject: SupplierUnderTest, checked: Rule) -> None:
    async with Trial(subject, checked) as trial:
        answer = trial.script(Operation.INVENTORY, None, Garbled())
        outcome = await trial.call("fetch_inventory")
        trial.not_supported(outcome)
        trial.raised(
            outcome, SupplierUnavailable, f"the supplier {describe(answer)}", "SupplierUnavailable"
        )


async def _collect(trial: Trial, situation: str) -> ReportBatch:
    outcome = await trial.call("collect_reports")
    batch: ReportBatch = trial.returned(outcome, ReportBatch, situation, "a ReportBatch")
    return batch


async def _confirm(trial: Trial, batch: ReportBatch, situation: str) -> None:
    outcome = await trial.call("confirm_reports", batch.receipt)
    if outcome.error is not None or outcome.hung_after_s is not None:
        raise trial.broken(situation, str(outcome), "confirm_reports(receipt) returns")


async def _report_round_trip(subject: SupplierUnderTest, checked: Rule, report: Report) -> None:
    async with Trial(subject, checked) as trial:
        trial.require_reporting()
        await trial.call("send_purchase_order", subject.po())
        trial.publish(report)
        situation = f"the supplier {describe(report)}"
        batch = await _collect(trial, situation)
        await _confirm(trial, batch, situation)
        if report not in batch.reports:
            raise trial.broken(
                situation,
                _batch_text(batch),
                f"a batch with {report!r}",
            )


@_check("reports.acknowledged")
async def _reports_acknowledged(subject: SupplierUnderTest, checked: Rule) -> None:
    po = subject.po()
    await _report_round_trip(
        subject, checked, PoAcknowledged(po_id=po.po_id, supplier_ref="SUP-REF-1")
    )


@_check("reports.refused")
async def _reports_refused(subject: SupplierUnderTest, checked: Rule) -> None:
    po = subject.po()
    await _report_round_trip(
        subject,
        checked,
        PoRefused(po_id=po.po_id, reason="out_of_stock", message="none left"),
    )


@_check("reports.shipment")
async def _reports_shipment(subject: SupplierUnderTest, checked: Rule) -> None:
    po = subject.po()
    shipment = PoShipment(
        po_id=po.po_id,
        carrier="SF",
        tracking_number="SF1234567890",
        shipped_at=SHIPPED_AT,
        lines=(("SKU-1", 2),),
    )
    await _report_round_trip(subject, checked, shipment)


@_check("reports.problem")
async def _reports_problem(subject: SupplierUnderTest, checked: Rule) -> None:
    async with Trial(subject, checked) as trial:
        trial.require_reporting()
        good, bad = subject.po(1), subject.po(2)
        for po in (good, bad):
            await trial.call("send_purchase_order", po)
        acknowledged = PoAcknowledged(po_id=good.po_id, supplier_ref="SUP-REF-1")
        trial.publish(Malformed(po_id=bad.po_id))
        trial.publish(acknowledged)
        situation = "the supplier published an unreadable report and a good one"
        outcome = await trial.call("collect_reports")
        batch: ReportBatch = trial.returned(
            outcome,
            ReportBatch,
            situation,
            "a ReportBatch with a ReportProblem and the good report",
        )
        await _confirm(trial, batch, situation)
        named = [p for p in batch.problems if p.source and p.message]
        if not named or acknowledged not in batch.reports:
            raise trial.broken(
                situation,
                _batch_text(batch),
                f"a ReportProblem with its source and message, and {acknowledged!r}",
            )


@_check("reports.confirm")
async def _reports_confirm(subject: SupplierUnderTest, checked: Rule) -> None:
    async with Trial(subject, checked) as trial:
        trial.require_reporting()
        po = subject.po()
        await trial.call("send_purchase_order", po)
        report = PoAcknowledged(po_id=po.po_id, supplier_ref="SUP-REF-1")
        trial.publish(report)
        first = await _collect(trial, "the supplier published an acknowledgement")
        again = await _collect(trial, "collected once, not confirmed")
        if report not in first.reports or report not in again.reports:
            raise trial.broken(
                "the kit collected twice without confirming",
                f"the first batch had {list(first.reports)}, the second {list(again.reports)}",
                f"{report!r} in both: nothing is consumed before confirm_reports",
            )
        await _confirm(trial, again, "the kit confirmed the second batch")
        after = await _collect(trial, "the kit confirmed the batch")
        await _confirm(trial, after, "the kit confirmed the batch")
        if report in after.reports:
            raise trial.broken(
                "the kit confirmed the batch with confirm_reports(receipt), then collected again",
                f"the report came again: {list(after.reports)}",
                "a confirmed report is consumed and does not come again",
            )


@_check("reports.empty")
async def _reports_empty(subject: SupplierUnderTest, checked: Rule) -> None:
    async with Trial(subject, checked) as trial:
        trial.require_reporting()
        batch = await _collect(trial, "the supplier had nothing to report")
        await _confirm(trial, batch, "the supplier had nothing to report")
        if batch.reports or batch.problems:
            raise trial.broken(
                "the supplier had nothing to report",
                f"collect_reports returned {batch!r}",
                "an empty ReportBatch",
            )


# -- pytest --------------------------------------------------------------------------------------


def check_rule(subject: SupplierUnderTest, checked: Rule) -> None:
    """Check one rule; raise ContractBroken or NotApplicable, or return when the rule holds."""
    limit = 4 * (subject.timeout_s + subject.slack_s) + 30
    run_in_own_loop(
        lambda: CHECKS[checked.id](subject, checked), limit, checked, f"checking {checked.id}"
    )


def supplier_contract_tests(fixture: str = "supplier_under_test") -> Callable[..., None]:
    """A pytest test, one case per rule of the supplier adapter contract, checking the
    `SupplierUnderTest` that the fixture named `fixture` returns. Assign it to a `test_` name in
    a test module: `test_supplier_contract = supplier_contract_tests()`."""
    import pytest

    @pytest.mark.parametrize("contract_rule", SUPPLIER_RULES, ids=lambda r: r.id)
    def test(contract_rule: Rule, request: pytest.FixtureRequest) -> None:
        subject: SupplierUnderTest = request.getfixturevalue(fixture)
        request.node.user_properties.append(("contract_rule", f"supplier:{contract_rule.id}"))
        try:
            check_rule(subject, contract_rule)
        except ContractBroken as broken:
            failure = str(broken)
        except NotApplicable as why:
            skipped = f"{contract_rule.id} not applicable: {why}"
        else:
            return
        if "failure" in locals():
            pytest.fail(failure, pytrace=False)
        pytest.skip(skipped)

    test.__doc__ = "The supplier adapter contract of the Dropship Gateway, one rule per case."
    return test
