"""Actions on an order after intake: cancellation and payment updates."""

from __future__ import annotations

from datetime import datetime

import msgspec

from gateway.domain.model import NewEvent, OrderStatus, Payment, PoStatus
from gateway.domain.routing import HOLD_FOR_PAYMENT
from gateway.store import events
from gateway.store.codec import encode, iso, order_decoder, po_lines_decoder
from gateway.store.db import Database, Tx

# A supplier may hold a PO in these statuses: cancelling it means telling the supplier.
_SUPPLIER_HOLDS = (PoStatus.PENDING, PoStatus.SENT, PoStatus.ACCEPTED, PoStatus.PARTIALLY_SHIPPED)
_NOTHING_LEFT = (PoStatus.SHIPPED, PoStatus.DELIVERED, PoStatus.CANCELLED)
_FINAL = (OrderStatus.CANCELLED, OrderStatus.REJECTED)


class OrderMissing(LookupError):
    """No such order."""


class Cancelled(msgspec.Struct, frozen=True):
    order_id: str
    changed: bool  # False: already cancelled or nothing left to cancel
    to_notify: dict[str, list[str]] = {}  # supplier_id -> po_ids the supplier must be told of


class PaymentUpdated(msgspec.Struct, frozen=True):
    order_id: str
    changed: bool
    released: bool  # the order left an `unpaid` hold and waits for routing again


def cancel_order(tx: Tx, order_id: str, reason: str, now: datetime) -> Cancelled:
    """Cancel what has not shipped: POs still open are cancelled (their unshipped quantities, and
    the reserved stock goes back); what shipped stays. Suppliers that may hold a cancelled PO are
    to be told (`supplier_cancel = 'requested'`)."""
    row = tx.fetchone("SELECT status FROM orders WHERE order_id = ?", (order_id,))
    if row is None:
        raise OrderMissing(order_id)
    if OrderStatus(row["status"]) in _FINAL:
        return Cancelled(order_id, changed=False)
    at = iso(now)
    to_notify: dict[str, list[str]] = {}
    cancelled: list[NewEvent] = []
    shipped_any = False
    for po in tx.fetchall(
        "SELECT po_id, supplier_id, status, lines FROM purchase_orders WHERE order_id = ?",
        (order_id,),
    ):
        status = PoStatus(po["status"])
        lines = po_lines_decoder.decode(po["lines"])
        shipped_any = shipped_any or any(line.shipped_qty for line in lines)
        if status in _NOTHING_LEFT:
            continue
        held = status in _SUPPLIER_HOLDS
        for line in lines:
            line.cancelled_qty = line.quantity - line.shipped_qty
        if held:  # the reserved, unshipped units go back to the supplier's known stock
            tx.executemany(
                "UPDATE catalog SET stock = stock + ? WHERE sku = ? AND supplier_id = ?",
                [(ln.cancelled_qty, ln.sku, po["supplier_id"]) for ln in lines if ln.cancelled_qty],
            )
            to_notify.setdefault(po["supplier_id"], []).append(po["po_id"])
        partly_shipped = any(line.shipped_qty for line in lines)
        new_status = PoStatus.SHIPPED if partly_shipped else PoStatus.CANCELLED
        tx.execute(
            "UPDATE purchase_orders SET status = ?, lines = ?, updated_at = ?, supplier_cancel = ?"
            " WHERE po_id = ?",
            (new_status.value, encode(lines), at, "requested" if held else None, po["po_id"]),
        )
        cancelled.append(
            NewEvent(
                type="po.cancelled",
                order_id=order_id,
                po_id=po["po_id"],
                supplier_id=po["supplier_id"],
                data={
                    "reason": reason,
                    "lines": [
                        {"sku": ln.sku, "quantity": ln.cancelled_qty}
                        for ln in lines
                        if ln.cancelled_qty
                    ],
                },
            )
        )
    events.append(tx, now, cancelled)
    if shipped_any:
        # What shipped stays shipped: the order's status follows its POs, and the action is
        # recorded as an event of its own.
        events.refresh_orders(tx, [order_id], now)
        events.append(
            tx,
            now,
            [
                NewEvent(
                    type="order.cancelled",
                    order_id=order_id,
                    data={"reason": reason, "partial": True},
                )
            ],
        )
        changed = bool(cancelled)
    else:
        changed = events.set_order_status(
            tx, order_id, OrderStatus.CANCELLED, now, reason=reason, detail=None
        )
    return Cancelled(order_id, changed=changed, to_notify=to_notify)


def set_payment(tx: Tx, order_id: str, payment_status: str, now: datetime) -> PaymentUpdated:
    """Record a new payment status. `paid` releases an order held as `unpaid`/`refunded` before
    routing; a refund or an unpaid status holds an order that is not routed yet."""
    row = tx.fetchone("SELECT status, hold_reason, doc FROM orders WHERE order_id = ?", (order_id,))
    if row is None:
        raise OrderMissing(order_id)
    order = order_decoder.decode(row["doc"])
    previous = order.payment.status if order.payment else "paid"
    if previous == payment_status:
        return PaymentUpdated(order_id, changed=False, released=False)
    amount = order.payment.amount if order.payment else None
    order = msgspec.structs.replace(order, payment=Payment(status=payment_status, amount=amount))
    tx.execute(
        "UPDATE orders SET doc = ?, updated_at = ? WHERE order_id = ?",
        (encode(order), iso(now), order_id),
    )
    events.append(
        tx,
        now,
        [
            NewEvent(
                type="order.payment_updated",
                order_id=order_id,
                data={"payment_status": payment_status, "previous": previous},
            )
        ],
    )
    status = OrderStatus(row["status"])
    released = False
    if payment_status == "paid" and status == OrderStatus.ON_HOLD:
        if row["hold_reason"] in HOLD_FOR_PAYMENT.values():
            released = events.set_order_status(
                tx,
                order_id,
                OrderStatus.RECEIVED,
                now,
                data={"released": "payment"},
                allowed_from=(OrderStatus.ON_HOLD,),
                event_type="order.released",
            )
    elif payment_status in HOLD_FOR_PAYMENT and status == OrderStatus.RECEIVED:
        events.set_order_status(
            tx,
            order_id,
            OrderStatus.ON_HOLD,
            now,
            reason=HOLD_FOR_PAYMENT[payment_status],
            detail=f"payment status is {payment_status}",
            allowed_from=(OrderStatus.RECEIVED,),
        )
    return PaymentUpdated(order_id, changed=True, released=released)


async def cancel(db: Database, order_id: str, reason: str, now: datetime) -> Cancelled:
    return await db.write(lambda tx: cancel_order(tx, order_id, reason, now))


async def update_payment(
    db: Database, order_id: str, payment_status: str, now: datetime
) -> PaymentUpdated:
    return await db.write(lambda tx: set_payment(tx, order_id, payment_status, now))
