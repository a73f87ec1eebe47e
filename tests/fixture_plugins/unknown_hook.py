"""A plugin with a typo in its hook name: it would silently do nothing if not caught."""

from __future__ import annotations

from typing import Any

from gateway.plugin_api.hookspecs import hookimpl

plugin_api_version = 2


@hookimpl
def dropship_gateway_register_adaptors(registry: Any) -> None:
    raise AssertionError("never called")


@hookimpl
def register_adapters(registry: Any) -> None:
    raise AssertionError("never called")
