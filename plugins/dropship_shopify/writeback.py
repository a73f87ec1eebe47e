"""The write-back loop: the gateway's events of this channel's orders, in order, from a durable
position (`ctx.updates`); each `po.shipped` becomes a Shopify fulfillment, then the position
moves on (`ack`).

Shopify being away (or throttling past our patience) holds the loop: it waits with capped
backoff and tries the same shipment again, logging once when Shopify goes and once when it is
back. A shipment Shopify refuses (its line items were fulfilled by hand meanwhile) is logged
as an error with Shopify's words and passed, so one bad parcel does not stop the others.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from dropship_shopify.admin import ShopifyRefused, ShopifyUnavailable
from dropship_shopify.fulfillment import CannotWriteBack, FulfillmentWriter
from dropship_shopify.options import ShopifyOptions
from gateway.plugin_api import ChannelContext, OrderUpdate, OrderUpdates

BATCH = 50


class WriteBack:
    def __init__(
        self,
        ctx: ChannelContext,
        updates: OrderUpdates,
        options: ShopifyOptions,
        writer: FulfillmentWriter,
    ) -> None:
        self._ctx = ctx
        self._updates = updates
        self._options = options
        self._writer = writer
        self._log: structlog.typing.FilteringBoundLogger = ctx.log
        self._away = False

    async def run(self) -> None:
        while True:
            for update in await self._updates.next_batch(BATCH):
                await self._until_done(update)
                await self._updates.ack(update.seq)

    async def _until_done(self, update: OrderUpdate) -> None:
        delay = 1.0
        while True:
            try:
                await self.handle(update)
            except ShopifyUnavailable as error:
                if not self._away:
                    self._log.warning("shopify.write_back_waiting", error=str(error))
                    self._away = True
                await self._ctx.clock.sleep(delay)
                delay = min(delay * 2, self._options.retry_max_s)
                continue
            if self._away:
                self._log.info("shopify.write_back_resumed")
                self._away = False
            return

    async def handle(self, update: OrderUpdate) -> None:
        if update.type != "po.shipped":
            return
        data = update.data
        carrier = str(data.get("carrier", ""))
        number = str(data.get("tracking_number", ""))
        log = self._log.bind(
            order_id=update.order_id,
            po_id=update.po_id,
            shopify_order_id=update.external_id,
            tracking_number=number,
        )
        try:
            parcel = [(str(line["sku"]), int(line["quantity"])) for line in data["lines"]]
        except (KeyError, TypeError, ValueError) as error:
            # Not the shipment event this plugin knows: passed (and said), not retried forever.
            log.error("shopify.shipment_unreadable", error=repr(error), lines=data.get("lines"))
            return
        try:
            written = await self._writer.write(
                update.external_id, carrier, number, parcel, await self._line_items(update)
            )
        except (CannotWriteBack, ShopifyRefused) as refused:
            log.error("shopify.fulfillment_refused", error=str(refused), carrier=carrier)
            return
        if written.already:
            log.info("shopify.fulfillment_exists", fulfillments=list(written.fulfillment_ids))
        else:
            log.info(
                "shopify.fulfillment_created",
                fulfillments=list(written.fulfillment_ids),
                carrier=carrier,
                lines=len(parcel),
            )

    async def _line_items(self, update: OrderUpdate) -> dict[str, Sequence[int]] | None:
        """Which Shopify line items each SKU of the shipped PO stands for (the PO's lines carry
        the line item ids as `line_id`); None when the gateway cannot tell us."""
        if self._ctx.orders is None or update.po_id is None:
            return None
        order = await self._ctx.orders.get(update.order_id)
        if order is None:
            return None
        for po in order.purchase_orders:
            if po.po_id == update.po_id:
                by_sku: dict[str, Sequence[int]] = {}
                for line in po.lines:
                    if line.line_id.isdigit():
                        by_sku[line.sku] = [*by_sku.get(line.sku, ()), int(line.line_id)]
                return by_sku
        return None
