"""A plugin that forgot @hookimpl: its hook would silently never run."""

from __future__ import annotations

from typing import Any

plugin_api_version = 2


def dropship_gateway_register_adapters(registry: Any) -> None:
    raise AssertionError("never called")
