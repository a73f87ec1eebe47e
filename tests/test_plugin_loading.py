"""A bad package cannot break loading: each way a plugin breaks (failing import, raising or
hanging hook, a returned value, a half adapter class, an API version not supported, a misspelled
or unmarked hook, a name already taken) is reported against that plugin, which registers nothing,
while a good plugin beside them loads and delivers orders. The plugins are installed as
distributions with entry points, as pip would leave them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from gateway.app.plugins import load_plugins
from gateway.infra.clock import SystemClock
from gateway.infra.supervision import ChildSpec, ChildState, Ready, RestartPolicy, Supervisor
from tests.conftest import WriteConfig, base_config, start_gateway
from tests.fixture_plugins import hangs_in_hook
from tests.harness import ROOT, Mosquitto, order_json, order_reaching, wait_for_http
from tests.installed import (
    BROKEN_DISTS,
    DUPLICATE_NAME_ERROR,
    install_broken_and_good,
    plugin_name,
)

# Long enough for a good plugin's import on a busy machine; each hanging plugin costs this much.
TIMEOUT_S = 3.0


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory of installed plugin distributions on sys.path; the hanging hook is released
    when the test is done so that its thread ends."""
    directory = tmp_path / "site"
    install_broken_and_good(directory)
    monkeypatch.syspath_prepend(str(directory))
    hangs_in_hook.release.clear()
    yield directory
    hangs_in_hook.release.set()


def test_each_broken_plugin_is_reported_and_registers_nothing(site: Path) -> None:
    plugins = load_plugins(timeout_s=TIMEOUT_S)

    by_name = {p.name: p for p in plugins.plugins}
    for dist, (_, expected) in BROKEN_DISTS.items():
        info = by_name[plugin_name(dist)]
        assert info.package == dist
        assert info.error is not None, dist
        assert expected in info.error, info.error
    duplicate = [p for p in plugins.plugins if p.name == "good" and p.error]
    assert [p.error for p in duplicate] == [DUPLICATE_NAME_ERROR]

    good = next(p for p in plugins.plugins if p.name == "good" and not p.error)
    assert (good.package, good.version, good.api_version) == ("dropship-good", "1.2.3", 2)
    assert good.supplier_adapters == ["good"]
    assert good.hooks == ["dropship_gateway_register_adapters"]
    registry = plugins.registry
    # The plugins installed in this environment (the gateway's own, the example) load beside
    # the test's, and only the good one of the test's joins them.
    ours = {*BROKEN_DISTS, "dropship-good", "dropship-good-fork"}
    installed = [p for p in plugins.plugins if p.package not in ours]
    assert {"http_json", "simulator"} <= {p.name for p in installed}
    assert not [p.error for p in installed if p.error]
    installed_adapters = {name for p in installed for name in p.supplier_adapters}
    assert set(registry.supplier_adapters) == installed_adapters | {"good"}
    assert registry.owner[("supplier adapter", "http_json")] == "http_json"
    # Only the plugins that loaded are in the plugin manager.
    assert {name for name, _ in plugins.manager.list_name_plugin()} == {
        p.name for p in installed
    } | {"good"}
    # The hanging hook registered its adapter before it hung: still nothing of it counts.
    hangs_in_hook.release.set()
    assert "from_hanging" not in registry.supplier_adapters


def test_plugins_command_reports_each_broken_plugin_and_lists_the_good_one(
    site: Path, tmp_path: Path
) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(f"[gateway]\nplugin_timeout_s = {TIMEOUT_S}\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "plugins", "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])},
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    blocks = {
        block.split(" ", 1)[0]: block
        for block in result.stdout.split("\n")
        if block and not block.startswith(" ")
    }
    lines = result.stdout.splitlines()
    for dist, (_, expected) in BROKEN_DISTS.items():
        name = plugin_name(dist)
        assert name in blocks, result.stdout
        at = lines.index(blocks[name])
        errors = [line for line in lines[at + 1 : at + 6] if line.startswith("    ERROR: ")]
        assert errors, (name, result.stdout)
        assert expected in errors[0], (name, errors)
    assert "good 1.2.3  [tests.fixture_plugins.good]  package dropship-good, plugin API 2" in lines
    assert f"    ERROR: {DUPLICATE_NAME_ERROR}" in lines
    assert "    supplier adapters: good" in lines


async def test_a_good_plugin_works_beside_broken_ones_and_the_api_shows_them(
    site: Path,
    tmp_path: Path,
    broker: Mosquitto,
    write_config: WriteConfig,
    http: aiohttp.ClientSession,
) -> None:
    config = base_config(
        tmp_path,
        broker,
        gateway={"plugin_timeout_s": TIMEOUT_S},
        suppliers=[{"id": "sup-good", "name": "Good", "adapter": "good", "url": "http://x",
                    "regions": ["CN"]}],
        catalog=[{"sku": "G-1", "supplier": "sup-good", "cost": "1.00", "stock": 10}],
    )  # fmt: skip
    gateway = await start_gateway(write_config(config))
    try:
        url = gateway.http_url
        async with http.post(f"{url}/api/v1/orders", json=order_json("SO-1", [("G-1", 1)])) as r:
            order_id = (await r.json())["accepted"][0]["order_id"]
        view = await order_reaching(http, url, order_id, "acknowledged")
        assert view["purchase_orders"][0]["supplier_ref"].startswith("GOOD-po_")

        async with http.get(f"{url}/api/v1/plugins") as response:
            assert response.status == 200
            listing = await response.json()
    finally:
        await gateway.stop()
    assert listing["plugin_api_version"] == 2
    assert listing["supported_plugin_api_versions"] == [2]
    entries = {(p["name"], p["package"]): p for p in listing["plugins"]}
    good = entries[("good", "dropship-good")]
    assert good["loaded"] is True
    assert (good["version"], good["api_version"], good["source"]) == ("1.2.3", 2, "entry point")
    assert good["supplier_adapters"] == ["good"]
    assert good["error"] is None
    for dist, (_, expected) in BROKEN_DISTS.items():
        entry = entries[(plugin_name(dist), dist)]
        assert entry["loaded"] is False
        assert expected in entry["error"]
        assert entry["supplier_adapters"] == []
    assert entries[("good", "dropship-good-fork")]["error"] == DUPLICATE_NAME_ERROR


async def test_an_adapter_that_hangs_in_start_does_not_hold_up_the_others(
    tmp_path: Path,
    broker: Mosquitto,
    write_config: WriteConfig,
    http: aiohttp.ClientSession,
) -> None:
    config = base_config(
        tmp_path,
        broker,
        gateway={
            "plugin_modules": [
                "tests.fixture_plugins.hangs_in_start",
                "tests.fixture_plugins.good",
            ],
            "plugin_timeout_s": 1,
            "restart_intensity": 1,
            "restart_period_s": 60,
        },
        suppliers=[
            {"id": "sup-stuck", "name": "Stuck", "adapter": "hangs_in_start", "url": "http://x",
             "regions": ["CN"], "timeout_s": 0.5},
            {"id": "sup-good", "name": "Good", "adapter": "good", "url": "http://x",
             "regions": ["CN"]},
        ],
        catalog=[{"sku": "G-1", "supplier": "sup-good", "cost": "1.00", "stock": 10}],
    )  # fmt: skip
    gateway = await start_gateway(write_config(config))  # returns although sup-stuck never starts
    try:
        url = gateway.http_url
        async with http.post(f"{url}/api/v1/orders", json=order_json("SO-1", [("G-1", 1)])) as r:
            order_id = (await r.json())["accepted"][0]["order_id"]
        await order_reaching(http, url, order_id, "acknowledged")
        stuck = await wait_for_http(
            http,
            f"{url}/api/v1/suppliers",
            lambda body: any(
                s["supplier_id"] == "sup-stuck" and s["state"] == "down" for s in body["suppliers"]
            ),
            timeout=30,
            what="sup-stuck down",
        )
    finally:
        await gateway.stop()
    entry = next(s for s in stuck["suppliers"] if s["supplier_id"] == "sup-stuck")
    assert "start() did not return within 1.5s" in entry["last_error"]


async def test_a_child_that_is_never_ready_does_not_hold_up_its_supervisor() -> None:
    supervisor = Supervisor("test", RestartPolicy(), SystemClock())
    never_ready = asyncio.Event()

    async def stuck(ready: Ready) -> None:
        await never_ready.wait()

    await supervisor.start_child(ChildSpec("plugin:stuck", stuck), ready_timeout_s=0.2)
    status = supervisor.status("plugin:stuck")
    assert status is not None
    assert status.state == ChildState.STARTING
    await supervisor.stop()
