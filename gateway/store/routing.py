"""Routing in the store: the catalog (known stock), and the transaction that turns a received
order into purchase orders while reserving their stock."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal

import msgspec

from gateway.domain.model import OrderStatus, PoLine, PoStatus
from gateway.domain.routing import Candidate, Hold, Planner, SupplierView
from gateway.infra.config import CatalogEntry
from gateway.store.codec import encode, iso, order_decoder, po_id_for
from gateway.store.db import Database, Tx
from gateway.store.feed import emit, set_order_status


class Routed(msgspec.Struct, frozen=True):
    order_id: str
    status: OrderStatus
    po_ids_by_supplier: dict[str, list[str]] = {}


async def sync_catalog(db: Database, entries: Sequence[CatalogEntry]) -> None:
    """Make the catalog table match the config. Known stock keeps counting down across
    restarts; a stock figure changed in the config replaces the count."""

    async def job(tx: Tx) -> None:
        await tx.execute("CREATE TEMP TABLE IF NOT EXISTS configured (sku TEXT, supplier_id TEXT)")
        await tx.execute("DELETE FROM temp.configured")
        await tx.executemany(
            "INSERT INTO catalog (sku, supplier_id, cost, priority, stock, configured_stock)"
            " VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (sku, supplier_id) DO UPDATE SET cost = excluded.cost,"
            " priority = excluded.priority,"
            " stock = CASE WHEN catalog.configured_stock != excluded.configured_stock"
            "   THEN excluded.stock ELSE catalog.stock END,"
            " configured_stock = excluded.configured_stock",
            [(e.sku, e.supplier, e.cost, e.priority, e.stock, e.stock) for e in entries],
        )
        await tx.executemany(
            "INSERT INTO temp.configured VALUES (?, ?)", [(e.sku, e.supplier) for e in entries]
        )
        await tx.execute(
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


async def route_orders(
    db: Database,
    order_ids: Sequence[str],
    planner: Planner,
    suppliers: Callable[[], Mapping[str, SupplierView]],
    now: Callable[[], datetime],
    on_commit: Callable[[dict[str, list[str]]], None],
) -> list[Routed]:
    """Plan and commit routing for orders still `received`; others are skipped.

    `on_commit` gets the new po_ids by supplier once they are durable.
    """

    async def job(tx: Tx) -> list[Routed]:
        moment = now()
        outcomes: list[Routed] = []
        by_supplier: dict[str, list[str]] = {}
        views = suppliers()
        for order_id in order_ids:
            row = await tx.fetchone(
                "SELECT status, doc FROM orders WHERE order_id = ?", (order_id,)
            )
            if row is None or row["status"] != OrderStatus.RECEIVED.value:
                continue
            order = order_decoder.decode(row["doc"])
            skus = sorted({line.sku for line in order.lines})
            rows = await tx.fetchall(
                "SELECT sku, supplier_id, cost, priority, stock FROM catalog"
                f" WHERE sku IN ({','.join('?' * len(skus))})",
                skus,
            )
            candidates = [
                Candidate(
                    supplier_id=r["supplier_id"],
                    sku=r["sku"],
                    cost=Decimal(r["cost"]),
                    priority=r["priority"],
                    stock=r["stock"],
                )
                for r in rows
            ]
            plan = planner.plan(order, candidates, views)
            if isinstance(plan, Hold):
                await set_order_status(
                    tx,
                    order_id,
                    OrderStatus.ON_HOLD,
                    moment,
                    reason=plan.reason,
                    detail=plan.detail,
                    data={"detail": plan.detail, **plan.explanation},
                )
                outcomes.append(Routed(order_id, OrderStatus.ON_HOLD))
                continue
            po_ids: dict[str, list[str]] = {}
            for index, assignment in enumerate(plan.assignments, start=1):
                po_id = po_id_for(order_id, index)
                lines = [
                    PoLine(
                        line_id=line.line_id,
                        sku=line.sku,
                        quantity=line.quantity,
                        unit_cost=candidate.cost,
                    )
                    for line, candidate in assignment.lines
                ]
                await tx.execute(
                    "INSERT INTO purchase_orders (po_id, order_id, supplier_id, status, lines,"
                    " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        po_id,
                        order_id,
                        assignment.supplier_id,
                        PoStatus.PENDING.value,
                        encode(lines),
                        iso(moment),
                        iso(moment),
                    ),
                )
                await tx.executemany(
                    "UPDATE catalog SET stock = stock - ? WHERE sku = ? AND supplier_id = ?",
                    [(ln.quantity, ln.sku, assignment.supplier_id) for ln in lines],
                )
                await emit(
                    tx,
                    "po.created",
                    moment,
                    order_id=order_id,
                    po_id=po_id,
                    supplier_id=assignment.supplier_id,
                    data={"lines": [{"sku": ln.sku, "quantity": ln.quantity} for ln in lines]},
                )
                po_ids.setdefault(assignment.supplier_id, []).append(po_id)
                by_supplier.setdefault(assignment.supplier_id, []).append(po_id)
            await set_order_status(tx, order_id, OrderStatus.ROUTED, moment, data=plan.explanation)
            outcomes.append(Routed(order_id, OrderStatus.ROUTED, po_ids))
        if by_supplier:
            tx.after_commit(lambda: on_commit(by_supplier))
        return outcomes

    return await db.write(job)
