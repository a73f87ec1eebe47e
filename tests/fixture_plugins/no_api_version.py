"""A plugin that does not say which plugin API it was written for."""

from __future__ import annotations

from gateway.plugin_api import AdapterRegistry, hookimpl
from tests.fixture_plugins.good import GoodSupplier


@hookimpl
def dropship_gateway_register_adapters(registry: AdapterRegistry) -> None:
    registry.supplier_adapter("undeclared", GoodSupplier)
