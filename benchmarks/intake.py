"""How fast the gateway takes orders, how soon they reach suppliers, and what each one costs.

    .venv/bin/python -m benchmarks.intake            # full run, about 3 minutes
    .venv/bin/python -m benchmarks.intake --quick    # about 30 seconds

Every part is real and runs on 127.0.0.1. The gateway runs as its own process
(`python run.py serve --config FILE`, the way users run it) against a private Mosquitto.
Three supplier simulators speaking CONTRACT §5 and the HTTP clients run in this process.
It prints figures and asserts nothing about speed; it fails only when the gateway misbehaves
(a non-202 answer, a rejected order, work that never finishes).

Sections:
1. intake: orders/s answered 202, single orders with C concurrent clients and batches;
   latency of the 202.
2. end to end: from the 202 to the moment the supplier has created the PO.
3. cost per order: gateway CPU (from /proc), database bytes, MQTT messages and log lines.
4. growth: sections 1 and 2 again after seeding the store with many more orders.

Between two measurements the gateway is brought to rest: every PO is at its supplier, every
order routed, the outbox empty and the feed received. Each case therefore measures its own
orders and nothing left over from the case before. The wait on PO arrivals is event-driven.
The rest is state in another process (the gateway's database, its /metrics), which has no
event to wait on, so it is polled until a deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import math
import os
import platform
import re
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import IO, Any, Literal, TypeVar

import aiohttp
import aiomqtt
import msgspec
import structlog
import tomli_w

from dropship_simulator import protocol
from dropship_simulator.supplier_server import SupplierOrder, SupplierSimulator
from gateway.actors import router as router_actor
from gateway.actors import supplier as supplier_actor
from gateway.domain.intake import MAX_BATCH
from gateway.feed import publisher as publisher_module
from gateway.infra.config import Config, load_config
from gateway.store.codec import po_id_for
from gateway.store.db import Database
from tests.harness import ROOT, Mosquitto, order_json

T = TypeVar("T")
PREFIX = "dropship"
SUPPLIER_LATENCY_MS = 1.0
JSON_HEADERS = {"Content-Type": "application/json"}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# -- what a run does -------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    name: str
    warmup: int  # orders sent first and not reported (connections, caches, code paths)
    singles: tuple[tuple[int, int], ...]  # (concurrent clients, orders)
    batches: tuple[tuple[int, int], ...]  # (orders per request, requests)
    e2e_orders: int
    e2e_clients: int
    seed_orders: int
    seed_batch: int = MAX_BATCH


FULL = Plan(
    name="full",
    warmup=200,
    singles=((1, 300), (8, 1000), (32, 1000)),
    batches=((100, 10), (1000, 2)),
    e2e_orders=2000,
    e2e_clients=8,
    seed_orders=20_000,
)
QUICK = Plan(
    name="quick",
    warmup=30,
    singles=((1, 60), (8, 150), (32, 200)),
    batches=((100, 2), (1000, 1)),
    e2e_orders=300,
    e2e_clients=8,
    seed_orders=3_000,
)

# The order mix of tests/test_end_to_end.py: (lines, province, POs it becomes).
# sup-a ships to Zhejiang and Shanghai, sup-b to all of China, sup-c everywhere.
MIX: tuple[tuple[list[tuple[str, int]], str, int], ...] = (
    ([("A-1", 1)], "浙江省", 1),  # sup-a
    ([("B-1", 2)], "广东省", 1),  # sup-b
    ([("A-1", 1), ("B-1", 1)], "CN-ZJ", 2),  # split: sup-a + sup-b
    ([("COMMON", 3), ("C-1", 1)], "广东", 2),  # split: sup-b (cheaper in Guangdong) + sup-c
)
HELD: tuple[list[tuple[str, int]], str, int] = ([("NOBODY-SELLS", 1)], "浙江省", 0)
SeedMode = Literal["routed", "held"]


class BenchError(RuntimeError):
    """The gateway did not do what the benchmark needs (not a slowness: a failure)."""


# -- the supplier side -----------------------------------------------------------------------


class Arrivals:
    """When each PO reached its supplier (time.perf_counter), and a wait for a count of them."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self._target = 0
        self._reached = asyncio.Event()

    def record(self, po_id: str) -> None:
        self.at.setdefault(po_id, time.perf_counter())
        if len(self.at) >= self._target:
            self._reached.set()

    async def wait_for(self, total: int, timeout: float) -> None:  # noqa: ASYNC109
        self._target = total
        self._reached.clear()
        if len(self.at) >= total:
            return
        try:
            async with asyncio.timeout(timeout):
                await self._reached.wait()
        except TimeoutError:
            raise BenchError(
                f"only {len(self.at)} of {total} purchase orders reached the suppliers "
                f"within {timeout:.0f}s"
            ) from None


class TimedSupplier(SupplierSimulator):
    """A SupplierSimulator that notes the moment it creates each PO: "the supplier has it".

    The simulator keeps no arrival times itself, and a task waking on its change events would
    note them late (and, to find the new ones, rescan a dict that grows to tens of thousands).
    So this hooks the one place a PO is created: synchronous, once per po_id, never for 409s.
    """

    def __init__(self, supplier_id: str, arrivals: Arrivals, **options: Any) -> None:
        super().__init__(supplier_id, **options)
        self._arrivals = arrivals

    def _create(self, po: protocol.PurchaseOrder, raw: bytes) -> SupplierOrder:
        order = super()._create(po, raw)
        self._arrivals.record(po.po_id)
        return order


# -- the gateway process ---------------------------------------------------------------------


class GatewayRun:
    """`python run.py serve --config FILE` as its own process, run as users run it.

    tests.harness.GatewayProcess keeps each log line in memory and flushes it line by line from
    a thread in this process. At thousands of lines a second that steals CPU (and the GIL) from
    the load clients. This launcher reads lines only until `gateway.started`, then copies the
    log to a file in 64 KiB chunks and only counts the lines.
    """

    def __init__(self, config_path: Path, workdir: Path) -> None:
        self.config_path = config_path
        self.workdir = workdir
        self.log_path = workdir / "gateway.log"
        self.url = ""
        self.log_lines = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.on_exit: Callable[[], None] | None = None  # called from the log thread at EOF
        self._started = threading.Event()
        self._ended = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def spawn(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "run.py"), "serve", "--config", str(self.config_path)],
            cwd=self.workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        assert self.process.stdout is not None
        self._thread = threading.Thread(
            target=self._pump, args=(self.process.stdout,), name="gateway-log", daemon=True
        )
        self._thread.start()

    def wait_started(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self._started.is_set():
            if self._ended.is_set() or time.monotonic() > deadline:
                raise BenchError(f"the gateway did not start; its log ends:\n{self.log_tail()}")
            self._started.wait(0.1)  # wakes early on the event; the timeout only checks _ended

    def _pump(self, stream: IO[bytes]) -> None:
        with self.log_path.open("wb") as sink:
            for line in iter(stream.readline, b""):
                sink.write(line)
                self.log_lines += 1
                if b'"gateway.started"' in line:
                    self.url = msgspec.json.decode(line)["http"]
                    sink.flush()
                    self._started.set()
                    break
            read1 = getattr(stream, "read1", stream.read)
            while chunk := read1(1 << 16):
                sink.write(chunk)
                self.log_lines += chunk.count(b"\n")
        self._ended.set()
        if self.on_exit is not None:
            self.on_exit()

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM and wait; SIGKILL if it will not go. The exit code, None if killed."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            return None
        if self._thread is not None:
            self._thread.join(5)
        return code


# -- measuring other processes ---------------------------------------------------------------


def _proc_stat_cpu(path: Path) -> float:
    """utime + stime of /proc/.../stat, in seconds."""
    fields = path.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def process_cpu(pid: int) -> float:
    try:
        return _proc_stat_cpu(Path(f"/proc/{pid}/stat"))
    except (OSError, IndexError, ValueError):
        return float("nan")


def main_thread_cpu(pid: int) -> float:
    """CPU of the process's first thread: the gateway's event loop."""
    try:
        return _proc_stat_cpu(Path(f"/proc/{pid}/task/{pid}/stat"))
    except (OSError, IndexError, ValueError):
        return float("nan")


def process_io(pid: int) -> dict[str, int]:
    """/proc/<pid>/io: rchar/wchar (bytes through read/write calls, page cache included),
    syscr/syscw (how many calls), read_bytes/write_bytes (what reached the block device)."""
    with contextlib.suppress(OSError, ValueError):
        return {
            key: int(value)
            for key, _, value in (
                line.partition(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines()
            )
        }
    return {}


def rss_mib(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_steal() -> tuple[float, float]:
    """(steal, total) jiffies of all CPUs since boot, from /proc/stat."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return float(fields[7]), float(sum(fields[:8]))
    return float("nan"), float("nan")


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child_pid(name: str) -> int | None:
    """The pid of this process's child whose command name is `name` (the broker)."""
    me = os.getpid()
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{me}/task"):
            for pid in Path(f"/proc/{me}/task/{task}/children").read_text().split():
                with contextlib.suppress(OSError):
                    if Path(f"/proc/{pid}/comm").read_text().strip() == name:
                        return int(pid)
    return None


class StoreProbe:
    """A read-only look at the gateway's SQLite file from outside (WAL lets it read freely)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def unfinished(self) -> tuple[int, int, int]:
        """(orders not routed yet, POs not answered yet, outbox rows not acknowledged yet)."""
        row = (
            self._db()
            .execute(
                "SELECT (SELECT count(*) FROM orders WHERE status = 'received'),"
                " (SELECT count(*) FROM purchase_orders WHERE status IN ('pending', 'sent')),"
                " (SELECT count(*) FROM outbox)"
            )
            .fetchone()
        )
        return int(row[0]), int(row[1]), int(row[2])

    def counts(self) -> dict[str, int]:
        db = self._db()
        page_size = int(db.execute("PRAGMA page_size").fetchone()[0])
        pages = int(db.execute("PRAGMA page_count").fetchone()[0])
        free = int(db.execute("PRAGMA freelist_count").fetchone()[0])
        row = db.execute(
            "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM purchase_orders),"
            " (SELECT count(*) FROM events)"
        ).fetchone()
        return {
            "bytes": (pages - free) * page_size,
            "orders": int(row[0]),
            "purchase_orders": int(row[1]),
            "events": int(row[2]),
        }

    def bytes_by_table(self) -> list[tuple[str, int]]:
        """Bytes per table and index (the dbstat virtual table), largest first."""
        try:
            rows = self._db().execute(
                "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"
            )
            return [(str(name), int(size)) for name, size in rows]
        except sqlite3.Error:
            return []

    def file_sizes(self) -> tuple[int, int]:
        """(main file, -wal file) in bytes."""
        wal = Path(f"{self.path}-wal")
        return self.path.stat().st_size, wal.stat().st_size if wal.exists() else 0


class FeedCounter:
    """Counts the MQTT feed by kind of topic, without decoding payloads (it shares the CPU)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.live: Counter[str] = Counter()  # messages published while we were subscribed
        self.stale = 0  # retained messages replayed to us on subscribing
        self._subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="feed-counter")
        async with asyncio.timeout(10):
            await self._subscribed.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await self._task
            self._task = None

    @property
    def total_live(self) -> int:
        """Live messages that came out of the gateway's outbox (not its online/offline)."""
        return sum(n for kind, n in self.live.items() if kind != "gateway/status")

    async def _run(self) -> None:
        async with aiomqtt.Client(
            "127.0.0.1", self.port, identifier="dropship-bench-feed", timeout=10
        ) as client:
            await client.subscribe(f"{PREFIX}/#", qos=1)
            self._subscribed.set()
            async for message in client.messages:
                if message.retain:
                    self.stale += 1
                else:
                    self.live[topic_kind(message.topic.value)] += 1


def topic_kind(topic: str) -> str:
    parts = topic.split("/")[1:]
    if len(parts) == 3 and parts[0] in ("orders", "suppliers"):
        return f"{parts[0]}/+/{parts[2]}"
    return "/".join(parts)


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text → {name: value summed over its labels}, and {name{labels}: value}."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        try:
            number = float(value)
        except ValueError:
            continue
        values[key] = number
        name = key.split("{", 1)[0]
        if "{" in key:
            values[name] = values.get(name, 0.0) + number
    return values


# -- load ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    body: bytes
    pos: tuple[int, ...]  # POs each of its orders becomes


class _Accepted(msgspec.Struct):
    order_id: str
    external_id: str
    duplicate: bool


class _Answer(msgspec.Struct):
    accepted: list[_Accepted]
    rejected: list[Any]


_answer_decoder = msgspec.json.Decoder(_Answer)


@dataclass(frozen=True)
class Sent:
    order_id: str
    pos: int
    accepted_at: float  # perf_counter when the 202 was in


@dataclass(frozen=True)
class Snapshot:
    at: float
    gw_cpu: float
    gw_loop_cpu: float
    client_cpu: float
    broker_cpu: float
    arrivals: int
    attempts: int  # POST /purchase-orders the suppliers received
    log_lines: int
    feed: Counter[str]
    metrics: dict[str, float]
    store: dict[str, int]
    rss_mib: float
    io: dict[str, int]


@dataclass
class Case:
    label: str
    clients: int
    batch: int  # orders per request; 1 for single orders
    sent: list[Sent] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # per request, seconds
    requests: int = 0
    start: Snapshot | None = None
    loaded: Snapshot | None = None  # when the last 202 was in
    settled: Snapshot | None = None  # when the gateway was at rest again
    e2e: list[float] = field(default_factory=list)  # per order with POs, seconds
    last_arrival: float = 0.0

    @property
    def orders(self) -> int:
        return len(self.sent)

    @property
    def pos(self) -> int:
        return sum(s.pos for s in self.sent)

    def _snaps(self) -> tuple[Snapshot, Snapshot, Snapshot]:
        assert self.start
        assert self.loaded
        assert self.settled
        return self.start, self.loaded, self.settled

    @property
    def intake_s(self) -> float:
        start, loaded, _ = self._snaps()
        return loaded.at - start.at

    @property
    def intake_rate(self) -> float:
        return self.orders / self.intake_s

    @property
    def reach_s(self) -> float:
        """From the first request to the last PO at its supplier."""
        start, _, _ = self._snaps()
        return self.last_arrival - start.at

    def per_order(self, value: Callable[[Snapshot], float], window: str = "settled") -> float:
        """The change of `value` over the case (to `loaded` or `settled`) per order."""
        start, loaded, settled = self._snaps()
        end = loaded if window == "loaded" else settled
        return (value(end) - value(start)) / max(1, self.orders)


def build_requests(prefix: str, count: int, batch: int, mode: SeedMode = "routed") -> list[Request]:
    """`count` orders of the mix, in requests of `batch` (1: single orders, not wrapped)."""
    requests: list[Request] = []
    for first in range(0, count, batch):
        orders: list[dict[str, Any]] = []
        pos: list[int] = []
        for i in range(first, min(count, first + batch)):
            lines, province, n_pos = HELD if mode == "held" else MIX[i % len(MIX)]
            orders.append(order_json(f"{prefix}-{i:06d}", lines, province))
            pos.append(n_pos)
        body = msgspec.json.encode(orders[0] if batch == 1 else {"orders": orders})
        requests.append(Request(body, tuple(pos)))
    return requests


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


# -- the bench -------------------------------------------------------------------------------


class Bench:
    def __init__(self, workdir: Path, plan: Plan, synchronous: str | None) -> None:
        self.workdir = workdir
        self.plan = plan
        self.synchronous = synchronous
        self.arrivals = Arrivals()
        self.expected_pos = 0  # POs the suppliers should have by now, over the whole run
        self.broker: Mosquitto | None = None
        self.broker_pid: int | None = None
        self.sims: dict[str, TimedSupplier] = {}
        self.gateway: GatewayRun | None = None
        self.config: Config | None = None
        self.feed: FeedCounter | None = None
        self.probe: StoreProbe | None = None
        self.http: aiohttp.ClientSession | None = None
        self.gateway_gone: asyncio.Future[None] | None = None

    # -- parts --

    async def guarded(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro`, but give up at once if the gateway process ends meanwhile."""
        task = asyncio.ensure_future(coro)
        try:
            waiting: set[asyncio.Future[Any]] = {task}
            if self.gateway_gone is not None:
                waiting.add(self.gateway_gone)
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if task.done():
                return task.result()
            code = self.gateway.process.poll() if self.gateway and self.gateway.process else None
            raise BenchError(f"the gateway process ended in the middle of the run (exit {code})")
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, BenchError):
                    await task

    async def start(self) -> None:
        (self.workdir / "mosquitto").mkdir()
        self.broker = Mosquitto(self.workdir / "mosquitto")
        self.broker.start()
        self.broker_pid = child_pid("mosquitto")
        regions = {"sup-a": ["CN-ZJ", "CN-SH"], "sup-b": ["CN"], "sup-c": ["*"]}
        for seed, supplier_id in enumerate(regions, start=1):
            sim = TimedSupplier(
                supplier_id, self.arrivals, seed=seed, latency_ms=SUPPLIER_LATENCY_MS
            )
            self.sims[supplier_id] = sim
            await sim.start()
        config_path = self.workdir / "gateway.toml"
        config_path.write_text(tomli_w.dumps(self._config_dict(regions)), encoding="utf-8")
        self.config = load_config(config_path)
        # Subscribed before the gateway starts, so every message it publishes is counted live.
        self.feed = FeedCounter(self.broker.port)
        await self.feed.start()
        self.gateway = GatewayRun(config_path, self.workdir)
        loop = asyncio.get_running_loop()
        gone = self.gateway_gone = loop.create_future()

        def exited() -> None:
            if not gone.done():
                gone.set_result(None)

        def from_log_thread() -> None:
            loop.call_soon_threadsafe(exited)

        self.gateway.on_exit = from_log_thread
        self.gateway.spawn()
        await asyncio.to_thread(self.gateway.wait_started, 60)
        self.probe = StoreProbe(Path(self.config.gateway.data_dir) / "gateway.db")
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))

    def _config_dict(self, regions: dict[str, list[str]]) -> dict[str, Any]:
        assert self.broker is not None
        stock = 100_000_000
        gateway: dict[str, Any] = {"data_dir": str(self.workdir / "var"), "shutdown_grace_s": 5}
        if self.synchronous is not None:
            gateway["sqlite_synchronous"] = self.synchronous
        return {
            "gateway": gateway,
            "http": {"host": "127.0.0.1", "port": 0},
            "mqtt": {"url": self.broker.url, "topic_prefix": PREFIX},
            "log": {"level": "info", "format": "json"},
            "suppliers": [
                {
                    "id": supplier_id,
                    "name": f"Supplier {supplier_id[-1].upper()}",
                    "url": self.sims[supplier_id].url,
                    "regions": supplier_regions,
                }
                for supplier_id, supplier_regions in regions.items()
            ],
            "catalog": [
                {"sku": "A-1", "supplier": "sup-a", "cost": "10.00", "stock": stock},
                {"sku": "B-1", "supplier": "sup-b", "cost": "20.00", "stock": stock},
                {"sku": "C-1", "supplier": "sup-c", "cost": "30.00", "stock": stock},
                {"sku": "COMMON", "supplier": "sup-a", "cost": "5.00", "stock": stock},
                {"sku": "COMMON", "supplier": "sup-b", "cost": "6.00", "stock": stock},
            ],
            "routing": {"strategy": "cost", "split": "allow"},
        }

    async def close(self) -> int | None:
        """Take everything down, whatever state it is in (safe to call twice); the gateway's
        exit code, None if it had to be killed or never ran."""
        code: int | None = None
        http, self.http = self.http, None
        if http is not None:
            await http.close()
        probe, self.probe = self.probe, None
        if probe is not None:
            probe.close()
        gateway, self.gateway = self.gateway, None
        if gateway is not None:
            code = await asyncio.to_thread(gateway.stop)
        feed, self.feed = self.feed, None
        if feed is not None:
            await feed.stop()
        sims, self.sims = self.sims, {}
        for sim in sims.values():
            with contextlib.suppress(Exception):
                await sim.stop()
        broker, self.broker = self.broker, None
        if broker is not None:
            broker.stop()
        return code

    # -- observing --

    async def metrics(self) -> dict[str, float]:
        assert self.http is not None
        assert self.gateway is not None
        async with self.http.get(f"{self.gateway.url}/metrics") as response:
            return parse_metrics(await response.text())

    async def snapshot(self) -> Snapshot:
        assert self.gateway is not None
        assert self.feed is not None
        assert self.probe is not None
        metrics = await self.metrics()
        pid = self.gateway.pid
        return Snapshot(
            at=time.perf_counter(),
            gw_cpu=process_cpu(pid),
            gw_loop_cpu=main_thread_cpu(pid),
            client_cpu=own_cpu(),
            broker_cpu=process_cpu(self.broker_pid) if self.broker_pid else float("nan"),
            arrivals=len(self.arrivals.at),
            attempts=sum(len(sim.received) for sim in self.sims.values()),
            log_lines=self.gateway.log_lines,
            feed=Counter(self.feed.live),
            metrics=metrics,
            store=self.probe.counts(),
            rss_mib=rss_mib(pid),
            io=process_io(pid),
        )

    async def settle(self, timeout: float) -> None:  # noqa: ASYNC109
        """Wait until the gateway is at rest: every PO at its supplier (an event), then every
        order routed, every PO answered, the outbox empty and the feed received (polled: that
        state lives in another process)."""
        assert self.probe is not None
        assert self.feed is not None
        deadline = time.monotonic() + timeout
        await self.arrivals.wait_for(self.expected_pos, timeout)
        last: tuple[int, ...] = ()
        while True:
            unfinished = self.probe.unfinished()
            if unfinished == (0, 0, 0):
                published = (await self.metrics()).get("dropship_mqtt_published_total", 0.0)
                if self.feed.total_live >= published:
                    return
                last = (*unfinished, int(published), self.feed.total_live)
            else:
                last = unfinished
            if time.monotonic() > deadline:
                raise BenchError(
                    "the gateway did not come to rest within "
                    f"{timeout:.0f}s: (received, awaiting, outbox[, published, seen]) = {last}"
                )
            await asyncio.sleep(0.02)  # paces the poll of another process's state

    # -- running a case --

    async def run_case(self, label: str, requests: list[Request], clients: int, batch: int) -> Case:
        assert self.gateway is not None
        case = Case(label=label, clients=clients, batch=batch)
        url = f"{self.gateway.url}/api/v1/orders"
        pending = iter(requests)
        connector = aiohttp.TCPConnector(limit=clients)
        timeout = aiohttp.ClientTimeout(total=120)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

            async def client() -> None:
                for request in pending:  # shared by the clients: each takes the next request
                    began = time.perf_counter()
                    async with session.post(url, data=request.body, headers=JSON_HEADERS) as r:
                        raw = await r.read()
                        status = r.status
                    done = time.perf_counter()
                    if status != 202:
                        raise BenchError(f"{label}: HTTP {status}: {raw[:500]!r}")
                    answer = _answer_decoder.decode(raw)
                    if answer.rejected or len(answer.accepted) != len(request.pos):
                        raise BenchError(f"{label}: not all accepted: {raw[:500]!r}")
                    if any(a.duplicate for a in answer.accepted):
                        raise BenchError(f"{label}: duplicates where none were sent")
                    case.latencies.append(done - began)
                    case.requests += 1
                    case.sent.extend(
                        Sent(a.order_id, n, done)
                        for a, n in zip(answer.accepted, request.pos, strict=True)
                    )

            case.start = await self.snapshot()
            async with asyncio.TaskGroup() as group:
                for _ in range(clients):
                    group.create_task(client())
            case.loaded = await self.snapshot()
        self.expected_pos += case.pos
        await self.settle(timeout=60 + case.orders * 0.05)
        case.settled = await self.snapshot()
        self._end_to_end(case)
        return case

    def _end_to_end(self, case: Case) -> None:
        at = self.arrivals.at
        for sent in case.sent:
            if sent.pos == 0:
                continue
            reached = max(at[po_id_for(sent.order_id, i)] for i in range(1, sent.pos + 1))
            case.e2e.append(reached - sent.accepted_at)
            case.last_arrival = max(case.last_arrival, reached)


# -- the run ---------------------------------------------------------------------------------


@dataclass
class Results:
    intake: list[Case] = field(default_factory=list)
    e2e: Case | None = None
    tables: list[tuple[str, int]] = field(default_factory=list)
    files: tuple[int, int] = (0, 0)
    seed: Case | None = None
    after: list[Case] = field(default_factory=list)
    after_e2e: Case | None = None
    after_tables: list[tuple[str, int]] = field(default_factory=list)
    after_files: tuple[int, int] = (0, 0)
    exit_code: int | None = None


def progress(message: str) -> None:
    print(f"  … {message}", file=sys.stderr, flush=True)


async def measure(bench: Bench, plan: Plan, seed_mode: SeedMode, out: Report) -> Results:
    results = Results()
    assert bench.probe is not None
    progress(f"warm-up: {plan.warmup} orders")
    await bench.run_case("warm-up", build_requests("WARM", plan.warmup, 1), 8, 1)

    out.header_after_start(bench)
    for clients, count in plan.singles:
        progress(f"single orders, {clients} clients: {count} orders")
        requests = build_requests(f"S{clients}", count, 1)
        results.intake.append(await bench.run_case(f"single, C={clients}", requests, clients, 1))
    for size, n_requests in plan.batches:
        progress(f"batches of {size}: {n_requests} requests")
        requests = build_requests(f"B{size}", size * n_requests, size)
        results.intake.append(await bench.run_case(f"batch {size}, C=1", requests, 1, size))
    progress(f"end to end: {plan.e2e_orders} orders, {plan.e2e_clients} clients")
    requests = build_requests("E2E", plan.e2e_orders, 1)
    results.e2e = await bench.run_case(
        f"e2e run, C={plan.e2e_clients}", requests, plan.e2e_clients, 1
    )
    results.tables = bench.probe.bytes_by_table()
    results.files = bench.probe.file_sizes()
    out.sections_1_to_3(results)

    progress(f"seeding the store: {plan.seed_orders} {seed_mode} orders in batches")
    requests = build_requests("SEED", plan.seed_orders, plan.seed_batch, seed_mode)
    results.seed = await bench.run_case(f"seed ({seed_mode})", requests, 1, plan.seed_batch)
    for clients, count in plan.singles:
        if clients != plan.e2e_clients:
            continue
        progress(f"after seeding: single orders, {clients} clients: {count} orders")
        requests = build_requests(f"GS{clients}", count, 1)
        results.after.append(await bench.run_case(f"single, C={clients}", requests, clients, 1))
    size, n_requests = plan.batches[0]
    progress(f"after seeding: batches of {size}: {n_requests} requests")
    requests = build_requests(f"GB{size}", size * n_requests, size)
    results.after.append(await bench.run_case(f"batch {size}, C=1", requests, 1, size))
    progress(f"after seeding: end to end: {plan.e2e_orders} orders")
    requests = build_requests("GE2E", plan.e2e_orders, 1)
    results.after_e2e = await bench.run_case(
        f"e2e run, C={plan.e2e_clients}", requests, plan.e2e_clients, 1
    )
    results.after_tables = bench.probe.bytes_by_table()
    results.after_files = bench.probe.file_sizes()
    return results


# -- printing --------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> str:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    first_left = [True] + [False] * (len(headers) - 1)

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.ljust(w) if left else v.rjust(w)
            for v, w, left in zip(values, widths, first_left, strict=True)
        ).rstrip()

    out = [title] if title else []
    out += [line(headers), line(["-" * w for w in widths])]
    out += [line(r) for r in cells]
    return "\n".join(out)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def ms(seconds: float) -> float:
    return seconds * 1000


def mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def filesystem_of(path: Path) -> str:
    best, kind = "", "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            mount, fstype = parts[1], parts[2]
            if str(path).startswith(mount) and len(mount) > len(best):
                best, kind = mount, f"{fstype} ({parts[0]} on {mount})"
    return kind


def mosquitto_version() -> str:
    try:
        found = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        text = subprocess.run(
            [found, "-h"], capture_output=True, text=True, timeout=5, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "?"
    match = re.search(r"version (\S+)", text)
    return match.group(1) if match else "?"


class Report:
    def __init__(self, plan: Plan, seed_mode: SeedMode, workdir: Path) -> None:
        self.plan = plan
        self.seed_mode = seed_mode
        self.workdir = workdir
        self.started = time.perf_counter()
        self.steal_start = cpu_steal()

    def emit(self, text: str = "") -> None:
        print(text, flush=True)

    def machine(self) -> None:
        affinity = len(os.sched_getaffinity(0))
        self.emit(f"Dropship Gateway benchmark ({self.plan.name} run)")
        self.emit("=" * 72)
        rows = [
            ("CPU", f"{cpu_model()}; {os.cpu_count()} CPUs, {affinity} usable by this process"),
            ("OS", f"{platform.system()} {platform.release()}"),
            ("Python", f"{platform.python_version()} ({sys.executable})"),
            ("SQLite", f"{sqlite3.sqlite_version} (the library the gateway's Python links)"),
            (
                "libraries",
                f"aiohttp {_version('aiohttp')}, aiosqlite {_version('aiosqlite')}, "
                f"uvloop {_version('uvloop')}, msgspec {_version('msgspec')}, "
                f"aiomqtt {_version('aiomqtt')}",
            ),
            ("MQTT broker", f"Mosquitto {mosquitto_version()}, private, on 127.0.0.1"),
            ("data dir on", filesystem_of(self.workdir)),
        ]
        for key, value in rows:
            self.emit(f"{key:>12}: {value}")

    def header_after_start(self, bench: Bench) -> None:
        config = bench.config
        assert config is not None
        assert bench.gateway is not None
        supplier = config.suppliers[0]
        sync = config.gateway.sqlite_synchronous
        sync_note = "(the default)" if bench.synchronous is None else "(set by --synchronous)"
        self.emit()
        self.emit("Configuration")
        self.emit("-" * 72)
        rows = [
            ("gateway", f"`python run.py serve --config gateway.toml`, pid {bench.gateway.pid}"),
            ("sqlite", f"journal_mode=WAL, synchronous={sync.upper()} {sync_note}"),
            (
                "group commit",
                f"one writer, up to {_default_max_batch()} jobs per transaction "
                "(gateway/store/db.py)",
            ),
            (
                "suppliers",
                f"3 × http_json: max_in_flight={supplier.max_in_flight}, "
                f"timeout_s={supplier.timeout_s:g}, retry_base_s={supplier.retry_base_s:g}",
            ),
            (
                "simulators",
                f"3 SupplierSimulator in the benchmark process, latency {SUPPLIER_LATENCY_MS:g} "
                "ms, no faults, no auto-shipping",
            ),
            ("routing", f"strategy={config.routing.strategy}, split={config.routing.split}"),
            (
                "actors",
                f"router batch {router_actor.BATCH}, publisher batch {publisher_module.BATCH}, "
                f"supplier MAX_ACTIVE {supplier_actor.MAX_ACTIVE}",
            ),
            ("log", f"level={config.log.level}, format={config.log.format}, stdout to a pipe"),
            ("mqtt", f"{config.mqtt.url}, QoS 1, a subscriber on {PREFIX}/# counts the feed"),
            (
                "order mix",
                "4 kinds in turn (tests/test_end_to_end.py): 1, 1, 2, 2 POs; 1.5 POs an order",
            ),
            ("clients", "aiohttp, keep-alive, bodies encoded before timing, same process"),
        ]
        for key, value in rows:
            self.emit(f"{key:>12}: {value}")

    def sections_1_to_3(self, r: Results) -> None:
        assert r.e2e is not None
        self._section_1(r.intake)
        self._section_2([*r.intake, r.e2e])
        self._section_3([*r.intake, r.e2e], r)

    def _section_1(self, cases: list[Case]) -> None:
        self.emit()
        self.emit("1. Intake throughput: orders answered 202 (stored durably)")
        self.emit("-" * 72)
        rows = [
            (
                c.label,
                c.orders,
                c.requests,
                c.intake_s,
                c.intake_rate,
                ms(percentile(c.latencies, 50)),
                ms(percentile(c.latencies, 95)),
                ms(percentile(c.latencies, 99)),
                ms(max(c.latencies)),
                ms(c.per_order(lambda s: s.gw_cpu, "loaded")),
            )
            for c in cases
        ]
        self.emit(
            table(
                (
                    "case",
                    "orders",
                    "requests",
                    "wall s",
                    "orders/s",
                    "202 p50 ms",
                    "p95 ms",
                    "p99 ms",
                    "max ms",
                    "gw CPU ms/order",
                ),
                rows,
            )
        )
        self.emit(
            "   latency is per request (a batch's 202 covers all its orders). Routing and "
            "dispatch of\n   earlier orders run in the gateway during intake, and their CPU "
            "is in 'gw CPU ms/order'."
        )
        best_single = max((c for c in cases if c.batch == 1), key=lambda c: c.intake_rate)
        best_batch = max(cases, key=lambda c: c.intake_rate)
        one = cases[0]
        self.emit(
            f"=> intake peaks at {best_single.intake_rate:,.0f} orders/s for single orders "
            f"({best_single.label}) and {best_batch.intake_rate:,.0f} orders/s in batches "
            f"({best_batch.label}); one client alone gets {one.intake_rate:,.0f}/s at "
            f"p50 {ms(percentile(one.latencies, 50)):.1f} ms."
        )

    def _section_2(self, cases: list[Case]) -> None:
        self.emit()
        self.emit("2. End to end: from the 202 until the supplier has created the PO")
        self.emit("-" * 72)
        rows = [
            (
                c.label,
                c.orders,
                c.pos,
                ms(percentile(c.e2e, 50)),
                ms(percentile(c.e2e, 95)),
                ms(percentile(c.e2e, 99)),
                ms(max(c.e2e)),
                c.intake_rate,
                c.orders / c.reach_s,
                c.pos / c.reach_s,
            )
            for c in cases
        ]
        self.emit(
            table(
                (
                    "load",
                    "orders",
                    "POs",
                    "e2e p50 ms",
                    "p95 ms",
                    "p99 ms",
                    "max ms",
                    "in orders/s",
                    "to suppliers orders/s",
                    "POs/s",
                ),
                rows,
            )
        )
        self.emit(
            "   e2e of an order = its last PO at the supplier minus its 202; 'to suppliers' = "
            "orders / (first request → last PO at a supplier)."
        )
        run = cases[-1]
        self.emit(
            f"=> {run.orders:,} orders ({run.label}) reached their suppliers at a sustained "
            f"{run.orders / run.reach_s:,.0f} orders/s ({run.pos / run.reach_s:,.0f} POs/s); "
            f"e2e p50 {ms(percentile(run.e2e, 50)):,.0f} ms, p95 "
            f"{ms(percentile(run.e2e, 95)):,.0f} ms (unloaded, {cases[0].label}: p50 "
            f"{ms(percentile(cases[0].e2e, 50)):,.0f} ms)."
        )

    def _section_3(self, cases: list[Case], r: Results) -> None:
        self.emit()
        self.emit("3. Cost per order, over each case until the gateway was at rest again")
        self.emit("-" * 72)
        rows = []
        for c in cases:
            gw = ms(c.per_order(lambda s: s.gw_cpu))
            loop = ms(c.per_order(lambda s: s.gw_loop_cpu))
            rows.append(
                (
                    c.label,
                    gw,
                    loop,
                    gw - loop,
                    c.per_order(lambda s: s.store["bytes"]),
                    c.per_order(lambda s: s.store["events"]),
                    c.per_order(lambda s: s.metrics.get("dropship_mqtt_published_total", 0.0)),
                    c.per_order(lambda s: s.log_lines),
                    ms(c.per_order(lambda s: s.client_cpu)),
                    ms(c.per_order(lambda s: s.broker_cpu)),
                )
            )
        self.emit(
            table(
                (
                    "case",
                    "gw CPU ms",
                    "loop thread",
                    "other threads",
                    "DB bytes",
                    "events",
                    "MQTT msgs",
                    "log lines",
                    "bench CPU ms",
                    "broker CPU ms",
                ),
                rows,
                title="   (all per order)",
            )
        )
        self.emit(
            table(
                (
                    "case",
                    "read calls",
                    "KiB read",
                    "write calls",
                    "KiB written",
                    "KiB to disk",
                    "supplier POSTs/PO",
                ),
                [
                    (
                        c.label,
                        c.per_order(lambda s: s.io.get("syscr", 0)),
                        c.per_order(lambda s: s.io.get("rchar", 0)) / 1024,
                        c.per_order(lambda s: s.io.get("syscw", 0)),
                        c.per_order(lambda s: s.io.get("wchar", 0)) / 1024,
                        c.per_order(lambda s: s.io.get("write_bytes", 0)) / 1024,
                        c.per_order(lambda s: s.attempts) * c.orders / max(1, c.pos),
                    )
                    for c in cases
                ],
                title="   gateway I/O per order (/proc/<pid>/io: SQLite pages, WAL, sockets, "
                "log; 'to disk' = block device)",
            )
        )
        run = cases[-1]
        start, _, end = run._snaps()
        kinds = sorted(set(end.feed) | set(start.feed))
        feed = ", ".join(
            f"{k} {(end.feed[k] - start.feed[k]) / run.orders:.2f}"
            for k in kinds
            if end.feed[k] != start.feed[k]
        )
        self.emit(f"   MQTT messages per order by topic ({run.label}): {feed}")
        counters = (
            "dropship_orders_received_total",
            "dropship_orders_routed_total",
            "dropship_purchase_orders_total",
            "dropship_purchase_order_retries_total",
            "dropship_mqtt_published_total",
        )
        delta = {n: end.metrics.get(n, 0.0) - start.metrics.get(n, 0.0) for n in counters}
        exposed = ", ".join(f"{n} {delta[n] / run.orders:+.2f}" for n in counters)
        self.emit(f"   /metrics per order ({run.label}): {exposed}")
        commits = end.metrics.get("dropship_store_commits_total", 0.0) - start.metrics.get(
            "dropship_store_commits_total", 0.0
        )
        jobs = end.metrics.get("dropship_store_jobs_total", 0.0) - start.metrics.get(
            "dropship_store_jobs_total", 0.0
        )
        self.emit(
            f"   SQLite group commit ({run.label}): {commits / run.orders:.2f} commits and "
            f"{jobs / run.orders:.1f} write jobs per order, {jobs / max(1.0, commits):.1f} jobs "
            "per commit"
        )
        main_size, wal_size = r.files
        self.emit(
            f"   store after these cases: {end.store['orders']:,} orders, "
            f"{end.store['purchase_orders']:,} POs, {end.store['events']:,} events; "
            f"gateway.db {mib(main_size)}, -wal {mib(wal_size)}; gateway RSS "
            f"{end.rss_mib:.0f} MiB"
        )
        self._bytes_by_table(r.tables, end.store["orders"])
        gw = ms(run.per_order(lambda s: s.gw_cpu))
        loop = ms(run.per_order(lambda s: s.gw_loop_cpu))
        start, _, end = run._snaps()
        busy = (end.gw_loop_cpu - start.gw_loop_cpu) / (end.at - start.at) * 100
        self.emit(
            f"=> each order costs the gateway {gw:.1f} ms of CPU ({loop:.1f} ms of it on the "
            f"event-loop thread), {run.per_order(lambda s: s.store['bytes']):,.0f} bytes of "
            f"database and "
            f"{run.per_order(lambda s: s.metrics.get('dropship_mqtt_published_total', 0.0)):.1f}"
            f" MQTT messages; during the {run.label} the event-loop thread was busy "
            f"{busy:.0f}% of the wall time."
        )

    def _bytes_by_table(self, tables: list[tuple[str, int]], orders: int) -> None:
        if not tables:
            self.emit("   (dbstat is not available in this SQLite: no per-table breakdown)")
            return
        total = sum(size for _, size in tables)
        top = [(name, size, size / max(1, orders), size / total * 100) for name, size in tables]
        shown = top[:8]
        rest = top[8:]
        if rest:
            shown.append(
                (
                    f"({len(rest)} more)",
                    sum(x[1] for x in rest),
                    sum(x[2] for x in rest),
                    sum(x[3] for x in rest),
                )
            )
        self.emit(
            table(
                ("table or index", "bytes", "bytes/order", "share %"),
                [(n, mib(s), b, p) for n, s, b, p in shown],
                title="   where the database bytes are (dbstat, whole store)",
            )
        )

    def section_4(self, r: Results) -> None:
        assert r.seed is not None
        assert r.e2e is not None
        assert r.after_e2e is not None
        seed = r.seed
        self.emit()
        self.emit("4. Growth: the same measurements after seeding the store")
        self.emit("-" * 72)
        what = (
            "routed and dispatched like any other"
            if self.seed_mode == "routed"
            else "held as no_route: orders, events and outbox traffic, no POs"
        )
        _, _, seeded = seed._snaps()
        self.emit(
            f"   seed: {seed.orders:,} orders ({what}) in batches of {seed.batch}: intake "
            f"{seed.intake_rate:,.0f} orders/s, at rest after "
            f"{seeded.at - seed._snaps()[0].at:.1f} s, gateway CPU "
            f"{ms(seed.per_order(lambda s: s.gw_cpu)):.2f} ms/order"
        )
        before = {c.label: c for c in r.intake}
        pairs: list[tuple[Case, Case]] = [(before[c.label], c) for c in r.after]
        pairs.append((r.e2e, r.after_e2e))
        rows: list[tuple[str, str, float, float, str]] = []

        def add(name: str, unit: str, a: float, b: float) -> None:
            change = (b - a) / a * 100 if a else float("nan")
            rows.append((name, unit, a, b, "n/a" if math.isnan(change) else f"{change:+.0f}%"))

        for a, b in pairs:
            add(f"{a.label}: intake", "orders/s", a.intake_rate, b.intake_rate)
            add(
                f"{a.label}: 202 p50",
                "ms",
                ms(percentile(a.latencies, 50)),
                ms(percentile(b.latencies, 50)),
            )
            add(
                f"{a.label}: 202 p95",
                "ms",
                ms(percentile(a.latencies, 95)),
                ms(percentile(b.latencies, 95)),
            )
            add(f"{a.label}: e2e p50", "ms", ms(percentile(a.e2e, 50)), ms(percentile(b.e2e, 50)))
            add(f"{a.label}: e2e p95", "ms", ms(percentile(a.e2e, 95)), ms(percentile(b.e2e, 95)))
            add(f"{a.label}: to suppliers", "orders/s", a.orders / a.reach_s, b.orders / b.reach_s)
            add(
                f"{a.label}: gw CPU",
                "ms/order",
                ms(a.per_order(lambda s: s.gw_cpu)),
                ms(b.per_order(lambda s: s.gw_cpu)),
            )
            add(
                f"{a.label}:  loop thread",
                "ms/order",
                ms(a.per_order(lambda s: s.gw_loop_cpu)),
                ms(b.per_order(lambda s: s.gw_loop_cpu)),
            )
            add(
                f"{a.label}:  other threads",
                "ms/order",
                ms(a.per_order(lambda s: s.gw_cpu - s.gw_loop_cpu)),
                ms(b.per_order(lambda s: s.gw_cpu - s.gw_loop_cpu)),
            )
            add(
                f"{a.label}: bench CPU (canary)",
                "ms/order",
                ms(a.per_order(lambda s: s.client_cpu)),
                ms(b.per_order(lambda s: s.client_cpu)),
            )
            add(
                f"{a.label}: gw ÷ bench CPU",
                "ratio",
                _cpu_ratio(a),
                _cpu_ratio(b),
            )
            add(
                f"{a.label}: read calls",
                "per order",
                a.per_order(lambda s: s.io.get("syscr", 0)),
                b.per_order(lambda s: s.io.get("syscr", 0)),
            )
            add(
                f"{a.label}: KiB written",
                "per order",
                a.per_order(lambda s: s.io.get("wchar", 0)) / 1024,
                b.per_order(lambda s: s.io.get("wchar", 0)) / 1024,
            )
            add(
                f"{a.label}: DB growth",
                "bytes/order",
                a.per_order(lambda s: s.store["bytes"]),
                b.per_order(lambda s: s.store["bytes"]),
            )
        _, _, small = r.e2e._snaps()
        _, _, large = r.after_e2e._snaps()
        self.emit(
            table(
                (
                    "measurement",
                    "unit",
                    f"store {small.store['orders']:,} orders",
                    f"store {large.store['orders']:,} orders",
                    "change",
                ),
                rows,
            )
        )
        same = [c for c in r.intake if c.batch == 1 and c.clients == r.e2e.clients]
        if same:
            x, y = same[0], r.e2e
            cpu_x, cpu_y = ms(x.per_order(lambda s: s.gw_cpu)), ms(y.per_order(lambda s: s.gw_cpu))
            self.emit(
                f"   for scale, the noise: before seeding, '{x.label}' and '{y.label}' (the same "
                f"load) differed by {_spread(x.intake_rate, y.intake_rate):.0f}% in intake "
                f"orders/s and {_spread(cpu_x, cpu_y):.0f}% in gw CPU/order."
            )
        main_size, wal_size = r.after_files
        self.emit(
            f"   store at the end: {large.store['orders']:,} orders, "
            f"{large.store['purchase_orders']:,} POs, {large.store['events']:,} events; "
            f"gateway.db {mib(main_size)}, -wal {mib(wal_size)}; gateway RSS "
            f"{large.rss_mib:.0f} MiB"
        )
        self.emit(
            "   'bench CPU' is this process's CPU per order (clients and simulators): constant "
            "work, so it\n   moves only with the machine's speed. 'gw ÷ bench CPU' is the "
            "gateway's cost with that taken out."
        )
        a, b = r.e2e, r.after_e2e
        cpu_a, cpu_b = ms(a.per_order(lambda s: s.gw_cpu)), ms(b.per_order(lambda s: s.gw_cpu))
        canary_a = ms(a.per_order(lambda s: s.client_cpu))
        canary_b = ms(b.per_order(lambda s: s.client_cpu))
        ratio_a, ratio_b = _cpu_ratio(a), _cpu_ratio(b)
        self.emit(
            f"=> with {large.store['orders'] / max(1, small.store['orders']):.1f}× the orders in "
            f"the store ({r.e2e.label}): gateway CPU per order {cpu_a:.2f} → {cpu_b:.2f} ms "
            f"({_change(cpu_a, cpu_b)}), machine canary {_change(canary_a, canary_b)}, "
            f"normalised {_change(ratio_a, ratio_b)}; e2e p50 "
            f"{ms(percentile(a.e2e, 50)):,.0f} → {ms(percentile(b.e2e, 50)):,.0f} ms."
        )

    def footer(self, r: Results) -> None:
        self.emit()
        code = r.exit_code
        steal, total = cpu_steal()
        steal_pct = (steal - self.steal_start[0]) / max(1.0, total - self.steal_start[1]) * 100
        load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
        self.emit(
            f"run took {time.perf_counter() - self.started:.0f} s; gateway stopped with "
            f"SIGTERM, exit code {code if code is not None else 'n/a (killed)'}; CPU stolen "
            f"by the hypervisor during the run {steal_pct:.1f}%; load average {load}"
        )


def _cpu_ratio(case: Case) -> float:
    """Gateway CPU over this process's CPU for the same orders: machine speed divided out."""
    bench = case.per_order(lambda s: s.client_cpu)
    return case.per_order(lambda s: s.gw_cpu) / bench if bench else float("nan")


def _change(a: float, b: float) -> str:
    return f"{(b - a) / a * 100:+.0f}%" if a else "n/a"


def _spread(a: float, b: float) -> float:
    """|a - b| as a percentage of their mean."""
    return abs(a - b) / ((a + b) / 2) * 100 if a + b else float("nan")


def _default_max_batch() -> int:
    default = inspect.signature(Database.__init__).parameters["max_batch"].default
    return int(default)


# -- profiling (optional) --------------------------------------------------------------------


@contextlib.contextmanager
def py_spy(pid: int, output: Path | None) -> Iterator[None]:
    """Sample the gateway with py-spy for the whole run, if asked (`--profile FILE`)."""
    if output is None:
        yield
        return
    binary = os.environ.get("PY_SPY") or shutil.which("py-spy")
    if not binary:
        raise BenchError("--profile needs py-spy on PATH (or PY_SPY=/path/to/py-spy)")
    process = subprocess.Popen(
        [
            *(binary, "record", "--pid", str(pid), "--rate", "250", "--nonblocking"),
            *("--threads", "--format", "raw", "--output", str(output)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


# -- entry point -----------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> int:
    plan = QUICK if args.quick else FULL
    if args.orders is not None:
        plan = Plan(**{**plan.__dict__, "e2e_orders": args.orders})
    if args.seed is not None:
        plan = Plan(**{**plan.__dict__, "seed_orders": args.seed})
    main_task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if main_task is not None:
        loop.add_signal_handler(signal.SIGTERM, main_task.cancel)

    workdir = Path(tempfile.mkdtemp(prefix="dropship-bench-", dir=args.workdir_parent))
    report = Report(plan, args.seed_mode, workdir)
    report.machine()
    bench = Bench(workdir, plan, args.synchronous)
    failed = True
    try:
        await bench.start()
        assert bench.gateway is not None
        with py_spy(bench.gateway.pid, args.profile):
            results = await bench.guarded(measure(bench, plan, args.seed_mode, report))
        results.exit_code = await bench.close()
        report.section_4(results)
        report.footer(results)
        if args.profile:
            report.emit(f"py-spy samples (raw, collapsed stacks): {args.profile}")
        failed = False
        return 0
    except BenchError as error:
        print(f"\nbenchmark failed: {error}", file=sys.stderr)
        if bench.gateway is not None:
            print(f"gateway log ends:\n{bench.gateway.log_tail()}", file=sys.stderr)
        return 1
    finally:
        with contextlib.suppress(Exception):
            await asyncio.shield(bench.close())
        if args.keep or (failed and args.keep_on_failure):
            print(f"work directory kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.intake", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="a ~30 s run with fewer orders")
    parser.add_argument("--orders", type=int, help="orders in the end-to-end run (N)")
    parser.add_argument("--seed", type=int, help="orders seeded before the growth section")
    parser.add_argument(
        "--seed-mode",
        choices=("held", "routed"),
        default="held",
        help="seeded orders are held (no supplier carries their SKU: the store grows in orders, "
        "events and outbox traffic but not in POs) or routed and dispatched like the others "
        "(realistic, about 3x the time) (default: held)",
    )
    parser.add_argument(
        "--synchronous",
        choices=("full", "normal"),
        help="set gateway.sqlite_synchronous (default: the gateway's own default)",
    )
    parser.add_argument("--profile", type=Path, help="record the gateway with py-spy to FILE")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, db)")
    parser.add_argument(
        "--keep-on-failure", action="store_true", help="keep the work directory if it fails"
    )
    parser.add_argument(
        "--workdir-parent", type=Path, help="where the temporary work directory goes"
    )
    args = parser.parse_args(argv)
    # The simulators log through structlog in this process: keep them quiet and cheap.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows
        return asyncio.run(run(args))
    try:
        result: int = uvloop.run(run(args))
    except KeyboardInterrupt:
        print("\ninterrupted (SIGINT); everything started was stopped", file=sys.stderr)
        return 130
    except asyncio.CancelledError:  # SIGTERM cancels the run
        print("\nterminated (SIGTERM); everything started was stopped", file=sys.stderr)
        return 143
    return result


if __name__ == "__main__":
    raise SystemExit(main())
