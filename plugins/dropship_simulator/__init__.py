"""The simulator plugin: a simulated web shop and simulated suppliers.

It is what ``python run.py demo`` runs against and what the end-to-end tests use as their
stand-in supplier, so it is first-party but deliberately not special: it registers through the
``dropship_gateway`` entry point (``simulator = "dropship_simulator"`` in pyproject.toml) and
the `dropship_gateway_register_adapters` hook, the same path any third-party plugin takes. If
the demo works, that path works.

- channel adapter ``simulated_shop`` (`SimulatedShop`): realistic orders into intake;
- service ``supplier_fleet`` (`SupplierFleet`): several `SupplierSimulator` HTTP servers that
  speak the supplier protocol of CONTRACT §5 and send signed shipment notices back;
- service ``shopify_shop`` (`ShopifyShopService`): a `ShopifyShop` stand-in (Shopify's webhooks,
  REST and GraphQL Admin API) whose customers place orders for the ``shopify`` channel.
- service ``file_supplier`` (`FileSupplier`): a supplier trading CSV files over SFTP, for the
  ``file_exchange`` adapter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dropship_simulator.file_supplier import FileSupplier, FileSupplierSimulator
from dropship_simulator.shop_channel import SimulatedShop
from dropship_simulator.shopify_service import ShopifyShopService
from dropship_simulator.shopify_shop import ShopifyShop
from dropship_simulator.supplier_server import Scripted, SupplierSimulator
from dropship_simulator.suppliers_service import SupplierFleet
from gateway.plugin_api.hookspecs import hookimpl

if TYPE_CHECKING:
    from gateway.plugin_api.registry import AdapterRegistry

__version__ = "0.1.0"
plugin_api_version = 2  # the plugin API this plugin is written for (docs/plugins.md)

__all__ = [
    "FileSupplier",
    "FileSupplierSimulator",
    "Scripted",
    "ShopifyShop",
    "ShopifyShopService",
    "SimulatedShop",
    "SupplierFleet",
    "SupplierSimulator",
    "__version__",
]


@hookimpl
def dropship_gateway_register_adapters(registry: AdapterRegistry) -> None:
    registry.channel_adapter("simulated_shop", SimulatedShop)
    registry.service("supplier_fleet", SupplierFleet)
    registry.service("shopify_shop", ShopifyShopService)
    registry.service("file_supplier", FileSupplier)
