"""A well-behaved plugin: a supplier adapter `good` that takes every PO (in memory)."""

from __future__ import annotations

from gateway.plugin_api import (
    Accepted,
    AdapterRegistry,
    PurchaseOrderReport,
    PurchaseOrderRequest,
    StockLevel,
    SupplierContext,
    hookimpl,
)

__version__ = "1.2.3"
plugin_api_version = 2


class GoodSupplier:
    def __init__(self, ctx: SupplierContext) -> None:
        self.ctx = ctx

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def send_purchase_order(self, po: PurchaseOrderRequest) -> Accepted:
        return Accepted(f"GOOD-{po.po_id}")

    async def cancel_purchase_order(self, po_id: str) -> None:
        return None

    async def fetch_purchase_order(self, po_id: str) -> PurchaseOrderReport | None:
        return None

    async def fetch_inventory(self) -> list[StockLevel]:
        return []


@hookimpl
def dropship_gateway_register_adapters(registry: AdapterRegistry) -> None:
    registry.supplier_adapter("good", GoodSupplier)
