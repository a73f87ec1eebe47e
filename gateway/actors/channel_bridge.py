"""What a channel adapter reaches of the gateway besides `submit` (plugin API 2): its orders'
events to write back (`OrderUpdates`) and reads and actions on its own orders (`ChannelOrders`)."""

from __future__ import annotations

import asyncio
import functools

from gateway.actors.order_actions import OrderActions, OrderMissing
from gateway.domain.model import OrderState
from gateway.plugin_api.adapters import ChannelOrder, OrderNotFound, OrderUpdate
from gateway.store import events
from gateway.store.db import Database
from gateway.store.queries import find_order, get_order


class ChannelUpdates:
    """`OrderUpdates` of one channel: the event log from the channel's durable position,
    filtered to its own orders. Woken by every commit; what it scanned without finding anything
    of this channel is not scanned again (only `ack` moves the durable position)."""

    def __init__(self, db: Database, channel_id: str) -> None:
        self._db = db
        self._channel = channel_id
        self._consumer = f"channel:{channel_id}"
        self._scanned: int | None = None
        self._changed = asyncio.Event()
        db.add_commit_listener(self._changed.set)

    async def next_batch(self, limit: int = 100) -> list[OrderUpdate]:
        limit = max(1, min(limit, 1000))
        while True:
            self._changed.clear()
            if self._scanned is None:
                self._scanned = await self._db.read(
                    functools.partial(events.position, consumer=self._consumer)
                )
            updates, scanned = await self._db.read(
                functools.partial(
                    events.channel_events,
                    instance=self._db.instance_id,
                    channel=self._channel,
                    after_seq=self._scanned,
                    limit=limit,
                )
            )
            if updates:
                self._scanned = updates[-1]["seq"]
                return [OrderUpdate(**u) for u in updates]
            self._scanned = scanned
            await self._changed.wait()

    async def ack(self, through_seq: int) -> None:
        await events.move_position(self._db, self._consumer, through_seq)


class ChannelOrderAccess:
    """`ChannelOrders` of one channel: only orders it submitted."""

    def __init__(self, db: Database, actions: OrderActions, channel_id: str) -> None:
        self._db = db
        self._actions = actions
        self._channel = channel_id

    async def get(self, order_id: str) -> ChannelOrder | None:
        state = await get_order(self._db, order_id)
        return _view(state) if state and state.order.channel == self._channel else None

    async def find(self, external_id: str) -> ChannelOrder | None:
        state = await find_order(self._db, self._channel, external_id)
        return _view(state) if state else None

    async def cancel(self, order_id: str, reason: str) -> ChannelOrder:
        await self._own(order_id)
        return _view(await self._actions.cancel(order_id, reason))

    async def set_payment(self, order_id: str, status: str) -> ChannelOrder:
        await self._own(order_id)
        return _view(await self._actions.set_payment(order_id, status))

    async def _own(self, order_id: str) -> None:
        if await self.get(order_id) is None:
            raise OrderNotFound(f"channel {self._channel!r} has no order {order_id!r}")


def _view(state: OrderState) -> ChannelOrder:
    return ChannelOrder(
        order=state.order,
        status=state.status.value,
        hold_reason=state.hold_reason,
        purchase_orders=state.purchase_orders,
    )


__all__ = ["ChannelOrderAccess", "ChannelUpdates", "OrderMissing"]
