"""Channel adapter `shopify`: a Shopify shop as a source of orders, and the place tracking
goes back to.

Three parts run side by side under one channel actor, and stop together:

- the webhook listener (`receiver`), on its own address (`listen`): the gateway's HTTP API
  has no place for plugins' routes, and a shop's webhooks usually come through their own
  reverse-proxy route anyway;
- reconciliation (`reconcile`) through the REST Admin API, for webhooks that never came;
- write-back (`writeback`) of shipments as fulfillments through the GraphQL Admin API.
"""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

from dropship_shopify.admin import ShopifyAdmin
from dropship_shopify.carriers import Carriers
from dropship_shopify.events import SeenEvents
from dropship_shopify.fulfillment import FulfillmentWriter
from dropship_shopify.options import parse_options
from dropship_shopify.receiver import WebhookReceiver
from dropship_shopify.reconcile import Reconciler
from dropship_shopify.sync import OrderSync
from dropship_shopify.writeback import WriteBack
from gateway.plugin_api import ChannelContext


class ShopifyChannel:
    async def run(self, ctx: ChannelContext) -> None:
        options = parse_options(ctx.options)
        sync = OrderSync(ctx, options)
        events = (
            SeenEvents(ctx.state, ctx.clock, options.event_memory_s)
            if ctx.state is not None
            else None
        )
        if events is None:
            ctx.log.warning(
                "shopify.feature_unavailable",
                feature="event de-duplication and the reconciliation watermark",
                reason="this gateway gives channels no `state` (plugin API 2)",
            )
        receiver = WebhookReceiver(options.api_secret, sync, events, ctx.log)
        timeout = aiohttp.ClientTimeout(total=options.timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            admin = ShopifyAdmin(session, options.admin_base, options.access_token, ctx.clock)
            runner = web.AppRunner(
                receiver.app(options.webhook_path, options.max_body_bytes),
                access_log=None,
                handle_signals=False,
            )
            await runner.setup()
            try:
                host, port = options.listen_address
                await web.TCPSite(runner, host, port).start()
                bound_host, bound_port = runner.addresses[0][:2]
                ctx.log.info(
                    "shopify.listening",
                    url=f"http://{bound_host}:{bound_port}{options.webhook_path}",
                    shop=options.shop_url,
                )
                async with asyncio.TaskGroup() as tasks:
                    tasks.create_task(Reconciler(ctx, options, admin, sync).run())
                    if options.write_back and ctx.updates is not None:
                        writer = FulfillmentWriter(
                            admin, Carriers(options.carriers), options.notify_customer
                        )
                        tasks.create_task(WriteBack(ctx, ctx.updates, options, writer).run())
                    elif options.write_back:
                        ctx.log.warning(
                            "shopify.feature_unavailable",
                            feature="tracking write-back",
                            reason="this gateway gives channels no `updates` (plugin API 2)",
                        )
            finally:
                await runner.cleanup()
