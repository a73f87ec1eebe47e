"""`run.py supplier probe`: the configured adapter against a supplier's endpoint (here real HTTP
servers on 127.0.0.1 standing in for the supplier), each step timed; a real PO only with
--really-send (then cancelled), a test PO where the adapter can mark one, failures shown."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import tomli_w

from dropship_simulator.supplier_server import SupplierSimulator
from tests.harness import ROOT, free_port

EXAMPLE = ROOT / "examples" / "dropship-example-feed"


def write_config(tmp_path: Path, adapter: str, url: str, **extra: Any) -> Path:
    config = {
        "gateway": {"data_dir": str(tmp_path / "var")},
        "suppliers": [
            {"id": "sup-a", "name": "A", "adapter": adapter, "url": url, "regions": ["CN"],
             "timeout_s": 2, **extra},
        ],
        "catalog": [{"sku": "SKU-1", "supplier": "sup-a", "cost": "1.00", "stock": 5}],
    }  # fmt: skip
    path = tmp_path / "gateway.toml"
    path.write_text(tomli_w.dumps(config), encoding="utf-8")
    return path


async def probe(config: Path, *args: str) -> tuple[int, str]:
    """Run the probe as a process while this test's event loop keeps serving the supplier."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "run.py"), "supplier", "probe", "sup-a",
        "--config", str(config), *args,
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode() + err.decode()


def step(output: str, name: str) -> str:
    """The outcome and detail of a step's line."""
    line = next(line for line in output.splitlines() if f" {name} " in f"{line} ")
    return " ".join(line.split())


async def test_really_sending_places_then_cancels_a_po_and_times_each_step(
    tmp_path: Path,
) -> None:
    async with SupplierSimulator("sup-a", skus=["SKU-1"], stock=5) as supplier:
        code, output = await probe(write_config(tmp_path, "http_json", supplier.url),
                                   "--really-send")  # fmt: skip
        assert code == 0, output
        assert len(supplier.orders) == 1
        po_id, order = next(iter(supplier.orders.items()))
        assert po_id.startswith("po_probe")
        assert order.status == "cancelled"
        assert supplier.created_count(po_id) == 1
    assert f"probe of supplier 'sup-a' (adapter http_json, {supplier.url}), PO {po_id}" in output
    assert step(output, "send_purchase_order").startswith("ok send_purchase_order")
    assert "Accepted(supplier_ref=" in step(output, "send_purchase_order")
    assert step(output, "cancel_purchase_order").startswith("ok cancel_purchase_order")
    assert step(output, "fetch_purchase_order").endswith("cancelled, 0 shipments")
    assert step(output, "fetch_inventory").endswith("1 SKUs")
    assert " ms" in step(output, "start")
    assert "6 of 6 steps worked; the PO was sent for real, and cancelled" in output


async def test_without_really_send_nothing_is_sent_and_the_rest_is_probed(tmp_path: Path) -> None:
    async with SupplierSimulator("sup-a", skus=["SKU-1"], stock=5) as supplier:
        code, output = await probe(write_config(tmp_path, "http_json", supplier.url))
        assert supplier.orders == {}
        assert not [r for r in supplier.requests if r.method == "POST"]
    assert code == 0, output
    assert step(output, "send_purchase_order").startswith("skipped send_purchase_order")
    assert "--really-send sends a real one" in output
    assert step(output, "cancel_purchase_order").startswith("ok")
    assert "5 of 6 steps worked (1 skipped); no PO was sent" in output


async def test_a_supplier_that_is_not_there_fails_each_step_and_says_how(tmp_path: Path) -> None:
    code, output = await probe(
        write_config(tmp_path, "http_json", f"http://127.0.0.1:{free_port()}"), "--really-send"
    )
    assert code == 1
    assert step(output, "send_purchase_order").startswith("FAIL send_purchase_order")
    assert "SupplierUnavailable" in step(output, "send_purchase_order")
    assert step(output, "fetch_inventory").startswith("FAIL")
    assert "sending failed; if po_probe" in output


async def test_an_unknown_supplier_or_adapter_is_named(tmp_path: Path) -> None:
    config = write_config(tmp_path, "soap_xml", "http://127.0.0.1:9")
    code, output = await probe(config)
    assert code == 2
    assert output.startswith("no supplier adapter named 'soap_xml' is loaded (loaded: ")
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "run.py"), "supplier", "probe", "sup-z", "--config", str(config),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await process.communicate()
    assert process.returncode == 2
    assert out.decode() == f"no supplier 'sup-z' in {config} (suppliers: sup-a)\n"


def _feed_counterpart() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "example_feed_counterpart_for_probe", EXAMPLE / "tests" / "counterpart.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_an_adapter_that_can_mark_a_test_po_sends_it_as_a_test(tmp_path: Path) -> None:
    counterpart = _feed_counterpart()
    supplier = counterpart.FeedCounterpart()
    async with supplier:
        config = write_config(
            tmp_path, "example_feed", supplier.url(), options={"api_key": counterpart.API_KEY}
        )
        code, output = await probe(config)
    assert code == 0, output
    assert step(output, "send_test_purchase_order").startswith("ok send_test_purchase_order")
    assert "Submitted(supplier_ref=" in output
    assert step(output, "collect_reports (not confirmed)").startswith("ok")
    assert "the PO was sent as a test, and cancelled" in output
    sent = [json.loads(r.body) for r in supplier.requests if r.path == "/v2/orders"]
    assert len(sent) == 1
    assert sent[0]["test"] is True
