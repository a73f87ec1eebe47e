"""A supplier adapter that works, except on some POs: it raises on a SKU starting `POISON`
(a bug in its mapping) and answers a SKU starting `WRONG` with a wrong type. It counts its calls
per PO, in this process."""

from __future__ import annotations

from collections import Counter
from typing import Any

from gateway.plugin_api import (
    Accepted,
    AdapterRegistry,
    PurchaseOrderReport,
    PurchaseOrderRequest,
    StockLevel,
    SupplierContext,
    hookimpl,
)

plugin_api_version = 2
CALLS: Counter[str] = Counter()


class PoisonSensitiveSupplier:
    def __init__(self, ctx: SupplierContext) -> None:
        self.ctx = ctx

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def send_purchase_order(self, po: PurchaseOrderRequest) -> Any:
        CALLS[po.po_id] += 1
        skus = [line.sku for line in po.lines]
        if any(sku.startswith("POISON") for sku in skus):
            raise KeyError(f"no mapping for {skus[0]}")
        if any(sku.startswith("WRONG") for sku in skus):
            return {"ok": True}
        return Accepted(supplier_ref=f"ref-{po.po_id}")

    async def cancel_purchase_order(self, po_id: str) -> None:
        return None

    async def fetch_purchase_order(self, po_id: str) -> PurchaseOrderReport | None:
        return None

    async def fetch_inventory(self) -> list[StockLevel]:
        return []


@hookimpl
def dropship_gateway_register_adapters(registry: AdapterRegistry) -> None:
    registry.supplier_adapter("poison_sensitive", PoisonSensitiveSupplier)
