"""A plugin that registers an adapter name the first-party plugin already owns."""

from __future__ import annotations

from gateway.plugin_api.hookspecs import hookimpl
from gateway.plugin_api.registry import AdapterRegistry
from tests.fixture_plugins.crashing import CrashingSupplier

plugin_api_version = 2


@hookimpl
def dropship_gateway_register_adapters(registry: AdapterRegistry) -> None:
    registry.supplier_adapter("http_json", CrashingSupplier)
