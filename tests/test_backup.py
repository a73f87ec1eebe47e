"""`python run.py backup` (issue 9): an online copy taken while orders flow into a running
gateway process, which a new gateway then starts from and carries on with."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from dropship_simulator.supplier_server import SupplierSimulator
from tests.conftest import WriteConfig, base_config, start_gateway
from tests.harness import GatewayProcess, Mosquitto, order_json, order_reaching
from tests.test_token_cli import run_cli


def config_with(
    tmp_path: Path, broker: Mosquitto, supplier: SupplierSimulator, data: Path
) -> dict[str, Any]:
    config = base_config(
        tmp_path,
        broker,
        suppliers=[{"id": "sup-a", "name": "A", "url": supplier.url, "regions": ["CN"]}],
        catalog=[{"sku": "SKU-1", "supplier": "sup-a", "cost": "10.00", "stock": 100000}],
    )
    config["gateway"]["data_dir"] = str(data)
    return config


async def test_a_backup_taken_while_orders_flow_is_a_gateway_that_starts_and_carries_on(
    tmp_path: Path,
    broker: Mosquitto,
    write_config: WriteConfig,
    gateway_process: Callable[[Path], GatewayProcess],
    http: aiohttp.ClientSession,
) -> None:
    async with SupplierSimulator("sup-a", seed=3) as supplier:
        config_path = write_config(config_with(tmp_path, broker, supplier, tmp_path / "var"))
        running = gateway_process(config_path)
        await running.start()
        accepted: list[str] = []
        stop = asyncio.Event()

        async def client(index: int) -> None:
            for number in range(10_000):
                if stop.is_set():
                    return
                order = order_json(f"SO-B{index}-{number}", [("SKU-1", 1)])
                async with http.post(f"{running.url}/api/v1/orders", json=order) as response:
                    assert response.status == 202
                    accepted.append((await response.json())["accepted"][0]["order_id"])

        clients = [asyncio.create_task(client(i)) for i in range(4)]
        try:
            while len(accepted) < 40:  # orders are flowing
                await asyncio.wait(clients, timeout=0.05, return_when=asyncio.FIRST_EXCEPTION)
                for task in clients:
                    if task.done():
                        task.result()
            before = list(accepted)
            copy = tmp_path / "backups" / "copy.db"
            result = await asyncio.to_thread(
                run_cli, config_path, "backup", "--output", str(copy), timeout=60
            )
            during = len(accepted) - len(before)
        finally:
            stop.set()
            for task in clients:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        assert result.returncode == 0, result.stderr
        assert str(copy) in result.stdout
        assert "quick_check ok" in result.stdout
        assert running.terminate() == 0

        # One self-contained, consistent file holding every order accepted before it began.
        assert not copy.with_name("copy.db-wal").exists()
        with contextlib.closing(sqlite3.connect(copy)) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
            in_copy = {row[0] for row in db.execute("SELECT order_id FROM orders")}
        assert set(before) <= in_copy
        assert in_copy <= set(accepted)
        print(f"{len(before)} orders before the backup, {during} accepted while it ran")

        # A gateway started from the copy serves those orders and finishes their work.
        restored_dir = tmp_path / "restored"
        restored_dir.mkdir()
        copy.rename(restored_dir / "gateway.db")
        restored = await start_gateway(
            write_config(config_with(tmp_path, broker, supplier, restored_dir))
        )
        try:
            for order_id in (before[0], before[-1]):
                view = await order_reaching(
                    http, restored.http_url, order_id, ("acknowledged", "shipped")
                )
                assert view["purchase_orders"][0]["supplier_id"] == "sup-a"
            order = order_json("SO-AFTER-RESTORE", [("SKU-1", 1)])
            async with http.post(f"{restored.http_url}/api/v1/orders", json=order) as response:
                assert response.status == 202
        finally:
            await restored.stop()
