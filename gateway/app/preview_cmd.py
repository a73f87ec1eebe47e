"""`python run.py preview --config PATH SUPPLIER_ID [--po FILE]`: what the supplier's adapter
would send for a purchase order, without sending it.

For configured adapters this is how a mapping is tried out: `mapped_json` prints the request
(method, URL, headers with secrets masked, the JSON body), `file_exchange` the CSV file. An
adapter takes part by having a `preview_purchase_order(po) -> str` method; the PO is a sample
made from the supplier's own catalog entries, or a `PurchaseOrderRequest` as JSON (`--po`).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TextIO

import msgspec

from gateway.app.plugins import load_plugins
from gateway.infra.config import Config, ConfigError, load_config
from gateway.plugin_api import (
    Address,
    PurchaseOrderLine,
    PurchaseOrderRequest,
    SupplierContext,
    SupplierFailed,
)

EXIT_OK, EXIT_INVALID = 0, 2


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    preview = commands.add_parser(
        "preview", help="print what a supplier's adapter would send for a sample PO"
    )
    preview.add_argument("--config", default=argparse.SUPPRESS, help="config file")
    preview.add_argument("supplier", help="the supplier's id")
    preview.add_argument(
        "--po", type=Path, default=None, help="a PurchaseOrderRequest as JSON (default: a sample)"
    )


def cmd_preview(args: argparse.Namespace, config_path: Path, out: TextIO, err: TextIO) -> int:
    try:
        config = load_config(config_path)
    except ConfigError as error:
        for problem in error.problems:
            err.write(f"{problem.key_path()}: {problem.message}\n")
        return EXIT_INVALID
    index, supplier = next(
        ((i, s) for i, s in enumerate(config.suppliers) if s.id == args.supplier), (-1, None)
    )
    if supplier is None:
        known = ", ".join(s.id for s in config.suppliers) or "none"
        err.write(f"no supplier {args.supplier!r} in {config_path} (suppliers: {known})\n")
        return EXIT_INVALID
    registry = load_plugins(config.gateway.plugin_modules).registry
    factory = registry.supplier_adapters.get(supplier.adapter)
    if factory is None:
        err.write(f"suppliers[{index}].adapter: no supplier adapter named {supplier.adapter!r}\n")
        return EXIT_INVALID
    problems = registry.check_options("supplier adapter", supplier.adapter, dict(supplier.options))
    if problems:
        for found in problems:
            key = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in found.path)
            err.write(f"suppliers[{index}].options{key}: {found.message}\n")
        return EXIT_INVALID
    try:
        po = _read_po(args.po) if args.po else sample_po(config, supplier.id)
    except (OSError, msgspec.DecodeError) as error:
        err.write(f"--po {args.po}: {error}\n")
        return EXIT_INVALID
    context = SupplierContext(
        supplier_id=supplier.id,
        url=supplier.url,
        timeout_s=supplier.timeout_s,
        max_in_flight=supplier.max_in_flight,
        options=dict(supplier.options),
    )
    try:
        adapter = factory(context)
        preview = getattr(adapter, "preview_purchase_order", None)
        if preview is None:
            err.write(
                f"the {supplier.adapter} adapter cannot show what it sends"
                " (it has no preview_purchase_order method)\n"
            )
            return EXIT_INVALID
        out.write(str(preview(po)))
    except (ValueError, SupplierFailed) as error:
        err.write(f"suppliers[{index}]: {error}\n")
        return EXIT_INVALID
    return EXIT_OK


def _read_po(path: Path) -> PurchaseOrderRequest:
    return msgspec.json.decode(path.read_bytes(), type=PurchaseOrderRequest)


def sample_po(config: Config, supplier_id: str) -> PurchaseOrderRequest:
    """A PO as this supplier would get one: up to two of its catalog SKUs at their costs, and a
    complete address (made up)."""
    entries = [entry for entry in config.catalog if entry.supplier == supplier_id][:2]
    lines = tuple(
        PurchaseOrderLine(
            line_id=str(number), sku=entry.sku, quantity=number, unit_cost=entry.unit_cost
        )
        for number, entry in enumerate(entries, start=1)
    ) or (PurchaseOrderLine(line_id="1", sku="SKU-1", quantity=2, unit_cost=Decimal("12.50")),)
    now = datetime.now(UTC).replace(microsecond=0)
    return PurchaseOrderRequest(
        po_id="po_0123456789abcdef-1",
        order_id="ord_0123456789abcdef",
        order_external_id="SO-PREVIEW-0001",
        supplier_id=supplier_id,
        created_at=now,
        priority="normal",
        currency="CNY",
        ship_to=Address(
            name="张三",
            phone="13812345678",
            country="CN",
            region="CN-ZJ",
            province="浙江省",
            city="杭州市",
            district="西湖区",
            address1="文三路 100 号",
            postal_code="310000",
        ),
        lines=lines,
        order_created_at=now,
    )
