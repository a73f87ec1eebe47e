"""A plugin whose registration hook raises."""

from __future__ import annotations

from gateway.plugin_api.hookspecs import hookimpl
from gateway.plugin_api.registry import AdapterRegistry

plugin_api_version = 2


@hookimpl
def dropship_gateway_register_adapters(registry: AdapterRegistry) -> None:
    raise RuntimeError("cannot read my own settings")
