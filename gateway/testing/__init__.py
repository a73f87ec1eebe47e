"""The conformance kit for adapter plugins, shipped with the gateway, and a pytest plugin.

An adapter author points it at their adapter factory and a counterpart (a stand-in for the
supplier's system that speaks the adapter's dialect; `HttpCounterpart` does HTTP), and gets one
test case per rule of the adapter contract, each failing with the rule it broke::

    import pytest
    from gateway.testing import HttpCounterpart, SupplierUnderTest, supplier_contract_tests

    @pytest.fixture
    def supplier_under_test() -> SupplierUnderTest:
        return SupplierUnderTest(factory=AcmeSupplier, counterpart=HttpCounterpart())

    test_supplier_contract = supplier_contract_tests()

Run with `pytest -p gateway.testing` (or `pytest_plugins = ["gateway.testing"]` in a
conftest.py) to also get the kit's summary: which rules held, which were broken, which did not
apply and why. The kit runs every check in an event loop of its own, so it needs neither
pytest-asyncio nor any particular event loop setup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.testing.answers import (
    AlreadyHave,
    Answer,
    Busy,
    CannotExpress,
    Confirmed,
    Garbled,
    Hangup,
    Malformed,
    NoAnswer,
    NotAllowed,
    Operation,
    ReceivedPo,
    Refuse,
    Report,
    Status,
    Stock,
    Take,
    UnknownPo,
)
from gateway.testing.channel import (
    ChannelUnderTest,
    channel_contract_tests,
    check_channel_rule,
    sample_order,
)
from gateway.testing.counterpart import SupplierCounterpart
from gateway.testing.http import HttpAnswer, HttpCounterpart, HttpRequest, Route
from gateway.testing.rules import CHANNEL_RULES, SUPPLIER_RULES, Rule
from gateway.testing.running import ContractBroken, NotApplicable
from gateway.testing.source import ChannelCounterpart, HttpSource, WrittenBack
from gateway.testing.state import MemoryState
from gateway.testing.supplier import (
    SupplierUnderTest,
    check_rule,
    sample_purchase_order,
    supplier_contract_tests,
)

if TYPE_CHECKING:
    import pytest

__all__ = [
    "CHANNEL_RULES",
    "SUPPLIER_RULES",
    "AlreadyHave",
    "Answer",
    "Busy",
    "CannotExpress",
    "ChannelCounterpart",
    "ChannelUnderTest",
    "Confirmed",
    "ContractBroken",
    "Garbled",
    "Hangup",
    "HttpAnswer",
    "HttpCounterpart",
    "HttpRequest",
    "HttpSource",
    "Malformed",
    "MemoryState",
    "NoAnswer",
    "NotAllowed",
    "NotApplicable",
    "Operation",
    "ReceivedPo",
    "Refuse",
    "Report",
    "Route",
    "Rule",
    "Status",
    "Stock",
    "SupplierCounterpart",
    "SupplierUnderTest",
    "Take",
    "UnknownPo",
    "WrittenBack",
    "channel_contract_tests",
    "check_channel_rule",
    "check_rule",
    "sample_order",
    "sample_purchase_order",
    "supplier_contract_tests",
]

_PROPERTY = "contract_rule"


# -- the pytest plugin (`-p gateway.testing`) ----------------------------------------------------


def pytest_report_header(config: pytest.Config) -> str:
    from gateway.plugin_api import PLUGIN_API_VERSION

    return (
        f"dropship-gateway conformance kit: plugin API {PLUGIN_API_VERSION},"
        f" {len(SUPPLIER_RULES)} supplier rules, {len(CHANNEL_RULES)} channel rules"
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Per adapter contract: how many rules held, and each one broken or not applicable."""
    held: dict[str, list[str]] = {}
    broken: dict[str, list[str]] = {}
    skipped: dict[str, list[str]] = {}
    for outcome in ("passed", "failed", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            props = dict(getattr(report, "user_properties", []))
            if _PROPERTY not in props or getattr(report, "when", "call") == "teardown":
                continue
            kind, _, rule_id = str(props[_PROPERTY]).partition(":")
            if outcome == "passed":
                held.setdefault(kind, []).append(rule_id)
            elif outcome == "failed":
                broken.setdefault(kind, []).append(rule_id)
            else:
                reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
                skipped.setdefault(kind, []).append(str(reason).removeprefix("Skipped: "))
    kinds = sorted({*held, *broken, *skipped})
    if not kinds:
        return
    terminalreporter.section("adapter contract")
    for kind in kinds:
        terminalreporter.write_line(
            f"{kind} adapter: {len(held.get(kind, []))} rules held,"
            f" {len(broken.get(kind, []))} broken, {len(skipped.get(kind, []))} not applicable"
        )
        for rule_id in broken.get(kind, []):
            terminalreporter.write_line(f"  {rule_id} broken")
        for line in skipped.get(kind, []):
            terminalreporter.write_line(f"  {line}")
