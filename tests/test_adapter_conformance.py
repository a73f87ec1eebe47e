"""The conformance kit (gateway.testing) run against the first-party `file_exchange` and
`mapped_json` adapters, each against a counterpart that speaks its supplier's dialect: a real
SFTP server whose folder is scripted, and the open-platform API that `mapped_json` is
configured for. Rules a dialect cannot express (a file drop has no 'busy') are reported as not
applicable, with the reason."""

from __future__ import annotations

import csv
import io
import itertools
import os
import tempfile
from pathlib import Path
from typing import Any, ClassVar

import pytest

from dropship_files import FileExchangeSupplier
from dropship_mapped import MappedJsonSupplier
from dropship_simulator.open_platform import open_platform_mapping
from dropship_simulator.sftp_server import SftpServer
from gateway.plugin_api import PoAcknowledged, PoRefused, PoShipment
from gateway.testing import (
    AlreadyHave,
    Answer,
    Busy,
    CannotExpress,
    Hangup,
    HttpAnswer,
    HttpCounterpart,
    HttpRequest,
    Malformed,
    NoAnswer,
    NotAllowed,
    Operation,
    ReceivedPo,
    Refuse,
    Report,
    Route,
    SupplierUnderTest,
    Take,
    supplier_contract_tests,
)

# -- file_exchange against an SFTP folder --------------------------------------------------------

PASSWORD = "kit-password"


class SftpFolderCounterpart:
    """A file-exchange supplier for the kit: a real SFTP server over a temporary folder. POs
    are the files that land in `purchase_orders/`; reports are files it drops in `replies/`."""

    def __init__(self) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._server: SftpServer | None = None
        self._numbers = itertools.count(1)

    @property
    def server(self) -> SftpServer:
        assert self._server is not None, "counterpart not started"
        return self._server

    async def start(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="kit-sftp-")
        self._server = SftpServer(Path(self._tmp.name), users={"kit": PASSWORD})
        await self._server.start()

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def url(self) -> str:
        return self.server.url("kit")

    def options(self) -> dict[str, Any]:
        return {"password": PASSWORD, "host_key": self.server.host_key}

    def script(self, operation: Operation, po_id: str | None, answer: Answer) -> None:
        if operation != Operation.SEND:
            raise CannotExpress("a file drop takes POs only")
        match answer:
            case Take(supplier_ref=None):
                return  # the file lands: that is all a folder says
            case NotAllowed():
                self.server.refuse_logins = True
            case NoAnswer():
                self.server.hold_renames_after(0)
            case Hangup():
                self.server.hang_up_at_next_rename()
            case Busy() | AlreadyHave() | Refuse():
                raise CannotExpress("a folder answers nothing when a file lands")
            case _:
                raise CannotExpress(f"a folder cannot say {type(answer).__name__}")

    def publish(self, report: Report) -> None:
        number = next(self._numbers)
        match report:
            case PoAcknowledged(po_id=po_id, supplier_ref=ref):
                self._drop(f"ACK_{number:04d}.csv", [["po_id", "status", "supplier_ref"],
                                                     [po_id, "accepted", ref or ""]])  # fmt: skip
            case PoRefused(po_id=po_id, reason=reason, message=message):
                self._drop(
                    f"ACK_{number:04d}.csv",
                    [
                        ["po_id", "status", "reason", "message"],
                        [po_id, "rejected", reason, message],
                    ],
                )
            case PoShipment():
                rows = [["po_id", "carrier", "tracking_number", "shipped_at", "sku", "quantity"]]
                shipped = report.shipped_at.isoformat() if report.shipped_at else ""
                for sku, quantity in report.lines or (("", 0),):
                    rows.append([report.po_id, report.carrier, report.tracking_number, shipped,
                                 sku, str(quantity) if sku else ""])  # fmt: skip
                self._drop(f"SHIP_{number:04d}.csv", rows)
            case Malformed(po_id=po_id):
                self._drop(f"ACK_{number:04d}.csv", [["po_id", "status"], [po_id or "", "???"]])

    def _drop(self, name: str, rows: list[list[str]]) -> None:
        """Write as a careful supplier does: a hidden name first, then the real one."""
        folder = self.server.root / "replies"
        folder.mkdir(parents=True, exist_ok=True)
        text = io.StringIO()
        csv.writer(text, lineterminator="\r\n").writerows(rows)
        hidden = folder / f".{name}.part"
        hidden.write_text(text.getvalue(), encoding="utf-8")
        os.replace(hidden, folder / name)

    def received(self) -> list[ReceivedPo]:
        found: list[ReceivedPo] = []
        for path, content in self.server.renamed_contents:
            if not path.startswith("/purchase_orders/"):
                continue
            rows = list(csv.DictReader(io.StringIO(content.decode("utf-8"))))
            if rows:
                found.append(
                    ReceivedPo(
                        po_id=rows[0]["po_id"],
                        idempotency_key=rows[0]["po_id"],  # the supplier dedups on the PO number
                        lines=tuple((row["sku"], int(row["quantity"])) for row in rows),
                    )
                )
        return found

    def cancelled(self) -> list[str]:
        return []

    async def wait_for_call(self, operation: Operation, count: int = 1) -> None:
        server = self.server
        await server.wait_until(lambda: len(server.renamed) + server.held_renames >= count)


@pytest.fixture
def file_exchange_under_test() -> SupplierUnderTest:
    return SupplierUnderTest(factory=FileExchangeSupplier, counterpart=SftpFolderCounterpart())


test_file_exchange_keeps_the_supplier_contract = supplier_contract_tests("file_exchange_under_test")


# -- mapped_json against the open platform ------------------------------------------------------

_CODES = {"out_of_stock": "E2001", "unknown_sku": "E2002", "bad_address": "E2003"}


class OpenPlatformCounterpart(HttpCounterpart):
    """The open platform's dialect: one endpoint, business codes inside HTTP 200."""

    routes: ClassVar[tuple[Route, ...]] = (Route("POST", "/open/api/trade/create", Operation.SEND),)

    def read_purchase_order(self, request: HttpRequest) -> ReceivedPo:
        body = request.json()
        return ReceivedPo(
            po_id=str(body["out_trade_no"]),
            idempotency_key=str(body["out_trade_no"]),  # what the platform deduplicates on
            lines=tuple((str(item["goods_no"]), int(item["qty"])) for item in body["items"]),
        )

    def render(self, operation: Operation, answer: Answer, po_id: str | None) -> HttpAnswer:
        match operation, answer:
            case Operation.SEND, Take(supplier_ref=ref):
                data = {"data": {"trade_no": ref}} if ref else {}
                return HttpAnswer(200, {"flag": "success", "code": "0", "message": "", **data})
            case Operation.SEND, AlreadyHave(supplier_ref=ref):
                data = {"data": {"trade_no": ref}} if ref else {}
                return HttpAnswer(200, {"flag": "failure", "code": "E3001", **data})
            case Operation.SEND, Refuse(reason=reason, message=message) if reason in _CODES:
                return HttpAnswer(
                    200, {"flag": "failure", "code": _CODES[reason], "message": message}
                )
            case Operation.SEND, Busy(retry_after_s=None):
                return HttpAnswer(200, {"flag": "failure", "code": "E9001", "message": "系统繁忙"})
            case Operation.SEND, Busy(retry_after_s=seconds):
                return HttpAnswer(429, {"message": "limit"}, {"Retry-After": f"{seconds:.0f}"})
            case Operation.SEND, NotAllowed():
                return HttpAnswer(200, {"flag": "failure", "code": "E1001", "message": "签名错误"})
        raise CannotExpress(f"the platform has no answer {type(answer).__name__} to {operation}")


@pytest.fixture
def mapped_json_under_test() -> SupplierUnderTest:
    return SupplierUnderTest(
        factory=MappedJsonSupplier,
        counterpart=OpenPlatformCounterpart(),
        options=open_platform_mapping("kit-secret"),
    )


test_mapped_json_keeps_the_supplier_contract = supplier_contract_tests("mapped_json_under_test")
