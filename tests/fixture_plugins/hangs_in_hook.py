"""A plugin whose hook never returns (it waits for a server that is not there, say)."""

from __future__ import annotations

import threading

from gateway.plugin_api import AdapterRegistry, hookimpl
from tests.fixture_plugins.good import GoodSupplier

plugin_api_version = 2
release = threading.Event()  # tests set it when they are done, so the thread can end


@hookimpl
def dropship_gateway_register_adapters(registry: AdapterRegistry) -> None:
    registry.supplier_adapter("from_hanging", GoodSupplier)
    release.wait()
