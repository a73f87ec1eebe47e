"""First-party supplier adapter `file_exchange`: purchase orders as CSV files in a supplier's
SFTP folder, acknowledgements and shipments as CSV files picked up from it.

Registered through the `dropship_gateway` entry point like any third-party plugin. See
README.md in this folder for the options and an example config.
"""

from __future__ import annotations

from dropship_files.adapter import FileExchangeSupplier
from dropship_files.options import check_options
from gateway.plugin_api import AdapterRegistry, hookimpl

__version__ = "0.1.0"
plugin_api_version = 2  # the plugin API this plugin is written for (docs/plugins.md)

__all__ = ["FileExchangeSupplier", "__version__"]


@hookimpl
def dropship_gateway_register_adapters(registry: AdapterRegistry) -> None:
    registry.supplier_adapter("file_exchange", FileExchangeSupplier, check_options=check_options)
