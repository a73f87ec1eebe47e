"""A channel that exercises plugin API 2 the way an ERP channel does: it submits the orders its
options list, keeps a counter in its durable state, and records every order update it gets,
acknowledging them when `ack` is set. Tests read what it saw and drive its `ctx.orders`."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from gateway.plugin_api import AdapterRegistry, ChannelContext, OrderUpdate, hookimpl

plugin_api_version = 2

SEEN: list[OrderUpdate] = []
CONTEXTS: dict[str, ChannelContext] = {}
STARTS: dict[str, int] = {}
_changed: asyncio.Condition | None = None


def reset() -> None:
    global _changed
    SEEN.clear()
    CONTEXTS.clear()
    STARTS.clear()
    _changed = asyncio.Condition()


async def _notify() -> None:
    assert _changed is not None
    async with _changed:
        _changed.notify_all()


async def wait_for(predicate: Any, timeout: float = 20) -> None:
    """Until `predicate()` holds; checked after every update the channel records."""
    assert _changed is not None
    async with _changed, asyncio.timeout(timeout):
        await _changed.wait_for(predicate)


class WritebackChannel:
    async def run(self, ctx: ChannelContext) -> None:
        assert ctx.state is not None
        assert ctx.updates is not None
        starts = int(await ctx.state.get("starts") or "0") + 1
        await ctx.state.set("starts", str(starts))
        STARTS[ctx.channel_id] = starts
        CONTEXTS[ctx.channel_id] = ctx
        orders = ctx.options.get("submit", [])
        if orders:
            await ctx.submit([json.dumps(order).encode() for order in orders])
        await _notify()
        while True:
            batch = await ctx.updates.next_batch(limit=int(ctx.options.get("limit", 100)))
            SEEN.extend(batch)
            if ctx.options.get("ack", True):
                await ctx.updates.ack(batch[-1].seq)
            await _notify()


@hookimpl
def dropship_gateway_register_adapters(registry: AdapterRegistry) -> None:
    registry.channel_adapter("writeback", WritebackChannel)
