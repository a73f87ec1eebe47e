"""`python run.py demo`: the whole gateway on one box, with simulated suppliers and a simulated
shop feeding orders, and a terminal view of what flows.

The simulators are an ordinary plugin (`dropship_simulator`); the suppliers speak the real
`http_json` protocol over 127.0.0.1, and the feed goes to an embedded MQTT broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from gateway.app.event_loop import run_async
from gateway.app.plugins import load_configured_plugins
from gateway.app.runtime import DATABASE_FILE, Gateway
from gateway.domain.access import new_token, token_digest
from gateway.feed.publisher import broker_address
from gateway.infra.config import Config, ConfigError, load_config
from gateway.infra.logs import configure_logging
from gateway.store.db import Database
from gateway.store.tokens import insert_token

REFRESH_S = 2.0


def run_demo(duration_s: float | None, config_path: Path) -> int:
    try:
        config = load_config(config_path)
    except ConfigError as error:
        for problem in error.problems:
            sys.stderr.write(f"{problem.key_path()}: {problem.message}\n")
        return 2
    data_dir = Path(config.gateway.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    # Every demo starts from an empty store. Only our own files go: data_dir may be overridden
    # to a directory that holds other things.
    for name in (DATABASE_FILE, f"{DATABASE_FILE}-wal", f"{DATABASE_FILE}-shm"):
        (data_dir / name).unlink(missing_ok=True)
    log_path = data_dir / "gateway.log"
    with log_path.open("w", encoding="utf-8") as log_file:
        configure_logging(config.log.level, "json", log_file)
        return run_async(_demo(config, duration_s, log_path, sys.stdout))


async def _demo(config: Config, duration_s: float | None, log_path: Path, out: TextIO) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    plugins = load_configured_plugins(config)
    for info in plugins.errors:
        out.write(f"plugin {info.name}: {info.error}\n")
    admin_token = await first_run_admin_token(config)
    async with Gateway(config, plugins) as gateway:
        host, port, _ = broker_address(config.mqtt)
        prefix = config.mqtt.topic_prefix
        out.write(
            "\nDropship Gateway demo\n"
            f"  Dashboard  {gateway.http_url}/\n"
            f"  API        {gateway.http_url}/api/v1/orders\n"
            f"  Suppliers  {gateway.http_url}/api/v1/suppliers\n"
            f"  Metrics    {gateway.http_url}/metrics\n"
            f"  MQTT       mqtt://{host}:{port}   e.g. mosquitto_sub -h {host} -p {port} "
            f"-t '{prefix}/#' -v\n"
            f"  Logs       {log_path}\n"
            f"  Admin token  {admin_token}\n"
            f"             e.g. curl -H 'Authorization: Bearer {admin_token}' "
            f"{gateway.http_url}/api/v1/suppliers\n"
            "  Ctrl-C stops it.\n\n"
        )
        out.flush()
        started = time.monotonic()
        previous_total = 0
        previous_at = started
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(REFRESH_S):
                    await stop.wait()
            now = time.monotonic()
            total = await _print_flow(
                gateway, out, now - started, previous_total, now - previous_at
            )
            previous_total, previous_at = total, now
            if duration_s is not None and now - started >= duration_s:
                break
        out.write("\nstopping...\n")
    out.write("stopped.\n")
    return 0


async def first_run_admin_token(config: Config) -> str:
    """A fresh admin token for this run of the demo, stored hashed like any other (issue 9)."""
    token = new_token()
    database = Database(
        Path(config.gateway.data_dir) / DATABASE_FILE,
        synchronous=config.gateway.sqlite_synchronous,
    )
    async with database as db:
        await insert_token(
            db,
            name="demo-admin",
            role="admin",
            digest=token_digest(token),
            created_by="demo",
            now=datetime.now(UTC),
        )
    return token


async def _print_flow(
    gateway: Gateway, out: TextIO, elapsed: float, previous_total: int, interval: float
) -> int:
    db = gateway.db
    by_status = {
        r[0]: r[1] for r in await db.fetchall("SELECT status, count(*) FROM orders GROUP BY 1")
    }
    total: int = sum(by_status.values())
    rate = (total - previous_total) / interval if interval > 0 else 0.0
    po_rows = await db.fetchall(
        "SELECT supplier_id, status, count(*) FROM purchase_orders GROUP BY 1, 2"
    )
    pos: dict[str, dict[str, int]] = {}
    for supplier_id, status, count in po_rows:
        pos.setdefault(supplier_id, {})[status] = count
    statuses = "  ".join(f"{k} {v}" for k, v in sorted(by_status.items()))
    out.write(f"[{int(elapsed):>5}s] orders {total} ({rate:.1f}/s)  {statuses}\n")
    for supplier_id, health in gateway.healths.items():
        counts = pos.get(supplier_id, {})
        snap = health.snapshot()
        p95 = f"{snap['latency_p95_ms']:.0f}ms" if snap["latency_p95_ms"] is not None else "-"
        out.write(
            f"         {supplier_id:<14} {snap['state']:<8} circuit {snap['circuit']:<9}"
            f" accepted {counts.get('accepted', 0):>5}  shipped {counts.get('shipped', 0):>5}"
            f"  rejected {counts.get('rejected', 0) + counts.get('failed', 0):>3}"
            f"  in flight {snap['in_flight']:>2}  p95 {p95:>6}  errors {snap['error_rate']:.0%}\n"
        )
    holds = await db.fetchall(
        "SELECT hold_reason, count(*) FROM orders WHERE status = 'on_hold' GROUP BY 1"
    )
    if holds:
        out.write("         exceptions: " + ", ".join(f"{r[0]} {r[1]}" for r in holds) + "\n")
    out.flush()
    return total
