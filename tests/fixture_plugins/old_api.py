"""A plugin written for plugin API 1."""

from __future__ import annotations

from gateway.plugin_api import AdapterRegistry, hookimpl
from tests.fixture_plugins.good import GoodSupplier

plugin_api_version = 1


@hookimpl
def dropship_gateway_register_adapters(registry: AdapterRegistry) -> None:
    registry.supplier_adapter("from_api_1", GoodSupplier)
