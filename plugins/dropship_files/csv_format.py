"""The files themselves: a PO as CSV, and the supplier's acknowledgement and shipment files read
into reports. No I/O here: bytes in, bytes or reports out.

A bad row never spoils the file: it becomes a `ReportProblem` naming the file, the line, the
column and why, and the other rows still count.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from decimal import Decimal

import msgspec

from dropship_files.options import (
    ACK_FIELDS,
    ACK_REQUIRED,
    SHIPMENT_FIELDS,
    SHIPMENT_REQUIRED,
    FileExchangeOptions,
)
from gateway.plugin_api import (
    PoAcknowledged,
    PoRefused,
    PoShipment,
    PurchaseOrderRequest,
    ReportProblem,
    SupplierReport,
)

# -- purchase orders out ----------------------------------------------------------------------


def po_file_name(options: FileExchangeOptions, po: PurchaseOrderRequest) -> str:
    """The PO's file name from `po_file_name`; characters a file system may refuse become `_`."""
    name = options.po_file_name.format(
        po_id=po.po_id,
        order_external_id=po.order_external_id,
        supplier_id=po.supplier_id,
        created=po.created_at.astimezone(options.tz()).strftime("%Y%m%d%H%M%S"),
    )
    return "".join("_" if c in '/\\:*?"<>|' or ord(c) < 32 else c for c in name)


class Unencodable(ValueError):
    """A value of the PO has characters the supplier's encoding cannot write."""

    def __init__(self, column: str, encoding: str) -> None:
        super().__init__(f"column {column!r} has characters {encoding} cannot write")
        self.column = column


def po_file(options: FileExchangeOptions, po: PurchaseOrderRequest) -> bytes:
    """The PO as CSV: a header row, then one row per PO line with the PO's fields repeated.

    Raises Unencodable when a value cannot be written in the configured encoding (a rare
    character in a name, in GBK): better refused than written as question marks."""
    columns = options.columns()
    tz = options.tz()
    rows: list[list[str]] = [[column.title for column in columns]]
    for line in po.lines:
        total = line.unit_cost * line.quantity if line.unit_cost is not None else None
        ship_to = po.ship_to
        values: dict[str, object] = {
            "po_id": po.po_id,
            "order_id": po.order_id,
            "order_external_id": po.order_external_id,
            "supplier_id": po.supplier_id,
            "created_at": _time(po.created_at, tz),
            "order_created_at": _time(po.order_created_at, tz),
            "priority": po.priority,
            "currency": po.currency,
            "line_id": line.line_id,
            "sku": line.sku,
            "quantity": line.quantity,
            "unit_cost": line.unit_cost,
            "line_total": total,
            "ship_to.full_address": " ".join(
                part
                for part in (
                    ship_to.province,
                    ship_to.city,
                    ship_to.district,
                    ship_to.address1,
                    ship_to.address2,
                )
                if part
            ),
        }
        for field in msgspec.structs.fields(ship_to):
            values[f"ship_to.{field.name}"] = getattr(ship_to, field.name)
        rows.append([_cell(values[column.field]) for column in columns])
    for row in rows:  # name the column, and never the value: it may be a person's name
        for column, cell in zip(columns, row, strict=True):
            try:
                cell.encode(options.encoding)
            except UnicodeEncodeError:
                raise Unencodable(column.title, options.encoding) from None
    text = io.StringIO()
    csv.writer(text, delimiter=options.delimiter, lineterminator="\r\n").writerows(rows)
    return text.getvalue().encode(options.encoding)


def _time(moment: datetime | None, tz: timezone) -> str | None:
    return moment.astimezone(tz).isoformat(timespec="seconds") if moment else None


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


# -- answers in -------------------------------------------------------------------------------


class ParsedFile(msgspec.Struct, kw_only=True, frozen=True):
    reports: tuple[SupplierReport, ...] = ()
    problems: tuple[ReportProblem, ...] = ()


class _Row(msgspec.Struct, kw_only=True):
    line: int
    values: dict[str, str]  # field -> text, stripped; absent columns are ""


class _Problems:
    """The problems of one file, each naming the file, and the line and column when known."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.found: list[ReportProblem] = []

    def add(
        self,
        message: str,
        line: int | None = None,
        column: str | None = None,
        po_id: str | None = None,
    ) -> None:
        self.found.append(
            ReportProblem(
                source=self.source, message=message, line=line, column=column, po_id=po_id or None
            )
        )


def _rows(
    data: bytes,
    options: FileExchangeOptions,
    problems: _Problems,
    fields: tuple[str, ...],
    required: tuple[str, ...],
    header_of: Callable[[str], str],
) -> Iterator[_Row]:
    """The file's data rows by field, with the line each starts on (the header is line 1).

    Bytes the encoding cannot read are kept as escapes and reported against their cell, so one
    mangled name costs one row, not the file."""
    text = data.decode(options.read_encoding(), errors="surrogateescape")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=options.delimiter, strict=True)
    try:
        header = next(reader, None)
    except csv.Error as error:
        problems.add(f"unreadable header: {error}", line=1)
        return
    if header is None:
        problems.add("empty file: no header row", line=1)
        return
    titles = [title.strip() for title in header]
    index_of = {
        field: titles.index(header_of(field)) for field in fields if header_of(field) in titles
    }
    missing = [header_of(field) for field in required if field not in index_of]
    if missing:
        problems.add(
            f"missing column {', '.join(missing)} (the header row has: {', '.join(titles)})",
            line=1,
        )
        return
    line = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:  # an unclosed quote: the rest of the file is one bad row
            problems.add(f"not valid CSV: {error}", line=line)
            return
        row_line, line = line, reader.line_num + 1
        if not any(cell.strip() for cell in cells):
            continue  # blank lines, and the empty rows spreadsheets leave at the end
        values: dict[str, str] = {}
        unreadable = False
        for field, index in index_of.items():
            cell = cells[index].strip() if index < len(cells) else ""
            if _has_escapes(cell):
                problems.add(
                    f"bytes that are not valid {options.encoding} text",
                    line=row_line,
                    column=header_of(field),
                )
                unreadable = True
            values[field] = cell
        if not unreadable:
            yield _Row(line=row_line, values=values)


def _has_escapes(text: str) -> bool:
    return any("\udc80" <= char <= "\udcff" for char in text)


def parse_ack_file(source: str, data: bytes, options: FileExchangeOptions) -> ParsedFile:
    """Rows `po_id,status[,supplier_ref,reason,message]`: one acceptance or refusal each."""
    problems = _Problems(source)
    accepted = {value.casefold() for value in options.accepted_values}
    rejected = {value.casefold() for value in options.rejected_values}
    reports: list[SupplierReport] = []
    for row in _rows(data, options, problems, ACK_FIELDS, ACK_REQUIRED, options.ack_header):
        po_id, status = row.values["po_id"], row.values["status"]
        if not po_id:
            problems.add("empty PO number", line=row.line, column=options.ack_header("po_id"))
            continue
        if status.casefold() in accepted:
            reports.append(
                PoAcknowledged(po_id=po_id, supplier_ref=row.values.get("supplier_ref") or None)
            )
        elif status.casefold() in rejected:
            reason = row.values.get("reason", "")
            reports.append(
                PoRefused(
                    po_id=po_id,
                    reason=options.reason_map.get(reason, reason) or "rejected",
                    message=row.values.get("message", ""),
                )
            )
        else:
            known = ", ".join([*options.accepted_values, *options.rejected_values])
            problems.add(
                f"unknown status {status!r} (expected one of: {known})"
                if status
                else f"empty status (expected one of: {known})",
                line=row.line,
                column=options.ack_header("status"),
                po_id=po_id,
            )
    return ParsedFile(reports=tuple(reports), problems=tuple(problems.found))


class _Parcel(msgspec.Struct, kw_only=True):
    po_id: str
    carrier: str
    tracking_number: str
    shipped_at: datetime | None
    lines: dict[str, int]  # sku -> quantity, in file order
    whole_po: bool  # a row without SKU: everything left on the PO
    first_line: int


def parse_shipment_file(source: str, data: bytes, options: FileExchangeOptions) -> ParsedFile:
    """Rows `po_id,carrier,tracking_number[,shipped_at,sku,quantity]`. The rows of one parcel
    (same PO and tracking number) become one shipment; a row without SKU ships all that is left."""
    problems = _Problems(source)
    header = options.shipment_header
    parcels: dict[tuple[str, str], _Parcel] = {}
    tz = options.tz()
    for row in _rows(data, options, problems, SHIPMENT_FIELDS, SHIPMENT_REQUIRED, header):
        values = row.values
        po_id = values["po_id"]
        bad = False
        for field in SHIPMENT_REQUIRED:
            if not values[field]:
                problems.add(f"empty {field}", line=row.line, column=header(field), po_id=po_id)
                bad = True
        shipped_at: datetime | None = None
        if values.get("shipped_at"):
            try:
                shipped_at = _read_time(values["shipped_at"], tz)
            except ValueError:
                problems.add(
                    f"not a date and time: {values['shipped_at']!r} (2026-11-23 14:05:00)",
                    line=row.line,
                    column=header("shipped_at"),
                    po_id=po_id,
                )
                bad = True
        sku, quantity_text = values.get("sku", ""), values.get("quantity", "")
        quantity = 0
        if sku:
            if not quantity_text.isdigit() or int(quantity_text) <= 0:
                problems.add(
                    f"quantity must be a whole number above 0, not {quantity_text!r}",
                    line=row.line,
                    column=header("quantity"),
                    po_id=po_id,
                )
                bad = True
            else:
                quantity = int(quantity_text)
        elif quantity_text:
            problems.add(
                "a quantity without a SKU", line=row.line, column=header("sku"), po_id=po_id
            )
            bad = True
        if bad:
            continue
        key = (po_id, values["tracking_number"])
        parcel = parcels.get(key)
        if parcel is None:
            parcel = parcels[key] = _Parcel(
                po_id=po_id,
                carrier=values["carrier"],
                tracking_number=values["tracking_number"],
                shipped_at=shipped_at,
                lines={},
                whole_po=not sku,
                first_line=row.line,
            )
        elif parcel.whole_po or not sku:
            problems.add(
                f"parcel {values['tracking_number']} was listed on line {parcel.first_line} "
                "without SKUs (all that was left); it cannot also list SKUs",
                line=row.line,
                column=header("sku"),
                po_id=po_id,
            )
            continue
        if sku:
            parcel.lines[sku] = parcel.lines.get(sku, 0) + quantity
    reports: list[SupplierReport] = [
        PoShipment(
            po_id=parcel.po_id,
            carrier=parcel.carrier,
            tracking_number=parcel.tracking_number,
            shipped_at=parcel.shipped_at,
            lines=tuple(parcel.lines.items()),
        )
        for parcel in parcels.values()
    ]
    return ParsedFile(reports=tuple(reports), problems=tuple(problems.found))


def _read_time(text: str, tz: timezone) -> datetime:
    """ISO 8601, or the `2026-11-23 14:05` and `2026/11/23 14:05:00` spreadsheets write; a time
    without an offset is in `time_offset`. A date alone is midnight."""
    moment = datetime.fromisoformat(text.replace("/", "-"))
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)
