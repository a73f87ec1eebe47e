"""The plugin API: every hook a plugin may implement. Documented and versioned
(`gateway.adapters.PLUGIN_API_VERSION`); a hook name no spec declares is an error at load time.

Hooks are synchronous and only *register* things: pluggy calls hooks synchronously, so async
behaviour lives on the adapter objects a hook registers, and the gateway's actors drive them.

A plugin module looks like::

    from gateway.plugin_api.hookspecs import hookimpl

    @hookimpl
    def dropship_gateway_register_adapters(registry):
        registry.supplier_adapter("my_erp_supplier", MySupplierAdapter)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from gateway.plugin_api.registry import AdapterRegistry

PROJECT = "dropship_gateway"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def dropship_gateway_register_adapters(registry: AdapterRegistry) -> None:
    """Register the adapters and services this plugin provides.

    Called once at start-up, and by ``run.py check`` and ``run.py plugins``.

    :param registry: call ``registry.supplier_adapter(name, factory)`` for a supplier adapter
        (``factory(SupplierContext) -> SupplierAdapter``), ``registry.channel_adapter(name,
        factory)`` for a source of orders (``factory() -> ChannelAdapter``) and
        ``registry.service(name, factory)`` for a supervised background task
        (``factory() -> Service``). Names are global: registering a name another plugin took is
        an error reported against this plugin.
    """
