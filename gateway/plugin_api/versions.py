"""Which plugin API versions this gateway loads, and the message when a plugin's is not one.

A plugin says which version of the plugin API it was written for with a module-level
`plugin_api_version = 2` in the module its entry point names. The name differs from
`PLUGIN_API_VERSION` on purpose: a plugin that imports the gateway's constant would otherwise
always claim the current version, and the check would never catch anything.
"""

from __future__ import annotations

from gateway.plugin_api.adapters import PLUGIN_API_VERSION

DECLARATION = "plugin_api_version"

# The versions this gateway can run. Version 1 is gone: its names moved into the
# gateway.plugin_api package (docs/plugin-api-changelog.md), so a version 1 plugin cannot import.
SUPPORTED_PLUGIN_API_VERSIONS = frozenset({2})


def api_version_problem(declared: object, plugin: str, package: str, module: str) -> str | None:
    """Why a plugin that declared `declared` cannot be loaded, or None if it can.

    `plugin` is its name, `package` its distribution and version (`dropship-acme 0.3.0`), `module`
    the module that should carry the declaration."""
    supported = " and ".join(str(v) for v in sorted(SUPPORTED_PLUGIN_API_VERSIONS))
    who = f"plugin {plugin!r} ({package})"
    if declared is None:
        return (
            f"{who} does not say which plugin API it was written for: add"
            f" `{DECLARATION} = {PLUGIN_API_VERSION}` to {module}"
        )
    if not isinstance(declared, int) or isinstance(declared, bool):
        return f"{who}: {DECLARATION} must be an int such as {PLUGIN_API_VERSION}, not {declared!r}"
    if declared in SUPPORTED_PLUGIN_API_VERSIONS:
        return None
    if declared > PLUGIN_API_VERSION:
        return (
            f"{who} was written for plugin API {declared}, newer than this gateway's plugin API"
            f" {PLUGIN_API_VERSION}: upgrade dropship-gateway, or use a release of the plugin"
            f" written for plugin API {supported}"
        )
    return (
        f"{who} was written for plugin API {declared}; this gateway provides plugin API"
        f" {PLUGIN_API_VERSION} and loads plugins written for {supported} only"
        " (what changed: docs/plugin-api-changelog.md)"
    )
