"""Dropship Gateway plugin: the `example_feed` supplier adapter."""

from __future__ import annotations

from dropship_example_feed.adapter import FeedSupplier, check_options
from gateway.plugin_api import AdapterRegistry, hookimpl

__version__ = "1.0.0"
plugin_api_version = 2  # written for plugin API 2 of the gateway (docs/plugin-api-changelog.md)


@hookimpl
def dropship_gateway_register_adapters(registry: AdapterRegistry) -> None:
    registry.supplier_adapter("example_feed", FeedSupplier, check_options=check_options)
