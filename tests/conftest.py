"""Fixtures: a private Mosquitto per test, config files, and gateways in-process or as a
process. Every part is real: broker, SQLite files, HTTP servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import aiosqlite
import pytest
import tomli_w

from gateway.app.plugins import load_configured_plugins
from gateway.app.runtime import Gateway
from gateway.infra.config import Config, load_config
from tests.harness import GatewayProcess, Mosquitto

WriteConfig = Callable[[dict[str, Any]], Path]


@pytest.fixture(autouse=True)
async def no_leftovers() -> AsyncIterator[None]:
    """Fail a test that leaves tasks running or database connections open (an unclosed
    aiosqlite connection is a thread): such leaks hide shutdown bugs. Autouse fixtures are
    set up first, so this check runs after every other fixture has torn down."""
    before = set(asyncio.all_tasks())
    yield
    current = asyncio.current_task()
    leftover = [
        t for t in asyncio.all_tasks() if t not in before and t is not current and not t.done()
    ]
    open_connections = [t for t in threading.enumerate() if isinstance(t, aiosqlite.Connection)]
    assert not leftover, f"tasks left running: {[t.get_name() for t in leftover]}"
    assert not open_connections, f"{len(open_connections)} SQLite connections left open"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    workdir = tmp_path / "mosquitto"
    workdir.mkdir()
    mosquitto = Mosquitto(workdir)
    mosquitto.start()
    try:
        yield mosquitto
    finally:
        mosquitto.stop()


def base_config(tmp_path: Path, broker: Mosquitto, **sections: Any) -> dict[str, Any]:
    """A config for tests: free HTTP port, this test's broker and data dir, quick restarts."""
    config: dict[str, Any] = {
        "gateway": {
            "data_dir": str(tmp_path / "var"),
            "restart_backoff_s": 0.05,
            "restart_backoff_max_s": 0.2,
            "shutdown_grace_s": 5,
        },
        "http": {"host": "127.0.0.1", "port": 0},
        "mqtt": {"url": broker.url, "topic_prefix": "dropship", "reconnect_max_s": 0.5},
        "log": {"level": "info", "format": "json"},
    }
    for name, value in sections.items():
        if isinstance(value, dict) and isinstance(config.get(name), dict):
            config[name] = {**config[name], **value}
        else:
            config[name] = value
    return config


@pytest.fixture
def write_config(tmp_path: Path) -> WriteConfig:
    def write(data: dict[str, Any]) -> Path:
        path = tmp_path / "gateway.toml"
        path.write_text(tomli_w.dumps(data), encoding="utf-8")
        return path

    return write


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


@pytest.fixture
def gateway_process(tmp_path: Path) -> Iterator[Callable[[Path], GatewayProcess]]:
    made: list[GatewayProcess] = []

    def make(config_path: Path) -> GatewayProcess:
        process = GatewayProcess(config_path, tmp_path)
        made.append(process)
        return process

    yield make
    for process in made:
        process.ensure_stopped()


async def start_gateway(config_path: Path) -> Gateway:
    """A gateway in this test's event loop, loaded exactly as `run.py serve` loads it."""
    config: Config = load_config(config_path)
    gateway = Gateway(config, load_configured_plugins(config))
    await gateway.start()
    return gateway
