"""`run.py plugin new`: the skeleton fails the conformance kit where code is missing, saying what
to write; filled in with a minimal working adapter, the package is pip-installed into a fresh
virtual environment, keeps every rule of the kit there and is listed by `run.py plugins`."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.harness import ROOT

# What an author writes into the skeleton for a supplier that speaks CONTRACT §5 (which the
# scaffold's counterpart speaks until it is changed).
WORKING_ADAPTER = """
from __future__ import annotations

import aiohttp
import msgspec

from gateway.plugin_api import (
    Accepted, PurchaseOrderReport, PurchaseOrderRequest, ShipmentReport, StockLevel,
    SupplierContext, SupplierFailed, SupplierRejected, SupplierUnavailable,
)


class AcmeSupplier:
    def __init__(self, ctx: SupplierContext) -> None:
        self._ctx = ctx
        self._base = ctx.url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._ctx.timeout_s)
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _call(self, method, path, body=None, headers=None):
        assert self._session is not None
        try:
            async with self._session.request(
                method, self._base + path, json=body, headers=headers
            ) as response:
                return response.status, await response.read(), response.headers
        except (aiohttp.ClientError, TimeoutError) as error:
            raise SupplierUnavailable(type(error).__name__) from None

    @staticmethod
    def _json(raw):
        try:
            return msgspec.json.decode(raw) if raw else {}
        except msgspec.DecodeError:
            raise SupplierUnavailable("unreadable answer") from None

    def _other(self, status, headers):
        if status == 429 or status >= 500:
            after = headers.get("Retry-After")
            raise SupplierUnavailable(f"HTTP {status}", float(after) if after else None)
        raise SupplierFailed(f"http_{status}")

    async def send_purchase_order(self, po: PurchaseOrderRequest) -> Accepted:
        body = {"po_id": po.po_id,
                "lines": [{"sku": l.sku, "quantity": l.quantity} for l in po.lines]}
        status, raw, headers = await self._call(
            "POST", "/purchase-orders", body, {"Idempotency-Key": po.po_id})
        if status in (200, 201, 409):
            return Accepted(self._json(raw).get("supplier_ref"))
        if status == 422:
            answer = self._json(raw)
            raise SupplierRejected(answer.get("reason", "rejected"), answer.get("message", ""))
        self._other(status, headers)

    async def cancel_purchase_order(self, po_id: str) -> None:
        status, _, headers = await self._call("DELETE", f"/purchase-orders/{po_id}")
        if status not in (200, 204, 404):
            self._other(status, headers)

    async def fetch_purchase_order(self, po_id: str) -> PurchaseOrderReport | None:
        status, raw, headers = await self._call("GET", f"/purchase-orders/{po_id}")
        if status == 404:
            return None
        if status != 200:
            self._other(status, headers)
        answer = self._json(raw)
        try:
            return PurchaseOrderReport(
                status=answer["status"], supplier_ref=answer.get("supplier_ref"),
                shipments=tuple(
                    ShipmentReport(carrier=s["carrier"], tracking_number=s["tracking_number"],
                                   lines=tuple((l["sku"], l["quantity"]) for l in s["lines"]))
                    for s in answer.get("shipments", [])))
        except (KeyError, TypeError):
            raise SupplierUnavailable("unreadable status") from None

    async def fetch_inventory(self) -> list[StockLevel]:
        status, raw, headers = await self._call("GET", "/inventory")
        if status != 200:
            self._other(status, headers)
        try:
            return msgspec.convert(self._json(raw), list[StockLevel])
        except msgspec.ValidationError:
            raise SupplierUnavailable("unreadable inventory") from None
"""

# The three methods an author writes into the channel skeleton, for the scaffold's source.
WORKING_CHANNEL_METHODS = """
    async def fetch_new_orders(self, ctx, http):
        async with http.get(f"{ctx.options['url']}/orders/new") as response:
            response.raise_for_status()
            return [bytes(o) for o in msgspec.json.decode(await response.read(),
                                                          type=list[msgspec.Raw])]

    async def confirm(self, ctx, http, external_ids):
        async with http.post(f"{ctx.options['url']}/orders/ack", json=external_ids) as response:
            response.raise_for_status()

    async def write_back(self, ctx, http, update):
        async with http.post(f"{ctx.options['url']}/orders/{update.external_id}/updates",
                             json={"type": update.type, **update.data}) as response:
            response.raise_for_status()
"""


def run(*args: str | Path, cwd: Path, python: Path | str = sys.executable,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
    return subprocess.run(
        [str(python), *map(str, args)],
        cwd=cwd,
        env=env or {k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def scaffold(name: str, kind: str, where: Path) -> Path:
    result = run(ROOT / "run.py", "plugin", "new", name, "--kind", kind, "--dir", where, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    package = where / f"dropship-{name.replace('_', '-')}"
    assert f"Created {package}" in result.stdout
    return package


def kit(package: Path, python: Path | str = sys.executable, source: bool = True) -> str:
    """Run the package's own tests (the kit) from outside its folder; `source`: import the
    package from its folder (not installed) rather than from the environment."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if source:
        env["PYTHONPATH"] = str(package)
    result = run(
        "-m", "pytest", "-p", "no:cacheprovider", "-c", package / "pyproject.toml",
        "--rootdir", package, package / "tests", cwd=package.parent, python=python, env=env,
    )  # fmt: skip
    return f"exit {result.returncode}\n{result.stdout}{result.stderr}"


def test_a_supplier_skeleton_fails_the_kit_saying_what_to_write(tmp_path: Path) -> None:
    package = scaffold("acme", "supplier", tmp_path)
    assert {p.relative_to(package).as_posix() for p in package.rglob("*") if p.is_file()} == {
        "README.md",
        "pyproject.toml",
        "dropship_acme/__init__.py",
        "dropship_acme/adapter.py",
        "dropship_acme/py.typed",
        "tests/conftest.py",
        "tests/test_contract.py",
    }
    pyproject = (package / "pyproject.toml").read_text()
    assert '[project.entry-points.dropship_gateway]\nacme = "dropship_acme"' in pyproject
    assert "plugin_api_version = 2" in (package / "dropship_acme" / "__init__.py").read_text()

    output = kit(package)
    assert output.startswith("exit 1"), output[-3000:]
    assert "supplier adapter: 2 rules held, 21 broken, 6 not applicable" in output, output[-3000:]
    assert (
        "send_purchase_order(<PO po_0123456789abcdef-1>) is not written yet: TODO"
        " send_purchase_order in dropship_acme/adapter.py: make ONE request that places po"
    ) in output
    for method in ("cancel_purchase_order", "fetch_purchase_order", "fetch_inventory"):
        assert f"is not written yet: TODO {method} in dropship_acme/adapter.py" in output, method
    assert "broken rule send.refused:" in output


def test_the_filled_in_supplier_installs_with_pip_keeps_the_contract_and_is_listed(
    tmp_path: Path,
) -> None:
    package = scaffold("acme", "supplier", tmp_path)
    (package / "dropship_acme" / "adapter.py").write_text(WORKING_ADAPTER, encoding="utf-8")

    # A fresh environment: the plugin is installed into it by pip; the gateway and its
    # dependencies are this test environment's, seen as a second site directory.
    fresh = tmp_path / "venv"
    assert run("-m", "venv", "--without-pip", fresh, cwd=tmp_path).returncode == 0
    python = fresh / "bin" / "python"
    fresh_site = Path(run("-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                          cwd=tmp_path, python=python).stdout.strip())  # fmt: skip
    ours = sysconfig.get_paths()["purelib"]
    (fresh_site / "test-environment.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
    install = run(
        "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--no-build-isolation",
        package, cwd=tmp_path, python=python,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    where = run("-c", "import dropship_acme; print(dropship_acme.__file__)", cwd=tmp_path,
                python=python).stdout.strip()  # fmt: skip
    assert Path(where).is_relative_to(fresh_site)

    output = kit(package, python=python, source=False)
    assert output.startswith("exit 0"), output[-4000:]
    assert "supplier adapter: 23 rules held, 0 broken, 6 not applicable" in output

    listed = run(ROOT / "run.py", "plugins", "--config", tmp_path / "none.toml", cwd=tmp_path,
                 python=python)  # fmt: skip
    assert listed.returncode == 0, listed.stdout + listed.stderr
    lines = listed.stdout.splitlines()
    assert "acme 0.1.0  [dropship_acme]  package dropship-acme, plugin API 2" in lines
    assert lines[lines.index(
        "acme 0.1.0  [dropship_acme]  package dropship-acme, plugin API 2") + 2
    ] == "    supplier adapters: acme"  # fmt: skip


def test_a_channel_skeleton_fails_the_kit_and_passes_once_filled_in(tmp_path: Path) -> None:
    package = scaffold("erp_feed", "channel", tmp_path)
    module = package / "dropship_erp_feed" / "channel.py"
    output = kit(package)
    assert output.startswith("exit 1"), output[-3000:]
    assert "channel adapter: 0 rules held, 8 broken, 0 not applicable" in output, output[-3000:]
    assert "NotImplementedError (not written yet): TODO fetch_new_orders in" in output

    code = module.read_text()
    start = code.index("    async def fetch_new_orders(")
    code = code[:start] + WORKING_CHANNEL_METHODS.lstrip("\n")
    module.write_text(code.replace("import aiohttp\n", "import aiohttp\nimport msgspec\n", 1))
    output = kit(package)
    assert output.startswith("exit 0"), output[-4000:]
    assert "channel adapter: 8 rules held, 0 broken, 0 not applicable" in output


def test_a_name_the_config_could_not_use_is_refused(tmp_path: Path) -> None:
    result = run(ROOT / "run.py", "plugin", "new", "Acme-Wholesale", "--dir", tmp_path, cwd=ROOT)
    assert result.returncode == 2
    assert "'Acme-Wholesale' is not a plugin name" in result.stdout
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("kind", ["supplier", "channel"])
def test_an_existing_folder_is_left_alone(tmp_path: Path, kind: str) -> None:
    (tmp_path / "dropship-acme").mkdir()
    result = run(ROOT / "run.py", "plugin", "new", "acme", "--kind", kind, "--dir", tmp_path,
                 cwd=ROOT)  # fmt: skip
    assert result.returncode == 2
    assert "already exists" in result.stdout
    assert not list((tmp_path / "dropship-acme").iterdir())
