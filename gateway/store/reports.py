"""Recording what a reporting supplier adapter collected (answer files, a queue): each report
is applied on its own, so one that cannot be used becomes a problem and the rest still count."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

import msgspec

from gateway.domain.masking import mask_text
from gateway.domain.model import NewEvent, ShipmentLine, alert_event
from gateway.domain.validation import ValidationFailed
from gateway.plugin_api.adapters import (
    PoAcknowledged,
    PoRefused,
    PoShipment,
    ReportProblem,
    SupplierReport,
)
from gateway.store import events
from gateway.store.db import Database, Tx
from gateway.store.purchase_orders import MarkAccepted, MarkRejected, apply_outcomes, ship_to_in
from gateway.store.shipments import ShipmentConflict, UnknownPurchaseOrder, apply_shipment


class ReportsRecorded(msgspec.Struct, frozen=True):
    applied: int  # reports that changed something
    unchanged: int  # reports already known (a batch collected again after a restart)
    problems: list[ReportProblem]  # what the adapter found unusable, and reports that failed


def _apply(tx: Tx, supplier_id: str, report: SupplierReport, now: datetime) -> bool:
    match report:
        case PoAcknowledged(po_id=po_id, supplier_ref=ref):
            _check_owner(tx, supplier_id, po_id)
            return apply_outcomes(tx, [MarkAccepted(po_id, ref)], now)[0]
        case PoRefused(po_id=po_id, reason=reason, message=message):
            _check_owner(tx, supplier_id, po_id)
            # The supplier's own words may quote the customer: masked knowing who (issue 6).
            message = mask_text(message, known=ship_to_in(tx, po_id))
            return apply_outcomes(tx, [MarkRejected(po_id, reason, message)], now)[0]
        case PoShipment():
            lines = tuple(ShipmentLine(sku=sku, quantity=qty) for sku, qty in report.lines)
            recorded = apply_shipment(
                tx,
                supplier_id,
                report.po_id,
                report.carrier,
                report.tracking_number,
                report.shipped_at or now,
                lines,
                now,
            )
            return not recorded.duplicate


def _check_owner(tx: Tx, supplier_id: str, po_id: str) -> None:
    row = tx.fetchone("SELECT supplier_id FROM purchase_orders WHERE po_id = ?", (po_id,))
    if row is None or row[0] != supplier_id:
        raise UnknownPurchaseOrder(f"no purchase order {po_id!r} for supplier {supplier_id!r}")


def _why(error: Exception) -> str:
    if isinstance(error, ValidationFailed):
        return "; ".join(f"{p.json_path()}: {p.message}" for p in error.problems)
    return str(error)


def apply_reports(
    tx: Tx,
    supplier_id: str,
    reports: Sequence[SupplierReport],
    problems: Sequence[ReportProblem],
    now: datetime,
) -> ReportsRecorded:
    applied = unchanged = 0
    found = list(problems)
    for report in reports:
        tx.execute("SAVEPOINT report")
        try:
            changed = _apply(tx, supplier_id, report, now)
        except (UnknownPurchaseOrder, ShipmentConflict, ValidationFailed) as error:
            tx.execute("ROLLBACK TO report")
            found.append(ReportProblem(source="report", message=_why(error), po_id=report.po_id))
        else:
            applied += changed
            unchanged += not changed
        tx.execute("RELEASE report")
    for problem in found:
        order_id = _order_of(tx.conn, problem.po_id)
        data = {
            "source": problem.source,
            "line": problem.line,
            "column": problem.column,
            "message": problem.message,
            "po_id": problem.po_id,
        }
        events.append(
            tx,
            now,
            [
                NewEvent(
                    type="supplier.report_problem",
                    order_id=order_id,
                    po_id=problem.po_id if order_id else None,
                    supplier_id=supplier_id,
                    data=data,
                )
            ],
        )
    if found:
        message = f"supplier {supplier_id} sent {len(found)} report(s) that could not be used"
        events.append(
            tx,
            now,
            [
                alert_event(
                    "supplier_report_problem", "warning", message, {"supplier_id": supplier_id}
                )
            ],
        )
    return ReportsRecorded(applied, unchanged, found)


def _order_of(conn: sqlite3.Connection, po_id: str | None) -> str | None:
    if not po_id:
        return None
    row = conn.execute("SELECT order_id FROM purchase_orders WHERE po_id = ?", (po_id,)).fetchone()
    return None if row is None else str(row[0])


async def record_reports(
    db: Database,
    supplier_id: str,
    reports: Sequence[SupplierReport],
    problems: Sequence[ReportProblem],
    now: datetime,
) -> ReportsRecorded:
    return await db.write(lambda tx: apply_reports(tx, supplier_id, reports, problems, now))
