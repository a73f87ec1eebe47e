"""The router gathers the orders that arrive within its linger and routes them together, up to
its batch size, and never waits longer than the linger for company."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.actors.bus import ROUTER, Bus, OrdersAccepted
from gateway.actors.router import BATCH, RouterActor
from gateway.domain.routing import RulePlanner
from gateway.infra.clock import FakeClock
from gateway.infra.metrics import Metrics
from gateway.store.db import Database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with Database(tmp_path / "gateway.db") as database:
        yield database


def router(db: Database, bus: Bus, linger_s: float) -> RouterActor:
    return RouterActor(
        db,
        bus.mailbox(ROUTER),
        bus,
        RulePlanner(),
        dict,
        FakeClock(),
        Metrics(),
        linger_s=linger_s,
    )


async def test_orders_arriving_within_the_linger_are_routed_together(db: Database) -> None:
    bus = Bus()
    actor = router(db, bus, linger_s=30.0)  # long: only a full batch or an arrival ends the wait
    gathering = asyncio.create_task(actor._gather(OrdersAccepted(("ord-1",))))

    def arrive() -> None:
        bus.offer(ROUTER, OrdersAccepted(("ord-2",)))
        bus.offer(ROUTER, OrdersAccepted(tuple(f"ord-{i}" for i in range(3, BATCH + 5))))

    # The loop runs callbacks in the order they were scheduled: the router first finds its
    # mailbox empty (without a linger it would return ["ord-1"] there), then these arrive.
    asyncio.get_running_loop().call_soon(arrive)
    # the batch is full: routed now, without waiting out the linger; the rest waits its turn
    async with asyncio.timeout(10):
        gathered = await gathering
    assert gathered[:2] == ["ord-1", "ord-2"]
    assert len(gathered) >= BATCH


async def test_an_order_alone_waits_no_longer_than_the_linger(db: Database) -> None:
    bus = Bus()
    actor = router(db, bus, linger_s=0.05)
    loop = asyncio.get_running_loop()
    began = loop.time()
    async with asyncio.timeout(10):
        gathered = await actor._gather(OrdersAccepted(("ord-1",)))
    assert gathered == ["ord-1"]
    assert loop.time() - began >= 0.05  # it did wait for company, and then went alone
