"""The `file_exchange` adapter against a real SFTP server on 127.0.0.1 (asyncssh's, serving a
temporary folder): POs arrive as complete files, answer files become reports, bad rows become
problems with their line, and nothing is processed twice across restarts."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from dropship_files import FileExchangeSupplier
from dropship_files.options import check_options
from dropship_simulator.file_supplier import FileSupplierSimulator
from dropship_simulator.sftp_server import SftpServer
from gateway.plugin_api import (
    Address,
    PoAcknowledged,
    PoRefused,
    PoShipment,
    PurchaseOrderLine,
    PurchaseOrderRequest,
    ReportProblem,
    Submitted,
    SupplierContext,
    SupplierFailed,
    SupplierRejected,
    SupplierUnavailable,
)
from gateway.testing import MemoryState

PASSWORD = "s3cret-for-tests"


def purchase_order(
    po_id: str = "po_0123456789abcdef-1", name: str = "张三", lines: int = 2
) -> PurchaseOrderRequest:
    return PurchaseOrderRequest(
        po_id=po_id,
        order_id="ord_0123456789abcdef",
        order_external_id="SO-20261123-0001",
        supplier_id="sup-files",
        created_at=datetime(2026, 11, 23, 2, 0, tzinfo=UTC),
        priority="normal",
        currency="CNY",
        ship_to=Address(
            name=name,
            phone="13812345678",
            country="CN",
            region="CN-ZJ",
            province="浙江省",
            city="杭州市",
            district="西湖区",
            address1="文三路 100 号",
            postal_code="310000",
        ),
        lines=tuple(
            PurchaseOrderLine(
                line_id=str(n), sku=f"TEA-00{n}", quantity=n, unit_cost=Decimal("18.50")
            )
            for n in range(1, lines + 1)
        ),
    )


@pytest.fixture
async def sftp(tmp_path: Path) -> AsyncIterator[SftpServer]:
    async with SftpServer(tmp_path / "supplier", users={"dropship": PASSWORD}) as server:
        yield server


@pytest.fixture
def state() -> MemoryState:
    return MemoryState()


Make = Callable[..., Awaitable[FileExchangeSupplier]]


@pytest.fixture
async def make(sftp: SftpServer, state: MemoryState) -> AsyncIterator[Make]:
    made: list[FileExchangeSupplier] = []

    async def build(**options: Any) -> FileExchangeSupplier:
        adapter = FileExchangeSupplier(
            SupplierContext(
                supplier_id="sup-files",
                url=sftp.url("dropship"),
                timeout_s=10,
                max_in_flight=4,
                options={"password": PASSWORD, "host_key": sftp.host_key, **options},
                state=state,
            )
        )
        await adapter.start()
        made.append(adapter)
        return adapter

    yield build
    for adapter in made:
        await adapter.close()


def write(sftp: SftpServer, name: str, text: str, encoding: str = "utf-8") -> None:
    """The supplier drops a file in its reply folder."""
    folder = sftp.root / "replies"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(text.encode(encoding))


def rows(data: bytes, encoding: str = "utf-8", delimiter: str = ",") -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(encoding)), delimiter=delimiter))


# -- purchase orders out ------------------------------------------------------------------------


async def test_a_po_arrives_as_one_complete_file_renamed_from_a_hidden_name(
    sftp: SftpServer, make: Make
) -> None:
    adapter = await make()

    outcome = await adapter.send_purchase_order(purchase_order())

    assert outcome == Submitted()
    folder = sftp.root / "purchase_orders"
    assert sorted(p.name for p in folder.iterdir()) == ["PO_po_0123456789abcdef-1.csv"]
    assert sftp.renamed == [
        (
            "/purchase_orders/.PO_po_0123456789abcdef-1.csv.part",
            "/purchase_orders/PO_po_0123456789abcdef-1.csv",
        )
    ]
    table = rows((folder / "PO_po_0123456789abcdef-1.csv").read_bytes())
    assert table[0][:7] == [
        "po_id", "order_external_id", "created_at", "line_id", "sku", "quantity", "unit_cost",
    ]  # fmt: skip
    assert [row[4:7] for row in table[1:]] == [["TEA-001", "1", "18.50"], ["TEA-002", "2", "18.50"]]
    assert table[1][2] == "2026-11-23T10:00:00+08:00"  # in the supplier's time zone
    assert table[1][7] == "张三"


async def test_a_retry_of_a_delivered_po_writes_nothing_again(sftp: SftpServer, make: Make) -> None:
    await (await make()).send_purchase_order(purchase_order())
    restarted = await make()  # a new incarnation, as after a crash: the state remembers

    assert await restarted.send_purchase_order(purchase_order()) == Submitted()
    assert len(sftp.renamed) == 1


async def test_columns_delimiter_and_gbk_round_trip(sftp: SftpServer, make: Make) -> None:
    adapter = await make(
        encoding="gbk",
        delimiter=";",
        po_columns=[
            {"field": "po_id", "header": "采购单号"},
            {"field": "sku", "header": "商品编码"},
            {"field": "quantity", "header": "数量"},
            {"field": "ship_to.name", "header": "收货人"},
            {"field": "ship_to.full_address", "header": "收货地址"},
        ],
        ack_columns={"po_id": "采购单号", "status": "状态", "supplier_ref": "供应商单号"},
        shipment_columns={
            "po_id": "采购单号",
            "carrier": "快递公司",
            "tracking_number": "运单号",
            "sku": "商品编码",
            "quantity": "数量",
        },
    )
    await adapter.send_purchase_order(purchase_order(lines=1))

    raw = (sftp.root / "purchase_orders" / "PO_po_0123456789abcdef-1.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # really GBK on the wire, not UTF-8
    assert rows(raw, "gbk", ";") == [
        ["采购单号", "商品编码", "数量", "收货人", "收货地址"],
        ["po_0123456789abcdef-1", "TEA-001", "1", "张三", "浙江省 杭州市 西湖区 文三路 100 号"],
    ]

    write(
        sftp, "ACK_1.csv", "采购单号;状态;供应商单号\npo_0123456789abcdef-1;接单;订单甲-7\n", "gbk"
    )
    write(
        sftp, "SHIP_1.csv",
        "采购单号;快递公司;运单号;商品编码;数量\npo_0123456789abcdef-1;顺丰速运;SF100;TEA-001;1\n",
        "gbk",
    )  # fmt: skip
    batch = await adapter.collect_reports()

    assert batch.problems == ()
    assert batch.reports == (
        PoAcknowledged(po_id="po_0123456789abcdef-1", supplier_ref="订单甲-7"),
        PoShipment(
            po_id="po_0123456789abcdef-1",
            carrier="顺丰速运",
            tracking_number="SF100",
            lines=(("TEA-001", 1),),
        ),
    )


async def test_a_name_the_encoding_cannot_write_is_refused_without_the_name(
    sftp: SftpServer, make: Make
) -> None:
    adapter = await make(encoding="gbk")
    with pytest.raises(SupplierRejected) as refused:
        await adapter.send_purchase_order(purchase_order(name="李\U00020000"))  # CJK Ext. B
    assert refused.value.reason == "unencodable"
    assert "ship_to_name" in refused.value.message
    assert "李" not in refused.value.message
    assert not (sftp.root / "purchase_orders").exists() or not any(
        (sftp.root / "purchase_orders").iterdir()
    )


# -- answers in ----------------------------------------------------------------------------------


async def test_ack_and_shipment_files_become_reports_then_move_to_processed(
    sftp: SftpServer, make: Make
) -> None:
    adapter = await make(reason_map={"缺货": "out_of_stock"})
    write(
        sftp,
        "ACK_20261123.csv",
        "po_id,status,supplier_ref,reason,message\n"
        "po_a-1,accepted,R-1,,\n"
        "po_b-1,rejected,,缺货,only 3 left\n",
    )
    write(
        sftp,
        "SHIP_20261123.csv",
        "po_id,carrier,tracking_number,shipped_at,sku,quantity\n"
        "po_a-1,SF,SF1,2026-11-23 14:05:00,TEA-001,1\n"
        "po_a-1,SF,SF1,2026-11-23 14:05:00,TEA-002,1\n"
        "po_a-1,YTO,YT2,2026-11-24T09:00:00+08:00,TEA-002,1\n"
        "po_c-1,ZTO,ZT3,,,\n",
    )
    write(sftp, "notes.txt", "not an answer file")

    batch = await adapter.collect_reports()

    shanghai_1405 = datetime(2026, 11, 23, 6, 5, tzinfo=UTC)
    assert batch.problems == ()
    assert batch.reports == (
        PoAcknowledged(po_id="po_a-1", supplier_ref="R-1"),
        PoRefused(po_id="po_b-1", reason="out_of_stock", message="only 3 left"),
        PoShipment(
            po_id="po_a-1", carrier="SF", tracking_number="SF1", shipped_at=shanghai_1405,
            lines=(("TEA-001", 1), ("TEA-002", 1)),
        ),
        PoShipment(
            po_id="po_a-1", carrier="YTO", tracking_number="YT2",
            shipped_at=datetime(2026, 11, 24, 1, 0, tzinfo=UTC), lines=(("TEA-002", 1),),
        ),
        PoShipment(po_id="po_c-1", carrier="ZTO", tracking_number="ZT3"),  # all that was left
    )  # fmt: skip
    replies = sftp.root / "replies"
    assert (replies / "ACK_20261123.csv").exists()  # nothing moves before the gateway recorded

    await adapter.confirm_reports(batch.receipt)

    assert sorted(p.name for p in replies.iterdir() if p.is_file()) == ["notes.txt"]
    assert sorted(p.name for p in (replies / "processed").iterdir()) == [
        "ACK_20261123.csv",
        "SHIP_20261123.csv",
    ]
    again = await adapter.collect_reports()
    assert again.reports == ()
    assert again.problems == ()
    assert again.receipt is None


async def test_a_malformed_row_is_reported_with_its_line_and_the_rest_counts(
    sftp: SftpServer, make: Make
) -> None:
    adapter = await make()
    write(
        sftp,
        "SHIP_1.csv",
        "po_id,carrier,tracking_number,shipped_at,sku,quantity\n"  # line 1
        "po_a-1,SF,SF1,,TEA-001,1\n"  # 2
        "po_a-1,SF,SF2,,TEA-002,two\n"  # 3: bad quantity
        '"po_b-1",SF,"SF\n3",,TEA-001,1\n'  # 4-5: a quoted line break is one row
        "po_c-1,SF,,,TEA-001,1\n"  # 6: no tracking number
        "\n"  # 7: blank
        "po_d-1,SF,SF4,yesterday,TEA-001,1\n"  # 8: bad date
        "po_e-1,SF,SF5,,TEA-001,1\n",  # 9
    )
    write(sftp, "ACK_1.csv", "po_id,status\npo_a-1,maybe\n,accepted\npo_e-1,ok\n")

    batch = await adapter.collect_reports()

    # Files of the same age are taken by name: ACK_1.csv, then SHIP_1.csv.
    assert [(r.po_id, getattr(r, "tracking_number", None)) for r in batch.reports] == [
        ("po_e-1", None),
        ("po_a-1", "SF1"),
        ("po_b-1", "SF\n3"),
        ("po_e-1", "SF5"),
    ]
    assert [(p.source, p.line, p.column, p.po_id) for p in batch.problems] == [
        ("ACK_1.csv", 2, "status", "po_a-1"),
        ("ACK_1.csv", 3, "po_id", None),
        ("SHIP_1.csv", 3, "quantity", "po_a-1"),
        ("SHIP_1.csv", 6, "tracking_number", "po_c-1"),
        ("SHIP_1.csv", 8, "shipped_at", "po_d-1"),
    ]
    assert "'maybe'" in batch.problems[0].message
    assert "'two'" in batch.problems[2].message

    await adapter.confirm_reports(batch.receipt)  # problems do not keep a file back
    assert not (sftp.root / "replies" / "SHIP_1.csv").exists()


async def test_a_file_without_a_required_column_is_one_problem(
    sftp: SftpServer, make: Make
) -> None:
    adapter = await make()
    write(sftp, "SHIP_1.csv", "po_id,carrier\npo_a-1,SF\n")

    batch = await adapter.collect_reports()

    assert batch.reports == ()
    assert [(p.source, p.line) for p in batch.problems] == [("SHIP_1.csv", 1)]
    assert "tracking_number" in batch.problems[0].message


async def test_invalid_gbk_bytes_cost_their_row_only(sftp: SftpServer, make: Make) -> None:
    adapter = await make(encoding="gbk")
    folder = sftp.root / "replies"
    folder.mkdir()
    (folder / "ACK_1.csv").write_bytes(
        "po_id,status,message\npo_a-1,接单,好\n".encode("gbk")
        + b"po_b-1,\xff\xfe,x\n"
        + "po_c-1,拒单,\n".encode("gbk")
    )

    batch = await adapter.collect_reports()

    assert [r.po_id for r in batch.reports] == ["po_a-1", "po_c-1"]
    assert [(p.line, p.column) for p in batch.problems] == [(3, "status")]


async def test_a_restart_halfway_through_moving_processes_no_file_twice(
    sftp: SftpServer, make: Make
) -> None:
    adapter = await make()
    write(sftp, "ACK_1.csv", "po_id,status\npo_a-1,accepted\n")
    write(sftp, "ACK_2.csv", "po_id,status\npo_b-1,accepted\n")
    batch = await adapter.collect_reports()
    assert len(batch.reports) == 2

    sftp.hold_renames_after(1)  # the first file moves, the second move hangs...
    confirming = asyncio.create_task(adapter.confirm_reports(batch.receipt))
    async with asyncio.timeout(10):
        await sftp.wait_until(lambda: sftp.held_renames == 1)
    confirming.cancel()  # ...and the gateway stops there
    with pytest.raises(asyncio.CancelledError):
        await confirming
    await adapter.close()
    sftp.release_renames()
    write(sftp, "ACK_3.csv", "po_id,status\npo_c-1,accepted\n")  # arrives meanwhile

    restarted = await make()
    batch = await restarted.collect_reports()

    assert batch.reports == (PoAcknowledged(po_id="po_c-1"),)
    await restarted.confirm_reports(batch.receipt)
    processed = sftp.root / "replies" / "processed"
    assert sorted(p.name for p in processed.iterdir()) == ["ACK_1.csv", "ACK_2.csv", "ACK_3.csv"]


async def test_a_restart_before_the_gateway_recorded_finds_the_same_files(
    sftp: SftpServer, make: Make
) -> None:
    """Until `confirm_reports`, the files stay: a batch lost in a crash is collected again."""
    write(sftp, "ACK_1.csv", "po_id,status\npo_a-1,accepted\n")
    first = await make()
    lost = await first.collect_reports()
    await first.close()

    again = await (await make()).collect_reports()

    assert again.reports == lost.reports == (PoAcknowledged(po_id="po_a-1"),)


async def test_a_supplier_reusing_a_file_name_keeps_both_in_processed(
    sftp: SftpServer, make: Make
) -> None:
    adapter = await make()
    for status in ("accepted", "rejected"):
        write(sftp, "ACK_today.csv", f"po_id,status\npo_a-1,{status}\n")
        batch = await adapter.collect_reports()
        await adapter.confirm_reports(batch.receipt)
    names = sorted(p.name for p in (sftp.root / "replies" / "processed").iterdir())
    assert len(names) == 2
    assert "ACK_today.csv" in names
    later = next(name for name in names if name != "ACK_today.csv")
    assert later.startswith("ACK_today.2")
    assert later.endswith(".csv")


# -- connection trouble ------------------------------------------------------------------------


async def test_an_outage_is_temporary_and_the_adapter_reconnects(
    sftp: SftpServer, make: Make
) -> None:
    adapter = await make()
    await adapter.send_purchase_order(purchase_order("po_x-1"))
    await sftp.stop()

    with pytest.raises(SupplierUnavailable):
        await adapter.send_purchase_order(purchase_order("po_x-2"))
    with pytest.raises(SupplierUnavailable):
        await adapter.collect_reports()

    await sftp.start()  # same port, same host key
    assert await adapter.send_purchase_order(purchase_order("po_x-2")) == Submitted()


async def test_a_wrong_password_or_host_key_is_a_configuration_failure(
    sftp: SftpServer, make: Make
) -> None:
    with pytest.raises(SupplierFailed) as refused:
        await (await make(password="wrong")).send_purchase_order(purchase_order())
    assert refused.value.reason == "sftp_login_refused"

    async with SftpServer(sftp.root, users={"dropship": PASSWORD}) as impostor:
        adapter = FileExchangeSupplier(
            SupplierContext(
                supplier_id="sup-files",
                url=impostor.url("dropship"),
                timeout_s=10,
                max_in_flight=1,
                options={"password": PASSWORD, "host_key": sftp.host_key},
            )
        )
        try:
            with pytest.raises(SupplierFailed) as unverified:
                await adapter.send_purchase_order(purchase_order())
        finally:
            await adapter.close()
    assert unverified.value.reason == "sftp_host_key_not_verified"


async def test_a_known_hosts_file_is_trusted(sftp: SftpServer, make: Make, tmp_path: Path) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(sftp.known_hosts_line(), encoding="utf-8")
    adapter = await make(host_key=None, known_hosts=str(known_hosts))
    assert await adapter.send_purchase_order(purchase_order()) == Submitted()


# -- options check -------------------------------------------------------------------------------


def test_check_options_names_each_problem_with_its_path() -> None:
    problems = check_options(
        {
            "password": "x",
            "host_key": "ssh-ed25519 not-a-key",
            "encoding": "klingon",
            "delimiter": '"',
            "po_columns": ["po_id", {"field": "colour", "header": "颜色"}, "sku"],
            "po_file_name": "{order}.csv",
            "ack_columns": {"po": "单号"},
            "accepted_values": ["ok"],
            "rejected_values": ["OK"],
            "time_offset": "8",
        }
    )
    found = {(p.path, p.message.split(" (")[0].split(";")[0]) for p in problems}
    assert {path for path, _ in found} == {
        ("host_key",),
        ("encoding",),
        ("delimiter",),
        ("po_columns", 1, "field"),
        ("po_file_name",),
        ("ack_columns", "po"),
        ("rejected_values",),
        ("time_offset",),
    }
    po_file_problems = [p.message for p in problems if p.path == ("po_file_name",)]
    assert any("{order}" in m for m in po_file_problems)
    assert any("{po_id}" in m for m in po_file_problems)


def test_check_options_reports_unknown_keys_and_types() -> None:
    problems = check_options({"password": "x", "hostkey": "y", "max_files_per_poll": "many"})
    assert {p.path for p in problems} == {("hostkey",), ("max_files_per_poll",)}
    assert check_options({"password": "x", "insecure_skip_host_key_check": True}) == []
    assert [p.message for p in check_options({"host_key": None, "known_hosts": "k"})] == [
        "give a password or a private_key to log in with"
    ]


def test_problem_type_is_public() -> None:
    assert ReportProblem(source="f", message="m").line is None


async def test_a_file_with_a_header_and_no_rows_is_moved_away_at_once(
    sftp: SftpServer, make: Make
) -> None:
    adapter = await make()
    write(sftp, "ACK_empty.csv", "po_id,status\r\n")

    batch = await adapter.collect_reports()

    assert batch.reports == ()
    assert batch.problems == ()
    assert (sftp.root / "replies" / "processed" / "ACK_empty.csv").exists()
    assert not (sftp.root / "replies" / "ACK_empty.csv").exists()


# -- the stand-in supplier answers its folder ----------------------------------------------------

# How a gateway is configured for the stand-in (as in config/demo.toml).
STAND_IN_OPTIONS: dict[str, Any] = {
    "encoding": "gbk",
    "po_columns": [
        {"field": "po_id", "header": "采购单号"},
        {"field": "sku", "header": "商品编码"},
        {"field": "quantity", "header": "数量"},
        {"field": "ship_to.name", "header": "收货人"},
        {"field": "ship_to.phone", "header": "电话"},
        {"field": "ship_to.full_address", "header": "收货地址"},
    ],
    "ack_columns": {"po_id": "采购单号", "status": "状态", "supplier_ref": "供应商单号",
                    "reason": "原因"},
    "shipment_columns": {"po_id": "采购单号", "carrier": "快递公司", "tracking_number": "运单号",
                         "shipped_at": "发货时间", "sku": "商品编码", "quantity": "数量"},
    "reason_map": {"缺货": "out_of_stock", "无此商品": "unknown_sku"},
}  # fmt: skip


async def test_the_stand_in_acknowledges_ships_in_parcels_and_refuses_in_its_own_words(
    tmp_path: Path,
) -> None:
    async with FileSupplierSimulator(
        tmp_path / "stand-in", password=PASSWORD, stock={"TEA-001": 5, "TEA-002": 5}
    ) as supplier:
        adapter = FileExchangeSupplier(
            SupplierContext(
                supplier_id="sup-files",
                url=supplier.server.url("dropship"),
                timeout_s=10,
                max_in_flight=2,
                options={"password": PASSWORD, "host_key": supplier.server.host_key,
                         **STAND_IN_OPTIONS},
                state=MemoryState(),
            )
        )  # fmt: skip
        await adapter.start()
        try:
            await adapter.send_purchase_order(purchase_order("po_ok-1", lines=2))
            await supplier.tick()
            supplier.stock["TEA-001"] = 0  # sold out before the next PO (1 x TEA-001)
            await adapter.send_purchase_order(purchase_order("po_short-1", lines=1))
            await supplier.tick()
            batch = await adapter.collect_reports()
            await adapter.confirm_reports(batch.receipt)
        finally:
            await adapter.close()

    assert [po.po_id for po in supplier.received] == ["po_ok-1", "po_short-1"]
    assert supplier.received[0].lines == [("TEA-001", 1), ("TEA-002", 2)]
    acknowledged = [r for r in batch.reports if isinstance(r, PoAcknowledged)]
    assert [(r.po_id, bool(r.supplier_ref)) for r in acknowledged] == [("po_ok-1", True)]
    assert [r for r in batch.reports if isinstance(r, PoRefused)] == [
        PoRefused(po_id="po_short-1", reason="out_of_stock")
    ]
    parcels = [r for r in batch.reports if isinstance(r, PoShipment)]
    assert sorted(p.lines for p in parcels) == [(("TEA-001", 1),), (("TEA-002", 2),)]
    assert len({p.tracking_number for p in parcels}) == 2
    assert batch.problems == ()
