"""A supplier adapter that ignores its timeout: its first call never returns."""

from __future__ import annotations

import asyncio

from gateway.plugin_api.adapters import (
    Accepted,
    PurchaseOrderReport,
    PurchaseOrderRequest,
    StockLevel,
    SupplierContext,
)
from gateway.plugin_api.hookspecs import hookimpl
from gateway.plugin_api.registry import AdapterRegistry

plugin_api_version = 2


class HangingSupplier:
    calls = 0  # across instances: the actor may restart the adapter

    def __init__(self, ctx: SupplierContext) -> None:
        self.ctx = ctx

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def send_purchase_order(self, po: PurchaseOrderRequest) -> Accepted:
        HangingSupplier.calls += 1
        if HangingSupplier.calls == 1:
            await asyncio.Event().wait()  # forgets ctx.timeout_s entirely
        return Accepted(f"REF-{po.po_id}")

    async def cancel_purchase_order(self, po_id: str) -> None:
        return None

    async def fetch_purchase_order(self, po_id: str) -> PurchaseOrderReport | None:
        return None

    async def fetch_inventory(self) -> list[StockLevel]:
        return []


@hookimpl
def dropship_gateway_register_adapters(registry: AdapterRegistry) -> None:
    registry.supplier_adapter("hanging", HangingSupplier)
