"""The floor: a pipeline doing only the unavoidable I/O of the gateway's work, as its own process.

    python -m benchmarks.floor --db FILE --mqtt HOST:PORT --prefix floor \
        --route '{"SKU-A": ["sup-a", "http://..."], ...}' --synchronous full

For each order: aiohttp intake reads the body and decodes the JSON; the order is committed to
SQLite (WAL, the same `synchronous` as the gateway) by a writer thread that commits whatever
is waiting as one group; the client gets 202 after the commit; then the purchase order is
POSTed to the supplier of the order's SKU (at most `--max-in-flight` at once per supplier, the
gateway's default) and one retained MQTT QoS 1 message per order says the supplier accepted it.

Nothing else: no validation, no routing rules, no status changes stored, no events, no retries.
What the gateway does beyond this is what the ratio gateway/floor prices.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import secrets
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import msgspec
import uvloop
from aiohttp import web

JSON = {"Content-Type": "application/json"}
_encoder = msgspec.json.Encoder()
_any = msgspec.json.Decoder()


class _Answer(msgspec.Struct):
    supplier_ref: str


_answer = msgspec.json.Decoder(_Answer)


class GroupWriter:
    """Commits orders in groups on a thread of its own: one commit for all that wait."""

    def __init__(self, path: Path, synchronous: str) -> None:
        self._thread = concurrent.futures.ThreadPoolExecutor(1, "floor-writer")
        self._conn = self._thread.submit(self._connect, path, synchronous).result()
        self._queue: list[tuple[tuple[str, str, bytes], asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self.commits = 0

    @staticmethod
    def _connect(path: Path, synchronous: str) -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS orders (seq INTEGER PRIMARY KEY, order_id TEXT NOT NULL"
            " UNIQUE, external_id TEXT NOT NULL, doc BLOB NOT NULL)"
        )
        return conn

    async def store(self, order_id: str, external_id: str, body: bytes) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(((order_id, external_id, body), future))
        self._wake.set()
        await future

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            group, self._queue = self._queue, []
            await loop.run_in_executor(self._thread, self._commit, [row for row, _ in group])
            self.commits += 1
            for _, future in group:
                if not future.done():
                    future.set_result(None)

    def _commit(self, rows: list[tuple[str, str, bytes]]) -> None:
        self._conn.execute("BEGIN IMMEDIATE")
        self._conn.executemany(
            "INSERT INTO orders (order_id, external_id, doc) VALUES (?, ?, ?)", rows
        )
        self._conn.execute("COMMIT")


class Floor:
    def __init__(
        self,
        writer: GroupWriter,
        mqtt: aiomqtt.Client,
        prefix: str,
        routes: dict[str, tuple[str, str]],
        max_in_flight: int,
    ) -> None:
        self.writer = writer
        self.mqtt = mqtt
        self.prefix = prefix
        self.routes = routes  # sku -> (supplier id, base URL)
        self.slots = {s: asyncio.Semaphore(max_in_flight) for s, _ in routes.values()}
        self.http = aiohttp.ClientSession()
        self.tasks: set[asyncio.Task[None]] = set()
        self.failures = 0

    async def intake(self, request: web.Request) -> web.Response:
        body = await request.read()
        order = _any.decode(body)
        order_id = f"ord_{secrets.token_hex(8)}"
        await self.writer.store(order_id, order["external_id"], body)
        task = asyncio.create_task(self.dispatch(order_id, order))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        answer = {
            "accepted": [
                {"order_id": order_id, "external_id": order["external_id"], "duplicate": False}
            ],
            "rejected": [],
        }
        return web.Response(status=202, body=_encoder.encode(answer), headers=JSON)

    async def dispatch(self, order_id: str, order: dict[str, Any]) -> None:
        supplier_id, url = self.routes[order["lines"][0]["sku"]]
        po_id = f"po_{order_id[4:]}-1"
        po = {
            "po_id": po_id,
            "order_external_id": order["external_id"],
            "created_at": order["created_at"],
            "priority": order.get("priority", "normal"),
            "ship_to": order["ship_to"],
            "lines": [
                {"sku": ln["sku"], "quantity": ln["quantity"], "unit_cost": ln["unit_price"]}
                for ln in order["lines"]
            ],
        }
        headers = {**JSON, "Idempotency-Key": po_id}
        try:
            async with (
                self.slots[supplier_id],
                self.http.post(
                    f"{url}/purchase-orders", data=_encoder.encode(po), headers=headers
                ) as response,
            ):
                raw = await response.read()
                if response.status not in (200, 201):
                    raise RuntimeError(f"supplier answered {response.status}")
            ref = _answer.decode(raw).supplier_ref
            status = {
                "order_id": order_id,
                "external_id": order["external_id"],
                "status": "accepted",
                "purchase_orders": [
                    {"po_id": po_id, "supplier_id": supplier_id, "supplier_ref": ref}
                ],
            }
            topic = f"{self.prefix}/orders/{order_id}/status"
            await self.mqtt.publish(topic, _encoder.encode(status), qos=1, retain=True)
        except Exception as error:  # the benchmark sees the order never complete
            self.failures += 1
            line = {"event": "floor.failed", "order_id": order_id, "error": repr(error)}
            print(_encoder.encode(line).decode(), flush=True)


async def serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    host, _, port = args.mqtt.rpartition(":")
    routes = {sku: (s, url) for sku, (s, url) in msgspec.json.decode(args.route).items()}
    writer = GroupWriter(Path(args.db), args.synchronous)
    async with (
        aiomqtt.Client(host, int(port), identifier=f"floor-{secrets.token_hex(4)}") as mqtt,
        asyncio.TaskGroup() as tasks,
    ):
        mqtt.pending_calls_threshold = 100_000  # publishes are pipelined on purpose
        floor = Floor(writer, mqtt, args.prefix, routes, args.max_in_flight)
        writer_task = tasks.create_task(writer.run())
        app = web.Application()
        app.router.add_post("/api/v1/orders", floor.intake)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        print(_encoder.encode({"event": "floor.started", "http": url}).decode(), flush=True)
        await stop.wait()
        await runner.cleanup()
        if floor.tasks:
            await asyncio.wait(floor.tasks, timeout=10)
        await floor.http.close()
        writer_task.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--mqtt", required=True, help="HOST:PORT of the broker")
    parser.add_argument("--prefix", default="floor")
    parser.add_argument("--route", required=True, help='JSON {"SKU": ["supplier id", "url"]}')
    parser.add_argument("--synchronous", choices=("full", "normal"), default="full")
    parser.add_argument("--max-in-flight", type=int, default=8)
    args = parser.parse_args()
    uvloop.run(serve(args))
    sys.exit(0)


if __name__ == "__main__":
    main()
