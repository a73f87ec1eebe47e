"""`ctx.orders` as the channel kit plays it: the orders the kit's intake accepted, each with
the purchase orders and shipments the kit's updates speak of, as the gateway would show them.

A channel may read its order to write an update back (an ERP's purchase order needs the PO's
lines; a link to the source document needs the order's attributes). The gateway's
`ctx.orders.get` finds every order the channel submitted, so the kit's must too.
Actions (`cancel`, `set_payment`) are not modelled: no check uses them.
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.domain.model import (
    Order,
    PoLine,
    PoStatus,
    PurchaseOrder,
    Shipment,
    ShipmentLine,
)
from gateway.plugin_api.adapters import ChannelOrder, OrderNotFound, OrderUpdate

# The PO status each update type leaves behind (others leave it as it was).
_PO_STATUS = {
    "po.sent": PoStatus.SENT,
    "po.accepted": PoStatus.ACCEPTED,
    "po.partially_shipped": PoStatus.PARTIALLY_SHIPPED,
    "po.shipped": PoStatus.SHIPPED,
    "po.delivered": PoStatus.DELIVERED,
    "po.rejected": PoStatus.REJECTED,
    "po.cancelled": PoStatus.CANCELLED,
}
_SHIPMENTS = ("po.shipped", "po.partially_shipped")


class KitOrders:
    """`ctx.orders` over the kit's accepted orders (`orders`, by order id) and its updates."""

    def __init__(self, orders: dict[str, Order], updates: Callable[[], list[OrderUpdate]]) -> None:
        self._orders = orders
        self._updates = updates

    async def get(self, order_id: str) -> ChannelOrder | None:
        order = self._orders.get(order_id)
        return self._view(order) if order is not None else None

    async def find(self, external_id: str) -> ChannelOrder | None:
        for order in self._orders.values():
            if order.external_id == external_id:
                return self._view(order)
        return None

    async def cancel(self, order_id: str, reason: str) -> ChannelOrder:
        raise OrderNotFound(order_id)

    async def set_payment(self, order_id: str, status: str) -> ChannelOrder:
        raise OrderNotFound(order_id)

    def _view(self, order: Order) -> ChannelOrder:
        pos: dict[str, PurchaseOrder] = {}
        for update in self._updates():
            if update.order_id != order.order_id or not update.po_id:
                continue
            po = pos.get(update.po_id)
            if po is None:
                po = pos[update.po_id] = PurchaseOrder(
                    po_id=update.po_id,
                    order_id=order.order_id,
                    supplier_id=update.supplier_id or "",
                    status=PoStatus.PENDING,
                    lines=[
                        PoLine(line_id=line.line_id, sku=line.sku, quantity=line.quantity)
                        for line in order.lines
                    ],
                    created_at=update.at,
                    updated_at=update.at,
                )
            po.status = _PO_STATUS.get(update.type, po.status)
            po.updated_at = update.at
            if update.type in _SHIPMENTS:
                po.shipments.append(_shipment(update, po))
        return ChannelOrder(
            order=order,
            status="dispatched" if pos else "received",
            purchase_orders=tuple(pos.values()),
        )


def _shipment(update: OrderUpdate, po: PurchaseOrder) -> Shipment:
    data = update.data
    lines = tuple(
        ShipmentLine(sku=str(line["sku"]), quantity=int(line["quantity"]))
        for line in data.get("lines") or []
        if isinstance(line, dict)
    )
    for line in lines:
        for po_line in po.lines:
            if po_line.sku == line.sku:
                po_line.shipped_qty += line.quantity
    return Shipment(
        shipment_id=str(data.get("shipment_id") or f"shp_kit{update.seq:09d}"),
        po_id=po.po_id,
        carrier=str(data.get("carrier", "")),
        tracking_number=str(data.get("tracking_number", "")),
        shipped_at=update.at,
        lines=lines,
    )
