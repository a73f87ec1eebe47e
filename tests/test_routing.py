"""RulePlanner: which supplier ships each line (strategy), which suppliers may (region, stock,
availability) and how many purchase orders one order becomes (split policy)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import pytest

from gateway.domain.intake import decode_order, normalise
from gateway.domain.model import Order
from gateway.domain.routing import Candidate, Hold, RoutePlan, RulePlanner, SupplierView


def make_order(
    *lines: tuple[str, int],
    province: str = "浙江省",
    country: str = "CN",
    payment: str | None = "paid",
) -> Order:
    """An order through real intake: `lines` are (sku, quantity), line ids "1", "2", ..."""
    body: dict[str, Any] = {
        "external_id": "E-1",
        "ship_to": {
            "name": "张三",
            "phone": "13812345678",
            "country": country,
            "province": province,
            "city": "杭州市",
            "address1": "文三路 100 号",
        },
        "lines": [
            {"line_id": str(i), "sku": sku, "quantity": qty}
            for i, (sku, qty) in enumerate(lines, start=1)
        ],
    }
    if payment is not None:
        body["payment"] = {"status": payment}
    return normalise(decode_order(json.dumps(body).encode()), order_id="ord_x")


def offer(
    supplier: str, sku: str, cost: str = "10", priority: int = 100, stock: int = 100
) -> Candidate:
    return Candidate(
        supplier_id=supplier, sku=sku, cost=Decimal(cost), priority=priority, stock=stock
    )


def views(*ids: str, **overrides: dict[str, Any]) -> dict[str, SupplierView]:
    """Suppliers shipping everywhere, available, score 1.0, unless overridden by id."""
    result = {}
    for supplier_id in ids:
        fields: dict[str, Any] = {"regions": ("*",), **overrides.get(supplier_id, {})}
        result[supplier_id] = SupplierView(supplier_id=supplier_id, **fields)
    return result


def route(
    order: Order,
    candidates: Sequence[Candidate],
    suppliers: Mapping[str, SupplierView],
    strategy: Any = "cost",
    split: Any = "allow",
) -> RoutePlan:
    plan = RulePlanner(strategy, split).plan(order, candidates, suppliers)
    assert isinstance(plan, RoutePlan), plan
    return plan


def hold(
    order: Order,
    candidates: Sequence[Candidate],
    suppliers: Mapping[str, SupplierView],
    strategy: Any = "cost",
    split: Any = "allow",
) -> Hold:
    plan = RulePlanner(strategy, split).plan(order, candidates, suppliers)
    assert isinstance(plan, Hold), plan
    return plan


def shape(plan: RoutePlan) -> dict[str, list[str]]:
    """{supplier: [line ids]}: the purchase orders of a plan."""
    return {a.supplier_id: [line.line_id for line, _ in a.lines] for a in plan.assignments}


# -- strategies -------------------------------------------------------------------------------


def test_cost_strategy_picks_the_cheapest_supplier() -> None:
    candidates = [offer("a", "S", cost="12.50"), offer("b", "S", cost="9.90")]

    assert shape(route(make_order(("S", 1)), candidates, views("a", "b"))) == {"b": ["1"]}


def test_priority_strategy_picks_the_lowest_priority_number_even_when_dearer() -> None:
    candidates = [offer("a", "S", cost="20", priority=1), offer("b", "S", cost="5", priority=2)]

    plan = route(make_order(("S", 1)), candidates, views("a", "b"), strategy="priority")

    assert shape(plan) == {"a": ["1"]}


def test_score_strategy_picks_the_best_scoring_supplier() -> None:
    candidates = [offer("a", "S", cost="5"), offer("b", "S", cost="20")]
    suppliers = views("a", "b", a={"score": 0.4}, b={"score": 0.9})

    plan = route(make_order(("S", 1)), candidates, suppliers, strategy="score")

    assert shape(plan) == {"b": ["1"]}


@pytest.mark.parametrize(
    ("strategy", "candidates", "suppliers", "winner"),
    [
        # equal cost: the lower priority number wins
        ("cost", [offer("a", "S", "5", 2), offer("b", "S", "5", 1)], views("a", "b"), "b"),
        # equal priority: the cheaper wins
        ("priority", [offer("a", "S", "6", 1), offer("b", "S", "5", 1)], views("a", "b"), "b"),
        # equal score: the cheaper wins
        ("score", [offer("a", "S", "6"), offer("b", "S", "5")], views("a", "b"), "b"),
        # equal in everything: the supplier id decides, so the choice is stable
        ("cost", [offer("b", "S"), offer("a", "S")], views("a", "b"), "a"),
        ("priority", [offer("b", "S"), offer("a", "S")], views("a", "b"), "a"),
        ("score", [offer("b", "S"), offer("a", "S")], views("a", "b"), "a"),
    ],
)
def test_ties_are_broken_deterministically(
    strategy: str,
    candidates: list[Candidate],
    suppliers: dict[str, SupplierView],
    winner: str,
) -> None:
    plan = route(make_order(("S", 1)), candidates, suppliers, strategy=strategy)

    assert shape(plan) == {winner: ["1"]}


def test_plan_explains_the_choice_per_line() -> None:
    plan = route(make_order(("S", 2)), [offer("a", "S", cost="3.30")], views("a"), split="minimize")

    assert plan.explanation == {
        "strategy": "cost",
        "split": "minimize",
        "lines": {"1": {"supplier_id": "a", "unit_cost": "3.30"}},
    }
    [assignment] = plan.assignments
    [(line, candidate)] = assignment.lines
    assert (line.sku, line.quantity) == ("S", 2)
    assert candidate.cost == Decimal("3.30")


# -- regions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("regions", "covered"),
    [
        (("*",), True),
        (("CN",), True),
        (("CN-ZJ",), True),
        (("CN-SH", "CN-ZJ"), True),
        (("CN-SH",), False),
        (("US",), False),
    ],
)
def test_region_patterns_decide_who_may_ship(regions: tuple[str, ...], covered: bool) -> None:
    """A cheap supplier that does not ship to 浙江 (CN-ZJ) is passed over for a dearer one."""
    candidates = [offer("cheap", "S", cost="1"), offer("dear", "S", cost="99")]
    suppliers = views("cheap", "dear", cheap={"regions": regions}, dear={"regions": ("CN-ZJ",)})

    plan = route(make_order(("S", 1), province="浙江"), candidates, suppliers)

    assert shape(plan) == {"cheap" if covered else "dear": ["1"]}


def test_non_cn_order_is_routed_by_its_subdivision_and_country() -> None:
    candidates = [offer("cn", "S", cost="1"), offer("us", "S", cost="5"), offer("ca", "S", "2")]
    suppliers = views(
        "cn",
        "us",
        "ca",
        cn={"regions": ("CN",)},
        us={"regions": ("US",)},
        ca={"regions": ("US-CA",)},
    )

    california = make_order(("S", 1), country="US", province="US-CA")
    texas = make_order(("S", 1), country="US", province="US-TX")

    assert shape(route(california, candidates, suppliers)) == {"ca": ["1"]}
    assert shape(route(texas, candidates, suppliers)) == {"us": ["1"]}


def test_no_supplier_ships_to_the_region() -> None:
    result = hold(make_order(("S", 1)), [offer("a", "S")], views("a", a={"regions": ("CN-SH",)}))

    assert result.reason == "no_route"
    assert result.explanation == {"unroutable": {"1": "no supplier of S ships to CN-ZJ"}}
    assert result.detail == "line 1: no supplier of S ships to CN-ZJ"


# -- stock ------------------------------------------------------------------------------------


def test_a_supplier_without_enough_stock_is_passed_over() -> None:
    candidates = [offer("a", "S", cost="1", stock=2), offer("b", "S", cost="9", stock=3)]

    assert shape(route(make_order(("S", 3)), candidates, views("a", "b"))) == {"b": ["1"]}


def test_stock_equal_to_the_quantity_is_enough() -> None:
    assert shape(route(make_order(("S", 3)), [offer("a", "S", stock=3)], views("a"))) == {
        "a": ["1"]
    }


def test_not_enough_stock_anywhere_holds_the_order() -> None:
    result = hold(make_order(("S", 5)), [offer("a", "S", stock=4)], views("a"))

    assert result.reason == "no_route"
    assert result.explanation == {"unroutable": {"1": "no supplier has 5 of S in stock"}}


def test_two_lines_of_one_sku_share_a_suppliers_stock() -> None:
    """Stock 5 covers one line of 3 but not two: the second line goes to the next supplier."""
    candidates = [offer("a", "S", cost="1", stock=5), offer("b", "S", cost="2", stock=10)]

    plan = route(make_order(("S", 3), ("S", 3)), candidates, views("a", "b"))

    assert shape(plan) == {"a": ["1"], "b": ["2"]}


def test_two_lines_of_one_sku_beyond_the_only_suppliers_stock_are_held() -> None:
    result = hold(make_order(("S", 3), ("S", 3)), [offer("a", "S", stock=5)], views("a"))

    assert result.reason == "no_route"
    assert result.detail == "line 2: not enough stock left for S"


def test_two_lines_of_one_sku_within_stock_share_one_purchase_order() -> None:
    plan = route(make_order(("S", 3), ("S", 3)), [offer("a", "S", stock=6)], views("a"))

    assert shape(plan) == {"a": ["1", "2"]}


# -- split policies ---------------------------------------------------------------------------

# Supplier "all" carries every SKU but dearer; "x" and "y" are each cheapest for one SKU.
MIXED = [
    offer("all", "S1", cost="10"),
    offer("all", "S2", cost="10"),
    offer("all", "S3", cost="10"),
    offer("x", "S1", cost="1"),
    offer("y", "S2", cost="1"),
]


def test_split_allow_sends_each_line_to_its_best_supplier() -> None:
    plan = route(make_order(("S1", 1), ("S2", 1), ("S3", 1)), MIXED, views("all", "x", "y"))

    assert shape(plan) == {"x": ["1"], "y": ["2"], "all": ["3"]}


def test_split_allow_groups_lines_of_one_supplier_into_one_assignment() -> None:
    candidates = [offer("a", "S1"), offer("a", "S2"), offer("b", "S3")]

    plan = route(make_order(("S1", 1), ("S2", 1), ("S3", 1)), candidates, views("a", "b"))

    assert shape(plan) == {"a": ["1", "2"], "b": ["3"]}


def test_split_never_uses_one_supplier_that_carries_every_line() -> None:
    plan = route(
        make_order(("S1", 1), ("S2", 1), ("S3", 1)), MIXED, views("all", "x", "y"), split="never"
    )

    assert shape(plan) == {"all": ["1", "2", "3"]}


def test_split_never_picks_the_best_of_several_complete_suppliers() -> None:
    candidates = [
        offer("a", "S1", cost="5"),
        offer("a", "S2", cost="5"),
        offer("b", "S1", cost="1"),
        offer("b", "S2", cost="6"),  # b: 7 in total, a: 10
    ]

    plan = route(make_order(("S1", 1), ("S2", 1)), candidates, views("a", "b"), split="never")

    assert shape(plan) == {"b": ["1", "2"]}


def test_split_never_holds_when_no_single_supplier_carries_every_line() -> None:
    candidates = [offer("a", "S1"), offer("b", "S2")]

    result = hold(make_order(("S1", 1), ("S2", 1)), candidates, views("a", "b"), split="never")

    assert result.reason == "no_route"
    assert "split = never" in result.detail


def test_split_never_counts_shared_stock() -> None:
    """a carries both lines' SKU but has stock for only one of them: b, with enough, wins."""
    candidates = [offer("a", "S", cost="1", stock=5), offer("b", "S", cost="2", stock=10)]

    plan = route(make_order(("S", 3), ("S", 3)), candidates, views("a", "b"), split="never")

    assert shape(plan) == {"b": ["1", "2"]}


def test_split_minimize_uses_the_fewest_suppliers() -> None:
    plan = route(
        make_order(("S1", 1), ("S2", 1), ("S3", 1)),
        MIXED,
        views("all", "x", "y"),
        split="minimize",
    )

    assert shape(plan) == {"all": ["1", "2", "3"]}


def test_split_minimize_splits_only_as_far_as_it_must() -> None:
    """a covers S1+S2 and b covers S1+S3: two purchase orders, not three. Of the two that
    cover most, the cheaper (b) goes first; c is the cheapest for the line left over."""
    candidates = [
        offer("a", "S1", cost="9"),
        offer("a", "S2", cost="9"),
        offer("b", "S1", cost="1"),
        offer("b", "S3", cost="1"),
        offer("c", "S2", cost="1"),
    ]

    plan = route(
        make_order(("S1", 1), ("S2", 1), ("S3", 1)),
        candidates,
        views("a", "b", "c"),
        split="minimize",
    )

    assert shape(plan) == {"b": ["1", "3"], "c": ["2"]}
    # line order is kept in the explanation whatever order the suppliers were chosen in
    assert list(plan.explanation["lines"]) == ["1", "2", "3"]


def test_split_minimize_breaks_equal_coverage_by_rank() -> None:
    candidates = [offer("a", "S1", cost="5"), offer("a", "S2", cost="5")]
    candidates += [offer("b", "S1", cost="4"), offer("b", "S2", cost="4")]

    plan = route(make_order(("S1", 1), ("S2", 1)), candidates, views("a", "b"), split="minimize")

    assert shape(plan) == {"b": ["1", "2"]}


def test_split_minimize_counts_shared_stock_when_choosing() -> None:
    """Regression: greedy coverage counted a supplier as able to ship every line of a SKU
    it had stock for one line at a time, so it took the cheaper a and then needed b too."""
    candidates = [offer("a", "S", cost="1", stock=5), offer("b", "S", cost="2", stock=10)]

    plan = route(make_order(("S", 3), ("S", 3)), candidates, views("a", "b"), split="minimize")

    assert shape(plan) == {"b": ["1", "2"]}


def test_split_minimize_holds_when_stock_runs_out() -> None:
    result = hold(
        make_order(("S", 3), ("S", 3)), [offer("a", "S", stock=5)], views("a"), split="minimize"
    )

    assert result.reason == "no_route"
    assert result.detail == "line 2: not enough stock left for S"


# -- availability -----------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["cost", "priority", "score"])
def test_an_available_supplier_is_preferred_to_a_better_unavailable_one(strategy: str) -> None:
    candidates = [offer("down", "S", cost="1", priority=1), offer("up", "S", cost="9", priority=9)]
    suppliers = views("down", "up", down={"available": False, "score": 2.0})

    plan = route(make_order(("S", 1)), candidates, suppliers, strategy=strategy)

    assert shape(plan) == {"up": ["1"]}


@pytest.mark.parametrize("split", ["allow", "never", "minimize"])
def test_an_unavailable_supplier_is_the_last_resort_not_excluded(split: str) -> None:
    """Design (commit e003cf7): when only a down supplier carries the SKU, the PO waits in its
    queue rather than the order waiting on hold for a person."""
    plan = route(
        make_order(("S", 1)),
        [offer("down", "S")],
        views("down", down={"available": False}),
        split=split,
    )

    assert shape(plan) == {"down": ["1"]}


def test_split_never_prefers_a_complete_supplier_that_is_up() -> None:
    candidates = [offer("down", "S1", cost="1"), offer("down", "S2", cost="1")]
    candidates += [offer("up", "S1", cost="5"), offer("up", "S2", cost="5")]
    suppliers = views("down", "up", down={"available": False})

    plan = route(make_order(("S1", 1), ("S2", 1)), candidates, suppliers, split="never")

    assert shape(plan) == {"up": ["1", "2"]}


def test_candidates_of_suppliers_routing_does_not_know_are_ignored() -> None:
    candidates = [offer("ghost", "S", cost="1"), offer("a", "S", cost="9")]

    assert shape(route(make_order(("S", 1)), candidates, views("a"))) == {"a": ["1"]}


def test_no_route_detail_names_the_region_even_when_the_supplier_is_down() -> None:
    """Regression: the detail said 'every supplier of S is unavailable', but a down
    supplier is still a last resort, so that was never the cause; the region is."""
    result = hold(
        make_order(("S", 1)),
        [offer("a", "S")],
        views("a", a={"regions": ("CN-SH",), "available": False}),
    )

    assert result.explanation == {"unroutable": {"1": "no supplier of S ships to CN-ZJ"}}


# -- holds ------------------------------------------------------------------------------------


def test_unpaid_order_is_held_whatever_the_catalog_says() -> None:
    result = hold(make_order(("S", 1), payment="unpaid"), [offer("a", "S")], views("a"))

    assert result.reason == "unpaid"
    assert result.detail == "payment status is unpaid"


@pytest.mark.parametrize("payment", ["paid", "cod", None])
def test_paid_cod_or_unstated_payment_is_routed(payment: str | None) -> None:
    plan = route(make_order(("S", 1), payment=payment), [offer("a", "S")], views("a"))

    assert shape(plan) == {"a": ["1"]}


def test_no_route_explains_every_line_at_once() -> None:
    """Operators see per line why it cannot be routed: nobody carries the SKU, nobody ships
    there, or nobody has the stock."""
    candidates = [
        offer("sh", "REGIONAL"),
        offer("a", "SCARCE", stock=1),
        offer("a", "FINE"),
    ]
    suppliers = views("a", "sh", sh={"regions": ("CN-SH",)})

    result = hold(
        make_order(("UNKNOWN", 1), ("REGIONAL", 1), ("SCARCE", 2), ("FINE", 1)),
        candidates,
        suppliers,
    )

    assert result.reason == "no_route"
    assert result.explanation == {
        "unroutable": {
            "1": "no supplier carries UNKNOWN",
            "2": "no supplier of REGIONAL ships to CN-ZJ",
            "3": "no supplier has 2 of SCARCE in stock",
        }
    }
    assert result.detail == (
        "line 1: no supplier carries UNKNOWN; "
        "line 2: no supplier of REGIONAL ships to CN-ZJ; "
        "line 3: no supplier has 2 of SCARCE in stock"
    )


@pytest.mark.parametrize(
    ("status", "reason"), [("partially_paid", "unpaid"), ("refunded", "refunded")]
)
def test_orders_not_fully_paid_or_refunded_are_held(status: str, reason: str) -> None:
    result = hold(make_order(("S", 1), payment=status), [offer("a", "S")], views("a"))

    assert (result.reason, result.detail) == (reason, f"payment status is {status}")
