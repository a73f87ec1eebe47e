"""The command line of CONTRACT §1: serve (default), check, demo, plugins, schema."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import msgspec
import structlog

from gateway.app import plugin_scaffold, supplier_probe
from gateway.app.backup_cmd import add_parser as backup_command
from gateway.app.backup_cmd import cmd_backup
from gateway.app.event_loop import run_async, settle_heap
from gateway.app.plugins import PluginSet, load_configured_plugins, load_plugins
from gateway.app.preview_cmd import add_parser as preview_commands
from gateway.app.preview_cmd import cmd_preview
from gateway.app.token_cmd import add_parser as token_commands
from gateway.app.token_cmd import cmd_token
from gateway.domain.intake import order_schema
from gateway.domain.notices import ShipmentNotice
from gateway.domain.validation import Problem
from gateway.infra.config import Config, ConfigError, config_path_from, load_config
from gateway.infra.logs import configure_logging

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2

log = structlog.get_logger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = args.command or "serve"
    if command == "schema":
        return cmd_schema(args.what, sys.stdout)
    if command == "plugin":
        return plugin_scaffold.main(args, sys.stdout)
    if command == "demo":
        from gateway.app.demo import run_demo

        return run_demo(
            duration_s=args.duration, config_path=Path(args.config or "config/demo.toml")
        )
    path = config_path_from(getattr(args, "config", None), os.environ)
    if command == "supplier":
        return supplier_probe.main(args, path, sys.stdout)
    if command == "check":
        return cmd_check(path, sys.stdout)
    if command == "plugins":
        return cmd_plugins(path, sys.stdout)
    if command == "token":
        return cmd_token(args, path, sys.stdout, sys.stderr)
    if command == "backup":
        return cmd_backup(args, path, sys.stdout, sys.stderr)
    if command == "preview":
        return cmd_preview(args, path, sys.stdout, sys.stderr)
    return cmd_serve(path)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run.py", description="Dropship Gateway: distributes drop-ship orders to suppliers."
    )
    parser.add_argument(
        "--config", help="config file (default: $GATEWAY_CONFIG, then config/default.toml)"
    )
    commands = parser.add_subparsers(dest="command")
    for name, text in (
        ("serve", "run the daemon in the foreground until SIGINT/SIGTERM"),
        ("check", "validate the config and the plugins it names"),
        ("plugins", "list loaded plugins, their versions and hooks"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--config", default=argparse.SUPPRESS, help="config file")
    demo = commands.add_parser("demo", help="run a demo with simulated suppliers and orders")
    demo.add_argument("--config", default=argparse.SUPPRESS, help="demo config file")
    demo.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    schema = commands.add_parser("schema", help="print a JSON Schema")
    schema.add_argument("what", choices=("order", "shipment", "config"))
    token_commands(commands)
    backup_command(commands)
    preview_commands(commands)
    plugin_scaffold.add_parser(commands)
    supplier_probe.add_parser(commands)
    return parser


# -- check ---------------------------------------------------------------------------------------


def plugin_problems(config: Config, plugins: PluginSet) -> list[Problem]:
    """Config keys that name a plugin or adapter that is not loaded, and plugins that failed."""
    registry = plugins.registry
    wanted: list[tuple[str, str, str, list[str], Mapping[str, object]]] = [
        ("suppliers", "adapter", "supplier adapter",
         [s.adapter for s in config.suppliers], registry.supplier_adapters),
        ("channels", "adapter", "channel adapter",
         [c.adapter for c in config.channels], registry.channel_adapters),
        ("services", "plugin", "service", [s.plugin for s in config.services], registry.services),
    ]  # fmt: skip
    options: dict[str, list[dict[str, Any]]] = {
        "suppliers": [dict(s.options) for s in config.suppliers],
        "channels": [dict(c.options) for c in config.channels],
        "services": [dict(s.options) for s in config.services],
    }
    problems: list[Problem] = []
    for section, key, kind, names, loaded in wanted:
        available = ", ".join(sorted(loaded)) or "none"
        for index, name in enumerate(names):
            if name not in loaded:
                problems.append(
                    Problem(
                        (section, index, key),
                        f"no {kind} named {name!r} (loaded: {available})",
                    )
                )
                continue
            for found in registry.check_options(kind, name, options[section][index]):
                problems.append(Problem((section, index, "options", *found.path), found.message))
    for info in plugins.errors:
        problems.append(Problem(("plugins", info.name), info.error or "failed"))
    return problems


def cmd_check(path: Path, out: TextIO) -> int:
    try:
        config = load_config(path)
    except ConfigError as error:
        for problem in error.problems:
            out.write(f"{problem.key_path()}: {problem.message}\n")
        return EXIT_INVALID
    configure_logging("error", "json", sys.stderr)
    problems = plugin_problems(config, load_configured_plugins(config))
    for problem in problems:
        out.write(f"{problem.key_path()}: {problem.message}\n")
    if problems:
        return EXIT_INVALID
    out.write(
        f"{path}: OK ({len(config.suppliers)} suppliers, {len(config.catalog)} catalog entries,"
        f" {len(config.channels)} channels)\n"
    )
    return EXIT_OK


# -- plugins -------------------------------------------------------------------------------------


def cmd_plugins(path: Path, out: TextIO) -> int:
    plugins: PluginSet | None = None
    if path.exists():
        try:
            config = load_config(path)
        except ConfigError as error:
            out.write(f"{path}: config has problems; run `run.py check` ({len(error.problems)})\n")
        else:
            configure_logging("error", "json", sys.stderr)
            plugins = load_configured_plugins(config)
    if plugins is None:
        configure_logging("error", "json", sys.stderr)
        plugins = load_plugins()
    for info in plugins.plugins:
        origin = f"package {info.package}" if info.package else info.source
        api = f", plugin API {info.api_version}" if info.api_version is not None else ""
        out.write(f"{info.name} {info.version or '(no version)'}  [{info.module}]  {origin}{api}\n")
        out.write(f"    hooks: {', '.join(info.hooks) or 'none'}\n")
        for label, names in (
            ("supplier adapters", info.supplier_adapters),
            ("channel adapters", info.channel_adapters),
            ("services", info.services),
        ):
            if names:
                out.write(f"    {label}: {', '.join(names)}\n")
        if info.error:
            out.write(f"    ERROR: {info.error}\n")
    return EXIT_INVALID if plugins.errors else EXIT_OK


# -- schema --------------------------------------------------------------------------------------


def cmd_schema(what: str, out: TextIO) -> int:
    schemas: dict[str, Callable[[], dict[str, Any]]] = {
        "order": order_schema,
        "shipment": lambda: msgspec.json.schema(ShipmentNotice),
        "config": lambda: msgspec.json.schema(Config),
    }
    schema = schemas[what]()
    out.write(msgspec.json.format(msgspec.json.encode(schema), indent=2).decode() + "\n")
    return EXIT_OK


# -- serve ---------------------------------------------------------------------------------------


def cmd_serve(path: Path) -> int:
    try:
        config = load_config(path)
    except ConfigError as error:
        for problem in error.problems:
            sys.stderr.write(f"{problem.key_path()}: {problem.message}\n")
        return EXIT_INVALID
    configure_logging(config.log.level, config.log.format)
    plugins = load_configured_plugins(config)
    for problem in plugin_problems(config, plugins):
        log.error("config.plugin_problem", key=problem.key_path(), problem=problem.message)
    return run_async(serve(config, plugins))


async def serve(config: Config, plugins: PluginSet) -> int:
    from gateway.api.access import InsecureConfig
    from gateway.app.runtime import Gateway

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    gateway = Gateway(config, plugins)
    try:
        await gateway.start()
    except OSError as error:
        log.error("gateway.start_failed", error=str(error))
        return EXIT_FAILED
    except InsecureConfig as error:
        log.error("gateway.refused", error=str(error))
        return EXIT_INVALID
    settle_heap()
    try:
        await stop.wait()
    finally:
        await gateway.stop()
    return EXIT_OK
