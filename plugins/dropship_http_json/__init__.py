"""First-party supplier adapter `http_json` (CONTRACT §5).

It is registered through the `dropship_gateway` entry point like any third-party plugin, so
the public plugin path is exercised by the gateway's own default adapter.
"""

from __future__ import annotations

from dropship_http_json.adapter import HttpJsonSupplier
from gateway.plugin_api.hookspecs import hookimpl
from gateway.plugin_api.registry import AdapterRegistry

__version__ = "0.1.0"
plugin_api_version = 2  # the plugin API this plugin is written for (docs/plugins.md)


@hookimpl
def dropship_gateway_register_adapters(registry: AdapterRegistry) -> None:
    registry.supplier_adapter("http_json", HttpJsonSupplier)
