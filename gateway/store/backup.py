"""An online copy of the database with SQLite's backup API (issue 9: `run.py backup`).

The gateway keeps running and committing while the copy is made. The copy is taken in one step,
so it is one consistent snapshot: a step-by-step copy starts over whenever another connection
writes, which under steady intake could never finish. In WAL mode the snapshot's read does not
block the gateway's writer. The copy is written beside its destination, checked, switched to a
self-contained single file (no -wal), synced, and only then renamed into place, so a file named
like a backup is always a whole one.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path

import msgspec


class BackupFailed(RuntimeError):
    pass


class BackupResult(msgspec.Struct, frozen=True, kw_only=True):
    path: Path
    bytes: int
    pages: int
    schema_version: int
    seconds: float


def backup_database(source: Path, destination: Path, busy_timeout_s: float = 30.0) -> BackupResult:
    if not source.is_file():
        raise BackupFailed(f"no database at {source}")
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    partial.unlink(missing_ok=True)
    started = time.monotonic()
    try:
        with (
            contextlib.closing(sqlite3.connect(source, timeout=busy_timeout_s)) as src,
            contextlib.closing(sqlite3.connect(partial, isolation_level=None)) as copy,
        ):
            src.backup(copy)  # pages=-1: the whole database in one consistent step
            verdict = copy.execute("PRAGMA quick_check").fetchone()[0]
            if verdict != "ok":
                raise BackupFailed(f"the copy does not check out: {verdict}")
            copy.execute("PRAGMA journal_mode = DELETE")  # one file, nothing beside it
            pages = int(copy.execute("PRAGMA page_count").fetchone()[0])
            version = int(copy.execute("PRAGMA user_version").fetchone()[0])
        _fsync(partial)
        os.replace(partial, destination)
        _fsync(destination.parent)
    except sqlite3.Error as error:
        partial.unlink(missing_ok=True)
        raise BackupFailed(f"backup of {source} failed: {error}") from error
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return BackupResult(
        path=destination,
        bytes=destination.stat().st_size,
        pages=pages,
        schema_version=version,
        seconds=time.monotonic() - started,
    )


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
