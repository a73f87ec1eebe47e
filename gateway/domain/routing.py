"""Routing, first version: which supplier ships each line of an order.

A line can go to a supplier whose catalog carries its SKU with enough known stock and whose
regions cover the ship-to region; the strategy ranks those candidates (a supplier that is down
ranks last) and the split policy
decides whether one order may become several purchase orders. The planner is a pure function:
the store calls it inside the write transaction that reserves the stock, so two orders can
never both take the last unit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal, Protocol

import msgspec

from gateway.domain.model import Order, OrderLine
from gateway.domain.regions import region_covered

Strategy = Literal["cost", "priority", "score"]
SplitPolicy = Literal["allow", "never", "minimize"]


# Orders that must not ship until a person or a later update settles the payment.
HOLD_FOR_PAYMENT = {"unpaid": "unpaid", "partially_paid": "unpaid", "refunded": "refunded"}


class Candidate(msgspec.Struct, frozen=True, kw_only=True):
    """One supplier's catalog entry for one SKU, as known at routing time."""

    supplier_id: str
    sku: str
    cost: Decimal
    priority: int
    stock: int


class SupplierView(msgspec.Struct, frozen=True, kw_only=True):
    """What routing knows of a supplier: where it ships, whether it is usable, how it performs."""

    supplier_id: str
    regions: tuple[str, ...]
    available: bool = True
    score: float = 1.0


class Assignment(msgspec.Struct, frozen=True, kw_only=True):
    """The lines one supplier gets: one purchase order."""

    supplier_id: str
    lines: tuple[tuple[OrderLine, Candidate], ...]


class RoutePlan(msgspec.Struct, frozen=True, kw_only=True):
    assignments: tuple[Assignment, ...]
    explanation: dict[str, Any]


class Hold(msgspec.Struct, frozen=True, kw_only=True):
    """No plan: the order waits on hold with a reason operators act on."""

    reason: str
    detail: str
    explanation: dict[str, Any] = {}


class Planner(Protocol):
    """The one interface the rest of the gateway routes through."""

    def plan(
        self, order: Order, candidates: Sequence[Candidate], suppliers: Mapping[str, SupplierView]
    ) -> RoutePlan | Hold: ...


class RulePlanner:
    """SKU + stock + region eligibility, ranked by `strategy`, grouped by `split`."""

    def __init__(self, strategy: Strategy = "cost", split: SplitPolicy = "allow") -> None:
        self.strategy = strategy
        self.split = split

    def plan(
        self, order: Order, candidates: Sequence[Candidate], suppliers: Mapping[str, SupplierView]
    ) -> RoutePlan | Hold:
        payment = order.payment.status if order.payment is not None else "paid"
        if payment in HOLD_FOR_PAYMENT:
            reason = HOLD_FOR_PAYMENT[payment]
            return Hold(reason=reason, detail=f"payment status is {payment}")
        by_sku: dict[str, list[Candidate]] = {}
        for candidate in candidates:
            supplier = suppliers.get(candidate.supplier_id)
            if supplier is None:
                continue
            if not region_covered(order.ship_to.region, supplier.regions):
                continue
            by_sku.setdefault(candidate.sku, []).append(candidate)
        for options in by_sku.values():
            options.sort(key=lambda c: self._rank(c, suppliers))

        eligible: dict[str, list[Candidate]] = {}
        missing: dict[str, str] = {}
        for line in order.lines:
            options = [c for c in by_sku.get(line.sku, []) if c.stock >= line.quantity]
            if options:
                eligible[line.line_id] = options
            else:
                missing[line.line_id] = self._why_not(line, candidates, suppliers, order)
        if missing:
            detail = "; ".join(f"line {k}: {v}" for k, v in missing.items())
            return Hold(reason="no_route", detail=detail, explanation={"unroutable": missing})

        if self.split == "never":
            return self._single_supplier(order, eligible, suppliers)
        if self.split == "minimize":
            return self._fewest_suppliers(order, eligible, suppliers)
        return self._best_per_line(order, eligible)

    def _rank(self, c: Candidate, suppliers: Mapping[str, SupplierView]) -> tuple[Any, ...]:
        # An unavailable (down) supplier is the last resort, not excluded: when it is the only
        # one carrying a SKU, the PO waits in its queue until the supplier is back, instead of
        # the order waiting on hold for a person.
        unavailable = not suppliers[c.supplier_id].available
        if self.strategy == "priority":
            return (unavailable, c.priority, c.cost, c.supplier_id)
        if self.strategy == "score":
            return (unavailable, -suppliers[c.supplier_id].score, c.cost, c.priority, c.supplier_id)
        return (unavailable, c.cost, c.priority, c.supplier_id)

    def _best_per_line(
        self, order: Order, eligible: dict[str, list[Candidate]]
    ) -> RoutePlan | Hold:
        remaining: dict[tuple[str, str], int] = {}
        chosen: list[tuple[OrderLine, Candidate]] = []
        for line in order.lines:
            pick = self._first_with_stock(line, eligible[line.line_id], remaining)
            if pick is None:
                return Hold(
                    reason="no_route",
                    detail=f"line {line.line_id}: not enough stock left for {line.sku}",
                )
            chosen.append((line, pick))
        return self._plan(chosen)

    def _single_supplier(
        self,
        order: Order,
        eligible: dict[str, list[Candidate]],
        suppliers: Mapping[str, SupplierView],
    ) -> RoutePlan | Hold:
        common = set.intersection(*({c.supplier_id for c in opts} for opts in eligible.values()))
        best: tuple[tuple[Any, ...], list[tuple[OrderLine, Candidate]]] | None = None
        for supplier_id in sorted(common):
            remaining: dict[tuple[str, str], int] = {}
            chosen = []
            for line in order.lines:
                own = [c for c in eligible[line.line_id] if c.supplier_id == supplier_id]
                pick = self._first_with_stock(line, own, remaining)
                if pick is None:
                    break
                chosen.append((line, pick))
            else:
                key = self._total_rank(chosen, suppliers)
                if best is None or key < best[0]:
                    best = (key, chosen)
        if best is None:
            return Hold(
                reason="no_route",
                detail="split = never, and no single supplier can ship every line",
            )
        return self._plan(best[1])

    def _fewest_suppliers(
        self,
        order: Order,
        eligible: dict[str, list[Candidate]],
        suppliers: Mapping[str, SupplierView],
    ) -> RoutePlan | Hold:
        # Greedy set cover: take the supplier that can ship the most open lines (ties go to the
        # better rank over those lines), until every line has one.
        open_lines = {line.line_id: line for line in order.lines}
        remaining: dict[tuple[str, str], int] = {}
        chosen: list[tuple[OrderLine, Candidate]] = []
        while open_lines:
            coverage: dict[str, list[tuple[OrderLine, Candidate]]] = {}
            # What each supplier could ship of the open lines, drawing on its stock line by
            # line: two lines of one SKU share that supplier's units.
            tentative: dict[str, dict[tuple[str, str], int]] = {}
            for line_id, line in open_lines.items():
                for candidate in eligible[line_id]:
                    own = tentative.setdefault(candidate.supplier_id, dict(remaining))
                    if self._stock_left(candidate, own) >= line.quantity:
                        self._take(candidate, line.quantity, own)
                        coverage.setdefault(candidate.supplier_id, []).append((line, candidate))
            if not coverage:
                line = next(iter(open_lines.values()))
                return Hold(
                    reason="no_route",
                    detail=f"line {line.line_id}: not enough stock left for {line.sku}",
                )
            supplier_id = min(
                coverage,
                key=lambda s: (-len(coverage[s]), self._total_rank(coverage[s], suppliers)),
            )
            for line, candidate in coverage[supplier_id]:
                if self._stock_left(candidate, remaining) >= line.quantity:
                    self._take(candidate, line.quantity, remaining)
                    chosen.append((line, candidate))
                    del open_lines[line.line_id]
        order_of = {line.line_id: i for i, line in enumerate(order.lines)}
        chosen.sort(key=lambda pair: order_of[pair[0].line_id])
        return self._plan(chosen)

    def _total_rank(
        self, chosen: Sequence[tuple[OrderLine, Candidate]], suppliers: Mapping[str, SupplierView]
    ) -> tuple[Any, ...]:
        cost = sum((c.cost * line.quantity for line, c in chosen), Decimal(0))
        priority = sum(c.priority for _, c in chosen)
        unavailable = sum(1 for _, c in chosen if not suppliers[c.supplier_id].available)
        if self.strategy == "priority":
            return (unavailable, priority, cost)
        if self.strategy == "score":
            worst = min(suppliers[c.supplier_id].score for _, c in chosen)
            return (unavailable, -worst, cost, priority)
        return (unavailable, cost, priority)

    @staticmethod
    def _stock_left(candidate: Candidate, remaining: dict[tuple[str, str], int]) -> int:
        return remaining.get((candidate.supplier_id, candidate.sku), candidate.stock)

    def _take(
        self, candidate: Candidate, quantity: int, remaining: dict[tuple[str, str], int]
    ) -> None:
        key = (candidate.supplier_id, candidate.sku)
        remaining[key] = self._stock_left(candidate, remaining) - quantity

    def _first_with_stock(
        self,
        line: OrderLine,
        options: list[Candidate],
        remaining: dict[tuple[str, str], int],
    ) -> Candidate | None:
        for candidate in options:
            if self._stock_left(candidate, remaining) >= line.quantity:
                self._take(candidate, line.quantity, remaining)
                return candidate
        return None

    def _plan(self, chosen: list[tuple[OrderLine, Candidate]]) -> RoutePlan:
        groups: dict[str, list[tuple[OrderLine, Candidate]]] = {}
        for line, candidate in chosen:
            groups.setdefault(candidate.supplier_id, []).append((line, candidate))
        return RoutePlan(
            assignments=tuple(
                Assignment(supplier_id=supplier_id, lines=tuple(lines))
                for supplier_id, lines in groups.items()
            ),
            explanation={
                "strategy": self.strategy,
                "split": self.split,
                "lines": {
                    line.line_id: {"supplier_id": c.supplier_id, "unit_cost": str(c.cost)}
                    for line, c in chosen
                },
            },
        )

    @staticmethod
    def _why_not(
        line: OrderLine,
        candidates: Sequence[Candidate],
        suppliers: Mapping[str, SupplierView],
        order: Order,
    ) -> str:
        usable = [c for c in candidates if c.sku == line.sku and c.supplier_id in suppliers]
        if not usable:
            return f"no supplier carries {line.sku}"
        covering = [
            c
            for c in usable
            if region_covered(order.ship_to.region, suppliers[c.supplier_id].regions)
        ]
        if not covering:
            return f"no supplier of {line.sku} ships to {order.ship_to.region}"
        return f"no supplier has {line.quantity} of {line.sku} in stock"
