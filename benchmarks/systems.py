"""The two systems under test, started and observed alike: the gateway exactly as users run it
(`python run.py serve --config FILE`) and the floor pipeline (benchmarks/floor.py).

Both take orders on `POST /api/v1/orders`, call the same suppliers and publish to the same
broker. A snapshot reads what each costs from outside: CPU from /proc, and for the gateway its
/metrics and its SQLite file (read-only; WAL lets another process read freely).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import tomli_w

from benchmarks import machine
from benchmarks.load import SKUS
from benchmarks.processes import BenchError, Child, gateway_command, python_module

GATEWAY_PREFIX = "dropship"
FLOOR_PREFIX = "floor"


@dataclass(frozen=True)
class Snapshot:
    at: float
    cpu_s: float
    peak_rss_mib: float
    db_bytes: int
    metrics: dict[str, float] = field(default_factory=dict)


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text → {name: value summed over its labels}."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        try:
            number = float(value)
        except ValueError:
            continue
        name = key.split("{", 1)[0]
        values[name] = values.get(name, 0.0) + number
    return values


def db_bytes(path: Path) -> int:
    """Bytes the database holds (pages in use, WAL content included as SQLite sees it)."""
    if not path.exists():
        return 0
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
        free = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
        return (pages - free) * page_size
    finally:
        conn.close()


class Gateway:
    name = "gateway"

    def __init__(
        self,
        workdir: Path,
        broker_url: str,
        suppliers: dict[str, str],
        synchronous: str,
        label: str = "gateway",
    ) -> None:
        self.workdir = workdir
        self.data_dir = workdir / "var"
        self.db_path = self.data_dir / "gateway.db"
        self.config_path = workdir / "gateway.toml"
        self.broker_url = broker_url
        self.suppliers = suppliers
        self.synchronous = synchronous
        self.label = label
        self.child: Child | None = None
        self.base_url = ""
        self.http: aiohttp.ClientSession | None = None
        self.start_s = 0.0

    @property
    def url(self) -> str:
        return f"{self.base_url}/api/v1/orders"

    @property
    def pid(self) -> int:
        assert self.child is not None
        return self.child.pid

    def config(self) -> dict[str, Any]:
        stock = 1_000_000_000
        return {
            "gateway": {
                "data_dir": str(self.data_dir),
                "sqlite_synchronous": self.synchronous,
                "shutdown_grace_s": 5,
            },
            # 256 load clients, /metrics and the open loop's extra connections: above the default.
            "http": {"host": "127.0.0.1", "port": 0, "max_connections": 2048},
            "mqtt": {
                "url": self.broker_url,
                "topic_prefix": GATEWAY_PREFIX,
                "client_id": f"bench-{self.label}",
            },
            "log": {"level": "info", "format": "json"},
            "suppliers": [
                {"id": s, "name": f"Supplier {s[-1].upper()}", "url": url, "regions": ["*"]}
                for s, url in self.suppliers.items()
            ],
            "catalog": [
                {"sku": sku, "supplier": s, "cost": "10.00", "stock": stock}
                for sku, s in SKUS.items()
            ],
            "routing": {"strategy": "cost", "split": "allow"},
        }

    async def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(tomli_w.dumps(self.config()), encoding="utf-8")
        self.child = Child(
            self.label, gateway_command(self.config_path), self.workdir, "gateway.started"
        )
        began = time.perf_counter()
        line = await asyncio.to_thread(self.child.start)
        self.start_s = time.perf_counter() - began
        self.base_url = str(line["http"])
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))

    async def stop(self) -> int | None:
        if self.http is not None:
            await self.http.close()
            self.http = None
        if self.child is None:
            return None
        return await asyncio.to_thread(self.child.stop)

    async def metrics(self) -> dict[str, float]:
        assert self.http is not None
        async with self.http.get(f"{self.base_url}/metrics") as response:
            if response.status != 200:
                raise BenchError(f"GET /metrics answered {response.status}")
            return parse_metrics(await response.text())

    async def snapshot(self) -> Snapshot:
        metrics = await self.metrics()
        return Snapshot(
            at=time.perf_counter(),
            cpu_s=machine.process_cpu(self.pid),
            peak_rss_mib=machine.memory_mib(self.pid),
            db_bytes=await asyncio.to_thread(db_bytes, self.db_path),
            metrics=metrics,
        )

    async def at_rest(self, timeout: float = 120) -> None:  # noqa: ASYNC109
        """Wait until the gateway has nothing left to do for the orders it took: each routed,
        each PO answered, the feed published up to the head of the log. That state lives in
        another process with no event to wait on, so it is polled (the interval only paces)."""
        deadline = time.monotonic() + timeout
        last: tuple[int, int, int] = (0, 0, 0)
        while time.monotonic() < deadline:
            last = await asyncio.to_thread(_unfinished, self.db_path)
            if last == (0, 0, 0):
                return
            await asyncio.sleep(0.05)
        raise BenchError(
            f"the gateway did not come to rest in {timeout:.0f} s: (orders not routed, POs "
            f"unanswered, events not published) = {last}"
        )


def _unfinished(path: Path) -> tuple[int, int, int]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM orders WHERE status = 'received'),"
            " (SELECT count(*) FROM purchase_orders WHERE status IN ('pending', 'sent')),"
            " (SELECT coalesce(max(seq), 0) FROM events)"
            "  - coalesce((SELECT seq FROM feed_positions WHERE consumer = 'mqtt'), 0)"
        ).fetchone()
        return int(row[0]), int(row[1]), int(row[2])
    finally:
        conn.close()


class Floor:
    name = "floor"

    def __init__(
        self, workdir: Path, broker_port: int, suppliers: dict[str, str], synchronous: str
    ) -> None:
        self.workdir = workdir
        self.db_path = workdir / "floor" / "floor.db"
        self.broker_port = broker_port
        self.suppliers = suppliers
        self.synchronous = synchronous
        self.child: Child | None = None
        self.base_url = ""

    @property
    def url(self) -> str:
        return f"{self.base_url}/api/v1/orders"

    @property
    def pid(self) -> int:
        assert self.child is not None
        return self.child.pid

    async def start(self) -> None:
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        routes = {sku: [s, self.suppliers[s]] for sku, s in SKUS.items()}
        argv = python_module(
            "benchmarks.floor",
            *("--db", str(self.db_path), "--mqtt", f"127.0.0.1:{self.broker_port}"),
            *("--prefix", FLOOR_PREFIX, "--synchronous", self.synchronous),
            *("--route", msgspec.json.encode(routes).decode()),
        )
        self.child = Child("floor", argv, self.workdir, "floor.started")
        line = await asyncio.to_thread(self.child.start)
        self.base_url = str(line["http"])

    async def stop(self) -> int | None:
        if self.child is None:
            return None
        return await asyncio.to_thread(self.child.stop)

    async def snapshot(self) -> Snapshot:
        return Snapshot(
            at=time.perf_counter(),
            cpu_s=machine.process_cpu(self.pid),
            peak_rss_mib=machine.memory_mib(self.pid),
            db_bytes=await asyncio.to_thread(db_bytes, self.db_path),
        )

    async def at_rest(self, timeout: float = 120) -> None:  # noqa: ASYNC109
        """The floor keeps nothing to do once its orders completed."""


System = Gateway | Floor
