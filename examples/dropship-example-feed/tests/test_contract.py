"""The adapter against the gateway's conformance kit: every rule of the supplier adapter
contract, against the Example Feed API in miniature (tests/counterpart.py)."""

from __future__ import annotations

import pytest
from dropship_example_feed.adapter import FeedSupplier, check_options

from gateway.testing import SupplierUnderTest, supplier_contract_tests
from tests.counterpart import API_KEY, FeedCounterpart


@pytest.fixture
def supplier_under_test() -> SupplierUnderTest:
    return SupplierUnderTest(
        factory=FeedSupplier, counterpart=FeedCounterpart(), options={"api_key": API_KEY}
    )


test_supplier_contract = supplier_contract_tests()


def test_a_missing_api_key_is_reported_before_anything_starts() -> None:
    assert [p.path for p in check_options({})] == [("api_key",)]
    assert check_options({"api_key": "k"}) == []
