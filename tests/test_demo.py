"""`python run.py demo` (what `make demo` runs) starts, shows orders flowing through simulated
suppliers, and stops cleanly. Every port is moved to a free one with GATEWAY__ overrides, which
also exercises overrides of nested arrays of tables."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.harness import ROOT, free_port


def test_the_demo_shows_orders_flowing_and_stops_cleanly(tmp_path: Path) -> None:
    http, mqtt = free_port(), free_port()
    supplier_ports = [free_port() for _ in range(5)]
    shop, listener = free_port(), free_port()
    env = {
        **os.environ,
        "GATEWAY__HTTP__PORT": str(http),
        "GATEWAY__MQTT__EMBEDDED_LISTEN": f"127.0.0.1:{mqtt}",
        "GATEWAY__SERVICES__0__OPTIONS__GATEWAY_URL": f"http://127.0.0.1:{http}",
        "GATEWAY__CHANNELS__1__OPTIONS__SHOP_URL": f"http://127.0.0.1:{shop}",
        "GATEWAY__CHANNELS__1__OPTIONS__LISTEN": f"127.0.0.1:{listener}",
        "GATEWAY__SERVICES__2__OPTIONS__PORT": str(shop),
        "GATEWAY__SERVICES__2__OPTIONS__WEBHOOK_ADDRESS": (
            f"http://127.0.0.1:{listener}/shopify/webhooks"
        ),
    }
    for index, port in enumerate(supplier_ports):
        env[f"GATEWAY__SUPPLIERS__{index}__URL"] = f"http://127.0.0.1:{port}"
        env[f"GATEWAY__SERVICES__0__OPTIONS__SUPPLIERS__{index}__PORT"] = str(port)
    sftp = free_port()  # the file-exchange supplier: its SFTP server and the gateway's URL of it
    env["GATEWAY__SUPPLIERS__5__URL"] = f"sftp://dropship@127.0.0.1:{sftp}/"
    env["GATEWAY__SERVICES__1__OPTIONS__PORT"] = str(sftp)

    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "run.py"),
            "demo",
            "--duration",
            "12",
            "--config",
            str(ROOT / "config" / "demo.toml"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert f"Dashboard  http://127.0.0.1:{http}/" in out
    assert f"API        http://127.0.0.1:{http}/api/v1/orders" in out
    assert f"mqtt://127.0.0.1:{mqtt}" in out
    assert re.search(r"Admin token  dgw_[A-Za-z0-9_-]{43}\n", out), out
    totals = [int(n) for n in re.findall(r"\] orders (\d+) \(", out)]
    assert totals, out
    assert totals[-1] >= 100, out  # the shop feeds 20 orders a second
    assert re.search(r"sup-fast\s+up", out), out
    assert re.search(r"sup-files\s+up", out), out
    taken = tmp_path / "var" / "demo" / "sftp" / "root" / "purchase_orders" / "taken"
    assert list(taken.glob("PO_*.csv")), out  # POs reached the file-exchange supplier as files
    shipped = [int(n) for n in re.findall(r"shipped\s+(\d+)", out)]
    assert max(shipped) > 0, out  # suppliers' signed shipment notices came back
    assert out.rstrip().endswith("stopped.")
    log = (tmp_path / "var" / "demo" / "gateway.log").read_text(encoding="utf-8")
    assert '"event":"gateway.stopped"' in log
    assert "13812345678" not in log
    assert '"event":"shopify.order_taken_in"' in log  # the Shopify shop's webhooks came in
