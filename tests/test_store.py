"""The store: migrations, group commit, and reads that see every commit before them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import pytest

from gateway.store.db import Database, Tx

INSERT_OUTBOX = "INSERT INTO outbox (topic, payload, retain, created_at) VALUES (?, x'', 0, '')"


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with Database(tmp_path / "gateway.db") as database:
        yield database


async def test_migrations_apply_once_and_the_database_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "gateway.db"
    async with Database(path):
        pass
    async with Database(path) as reopened:  # a second start finds the schema in place
        version = await reopened.fetchone("PRAGMA user_version")
        mode = await reopened.fetchone("PRAGMA journal_mode")
        tables = {r[0] for r in await reopened.fetchall("SELECT name FROM sqlite_master")}
    migrations = (Path(__file__).parent.parent / "gateway" / "store" / "migrations").glob("*.sql")
    assert version[0] == max(int(m.name[:4]) for m in migrations)  # every migration applied
    assert mode[0] == "wal"
    assert {"orders", "purchase_orders", "events", "outbox", "catalog", "shipments"} <= tables


async def test_a_failing_job_is_rolled_back_alone_in_a_group_commit(db: Database) -> None:
    async def insert(tx: Tx, topic: str) -> None:
        await tx.execute(
            "INSERT INTO outbox (topic, payload, retain, created_at) VALUES (?, x'', 0, '')",
            (topic,),
        )

    async def good(tx: Tx) -> str:
        await insert(tx, "good")
        return "ok"

    async def bad(tx: Tx) -> None:
        await insert(tx, "bad")
        raise ValueError("this job's writes must not land")

    results = await asyncio.gather(
        db.write(good), db.write(bad), db.write(good), return_exceptions=True
    )
    assert results[0] == "ok"
    assert results[2] == "ok"
    assert isinstance(results[1], ValueError)
    topics = [r["topic"] for r in await db.fetchall("SELECT topic FROM outbox ORDER BY id")]
    assert topics == ["good", "good"]
    assert db.commits == 1  # the three jobs shared one transaction


async def test_after_commit_callbacks_run_only_for_committed_jobs(db: Database) -> None:
    seen: list[str] = []

    async def job(tx: Tx, name: str, fail: bool) -> None:
        tx.after_commit(lambda: seen.append(name))
        if fail:
            raise RuntimeError(name)

    await db.write(lambda tx: job(tx, "kept", False))
    with pytest.raises(RuntimeError):
        await db.write(lambda tx: job(tx, "dropped", True))
    assert seen == ["kept"]


async def test_a_read_right_after_a_commit_sees_it_while_other_reads_are_in_flight(
    db: Database,
) -> None:
    """Actors are told "look now" after a commit and read on a shared connection. A read must
    never run inside an older snapshot held open by another coroutine's unfinished query."""
    await db.write(
        lambda tx: tx.executemany(
            "INSERT INTO outbox (topic, payload, retain, created_at) VALUES (?, x'', 0, '')",
            [(f"filler-{i}",) for i in range(200)],
        )
    )
    stop = asyncio.Event()

    async def busy_reader() -> None:
        while not stop.is_set():
            await db.fetchall("SELECT id, topic FROM outbox ORDER BY id")

    readers = [asyncio.create_task(busy_reader()) for _ in range(16)]
    try:
        for i in range(500):
            topic = f"marker-{i}"

            async def mark(tx: Tx, topic: str = topic) -> None:
                await tx.execute(INSERT_OUTBOX, (topic,))

            await db.write(mark)
            row = await db.fetchone("SELECT topic FROM outbox WHERE topic = ?", (topic,))
            assert row is not None, f"a read after commit {i} did not see it"
    finally:
        stop.set()
        await asyncio.gather(*readers)


async def test_the_reader_cannot_write(db: Database) -> None:
    with pytest.raises(aiosqlite.OperationalError):
        await db.reader.execute("DELETE FROM outbox")
