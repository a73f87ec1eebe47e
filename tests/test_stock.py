"""Known stock, through the store's own units of work: routing reserves units, a supplier's
refusal or a cancellation gives back what will not ship, `out_of_stock` makes the count zero,
and the count survives a restart. Real SQLite files; intake, routing, outcomes and cancellation
are the functions the gateway's actors call."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from gateway.actors.bus import Bus
from gateway.actors.intake import IntakeService
from gateway.domain.model import CatalogItem, OrderStatus, PoStatus, ShipmentLine
from gateway.domain.routing import RulePlanner, SupplierView
from gateway.infra.clock import FakeClock
from gateway.infra.metrics import Metrics
from gateway.store.db import Database
from gateway.store.order_actions import cancel
from gateway.store.purchase_orders import MarkAccepted, MarkRejected, MarkSent, record_outcomes
from gateway.store.queries import get_order
from gateway.store.routing import Routed, route_orders, sync_catalog
from gateway.store.shipments import record_shipment
from tests.harness import order_json

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
CHEAP = SupplierView(supplier_id="cheap", regions=("CN",))
BACKUP = SupplierView(supplier_id="backup", regions=("CN",))
# Three units of SKU-1 at the cheaper supplier; the backup has plenty but costs more.
CATALOG = [
    CatalogItem(sku="SKU-1", supplier_id="cheap", cost=Decimal("1.00"), priority=1, stock=3),
    CatalogItem(sku="SKU-1", supplier_id="backup", cost=Decimal("2.00"), priority=1, stock=10),
]


class Store:
    """Drives the write path as the actors do, on a fake clock."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.clock = FakeClock(T0)
        self.intake = IntakeService(db, Bus(), self.clock, Metrics())
        self.suppliers: dict[str, SupplierView] = {"cheap": CHEAP, "backup": BACKUP}
        self.route_together = True  # `route_all`: one unit of work, or one per order

    def now(self) -> datetime:
        self.clock.advance(1)  # each step a second later: timestamps stay in order
        return self.clock.now()

    async def receive(self, external_id: str, quantity: int) -> str:
        body = json.dumps(order_json(external_id, [("SKU-1", quantity)])).encode()
        [result] = await self.intake.submit([body])
        assert result.order_id is not None, result
        return result.order_id

    async def route(self, order_ids: Sequence[str]) -> list[Routed]:
        suppliers: Mapping[str, SupplierView] = self.suppliers
        return await route_orders(
            self.db, order_ids, RulePlanner("cost", "allow"), lambda: suppliers, self.now, _ignore
        )

    async def route_all(self, order_ids: list[str]) -> list[Routed]:
        if self.route_together:
            return await self.route(order_ids)
        return [routed for order_id in order_ids for routed in await self.route([order_id])]

    async def stock(self, supplier_id: str) -> int:
        row = await self.db.fetchone(
            "SELECT stock FROM catalog WHERE sku = 'SKU-1' AND supplier_id = ?", (supplier_id,)
        )
        assert row is not None, f"{supplier_id} does not carry SKU-1"
        return int(row[0])

    async def po_of(self, order_id: str) -> tuple[str, str]:
        """(po_id, supplier_id) of an order routed to one supplier."""
        state = await get_order(self.db, order_id)
        assert state is not None
        [po] = state.purchase_orders
        return po.po_id, po.supplier_id

    async def order_status(self, order_id: str) -> tuple[OrderStatus, str | None]:
        state = await get_order(self.db, order_id)
        assert state is not None
        return state.status, state.hold_reason


def _ignore(_: object) -> None:
    """Routing's commit callback tells the supplier actors; there are none here."""


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with Database(tmp_path / "gateway.db") as db:
        await sync_catalog(db, CATALOG)
        yield Store(db)


@pytest.fixture(params=["in one group", "one at a time"])
def grouping(request: pytest.FixtureRequest, store: Store) -> Store:
    """Both ways matter: in one group the planner must see the first order's reservation
    before it is committed; one at a time it must read the committed count."""
    store.route_together = request.param == "in one group"
    return store


async def test_the_second_order_goes_to_the_next_supplier_once_the_first_has_too_little(
    grouping: Store,
) -> None:
    store = grouping
    first = await store.receive("SO-1", 2)
    second = await store.receive("SO-2", 2)
    routed = await store.route_all([first, second])
    assert [(r.order_id, list(r.po_ids_by_supplier)) for r in routed] == [
        (first, ["cheap"]),
        (second, ["backup"]),  # cheap has 1 left, the order wants 2
    ]
    assert await store.stock("cheap") == 1
    assert await store.stock("backup") == 8


async def test_with_no_other_supplier_the_second_order_is_held_no_route(grouping: Store) -> None:
    store = grouping
    del store.suppliers["backup"]
    first = await store.receive("SO-1", 2)
    second = await store.receive("SO-2", 2)
    routed = await store.route_all([first, second])
    assert [r.status for r in routed] == [OrderStatus.ROUTED, OrderStatus.ON_HOLD]
    assert await store.order_status(second) == (OrderStatus.ON_HOLD, "no_route")
    assert await store.stock("cheap") == 1  # the held order reserved nothing
    state = await get_order(store.db, second)
    assert state is not None
    assert state.purchase_orders == ()


@pytest.mark.parametrize(
    ("reason", "failed"),
    [("bad_address", False), ("gave_up", True)],
    ids=["rejected", "failed"],
)
async def test_a_po_that_will_not_ship_gives_its_units_back_once(
    store: Store, reason: str, failed: bool
) -> None:
    order_id = await store.receive("SO-1", 2)
    await store.route([order_id])
    po_id, supplier_id = await store.po_of(order_id)
    assert (supplier_id, await store.stock("cheap")) == ("cheap", 1)

    await record_outcomes(store.db, [MarkSent(po_id)], store.now())
    outcome = MarkRejected(po_id, reason, "the supplier said no", failed=failed)
    assert await record_outcomes(store.db, [outcome], store.now()) == [True]
    assert await store.stock("cheap") == 3
    assert await store.order_status(order_id) == (OrderStatus.ON_HOLD, reason)

    # A repeated answer, and cancelling the held order, return nothing a second time.
    assert await record_outcomes(store.db, [outcome], store.now()) == [False]
    await cancel(store.db, order_id, "customer asked", store.now())
    assert await store.stock("cheap") == 3

    # The units are usable again: an order for all three goes to the cheap supplier.
    again = await store.receive("SO-2", 3)
    [routed] = await store.route([again])
    assert list(routed.po_ids_by_supplier) == ["cheap"]
    assert await store.stock("cheap") == 0


async def test_out_of_stock_sets_the_known_stock_to_zero(store: Store) -> None:
    order_id = await store.receive("SO-1", 2)
    await store.route([order_id])
    po_id, _ = await store.po_of(order_id)
    await record_outcomes(store.db, [MarkSent(po_id)], store.now())
    refused = MarkRejected(po_id, "out_of_stock", "none left")
    assert await record_outcomes(store.db, [refused], store.now()) == [True]
    assert await store.stock("cheap") == 0  # not 3 (units back) nor 1 (what we thought)
    assert await store.order_status(order_id) == (OrderStatus.ON_HOLD, "out_of_stock")

    # The next order for a single unit, which the old count would have allowed, goes elsewhere.
    later = await store.receive("SO-2", 1)
    [routed] = await store.route([later])
    assert list(routed.po_ids_by_supplier) == ["backup"]


async def test_a_cancellation_returns_the_units_that_have_not_shipped(store: Store) -> None:
    store.suppliers = {"cheap": CHEAP}
    waiting = await store.receive("SO-WAITING", 1)  # routed, never sent
    shipping = await store.receive("SO-SHIPPING", 2)  # accepted, one unit shipped
    await store.route([waiting, shipping])
    assert await store.stock("cheap") == 0
    po_id, _ = await store.po_of(shipping)
    await record_outcomes(store.db, [MarkSent(po_id)], store.now())
    await record_outcomes(store.db, [MarkAccepted(po_id, "REF-1")], store.now())
    moment = store.now()
    shipped = await record_shipment(
        store.db, "cheap", po_id, "SF", "SF-1", moment, (ShipmentLine(sku="SKU-1", quantity=1),),
        moment,
    )  # fmt: skip
    assert shipped is not None

    cancelled = await cancel(store.db, waiting, "customer asked", store.now())
    assert cancelled.changed
    assert await store.stock("cheap") == 1

    partly = await cancel(store.db, shipping, "customer asked", store.now())
    assert partly.changed
    assert await store.stock("cheap") == 2  # the unshipped unit came back, the shipped one not
    state = await get_order(store.db, shipping)
    assert state is not None
    [po] = state.purchase_orders
    assert po.status == PoStatus.SHIPPED  # what shipped stays shipped
    assert [(ln.shipped_qty, ln.cancelled_qty) for ln in po.lines] == [(1, 1)]
    assert partly.to_notify == {"cheap": [po_id]}  # the supplier is to be told

    # Cancelling again changes nothing.
    assert not (await cancel(store.db, waiting, "again", store.now())).changed
    await cancel(store.db, shipping, "again", store.now())
    assert await store.stock("cheap") == 2


async def test_the_count_survives_a_restart_and_a_changed_configured_figure_replaces_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "gateway.db"
    async with Database(path) as db:
        await sync_catalog(db, CATALOG)
        store = Store(db)
        await store.route([await store.receive("SO-1", 2)])
        assert await store.stock("cheap") == 1

    # A restart with the same config: the count goes on from where it was (a new cost too).
    repriced = [
        CatalogItem(sku="SKU-1", supplier_id="cheap", cost=Decimal("1.10"), priority=1, stock=3),
        CATALOG[1],
    ]
    async with Database(path) as db:
        await sync_catalog(db, repriced)
        store = Store(db)
        assert await store.stock("cheap") == 1
        assert await store.stock("backup") == 10

    # A restart with a new stock figure in the config: the configured figure replaces the count.
    restocked = [
        CatalogItem(sku="SKU-1", supplier_id="cheap", cost=Decimal("1.10"), priority=1, stock=50),
        CATALOG[1],
    ]
    async with Database(path) as db:
        await sync_catalog(db, restocked)
        store = Store(db)
        assert await store.stock("cheap") == 50
        await store.route([await store.receive("SO-2", 5)])
        assert await store.stock("cheap") == 45

    # And the next restart with that same figure keeps counting.
    async with Database(path) as db:
        await sync_catalog(db, restocked)
        assert await Store(db).stock("cheap") == 45


async def test_outcomes_recorded_at_once_by_two_suppliers_each_get_their_own_answers(
    store: Store,
) -> None:
    """Outcomes waiting for the same group commit are recorded in one pass; each recorder still
    learns what its own outcomes changed, and a rejection among them gives its units back."""
    first = await store.receive("SO-1", 1)
    second = await store.receive("SO-2", 1)
    await store.route([first, second])
    first_po, _ = await store.po_of(first)
    second_po, _ = await store.po_of(second)
    assert await store.stock("cheap") == 1

    commits = store.db.commits
    accepted, rejected = await asyncio.gather(
        record_outcomes(store.db, [MarkAccepted(first_po, "REF-1"), MarkAccepted("po_x-1")], T0),
        record_outcomes(store.db, [MarkRejected(second_po, "bad_address", "no such street")], T0),
    )
    assert (accepted, rejected) == ([True, False], [True])
    assert store.db.commits == commits + 1  # one group: they were recorded together
    assert await store.order_status(first) == (OrderStatus.ACKNOWLEDGED, None)
    assert await store.order_status(second) == (OrderStatus.ON_HOLD, "bad_address")
    assert await store.stock("cheap") == 2


async def test_the_same_acceptance_twice_in_one_group_changes_the_po_once(store: Store) -> None:
    """A repeated answer within one recorded group (a retry that raced its own success) ends the
    set-based run of acceptances: the second finds the PO accepted already."""
    order_id = await store.receive("SO-1", 1)
    await store.route([order_id])
    po_id, _ = await store.po_of(order_id)
    outcomes = [MarkAccepted(po_id, "REF-1"), MarkAccepted(po_id, "REF-2")]
    assert await record_outcomes(store.db, outcomes, store.now()) == [True, False]
    row = await store.db.fetchone(
        "SELECT supplier_ref FROM purchase_orders WHERE po_id = ?", (po_id,)
    )
    assert row is not None
    assert row[0] == "REF-1"
