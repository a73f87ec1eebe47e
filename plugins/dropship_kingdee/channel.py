"""The ``kingdee`` channel adapter: orders in from K3Cloud, results back to it.

Two loops under one task group: intake polls approved sales orders every ``poll_interval_s``;
write-back follows the gateway's updates of this channel's orders and records purchase orders
and outbound bills in K3Cloud. They share one client, so one session and one call-limit pause.
"""

from __future__ import annotations

import asyncio

from dropship_kingdee.client import KingdeeClient
from dropship_kingdee.errors import KingdeeError
from dropship_kingdee.intake import SalesOrderIntake
from dropship_kingdee.options import KingdeeOptions, parse_options
from dropship_kingdee.outage import Outage
from dropship_kingdee.state import MemoryState
from dropship_kingdee.writeback import WriteBack
from gateway.plugin_api import ChannelContext, IntakeBusy


class KingdeeChannel:
    def __init__(self) -> None:
        self.intake: SalesOrderIntake | None = None

    async def run(self, ctx: ChannelContext) -> None:
        options = parse_options(ctx.options)
        state = ctx.state
        if state is None:
            ctx.log.warning("kingdee.no_durable_state")
            state = MemoryState()
        async with KingdeeClient(options, ctx.clock, ctx.log) as client:
            self.intake = SalesOrderIntake(client, options, state, ctx)
            async with asyncio.TaskGroup() as group:
                group.create_task(self._poll(self.intake, options, ctx))
                if ctx.updates is not None and ctx.orders is not None:
                    writeback = WriteBack(client, options, state, ctx.updates, ctx.orders, ctx)
                    group.create_task(writeback.run())
                else:
                    ctx.log.warning("kingdee.writeback_unavailable")
                ctx.log.info("kingdee.started", url=options.url, auth=options.auth)

    @staticmethod
    async def _poll(intake: SalesOrderIntake, options: KingdeeOptions, ctx: ChannelContext) -> None:
        outage = Outage("intake", options, ctx.log)
        while True:
            try:
                await intake.take_new_orders()
                outage.succeeded()
                delay = options.poll_interval_s
            except KingdeeError as error:
                delay = outage.failed(error)
            except IntakeBusy as busy:
                # The gateway's store is behind. The watermark did not move past the orders
                # it refused, so they are read and submitted again when it says.
                ctx.log.info("kingdee.intake_deferred", retry_after_s=busy.retry_after_s)
                delay = busy.retry_after_s
            await ctx.clock.sleep(delay)
