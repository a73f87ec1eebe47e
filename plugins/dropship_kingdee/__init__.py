"""Kingdee Cloud Galaxy (金蝶云星空, K3Cloud) channel plugin.

Registers the channel adapter ``kingdee``: approved sales orders (``SAL_SaleOrder``) in through
the K3Cloud WebAPI, and for each of them purchase orders (``PUR_PurchaseOrder``) and sales
outbound bills with tracking numbers (``SAL_OUTSTOCK``) back. It registers through the
``dropship_gateway`` entry point (``kingdee = "dropship_kingdee"`` in pyproject.toml), like any
third party's plugin. The README's "Kingdee" section shows a tenant's config.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dropship_kingdee.channel import KingdeeChannel
from dropship_kingdee.client import KingdeeClient
from dropship_kingdee.options import KingdeeOptions, check_options, parse_options
from gateway.plugin_api import hookimpl

if TYPE_CHECKING:
    from gateway.plugin_api import AdapterRegistry

__version__ = "0.1.0"
plugin_api_version = 2  # written for plugin API 2 (ctx.state, ctx.updates, ctx.orders)

__all__ = ["KingdeeChannel", "KingdeeClient", "KingdeeOptions", "__version__", "parse_options"]


@hookimpl
def dropship_gateway_register_adapters(registry: AdapterRegistry) -> None:
    registry.channel_adapter("kingdee", KingdeeChannel, check_options=check_options)
