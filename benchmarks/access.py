"""What access control and the audit log cost a request (issue 9).

    .venv/bin/python -m benchmarks.access            # about a minute
    .venv/bin/python -m benchmarks.access --quick    # about 20 seconds

1. The middleware alone, in this process: identifying a bearer token (SHA-256 and a lookup),
   checking the role, and handing the audit entry over, for a handler that does nothing.
2. The audit writer: entries written to a real SQLite file (synchronous = full) the way the
   gateway writes them, in batches riding on a group commit.
3. Intake end to end, in-process gateway against a private Mosquitto, single orders from
   several clients: the audit log on, then the audit log's writes turned off (entries dropped
   instead of stored), alternated to spread the machine's noise over both.

It prints figures and asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import tomli_w
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from gateway.actors.audit_log import AuditLog
from gateway.api.access import ACCESS, AccessControl, access_middleware
from gateway.app.plugins import load_plugins
from gateway.app.runtime import Gateway
from gateway.infra.clock import SystemClock
from gateway.infra.config import load_config
from gateway.infra.logs import configure_logging
from gateway.store.audit import AuditEntry, append_entries
from gateway.store.db import Database
from tests.harness import Mosquitto, order_json

TOKEN = "benchmark-operator-token-0123456789"


def write_config(directory: Path, broker_url: str | None = None) -> Path:
    config: dict[str, Any] = {
        "gateway": {"data_dir": str(directory / "var")},
        "http": {"host": "127.0.0.1", "port": 0},
        "auth": {"tokens": [{"name": "bench", "role": "operator", "token": TOKEN}]},
        "limits": {"intake_rate_per_s": 0},
        "log": {"level": "warning", "format": "json"},
    }
    if broker_url:
        config["mqtt"] = {"url": broker_url}
    path = directory / "gateway.toml"
    path.write_text(tomli_w.dumps(config), encoding="utf-8")
    return path


async def middleware_alone(directory: Path, requests: int) -> None:
    config = load_config(write_config(directory))
    async with Database(directory / "mw.db") as db:
        audit = AuditLog(db)
        control = AccessControl(config, db, SystemClock(), audit)
        await control.prepare()
        app = web.Application()
        app[ACCESS] = control

        async def handler(_: web.Request) -> web.Response:
            return web.Response(status=202)

        app.router.add_post("/api/v1/orders", handler)
        app.router.add_get("/api/v1/orders", handler)
        headers = {"Authorization": f"Bearer {TOKEN}"}

        async def one(method: str) -> web.Request:
            request = make_mocked_request(method, "/api/v1/orders", headers=headers, app=app)
            match = await app.router.resolve(request)
            match.add_app(app)
            request._match_info = match
            return request

        for method, label in (("GET", "read (no audit entry)"), ("POST", "change (audited)")):
            prepared = [await one(method) for _ in range(requests)]
            started = time.perf_counter()
            for request in prepared:
                await access_middleware(request, handler)
            per = (time.perf_counter() - started) / requests
            print(f"  middleware, {label:<24} {per * 1e6:7.1f} µs a request")
        audit._pending.clear()


async def audit_writer(directory: Path, entries: int, batch: int) -> None:
    async with Database(directory / "audit.db") as db:  # makes the directory
        entry = AuditEntry(
            at=datetime.now(UTC),
            actor="bench",
            role="operator",
            via="bearer",
            action="POST /api/v1/orders",
            status=202,
            remote="127.0.0.1",
        )
        started = time.perf_counter()
        await asyncio.gather(
            *(append_entries(db, [entry] * batch) for _ in range(entries // batch))
        )
        elapsed = time.perf_counter() - started
        size = (directory / "audit.db").stat().st_size + (directory / "audit.db-wal").stat().st_size
    print(
        f"  audit writer, batches of {batch:<4}       {elapsed / entries * 1e6:7.1f} µs an entry"
        f" ({entries} entries, {db.commits} commits, ~{size / entries:.0f} bytes each)"
    )


async def intake(gateway: Gateway, clients: int, seconds: float, tag: str) -> tuple[float, float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    headers = {"Authorization": f"Bearer {TOKEN}"}
    counter = iter(range(10**9))

    async def client(session: aiohttp.ClientSession) -> None:
        while time.perf_counter() < deadline:
            order = order_json(f"SO-{tag}-{next(counter)}", [("SKU-1", 1)])
            started = time.perf_counter()
            async with session.post(
                f"{gateway.http_url}/api/v1/orders", json=order, headers=headers
            ) as response:
                assert response.status == 202, await response.text()
            latencies.append(time.perf_counter() - started)

    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, statistics.median(latencies)


async def end_to_end(directory: Path, rounds: int, seconds: float, clients: int) -> None:
    broker_dir = directory / "mosquitto"
    broker_dir.mkdir()
    broker = Mosquitto(broker_dir)
    broker.start()
    try:
        config = load_config(write_config(directory, broker.url))
        gateway = Gateway(config, load_plugins(config.gateway.plugin_modules))
        await gateway.start()
        try:
            record = gateway.audit.record
            results: dict[str, list[tuple[float, float]]] = {"on": [], "off": []}
            await intake(gateway, clients, 1.0, "warm")
            for index in range(rounds):
                for mode in ("on", "off") if index % 2 == 0 else ("off", "on"):
                    gateway.audit.record = record if mode == "on" else (lambda _entry: None)  # type: ignore[method-assign]
                    results[mode].append(await intake(gateway, clients, seconds, f"{mode}{index}"))
            gateway.audit.record = record  # type: ignore[method-assign]
            await gateway.audit.flush()
            written = gateway.audit.written
        finally:
            await gateway.stop()
    finally:
        broker.stop()
    for mode, label in (("on", "audit log on "), ("off", "audit log off")):
        rates = [r for r, _ in results[mode]]
        p50s = [p for _, p in results[mode]]
        print(
            f"  intake, {clients} clients, {label}   {statistics.median(rates):6.0f} orders/s"
            f" (rounds: {', '.join(f'{r:.0f}' for r in rates)}),"
            f" 202 p50 {statistics.median(p50s) * 1e3:.1f} ms"
        )
    print(f"  ({written} audit entries written by the gateway)")


async def main(quick: bool) -> None:
    with tempfile.TemporaryDirectory() as raw:
        directory = Path(raw)
        print("1. access middleware, in process")
        await middleware_alone(directory, 5_000 if quick else 20_000)
        print("2. audit writer, SQLite synchronous = full")
        for batch in (1, 16, 64):
            await audit_writer(directory / f"b{batch}", 2_000 if quick else 10_000, batch)
        print("3. intake end to end (in-process gateway, single orders)")
        await end_to_end(directory, rounds=2 if quick else 4, seconds=3 if quick else 6, clients=8)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    quick = parser.parse_args().quick
    with open(os.devnull, "w") as nowhere:
        configure_logging("warning", "json", nowhere)
        asyncio.run(main(quick))
