"""A plugin whose hook returns its adapters instead of registering them."""

from __future__ import annotations

from typing import Any

from gateway.plugin_api import hookimpl
from tests.fixture_plugins.good import GoodSupplier

plugin_api_version = 2


@hookimpl
def dropship_gateway_register_adapters(registry: Any) -> Any:
    return {"returned": GoodSupplier}
