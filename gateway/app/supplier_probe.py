"""`python run.py supplier probe ID --config PATH [--really-send] [--sku SKU]`: the configured
adapter against that supplier's real endpoint, one step at a time, timed.

The check an integrator runs with the supplier's IT team before going live: start the adapter as
the gateway would, send one PO (marked as a test where the adapter can, otherwise only with
--really-send), cancel it, ask its status and the inventory, collect (never confirm) reports, and
print what worked, what did not, and how long each step took. It opens no database.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import structlog

from gateway.app.event_loop import run_async
from gateway.app.plugins import load_configured_plugins
from gateway.domain.model import Address
from gateway.infra.clock import SystemClock
from gateway.infra.config import Config, ConfigError, SupplierConfig, load_config
from gateway.plugin_api.adapters import (
    Accepted,
    PurchaseOrderLine,
    PurchaseOrderReport,
    PurchaseOrderRequest,
    ReportBatch,
    Submitted,
    SupplierAdapterFactory,
    SupplierContext,
    SupplierFailed,
    SupplierRejected,
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
SLACK_S = 5.0  # beyond the supplier's timeout_s, before a step counts as hung


@dataclass
class Step:
    name: str
    outcome: str  # ok | refused | FAIL | n/a | skipped
    ms: float | None = None
    detail: str = ""


class _ProbeState:
    """A PluginState in memory: the probe keeps nothing, and never touches the gateway's."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}

    async def get(self, key: str) -> str | None:
        return self._values.get(key)

    async def set(self, key: str, value: str) -> None:
        self._values[key] = value

    async def delete(self, key: str) -> None:
        self._values.pop(key, None)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    supplier = commands.add_parser("supplier", help="work with one configured supplier")
    actions = supplier.add_subparsers(dest="supplier_command", required=True)
    probe = actions.add_parser(
        "probe", help="run the supplier's adapter against its real endpoint and time each step"
    )
    probe.add_argument("supplier_id", help="the supplier's id in the config")
    probe.add_argument("--config", default=argparse.SUPPRESS, help="config file")
    probe.add_argument(
        "--really-send",
        action="store_true",
        help="send a real PO (then cancel it) when the adapter cannot mark it as a test",
    )
    probe.add_argument("--sku", help="the SKU to order one unit of (default: from the catalog)")


def main(args: argparse.Namespace, path: Path, out: TextIO) -> int:
    try:
        config = load_config(path)
    except ConfigError as error:
        for problem in error.problems:
            out.write(f"{problem.key_path()}: {problem.message}\n")
        return EXIT_INVALID
    supplier = next((s for s in config.suppliers if s.id == args.supplier_id), None)
    if supplier is None:
        known = ", ".join(s.id for s in config.suppliers) or "none"
        out.write(f"no supplier {args.supplier_id!r} in {path} (suppliers: {known})\n")
        return EXIT_INVALID
    plugins = load_configured_plugins(config)
    factory = plugins.registry.supplier_adapters.get(supplier.adapter)
    if factory is None:
        loaded = ", ".join(sorted(plugins.registry.supplier_adapters)) or "none"
        out.write(f"no supplier adapter named {supplier.adapter!r} is loaded (loaded: {loaded})\n")
        for info in plugins.errors:
            out.write(f"plugins.{info.name}: {info.error}\n")
        return EXIT_INVALID
    sku = args.sku or _sku_of(config, supplier.id)
    if sku is None:
        out.write(f"no catalog entry for supplier {supplier.id!r}: give --sku\n")
        return EXIT_INVALID
    po = probe_purchase_order(supplier.id, sku)

    async def probe_and_report() -> int:
        return report(supplier, po, await probe(supplier, factory, po, args.really_send), out)

    return run_async(probe_and_report())


def _sku_of(config: Config, supplier_id: str) -> str | None:
    return next((entry.sku for entry in config.catalog if entry.supplier == supplier_id), None)


def probe_purchase_order(supplier_id: str, sku: str) -> PurchaseOrderRequest:
    """One unit of `sku`, to an address that says it is a test."""
    now = datetime.now(UTC)
    return PurchaseOrderRequest(
        po_id=f"po_probe{secrets.token_hex(6)}-1",
        order_id=f"ord_probe{secrets.token_hex(6)}",
        order_external_id=f"PROBE-{now:%Y%m%d%H%M%S}",
        supplier_id=supplier_id,
        created_at=now,
        priority="low",
        currency="CNY",
        ship_to=Address(
            name="TEST ORDER - DO NOT SHIP",
            phone="13800000000",
            country="CN",
            region="CN-ZJ",
            province="浙江省",
            city="杭州市",
            district="西湖区",
            address1="TEST ORDER - DO NOT SHIP",
            postal_code="310000",
        ),
        lines=(PurchaseOrderLine(line_id="1", sku=sku, quantity=1),),
        order_created_at=now,
    )


async def probe(
    supplier: SupplierConfig,
    factory: SupplierAdapterFactory,
    po: PurchaseOrderRequest,
    really_send: bool,
) -> list[Step]:
    steps: list[Step] = []
    ctx = SupplierContext(
        supplier_id=supplier.id,
        url=supplier.url,
        timeout_s=supplier.timeout_s,
        max_in_flight=supplier.max_in_flight,
        options=dict(supplier.options),
        state=_ProbeState(),
        clock=SystemClock(),
        log=structlog.get_logger("gateway.probe").bind(supplier_id=supplier.id),
    )
    began = time.monotonic()
    try:
        adapter: Any = factory(ctx)
    except Exception as error:
        steps.append(Step("build the adapter", "FAIL", _ms(began), _error(error)))
        return steps
    limit = supplier.timeout_s + SLACK_S
    start = await _step("start", adapter.start, limit)
    steps.append(start)
    if start.outcome != "ok":
        return steps
    try:
        test_send = getattr(adapter, "send_test_purchase_order", None)
        if callable(test_send):
            steps.append(await _step("send_test_purchase_order", lambda: test_send(po), limit))
        elif really_send:
            steps.append(
                await _step("send_purchase_order", lambda: adapter.send_purchase_order(po), limit)
            )
        else:
            steps.append(
                Step(
                    "send_purchase_order",
                    "skipped",
                    detail="the adapter cannot mark a PO as a test: --really-send sends a real"
                    " one (cancelled right after)",
                )
            )
        steps.append(
            await _step(
                "cancel_purchase_order", lambda: adapter.cancel_purchase_order(po.po_id), limit
            )
        )
        steps.append(
            await _step(
                "fetch_purchase_order", lambda: adapter.fetch_purchase_order(po.po_id), limit
            )
        )
        steps.append(await _step("fetch_inventory", adapter.fetch_inventory, limit))
        if callable(getattr(adapter, "collect_reports", None)):
            steps.append(
                await _step("collect_reports (not confirmed)", adapter.collect_reports, limit)
            )
    finally:
        steps.append(await _step("close", adapter.close, limit))
    return steps


async def _step(name: str, call: Callable[[], Awaitable[Any]], limit_s: float) -> Step:
    began = time.monotonic()
    try:
        async with asyncio.timeout(limit_s):
            value = await call()
    except TimeoutError:
        return Step(name, "FAIL", _ms(began), f"no answer within {limit_s:g} s")
    except SupplierFailed as failed:
        outcome = "n/a" if failed.reason == "not_supported" else "FAIL"
        return Step(name, outcome, _ms(began), _error(failed))
    except SupplierRejected as refused:
        return Step(name, "refused", _ms(began), _error(refused))
    except Exception as error:  # the point is to see it, whatever it is
        return Step(name, "FAIL", _ms(began), _error(error))
    return Step(name, "ok", _ms(began), _describe(value))


def _ms(began: float) -> float:
    return (time.monotonic() - began) * 1000


def _error(error: BaseException) -> str:
    if isinstance(error, SupplierRejected | SupplierFailed):
        return f"{type(error).__name__}(reason={error.reason!r}, message={error.message!r})"
    return f"{type(error).__name__}: {error}"


def _describe(value: Any) -> str:
    if isinstance(value, Accepted | Submitted):
        return f"{type(value).__name__}(supplier_ref={value.supplier_ref!r})"
    if isinstance(value, PurchaseOrderReport):
        return f"{value.status}, {len(value.shipments)} shipments"
    if isinstance(value, ReportBatch):
        return f"{len(value.reports)} reports, {len(value.problems)} problems (left unconfirmed)"
    if isinstance(value, list):
        return f"{len(value)} SKUs"
    return "" if value is None else repr(value)[:120]


def report(
    supplier: SupplierConfig, po: PurchaseOrderRequest, steps: list[Step], out: TextIO
) -> int:
    out.write(
        f"probe of supplier {supplier.id!r} (adapter {supplier.adapter}, {supplier.url}),"
        f" PO {po.po_id}\n"
    )
    for step in steps:
        took = f"{step.ms:6.0f} ms" if step.ms is not None else "         "
        out.write(f"  {step.outcome:<8} {step.name:<32} {took}  {step.detail}\n".rstrip() + "\n")
    worked = [s for s in steps if s.outcome in ("ok", "refused", "n/a")]
    skipped = [s for s in steps if s.outcome == "skipped"]
    failed = [s for s in steps if s.outcome == "FAIL"]
    counted = f"{len(worked)} of {len(steps)} steps worked"
    if skipped:
        counted += f" ({len(skipped)} skipped)"
    out.write(f"{counted}; {_fate(po, steps)}\n")
    return EXIT_FAILED if failed else EXIT_OK


def _fate(po: PurchaseOrderRequest, steps: list[Step]) -> str:
    """What became of the probe's PO: the line the integrator must not miss."""
    sent = next((s for s in steps if s.name.startswith("send")), None)
    if sent is None or sent.outcome == "skipped":
        return "no PO was sent"
    cancelled = any(s.name == "cancel_purchase_order" and s.outcome == "ok" for s in steps)
    how = "as a test" if sent.name == "send_test_purchase_order" else "for real"
    if sent.outcome in ("ok", "refused"):
        if cancelled:
            return f"the PO was sent {how}, and cancelled"
        return f"the PO was sent {how} and NOT cancelled: cancel {po.po_id} at the supplier"
    if cancelled:
        return "sending failed; the cancellation went through"
    return f"sending failed; if {po.po_id} reached the supplier, cancel it there"
