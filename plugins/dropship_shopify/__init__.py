"""The Shopify channel plugin: orders from a Shopify shop's webhooks (verified, de-duplicated,
stored before they are answered), reconciliation through the Admin API for webhooks that were
lost, and tracking written back as one fulfillment per parcel.

Registered through the ``dropship_gateway`` entry point (``shopify = "dropship_shopify"`` in
pyproject.toml), as any third-party plugin is. Channel adapter name: ``shopify``; its options
are described in `dropship_shopify.options`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dropship_shopify.channel import ShopifyChannel
from dropship_shopify.options import check_options
from gateway.plugin_api import hookimpl

if TYPE_CHECKING:
    from gateway.plugin_api import AdapterRegistry

__version__ = "0.1.0"
plugin_api_version = 2  # the plugin API this plugin is written for (docs/plugins.md)

__all__ = ["ShopifyChannel", "__version__"]


@hookimpl
def dropship_gateway_register_adapters(registry: AdapterRegistry) -> None:
    registry.channel_adapter("shopify", ShopifyChannel, check_options=check_options)
