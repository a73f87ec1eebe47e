"""A plugin that registers a class lacking most of the supplier adapter's methods."""

from __future__ import annotations

from gateway.plugin_api import Accepted, AdapterRegistry, PurchaseOrderRequest, hookimpl

plugin_api_version = 2


class HalfAdapter:
    async def send_purchase_order(self, po: PurchaseOrderRequest) -> Accepted:
        return Accepted()


@hookimpl
def dropship_gateway_register_adapters(registry: AdapterRegistry) -> None:
    registry.supplier_adapter("half", HalfAdapter)  # type: ignore[arg-type]
