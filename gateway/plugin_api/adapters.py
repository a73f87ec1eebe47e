"""What an adapter plugin implements and receives: part of the versioned plugin API.

Supplier adapters only speak a supplier's dialect. Retries, timeouts, circuits and concurrency
caps belong to the supplier actor that drives the adapter, so an adapter never loops on its own:
it makes one attempt and says how it went, by returning or by raising one of the exceptions here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

import msgspec
import structlog

from gateway.domain.model import Address, Order, PurchaseOrder
from gateway.infra.clock import Clock

# 2: Submitted, supplier reports (collect_reports/confirm_reports), PluginState, and the
# channel's order updates (write-back) and order actions.
PLUGIN_API_VERSION = 2


# -- durable state of a plugin instance ------------------------------------------------------------


class PluginState(Protocol):
    """A small durable key-value store of one channel or supplier, kept in the gateway's
    database: watermarks, cursors, the names of files already taken in. Values are strings
    (JSON for anything structured). `set` and `delete` return once committed."""

    async def get(self, key: str) -> str | None:
        """The value stored under `key`, or None."""
        ...

    async def set(self, key: str, value: str) -> None:
        """Store `value` under `key`; returns once it is committed."""
        ...

    async def delete(self, key: str) -> None:
        """Remove `key` (nothing happens if it is not there); returns once committed."""
        ...


# -- supplier side -------------------------------------------------------------------------------


class PurchaseOrderLine(msgspec.Struct, kw_only=True, frozen=True):
    """One line of a PO: the order's `line_id`, the SKU, the quantity and the unit cost from the
    catalog (a Decimal, or None when the catalog has none)."""

    line_id: str
    sku: str
    quantity: int
    unit_cost: Decimal | None = None


class PurchaseOrderRequest(msgspec.Struct, kw_only=True, frozen=True):
    """One purchase order as a supplier adapter sends it. `po_id` is stable across retries and
    restarts: use it as the idempotency key."""

    po_id: str
    order_id: str
    order_external_id: str
    supplier_id: str
    created_at: datetime  # when the gateway created this PO
    priority: str
    currency: str
    ship_to: Address
    lines: tuple[PurchaseOrderLine, ...]
    order_created_at: datetime | None = None  # when the channel says the order was placed


class Accepted(msgspec.Struct, frozen=True):
    """The supplier took the PO (or already had it)."""

    supplier_ref: str | None = None


class Submitted(msgspec.Struct, frozen=True):
    """The PO reached the supplier (a file was written to its folder, a queue took it), but its
    answer comes later, through `collect_reports`. The PO stays `sent` until then."""

    supplier_ref: str | None = None


SendOutcome = Accepted | Submitted


class ShipmentReport(msgspec.Struct, kw_only=True, frozen=True):
    """One parcel of a PO as `fetch_purchase_order` reports it; `lines` as (sku, quantity)."""

    carrier: str
    tracking_number: str
    shipped_at: datetime | None = None
    lines: tuple[tuple[str, int], ...] = ()  # (sku, quantity)


class PurchaseOrderReport(msgspec.Struct, kw_only=True, frozen=True):
    """What a supplier says about one PO when polled. `status` is one of the gateway's PO
    statuses (`sent`, `accepted`, `partially_shipped`, `shipped`, `delivered`, `rejected`,
    `cancelled`), translated from the supplier's own words."""

    status: str
    supplier_ref: str | None = None
    shipments: tuple[ShipmentReport, ...] = ()


# -- reports: a supplier's answers that arrive apart from the call that sent the PO --------------


class PoAcknowledged(msgspec.Struct, kw_only=True, frozen=True, tag="accepted"):
    """The supplier accepted the PO (a report of `collect_reports`)."""

    po_id: str
    supplier_ref: str | None = None


class PoRefused(msgspec.Struct, kw_only=True, frozen=True, tag="rejected"):
    """The supplier refused the PO, with a short stable `reason` such as `out_of_stock`."""

    po_id: str
    reason: str
    message: str = ""


class PoShipment(msgspec.Struct, kw_only=True, frozen=True, tag="shipped"):
    """Part or all of a PO left the supplier's warehouse. Empty `lines`: all that was left."""

    po_id: str
    carrier: str
    tracking_number: str
    shipped_at: datetime | None = None
    lines: tuple[tuple[str, int], ...] = ()  # (sku, quantity)


SupplierReport = PoAcknowledged | PoRefused | PoShipment


class ReportProblem(msgspec.Struct, kw_only=True, frozen=True):
    """Something a supplier sent that could not be used (a malformed row of an answer file).
    The gateway makes it a visible exception; the supplier's other reports still count."""

    source: str  # where it came from, such as a file name
    message: str  # why it cannot be used
    line: int | None = None
    column: str | None = None
    po_id: str | None = None


class ReportBatch(msgspec.Struct, kw_only=True, frozen=True):
    """What one `collect_reports` call found. `receipt` is handed back to `confirm_reports` once
    the gateway has recorded the batch, so a source is consumed only after that (exactly once
    across restarts: a batch collected again after a crash is recorded idempotently)."""

    reports: tuple[SupplierReport, ...] = ()
    problems: tuple[ReportProblem, ...] = ()
    receipt: Any = None


class StockLevel(msgspec.Struct, frozen=True):
    """Units of `sku` the supplier has available: one entry of `fetch_inventory`."""

    sku: str
    available: int


class SupplierRejected(Exception):
    """The supplier refused this PO for a reason about the PO itself (out_of_stock, unknown_sku,
    bad_address...). Final for this PO: the order goes on hold with the reason."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(f"{reason}: {message}" if message else reason)
        self.reason = reason
        self.message = message


class SupplierUnavailable(Exception):
    """This attempt failed in a way that may pass (5xx, 429, timeout, refused connection).
    The actor retries later, honouring `retry_after` (seconds) when the supplier gave one."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class SupplierFailed(Exception):
    """A permanent failure that is not about the PO's content (the supplier answered 400, 401,
    404...). Retrying will not help: the PO is marked failed and the order goes on hold."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(f"{reason}: {message}" if message else reason)
        self.reason = reason
        self.message = message


class SupplierContext(msgspec.Struct, kw_only=True, frozen=True):
    """What a supplier adapter is built with. `state`, `clock` and `log` are given by the gateway;
    an adapter built in a test may get them from `gateway.testing` (or leave them out)."""

    supplier_id: str
    url: str
    timeout_s: float
    max_in_flight: int
    options: dict[str, Any]
    state: PluginState | None = None
    clock: Clock | None = None
    log: structlog.typing.FilteringBoundLogger | None = None


class SupplierAdapter(Protocol):
    """One instance per supplier actor incarnation: `start` before use, `close` after. Every
    method makes one attempt and says how it went; the actor owns retries, timeouts and the
    circuit. Besides returning, a method may raise `SupplierUnavailable` (may pass later),
    `SupplierFailed` (will not pass; `reason="not_supported"` for what the supplier cannot do)
    and, when sending, `SupplierRejected`; anything else is a crash of the actor."""

    async def start(self) -> None:
        """Open what the adapter needs (an HTTP session), once, before any other call. Raising
        is a crash, and `close` is not called then: release what was opened before raising."""
        ...

    async def close(self) -> None:
        """Release everything `start` opened: sessions, connections, tasks. Called once when the
        actor stops, crashes or restarts after a successful `start`."""
        ...

    async def send_purchase_order(self, po: PurchaseOrderRequest) -> SendOutcome:
        """Make one attempt to place `po`, carrying `po.po_id` where the supplier deduplicates.
        Return `Accepted(supplier_ref)` when the supplier took it or already had it, or
        `Submitted` when it reached the supplier and the answer comes through `collect_reports`;
        raise `SupplierRejected(reason, message)` when the supplier refuses this PO,
        `SupplierUnavailable(message, retry_after)` when the failure may pass, `SupplierFailed`
        when it will not. Apply `ctx.timeout_s`; never retry or sleep."""
        ...

    async def cancel_purchase_order(self, po_id: str) -> None:
        """Ask the supplier to cancel the PO. Return once it confirmed, or when it does not know
        the PO (final either way)."""
        ...

    async def fetch_purchase_order(self, po_id: str) -> PurchaseOrderReport | None:
        """What the supplier says about the PO (status, reference, shipments), or None when it
        does not know it. Used for suppliers that are polled instead of calling back."""
        ...

    async def fetch_inventory(self) -> list[StockLevel]:
        """The units available per SKU, to refresh the gateway's known stock."""
        ...


class ReportingSupplierAdapter(SupplierAdapter, Protocol):
    """A supplier adapter whose answers arrive on their own (answer files in a folder, a
    message queue). The actor calls `collect_reports` every `poll_interval_s` of the supplier's
    config, records what it returns, then calls `confirm_reports(batch.receipt)`."""

    async def collect_reports(self) -> ReportBatch:
        """The supplier's answers that arrived since the last confirmed batch, without consuming
        them: collected again before `confirm_reports`, they come again. An answer that cannot
        be used is a `ReportProblem` in the batch, not an exception. Return promptly when there
        is nothing: never wait for news."""
        ...

    async def confirm_reports(self, receipt: Any) -> None:
        """The batch with this `receipt` is recorded by the gateway: consume it at the supplier
        (move a cursor, delete or archive the answer files)."""
        ...


class ProbeableSupplierAdapter(SupplierAdapter, Protocol):
    """A supplier adapter whose supplier can take a PO marked as a test: checked like any other,
    never shipped. Optional (the gateway looks for the method); `run.py supplier probe` sends
    its PO this way instead of asking for `--really-send`."""

    async def send_test_purchase_order(self, po: PurchaseOrderRequest) -> SendOutcome:
        """Send `po` as `send_purchase_order` would, marked as a test; same outcomes, same
        exceptions."""
        ...


SupplierAdapterFactory = Callable[[SupplierContext], SupplierAdapter]


# -- channel side --------------------------------------------------------------------------------


class SubmitResult(msgspec.Struct, kw_only=True, frozen=True):
    """The fate of one submitted order: accepted (with its order_id) or rejected with problems."""

    external_id: str | None
    order_id: str | None = None
    duplicate: bool = False
    problems: tuple[tuple[str, str], ...] = ()  # (json path, message)

    @property
    def accepted(self) -> bool:
        return self.order_id is not None


Submit = Callable[[list[bytes]], Awaitable[list[SubmitResult]]]


class IntakeBusy(Exception):
    """Raised by `submit` while the gateway's store is behind (admission control): nothing of
    this call was taken in; submit it again after `retry_after_s` seconds."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"the gateway is busy; retry in {retry_after_s:g}s")
        self.retry_after_s = retry_after_s


class OrderUpdate(msgspec.Struct, kw_only=True, frozen=True):
    """One event of an order this channel took in: what a channel writes back to its ERP or
    shop (`po.accepted`: a purchase order to record; `po.shipped`: tracking to write back)."""

    seq: int  # position in the gateway's event log; `ack` takes it
    event_id: str
    type: str  # order.routed, po.sent, po.accepted, po.rejected, po.shipped, order.cancelled, ...
    at: datetime
    order_id: str
    external_id: str
    po_id: str | None = None
    supplier_id: str | None = None
    data: dict[str, Any] = {}


class OrderUpdates(Protocol):
    """The channel's write-back feed: the events of its own orders, in order, from a durable
    position. Delivery is at least once: what was not acknowledged comes again after a restart,
    so write back idempotently (look the document up before creating it)."""

    async def next_batch(self, limit: int = 100) -> list[OrderUpdate]:
        """The next events after the last acknowledged one; waits until there is at least one."""
        ...

    async def ack(self, through_seq: int) -> None:
        """Everything up to `through_seq` is written back: move the durable position."""
        ...


class ChannelOrder(msgspec.Struct, kw_only=True, frozen=True):
    """An order as the channel that submitted it may see it: unmasked, with its POs."""

    order: Order
    status: str
    hold_reason: str | None = None
    purchase_orders: tuple[PurchaseOrder, ...] = ()


class OrderNotFound(LookupError):
    """No order with that id or external id in this channel."""


class ChannelOrders(Protocol):
    """Reads and actions on this channel's own orders."""

    async def get(self, order_id: str) -> ChannelOrder | None:
        """The order with the gateway's `order_id`, if this channel submitted it."""
        ...

    async def find(self, external_id: str) -> ChannelOrder | None:
        """The order this channel submitted with `external_id`."""
        ...

    async def cancel(self, order_id: str, reason: str) -> ChannelOrder:
        """Cancel what has not shipped (suppliers holding a PO are asked to cancel it); what
        shipped stays. Raises OrderNotFound."""
        ...

    async def set_payment(self, order_id: str, status: str) -> ChannelOrder:
        """Record a new payment status; `paid` releases an order held as `unpaid`. Raises
        OrderNotFound."""
        ...


class ChannelContext(msgspec.Struct, kw_only=True, frozen=True):
    """What a channel adapter runs with. `submit` takes orders in the intake format (JSON bytes)
    and returns once they are durably stored, exactly as `POST /api/v1/orders` would."""

    channel_id: str
    options: dict[str, Any]
    submit: Submit
    clock: Clock
    log: structlog.typing.FilteringBoundLogger
    state: PluginState | None = None
    updates: OrderUpdates | None = None
    orders: ChannelOrders | None = None


class ChannelAdapter(Protocol):
    """A source of orders (an ERP poller, a shop's webhook queue); one instance per incarnation."""

    async def run(self, ctx: ChannelContext) -> None:
        """Take orders in until cancelled. Raising is a crash: the supervisor restarts it."""
        ...


ChannelAdapterFactory = Callable[[], ChannelAdapter]


# -- background services -------------------------------------------------------------------------


class ServiceContext(msgspec.Struct, kw_only=True, frozen=True):
    """What a service runs with: its config entry's id and options, the clock and a logger."""

    service_id: str
    options: dict[str, Any]
    clock: Clock
    log: structlog.typing.FilteringBoundLogger


class Service(Protocol):
    """A supervised background task with no role of its own in the order flow."""

    async def run(self, ctx: ServiceContext) -> None:
        """Run until cancelled."""
        ...


ServiceFactory = Callable[[], Service]
