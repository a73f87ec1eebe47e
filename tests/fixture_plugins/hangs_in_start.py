"""A supplier adapter whose start() never returns (a login that waits forever, say)."""

from __future__ import annotations

import asyncio

from gateway.plugin_api import AdapterRegistry, SupplierContext, hookimpl
from tests.fixture_plugins.good import GoodSupplier

plugin_api_version = 2


class HangsInStart(GoodSupplier):
    def __init__(self, ctx: SupplierContext) -> None:
        super().__init__(ctx)

    async def start(self) -> None:
        await asyncio.Event().wait()


@hookimpl
def dropship_gateway_register_adapters(registry: AdapterRegistry) -> None:
    registry.supplier_adapter("hangs_in_start", HangsInStart)
