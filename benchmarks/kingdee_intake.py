"""How fast the ``kingdee`` channel takes approved sales orders in from K3Cloud.

    .venv/bin/python -m benchmarks.kingdee_intake                 # 20,000 orders, 3 page sizes
    .venv/bin/python -m benchmarks.kingdee_intake --orders 5000   # quicker

A simulated K3Cloud with N approved sales orders (1 to 3 lines each) runs in this process; the
gateway runs as its own process (`run.py serve`) against a private Mosquitto, with no supplier
(every order waits on hold: this measures intake, not dispatch). For each page size it prints
the time from start to the last order taken in, orders a second, ExecuteBillQuery calls, rows
read, and the gateway's CPU seconds. It asserts nothing about speed; it fails only when an
order is missing or taken twice.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import tomli_w

from tests.harness import GatewayProcess, Mosquitto
from tests.kingdee_fixtures import RECEIVER, channel_options, simulator


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def count_orders(url: str, channel: str) -> int:
    seen: set[str] = set()
    cursor = None
    async with aiohttp.ClientSession() as http:
        while True:
            query = f"{url}/api/v1/orders?channel={channel}&limit=500"
            async with http.get(query + (f"&cursor={cursor}" if cursor else "")) as response:
                page = await response.json()
            for order in page["orders"]:
                if order["external_id"] in seen:
                    raise RuntimeError(f"{order['external_id']} taken twice")
                seen.add(order["external_id"])
            cursor = page.get("next_cursor")
            if not cursor:
                return len(seen)


async def one_run(orders: int, page_size: int, workdir: Path) -> dict[str, Any]:
    rng = random.Random(7)
    skus = ["TEA-001", "CUP-002", "PAN-003", "RICE-004"]
    async with simulator() as erp:
        last = ""
        for _ in range(orders):
            lines = [
                (sku, float(rng.randint(1, 3)), 19.9) for sku in rng.sample(skus, rng.randint(1, 3))
            ]
            last = erp.create_sales_order(customer="C", lines=lines, fields=RECEIVER).number
        broker = Mosquitto(workdir)
        broker.start()
        try:
            config = {
                "gateway": {"data_dir": str(workdir / "var")},
                "http": {"host": "127.0.0.1", "port": 0},
                "mqtt": {"url": broker.url},
                "log": {"level": "info", "format": "json"},
                "channels": [
                    {
                        "id": "erp",
                        "adapter": "kingdee",
                        "options": channel_options(erp, page_size=page_size),
                    }
                ],
            }
            path = workdir / "gateway.toml"
            path.write_text(tomli_w.dumps(config))
            gateway = GatewayProcess(path, workdir)
            started = time.perf_counter()
            await gateway.start()
            assert gateway.process is not None
            assert gateway.watcher is not None
            pid = gateway.process.pid

            def done(line: str) -> bool:
                return '"kingdee.orders_taken"' in line and json.loads(line).get("last") == last

            await asyncio.to_thread(gateway.watcher.wait_for, done, 600)
            elapsed = time.perf_counter() - started
            cpu = cpu_seconds(pid)
            taken = await count_orders(gateway.url, "erp")
            gateway.terminate()
        finally:
            broker.stop()
        if taken != orders:
            raise RuntimeError(f"{taken} of {orders} orders taken in")
        return {
            "page rows": page_size,
            "orders": orders,
            "rows": erp.rows_served,
            "queries": erp.calls["ExecuteBillQuery"],
            "seconds": round(elapsed, 1),
            "orders/s": round(orders / elapsed),
            "gateway CPU s": round(cpu, 1),
            "CPU ms/order": round(cpu * 1000 / orders, 2),
        }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--page-sizes", default="500,2000,10000")
    args = parser.parse_args()
    results = []
    for size in (int(s) for s in args.page_sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="kingdee-bench-") as tmp:
            results.append(await one_run(args.orders, size, Path(tmp)))
    headers = list(results[0])
    print(" | ".join(headers))
    for row in results:
        print(" | ".join(str(row[h]) for h in headers))


if __name__ == "__main__":
    asyncio.run(main())
