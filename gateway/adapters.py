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

from gateway.clock import Clock
from gateway.model import Address

PLUGIN_API_VERSION = 1


# -- supplier side -------------------------------------------------------------------------------


class PurchaseOrderLine(msgspec.Struct, kw_only=True, frozen=True):
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


class ShipmentReport(msgspec.Struct, kw_only=True, frozen=True):
    carrier: str
    tracking_number: str
    shipped_at: datetime | None = None
    lines: tuple[tuple[str, int], ...] = ()  # (sku, quantity)


class PurchaseOrderReport(msgspec.Struct, kw_only=True, frozen=True):
    """What a supplier says about one PO when polled."""

    status: str
    supplier_ref: str | None = None
    shipments: tuple[ShipmentReport, ...] = ()


class StockLevel(msgspec.Struct, frozen=True):
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
    """What a supplier adapter is built with."""

    supplier_id: str
    url: str
    timeout_s: float
    max_in_flight: int
    options: dict[str, Any]


class SupplierAdapter(Protocol):
    """One instance per supplier actor incarnation: `start` before use, `close` after."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def send_purchase_order(self, po: PurchaseOrderRequest) -> Accepted: ...

    async def cancel_purchase_order(self, po_id: str) -> None: ...

    async def fetch_purchase_order(self, po_id: str) -> PurchaseOrderReport | None: ...

    async def fetch_inventory(self) -> list[StockLevel]: ...


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


class ChannelContext(msgspec.Struct, kw_only=True, frozen=True):
    """What a channel adapter runs with. `submit` takes orders in the intake format (JSON bytes)
    and returns once they are durably stored, exactly as `POST /api/v1/orders` would."""

    channel_id: str
    options: dict[str, Any]
    submit: Submit
    clock: Clock
    log: structlog.typing.FilteringBoundLogger


class ChannelAdapter(Protocol):
    async def run(self, ctx: ChannelContext) -> None:
        """Take orders in until cancelled. Raising is a crash: the supervisor restarts it."""
        ...


ChannelAdapterFactory = Callable[[], ChannelAdapter]


# -- background services -------------------------------------------------------------------------


class ServiceContext(msgspec.Struct, kw_only=True, frozen=True):
    service_id: str
    options: dict[str, Any]
    clock: Clock
    log: structlog.typing.FilteringBoundLogger


class Service(Protocol):
    async def run(self, ctx: ServiceContext) -> None:
        """Run until cancelled."""
        ...


ServiceFactory = Callable[[], Service]
