"""Reconciliation: every `reconcile_every_s`, list the orders Shopify updated since the last
run and apply each one as if its webhook had arrived. An order whose webhooks were all lost
(the listener was down for longer than Shopify's 4 hours of retries, a subscription was
deleted) is taken in this way, once: intake is idempotent, and `OrderSync` changes nothing
for an order that already agrees.

The watermark is the latest `updated_at` Shopify reported (Shopify's clock, not ours), kept in
the channel's durable state and moved only after a whole listing was applied. Each run looks
back `reconcile_overlap_s` before it, for clock skew and orders updated in the same second.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog

from dropship_shopify.admin import ShopifyAdmin, ShopifyRefused, ShopifyUnavailable
from dropship_shopify.options import ShopifyOptions
from dropship_shopify.sync import OrderSync, Outcome
from gateway.plugin_api import ChannelContext, IntakeBusy

WATERMARK_KEY = "reconcile:updated_at"


class Reconciler:
    def __init__(
        self, ctx: ChannelContext, options: ShopifyOptions, admin: ShopifyAdmin, sync: OrderSync
    ) -> None:
        self._ctx = ctx
        self._options = options
        self._admin = admin
        self._sync = sync
        self._log: structlog.typing.FilteringBoundLogger = ctx.log
        self._watermark: datetime | None = None  # when there is no durable state
        self._away = False

    async def run(self) -> None:
        """Reconcile at start, then every `reconcile_every_s`, until cancelled."""
        while True:
            wait = self._options.reconcile_every_s
            try:
                await self.reconcile_once()
                if self._away:
                    self._log.info("shopify.admin_api_back")
                    self._away = False
            except (ShopifyUnavailable, ShopifyRefused) as error:
                if not self._away:  # once when it goes, once when it is back
                    self._log.warning("shopify.reconcile_failed", error=str(error))
                    self._away = True
            except IntakeBusy as busy:
                # The gateway's store is behind. The watermark did not move, so the same pass
                # runs again when the gateway says, not a whole period later.
                self._log.info("shopify.reconcile_deferred", retry_after_s=busy.retry_after_s)
                wait = busy.retry_after_s
            await self._ctx.clock.sleep(wait)

    async def reconcile_once(self) -> dict[str, int]:
        """One pass; returns how many orders ended how, for the log and for tests."""
        watermark = await self._load_watermark()
        since = watermark - timedelta(seconds=self._options.reconcile_overlap_s)
        counts: dict[str, int] = {}
        latest = watermark
        async for page in self._admin.orders_updated_since(
            since, self._options.reconcile_page_size
        ):
            for order in page:
                outcome = await self._sync.apply(order, source="reconciliation")
                counts[outcome.value] = counts.get(outcome.value, 0) + 1
                if order.updated_at is not None and order.updated_at > latest:
                    latest = order.updated_at
        if latest > watermark:
            await self._save_watermark(latest)
        recovered = counts.get(Outcome.TAKEN_IN.value, 0)
        self._log.log(
            30 if recovered else 20,  # a recovered order means webhooks were lost: say so
            "shopify.reconciled",
            since=since.isoformat(),
            orders=sum(counts.values()),
            **counts,
        )
        return counts

    async def _load_watermark(self) -> datetime:
        state = self._ctx.state
        raw = await state.get(WATERMARK_KEY) if state is not None else None
        if raw is not None:
            return datetime.fromisoformat(raw)
        if self._watermark is not None:
            return self._watermark
        return self._ctx.clock.now() - timedelta(seconds=self._options.reconcile_lookback_s)

    async def _save_watermark(self, moment: datetime) -> None:
        self._watermark = moment
        if self._ctx.state is not None:
            await self._ctx.state.set(WATERMARK_KEY, moment.isoformat())
