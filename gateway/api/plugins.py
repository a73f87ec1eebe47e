"""`GET /api/v1/plugins`: what loaded at start-up, from which package and version, what each
plugin registered, and what failed and why (the same facts as `run.py plugins`)."""

from __future__ import annotations

from aiohttp import web

from gateway.api.context import context
from gateway.api.errors import json_response
from gateway.plugin_api.adapters import PLUGIN_API_VERSION
from gateway.plugin_api.registry import PluginInfo
from gateway.plugin_api.versions import SUPPORTED_PLUGIN_API_VERSIONS


def plugin_entry(info: PluginInfo) -> dict[str, object]:
    return {
        "name": info.name,
        "loaded": info.error is None,
        "package": info.package,
        "version": info.version,
        "module": info.module,
        "source": info.source,
        "api_version": info.api_version,
        "hooks": info.hooks,
        "supplier_adapters": info.supplier_adapters,
        "channel_adapters": info.channel_adapters,
        "services": info.services,
        "error": info.error,
    }


async def list_plugins(request: web.Request) -> web.Response:
    return json_response(
        {
            "plugin_api_version": PLUGIN_API_VERSION,
            "supported_plugin_api_versions": sorted(SUPPORTED_PLUGIN_API_VERSIONS),
            "plugins": [plugin_entry(info) for info in context(request).plugins],
        }
    )
