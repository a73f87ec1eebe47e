"""First-party supplier adapter `mapped_json`: a REST supplier whose JSON differs from
CONTRACT §5, configured rather than coded (a body template, answer paths, headers and auth).

Registered through the `dropship_gateway` entry point like any third-party plugin. See
README.md in this folder for the mapping language and an example config.
"""

from __future__ import annotations

from dropship_mapped.adapter import MappedJsonSupplier
from dropship_mapped.options import check_options
from gateway.plugin_api import AdapterRegistry, hookimpl

__version__ = "0.1.0"
plugin_api_version = 2  # the plugin API this plugin is written for (docs/plugins.md)

__all__ = ["MappedJsonSupplier", "__version__"]


@hookimpl
def dropship_gateway_register_adapters(registry: AdapterRegistry) -> None:
    registry.supplier_adapter("mapped_json", MappedJsonSupplier, check_options=check_options)
