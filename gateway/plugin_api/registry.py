"""What plugins register: adapters and services by name, and which plugin registered each.

Part of the plugin API: a plugin's `dropship_gateway_register_adapters` hook receives an
`AdapterRegistry`. It lives apart from the loader so that the hook specification can name it
without importing the application that loads plugins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from gateway.plugin_api.adapters import (
    ChannelAdapterFactory,
    ServiceFactory,
    SupplierAdapterFactory,
)


class PluginInfo(msgspec.Struct, kw_only=True):
    """What `run.py plugins` shows of one plugin."""

    name: str
    version: str | None
    module: str
    hooks: list[str] = []
    supplier_adapters: list[str] = []
    channel_adapters: list[str] = []
    services: list[str] = []
    error: str | None = None


class AdapterRegistry:
    """What plugins register, by name, and which plugin registered it."""

    def __init__(self) -> None:
        self.supplier_adapters: dict[str, SupplierAdapterFactory] = {}
        self.channel_adapters: dict[str, ChannelAdapterFactory] = {}
        self.services: dict[str, ServiceFactory] = {}
        self.owner: dict[tuple[str, str], str] = {}
        self._current: PluginInfo | None = None

    def supplier_adapter(self, name: str, factory: SupplierAdapterFactory) -> None:
        self._add("supplier adapter", self.supplier_adapters, name, factory)
        if self._current:
            self._current.supplier_adapters.append(name)

    def channel_adapter(self, name: str, factory: ChannelAdapterFactory) -> None:
        self._add("channel adapter", self.channel_adapters, name, factory)
        if self._current:
            self._current.channel_adapters.append(name)

    def service(self, name: str, factory: ServiceFactory) -> None:
        self._add("service", self.services, name, factory)
        if self._current:
            self._current.services.append(name)

    def _add(
        self, kind: str, table: dict[str, Any], name: str, factory: Callable[..., Any]
    ) -> None:
        if not callable(factory):
            raise TypeError(f"{kind} {name!r}: factory is not callable")
        if name in table:
            raise ValueError(
                f"{kind} {name!r} is already registered by plugin {self.owner[(kind, name)]!r}"
            )
        table[name] = factory
        self.owner[(kind, name)] = self._current.name if self._current else "?"
