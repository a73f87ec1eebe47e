"""The benchmark's stage: the broker, the suppliers, the floor and the gateway, and one measured
round of load against one of them.

A round sends its orders, waits until every one completed (the subscriber saw its supplier
accept it), then until the system is at rest (the gateway's feed caught up), and reads the
system's costs before and after. Completion is event-driven; rest is polled (another process's
database has no event to wait on).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from benchmarks import machine
from benchmarks.load import Completions, Load, closed_loop, open_loop
from benchmarks.processes import BenchError, Child, python_module
from benchmarks.systems import FLOOR_PREFIX, GATEWAY_PREFIX, Floor, Gateway, Snapshot, System
from tests.harness import Mosquitto

SUPPLIER_LATENCY_MS = 2.0


@dataclass(frozen=True)
class Plan:
    name: str
    orders: int = 5_000  # per round of case 1
    clients: int = 64
    rounds: int = 3  # floor, gateway, floor, gateway, ...: the median ratio is reported
    warmup: int = 300
    latency_rate: float = 300.0
    latency_s: float = 10.0  # per round
    latency_rounds: int = 3  # gateway, floor, gateway, ...: p99 over all rounds
    flood_orders: int = 50_000
    flood_clients: int = 256
    grown_orders: int = 1_000_000
    write_groups: int = 150
    write_rounds: int = 3


FULL = Plan("full")
QUICK = Plan(
    "quick",
    orders=1_500,
    rounds=1,
    warmup=150,
    latency_s=5.0,
    latency_rounds=1,
    flood_orders=10_000,
    grown_orders=100_000,
    write_groups=40,
    write_rounds=1,
)


@dataclass(frozen=True)
class Round:
    system: str
    load: Load
    completed_at: float
    before: Snapshot
    after: Snapshot
    usage: machine.Usage
    load_average: str
    bench_cpus: float  # this process (the clients and the subscriber), in CPUs
    log_lines: int
    supplier_posts: int

    @property
    def orders(self) -> int:
        return self.load.orders

    @property
    def completed_rate(self) -> float:
        return self.orders / (self.completed_at - self.load.started)

    @property
    def accepted_rate(self) -> float:
        return self.load.accepted_rate

    def metric(self, name: str) -> float:
        return self.after.metrics.get(name, 0.0) - self.before.metrics.get(name, 0.0)

    def per_order(self, value: float) -> float:
        return value / self.orders

    @property
    def cpu_ms_per_order(self) -> float:
        return (self.after.cpu_s - self.before.cpu_s) / self.orders * 1000


class Bench:
    def __init__(self, workdir: Path, plan: Plan, synchronous: str) -> None:
        self.workdir = workdir
        self.plan = plan
        self.synchronous = synchronous
        self.broker: Mosquitto | None = None
        self.suppliers: Child | None = None
        self.supplier_urls: dict[str, str] = {}
        self.completions: Completions | None = None
        self.floor: Floor | None = None
        self.gateway: Gateway | None = None  # the one the cases measure
        self.others: list[Gateway] = []  # gateways running beside it (case 5's empty store)
        self.http: aiohttp.ClientSession | None = None

    # -- parts -----------------------------------------------------------------------------------

    async def start(self) -> None:
        (self.workdir / "mosquitto").mkdir()
        self.broker = Mosquitto(self.workdir / "mosquitto")
        await asyncio.to_thread(self.broker.start)
        argv = python_module(
            "benchmarks.suppliers", "--ids", "sup-a,sup-b,sup-c", "--latency-ms", "2"
        )
        self.suppliers = Child("suppliers", argv, self.workdir, "suppliers.started")
        line = await asyncio.to_thread(self.suppliers.start)
        self.supplier_urls = {k: str(v) for k, v in line["urls"].items()}
        self.completions = Completions(self.broker.port, GATEWAY_PREFIX, FLOOR_PREFIX)
        await self.completions.start()
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        self.floor = Floor(self.workdir, self.broker.port, self.supplier_urls, self.synchronous)
        await self.floor.start()

    async def start_gateway(self, label: str, *, beside: bool = False) -> Gateway:
        """A gateway of its own in `workdir/label`: the one the cases measure, or (`beside`)
        one more, running beside it, whose rounds interleave with its."""
        assert self.broker is not None
        workdir = self.workdir / label
        workdir.mkdir(exist_ok=True)
        gateway = Gateway(workdir, self.broker.url, self.supplier_urls, self.synchronous, label)
        if beside:
            self.others.append(gateway)
        else:
            self.gateway = gateway
        await gateway.start()
        return gateway

    async def stop_gateway(self) -> int | None:
        gateway, self.gateway = self.gateway, None
        return None if gateway is None else await gateway.stop()

    async def stop_others(self) -> None:
        others, self.others = self.others, []
        for gateway in others:
            await gateway.stop()

    async def close(self) -> None:
        """Take everything down, whatever state it is in (safe to call twice)."""
        with contextlib.suppress(Exception):
            await self.stop_gateway()
        with contextlib.suppress(Exception):
            await self.stop_others()
        floor, self.floor = self.floor, None
        if floor is not None:
            with contextlib.suppress(Exception):
                await floor.stop()
        completions, self.completions = self.completions, None
        if completions is not None:
            await completions.stop()
        http, self.http = self.http, None
        if http is not None:
            await http.close()
        suppliers, self.suppliers = self.suppliers, None
        if suppliers is not None:
            await asyncio.to_thread(suppliers.stop)
        broker, self.broker = self.broker, None
        if broker is not None:
            await asyncio.to_thread(broker.stop)

    def our_pids(self) -> list[int]:
        pids = [os.getpid(), *machine.children_named("mosquitto")]
        children = [self.suppliers, self.floor.child if self.floor else None]
        for child in children:
            if child is not None and child.process is not None:
                pids.append(child.pid)
        for gateway in (self.gateway, *self.others):
            if gateway is not None and gateway.child is not None:
                pids.append(gateway.pid)
        return pids

    def our_cpu(self) -> float:
        return sum(c for c in map(machine.process_cpu, self.our_pids()) if c == c)  # no NaN

    async def supplier_posts(self) -> int:
        assert self.http is not None
        total = 0
        for url in self.supplier_urls.values():
            async with self.http.get(f"{url}/stats") as response:
                total += int((await response.json())["received"])
        return total

    # -- a round ---------------------------------------------------------------------------------

    async def round(
        self,
        system: System,
        bodies: list[bytes],
        label: str,
        clients: int | None = None,
        rate: float | None = None,
    ) -> Round:
        """Send `bodies` to `system` (closed loop with `clients`, or open loop at `rate`),
        wait for every order to complete and the system to rest; what it cost."""
        assert self.completions is not None
        assert system.child is not None
        load_average = machine.load_average()
        cpu_before, ours_before = machine.CpuTimes.now(), self.our_cpu()
        bench_before = machine.process_cpu(os.getpid())
        before = await system.snapshot()
        log_before = system.child.log_lines
        posts_before = await self.supplier_posts()
        if rate is not None:
            load = await open_loop(system.url, bodies, rate, label)
        else:
            load = await closed_loop(system.url, bodies, clients or self.plan.clients, label)
        completed_at = await self.completions.wait_for(load.order_ids, stall_s=60)
        wall = time.perf_counter() - load.started
        ours = self.our_cpu() - ours_before
        usage = machine.usage(cpu_before, machine.CpuTimes.now(), ours, wall)
        bench_cpus = (machine.process_cpu(os.getpid()) - bench_before) / wall
        await system.at_rest()
        after = await system.snapshot()
        if not system.child.running:
            raise BenchError(
                f"{system.name} exited during the round; its log ends:\n{system.child.log_tail()}"
            )
        return Round(
            system=system.name,
            load=load,
            completed_at=completed_at,
            before=before,
            after=after,
            usage=usage,
            load_average=load_average,
            bench_cpus=bench_cpus,
            log_lines=system.child.log_lines - log_before,
            supplier_posts=await self.supplier_posts() - posts_before,
        )
