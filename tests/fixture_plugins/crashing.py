"""A supplier adapter with a bug: it cannot even start (its actor crashes), and every call raises
something no adapter should raise."""

from __future__ import annotations

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

__version__ = "9.9.9"


class CrashingSupplier:
    def __init__(self, ctx: SupplierContext) -> None:
        self.ctx = ctx

    async def start(self) -> None:
        raise KeyError(f"adapter bug while starting for {self.ctx.supplier_id}")

    async def close(self) -> None:
        return None

    async def send_purchase_order(self, po: PurchaseOrderRequest) -> Accepted:
        raise KeyError(f"adapter bug while mapping {po.po_id}")

    async def cancel_purchase_order(self, po_id: str) -> None:
        raise KeyError(po_id)

    async def fetch_purchase_order(self, po_id: str) -> PurchaseOrderReport | None:
        raise KeyError(po_id)

    async def fetch_inventory(self) -> list[StockLevel]:
        raise KeyError("inventory")


@hookimpl
def dropship_gateway_register_adapters(registry: AdapterRegistry) -> None:
    registry.supplier_adapter("crashing", CrashingSupplier)
