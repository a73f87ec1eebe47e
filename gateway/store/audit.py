"""The audit log (issue 9): append-only rows of who did what. The table's triggers refuse any
change or removal, so nothing in the gateway can rewrite history by mistake."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec

from gateway.store.codec import any_decoder, encode, iso
from gateway.store.db import Database, Tx

MAX_PAGE = 500


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    at: datetime
    actor: str
    role: str
    via: str
    action: str
    target: str | None = None
    status: int | None = None
    remote: str | None = None
    detail: dict[str, Any] | None = None


class AuditFilter(msgspec.Struct, frozen=True, kw_only=True):
    actor: str | None = None
    before: int | None = None  # the cursor: entries older than this seq
    limit: int = 50


def _row(entry: AuditEntry) -> tuple[Any, ...]:
    return (
        iso(entry.at),
        entry.actor,
        entry.role,
        entry.via,
        entry.action,
        entry.target,
        entry.status,
        entry.remote,
        encode(entry.detail).decode() if entry.detail else None,
    )


_INSERT = (
    "INSERT INTO audit_log (at, actor, role, via, action, target, status, remote, detail)"
    " VALUES {rows}"
)


async def append_entries(
    db: Database, entries: Sequence[AuditEntry], *, within_s: float | None = None
) -> None:
    """Many entries in one statement of the next group commit; with `within_s`, of the next
    group other writes start, or of one of their own after `within_s` seconds."""
    rows = [_row(e) for e in entries]

    def job(tx: Tx) -> None:
        tx.execute_rows(_INSERT, rows)

    if within_s is None:
        await db.write(job)
    else:
        await db.write_deferred(job, within_s=within_s)


async def read_entries(db: Database, query: AuditFilter) -> tuple[list[dict[str, Any]], int | None]:
    """A page, newest first, and the cursor of the next (older) page, or None at the end."""
    clauses: list[str] = []
    params: list[Any] = []
    if query.actor is not None:
        clauses.append("actor = ?")
        params.append(query.actor)
    if query.before is not None:
        clauses.append("seq < ?")
        params.append(query.before)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = await db.fetchall(
        "SELECT seq, at, actor, role, via, action, target, status, remote, detail FROM audit_log"
        f"{where} ORDER BY seq DESC LIMIT ?",
        (*params, query.limit + 1),
    )
    page = rows[: query.limit]
    entries = [
        {
            "seq": row["seq"],
            "at": row["at"],
            "actor": row["actor"],
            "role": row["role"],
            "via": row["via"],
            "action": row["action"],
            "target": row["target"],
            "status": row["status"],
            "remote": row["remote"],
            "detail": any_decoder.decode(row["detail"]) if row["detail"] else None,
        }
        for row in page
    ]
    next_cursor = page[-1]["seq"] if len(rows) > query.limit else None
    return entries, next_cursor
