"""What the file_exchange and mapped_json adapters cost, against their stand-ins on 127.0.0.1.

    .venv/bin/python -m benchmarks.supplier_adapters

Prints figures and asserts nothing about speed:
1. file_exchange: POs written as files over SFTP, one at a time and 8 at once (the actor's
   default max_in_flight), then collecting one answer file of many shipment rows.
2. mapped_json: building one request from the template (no I/O), then sending to the
   open-platform stand-in, one at a time and 8 at once.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from dropship_files import FileExchangeSupplier
from dropship_mapped import MappedJsonSupplier
from dropship_simulator.open_platform import OpenPlatformSupplier, open_platform_mapping
from dropship_simulator.sftp_server import SftpServer
from gateway.plugin_api import SupplierContext
from gateway.testing import MemoryState, sample_purchase_order

PASSWORD = "bench"


def po(n: int) -> Any:
    import msgspec

    return msgspec.structs.replace(sample_purchase_order(), po_id=f"po_{n:016x}-1")


async def rate(
    label: str, count: int, concurrency: int, call: Callable[[int], Awaitable[Any]]
) -> None:
    semaphore = asyncio.Semaphore(concurrency)

    async def one(n: int) -> None:
        async with semaphore:
            await call(n)

    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(count)))
    elapsed = time.perf_counter() - started
    print(f"  {label:<46} {count / elapsed:8.0f}/s   ({elapsed * 1000 / count:6.2f} ms each)")


async def file_exchange() -> None:
    print("file_exchange over SFTP (asyncssh server on 127.0.0.1)")
    with tempfile.TemporaryDirectory() as folder:
        async with SftpServer(Path(folder), users={"bench": PASSWORD}) as server:
            adapter = FileExchangeSupplier(
                SupplierContext(
                    supplier_id="bench",
                    url=server.url("bench"),
                    timeout_s=30,
                    max_in_flight=8,
                    options={"password": PASSWORD, "host_key": server.host_key, "encoding": "gbk"},
                    state=MemoryState(),
                )
            )
            await adapter.start()
            try:
                await adapter.send_purchase_order(po(10**6))  # connect outside the timing
                await rate("PO files written, 1 at a time", 300, 1,
                           lambda n: adapter.send_purchase_order(po(n)))  # fmt: skip
                await rate("PO files written, 8 at once", 600, 8,
                           lambda n: adapter.send_purchase_order(po(1000 + n)))  # fmt: skip
                rows = 20_000
                lines = ["po_id,carrier,tracking_number,shipped_at,sku,quantity"]
                lines += [f"po_{n:016x}-1,SF,SF{n:010d},2026-11-23 14:05:00,SKU-1,2"
                          for n in range(rows)]  # fmt: skip
                replies = Path(folder) / "replies"
                replies.mkdir(exist_ok=True)
                (replies / "SHIP_big.csv").write_text("\n".join(lines) + "\n", encoding="gbk")
                started = time.perf_counter()
                batch = await adapter.collect_reports()
                collected = time.perf_counter() - started
                await adapter.confirm_reports(batch.receipt)
                print(f"  {'shipment rows collected (one file of 20,000)':<46} "
                      f"{rows / collected:8.0f}/s   ({collected * 1000:6.0f} ms for the file, "
                      f"{len(batch.reports)} reports)")  # fmt: skip
            finally:
                await adapter.close()


async def mapped_json() -> None:
    print("mapped_json (open-platform stand-in on 127.0.0.1)")
    secret = "bench-secret"
    async with OpenPlatformSupplier(
        app_key="app-1001", app_secret=secret, stock={"SKU-1": 10**9, "SKU-2": 10**9}
    ) as platform:
        adapter = MappedJsonSupplier(
            SupplierContext(
                supplier_id="bench", url=platform.url, timeout_s=30, max_in_flight=8,
                options=open_platform_mapping(secret),
            )
        )  # fmt: skip
        sample = po(1)
        count = 5_000
        started = time.perf_counter()
        for _ in range(count):
            adapter.build_request(sample)
        elapsed = time.perf_counter() - started
        print(f"  {'requests built (template + HMAC), no I/O':<46} {count / elapsed:8.0f}/s   "
              f"({elapsed * 1e6 / count:6.1f} µs each)")  # fmt: skip
        await adapter.start()
        try:
            await rate("POs sent and accepted, 1 at a time", 500, 1,
                       lambda n: adapter.send_purchase_order(po(n)))  # fmt: skip
            await rate("POs sent and accepted, 8 at once", 1000, 8,
                       lambda n: adapter.send_purchase_order(po(10_000 + n)))  # fmt: skip
        finally:
            await adapter.close()


async def main() -> None:
    await file_exchange()
    await mapped_json()


if __name__ == "__main__":
    asyncio.run(main())
