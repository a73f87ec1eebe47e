"""Purchase orders on their way to a supplier: what is waiting, and each move of its status.

Every transition is guarded by the statuses it may leave from, so a late or repeated answer
(a retry that raced an earlier success, a restart) can never move a PO backwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from gateway.domain.model import PO_AWAITING_SUPPLIER, PoStatus
from gateway.plugin_api.adapters import PurchaseOrderLine, PurchaseOrderRequest
from gateway.store.codec import encode, iso, order_decoder, parse_iso, po_lines_decoder
from gateway.store.db import Database, Tx
from gateway.store.feed import emit, refresh_order_status

_AWAITING = tuple(s.value for s in PO_AWAITING_SUPPLIER)
_AWAITING_SQL = ", ".join(f"'{s}'" for s in _AWAITING)


def _request(row: Any) -> PurchaseOrderRequest:
    order = order_decoder.decode(row["doc"])
    return PurchaseOrderRequest(
        po_id=row["po_id"],
        order_id=order.order_id,
        order_external_id=order.external_id,
        supplier_id=row["supplier_id"],
        created_at=parse_iso(row["created_at"]),
        order_created_at=order.created_at,
        priority=order.priority.value,
        currency=order.currency,
        ship_to=order.ship_to,
        lines=tuple(
            PurchaseOrderLine(
                line_id=line.line_id, sku=line.sku, quantity=line.quantity, unit_cost=line.unit_cost
            )
            for line in po_lines_decoder.decode(row["lines"])
        ),
    )


_SELECT_REQUEST = (
    "SELECT po.po_id, po.supplier_id, po.lines, po.created_at, o.doc FROM purchase_orders po"
    " JOIN orders o ON o.order_id = po.order_id"
)


async def purchase_orders_awaiting(
    db: Database, supplier_id: str, limit: int = 1000
) -> list[PurchaseOrderRequest]:
    """POs this supplier has not confirmed yet: they are (re)sent under the same po_id."""
    rows = await db.fetchall(
        f"{_SELECT_REQUEST} WHERE po.supplier_id = ? AND po.status IN ({_AWAITING_SQL})"
        " ORDER BY po.created_at, po.po_id LIMIT ?",
        (supplier_id, limit),
    )
    return [_request(r) for r in rows]


async def load_requests(db: Database, po_ids: Sequence[str]) -> list[PurchaseOrderRequest]:
    """The given POs that still await their supplier."""
    if not po_ids:
        return []
    rows = await db.fetchall(
        f"{_SELECT_REQUEST} WHERE po.po_id IN ({','.join('?' * len(po_ids))})"
        f" AND po.status IN ({_AWAITING_SQL}) ORDER BY po.po_id",
        list(po_ids),
    )
    return [_request(r) for r in rows]


async def _transition(
    tx: Tx,
    po_id: str,
    to: PoStatus,
    allowed_from: Sequence[PoStatus],
    now: datetime,
    **columns: Any,
) -> Any:
    """Move one PO; return its row (order_id, supplier_id, lines) or None if not allowed."""
    sets = ", ".join(f"{name} = ?" for name in columns)
    cursor = await tx.execute(
        f"UPDATE purchase_orders SET status = ?, updated_at = ?{', ' + sets if sets else ''}"
        f" WHERE po_id = ? AND status IN ({','.join('?' * len(allowed_from))})",
        (to.value, iso(now), *columns.values(), po_id, *(s.value for s in allowed_from)),
    )
    if cursor.rowcount == 0:
        return None
    return await tx.fetchone(
        "SELECT order_id, supplier_id, lines FROM purchase_orders WHERE po_id = ?", (po_id,)
    )


async def mark_sent(db: Database, po_id: str, now: datetime) -> None:
    """The first attempt is going out (`pending → sent`)."""

    async def job(tx: Tx) -> None:
        row = await _transition(tx, po_id, PoStatus.SENT, (PoStatus.PENDING,), now, attempts=1)
        if row is not None:
            await emit(
                tx,
                "po.sent",
                now,
                order_id=row["order_id"],
                po_id=po_id,
                supplier_id=row["supplier_id"],
            )
            await refresh_order_status(tx, row["order_id"], now)

    await db.write(job)


async def note_failed_attempt(db: Database, po_id: str, message: str, now: datetime) -> None:
    """An attempt failed and will be retried: count it and keep the last error visible."""

    async def job(tx: Tx) -> None:
        await tx.execute(
            "UPDATE purchase_orders SET attempts = attempts + 1, message = ?, updated_at = ?"
            f" WHERE po_id = ? AND status IN ({_AWAITING_SQL})",
            (message, iso(now), po_id),
        )

    await db.write(job)


async def mark_accepted(db: Database, po_id: str, supplier_ref: str | None, now: datetime) -> bool:
    async def job(tx: Tx) -> bool:
        row = await _transition(
            tx,
            po_id,
            PoStatus.ACCEPTED,
            PO_AWAITING_SUPPLIER,
            now,
            supplier_ref=supplier_ref,
            message=None,
        )
        if row is None:
            return False
        lines = po_lines_decoder.decode(row["lines"])
        for line in lines:
            line.accepted_qty = line.quantity
        await tx.execute(
            "UPDATE purchase_orders SET lines = ? WHERE po_id = ?",
            (encode(lines), po_id),
        )
        await emit(
            tx,
            "po.accepted",
            now,
            order_id=row["order_id"],
            po_id=po_id,
            supplier_id=row["supplier_id"],
            data={"supplier_ref": supplier_ref},
        )
        await refresh_order_status(tx, row["order_id"], now)
        return True

    return await db.write(job)


async def mark_rejected(
    db: Database, po_id: str, reason: str, message: str, now: datetime, *, failed: bool = False
) -> bool:
    """The supplier refused the PO (`rejected`), or it could not be delivered (`failed`).
    The stock it reserved goes back, except after `out_of_stock`, when the supplier's known
    stock of those SKUs is evidently zero."""
    status = PoStatus.FAILED if failed else PoStatus.REJECTED

    async def job(tx: Tx) -> bool:
        row = await _transition(
            tx, po_id, status, PO_AWAITING_SUPPLIER, now, reason=reason, message=message
        )
        if row is None:
            return False
        lines = po_lines_decoder.decode(row["lines"])
        if reason == "out_of_stock":
            await tx.executemany(
                "UPDATE catalog SET stock = 0 WHERE sku = ? AND supplier_id = ?",
                [(line.sku, row["supplier_id"]) for line in lines],
            )
        else:
            await tx.executemany(
                "UPDATE catalog SET stock = stock + ? WHERE sku = ? AND supplier_id = ?",
                [(line.quantity, line.sku, row["supplier_id"]) for line in lines],
            )
        await emit(
            tx,
            f"po.{status.value}",
            now,
            order_id=row["order_id"],
            po_id=po_id,
            supplier_id=row["supplier_id"],
            data={"reason": reason, "message": message},
        )
        await refresh_order_status(tx, row["order_id"], now)
        return True

    return await db.write(job)
