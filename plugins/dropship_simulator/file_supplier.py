"""A supplier that trades CSV files over SFTP, simulated: the stand-in for `file_exchange`
suppliers in the demo and the end-to-end tests (service ``file_supplier``).

It serves a folder over SFTP (`SftpServer`), and behaves as a small supplier's back office
does: it takes the PO files that land in ``purchase_orders/`` (moving them to
``purchase_orders/taken/``), decides per PO (it knows its goods and its stock), and later drops
acknowledgement and shipment files in ``replies/``, written under a hidden name and renamed, in
its own encoding and with its own (Chinese) headers and words. Orders of several lines leave as
one parcel per line, so split shipments happen.

Options::

    id = "sup-files"
    port = 9122                        # 0: any free port
    folder = "var/demo/sftp/root"      # what it serves
    username = "dropship"
    password = "demo-sftp"
    known_hosts_file = "var/demo/sftp/known_hosts"   # written at start: the line that trusts it
    host_key_file = "var/demo/sftp/host_key"         # kept, so the trust survives restarts
    encoding = "gbk"
    stock = { "SILK-007" = 500 }       # what it carries; other SKUs are refused (无此商品)
    accept_after_s = [1, 3]
    ship_after_s = [4, 10]
    poll_s = 1.0
    seed = 7

Its column names are those of `file_exchange`'s README example: 采购单号, 商品编码, 数量 in, and
采购单号, 状态, 供应商单号, 原因 / 快递公司, 运单号, 发货时间 out.
"""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import os
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import msgspec

from dropship_simulator.sftp_server import SftpServer
from dropship_simulator.supplier_server import Span, SpanLike
from gateway.plugin_api.adapters import ServiceContext

PO_HEADERS = {"po_id": "采购单号", "sku": "商品编码", "quantity": "数量"}
ACK_HEADERS = ["采购单号", "状态", "供应商单号", "原因"]
SHIP_HEADERS = ["采购单号", "快递公司", "运单号", "发货时间", "商品编码", "数量"]
ACCEPTED, REJECTED = "接单", "拒单"
NO_STOCK, NO_SUCH_GOODS = "缺货", "无此商品"
CARRIERS = ("顺丰速运", "中通快递", "圆通速递", "京东物流")
_BEIJING = timezone(timedelta(hours=8))


class FileSupplierOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: str
    host: str = "127.0.0.1"
    port: int = 0
    folder: str
    username: str = "dropship"
    password: str
    known_hosts_file: str | None = None
    host_key_file: str | None = None
    encoding: str = "gbk"
    stock: dict[str, int] = {}
    accept_after_s: float | list[float] = 0.0
    ship_after_s: float | list[float] | None = 0.0  # None: never ships
    poll_s: float = 1.0
    seed: int | None = None


@dataclass
class ReceivedPurchaseOrder:
    po_id: str
    lines: list[tuple[str, int]]
    file: str


@dataclass(order=True)
class _Due:
    at: float
    number: int
    kind: str = field(compare=False)  # "ack" or "ship"
    rows: list[list[str]] = field(compare=False)


class FileSupplierSimulator:
    """The back office behind the folder. `await sim.tick()` does one round of work (take new
    PO files, write what is due); `run` does it every `poll_s` until cancelled."""

    def __init__(
        self,
        folder: Path,
        *,
        username: str = "dropship",
        password: str,
        host: str = "127.0.0.1",
        port: int = 0,
        host_key_file: Path | None = None,
        encoding: str = "gbk",
        stock: dict[str, int] | None = None,
        accept_after_s: SpanLike = 0.0,
        ship_after_s: SpanLike | None = 0.0,
        seed: int | None = None,
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        self.server = SftpServer(
            folder, users={username: password}, host=host, port=port, host_key_file=host_key_file
        )
        self.folder = folder
        self.encoding = encoding
        self.stock = dict(stock or {})
        self._accept_after = Span.of(accept_after_s)
        self._ship_after = Span.of(ship_after_s) if ship_after_s is not None else None
        self._rng = random.Random(seed)
        self._monotonic = monotonic or asyncio.get_running_loop().time
        self._due: list[_Due] = []
        self._numbers = itertools.count(1)
        self._refs = itertools.count(1)
        self.received: list[ReceivedPurchaseOrder] = []
        self.files_written: list[str] = []
        self.malformed_next = 0  # the next shipment file gets this many unreadable rows
        self.ships = ship_after_s is not None  # False: acknowledges, never ships

    async def __aenter__(self) -> FileSupplierSimulator:
        await self.server.start()
        for sub in ("purchase_orders/taken", "replies"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.server.stop()

    async def tick(self) -> None:
        """Take the PO files that landed; write the answers that are due."""
        await asyncio.to_thread(self._take_new_files)
        now = self._monotonic()
        due = sorted(d for d in self._due if d.at <= now)
        self._due = [d for d in self._due if d.at > now]
        for kind in ("ack", "ship"):
            rows = [row for d in due if d.kind == kind for row in d.rows]
            if rows:
                await asyncio.to_thread(self._write_answer, kind, rows)

    async def run(self, sleep: Callable[[float], Awaitable[None]], poll_s: float) -> None:
        while True:
            await self.tick()
            await sleep(poll_s)

    # -- the back office ----------------------------------------------------------------------

    def _take_new_files(self) -> None:
        inbox = self.folder / "purchase_orders"
        for path in sorted(inbox.glob("*.csv")):
            if path.name.startswith("."):
                continue  # still being written
            po = self._read_po(path)
            os.replace(path, inbox / "taken" / path.name)
            if po is not None:
                self.received.append(po)
                self._decide(po)

    def _read_po(self, path: Path) -> ReceivedPurchaseOrder | None:
        text = path.read_bytes().decode(self.encoding, errors="replace")
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
        try:
            po_id = rows[0][PO_HEADERS["po_id"]]
            lines = [(r[PO_HEADERS["sku"]], int(r[PO_HEADERS["quantity"]])) for r in rows]
        except (IndexError, KeyError, ValueError):
            return None  # a file it cannot read: a real back office would phone; this one waits
        return ReceivedPurchaseOrder(po_id=po_id, lines=lines, file=path.name)

    def _decide(self, po: ReceivedPurchaseOrder) -> None:
        now = self._monotonic()
        reason = ""
        for sku, quantity in po.lines:
            if sku not in self.stock:
                reason = NO_SUCH_GOODS
            elif self.stock[sku] < quantity and not reason:
                reason = NO_STOCK
        accept_at = now + self._accept_after.draw(self._rng)
        if reason:
            self._schedule(accept_at, "ack", [[po.po_id, REJECTED, "", reason]])
            return
        for sku, quantity in po.lines:
            self.stock[sku] -= quantity
        ref = f"FX{next(self._refs):06d}"
        self._schedule(accept_at, "ack", [[po.po_id, ACCEPTED, ref, ""]])
        if self._ship_after is None or not self.ships:
            return
        for sku, quantity in po.lines:  # one parcel per line: split shipments
            ship_at = max(accept_at, now + self._ship_after.draw(self._rng))
            tracking = f"{self._rng.randrange(10**11, 10**12)}"
            carrier = self._rng.choice(CARRIERS)
            shipped = datetime.now(UTC).astimezone(_BEIJING).strftime("%Y-%m-%d %H:%M:%S")
            self._schedule(
                ship_at, "ship", [[po.po_id, carrier, tracking, shipped, sku, str(quantity)]]
            )

    def _schedule(self, at: float, kind: str, rows: list[list[str]]) -> None:
        self._due.append(_Due(at=at, number=next(self._numbers), kind=kind, rows=rows))

    def _write_answer(self, kind: str, rows: list[list[str]]) -> None:
        if kind == "ship" and self.malformed_next:
            bad = [[rows[0][0], "顺丰速运", "", "昨天", "", "两件"]] * self.malformed_next
            rows = [rows[0], *bad, *rows[1:]]
            self.malformed_next = 0
        stamp = datetime.now(_BEIJING).strftime("%Y%m%d%H%M%S")
        name = f"{'ACK' if kind == 'ack' else 'SHIP'}_{stamp}_{next(self._numbers):05d}.csv"
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow(ACK_HEADERS if kind == "ack" else SHIP_HEADERS)
        writer.writerows(rows)
        replies = self.folder / "replies"
        hidden = replies / f".{name}.part"
        hidden.write_bytes(text.getvalue().encode(self.encoding))
        os.replace(hidden, replies / name)  # never half a file under a name they read
        self.files_written.append(name)


class FileSupplier:
    """Service ``file_supplier``: a `FileSupplierSimulator` for the demo, until cancelled."""

    def __init__(self) -> None:
        self.simulator: FileSupplierSimulator | None = None
        self.ready = asyncio.Event()

    async def run(self, ctx: ServiceContext) -> None:
        options = msgspec.convert(ctx.options, FileSupplierOptions)
        simulator = FileSupplierSimulator(
            Path(options.folder),
            username=options.username,
            password=options.password,
            host=options.host,
            port=options.port,
            host_key_file=Path(options.host_key_file) if options.host_key_file else None,
            encoding=options.encoding,
            stock=options.stock,
            accept_after_s=options.accept_after_s,
            ship_after_s=options.ship_after_s,
            seed=options.seed,
            monotonic=ctx.clock.monotonic,
        )
        async with simulator:
            if options.known_hosts_file:
                _write_known_hosts(Path(options.known_hosts_file), simulator.server)
            self.simulator = simulator
            self.ready.set()
            ctx.log.info(
                "file_supplier.running",
                supplier=options.id,
                url=simulator.server.url(options.username),
            )
            try:
                await simulator.run(ctx.clock.sleep, options.poll_s)
            finally:
                self.ready.clear()
                self.simulator = None


def _write_known_hosts(path: Path, server: SftpServer) -> None:
    """The line a gateway's `known_hosts` option points at, to trust this server."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(server.known_hosts_line(), encoding="utf-8")


__all__ = ["FileSupplier", "FileSupplierSimulator"]
