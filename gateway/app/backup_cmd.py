"""`python run.py backup` (issue 9): an online copy of the gateway's database that `serve` can
start from. Safe while the gateway runs; see gateway/store/backup.py for how."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from gateway.infra.config import ConfigError, load_config
from gateway.store.backup import BackupFailed, backup_database

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2
DATABASE_FILE = "gateway.db"  # as gateway.app.runtime names it
BACKUP_PATTERN = "gateway-*.db"


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backup = commands.add_parser(
        "backup", help="copy the database while the gateway runs (SQLite's backup API)"
    )
    backup.add_argument("--config", default=argparse.SUPPRESS, help="config file")
    backup.add_argument(
        "--output",
        help="the copy's file, or a directory for gateway-<UTC time>.db "
        "(default: <data_dir>/backups/)",
    )
    backup.add_argument(
        "--keep",
        type=int,
        default=None,
        help="then delete all but the newest KEEP gateway-*.db in that directory",
    )


def cmd_backup(args: argparse.Namespace, config_path: Path, out: TextIO, err: TextIO) -> int:
    try:
        config = load_config(config_path)
    except ConfigError as error:
        for problem in error.problems:
            err.write(f"{problem.key_path()}: {problem.message}\n")
        return EXIT_INVALID
    if args.keep is not None and args.keep < 1:
        err.write("--keep: at least 1\n")
        return EXIT_INVALID
    data_dir = Path(config.gateway.data_dir)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    output = Path(args.output) if args.output else data_dir / "backups"
    destination = output / f"gateway-{stamp}.db" if output.is_dir() or not args.output else output
    try:
        result = backup_database(data_dir / DATABASE_FILE, destination)
    except BackupFailed as error:
        err.write(f"{error}\n")
        return EXIT_FAILED
    out.write(
        f"{result.path}  {result.bytes / 1e6:.1f} MB, {result.pages} pages, "
        f"schema {result.schema_version}, {result.seconds:.2f} s, quick_check ok\n"
    )
    if args.keep is not None:
        backups = sorted(destination.parent.glob(BACKUP_PATTERN))
        for old in backups[: -args.keep]:
            old.unlink()
            out.write(f"removed {old}\n")
    return EXIT_OK
