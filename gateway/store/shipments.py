"""Shipment notices: a supplier says part or all of a PO left its warehouse."""

from __future__ import annotations

from datetime import datetime

import msgspec

from gateway.domain.model import NewEvent, PoStatus, Shipment, ShipmentLine
from gateway.domain.notices import shipped_at_problems
from gateway.domain.validation import Problem, ValidationFailed
from gateway.store import events
from gateway.store.codec import encode, iso, new_id, parse_iso, po_lines_decoder
from gateway.store.db import Database, Tx


class UnknownPurchaseOrder(LookupError):
    """No such PO for this supplier."""


class ShipmentConflict(Exception):
    """The PO cannot take a shipment (it was cancelled)."""


class ShipmentRecorded(msgspec.Struct, frozen=True):
    shipment_id: str
    po_id: str
    order_id: str
    po_status: PoStatus
    duplicate: bool


def apply_shipment(
    tx: Tx,
    supplier_id: str,
    po_id: str,
    carrier: str,
    tracking_number: str,
    shipped_at: datetime,
    lines: tuple[ShipmentLine, ...],
    now: datetime,
) -> ShipmentRecorded:
    """Record a shipment of `lines` (all that is left when empty). Repeating the same
    notice (same PO, carrier and tracking number) changes nothing and says `duplicate`."""
    po = tx.fetchone(
        "SELECT order_id, supplier_id, status, lines, created_at FROM purchase_orders"
        " WHERE po_id = ?",
        (po_id,),
    )
    if po is None or po["supplier_id"] != supplier_id:
        raise UnknownPurchaseOrder(f"no purchase order {po_id!r} for supplier {supplier_id!r}")
    existing = tx.fetchone(
        "SELECT shipment_id FROM shipments WHERE po_id = ? AND carrier = ? AND tracking_number = ?",
        (po_id, carrier, tracking_number),
    )
    if existing is not None:
        return ShipmentRecorded(
            existing["shipment_id"], po_id, po["order_id"], PoStatus(po["status"]), True
        )
    if po["status"] == PoStatus.CANCELLED.value:
        raise ShipmentConflict(f"purchase order {po_id!r} was cancelled")
    when = shipped_at_problems(shipped_at, now, po_created_at=parse_iso(po["created_at"]))
    if when:
        raise ValidationFailed(when)

    po_lines = po_lines_decoder.decode(po["lines"])
    shipped = lines or tuple(
        ShipmentLine(sku=ln.sku, quantity=ln.quantity - ln.shipped_qty - ln.cancelled_qty)
        for ln in po_lines
        if ln.quantity > ln.shipped_qty + ln.cancelled_qty
    )
    problems: list[Problem] = []
    for index, item in enumerate(shipped):
        left = item.quantity
        for line in po_lines:
            if line.sku == item.sku and left > 0:
                take = min(left, line.quantity - line.shipped_qty - line.cancelled_qty)
                line.shipped_qty += take
                left -= take
        if not any(line.sku == item.sku for line in po_lines):
            problems.append(Problem(("lines", index, "sku"), f"{item.sku!r} is not on {po_id}"))
        elif left > 0:
            problems.append(
                Problem(
                    ("lines", index, "quantity"),
                    f"ships {left} more of {item.sku!r} than the PO has left to ship",
                )
            )
    if problems:
        raise ValidationFailed(problems)
    if not shipped:
        raise ValidationFailed([Problem(("lines",), "nothing is left to ship on this PO")])

    complete = all(line.shipped_qty + line.cancelled_qty >= line.quantity for line in po_lines)
    status = PoStatus.SHIPPED if complete else PoStatus.PARTIALLY_SHIPPED
    shipment = Shipment(
        shipment_id=new_id("shp"),
        po_id=po_id,
        carrier=carrier,
        tracking_number=tracking_number,
        shipped_at=shipped_at,
        lines=shipped,
    )
    tx.execute(
        "INSERT INTO shipments (shipment_id, po_id, carrier, tracking_number, shipped_at,"
        " lines, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            shipment.shipment_id,
            po_id,
            carrier,
            tracking_number,
            iso(shipped_at),
            encode(shipped),
            iso(now),
        ),
    )
    tx.execute(
        "UPDATE purchase_orders SET status = ?, lines = ?, updated_at = ? WHERE po_id = ?",
        (status.value, encode(po_lines), iso(now), po_id),
    )
    events.append(
        tx,
        now,
        [
            NewEvent(
                type="po.shipped",
                order_id=po["order_id"],
                po_id=po_id,
                supplier_id=supplier_id,
                data={
                    "shipment_id": shipment.shipment_id,
                    "carrier": carrier,
                    "tracking_number": tracking_number,
                    "complete": complete,
                    "lines": [{"sku": s.sku, "quantity": s.quantity} for s in shipped],
                },
            )
        ],
    )
    events.refresh_orders(tx, [po["order_id"]], now)
    return ShipmentRecorded(shipment.shipment_id, po_id, po["order_id"], status, False)


async def record_shipment(
    db: Database,
    supplier_id: str,
    po_id: str,
    carrier: str,
    tracking_number: str,
    shipped_at: datetime,
    lines: tuple[ShipmentLine, ...],
    now: datetime,
) -> ShipmentRecorded:
    """`apply_shipment` as a unit of work of its own (a supplier's shipment notice)."""
    return await db.write(
        lambda tx: apply_shipment(
            tx, supplier_id, po_id, carrier, tracking_number, shipped_at, lines, now
        )
    )
