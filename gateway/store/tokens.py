"""API tokens made with `run.py token create`: only their SHA-256 is stored (issue 9)."""

from __future__ import annotations

import sqlite3
from datetime import datetime

import msgspec

from gateway.store.codec import iso
from gateway.store.db import Database, Tx


class StoredToken(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    role: str
    sha256: str
    created_at: str
    created_by: str
    revoked_at: str | None = None


class TokenNameTaken(ValueError):
    pass


class NoSuchToken(LookupError):
    pass


async def insert_token(
    db: Database, *, name: str, role: str, digest: str, created_by: str, now: datetime
) -> None:
    """Raises TokenNameTaken if a token (even a revoked one) already has this name."""

    def job(tx: Tx) -> None:
        try:
            tx.execute(
                "INSERT INTO api_tokens (name, role, sha256, created_at, created_by)"
                " VALUES (?, ?, ?, ?, ?)",
                (name, role, digest, iso(now), created_by),
            )
        except sqlite3.IntegrityError:
            raise TokenNameTaken(f"a token named {name!r} exists or existed") from None

    await db.write(job)


async def revoke_token(db: Database, name: str, now: datetime) -> None:
    """Raises NoSuchToken if no active token has this name."""

    def job(tx: Tx) -> None:
        cursor = tx.execute(
            "UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
            (iso(now), name),
        )
        if cursor.rowcount == 0:
            raise NoSuchToken(f"no active token named {name!r}")

    await db.write(job)


async def list_tokens(db: Database, include_revoked: bool = False) -> list[StoredToken]:
    where = "" if include_revoked else " WHERE revoked_at IS NULL"
    rows = await db.fetchall(
        "SELECT name, role, sha256, created_at, created_by, revoked_at FROM api_tokens"
        f"{where} ORDER BY created_at, name"
    )
    return [StoredToken(**dict(row)) for row in rows]
