"""Distributions "installed" into a directory by writing their `.dist-info`, which is all
`importlib.metadata` reads to find entry points: the layout pip leaves behind, without pip's
cost. Put the directory on `sys.path` (or `PYTHONPATH`) and the gateway finds the plugins."""

from __future__ import annotations

from pathlib import Path


def install_dist(site: Path, name: str, version: str, entry_points: dict[str, str]) -> Path:
    """Write the metadata of distribution `name` with `dropship_gateway` entry points
    (`{"acme": "dropship_acme"}`) into `site`; the modules must be importable on their own."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8"
    )
    lines = [f"{ep} = {target}" for ep, target in entry_points.items()]
    (info / "entry_points.txt").write_text(
        "[dropship_gateway]\n" + "\n".join(lines) + "\n", encoding="utf-8"
    )
    return info


# One distribution per way a plugin breaks, each with the error the gateway must report, and a
# good plugin that must load beside them. Entry-point names sort in this order.
BROKEN_DISTS: dict[str, tuple[str, str]] = {
    # distribution: (entry point -> module, what the error must say)
    "dropship-broken-import": ("tests.fixture_plugins.broken_import", "failed to import"),
    "dropship-hook-raises": (
        "tests.fixture_plugins.hook_raises",
        "dropship_gateway_register_adapters raised RuntimeError: cannot read my own settings",
    ),
    "dropship-hangs": (
        "tests.fixture_plugins.hangs_in_hook",
        "dropship_gateway_register_adapters did not return within",
    ),
    "dropship-returns-a-value": (
        "tests.fixture_plugins.returns_a_value",
        "dropship_gateway_register_adapters returned dict",
    ),
    "dropship-half-adapter": (
        "tests.fixture_plugins.incomplete_adapter",
        "supplier adapter 'half': HalfAdapter lacks start, close, cancel_purchase_order",
    ),
    "dropship-old-api": (
        "tests.fixture_plugins.old_api",
        "plugin 'old_api' (dropship-old-api 0.9.0) was written for plugin API 1; this gateway"
        " provides plugin API 2",
    ),
    "dropship-future-api": (
        "tests.fixture_plugins.future_api",
        "plugin 'future_api' (dropship-future-api 0.9.0) was written for plugin API 3, newer than"
        " this gateway's plugin API 2",
    ),
    "dropship-no-api-version": (
        "tests.fixture_plugins.no_api_version",
        "does not say which plugin API it was written for: add `plugin_api_version = 2`",
    ),
    "dropship-typo": (
        "tests.fixture_plugins.unknown_hook",
        "implements unknown hooks: dropship_gateway_register_adaptors (did you mean"
        " dropship_gateway_register_adapters?), register_adapters (did you mean"
        " dropship_gateway_register_adapters?)",
    ),
    "dropship-wrong-argument": (
        "tests.fixture_plugins.wrong_hook_argument",
        "invalid hook implementation",
    ),
    "dropship-unmarked": (
        "tests.fixture_plugins.unmarked_hook",
        "dropship_gateway_register_adapters is not marked with @hookimpl",
    ),
    "dropship-taken-adapter-name": (
        "tests.fixture_plugins.takes_a_taken_name",
        "supplier adapter 'http_json' is already registered by plugin 'http_json'",
    ),
}


def plugin_name(dist: str) -> str:
    """The entry-point name each broken distribution uses: `dropship-old-api` -> `old_api`."""
    return dist.removeprefix("dropship-").replace("-", "_")


def install_broken_and_good(site: Path) -> None:
    """Every broken distribution, a good one (`good`, adapter `good`), and a second distribution
    that claims the good one's plugin name."""
    for dist, (module, _) in BROKEN_DISTS.items():
        install_dist(site, dist, "0.9.0", {plugin_name(dist): module})
    install_dist(site, "dropship-good", "1.2.3", {"good": "tests.fixture_plugins.good"})
    install_dist(site, "dropship-good-fork", "2.0.0", {"good": "tests.fixture_plugins.crashing"})


DUPLICATE_NAME_ERROR = (
    "another plugin is already named 'good' (dropship-good 1.2.3); this one"
    " (dropship-good-fork 2.0.0) is skipped"
)
