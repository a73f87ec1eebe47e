"""The `file_exchange` supplier adapter: POs as CSV files in the supplier's SFTP folder, answers
as CSV files picked up from it (plugin API 2: `Submitted`, then `collect_reports`).

Exactly once, across restarts:
- a PO file is written under a temporary name and renamed, and remembered in the plugin's
  durable state once renamed, so a retry of a delivered PO writes nothing twice;
- an answer file stays in the reply folder until the gateway has recorded what it said
  (`confirm_reports`); the adapter then notes the batch in its state before moving the files to
  `processed/`, so a restart halfway through the moves finishes them and reports none of those
  files again.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
import structlog

from dropship_files.csv_format import (
    ParsedFile,
    Unencodable,
    parse_ack_file,
    parse_shipment_file,
    po_file,
    po_file_name,
)
from dropship_files.options import parse_options
from dropship_files.sftp import Entry, SftpFolder, SftpLocation
from gateway.plugin_api import (
    PoAcknowledged,
    PoRefused,
    PurchaseOrderReport,
    PurchaseOrderRequest,
    ReportBatch,
    ReportProblem,
    StockLevel,
    Submitted,
    SupplierContext,
    SupplierFailed,
    SupplierRejected,
    SupplierReport,
)

# Durable state keys (PluginState, per supplier).
_SENT = "po:"  # po:<po_id> -> the PO's file name, once it is in the supplier's folder
_MOVING = "moving"  # the files of a recorded batch, while they are moved to processed/


class TakenFile(msgspec.Struct, frozen=True, array_like=True):
    """An answer file handed to the gateway, as it was when read (a file of the same name
    written later is another file)."""

    name: str
    size: int
    mtime: float


class Receipt(msgspec.Struct, frozen=True, kw_only=True):
    files: tuple[TakenFile, ...]
    answered: tuple[str, ...]  # po_ids acknowledged or refused: their PO files are done with


class FileExchangeSupplier:
    """A `ReportingSupplierAdapter`. One instance per supplier actor incarnation."""

    def __init__(self, ctx: SupplierContext) -> None:
        self._ctx = ctx
        self.options = parse_options(ctx.options)
        self.location = SftpLocation(ctx.url)
        self._folder = SftpFolder(self.location, self.options, ctx.timeout_s)
        self._state = ctx.state
        self._log = ctx.log or structlog.get_logger("dropship_files")

    async def start(self) -> None:
        if self.options.insecure_skip_host_key_check:
            self._log.warning(
                "file_exchange.host_key_not_checked",
                host=self.location.host,
                hint="set host_key or known_hosts: anyone on the path can read the POs",
            )

    async def close(self) -> None:
        await self._folder.close()

    # -- purchase orders out --------------------------------------------------------------------

    def preview_purchase_order(self, po: PurchaseOrderRequest) -> str:
        """What `send_purchase_order` would write for `po` (for `run.py preview`)."""
        name = posixpath.join(self.options.po_folder, po_file_name(self.options, po))
        text = po_file(self.options, po).decode(self.options.encoding)
        return (
            f"file {self.location.path(name)} on {self.location.host}:{self.location.port}"
            f" ({self.options.encoding}, delimiter {self.options.delimiter!r})\n{text}"
        )

    async def send_purchase_order(self, po: PurchaseOrderRequest) -> Submitted:
        name = po_file_name(self.options, po)
        if self._state is not None and await self._state.get(_SENT + po.po_id) is not None:
            return Submitted()  # a retry of a PO whose file is already there: not twice
        try:
            data = po_file(self.options, po)
        except Unencodable as error:
            raise SupplierRejected(
                "unencodable", f"{error}; gb18030 can write every character"
            ) from None
        await self._folder.write_atomically(self.options.po_folder, name, data)
        if self._state is not None:
            await self._state.set(_SENT + po.po_id, name)
        return Submitted()

    async def cancel_purchase_order(self, po_id: str) -> None:
        raise SupplierFailed("not_supported", "file-exchange suppliers take no cancellations")

    async def fetch_purchase_order(self, po_id: str) -> PurchaseOrderReport | None:
        raise SupplierFailed("not_supported", "file-exchange suppliers answer with files")

    async def fetch_inventory(self) -> list[StockLevel]:
        raise SupplierFailed("not_supported", "file-exchange suppliers send no stock levels")

    # -- answers in -----------------------------------------------------------------------------

    async def collect_reports(self) -> ReportBatch:
        """The answer files waiting in the reply folder, oldest first, as reports and problems.
        Nothing moves until `confirm_reports`: a crash before it finds the same files again."""
        files = await self._folder.files(self.options.reply_folder)
        files = await self._finish_moving(files)
        taken: list[TakenFile] = []
        reports: list[SupplierReport] = []
        problems: list[ReportProblem] = []
        for entry in files:
            parse = self._parser_for(entry.name)
            if parse is None:
                continue
            if len(taken) == self.options.max_files_per_poll:
                break
            taken.append(TakenFile(entry.name, entry.size, entry.mtime))
            if entry.size > self.options.max_file_bytes:
                problems.append(
                    ReportProblem(
                        source=entry.name,
                        message=f"file of {entry.size} bytes is over max_file_bytes"
                        f" ({self.options.max_file_bytes}); not read",
                    )
                )
                continue
            data = await self._folder.read(self.options.reply_folder, entry.name)
            parsed = parse(entry.name, data)
            if not parsed.reports and not parsed.problems:
                # A header and nothing else ("no news today"): there is nothing to record, so
                # nothing to wait for; a gateway may not confirm an empty batch at all.
                taken.pop()
                await self._to_processed(entry.name)
                continue
            reports += parsed.reports
            problems += parsed.problems
        answered = tuple(
            sorted({r.po_id for r in reports if isinstance(r, PoAcknowledged | PoRefused)})
        )
        if taken:
            self._log.info(
                "file_exchange.collected",
                files=[t.name for t in taken],
                reports=len(reports),
                problems=len(problems),
            )
        return ReportBatch(
            reports=tuple(reports),
            problems=tuple(problems),
            receipt=Receipt(files=tuple(taken), answered=answered) if taken else None,
        )

    async def confirm_reports(self, receipt: Any) -> None:
        """The gateway recorded the batch: move its files to processed/, for good."""
        if not isinstance(receipt, Receipt):
            return
        if self._state is not None:
            await self._state.set(_MOVING, msgspec.json.encode(receipt.files).decode())
        for taken in receipt.files:
            await self._to_processed(taken.name)
        if self._state is not None:
            await self._state.delete(_MOVING)
            for po_id in receipt.answered:
                await self._state.delete(_SENT + po_id)

    def _parser_for(self, name: str) -> Callable[[str, bytes], ParsedFile] | None:
        if name.startswith("."):
            return None  # hidden: a file being written (ours are .NAME.part, many tools alike)
        options = self.options
        if fnmatch.fnmatchcase(name, options.ack_file_pattern):
            return lambda source, data: parse_ack_file(source, data, options)
        if fnmatch.fnmatchcase(name, options.shipment_file_pattern):
            return lambda source, data: parse_shipment_file(source, data, options)
        return None

    async def _finish_moving(self, files: list[Entry]) -> list[Entry]:
        """Files of a batch that was recorded but whose moves a crash cut short: move them now
        and leave them out of this batch."""
        if self._state is None:
            return files
        noted = await self._state.get(_MOVING)
        if noted is None:
            return files
        recorded = set(msgspec.json.decode(noted, type=list[TakenFile]))
        remaining: list[Entry] = []
        for entry in files:
            if TakenFile(entry.name, entry.size, entry.mtime) in recorded:
                await self._to_processed(entry.name)
            else:
                remaining.append(entry)
        await self._state.delete(_MOVING)
        return remaining

    async def _to_processed(self, name: str) -> None:
        target = name
        folder = self.options.processed_folder
        if await self._folder.exists(folder, target):
            # The supplier reused a file name: keep both, the later one with its time of arrival.
            stem, ext = posixpath.splitext(name)
            now = self._ctx.clock.now() if self._ctx.clock else datetime.now(UTC)
            stamp = now.strftime("%Y%m%dT%H%M%S%f")
            target = f"{stem}.{stamp}{ext}"
        await self._folder.move(self.options.reply_folder, name, folder, target)
