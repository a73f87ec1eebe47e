"""Purchase orders on their way to a supplier: what is waiting, and the outcomes of delivering
them, recorded in groups.

Every move is guarded by the statuses it may leave from, so a late or repeated answer (a retry
that raced an earlier success, a restart, a cancellation meanwhile) never moves a PO backwards.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec

from gateway.domain.model import PO_AWAITING_SUPPLIER, Address, NewEvent, Order, PoLine, PoStatus
from gateway.plugin_api.adapters import PurchaseOrderLine, PurchaseOrderRequest
from gateway.store import events
from gateway.store.codec import iso, order_decoder, parse_iso, po_lines_decoder
from gateway.store.db import IN_LIST, Database, Tx, json_list

_AWAITING_SQL = ", ".join(f"'{s.value}'" for s in PO_AWAITING_SUPPLIER)


class WaitingPo(msgspec.Struct, frozen=True):
    """A PO its supplier has not answered yet, how many attempts it has had, and how many of
    them failed because the adapter itself raised."""

    request: PurchaseOrderRequest
    attempts: int
    adapter_errors: int = 0


# -- outcomes, recorded in groups ----------------------------------------------------------------


class MarkSent(msgspec.Struct, frozen=True, tag=True):
    """The PO is out at the supplier without an answer yet (`pending → sent`): its attempt is
    under way, or (`submitted`) the supplier took it and will answer later."""

    po_id: str
    supplier_ref: str | None = None
    submitted: bool = False


class MarkAccepted(msgspec.Struct, frozen=True, tag=True):
    po_id: str
    supplier_ref: str | None = None


class MarkRejected(msgspec.Struct, frozen=True, tag=True):
    """The supplier refused the PO (`rejected`), or it cannot be delivered (`failed`)."""

    po_id: str
    reason: str
    message: str
    failed: bool = False


class CountFailedAttempts(msgspec.Struct, frozen=True, tag=True):
    """Attempts that failed and will be retried: counted (the poison limit survives restarts),
    the last error kept visible. Not a status change: no event."""

    po_id: str
    message: str
    count: int = 1
    adapter_errors: int = 0  # of `count`, those where the adapter itself raised


class MarkCancelConfirmed(msgspec.Struct, frozen=True, tag=True):
    """The supplier confirmed the cancellation of a cancelled PO."""

    po_id: str


PoOutcome = MarkSent | MarkAccepted | MarkRejected | CountFailedAttempts | MarkCancelConfirmed


def request_for(
    order: Order, po_id: str, supplier_id: str, created_at: datetime, lines: Sequence[PoLine]
) -> PurchaseOrderRequest:
    """What the supplier's adapter is given for one PO."""
    return PurchaseOrderRequest(
        po_id=po_id,
        order_id=order.order_id,
        order_external_id=order.external_id,
        supplier_id=supplier_id,
        created_at=created_at,
        order_created_at=order.created_at,
        priority=order.priority.value,
        currency=order.currency,
        ship_to=order.ship_to,
        lines=tuple(
            PurchaseOrderLine(
                line_id=line.line_id, sku=line.sku, quantity=line.quantity, unit_cost=line.unit_cost
            )
            for line in lines
        ),
    )


def _request(row: sqlite3.Row) -> WaitingPo:
    request = request_for(
        order_decoder.decode(row["doc"]),
        row["po_id"],
        row["supplier_id"],
        parse_iso(row["created_at"]),
        po_lines_decoder.decode(row["lines"]),
    )
    return WaitingPo(request, row["attempts"], row["adapter_errors"])


_SELECT_REQUEST = (
    "SELECT po.po_id, po.supplier_id, po.lines, po.created_at, po.attempts, po.adapter_errors,"
    " o.doc"
    " FROM purchase_orders po JOIN orders o ON o.order_id = po.order_id"
)


async def purchase_orders_awaiting(
    db: Database, supplier_id: str, limit: int = 1000
) -> list[WaitingPo]:
    """POs this supplier has not answered yet: they are (re)sent under the same po_id."""

    def read(conn: sqlite3.Connection) -> list[WaitingPo]:
        rows = conn.execute(
            f"{_SELECT_REQUEST} WHERE po.supplier_id = ? AND po.status IN ({_AWAITING_SQL})"
            " ORDER BY po.created_at, po.po_id LIMIT ?",
            (supplier_id, limit),
        ).fetchall()
        return [_request(r) for r in rows]

    return await db.read(read)


async def load_requests(db: Database, po_ids: Sequence[str]) -> list[WaitingPo]:
    """The given POs that still await their supplier."""
    if not po_ids:
        return []

    def read(conn: sqlite3.Connection) -> list[WaitingPo]:
        rows = conn.execute(
            f"{_SELECT_REQUEST} WHERE po.po_id {IN_LIST}"
            f" AND po.status IN ({_AWAITING_SQL}) ORDER BY po.po_id",
            [json_list(po_ids)],
        ).fetchall()
        return [_request(r) for r in rows]

    return await db.read(read)


def ship_to_in(conn: sqlite3.Connection | Tx, po_id: str) -> Address | None:
    """Where the order of this PO goes (whatever the PO's status): the person a supplier's words
    about it may quote, for masking them."""
    row = conn.execute(
        "SELECT o.doc FROM purchase_orders po JOIN orders o ON o.order_id = po.order_id"
        " WHERE po.po_id = ?",
        (po_id,),
    ).fetchone()
    return None if row is None else order_decoder.decode(row[0]).ship_to


async def ship_to_of(db: Database, po_id: str) -> Address | None:
    return await db.read(lambda conn: ship_to_in(conn, po_id))


async def cancellations_requested(db: Database, supplier_id: str, limit: int = 500) -> list[str]:
    """Cancelled POs whose supplier has not confirmed the cancellation yet."""
    rows = await db.fetchall(
        "SELECT po_id FROM purchase_orders WHERE supplier_id = ? AND supplier_cancel = 'requested'"
        " ORDER BY po_id LIMIT ?",
        (supplier_id, limit),
    )
    return [r[0] for r in rows]


async def waiting_by_supplier(db: Database) -> dict[str, int]:
    """How many POs wait for each supplier (sent or not yet)."""
    rows = await db.fetchall(
        "SELECT supplier_id, count(*) FROM purchase_orders"
        f" WHERE status IN ({_AWAITING_SQL}) GROUP BY supplier_id"
    )
    return {r[0]: int(r[1]) for r in rows}


def _move(tx: Tx, po_id: str, to: PoStatus, now: str, **columns: Any) -> sqlite3.Row | None:
    """Record the supplier's answer to a PO still waiting for it; the PO's row (order_id,
    supplier_id, lines), or None when it no longer waits. The answer ends one more attempt."""
    sets = "".join(f", {name} = ?" for name in columns)
    row: sqlite3.Row | None = tx.execute(
        "UPDATE purchase_orders SET status = ?, updated_at = ?, attempts = attempts + 1"
        f"{sets}"
        f" WHERE po_id = ? AND status IN ({_AWAITING_SQL})"
        " RETURNING order_id, supplier_id, lines",
        (to.value, now, *columns.values(), po_id),
    ).fetchone()
    return row


_FIND_AWAITING = (
    "SELECT json_group_array(json_array(po_id, order_id, supplier_id)) FROM purchase_orders"
    f" WHERE po_id {IN_LIST} AND status IN ({_AWAITING_SQL})"
)
_ACCEPT = (
    "UPDATE purchase_orders SET status = 'accepted', supplier_ref = v.column2, message = NULL,"
    " updated_at = v.column3, attempts = attempts + 1 FROM (VALUES {rows}) AS v"
    f" WHERE po_id = v.column1 AND status IN ({_AWAITING_SQL})"
)


class _Awaiting(msgspec.Struct, array_like=True, frozen=True):
    po_id: str
    order_id: str
    supplier_id: str


_awaiting = msgspec.json.Decoder(list[_Awaiting])


def _accept_all(
    tx: Tx, accepted: list[MarkAccepted], at: str, new_events: list[NewEvent], orders: set[str]
) -> list[bool]:
    """The most common outcome, for a run of distinct POs at once: one read, one update."""
    awaiting = tx.fetch_json(_FIND_AWAITING, [json_list([a.po_id for a in accepted])], _awaiting)
    found = {p.po_id: p for p in awaiting}
    moves = [(a.po_id, a.supplier_ref, at) for a in accepted if a.po_id in found]
    if moves:
        tx.execute_rows(_ACCEPT, moves)
    for outcome in accepted:
        po = found.get(outcome.po_id)
        if po is not None:
            orders.add(po.order_id)
            new_events.append(
                NewEvent(
                    type="po.accepted",
                    order_id=po.order_id,
                    po_id=po.po_id,
                    supplier_id=po.supplier_id,
                    data={"supplier_ref": outcome.supplier_ref},
                )
            )
    return [outcome.po_id in found for outcome in accepted]


def apply_outcomes(tx: Tx, outcomes: Sequence[PoOutcome], now: datetime) -> list[bool]:
    """Record outcomes in order; for each, whether it changed anything. Runs of acceptances of
    distinct POs (nearly every outcome) are recorded set-based."""
    at = iso(now)
    changed: list[bool] = []
    new_events: list[NewEvent] = []
    orders: set[str] = set()
    accepting: dict[str, MarkAccepted] = {}  # the current run, by po_id
    for outcome in outcomes:
        ends_run = not isinstance(outcome, MarkAccepted) or outcome.po_id in accepting
        if ends_run and accepting:
            changed.extend(_accept_all(tx, list(accepting.values()), at, new_events, orders))
            accepting = {}
        if isinstance(outcome, MarkAccepted):
            accepting[outcome.po_id] = outcome
        else:
            changed.append(_apply_one(tx, outcome, at, new_events, orders))
    if accepting:
        changed.extend(_accept_all(tx, list(accepting.values()), at, new_events, orders))
    events.append(tx, now, new_events)
    events.refresh_orders(tx, orders, now)
    return changed


def _apply_one(
    tx: Tx, outcome: PoOutcome, at: str, new_events: list[NewEvent], orders: set[str]
) -> bool:
    """Any outcome but an acceptance (see `_accept_all`)."""
    row: sqlite3.Row | None = None
    match outcome:
        case MarkSent(po_id, ref, submitted):
            row = tx.execute(
                "UPDATE purchase_orders SET status = 'sent', updated_at = ?,"
                " supplier_ref = coalesce(?, supplier_ref), attempts = attempts + ?"
                " WHERE po_id = ? AND status = 'pending' RETURNING order_id, supplier_id",
                (at, ref, int(submitted), po_id),
            ).fetchone()
            if row is not None:
                data = {"supplier_ref": ref} if ref else {}
                new_events.append(_po_event("po.sent", po_id, row, data))
        case MarkRejected(po_id, reason, message, failed):
            status = PoStatus.FAILED if failed else PoStatus.REJECTED
            row = _move(tx, po_id, status, at, reason=reason, message=message)
            if row is not None:
                _return_stock(tx, row, reason)
                data = {"reason": reason, "message": message}
                new_events.append(_po_event(f"po.{status.value}", po_id, row, data))
        case CountFailedAttempts(po_id, message, count, adapter_errors):
            cursor = tx.execute(
                "UPDATE purchase_orders SET attempts = attempts + ?, message = ?,"
                " adapter_errors = adapter_errors + ?, updated_at = ?"
                f" WHERE po_id = ? AND status IN ({_AWAITING_SQL})",
                (count, message, adapter_errors, at, po_id),
            )
            return cursor.rowcount > 0
        case MarkCancelConfirmed(po_id):
            cursor = tx.execute(
                "UPDATE purchase_orders SET supplier_cancel = 'done'"
                " WHERE po_id = ? AND supplier_cancel = 'requested'",
                (po_id,),
            )
            return cursor.rowcount > 0
    if row is None:
        return False
    orders.add(row["order_id"])
    return True


async def record_outcomes(db: Database, outcomes: Sequence[PoOutcome], now: datetime) -> list[bool]:
    """Record a group of outcomes in one unit of work, with those of every other supplier
    waiting for the same group commit (`Database.write_batched`)."""
    return await db.write_batched(_apply_for_all, (outcomes, now))


def _apply_for_all(
    tx: Tx, recorded: list[tuple[Sequence[PoOutcome], datetime]]
) -> list[list[bool]]:
    """The outcomes of several recorders in one pass, stamped with the latest of their times
    (they differ by the milliseconds between two recorders)."""
    now = max(moment for _, moment in recorded)
    changed = apply_outcomes(tx, [o for outcomes, _ in recorded for o in outcomes], now)
    results: list[list[bool]] = []
    start = 0
    for outcomes, _ in recorded:
        results.append(changed[start : start + len(outcomes)])
        start += len(outcomes)
    return results


def _po_event(kind: str, po_id: str, row: sqlite3.Row, data: dict[str, Any]) -> NewEvent:
    return NewEvent(
        type=kind, order_id=row["order_id"], po_id=po_id, supplier_id=row["supplier_id"], data=data
    )


def _return_stock(tx: Tx, row: sqlite3.Row, reason: str) -> None:
    """A refused PO gives its reserved stock back, except after `out_of_stock`, when the
    supplier's known stock of those SKUs is evidently zero."""
    lines = po_lines_decoder.decode(row["lines"])
    if reason == "out_of_stock":
        tx.executemany(
            "UPDATE catalog SET stock = 0 WHERE sku = ? AND supplier_id = ?",
            [(line.sku, row["supplier_id"]) for line in lines],
        )
    else:
        tx.executemany(
            "UPDATE catalog SET stock = stock + ? WHERE sku = ? AND supplier_id = ?",
            [(line.quantity, line.sku, row["supplier_id"]) for line in lines],
        )
