"""Channel adapters for the channel kit's own tests: one that keeps every rule against
`gateway.testing.HttpSource`, and one per rule that breaks it the way a careless author would."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import msgspec

from gateway.plugin_api import ChannelContext, IntakeBusy


class SourcePoller:
    """Takes new orders from an HttpSource, confirms them once stored, writes updates back."""

    confirm_first = False
    log_every_failure = False

    async def run(self, ctx: ChannelContext) -> None:
        base = str(ctx.options["url"]).rstrip("/")
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as http, asyncio.TaskGroup() as tasks:
            tasks.create_task(self.poll(ctx, http, base))
            if ctx.updates is not None:
                tasks.create_task(self.write_back(ctx, http, base))

    async def poll(self, ctx: ChannelContext, http: aiohttp.ClientSession, base: str) -> None:
        away = False
        while True:
            try:
                await self.take_orders(ctx, http, base)
            except IntakeBusy as busy:
                ctx.log.info("intake.busy", retry_after_s=busy.retry_after_s)
                await ctx.clock.sleep(busy.retry_after_s)
                continue
            except (aiohttp.ClientError, TimeoutError) as error:
                if not away or self.log_every_failure:
                    ctx.log.warning("source.away", error=str(error))
                away = True
            else:
                ctx.log.info("source.back")
                away = False
            await self.wait(ctx)

    async def wait(self, ctx: ChannelContext) -> None:
        await ctx.clock.sleep(float(ctx.options.get("every_s", 30)))

    async def take_orders(
        self, ctx: ChannelContext, http: aiohttp.ClientSession, base: str
    ) -> None:
        async with http.get(f"{base}/orders/new") as response:
            response.raise_for_status()
            orders = msgspec.json.decode(await response.read(), type=list[msgspec.Raw])
        if not orders:
            return
        ids = [msgspec.json.decode(o)["external_id"] for o in orders]
        if self.confirm_first:
            await self.confirm(http, base, ids)
        results = await self.submit(ctx, [bytes(o) for o in orders])
        for result in results:
            if not result.accepted:
                ctx.log.warning("order.refused", external_id=result.external_id)
        if not self.confirm_first:
            await self.confirm(http, base, [r.external_id for r in results])

    async def submit(self, ctx: ChannelContext, orders: list[bytes]) -> Any:
        return await ctx.submit(orders)

    async def confirm(self, http: aiohttp.ClientSession, base: str, ids: list[Any]) -> None:
        async with http.post(f"{base}/orders/ack", json=ids) as response:
            response.raise_for_status()

    async def write_back(self, ctx: ChannelContext, http: aiohttp.ClientSession, base: str) -> None:
        assert ctx.updates is not None
        while True:
            batch = await ctx.updates.next_batch()
            for update in batch:
                await self.write_one(ctx, http, base, update)

    async def write_one(
        self, ctx: ChannelContext, http: aiohttp.ClientSession, base: str, update: Any
    ) -> None:
        assert ctx.updates is not None
        async with http.post(
            f"{base}/orders/{update.external_id}/updates", json={"type": update.type, **update.data}
        ) as response:
            response.raise_for_status()
        await ctx.updates.ack(update.seq)


class SubmitsDicts(SourcePoller):
    async def submit(self, ctx: ChannelContext, orders: list[bytes]) -> Any:
        return await ctx.submit([msgspec.json.decode(o) for o in orders])


class ConfirmsFirst(SourcePoller):
    confirm_first = True


class CrashesOnARefusal(SourcePoller):
    async def submit(self, ctx: ChannelContext, orders: list[bytes]) -> Any:
        results = await ctx.submit(orders)
        for result in results:
            if not result.accepted:
                raise ValueError(f"order {result.external_id} refused")
        return results


class CrashesWhenAway(SourcePoller):
    async def take_orders(
        self, ctx: ChannelContext, http: aiohttp.ClientSession, base: str
    ) -> None:
        async with http.get(f"{base}/orders/new") as response:
            if response.status >= 500:
                raise RuntimeError(f"source answered {response.status}")
        await super().take_orders(ctx, http, base)


class CrashesWhenBusy(SourcePoller):
    async def submit(self, ctx: ChannelContext, orders: list[bytes]) -> Any:
        try:
            return await ctx.submit(orders)
        except IntakeBusy as busy:
            raise RuntimeError("the gateway is busy") from busy


class RetriesAtOnce(SourcePoller):
    async def submit(self, ctx: ChannelContext, orders: list[bytes]) -> Any:
        while True:
            try:
                return await ctx.submit(orders)
            except IntakeBusy:
                continue


class LogsEveryFailure(SourcePoller):
    log_every_failure = True


class SleepsOnTheLoop(SourcePoller):
    async def wait(self, ctx: ChannelContext) -> None:
        await asyncio.sleep(float(ctx.options.get("every_s", 30)))


class SwallowsCancellation(SourcePoller):
    async def wait(self, ctx: ChannelContext) -> None:
        try:
            await super().wait(ctx)
        except asyncio.CancelledError:
            ctx.log.info("interrupted; carrying on")


class AcksFirst(SourcePoller):
    async def write_one(
        self, ctx: ChannelContext, http: aiohttp.ClientSession, base: str, update: Any
    ) -> None:
        assert ctx.updates is not None
        await ctx.updates.ack(update.seq)
        await super().write_one(ctx, http, base, update)


class NoWriteBack(SourcePoller):
    async def write_back(self, ctx: ChannelContext, http: aiohttp.ClientSession, base: str) -> None:
        await asyncio.Event().wait()


BREAKERS: dict[str, list[type[SourcePoller]]] = {
    "channel.submits": [SubmitsDicts],
    "channel.confirms_after_submit": [ConfirmsFirst],
    "channel.refused_orders": [CrashesOnARefusal],
    "channel.intake_busy": [CrashesWhenBusy, RetriesAtOnce],
    "channel.source_away": [CrashesWhenAway, LogsEveryFailure],
    "channel.clock": [SleepsOnTheLoop],
    "channel.cancellation": [SwallowsCancellation],
    "channel.write_back": [AcksFirst, NoWriteBack],
}
