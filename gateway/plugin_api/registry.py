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


class OptionProblem(msgspec.Struct, frozen=True):
    """One problem with an adapter's `options`: `path` inside the options (`("mapping",
    "body", 2)`), and what is wrong. `run.py check` prints it under the config key."""

    path: tuple[str | int, ...]
    message: str


# Checks an adapter's `options` table before anything starts: `run.py check` and start-up
# report every problem with its key path (`suppliers[1].options.mapping.body[2]: ...`).
OptionsCheck = Callable[[dict[str, Any]], list[OptionProblem]]


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
        self.option_checks: dict[tuple[str, str], OptionsCheck] = {}
        self._current: PluginInfo | None = None

    def supplier_adapter(
        self,
        name: str,
        factory: SupplierAdapterFactory,
        *,
        check_options: OptionsCheck | None = None,
    ) -> None:
        self._add("supplier adapter", self.supplier_adapters, name, factory, check_options)
        if self._current:
            self._current.supplier_adapters.append(name)

    def channel_adapter(
        self,
        name: str,
        factory: ChannelAdapterFactory,
        *,
        check_options: OptionsCheck | None = None,
    ) -> None:
        self._add("channel adapter", self.channel_adapters, name, factory, check_options)
        if self._current:
            self._current.channel_adapters.append(name)

    def service(
        self, name: str, factory: ServiceFactory, *, check_options: OptionsCheck | None = None
    ) -> None:
        self._add("service", self.services, name, factory, check_options)
        if self._current:
            self._current.services.append(name)

    def check_options(self, kind: str, name: str, options: dict[str, Any]) -> list[OptionProblem]:
        """The problems the adapter `name` of `kind` finds in `options` (none without a check).
        A check that raises is itself reported as a problem, at the options' root."""
        check = self.option_checks.get((kind, name))
        if check is None:
            return []
        try:
            return list(check(options))
        except Exception as error:  # a plugin's bug must not stop `run.py check`
            return [OptionProblem((), f"the options check raised {type(error).__name__}: {error}")]

    def _add(
        self,
        kind: str,
        table: dict[str, Any],
        name: str,
        factory: Callable[..., Any],
        check_options: OptionsCheck | None,
    ) -> None:
        if not callable(factory):
            raise TypeError(f"{kind} {name!r}: factory is not callable")
        if check_options is not None and not callable(check_options):
            raise TypeError(f"{kind} {name!r}: check_options is not callable")
        if name in table:
            raise ValueError(
                f"{kind} {name!r} is already registered by plugin {self.owner[(kind, name)]!r}"
            )
        table[name] = factory
        self.owner[(kind, name)] = self._current.name if self._current else "?"
        if check_options is not None:
            self.option_checks[(kind, name)] = check_options
