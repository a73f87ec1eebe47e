"""Results back to K3Cloud, from the gateway's updates of this channel's orders.

- A PO a supplier accepted (``po.accepted``) becomes a purchase order (``PUR_PurchaseOrder``:
  Save with ``FSupplierId`` by number and ``FPOOrderEntry`` lines linked to the sales order's
  entries, then Submit and Audit).
- Each shipment of a PO (``po.shipped``, ``po.partially_shipped``) becomes a sales outbound bill
  (``SAL_OUTSTOCK``) saved with ``FEntity_Link`` to the sales order's entries (as Push would
  make it), carrying the carrier and the tracking number, then submitted and audited. So the
  sales order, its purchase orders and its outbound bills are linked in K3Cloud.

Every write is idempotent. The gateway's id (``dropship-gateway:<po_id>`` or
``...:<shipment_id>``) goes into ``reference_field`` of the bill; before creating a bill the
write-back looks it up by that reference, so an update delivered again after a crash finds the
bill it made the first time and only finishes what is left (Submit, Audit). The bill numbers
are kept in the channel's state (``po:<po_id>``, ``shipment:<shipment_id>``).

K3Cloud refusing a document (``IsSuccess = false``: an unknown supplier number, a quantity
beyond what is left to ship) is logged as ``kingdee.writeback_refused`` with K3Cloud's message
and kept in state (``refused:<po or shipment id>``); the other documents carry on. An
unreachable server or a call limit is waited out, and the update is tried again.
"""

from __future__ import annotations

import json
from collections.abc import Coroutine
from datetime import datetime
from typing import Any

from dropship_kingdee.client import KingdeeClient
from dropship_kingdee.errors import KingdeeBusinessError, KingdeeError
from dropship_kingdee.options import KingdeeOptions
from dropship_kingdee.outage import Outage
from gateway.plugin_api import (
    ChannelContext,
    ChannelOrder,
    ChannelOrders,
    OrderUpdate,
    OrderUpdates,
    PluginState,
    PurchaseOrder,
    Shipment,
)

PURCHASE_ORDER = "PUR_PurchaseOrder"
OUTSTOCK = "SAL_OUTSTOCK"
SALE_ORDER_ENTRY_TABLE = "T_SAL_ORDERENTRY"
SHIPPED_TYPES = ("po.shipped", "po.partially_shipped", "po.delivered")
CREATED, SUBMITTED, AUDITED, REAUDIT = "A", "B", "C", "D"


class WriteBack:
    def __init__(
        self,
        client: KingdeeClient,
        options: KingdeeOptions,
        state: PluginState,
        updates: OrderUpdates,
        orders: ChannelOrders,
        ctx: ChannelContext,
    ) -> None:
        self._client = client
        self._options = options
        self._state = state
        self._updates = updates
        self._orders = orders
        self._ctx = ctx
        self._log = ctx.log
        self.written = 0
        self.refused = 0

    async def run(self) -> None:
        outage = Outage("writeback", self._options, self._log)
        while True:
            batch = await self._updates.next_batch(100)
            for update in batch:
                while True:
                    try:
                        await self.apply(update)
                        outage.succeeded()
                        break
                    except KingdeeError as error:
                        # Unreachable or a call limit: the same update is tried again later.
                        # (K3Cloud refusing a document, or the lookup before it, is recorded
                        # by `_document` and not retried.)
                        await self._ctx.clock.sleep(outage.failed(error))
            if batch:
                await self._updates.ack(batch[-1].seq)

    async def apply(self, update: OrderUpdate) -> None:
        """Write one update back; raises the client's errors but K3Cloud refusing a document,
        which is recorded and logged, so that the other documents carry on."""
        if update.po_id is None or not (
            update.type == "po.accepted" or update.type in SHIPPED_TYPES
        ):
            return
        order = await self._orders.get(update.order_id)
        pos = order.purchase_orders if order is not None else ()
        po = next((p for p in pos if p.po_id == update.po_id), None)
        if order is None or po is None:
            # The gateway always knows the orders it announces; say so if it ever did not.
            self._log.warning(
                "kingdee.writeback_skipped",
                order_id=update.order_id,
                po_id=update.po_id,
                reason="order unknown" if order is None else "purchase order unknown",
            )
            return
        if self._options.purchase_order.enabled:
            await self._document(order, po.po_id, self._purchase_order(order, po))
        if update.type in SHIPPED_TYPES and self._options.outstock.enabled:
            for shipment in po.shipments:
                await self._document(
                    order, shipment.shipment_id, self._outstock(order, po, shipment), po.po_id
                )

    async def _document(
        self, order: ChannelOrder, key: str, write: Coroutine[Any, Any, None], po_id: str = ""
    ) -> None:
        """Run one document's write; K3Cloud refusing it is recorded under `refused:<key>`
        and not tried again (a person fixes the data or the config)."""
        if await self._state.get(f"refused:{key}") is not None:
            write.close()
            return
        try:
            await write
        except KingdeeBusinessError as error:
            self.refused += 1
            await self._state.set(
                f"refused:{key}",
                json.dumps(
                    {"operation": error.operation, "message": error.message}, ensure_ascii=False
                ),
            )
            self._log.error(
                "kingdee.writeback_refused",
                order_id=order.order.order_id,
                sales_order=order.order.external_id,
                po_id=po_id or key,
                document=key,
                operation=error.operation,
                msg_code=error.msg_code,
                erp_message=error.message,
            )

    # -- purchase orders -----------------------------------------------------------------------

    async def _purchase_order(self, order: ChannelOrder, po: PurchaseOrder) -> None:
        key = f"po:{po.po_id}"
        if await self._state.get(key) is not None:
            return
        settings = self._options.purchase_order
        reference = f"dropship-gateway:{po.po_id}"
        found = await self._find(PURCHASE_ORDER, reference)
        if found is None:
            supplier = settings.suppliers.get(po.supplier_id, po.supplier_id)
            entries = []
            for line in po.lines:
                entry: dict[str, Any] = {
                    "FMaterialId": {"FNumber": line.sku},
                    "FQty": line.quantity,
                    "FSrcBillTypeId": "SAL_SaleOrder",
                    "FSrcBillNo": order.order.external_id,
                }
                if line.unit_cost is not None:
                    entry["FTaxPrice"] = float(line.unit_cost)
                link = self._source_link("FPOOrderEntry", order, line.line_id, line.quantity)
                if link:
                    entry["FPOOrderEntry_Link"] = [link]
                entries.append(entry)
            model = {
                "FBillTypeID": {"FNUMBER": settings.bill_type},
                "FDate": self._today(),
                "FSupplierId": {"FNumber": supplier},
                "FPurchaseOrgId": {"FNumber": settings.purchase_org},
                self._options.reference_field: reference,
                "FPOOrderEntry": entries,
            }
            saved = await self._client.save(PURCHASE_ORDER, model)
            found = (saved.number, CREATED)
        number, status = found
        if settings.audit:
            await self._submit_and_audit(PURCHASE_ORDER, number, status)
        await self._state.set(key, number)
        self.written += 1
        self._log.info(
            "kingdee.purchase_order_written",
            order_id=order.order.order_id,
            sales_order=order.order.external_id,
            po_id=po.po_id,
            bill_no=number,
        )

    # -- outbound bills ------------------------------------------------------------------------

    async def _outstock(self, order: ChannelOrder, po: PurchaseOrder, shipment: Shipment) -> None:
        key = f"shipment:{shipment.shipment_id}"
        if await self._state.get(key) is not None:
            return
        settings = self._options.outstock
        reference = f"dropship-gateway:{shipment.shipment_id}"
        found = await self._find(OUTSTOCK, reference)
        if found is None:
            model: dict[str, Any] = {
                "FBillTypeID": {"FNUMBER": settings.bill_type},
                "FDate": self._today(shipment.shipped_at),
                "FSaleOrgId": {"FNumber": settings.stock_org},
                "FStockOrgId": {"FNumber": settings.stock_org},
                settings.tracking_field: shipment.tracking_number,
                self._options.reference_field: reference,
                "FEntity": self._outstock_entries(order, po, shipment),
            }
            if order.order.customer and order.order.customer.id:
                model["FCustomerID"] = {"FNumber": order.order.customer.id}
            if settings.carrier_field:
                carrier = settings.carriers.get(shipment.carrier, shipment.carrier)
                model[settings.carrier_field] = {"FNumber": carrier}
            saved = await self._client.save(OUTSTOCK, model)
            found = (saved.number, CREATED)
        number, status = found
        if settings.audit:
            await self._submit_and_audit(OUTSTOCK, number, status)
        await self._state.set(key, number)
        self.written += 1
        self._log.info(
            "kingdee.outstock_written",
            order_id=order.order.order_id,
            sales_order=order.order.external_id,
            po_id=po.po_id,
            bill_no=number,
            carrier=shipment.carrier,
            tracking_number=shipment.tracking_number,
        )

    def _outstock_entries(
        self, order: ChannelOrder, po: PurchaseOrder, shipment: Shipment
    ) -> list[dict[str, Any]]:
        shipped = [(line.sku, line.quantity) for line in shipment.lines] or [
            (line.sku, line.quantity) for line in po.lines
        ]
        entries = []
        for sku, quantity in shipped:
            line = next((pl for pl in po.lines if pl.sku == sku), None)
            entry: dict[str, Any] = {"FMaterialId": {"FNumber": sku}, "FRealQty": quantity}
            link = self._source_link("FEntity", order, line.line_id if line else None, quantity)
            if link:
                entry["FEntity_Link"] = [link]
            entries.append(entry)
        return entries

    # -- shared --------------------------------------------------------------------------------

    def _source_link(
        self, entity: str, order: ChannelOrder, line_id: str | None, quantity: int
    ) -> dict[str, Any] | None:
        """The link of a downstream entry to the sales order entry it comes from; needs the
        order's FID and the entry id as line id (the default mapping)."""
        fid = order.order.attributes.get("kingdee_fid")
        if not fid or not line_id or not line_id.isdigit():
            return None
        prefix = f"{entity}_Link_"
        target = OUTSTOCK if entity == "FEntity" else PURCHASE_ORDER
        return {
            f"{prefix}FRuleId": f"SAL_SaleOrder-{target}",
            f"{prefix}FSTableName": SALE_ORDER_ENTRY_TABLE,
            f"{prefix}FSBillId": int(fid),
            f"{prefix}FSId": int(line_id),
            f"{prefix}FBaseUnitQty": quantity,
        }

    async def _find(self, form_id: str, reference: str) -> tuple[str, str] | None:
        """(bill number, status) of the bill that carries `reference`, if one exists."""
        quoted = reference.replace("'", "''")
        rows = await self._client.execute_bill_query(
            form_id,
            ["FID", "FBillNo", "FDocumentStatus"],
            f"{self._options.reference_field} = '{quoted}'",
            "FID ASC",
            0,
            10,
        )
        if not rows:
            return None
        return str(rows[0][1]), str(rows[0][2])

    async def _submit_and_audit(self, form_id: str, number: str, status: str) -> None:
        if status in (CREATED, REAUDIT, "Z"):
            await self._client.submit(form_id, number)
            status = SUBMITTED
        if status == SUBMITTED:
            await self._client.audit(form_id, number)

    def _today(self, moment: datetime | None = None) -> str:
        when = (moment or self._ctx.clock.now()).astimezone(self._options.zone)
        return when.strftime("%Y-%m-%d")
