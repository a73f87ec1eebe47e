"""Suppliers for the benchmark, as a process of their own: each answers CONTRACT §5
(`POST /purchase-orders` → `201 {"supplier_ref"}`) after a fixed delay.

    python -m benchmarks.suppliers --ids sup-a,sup-b,sup-c --latency-ms 2

Prints one JSON line `{"event": "suppliers.started", "urls": {...}}` once listening, and runs
until SIGTERM. `GET /stats` says how many POs each received (retries would show there). They run
outside the benchmark's own process so that answering suppliers does not take CPU from the load
clients, and the gateway and the floor call the very same ones.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

import msgspec
import uvloop
from aiohttp import web


class _Line(msgspec.Struct):
    sku: str
    quantity: int


class _PurchaseOrder(msgspec.Struct):
    po_id: str
    lines: list[_Line]


_decoder = msgspec.json.Decoder(_PurchaseOrder)
_encoder = msgspec.json.Encoder()


class Supplier:
    def __init__(self, supplier_id: str, latency_s: float) -> None:
        self.supplier_id = supplier_id
        self.latency_s = latency_s
        self.received = 0
        self.app = web.Application()
        self.app.router.add_post("/purchase-orders", self.purchase_order)
        self.app.router.add_get("/stats", self.stats)

    async def purchase_order(self, request: web.Request) -> web.Response:
        try:
            po = _decoder.decode(await request.read())
        except msgspec.DecodeError as error:
            body = {"reason": "bad_request", "message": str(error)}
            return web.Response(status=422, body=_encoder.encode(body))
        self.received += 1
        await asyncio.sleep(self.latency_s)
        answer = {"supplier_ref": f"{self.supplier_id}-{po.po_id}"}
        return web.Response(
            status=201, body=_encoder.encode(answer), content_type="application/json"
        )

    async def stats(self, _: web.Request) -> web.Response:
        return web.Response(
            body=_encoder.encode({"received": self.received}), content_type="application/json"
        )


async def serve(ids: list[str], latency_s: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    runners: list[web.AppRunner] = []
    urls: dict[str, str] = {}
    for supplier_id in ids:
        runner = web.AppRunner(Supplier(supplier_id, latency_s).app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        urls[supplier_id] = f"http://127.0.0.1:{port}"
    line = {"event": "suppliers.started", "urls": urls}
    sys.stdout.write(_encoder.encode(line).decode() + "\n")
    sys.stdout.flush()
    await stop.wait()
    for runner in runners:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ids", default="sup-a,sup-b,sup-c")
    parser.add_argument("--latency-ms", type=float, default=2.0)
    args = parser.parse_args()
    uvloop.run(serve(args.ids.split(","), args.latency_ms / 1000))


if __name__ == "__main__":
    main()
