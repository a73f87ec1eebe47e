"""Brings one Shopify order into the gateway: take it in, release it when paid, cancel it when
Shopify cancels it. Webhooks and reconciliation both end here, so an order is handled the
same way however it arrived, and handling it twice changes nothing:

- taking in goes through intake, idempotent on (channel, external_id);
- payment only moves forward (a late `pending` never undoes `paid`);
- a cancellation is final, and one that arrives before the order itself is remembered, so the
  order's late `orders/create` does not bring it back to life.
"""

from __future__ import annotations

import enum
import json

import structlog

from dropship_shopify.mapping import (
    NotForTheGateway,
    intake_order,
    payment_moves_forward,
    payment_status,
)
from dropship_shopify.options import ShopifyOptions
from dropship_shopify.resources import ShopifyOrder
from gateway.plugin_api import ChannelContext, ChannelOrder, OrderNotFound


class Outcome(enum.StrEnum):
    TAKEN_IN = "taken_in"
    ALREADY_KNOWN = "already_known"
    REFUSED = "refused"  # intake found problems: logged with each problem's path
    NOT_SHIPPABLE = "not_shippable"
    PAYMENT_UPDATED = "payment_updated"
    CANCELLED = "cancelled"
    CANCELLED_BEFORE_TAKEN_IN = "cancelled_before_taken_in"
    UNCHANGED = "unchanged"


class OrderSync:
    def __init__(self, ctx: ChannelContext, options: ShopifyOptions) -> None:
        self._ctx = ctx
        self._options = options
        self._log: structlog.typing.FilteringBoundLogger = ctx.log
        self._warned: set[str] = set()

    async def apply(self, order: ShopifyOrder, source: str) -> Outcome:
        """Make the gateway agree with this Shopify order. Returns once what changed is
        durably stored; raises what the gateway raised (the caller answers 503 or retries)."""
        log = self._log.bind(shopify_order=order.name, shopify_order_id=order.id, source=source)
        external_id = str(order.id)
        known = await self._find(external_id)
        if order.cancelled_at is not None:
            return await self._cancelled(order, known, log)
        if known is None:
            if await self._cancelled_earlier(external_id):
                return Outcome.UNCHANGED
            return await self._take_in(order, log)
        return await self._payment(order, known, log)

    async def _find(self, external_id: str) -> ChannelOrder | None:
        if self._ctx.orders is None:
            self._missing("orders", "payment release and cancellation")
            return None
        return await self._ctx.orders.find(external_id)

    async def _take_in(
        self, order: ShopifyOrder, log: structlog.typing.FilteringBoundLogger
    ) -> Outcome:
        try:
            intake = intake_order(order, hold_authorized=self._options.hold_authorized)
        except NotForTheGateway as reason:
            log.info("shopify.order_skipped", reason=str(reason))
            return Outcome.NOT_SHIPPABLE
        [result] = await self._ctx.submit([json.dumps(intake, ensure_ascii=False).encode()])
        if not result.accepted:
            # Retrying would not change intake's mind: say exactly what is wrong, once per
            # delivery, and let the merchant fix the order in Shopify (an edit sends it again).
            log.error(
                "shopify.order_refused",
                problems=[f"{path}: {message}" for path, message in result.problems],
            )
            return Outcome.REFUSED
        if result.duplicate:
            return Outcome.ALREADY_KNOWN
        log.info(
            "shopify.order_taken_in",
            order_id=result.order_id,
            payment=intake["payment"]["status"],
        )
        return Outcome.TAKEN_IN

    async def _payment(
        self, order: ShopifyOrder, known: ChannelOrder, log: structlog.typing.FilteringBoundLogger
    ) -> Outcome:
        new = payment_status(order, hold_authorized=self._options.hold_authorized)
        current = known.order.payment.status if known.order.payment is not None else "paid"
        if not payment_moves_forward(current, new) or self._ctx.orders is None:
            return Outcome.UNCHANGED
        try:
            await self._ctx.orders.set_payment(known.order.order_id, new)
        except OrderNotFound:
            return Outcome.UNCHANGED
        log.info(
            "shopify.payment_updated",
            order_id=known.order.order_id,
            payment=new,
            previous=current,
        )
        return Outcome.PAYMENT_UPDATED

    async def _cancelled(
        self,
        order: ShopifyOrder,
        known: ChannelOrder | None,
        log: structlog.typing.FilteringBoundLogger,
    ) -> Outcome:
        if known is None:
            if self._ctx.state is not None:
                assert order.cancelled_at is not None
                await self._ctx.state.set(f"cancelled:{order.id}", order.cancelled_at.isoformat())
            log.info("shopify.cancelled_before_taken_in")
            return Outcome.CANCELLED_BEFORE_TAKEN_IN
        if known.status == "cancelled" or self._ctx.orders is None:
            return Outcome.UNCHANGED
        reason = f"cancelled in Shopify ({order.cancel_reason or 'no reason given'})"
        try:
            after = await self._ctx.orders.cancel(known.order.order_id, reason)
        except OrderNotFound:
            return Outcome.UNCHANGED
        log.info("shopify.order_cancelled", order_id=known.order.order_id, status=after.status)
        return Outcome.CANCELLED

    async def _cancelled_earlier(self, external_id: str) -> bool:
        if self._ctx.state is None:
            return False
        return await self._ctx.state.get(f"cancelled:{external_id}") is not None

    def _missing(self, part: str, feature: str) -> None:
        """Log once that this gateway lacks a part of plugin API 2 the channel can use."""
        if part not in self._warned:
            self._warned.add(part)
            self._log.warning(
                "shopify.feature_unavailable",
                feature=feature,
                reason=f"this gateway gives channels no `{part}` (plugin API 2)",
            )
