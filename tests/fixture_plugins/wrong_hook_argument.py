"""A plugin whose hook names its argument differently from the specification."""

from __future__ import annotations

from typing import Any

from gateway.plugin_api import hookimpl

plugin_api_version = 2


@hookimpl
def dropship_gateway_register_adapters(reg: Any) -> None:
    raise AssertionError("never called")
