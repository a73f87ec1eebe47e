"""A file-exchange supplier end to end: orders in over HTTP, POs out as files on a real SFTP
server, acknowledgement and shipment files back, statuses and events on a real MQTT broker.

The supplier is the simulator's stand-in (`FileSupplierSimulator`: GBK, Chinese headers and
words, one parcel per line); where a test needs a file the stand-in would not write (a bad
row, a file held halfway), the test writes it into the supplier's folder itself."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from dropship_simulator.file_supplier import CARRIERS, FileSupplierSimulator
from gateway.app.runtime import Gateway
from tests.conftest import WriteConfig, base_config, start_gateway
from tests.harness import FeedCollector, Mosquitto, order_json, order_reaching
from tests.test_file_exchange import STAND_IN_OPTIONS

PASSWORD = "e2e-sftp"


@pytest.fixture
async def supplier(tmp_path: Path) -> AsyncIterator[FileSupplierSimulator]:
    """The stand-in, doing its rounds every 50 ms (its own schedule, as a back office would)."""
    async with FileSupplierSimulator(
        tmp_path / "sftp", password=PASSWORD, stock={"SILK-007": 100, "SILK-008": 100}
    ) as simulator:
        rounds = asyncio.create_task(simulator.run(asyncio.sleep, 0.05), name="stand-in rounds")
        try:
            yield simulator
        finally:
            rounds.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await rounds


def config(tmp_path: Path, broker: Mosquitto, supplier: FileSupplierSimulator) -> dict[str, Any]:
    return base_config(
        tmp_path,
        broker,
        suppliers=[
            {
                "id": "sup-files",
                "name": "West Lake Silk",
                "adapter": "file_exchange",
                "url": supplier.server.url("dropship"),
                "regions": ["CN"],
                "poll_interval_s": 0.1,
                "options": {
                    "password": PASSWORD,
                    "host_key": supplier.server.host_key,
                    **STAND_IN_OPTIONS,
                },
            }
        ],
        catalog=[
            {"sku": sku, "supplier": "sup-files", "cost": "88.00", "stock": 1000}
            for sku in ("SILK-007", "SILK-008", "SILK-404")
        ],
    )


async def post_order(
    http: aiohttp.ClientSession, gateway: Gateway, external_id: str, lines: list[tuple[str, int]]
) -> str:
    async with http.post(
        f"{gateway.http_url}/api/v1/orders", json=order_json(external_id, lines)
    ) as response:
        assert response.status == 202, await response.text()
        order_id: str = (await response.json())["accepted"][0]["order_id"]
    return order_id


async def test_pos_go_out_as_files_and_answer_files_move_the_statuses(
    tmp_path: Path,
    broker: Mosquitto,
    write_config: WriteConfig,
    http: aiohttp.ClientSession,
    supplier: FileSupplierSimulator,
) -> None:
    gateway = await start_gateway(write_config(config(tmp_path, broker, supplier)))
    try:
        split = await post_order(http, gateway, "SO-SPLIT", [("SILK-007", 2), ("SILK-008", 1)])
        refused = await post_order(http, gateway, "SO-REFUSED", [("SILK-404", 1)])

        shipped = await order_reaching(http, gateway.http_url, split, "shipped")
        held = await order_reaching(http, gateway.http_url, refused, "on_hold")
    finally:
        await gateway.stop()

    # Each PO reached the supplier once, as one complete file with all its lines.
    by_po = {po.po_id: po for po in supplier.received}
    assert len(supplier.received) == len(by_po) == 2
    [split_po] = shipped["purchase_orders"]
    assert by_po[split_po["po_id"]].lines == [("SILK-007", 2), ("SILK-008", 1)]
    # The acknowledgement gave the supplier's reference; the two parcels their tracking numbers.
    assert split_po["status"] == "shipped"
    assert split_po["supplier_ref"].startswith("FX")
    assert len({s["tracking_number"] for s in split_po["shipments"]}) == 2
    assert {s["carrier"] for s in split_po["shipments"]} <= set(CARRIERS)  # its own words
    # The refusal, in the supplier's words (无此商品), became our reason.
    assert held["hold_reason"] == "unknown_sku"
    assert held["purchase_orders"][0]["status"] == "rejected"
    # Every answer file was recorded, then moved to processed/.
    replies = supplier.folder / "replies"
    assert sorted(p.name for p in replies.iterdir() if p.is_file()) == []
    assert sorted(p.name for p in (replies / "processed").iterdir()) == sorted(
        supplier.files_written
    )


async def test_a_malformed_row_is_a_visible_problem_and_the_rest_of_the_file_counts(
    tmp_path: Path,
    broker: Mosquitto,
    write_config: WriteConfig,
    http: aiohttp.ClientSession,
    supplier: FileSupplierSimulator,
) -> None:
    supplier.malformed_next = 1  # its next shipment file has one unreadable row, first
    async with FeedCollector(broker.port) as feed:
        gateway = await start_gateway(write_config(config(tmp_path, broker, supplier)))
        try:
            order_id = await post_order(http, gateway, "SO-1", [("SILK-007", 1)])
            await order_reaching(http, gateway.http_url, order_id, "shipped")
            await feed.wait_until(
                lambda f: bool(f.events("supplier.report_problem")),
                timeout=20,
                what="the bad row reported",
            )
        finally:
            await gateway.stop()

    # The bad row (no tracking number, 昨天 as a date, 两件 as a quantity): one problem per
    # bad cell, each naming the file, the line and the column.
    problems = feed.events("supplier.report_problem")
    [ship_file] = [name for name in supplier.files_written if name.startswith("SHIP_")]
    assert {p["supplier_id"] for p in problems} == {"sup-files"}
    assert {(p["data"]["source"], p["data"]["line"]) for p in problems} == {(ship_file, 3)}
    assert {p["data"]["column"] for p in problems} >= {"运单号", "发货时间"}
    assert feed.events("po.shipped")  # the good row of the same file shipped the PO


async def test_a_restart_in_the_middle_of_a_file_processes_no_row_twice(
    tmp_path: Path,
    broker: Mosquitto,
    write_config: WriteConfig,
    http: aiohttp.ClientSession,
    supplier: FileSupplierSimulator,
) -> None:
    supplier.ships = False  # this test writes the shipment file itself
    path = write_config(config(tmp_path, broker, supplier))
    sftp = supplier.server
    gateway = await start_gateway(path)
    try:
        order_id = await post_order(http, gateway, "SO-1", [("SILK-007", 1), ("SILK-008", 2)])
        view = await order_reaching(http, gateway.http_url, order_id, "acknowledged")
        po_id = view["purchase_orders"][0]["po_id"]
        async with asyncio.timeout(20):  # the acknowledgement file is out of the way
            await sftp.wait_until(lambda: any("/processed/" in new for _, new in sftp.renamed))
        # The gateway will record this file, then move it to processed/: hold the move there.
        sftp.hold_renames_after(0)
        now = datetime.now(timezone(timedelta(hours=8))).strftime("%Y-%m-%d %H:%M:%S")
        _drop_shipment_file(
            supplier.folder / "replies" / "SHIP_late.csv",
            [[po_id, "顺丰速运", "SF1001", now, "SILK-007", "1"],
             [po_id, "顺丰速运", "SF1002", now, "SILK-008", "2"]],
        )  # fmt: skip
        await order_reaching(http, gateway.http_url, order_id, "shipped")
        async with asyncio.timeout(20):
            await sftp.wait_until(lambda: sftp.held_renames >= 1)
    finally:
        await gateway.stop()  # halfway through moving the recorded file
    sftp.release_renames(fail=True)  # the move never happened
    assert (supplier.folder / "replies" / "SHIP_late.csv").exists()
    moves = len(sftp.renamed)

    gateway = await start_gateway(path)
    try:
        async with asyncio.timeout(20):  # its first poll finishes the move
            await sftp.wait_until(lambda: len(sftp.renamed) > moves)
        view = await order_reaching(http, gateway.http_url, order_id, "shipped")
    finally:
        await gateway.stop()

    assert not (supplier.folder / "replies" / "SHIP_late.csv").exists()
    assert (supplier.folder / "replies" / "processed" / "SHIP_late.csv").exists()
    [po] = view["purchase_orders"]
    assert sorted(s["tracking_number"] for s in po["shipments"]) == ["SF1001", "SF1002"]
    shipped_events = [e for e in view["timeline"] if e["type"] == "po.shipped"]
    assert len(shipped_events) == 2  # one per parcel: no row of the file counted twice
    assert [e for e in view["timeline"] if e["type"] == "supplier.report_problem"] == []


def _drop_shipment_file(path: Path, rows: list[list[str]]) -> None:
    """Write as the stand-in does: GBK, its headers, a hidden name first."""
    header = ["采购单号", "快递公司", "运单号", "发货时间", "商品编码", "数量"]
    text = "\r\n".join(",".join(row) for row in [header, *rows]) + "\r\n"
    hidden = path.with_name(f".{path.name}.part")
    hidden.write_bytes(text.encode("gbk"))
    hidden.replace(path)
