"""A supplier adapter whose answers come later, as a file-exchange supplier's do: sending
returns `Submitted`; the test queues reports (and unusable rows) for `collect_reports` to find,
and sees which batches were confirmed."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

from gateway.plugin_api import (
    AdapterRegistry,
    PurchaseOrderReport,
    PurchaseOrderRequest,
    ReportBatch,
    ReportProblem,
    StockLevel,
    Submitted,
    SupplierContext,
    SupplierReport,
    hookimpl,
)

plugin_api_version = 2

SENT: dict[str, PurchaseOrderRequest] = {}
QUEUED: list[tuple[list[SupplierReport], list[ReportProblem]]] = []
COLLECTED: list[int] = []
CONFIRMED: list[int] = []
_receipts = itertools.count(1)
_changed: asyncio.Condition | None = None


def reset() -> None:
    global _changed
    SENT.clear()
    QUEUED.clear()
    COLLECTED.clear()
    CONFIRMED.clear()
    _changed = asyncio.Condition()


async def wait_for(predicate: Callable[[], bool], timeout: float = 20) -> None:
    """Until `predicate()` holds; checked after every batch collected or confirmed."""
    assert _changed is not None
    async with _changed, asyncio.timeout(timeout):
        await _changed.wait_for(predicate)


async def _notify() -> None:
    assert _changed is not None
    async with _changed:
        _changed.notify_all()


class MailboxSupplier:
    def __init__(self, ctx: SupplierContext) -> None:
        self.ctx = ctx

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def send_purchase_order(self, po: PurchaseOrderRequest) -> Submitted:
        SENT[po.po_id] = po
        return Submitted(supplier_ref=f"file-{po.po_id}.csv")

    async def collect_reports(self) -> ReportBatch:
        if not QUEUED:
            return ReportBatch()
        reports, problems = QUEUED.pop(0)
        receipt = next(_receipts)
        COLLECTED.append(receipt)
        return ReportBatch(reports=tuple(reports), problems=tuple(problems), receipt=receipt)

    async def confirm_reports(self, receipt: Any) -> None:
        CONFIRMED.append(receipt)
        await _notify()

    async def cancel_purchase_order(self, po_id: str) -> None:
        return None

    async def fetch_purchase_order(self, po_id: str) -> PurchaseOrderReport | None:
        return None

    async def fetch_inventory(self) -> list[StockLevel]:
        return []


@hookimpl
def dropship_gateway_register_adapters(registry: AdapterRegistry) -> None:
    registry.supplier_adapter("mailbox", MailboxSupplier)
