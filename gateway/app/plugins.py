"""Finding and loading plugins.

Every plugin, ours included, comes in through the `dropship_gateway` entry-point group (plus
modules named in `gateway.plugin_modules`). pluggy's own `load_setuptools_entrypoints` stops at
the first package that fails to import, so we load entry points one by one, each in its own
guard: a broken plugin is reported and fails only the suppliers and channels that use it.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pluggy
import structlog

from gateway.plugin_api import hookspecs
from gateway.plugin_api.registry import AdapterRegistry, PluginInfo

ENTRY_POINT_GROUP = "dropship_gateway"
HOOK_PREFIX = "dropship_gateway_"

log = structlog.get_logger(__name__)


@dataclass
class PluginSet:
    manager: pluggy.PluginManager
    registry: AdapterRegistry
    plugins: list[PluginInfo]

    @property
    def errors(self) -> list[PluginInfo]:
        return [p for p in self.plugins if p.error]


def load_plugins(extra_modules: list[str] | tuple[str, ...] = ()) -> PluginSet:
    """Load every plugin, register what each provides, and report what went wrong per plugin."""
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    spec_names = {n for n in dir(hookspecs) if n.startswith(HOOK_PREFIX)}
    infos: list[PluginInfo] = []

    candidates: list[tuple[str, str | None, Callable[[], Any], str]] = []
    for entry_point in sorted(
        importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name
    ):
        dist = entry_point.dist
        candidates.append(
            (entry_point.name, dist.version if dist else None, entry_point.load, entry_point.value)
        )
    for module_name in extra_modules:
        candidates.append(
            (
                module_name,
                None,
                functools.partial(importlib.import_module, module_name),
                module_name,
            )
        )

    for name, version, load, target in candidates:
        info = PluginInfo(name=name, version=version, module=target)
        infos.append(info)
        if manager.has_plugin(name):
            info.error = f"another plugin is already registered as {name!r}"
            continue
        try:
            module = load()
            unknown = [
                attr
                for attr in dir(module)
                if attr.startswith(HOOK_PREFIX) and attr not in spec_names
            ]
            if unknown:
                raise ValueError(f"implements unknown hooks: {', '.join(sorted(unknown))}")
            manager.register(module, name=name)
            if version is None and isinstance(module, types.ModuleType):
                info.version = getattr(module, "__version__", None)
        except Exception as error:  # a broken plugin must not stop the others
            info.error = f"failed to load: {type(error).__name__}: {error}"
            log.error("plugin.load_failed", plugin=name, error=info.error)
            continue
        info.hooks = sorted(
            hook.name
            for hook in manager.get_hookcallers(manager.get_plugin(name)) or []
            if hook.name.startswith(HOOK_PREFIX)
        )

    registry = AdapterRegistry()
    by_name = {info.name: info for info in infos}
    for impl in manager.hook.dropship_gateway_register_adapters.get_hookimpls():
        info = by_name[impl.plugin_name]
        registry._current = info
        try:
            impl.function(registry=registry)
        except Exception as error:  # contained: this plugin's adapters are simply absent
            info.error = (
                f"dropship_gateway_register_adapters raised {type(error).__name__}: {error}"
            )
            log.error("plugin.hook_failed", plugin=info.name, error=info.error)
        finally:
            registry._current = None
    return PluginSet(manager=manager, registry=registry, plugins=infos)
