"""The package is layered: each folder of `gateway/` may import only the layers below it, so
there are no import cycles and, for instance, nothing but the store touches SQL."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

GATEWAY = Path(__file__).resolve().parent.parent / "gateway"

# Each layer and the layers it may import (besides itself).
ALLOWED: dict[str, set[str]] = {
    "domain": set(),
    "infra": {"domain"},
    "plugin_api": {"domain", "infra"},
    "store": {"domain", "infra", "plugin_api"},
    "feed": {"domain", "infra", "store"},
    "actors": {"domain", "infra", "plugin_api", "store"},
    "api": {"domain", "infra", "plugin_api", "store", "actors"},
    "app": {"domain", "infra", "plugin_api", "store", "actors", "feed", "api"},
    # The conformance kit, for plugin authors' test suites: it drives adapters through the
    # plugin API alone, as the gateway would, and never needs the running gateway.
    "testing": {"domain", "infra", "plugin_api"},
}


def imported_layers(path: Path) -> set[tuple[str, int]]:
    """(layer, line) of every `gateway.<layer>` this module imports, typing-only ones included."""
    found: set[tuple[str, int]] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "gateway" and len(parts) > 1:
                found.add((parts[1], node.lineno))
    return found


def layer_modules() -> list[Path]:
    return sorted(p for p in GATEWAY.rglob("*.py") if p.parent != GATEWAY)


def test_every_module_is_in_a_known_layer() -> None:
    loose = [p.name for p in GATEWAY.glob("*.py") if p.name != "__init__.py"]
    assert not loose, f"modules outside a layer folder: {loose}"
    layers = {p.relative_to(GATEWAY).parts[0] for p in layer_modules()}
    assert layers <= set(ALLOWED), f"folders with no layer rule: {layers - set(ALLOWED)}"


@pytest.mark.parametrize("path", layer_modules(), ids=lambda p: str(p.relative_to(GATEWAY)))
def test_imports_go_down_the_layers(path: Path) -> None:
    layer = path.relative_to(GATEWAY).parts[0]
    wrong = sorted(
        f"line {line}: gateway.{target}"
        for target, line in imported_layers(path)
        if target != layer and target not in ALLOWED[layer]
    )
    assert not wrong, f"{layer} may not import {', '.join(wrong)}"


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("from gateway.app.runtime import Gateway\nimport gateway.store.db\n")
    assert {layer for layer, _ in imported_layers(module)} == {"app", "store"}
