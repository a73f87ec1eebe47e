"""Fixtures: a private Mosquitto per test, config files, and gateways in-process or as a
process. Every part is real: broker, SQLite files, HTTP servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import tomli_w

from gateway.app.plugins import load_configured_plugins
from gateway.app.runtime import Gateway
from gateway.infra.config import Config, load_config
from tests.harness import IN_PROCESS, GatewayProcess, Mosquitto

WriteConfig = Callable[[dict[str, Any]], Path]


def store_threads() -> list[str]:
    """The store's threads still running: each open Database has a writer and a reader."""
    return [
        thread.name
        for thread in threading.enumerate()
        if thread.name.startswith(("store-writer", "store-reader")) and thread.is_alive()
    ]


def leftovers(before: set[asyncio.Task[Any]]) -> list[str]:
    """What a test left behind: tasks it started that still run, and open databases."""
    current = asyncio.current_task()
    tasks = [
        f"task {t.get_name()}"
        for t in asyncio.all_tasks()
        if t not in before and t is not current and not t.done()
    ]
    return tasks + [f"thread {name}" for name in store_threads()]


class TaskFailures:
    """Collects what the event loop reports about tasks and futures whose exception nobody
    retrieved. The loop reports a dead task when it is garbage-collected, under the context key
    `future` ("Task exception was never retrieved"); a task destroyed while still pending comes
    under `task`. Other reports (a callback that raised) go on to the previous handler."""

    def __init__(self) -> None:
        self.lost: list[str] = []
        self._previous: Any = None

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        self._previous = loop.get_exception_handler()
        loop.set_exception_handler(self.handle)

    def uninstall(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.set_exception_handler(self._previous)

    def handle(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        source = context.get("task") or context.get("future")
        if isinstance(source, asyncio.Future):
            name = source.get_name() if isinstance(source, asyncio.Task) else "a future"
            self.lost.append(f"{name}: {context.get('message')}: {context.get('exception')!r}")
        if self._previous is not None:
            self._previous(loop, context)
        else:
            loop.default_exception_handler(context)  # logs it, with its traceback


@pytest.fixture(autouse=True)
async def no_leftovers() -> AsyncIterator[TaskFailures]:
    """Fail a test that leaves tasks running or databases open (their threads), or whose
    background tasks died with an exception nobody looked at: such leaks hide shutdown bugs
    and crashes. Autouse fixtures are set up first, so this runs after every other teardown.
    Yields the collector of lost exceptions (tests/test_leak_checks.py proves it catches them)."""
    loop = asyncio.get_running_loop()
    before = set(asyncio.all_tasks())
    failures = TaskFailures()
    failures.install(loop)
    try:
        yield failures
        gc.collect()  # a dead task's exception is reported when the task is collected
        left = leftovers(before)
    finally:
        failures.uninstall(loop)
    assert not left, f"left behind: {left}"
    assert not failures.lost, f"background tasks failed: {failures.lost}"


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
    IN_PROCESS[gateway.http_url] = gateway
    return gateway
