"""Real parts for tests: a Mosquitto broker on a free port, the gateway as its own process,
an MQTT subscriber that collects the feed, and waiting helpers that wake on events.

Nothing here sleeps to synchronise. A broker or gateway is ready when its own log says so; a
test waits for an MQTT message or an HTTP condition with a deadline, and fails with a
description of what it saw when the deadline passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import tomllib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp
import aiomqtt
import yarl

from gateway.store.db import Database

if TYPE_CHECKING:
    from gateway.app.runtime import Gateway

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if not found:
        raise RuntimeError("mosquitto is not installed (apt-get install mosquitto)")
    return found


class LineWatcher:
    """Reads a child process's output on a thread, keeps every line, and lets callers wait
    for a line that matches, without polling."""

    def __init__(self, stream: Any, sink: Path) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._closed = False
        self._sink = sink
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: Any) -> None:
        with self._sink.open("a", encoding="utf-8") as sink:
            for raw in iter(stream.readline, ""):
                sink.write(raw)
                sink.flush()
                with self._cond:
                    self.lines.append(raw.rstrip("\n"))
                    self._cond.notify_all()
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[str], bool], timeout: float, start: int = 0) -> str:
        """The first line from index `start` on that matches; raises TimeoutError."""
        with self._cond:
            index = start
            ok = self._cond.wait_for(
                lambda: any(predicate(line) for line in self.lines[index:]) or self._closed,
                timeout,
            )
            for line in self.lines[index:]:
                if predicate(line):
                    return line
        tail = "\n".join(self.lines[-20:])
        reason = "the process ended" if ok else f"nothing matched within {timeout}s"
        raise TimeoutError(f"{reason}; last output:\n{tail}")

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


class Mosquitto:
    """A private Mosquitto on 127.0.0.1, stoppable and restartable on the same port."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.workdir = workdir
        self._process: subprocess.Popen[str] | None = None
        self._watcher: LineWatcher | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            # Feed collectors share the event loop with the gateway they watch in process tests,
            # so they read slower than it publishes a catch-up: allow them a long queue, as
            # docs/mqtt.md tells users whose subscribers must see every event.
            "max_queued_messages 100000\n"
            "log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n"
            "log_type information\n"
        )
        self._process = subprocess.Popen(
            [mosquitto_binary(), "-c", str(conf)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._watcher = LineWatcher(self._process.stdout, self.workdir / "mosquitto.log")
        self._watcher.wait_for(lambda line: "running" in line, timeout=10)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)
            assert self._watcher is not None
            self._watcher.join(5)
            self._process = None


class GatewayProcess:
    """The gateway run exactly as users run it: `python run.py serve --config FILE`."""

    def __init__(self, config_path: Path, workdir: Path, env: dict[str, str] | None = None) -> None:
        self.config_path = config_path
        self.workdir = workdir
        self.env = env or {}
        self.url = ""
        self.process: subprocess.Popen[str] | None = None
        self.watcher: LineWatcher | None = None
        self.starts = 0

    async def start(self, timeout: float = 30) -> None:
        """Start the process and return once it logged `gateway.started`; the test's event loop
        keeps running meanwhile (the process starts and its log is watched on other threads)."""
        watcher = await asyncio.to_thread(self._spawn)
        line = await asyncio.to_thread(
            watcher.wait_for, lambda ln: '"gateway.started"' in ln, timeout
        )
        self.url = json.loads(line)["http"]
        PROCESSES[self.url] = self

    def start_blocking(self, timeout: float = 30) -> None:
        """`start` for a synchronous (module-scoped) fixture, where no event loop runs."""
        watcher = self._spawn()
        line = watcher.wait_for(lambda ln: '"gateway.started"' in ln, timeout)
        self.url = json.loads(line)["http"]
        PROCESSES[self.url] = self

    def _spawn(self) -> LineWatcher:
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "run.py"), "serve", "--config", str(self.config_path)],
            cwd=self.workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.starts += 1
        self.watcher = LineWatcher(self.process.stdout, self.workdir / f"gateway-{self.starts}.log")
        return self.watcher

    def log_events(self) -> list[dict[str, Any]]:
        """Every JSON log line of this run so far."""
        assert self.watcher is not None
        events = []
        for line in self.watcher.lines:
            with contextlib.suppress(ValueError):
                events.append(json.loads(line))
        return events

    def kill(self) -> None:
        """kill -9: no clean-up of any kind."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self, timeout: float = 30) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        assert self.watcher is not None
        self.watcher.join(5)
        return code

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ensure_stopped(self) -> None:
        if self.running():
            assert self.process is not None
            self.process.kill()
            self.process.wait(10)


class FeedCollector:
    """Subscribes to the gateway's MQTT feed and keeps what arrives; tests wait on it."""

    def __init__(self, broker_port: int, prefix: str = "dropship") -> None:
        self.port = broker_port
        self.prefix = prefix
        self.messages: list[tuple[str, Any, bool]] = []
        self.latest: dict[str, Any] = {}
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def __aenter__(self) -> FeedCollector:
        self._task = asyncio.create_task(self._run())
        async with asyncio.timeout(10):
            await self._subscribed.wait()
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        # Reconnects, so the collector survives a broker restart inside a test.
        while True:
            try:
                async with aiomqtt.Client("127.0.0.1", self.port, timeout=5) as client:
                    await client.subscribe(f"{self.prefix}/#", qos=1)
                    self._subscribed.set()
                    async for message in client.messages:
                        payload = message.payload
                        assert isinstance(payload, bytes | bytearray)
                        text = bytes(payload).decode()
                        try:
                            value: Any = json.loads(text)
                        except ValueError:
                            value = text
                        topic = str(message.topic)
                        async with self._changed:
                            self.messages.append((topic, value, bool(message.retain)))
                            self.latest[topic] = value
                            self._changed.notify_all()
            except aiomqtt.MqttError:
                await asyncio.sleep(0.2)  # reconnect pacing, not synchronisation

    def status_of(self, order_id: str) -> dict[str, Any] | None:
        value = self.latest.get(f"{self.prefix}/orders/{order_id}/status")
        return value if isinstance(value, dict) else None

    def events_on(self, topic: str) -> list[Any]:
        """Every payload received on `topic`, in order."""
        return [v for t, v, _ in self.messages if t == topic]

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        prefix = f"{self.prefix}/events/"
        return [
            v
            for t, v, _ in self.messages
            if t.startswith(prefix) and (event_type is None or t == prefix + event_type)
        ]

    async def wait_until(
        self, predicate: Callable[[FeedCollector], bool], timeout: float, what: str
    ) -> None:
        async with self._changed:
            try:
                async with asyncio.timeout(timeout):
                    await self._changed.wait_for(lambda: predicate(self))
            except TimeoutError:
                raise AssertionError(
                    f"feed: {what} did not happen within {timeout}s "
                    f"({len(self.messages)} messages seen)"
                ) from None


# Gateways running in this process (started by `tests.conftest.start_gateway`), by URL: a test
# can wait on their commits instead of polling them.
IN_PROCESS: dict[str, Gateway] = {}


def running_here(url: str) -> Gateway | None:
    """The gateway of this test's process at `url`, if one is running there. A stopped one is
    forgotten: its port may since have gone to a gateway process of a later test."""
    gateway = IN_PROCESS.get(url)
    if gateway is not None and not gateway.db.is_open:
        del IN_PROCESS[url]
        return None
    return gateway


def in_process(url: str) -> Gateway:
    gateway = running_here(url)
    if gateway is None:
        raise LookupError(
            f"{url} is not a gateway running in this test's process: wait on its MQTT feed "
            "(FeedCollector, order_reaching) or on the log of the process"
        )
    return gateway


# Gateway processes started by this test process, by URL: their feed tells when they change.
PROCESSES: dict[str, GatewayProcess] = {}


def feed_of(url: str) -> FeedCollector:
    """A collector of the MQTT feed of the gateway process at `url` (its config names the
    broker and the topic prefix)."""
    process = PROCESSES.get(url)
    if process is None:
        raise LookupError(f"{url} is neither a gateway in this process nor one it started")
    mqtt = tomllib.loads(process.config_path.read_text(encoding="utf-8")).get("mqtt", {})
    port = yarl.URL(mqtt.get("url", "mqtt://127.0.0.1:1883")).port or 1883
    return FeedCollector(port, mqtt.get("topic_prefix", "dropship"))


async def until_committed(
    store: Gateway | Database,
    check: Callable[[], Awaitable[T | None]],
    timeout: float,
    what: str,
    last: Callable[[], Any] = lambda: None,
) -> T:
    """Run `check` now and again after every commit of the store (a gateway's, or a `Database`
    a test opened), until it returns something other than None. No polling: a commit is the
    only thing that changes the answer."""
    db = store if isinstance(store, Database) else store.db
    changed = asyncio.Event()
    db.add_commit_listener(changed.set)
    try:
        async with asyncio.timeout(timeout):
            while True:
                changed.clear()  # before the check: a commit during it is not missed
                result = await check()
                if result is not None:
                    return result
                await changed.wait()
    except TimeoutError:
        raise AssertionError(f"{what} did not happen within {timeout}s; last: {last()}") from None
    finally:
        db.remove_commit_listener(changed.set)


async def wait_for_http(
    session: aiohttp.ClientSession,
    url: str,
    predicate: Callable[[Any], bool],
    timeout: float,
    what: str,
) -> Any:
    """GET `url` until `predicate(json)` holds, asking again only when something changed: after
    each commit of a gateway in this process, or after each message the gateway publishes on
    its MQTT feed (every change it commits is published) when it runs as a process."""
    answers: list[Any] = [None]

    async def check() -> Any:
        async with session.get(url) as response:
            answers[0] = await response.json()
        return answers[0] if predicate(answers[0]) else None

    base = url.split("/api/", 1)[0].split("/readyz", 1)[0]
    if (gateway := running_here(base)) is not None:
        return await until_committed(gateway, check, timeout, what, lambda: answers[0])
    async with feed_of(base) as feed:
        while True:
            seen = len(feed.messages)  # before the check: a message during it is not missed
            if (result := await check()) is not None:
                return result
            await feed.wait_until(
                lambda f, seen=seen: len(f.messages) > seen,
                timeout,
                f"{what} (last answer: {answers[0]})",
            )


async def order_reaching(
    session: aiohttp.ClientSession,
    base_url: str,
    order_id: str,
    statuses: tuple[str, ...] | str,
    timeout: float = 20,
) -> dict[str, Any]:
    """The order view once the order is in one of `statuses`: woken by the commits of a gateway
    in this process, or by the order's retained status on the MQTT feed of a gateway process
    (through the one broker this test runs)."""
    wanted = (statuses,) if isinstance(statuses, str) else statuses
    what = f"order {order_id} {' or '.join(wanted)}"
    url = f"{base_url}/api/v1/orders/{order_id}"
    if running_here(base_url) is not None:
        view: dict[str, Any] = await wait_for_http(
            session, url, lambda o: o["status"] in wanted, timeout, what
        )
        return view
    async with feed_of(base_url) as feed:
        await feed.wait_until(
            lambda f: (f.status_of(order_id) or {}).get("status") in wanted, timeout, what
        )
    async with session.get(url) as response:
        answer: dict[str, Any] = await response.json()
    return answer


async def post_order(http: aiohttp.ClientSession, url: str, body: Any) -> str:
    """POST one order to the gateway at `url`; its order id once answered 202."""
    async with http.post(f"{url}/api/v1/orders", json=body) as response:
        assert response.status == 202, await response.text()
        answer = await response.json()
    order_id: str = answer["accepted"][0]["order_id"]
    return order_id


def order_json(
    external_id: str,
    lines: list[tuple[str, int]],
    province: str = "浙江省",
    **extra: Any,
) -> dict[str, Any]:
    """A valid intake order (CONTRACT §3)."""
    return {
        "external_id": external_id,
        "channel": extra.pop("channel", "erp"),
        "created_at": "2026-11-23T10:00:00+08:00",
        "priority": "normal",
        "currency": "CNY",
        "customer": {"id": "C-1", "tier": "vip"},
        "payment": {"status": "paid", "amount": "39.80"},
        "ship_to": {
            "name": "张三",
            "phone": "13812345678",
            "country": "CN",
            "province": province,
            "city": "杭州市",
            "district": "西湖区",
            "address1": "文三路 100 号",
            "postal_code": "310000",
        },
        "lines": [
            {"line_id": str(i + 1), "sku": sku, "quantity": qty, "unit_price": "19.90"}
            for i, (sku, qty) in enumerate(lines)
        ],
        **extra,
    }


async def gather_limited(coros: list[Awaitable[Any]], limit: int) -> list[Any]:
    semaphore = asyncio.Semaphore(limit)

    async def one(coro: Awaitable[Any]) -> Any:
        async with semaphore:
            return await coro

    return await asyncio.gather(*(one(c) for c in coros))
