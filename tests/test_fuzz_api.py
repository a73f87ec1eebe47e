"""Schemathesis over docs/openapi.yaml against a real gateway process (issue 6).

Every operation of the document, every check schemathesis has (no 5xx, status codes, content
types, headers and bodies as documented, schema-valid requests accepted and schema-violating
ones refused, auth enforced, stateful sequences through the document's links), examples
generated from a fixed seed and bounded in number, so that a failure reproduces. The gateway
runs with an API token (so that `ignored_auth` has something to check) and one supplier with a
notice secret; `tests/fuzz_hooks.py` signs the fuzzer's shipment notices with it.
`tests/schemathesis.toml` lists what the schema cannot say and the API refuses all the same.

`make fuzz` is the longer run: FUZZ_MAX_EXAMPLES examples per operation and phase, and a new
seed each time (FUZZ_SEED, printed in the report, reproduces a run).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from tests.harness import ROOT, GatewayProcess, Mosquitto, free_port

TOKEN = "fuzz-admin-token-0123456789abcdef"
NOTICE_SECRET = "fuzz-notice-secret"
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "8"))
SEED = int(os.environ.get("FUZZ_SEED", "20261202"))
# Each phase is bounded by the examples; this only stops a run that hangs.
TIMEOUT_S = float(os.environ.get("FUZZ_TIMEOUT_S", "600"))


def fuzz_config(tmp: Path, broker: Mosquitto) -> dict[str, Any]:
    supplier_port = free_port()
    return {
        "gateway": {"data_dir": str(tmp / "var"), "shutdown_grace_s": 2},
        "http": {"host": "127.0.0.1", "port": 0},
        "mqtt": {"url": broker.url, "topic_prefix": "fuzz", "reconnect_max_s": 0.5},
        "log": {"level": "info", "format": "json"},
        "auth": {"tokens": [{"name": "fuzzer", "role": "admin", "token": TOKEN}]},
        "limits": {"intake_rate_per_s": 0},  # the fuzzer is not a client to slow down
        "suppliers": [
            {
                "id": "sup-fuzz",
                "name": "Fuzzed supplier",
                "url": f"http://127.0.0.1:{supplier_port}",
                "regions": ["*"],
                "webhook_secret": NOTICE_SECRET,
            }
        ],
        "catalog": [{"sku": "SKU-1", "supplier": "sup-fuzz", "cost": "10.00", "stock": 10**6}],
        "services": [
            {
                "id": "fleet",
                "plugin": "supplier_fleet",
                "options": {
                    "suppliers": [{"id": "sup-fuzz", "port": supplier_port, "skus": ["SKU-1"]}]
                },
            }
        ],
    }


@pytest.fixture
def fuzzed_gateway(tmp_path: Path, broker: Mosquitto) -> Iterator[GatewayProcess]:
    path = tmp_path / "gateway.toml"
    path.write_text(tomli_w.dumps(fuzz_config(tmp_path, broker)), encoding="utf-8")
    process = GatewayProcess(path, tmp_path)
    process.start_blocking()
    try:
        yield process
    finally:
        process.ensure_stopped()


def test_the_api_keeps_to_its_openapi_document(
    fuzzed_gateway: GatewayProcess, tmp_path: Path
) -> None:
    schemathesis = Path(sys.executable).parent / "schemathesis"
    command = [
        str(schemathesis),
        "--config-file",
        str(ROOT / "tests" / "schemathesis.toml"),
        "run",
        str(ROOT / "docs" / "openapi.yaml"),
        "--url",
        fuzzed_gateway.url,
        "--checks",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "1",
        "--request-timeout",
        "20",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path / "report"),
    ]
    env = {
        **os.environ,
        "FUZZ_TOKEN": TOKEN,
        "FUZZ_NOTICE_SECRET": NOTICE_SECRET,
        "PYTHONPATH": str(ROOT),
        "NO_COLOR": "1",
        "SCHEMATHESIS_TELEMETRY": "false",
    }
    run = subprocess.run(
        command,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    report = run.stdout + run.stderr
    if MAX_EXAMPLES > 8:
        print(report)  # `make fuzz`: the whole report
    assert run.returncode == 0, report[-20_000:]
    assert "0 generated" not in report, report[-5_000:]
    # Nothing the fuzzer sent made the gateway log an error of its own (a 500, a crash).
    errors = [e for e in fuzzed_gateway.log_events() if e.get("level") in ("error", "critical")]
    assert errors == [], errors[:5]
    assert fuzzed_gateway.running()
