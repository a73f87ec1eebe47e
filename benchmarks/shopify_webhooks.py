"""How fast the Shopify channel answers webhooks: Shopify waits 5 seconds at most, and the
channel answers only after the order is stored.

    .venv/bin/python -m benchmarks.shopify_webhooks              # 2,000 orders, 8 clients
    .venv/bin/python -m benchmarks.shopify_webhooks --orders 300 --clients 4

The gateway runs as its own process (`run.py serve`) with the `shopify` channel, an embedded
MQTT broker and one simulated supplier; the Shopify stand-in makes the orders, and this script
posts their signed `orders/create` webhooks with C clients at once, timing each answer. Then it
posts every webhook again: the answer to a delivery Shopify repeats. It prints figures and
asserts nothing about speed; it fails only when an answer is not 200.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import tomli_w

from dropship_simulator.shopify_shop import ShopifyShop, Webhook
from dropship_simulator.supplier_server import SupplierSimulator

ROOT = Path(__file__).resolve().parent.parent
ADDRESS = {
    "first_name": "三",
    "last_name": "张",
    "address1": "文三路 100 号",
    "city": "杭州市",
    "province": "Zhejiang",
    "province_code": "ZJ",
    "country_code": "CN",
    "zip": "310000",
    "phone": "+86 138 1234 5678",
}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Gateway:
    def __init__(self, config: Path, workdir: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "run.py"), "serve", "--config", str(config)],
            cwd=workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: list[str] = []
        self._seen = threading.Condition()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._seen:
                self.lines.append(line)
                self._seen.notify_all()

    def wait_for(self, event: str, timeout: float = 60) -> dict[str, Any]:
        with self._seen:
            found = self._seen.wait_for(
                lambda: any(f'"{event}"' in line for line in self.lines), timeout
            )
            if not found:
                raise TimeoutError(f"no {event} in the gateway's log:\n{''.join(self.lines[-20:])}")
            line = next(line for line in self.lines if f'"{event}"' in line)
        result: dict[str, Any] = json.loads(line)
        return result

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def post_all(
    shop: ShopifyShop, url: str, webhooks: list[Webhook], clients: int
) -> tuple[list[float], float]:
    queue: asyncio.Queue[Webhook] = asyncio.Queue()
    for webhook in webhooks:
        queue.put_nowait(webhook)
    latencies: list[float] = []

    async def client(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            webhook = queue.get_nowait()
            headers = webhook.headers(shop.state.shop_domain, shop.api_version)
            started = time.perf_counter()
            async with session.post(url, data=webhook.body, headers=headers) as answer:
                await answer.read()
                if answer.status != 200:
                    raise RuntimeError(f"webhook answered {answer.status}")
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        await asyncio.gather(*(client(session) for _ in range(clients)))
    return latencies, time.perf_counter() - started


def report(what: str, latencies: list[float], elapsed: float) -> None:
    ms = [v * 1000 for v in latencies]
    print(
        f"{what:<28} {len(ms) / elapsed:7.0f}/s   p50 {percentile(ms, 50):6.1f} ms   "
        f"p90 {percentile(ms, 90):6.1f} ms   p99 {percentile(ms, 99):6.1f} ms   "
        f"max {max(ms):6.1f} ms"
    )


async def main(orders: int, clients: int) -> None:
    token, secret = "bench-token", "bench-secret"
    async with (
        SupplierSimulator("sup-a", seed=1) as supplier,
        ShopifyShop(access_token=token, api_secret=secret) as shop,
    ):
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            config = {
                "gateway": {"data_dir": str(workdir / "var")},
                "http": {"host": "127.0.0.1", "port": 0},
                "mqtt": {"url": "embedded", "embedded_listen": f"127.0.0.1:{free_port()}"},
                "log": {"level": "info", "format": "json"},
                "suppliers": [{"id": "sup-a", "name": "A", "url": supplier.url, "regions": ["*"]}],
                "catalog": [{"sku": "A-1", "supplier": "sup-a", "cost": "1.00", "stock": 10**7}],
                "channels": [
                    {
                        "id": "shopify",
                        "adapter": "shopify",
                        "options": {
                            "shop_url": shop.url,
                            "access_token": token,
                            "api_secret": secret,
                            "listen": "127.0.0.1:0",
                            "reconcile_every_s": 3600,
                        },
                    }
                ],
            }
            path = workdir / "gateway.toml"
            path.write_text(tomli_w.dumps(config), encoding="utf-8")
            gateway = Gateway(path, workdir)
            try:
                gateway.wait_for("gateway.started")
                url = gateway.wait_for("shopify.listening")["url"]
                shop.subscriptions = [("orders/create", url)]
                shop.lose_webhooks = True  # made here, posted by this script with timing
                for _ in range(orders):
                    shop.create_order([{"sku": "A-1", "quantity": 1, "price": "9.90"}], ADDRESS)
                webhooks = [w for w in shop.webhooks if w.topic == "orders/create"]
                print(f"{orders} orders/create webhooks, {clients} clients at once")
                report("new orders (stored, 200)", *await post_all(shop, url, webhooks, clients))
                report("repeated deliveries", *await post_all(shop, url, webhooks, clients))
            finally:
                gateway.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.orders, arguments.clients))
