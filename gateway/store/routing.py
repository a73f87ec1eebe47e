"""Routing in the store: the catalog (known stock), and the unit of work that turns received
orders into purchase orders while reserving their stock.

A group of orders is routed in one job with set-based statements: one read of the orders, one
of the catalog, then one statement per kind of write for up to 64 rows (`Tx.execute_rows`).
The planner runs inside the job, on the current stock, so two orders can never both take the
last unit. An order that makes the
planner raise is held (`internal_error`) and the rest of the group routes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal

import msgspec

from gateway.domain.model import CatalogItem, NewEvent, Order, OrderStatus, PoLine, PoStatus
from gateway.domain.routing import Candidate, Hold, Planner, RoutePlan, SupplierView
from gateway.plugin_api.adapters import PurchaseOrderRequest
from gateway.store import events
from gateway.store.codec import encode, iso, po_id_for
from gateway.store.db import IN_LIST, Database, Tx, json_list
from gateway.store.purchase_orders import request_for

INTERNAL_ERROR = "internal_error"


# What the suppliers' actors are handed once routing is committed: the new POs, ready to send,
# by supplier (so an actor need not read back what was just written).
NewPurchaseOrders = dict[str, list[PurchaseOrderRequest]]


class Routed(msgspec.Struct, frozen=True):
    order_id: str
    status: OrderStatus
    po_ids_by_supplier: dict[str, list[str]] = {}
    error: str | None = None  # the planner's exception, for an order held as internal_error


async def sync_catalog(db: Database, items: Sequence[CatalogItem]) -> None:
    """Make the catalog table match the config. Known stock keeps counting down across
    restarts; a stock figure changed in the config replaces the count."""

    def job(tx: Tx) -> None:
        tx.execute("CREATE TEMP TABLE IF NOT EXISTS configured (sku TEXT, supplier_id TEXT)")
        tx.execute("DELETE FROM temp.configured")
        tx.executemany(
            "INSERT INTO catalog (sku, supplier_id, cost, priority, stock, configured_stock)"
            " VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (sku, supplier_id) DO UPDATE SET cost = excluded.cost,"
            " priority = excluded.priority,"
            " stock = CASE WHEN catalog.configured_stock != excluded.configured_stock"
            "   THEN excluded.stock ELSE catalog.stock END,"
            " configured_stock = excluded.configured_stock",
            [(i.sku, i.supplier_id, str(i.cost), i.priority, i.stock, i.stock) for i in items],
        )
        tx.executemany(
            "INSERT INTO temp.configured VALUES (?, ?)", [(i.sku, i.supplier_id) for i in items]
        )
        tx.execute(
            "DELETE FROM catalog WHERE (sku, supplier_id) NOT IN"
            " (SELECT sku, supplier_id FROM temp.configured)"
        )

    await db.write(job)


async def orders_waiting_for_routing(db: Database, limit: int = 500) -> list[str]:
    rows = await db.fetchall(
        "SELECT order_id FROM orders WHERE status = ? ORDER BY seq LIMIT ?",
        (OrderStatus.RECEIVED.value, limit),
    )
    return [r["order_id"] for r in rows]


class _Writes:
    """What routing a group writes, collected so each kind is written set-based."""

    def __init__(self) -> None:
        self.purchase_orders: list[tuple[str, str, str, str, bytes, str, str]] = []
        self.stock: list[tuple[int, str, str]] = []
        self.orders: list[tuple[str, str | None, str | None, str, str]] = []
        self.events: list[NewEvent] = []


_orders = msgspec.json.Decoder(list[Order])  # one read of the group's orders: one SQLite step


def _load(tx: Tx, order_ids: Sequence[str]) -> tuple[list[Order], dict[tuple[str, str], Candidate]]:
    orders = tx.fetch_json(
        "SELECT json_group_array(json(CAST(doc AS TEXT))) FROM (SELECT doc FROM orders"
        f" WHERE order_id {IN_LIST} AND status = ? ORDER BY seq)",
        [json_list(order_ids), OrderStatus.RECEIVED.value],
        _orders,
    )
    skus = sorted({line.sku for order in orders for line in order.lines})
    catalog: dict[tuple[str, str], Candidate] = {}
    if skus:
        for row in tx.fetchall(
            f"SELECT sku, supplier_id, cost, priority, stock FROM catalog WHERE sku {IN_LIST}",
            [json_list(skus)],
        ):
            catalog[(row["supplier_id"], row["sku"])] = Candidate(
                supplier_id=row["supplier_id"],
                sku=row["sku"],
                cost=Decimal(row["cost"]),
                priority=row["priority"],
                stock=row["stock"],
            )
    return orders, catalog


def _hold(
    writes: _Writes, order_id: str, reason: str, detail: str, data: dict[str, object], at: str
) -> None:
    writes.orders.append((OrderStatus.ON_HOLD.value, reason, detail, at, order_id))
    writes.events.append(
        NewEvent(
            type="order.exception",
            order_id=order_id,
            data={**data, "status": OrderStatus.ON_HOLD.value, "reason": reason, "detail": detail},
        )
    )


def _assign(
    writes: _Writes,
    order: Order,
    plan: RoutePlan,
    catalog: dict[tuple[str, str], Candidate],
    moment: datetime,
    ready: NewPurchaseOrders,
) -> dict[str, list[str]]:
    """Record the plan's POs and reserve their stock (in `catalog` too, for the next order)."""
    at = iso(moment)
    po_ids: dict[str, list[str]] = {}
    created: list[dict[str, object]] = []
    for index, assignment in enumerate(plan.assignments, start=1):
        po_id = po_id_for(order.order_id, index)
        supplier_id = assignment.supplier_id
        lines = [
            PoLine(line_id=line.line_id, sku=line.sku, quantity=line.quantity, unit_cost=c.cost)
            for line, c in assignment.lines
        ]
        writes.purchase_orders.append(
            (po_id, order.order_id, supplier_id, PoStatus.PENDING.value, encode(lines), at, at)
        )
        for line in lines:
            writes.stock.append((line.quantity, line.sku, supplier_id))
            key = (supplier_id, line.sku)
            candidate = catalog[key]
            catalog[key] = msgspec.structs.replace(candidate, stock=candidate.stock - line.quantity)
        created.append(
            {
                "po_id": po_id,
                "supplier_id": supplier_id,
                "lines": [{"sku": ln.sku, "quantity": ln.quantity} for ln in lines],
            }
        )
        po_ids.setdefault(supplier_id, []).append(po_id)
        ready.setdefault(supplier_id, []).append(
            request_for(order, po_id, supplier_id, moment, lines)
        )
    writes.orders.append((OrderStatus.ROUTED.value, None, None, at, order.order_id))
    writes.events.append(
        NewEvent(
            type="order.routed",
            order_id=order.order_id,
            data={
                **plan.explanation,
                "status": OrderStatus.ROUTED.value,
                "purchase_orders": created,
            },
        )
    )
    return po_ids


def _apply(tx: Tx, writes: _Writes, now: datetime) -> None:
    tx.execute_rows(
        "INSERT INTO purchase_orders (po_id, order_id, supplier_id, status, lines, created_at,"
        " updated_at) VALUES {rows}",
        writes.purchase_orders,
    )
    taken: dict[tuple[str, str], int] = {}
    for quantity, sku, supplier_id in writes.stock:
        taken[(sku, supplier_id)] = taken.get((sku, supplier_id), 0) + quantity
    tx.execute_rows(
        "UPDATE catalog SET stock = stock - v.column1 FROM (VALUES {rows}) AS v"
        " WHERE sku = v.column2 AND supplier_id = v.column3",
        [(quantity, sku, supplier_id) for (sku, supplier_id), quantity in taken.items()],
    )
    tx.execute_rows(
        "UPDATE orders SET status = v.column1, hold_reason = v.column2, hold_detail = v.column3,"
        " updated_at = v.column4 FROM (VALUES {rows}) AS v WHERE order_id = v.column5",
        writes.orders,
    )
    events.append(tx, now, writes.events)


async def route_orders(
    db: Database,
    order_ids: Sequence[str],
    planner: Planner,
    suppliers: Callable[[], Mapping[str, SupplierView]],
    now: Callable[[], datetime],
    on_commit: Callable[[NewPurchaseOrders], None],
) -> list[Routed]:
    """Plan and commit routing for the orders still `received`; others are skipped.

    `on_commit` gets the new POs by supplier once they are durable.
    """

    def job(tx: Tx) -> list[Routed]:
        moment = now()
        at = iso(moment)
        orders, catalog = _load(tx, order_ids)
        views = suppliers()
        writes = _Writes()
        outcomes: list[Routed] = []
        ready: NewPurchaseOrders = {}
        for order in orders:
            try:
                skus = {line.sku for line in order.lines}
                candidates = [c for (_, sku), c in catalog.items() if sku in skus]
                plan = planner.plan(order, candidates, views)
            except Exception as error:  # a planner bug must not stop the rest of the group
                message = f"{type(error).__name__}: {error}"
                _hold(writes, order.order_id, INTERNAL_ERROR, "routing failed", {}, at)
                outcomes.append(Routed(order.order_id, OrderStatus.ON_HOLD, error=message))
                continue
            if isinstance(plan, Hold):
                _hold(writes, order.order_id, plan.reason, plan.detail, plan.explanation, at)
                outcomes.append(Routed(order.order_id, OrderStatus.ON_HOLD))
                continue
            po_ids = _assign(writes, order, plan, catalog, moment, ready)
            outcomes.append(Routed(order.order_id, OrderStatus.ROUTED, po_ids))
        _apply(tx, writes, moment)
        if ready:
            tx.after_commit(lambda: on_commit(ready))
        return outcomes

    return await db.write(job)


async def hold_for_internal_error(db: Database, order_id: str, error: str, now: datetime) -> bool:
    """Set aside an order whose routing fails even alone (`internal_error`, on hold)."""

    def job(tx: Tx) -> bool:
        return events.set_order_status(
            tx,
            order_id,
            OrderStatus.ON_HOLD,
            now,
            reason=INTERNAL_ERROR,
            detail="routing failed",
            data={"error": error},
            allowed_from=(OrderStatus.RECEIVED,),
        )

    return await db.write(job)
