"""`python run.py plugin new NAME --kind supplier|channel`: a plugin package to start from.

It writes a distribution with its `dropship_gateway` entry point, a skeleton adapter, a README and
a test that runs the conformance kit against a counterpart. The skeleton fails the kit exactly
where code is missing, and each failure says what to write there.
"""

from __future__ import annotations

import argparse
import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from gateway.plugin_api.adapters import PLUGIN_API_VERSION

TEMPLATES = Path(__file__).parent / "scaffold"
NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")  # a plugin and adapter name the config can use
EXIT_OK = 0
EXIT_INVALID = 2

_KINDS = {
    "supplier": ("supplier adapter", "Supplier", "SupplierStandIn"),
    "channel": ("channel adapter", "Channel", "SourceStandIn"),
}
_CONFIG_EXAMPLES = {
    "supplier": """```toml
[[suppliers]]
id = "my-supplier"
name = "My supplier"
adapter = "${name}"
url = "https://orders.my-supplier.example"
regions = ["CN"]
```""",
    "channel": """```toml
[[channels]]
id = "my-erp"
adapter = "${name}"
options = { url = "https://erp.example/api", every_s = 30 }
```""",
}


class ScaffoldError(Exception):
    """The package cannot be created; the message says why."""


@dataclass(frozen=True)
class Scaffold:
    root: Path
    files: list[Path]


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    plugin = commands.add_parser("plugin", help="plugin development: `plugin new NAME`")
    actions = plugin.add_subparsers(dest="plugin_command", required=True)
    new = actions.add_parser(
        "new", help="create a plugin package whose tests run the conformance kit"
    )
    new.add_argument("name", help="the adapter's name, as the config will name it (acme_wholesale)")
    new.add_argument("--kind", choices=sorted(_KINDS), default="supplier")
    new.add_argument(
        "--dir", type=Path, default=Path(), help="where to create the package (default: here)"
    )


def main(args: argparse.Namespace, out: TextIO) -> int:
    try:
        scaffold = create(args.name, args.kind, args.dir)
    except ScaffoldError as error:
        out.write(f"plugin new: {error}\n")
        return EXIT_INVALID
    out.write(f"Created {scaffold.root} ({_KINDS[args.kind][0]} {args.name!r}):\n")
    for path in scaffold.files:
        out.write(f"  {path.relative_to(scaffold.root.parent)}\n")
    out.write(
        "\nNext:\n"
        f"  pip install -e {scaffold.root}     # beside dropship-gateway\n"
        f"  cd {scaffold.root} && pytest         # the kit says what is left to write\n"
    )
    return EXIT_OK


def create(name: str, kind: str, parent: Path) -> Scaffold:
    """Write the package for plugin `name` of `kind` into `parent`/dropship-NAME."""
    if not NAME.match(name):
        raise ScaffoldError(
            f"{name!r} is not a plugin name: lower case letters, digits and _, starting with a"
            " letter, at most 40 characters (acme_wholesale)"
        )
    if kind not in _KINDS:
        raise ScaffoldError(f"unknown kind {kind!r}: {', '.join(sorted(_KINDS))}")
    dist = "dropship-" + name.replace("_", "-")
    package = "dropship_" + name
    root = parent / dist
    if root.exists():
        raise ScaffoldError(f"{root} already exists")
    kind_text, suffix, counterpart = _KINDS[kind]
    camel = "".join(part.capitalize() for part in name.split("_"))
    values = {
        "name": name,
        "dist": dist,
        "package": package,
        "cls": camel + suffix,
        "counterpart": camel + counterpart,
        "kind_text": kind_text,
        "api_version": str(PLUGIN_API_VERSION),
    }
    values["config_example"] = string.Template(_CONFIG_EXAMPLES[kind]).substitute(values)
    written: list[Path] = []
    for base in (TEMPLATES / "common", TEMPLATES / kind):
        for template in sorted(base.rglob("*.tmpl")):
            relative = template.relative_to(base).with_suffix("")  # drop .tmpl
            target = root / Path(*(package if p == "__package__" else p for p in relative.parts))
            target.parent.mkdir(parents=True, exist_ok=True)
            text = string.Template(template.read_text(encoding="utf-8")).substitute(values)
            target.write_text(text, encoding="utf-8")
            written.append(target)
    return Scaffold(root=root, files=sorted(written))
