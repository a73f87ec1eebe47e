"""What plugins register: adapters and services by name, and which plugin registered each.

Part of the plugin API: a plugin's `dropship_gateway_register_adapters` hook receives an
`AdapterRegistry`. It lives apart from the loader so that the hook specification can name it
without importing the application that loads plugins.

The loader gives each plugin's hook a registry of its own and merges it into the gateway's only
once the hook has returned in time: a plugin whose hook raises, hangs or clashes with another
plugin's names registers nothing, rather than half of what it meant to.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import msgspec

from gateway.plugin_api.adapters import (
    ChannelAdapterFactory,
    ServiceFactory,
    SupplierAdapterFactory,
)

SUPPLIER_ADAPTER = "supplier adapter"
CHANNEL_ADAPTER = "channel adapter"
SERVICE = "service"

# The methods a class registered as a factory must have, per kind. Checked when it is registered,
# so that a class missing one fails at load time under its plugin's name, not at the first call.
_REQUIRED_METHODS: dict[str, tuple[str, ...]] = {
    SUPPLIER_ADAPTER: (
        "start",
        "close",
        "send_purchase_order",
        "cancel_purchase_order",
        "fetch_purchase_order",
        "fetch_inventory",
    ),
    CHANNEL_ADAPTER: ("run",),
    SERVICE: ("run",),
}
_REPORTING_METHODS = ("collect_reports", "confirm_reports")


class OptionProblem(msgspec.Struct, frozen=True):
    """One problem with an adapter's `options`: `path` inside the options (`("mapping",
    "body", 2)`), and what is wrong. `run.py check` prints it under the config key."""

    path: tuple[str | int, ...]
    message: str


# Checks an adapter's `options` table before anything starts: `run.py check` and start-up
# report every problem with its key path (`suppliers[1].options.mapping.body[2]: ...`).
OptionsCheck = Callable[[dict[str, Any]], list[OptionProblem]]


class PluginInfo(msgspec.Struct, kw_only=True):
    """What `run.py plugins` and `GET /api/v1/plugins` show of one plugin: where it came from,
    what it registered, and what went wrong if it did not load."""

    name: str  # the entry point's name, or the import path of a `gateway.plugin_modules` entry
    version: str | None  # the distribution's version, or the module's __version__
    module: str  # what the entry point names (`dropship_acme`, `pkg.mod:obj`)
    package: str | None = None  # the distribution that declared the entry point
    source: str = "entry point"  # "entry point" | "plugin_modules"
    api_version: int | None = None  # the plugin API it says it was written for
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

    def supplier_adapter(
        self,
        name: str,
        factory: SupplierAdapterFactory,
        *,
        check_options: OptionsCheck | None = None,
    ) -> None:
        """Register a supplier adapter: `factory(SupplierContext)` builds one `SupplierAdapter`
        (a class with the adapter's methods is such a factory). `[[suppliers]] adapter = name`
        selects it."""
        self._add(SUPPLIER_ADAPTER, name, factory, check_options)

    def channel_adapter(
        self,
        name: str,
        factory: ChannelAdapterFactory,
        *,
        check_options: OptionsCheck | None = None,
    ) -> None:
        """Register a channel adapter: `factory()` builds one `ChannelAdapter`.
        `[[channels]] adapter = name` selects it."""
        self._add(CHANNEL_ADAPTER, name, factory, check_options)

    def service(
        self, name: str, factory: ServiceFactory, *, check_options: OptionsCheck | None = None
    ) -> None:
        """Register a background service: `factory()` builds one `Service`.
        `[[services]] plugin = name` selects it."""
        self._add(SERVICE, name, factory, check_options)

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

    def names(self, kind: str) -> list[str]:
        """The names registered under `kind`, in the order they were registered."""
        return list(self._table(kind))

    def merge(self, other: AdapterRegistry, plugin: str) -> None:
        """Take over everything `other` holds, as registered by `plugin`; all or nothing: if one
        name is taken already, nothing is merged and ValueError names every clash."""
        clashes = [
            f"{kind} {name!r} is already registered by plugin {self.owner[(kind, name)]!r}"
            for kind in _REQUIRED_METHODS
            for name in other._table(kind)
            if name in self._table(kind)
        ]
        if clashes:
            raise ValueError("; ".join(clashes))
        for kind in _REQUIRED_METHODS:
            self._table(kind).update(other._table(kind))
            for name in other._table(kind):
                self.owner[(kind, name)] = plugin
        self.option_checks.update(other.option_checks)

    def _table(self, kind: str) -> dict[str, Any]:
        tables: dict[str, dict[str, Any]] = {
            SUPPLIER_ADAPTER: self.supplier_adapters,
            CHANNEL_ADAPTER: self.channel_adapters,
            SERVICE: self.services,
        }
        return tables[kind]

    def _add(
        self,
        kind: str,
        name: str,
        factory: Callable[..., Any],
        check_options: OptionsCheck | None,
    ) -> None:
        if not isinstance(name, str):
            raise TypeError(f"{kind} name must be a str, got {type(name).__name__}")
        if not callable(factory):
            raise TypeError(f"{kind} {name!r}: factory is not callable")
        if check_options is not None and not callable(check_options):
            raise TypeError(f"{kind} {name!r}: check_options is not callable")
        if inspect.isclass(factory):
            _check_class(kind, name, factory)
        table = self._table(kind)
        if name in table:
            raise ValueError(f"{kind} {name!r} is registered twice by this plugin")
        table[name] = factory
        if check_options is not None:
            self.option_checks[(kind, name)] = check_options


def _check_class(kind: str, name: str, cls: type) -> None:
    """A class given as a factory must have every method of its protocol."""
    missing = [m for m in _REQUIRED_METHODS[kind] if not callable(getattr(cls, m, None))]
    if kind == SUPPLIER_ADAPTER:
        reporting = [m for m in _REPORTING_METHODS if callable(getattr(cls, m, None))]
        if reporting and len(reporting) < len(_REPORTING_METHODS):
            missing += [m for m in _REPORTING_METHODS if m not in reporting]
    if missing:
        protocol = {SUPPLIER_ADAPTER: "SupplierAdapter", CHANNEL_ADAPTER: "ChannelAdapter"}
        raise TypeError(
            f"{kind} {name!r}: {cls.__qualname__} lacks {', '.join(missing)}"
            f" (see {protocol.get(kind, 'Service')} in docs/plugins.md)"
        )
