"""docs/plugins.md against the code: its reference part is generated from the hook
specifications, the registry, the plugin API's docstrings and the kit's rules, and must not
drift; every hook, protocol method and class of the plugin API has a docstring; every name a
plugin can import is documented; and the guide's example packages, written out as printed, pass
their own tests (the conformance kit) in a separate pytest process."""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import gateway.plugin_api
from gateway.plugin_api import adapters, hookspecs
from gateway.plugin_api.registry import AdapterRegistry
from gateway.testing import CHANNEL_RULES, SUPPLIER_RULES, reference
from tests.harness import ROOT

GUIDE = ROOT / "docs" / "plugins.md"


def guide() -> str:
    return GUIDE.read_text(encoding="utf-8")


def test_the_reference_is_what_the_code_says() -> None:
    assert reference.documented_block(guide()) == reference.render(), (
        "docs/plugins.md's reference differs from the code: run"
        " `python -m gateway.testing.reference --write`"
    )


def _classes(module: object) -> list[type]:
    return [
        value
        for name, value in vars(module).items()
        if inspect.isclass(value)
        and value.__module__ == getattr(module, "__name__", "")
        and not name.startswith("_")
    ]


def test_every_hook_protocol_method_and_class_has_a_docstring() -> None:
    missing = [
        name
        for name in dir(hookspecs)
        if name.startswith("dropship_gateway_") and not getattr(hookspecs, name).__doc__
    ]
    for cls in _classes(adapters):
        if not cls.__doc__:
            missing.append(cls.__name__)
        if getattr(cls, "_is_protocol", False):
            missing += [
                f"{cls.__name__}.{m.__name__}"
                for m in reference.protocol_methods(cls)
                if not m.__doc__
            ]
    missing += [
        f"AdapterRegistry.{name}"
        for name, member in vars(AdapterRegistry).items()
        if inspect.isfunction(member) and not name.startswith("_") and not member.__doc__
    ]
    assert not missing, f"no docstring (the reference is made of them): {missing}"


def test_the_docstring_check_sees_a_method_without_one() -> None:
    class Undocumented:
        """A protocol-like class."""

        async def run(self) -> None: ...

    assert [m.__name__ for m in reference.protocol_methods(Undocumented) if not m.__doc__] == [
        "run"
    ]


def test_every_name_a_plugin_can_import_is_documented() -> None:
    text = guide()
    missing = sorted(name for name in gateway.plugin_api.__all__ if f"`{name}" not in text)
    assert not missing, f"names of gateway.plugin_api not in docs/plugins.md: {missing}"
    for method in ("supplier_adapter", "channel_adapter", "service", "check_options"):
        assert f"registry.{method}(" in text, method


def test_every_kit_rule_has_its_anchor() -> None:
    text = guide()
    for rule in (*SUPPLIER_RULES, *CHANNEL_RULES):
        assert f'<a id="{rule.anchor}"></a>`{rule.id}`' in text, rule.id


def guide_files() -> dict[str, str]:
    """The files of the guide: each code block after a `<!-- file: PATH -->` line."""
    blocks = re.findall(
        r"^<!-- file: (\S+) -->\n```\w*\n(.*?)^```$", guide(), re.MULTILINE | re.DOTALL
    )
    return dict(blocks)


def test_guide_code_imports_only_what_exists() -> None:
    files = guide_files()
    assert {
        "dropship-acme/pyproject.toml",
        "dropship-acme/dropship_acme/__init__.py",
        "dropship-acme/dropship_acme/adapter.py",
        "dropship-acme/tests/conftest.py",
        "erp_channel.py",
    } <= set(files)
    for path, code in files.items():
        if not path.endswith(".py"):
            continue
        for node in ast.walk(ast.parse(code, filename=path)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gateway"):
                module = importlib.import_module(node.module or "")
                for alias in node.names:
                    assert hasattr(module, alias.name), f"{path}: {node.module}.{alias.name}"


def test_guide_adapter_implements_the_whole_protocol() -> None:
    tree = ast.parse(guide_files()["dropship-acme/dropship_acme/adapter.py"])
    adapter = next(
        node
        for node in tree.body
        if isinstance(node, ast.ClassDef)
        and any(getattr(f, "name", "") == "send_purchase_order" for f in node.body)
    )
    written = {f.name: f for f in adapter.body if isinstance(f, ast.AsyncFunctionDef)}
    for member in reference.protocol_methods(adapters.SupplierAdapter):
        expected = list(inspect.signature(member).parameters)
        assert [a.arg for a in written[member.__name__].args.args] == expected, member.__name__


@pytest.fixture(scope="module")
def written_guide(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("guide")
    for path, code in guide_files().items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(code, encoding="utf-8")
    return root


def run_pytest(cwd: Path, pythonpath: Path, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(pythonpath), str(ROOT)])},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    return output


def test_guide_supplier_package_keeps_the_contract(written_guide: Path) -> None:
    package = written_guide / "dropship-acme"
    output = run_pytest(package, package, "tests")
    assert "supplier adapter: 23 rules held, 0 broken, 6 not applicable" in output, output[-3000:]


def test_guide_channel_keeps_the_channel_contract(written_guide: Path) -> None:
    output = run_pytest(
        written_guide, written_guide, "-p", "gateway.testing", "test_erp_channel.py"
    )
    assert "channel adapter: 7 rules held, 0 broken, 1 not applicable" in output, output[-3000:]
    assert "channel.write_back not applicable: the source takes no write-back" in output
