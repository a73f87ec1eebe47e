"""The example third-party plugin (examples/dropship-example-feed) takes the path a third party
takes: its own distribution, pip-installed into this environment (the Makefile does it), found
by the gateway only through its entry point, keeping every rule of the conformance kit, its
reporting rules included; and a reporting adapter that breaks a reports rule is caught."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path
from types import ModuleType
from typing import Any

import dropship_example_feed
import msgspec
import pytest
from dropship_example_feed.adapter import FeedSupplier

from gateway.app.plugins import load_plugins
from gateway.plugin_api import ReportBatch
from gateway.testing import ContractBroken, SupplierUnderTest, check_rule
from gateway.testing.rules import rule
from tests.harness import ROOT

EXAMPLE = ROOT / "examples" / "dropship-example-feed"


def test_it_is_installed_and_found_through_its_entry_point_alone() -> None:
    installed = Path(sysconfig.get_paths()["purelib"]).resolve()
    assert Path(dropship_example_feed.__file__).resolve().is_relative_to(installed), (
        "dropship-example-feed must be pip-installed (make .venv/.installed), not imported from "
        "the source tree"
    )
    info = next(p for p in load_plugins().plugins if p.name == "example_feed")
    assert info.error is None
    assert (info.package, info.version, info.api_version) == ("dropship-example-feed", "1.0.0", 2)
    assert (info.source, info.module) == ("entry point", "dropship_example_feed")
    assert info.supplier_adapters == ["example_feed"]


def test_its_own_tests_run_the_conformance_kit_and_every_rule_holds() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=EXAMPLE,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    summary = f"supplier adapter: {29} rules held, 0 broken, 0 not applicable"
    assert summary in result.stdout, result.stdout[-3000:]
    assert re.search(r"\b30 passed\b", result.stdout), result.stdout[-2000:]


def _counterpart_module() -> ModuleType:
    """The example's stand-in supplier, from its test folder (which is not installed)."""
    spec = importlib.util.spec_from_file_location(
        "example_feed_counterpart", EXAMPLE / "tests" / "counterpart.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class DropsTheReference(FeedSupplier):
    async def collect_reports(self) -> ReportBatch:
        batch = await super().collect_reports()
        reports = tuple(
            msgspec.structs.replace(r, supplier_ref=None) if hasattr(r, "supplier_ref") else r
            for r in batch.reports
        )
        return msgspec.structs.replace(batch, reports=reports)


class EveryRefusalIsDeclined(FeedSupplier):
    async def collect_reports(self) -> ReportBatch:
        batch = await super().collect_reports()
        reports = tuple(
            msgspec.structs.replace(r, reason="declined") if hasattr(r, "reason") else r
            for r in batch.reports
        )
        return msgspec.structs.replace(batch, reports=reports)


class ShipmentsWithoutLines(FeedSupplier):
    async def collect_reports(self) -> ReportBatch:
        batch = await super().collect_reports()
        reports = tuple(
            msgspec.structs.replace(r, lines=()) if hasattr(r, "lines") else r
            for r in batch.reports
        )
        return msgspec.structs.replace(batch, reports=reports)


class DropsUnreadableEvents(FeedSupplier):
    async def collect_reports(self) -> ReportBatch:
        return msgspec.structs.replace(await super().collect_reports(), problems=())


class ConsumesOnCollect(FeedSupplier):
    async def collect_reports(self) -> ReportBatch:
        batch = await super().collect_reports()
        await self.confirm_reports(batch.receipt)  # "saves a round trip"
        return batch


class NothingIsNone(FeedSupplier):
    async def collect_reports(self) -> Any:
        batch = await super().collect_reports()
        return batch if batch.reports or batch.problems else None


@pytest.mark.parametrize(
    ("rule_id", "adapter"),
    [
        ("reports.acknowledged", DropsTheReference),
        ("reports.refused", EveryRefusalIsDeclined),
        ("reports.shipment", ShipmentsWithoutLines),
        ("reports.problem", DropsUnreadableEvents),
        ("reports.confirm", ConsumesOnCollect),
        ("reports.empty", NothingIsNone),
    ],
    ids=lambda value: value if isinstance(value, str) else value.__name__,
)
def test_a_reporting_adapter_that_breaks_a_rule_is_caught_with_the_rule_named(
    rule_id: str, adapter: type[FeedSupplier]
) -> None:
    counterpart = _counterpart_module()
    subject = SupplierUnderTest(
        factory=adapter,
        counterpart=counterpart.FeedCounterpart(),
        options={"api_key": counterpart.API_KEY},
    )
    with pytest.raises(ContractBroken) as caught:
        check_rule(subject, rule(rule_id))
    assert caught.value.rule.id == rule_id
