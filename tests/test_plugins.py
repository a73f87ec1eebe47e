"""Plugins load through the `dropship_gateway` entry points (ours too); a broken plugin is
reported against its own name and the others load."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gateway.app.plugins import load_plugins
from tests.harness import ROOT

BROKEN = [
    "tests.fixture_plugins.broken_import",
    "tests.fixture_plugins.hook_raises",
    "tests.fixture_plugins.unknown_hook",
    "tests.fixture_plugins.takes_a_taken_name",
]


def test_first_party_plugins_load_through_their_entry_points() -> None:
    plugins = load_plugins()
    by_name = {p.name: p for p in plugins.plugins}
    assert by_name["http_json"].module == "dropship_http_json"
    assert by_name["http_json"].version == "0.1.0"
    assert by_name["http_json"].package == "dropship-gateway"
    assert by_name["http_json"].api_version == 2
    assert by_name["http_json"].hooks == ["dropship_gateway_register_adapters"]
    assert by_name["http_json"].supplier_adapters == ["http_json"]
    assert by_name["simulator"].channel_adapters == ["simulated_shop"]
    assert {"supplier_fleet", "shopify_shop"} <= set(by_name["simulator"].services)
    assert by_name["shopify"].channel_adapters == ["shopify"]
    assert not plugins.errors
    assert plugins.registry.owner[("supplier adapter", "http_json")] == "http_json"


def test_each_broken_plugin_is_reported_and_the_rest_load() -> None:
    plugins = load_plugins([*BROKEN, "tests.fixture_plugins.crashing"])
    errors = {p.name: p.error or "" for p in plugins.errors}
    assert set(errors) == set(BROKEN)
    assert "ImportError" in errors["tests.fixture_plugins.broken_import"]
    assert "cannot read my own settings" in errors["tests.fixture_plugins.hook_raises"]
    assert "dropship_gateway_register_adaptors" in errors["tests.fixture_plugins.unknown_hook"]
    assert (
        "already registered by plugin 'http_json'"
        in errors["tests.fixture_plugins.takes_a_taken_name"]
    )
    # The taken name still belongs to its first owner; the healthy plugins all loaded.
    assert plugins.registry.owner[("supplier adapter", "http_json")] == "http_json"
    assert {"http_json", "crashing"} <= set(plugins.registry.supplier_adapters)
    crashing = next(p for p in plugins.plugins if p.name == "tests.fixture_plugins.crashing")
    assert crashing.version == "9.9.9"
    assert (crashing.source, crashing.package) == ("plugin_modules", None)
    assert crashing.error is None


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "run.py"), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_plugins_command_lists_versions_hooks_and_errors(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(
        '[gateway]\nplugin_modules = ["tests.fixture_plugins.hook_raises"]\n', encoding="utf-8"
    )
    result = run_cli("plugins", "--config", str(config))
    assert result.returncode == 2
    assert "http_json 0.1.0  [dropship_http_json]" in result.stdout
    assert "supplier adapters: http_json" in result.stdout
    assert "channel adapters: simulated_shop" in result.stdout
    assert "ERROR: dropship_gateway_register_adapters raised RuntimeError" in result.stdout


def test_check_names_the_key_of_an_adapter_no_plugin_provides(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(
        '[[suppliers]]\nid = "sup-a"\nname = "A"\nadapter = "soap_xml"\n'
        'url = "http://127.0.0.1:9"\nregions = ["CN"]\n',
        encoding="utf-8",
    )
    result = run_cli("check", "--config", str(config))
    assert result.returncode == 2
    [line] = result.stdout.splitlines()
    named, _, loaded = line.partition(" (loaded: ")
    assert named == "suppliers[0].adapter: no supplier adapter named 'soap_xml'"
    assert "http_json" in loaded.rstrip(")").split(", ")  # and the other first-party adapters


def test_check_reports_an_adapters_own_option_problems_under_the_config_key(
    tmp_path: Path,
) -> None:
    (tmp_path / "checked_options.py").write_text(
        "from gateway.plugin_api import OptionProblem, hookimpl\n"
        "plugin_api_version = 2\n"
        "def check(options):\n"
        "    if not isinstance(options.get('folder'), str):\n"
        "        return [OptionProblem(('folder',), 'a folder path is required')]\n"
        "    return []\n"
        "def explode(options):\n"
        "    raise KeyError('x')\n"
        "@hookimpl\n"
        "def dropship_gateway_register_adapters(registry):\n"
        "    registry.supplier_adapter('checked', lambda ctx: None, check_options=check)\n"
        "    registry.channel_adapter('exploding', lambda: None, check_options=explode)\n"
    )
    config = tmp_path / "gateway.toml"
    config.write_text(
        'gateway = { plugin_modules = ["checked_options"] }\n'
        '[[suppliers]]\nid = "a"\nname = "A"\nadapter = "checked"\nurl = "http://x"\n'
        'regions = ["*"]\noptions = { folder = "in" }\n'
        '[[suppliers]]\nid = "b"\nname = "B"\nadapter = "checked"\nurl = "http://x"\n'
        'regions = ["*"]\n'
        '[[channels]]\nid = "c"\nadapter = "exploding"\n'
    )
    result = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "check", "--config", str(config)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        "suppliers[1].options.folder: a folder path is required",
        "channels[0].options: the options check raised KeyError: 'x'",
    ]
