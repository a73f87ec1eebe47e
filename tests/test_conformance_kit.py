"""The conformance kit: the first-party `http_json` adapter keeps every rule of the supplier
adapter contract, and an adapter that breaks a rule is caught with that rule named."""

from __future__ import annotations

import pytest

from dropship_http_json.adapter import HttpJsonSupplier
from gateway.testing import (
    SUPPLIER_RULES,
    ContractBroken,
    HttpCounterpart,
    SupplierUnderTest,
    check_rule,
    supplier_contract_tests,
)
from gateway.testing.rules import rule
from tests.faulty_adapters import BREAKERS


@pytest.fixture
def supplier_under_test() -> SupplierUnderTest:
    return SupplierUnderTest(factory=HttpJsonSupplier, counterpart=HttpCounterpart())


test_http_json_keeps_the_supplier_contract = supplier_contract_tests()


@pytest.mark.parametrize(
    ("rule_id", "adapter"),
    [(rule_id, adapter) for rule_id, adapters in BREAKERS.items() for adapter in adapters],
    ids=lambda value: value if isinstance(value, str) else value.__name__,
)
def test_an_adapter_that_breaks_a_rule_is_caught_with_the_rule_named(
    rule_id: str, adapter: type[HttpJsonSupplier]
) -> None:
    subject = SupplierUnderTest(factory=adapter, counterpart=HttpCounterpart())
    with pytest.raises(ContractBroken) as caught:
        check_rule(subject, rule(rule_id))
    assert caught.value.rule.id == rule_id
    assert str(caught.value).startswith(f"broken rule {rule_id}: ")
    assert f"see:      docs/plugins.md#{rule(rule_id).anchor}" in str(caught.value)


def test_every_rule_a_plain_http_adapter_can_break_has_a_breaker() -> None:
    reporting = {r.id for r in SUPPLIER_RULES if r.id.startswith("reports.")}
    assert set(BREAKERS) == {r.id for r in SUPPLIER_RULES} - reporting
