"""The internal bus: named, bounded mailboxes carrying immutable msgspec messages.

Messages are hints ("these orders are waiting"), never the only record of work: the store is.
So a full mailbox never blocks the sender and never loses work. The message is dropped, the
mailbox remembers it overflowed, and its actor sweeps the store for waiting work once it has
drained its queue. An actor restarted after a crash sweeps the same way, and every actor also
sweeps after `SWEEP_INTERVAL_S` without messages, so no lost hint can strand work.
"""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

import msgspec

from gateway.plugin_api.adapters import PurchaseOrderRequest


class Message(msgspec.Struct, frozen=True, tag=True):
    """Base of every bus message; `tag` makes the union decodable and `match`-able by type."""


class OrdersAccepted(Message, frozen=True):
    """New orders are stored and wait for routing."""

    order_ids: tuple[str, ...]


class PurchaseOrdersReady(Message, frozen=True):
    """Purchase orders are stored and wait for their supplier. New ones come with what the
    adapter is given (`requests`), so the actor does not read back what was just written."""

    po_ids: tuple[str, ...]
    requests: tuple[PurchaseOrderRequest, ...] = ()


class CancelPurchaseOrders(Message, frozen=True):
    """These POs were cancelled; the supplier may hold them and must be told."""

    po_ids: tuple[str, ...]


class SupplierHealthChanged(Message, frozen=True):
    supplier_id: str


BusMessage = OrdersAccepted | PurchaseOrdersReady | CancelPurchaseOrders | SupplierHealthChanged

M = TypeVar("M", bound=Message)


class Mailbox(Generic[M]):
    """A bounded queue that drops rather than blocks, and remembers that it dropped."""

    def __init__(self, address: str, maxsize: int = 1024) -> None:
        self.address = address
        self._queue: asyncio.Queue[M] = asyncio.Queue(maxsize)
        self._overflowed = False

    def offer(self, message: M) -> bool:
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            self._overflowed = True
            return False
        return True

    async def get(self) -> M:
        return await self._queue.get()

    async def get_or_none(self, timeout_s: float) -> M | None:
        """The next message, or None after `timeout_s` without one (time for a sweep)."""
        try:
            async with asyncio.timeout(timeout_s):
                return await self._queue.get()
        except TimeoutError:
            return None

    def get_nowait(self) -> M | None:
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def take_overflow(self) -> bool:
        """True once after messages were dropped: the owner should sweep the store."""
        overflowed, self._overflowed = self._overflowed, False
        return overflowed


class Bus:
    """Addresses to mailboxes. Actors own their mailbox; others only `offer` to it."""

    def __init__(self) -> None:
        self._mailboxes: dict[str, Mailbox[Message]] = {}

    def mailbox(self, address: str, maxsize: int = 1024) -> Mailbox[Message]:
        """The mailbox at `address`, created on first use so it outlives actor restarts."""
        box = self._mailboxes.get(address)
        if box is None:
            box = self._mailboxes[address] = Mailbox(address, maxsize)
        return box

    def offer(self, address: str, message: Message) -> bool:
        box = self._mailboxes.get(address)
        return box.offer(message) if box is not None else False


def supplier_address(supplier_id: str) -> str:
    return f"supplier:{supplier_id}"


SWEEP_INTERVAL_S = 30.0

ROUTER = "router"
HEALTH = "health"
