"""Finding and loading plugins so that no package, however broken, stops the others.

Every plugin, ours included, comes in through the `dropship_gateway` entry-point group (plus
modules named in `gateway.plugin_modules`). pluggy's own `load_setuptools_entrypoints` stops at
the first package that fails to import, so each plugin goes through these steps on its own, and
the first one that fails is reported against its name and skips it:

1. no other plugin has its name;
2. import, in a thread of its own with a time limit (a plugin may hang while importing);
3. it declares a plugin API version this gateway supports (`plugin_api_version = 2`);
4. registered in a plugin manager of its own, which verifies its hook signatures, then
   `check_pending()`: a hook implementation no specification declares (a typo) is an error;
5. its hook is called through `pm.hook`, in a thread with a time limit, on a registry of its own;
   it must return nothing;
6. what it registered joins the gateway's registry, all or nothing (a name another plugin took
   is an error).
"""

from __future__ import annotations

import difflib
import functools
import importlib
import importlib.metadata
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pluggy
import structlog

from gateway.infra.bounded import StillRunning, call_bounded
from gateway.infra.config import Config
from gateway.plugin_api import hookspecs
from gateway.plugin_api.registry import (
    CHANNEL_ADAPTER,
    SERVICE,
    SUPPLIER_ADAPTER,
    AdapterRegistry,
    PluginInfo,
)
from gateway.plugin_api.versions import DECLARATION, api_version_problem

ENTRY_POINT_GROUP = "dropship_gateway"
DEFAULT_PLUGIN_TIMEOUT_S = 10.0
HOOKS = sorted(name for name in vars(hookspecs) if name.startswith("dropship_gateway_"))

log = structlog.get_logger(__name__)


@dataclass
class PluginSet:
    manager: pluggy.PluginManager  # holds the plugins that loaded, and only those
    registry: AdapterRegistry
    plugins: list[PluginInfo]

    @property
    def errors(self) -> list[PluginInfo]:
        return [p for p in self.plugins if p.error]


@dataclass(frozen=True)
class _Candidate:
    name: str
    target: str
    package: str | None
    version: str | None
    source: str
    load: Callable[[], Any]


class _Skip(Exception):
    """This plugin cannot be loaded; the message says why."""


def load_plugins(
    extra_modules: Sequence[str] = (), *, timeout_s: float = DEFAULT_PLUGIN_TIMEOUT_S
) -> PluginSet:
    """Load every plugin, register what each provides, and report what went wrong per plugin.

    `timeout_s` bounds each plugin's import and each call of its hook."""
    manager = _new_manager()
    registry = AdapterRegistry()
    infos: list[PluginInfo] = []
    named: dict[str, PluginInfo] = {}
    for candidate in _candidates(extra_modules):
        info = PluginInfo(
            name=candidate.name,
            version=candidate.version,
            module=candidate.target,
            package=candidate.package,
            source=candidate.source,
        )
        infos.append(info)
        first = named.setdefault(candidate.name, info)
        try:
            if first is not info:
                raise _Skip(
                    f"another plugin is already named {candidate.name!r} ({_label(first)});"
                    f" this one ({_label(info)}) is skipped"
                )
            plugin = _load_one(candidate, info, registry, timeout_s)
        except _Skip as problem:
            info.error = str(problem)
            log.error(
                "plugin.load_failed", plugin=info.name, package=_label(info), error=info.error
            )
            continue
        manager.register(plugin, name=candidate.name)
        info.hooks = sorted(hook.name for hook in manager.get_hookcallers(plugin) or [])
    return PluginSet(manager=manager, registry=registry, plugins=infos)


def load_configured_plugins(config: Config) -> PluginSet:
    """The plugins a config asks for: every entry point, its `plugin_modules`, its time limit."""
    return load_plugins(config.gateway.plugin_modules, timeout_s=config.gateway.plugin_timeout_s)


def _new_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    return manager


def _candidates(extra_modules: Sequence[str]) -> list[_Candidate]:
    found: list[_Candidate] = []
    entry_points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    for entry_point in sorted(entry_points, key=lambda e: (e.name, _dist_name(e) or "")):
        dist = entry_point.dist
        found.append(
            _Candidate(
                name=entry_point.name,
                target=entry_point.value,
                package=_dist_name(entry_point),
                version=dist.version if dist else None,
                source="entry point",
                load=entry_point.load,
            )
        )
    for module_name in extra_modules:
        found.append(
            _Candidate(
                name=module_name,
                target=module_name,
                package=None,
                version=None,
                source="plugin_modules",
                load=functools.partial(importlib.import_module, module_name),
            )
        )
    return found


def _dist_name(entry_point: importlib.metadata.EntryPoint) -> str | None:
    dist = entry_point.dist
    return str(dist.metadata["Name"]) if dist is not None else None


def _label(info: PluginInfo) -> str:
    """`dropship-acme 0.3.0`: the package and version an operator can look up."""
    version = info.version or "no version"
    return f"{info.package} {version}" if info.package else f"module {info.module}, {version}"


def _load_one(
    candidate: _Candidate,
    info: PluginInfo,
    registry: AdapterRegistry,
    timeout_s: float,
) -> object:
    """The plugin object, with what it registered merged into `registry`; or _Skip."""
    plugin = _import(candidate, timeout_s)
    if candidate.version is None and isinstance(plugin, types.ModuleType):
        info.version = getattr(plugin, "__version__", None)
    declared = getattr(plugin, DECLARATION, None)
    problem = api_version_problem(declared, candidate.name, _label(info), candidate.target)
    if problem:
        raise _Skip(problem)
    info.api_version = declared if isinstance(declared, int) else None

    own = _new_manager()  # this plugin alone, so that every check below is about it
    try:
        own.register(plugin, name=candidate.name)
    except pluggy.PluginValidationError as error:
        raise _Skip(f"invalid hook implementation: {_one_line(error)}") from None
    _check_hooks(own, plugin, candidate.target)

    staged = AdapterRegistry()
    what = f"plugin {candidate.name!r}: dropship_gateway_register_adapters"
    try:
        results = call_bounded(
            functools.partial(own.hook.dropship_gateway_register_adapters, registry=staged),
            timeout_s,
            "dropship_gateway_register_adapters",
        )
    except StillRunning as hung:
        log.error("plugin.hook_hung", plugin=candidate.name, timeout_s=timeout_s)
        raise _Skip(f"{hung} (skipped; its thread is left running)") from None
    except Exception as error:
        raise _Skip(
            f"dropship_gateway_register_adapters raised {type(error).__name__}: {error}"
        ) from None
    if results:
        raise _Skip(
            f"{what} returned {type(results[0]).__name__} {results[0]!r:.80}; it must return"
            " None and register through registry.supplier_adapter(...), "
            "registry.channel_adapter(...) or registry.service(...)"
        )
    try:
        registry.merge(staged, candidate.name)
    except ValueError as clash:
        raise _Skip(str(clash)) from None
    info.supplier_adapters = staged.names(SUPPLIER_ADAPTER)
    info.channel_adapters = staged.names(CHANNEL_ADAPTER)
    info.services = staged.names(SERVICE)
    return plugin


def _import(candidate: _Candidate, timeout_s: float) -> object:
    try:
        return call_bounded(candidate.load, timeout_s, f"importing {candidate.target}")
    except StillRunning as hung:
        log.error("plugin.import_hung", plugin=candidate.name, timeout_s=timeout_s)
        raise _Skip(f"{hung} (skipped; its thread is left running)") from None
    except BaseException as error:  # SystemExit and the like from a plugin's import, too
        raise _Skip(
            f"failed to import {candidate.target}: {type(error).__name__}: {error}"
        ) from None


def _check_hooks(own: pluggy.PluginManager, plugin: object, target: str) -> None:
    """pluggy's check_pending, with a message that names each unknown hook and its likely
    intended name; and a plugin that implements no hook at all is an error too."""
    try:
        own.check_pending()
    except pluggy.PluginValidationError:
        unknown = sorted(
            hook.name for hook in own.get_hookcallers(plugin) or [] if not hook.has_spec()
        )
        hints = [
            f"{name} (did you mean {match[0]}?)" if match else name
            for name in unknown
            for match in [difflib.get_close_matches(name, HOOKS, n=1)]
        ]
        raise _Skip(
            f"implements unknown hooks: {', '.join(hints)}; the hooks are {', '.join(HOOKS)}"
        ) from None
    if not own.get_hookcallers(plugin):
        unmarked = [n for n in HOOKS if callable(getattr(plugin, n, None))]
        hint = (
            f"{', '.join(unmarked)} is not marked with @hookimpl"
            if unmarked
            else "implement dropship_gateway_register_adapters"
        )
        raise _Skip(
            f"{target} implements no hook: {hint} (from gateway.plugin_api import hookimpl)"
        )


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())
