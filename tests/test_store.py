"""The store: migrations, group commit on the writer thread, callbacks that cannot harm the
writer, a writer that fails loudly, and reads that see every commit before them."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gateway.actors.audit_log import AuditLog
from gateway.store import db as db_module
from gateway.store.audit import AuditEntry
from gateway.store.db import IN_LIST, Database, Tx, WriterFailed, json_list
from tests.conftest import leftovers

INSERT_ROWS = "INSERT INTO plugin_state (scope, key, value, updated_at) VALUES {rows}"
INSERT_STATE = "INSERT INTO plugin_state (scope, key, value, updated_at) VALUES ('t', ?, '', '')"


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with Database(tmp_path / "gateway.db") as database:
        yield database


def insert(key: str) -> Callable[[Tx], str]:
    def job(tx: Tx) -> str:
        tx.execute(INSERT_STATE, (key,))
        return key

    return job


async def keys(db: Database) -> list[str]:
    return [r[0] for r in await db.fetchall("SELECT key FROM plugin_state ORDER BY key")]


async def test_migrations_apply_once_and_the_database_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "gateway.db"
    async with Database(path) as first:
        instance = first.instance_id
    async with Database(path) as reopened:  # a second start finds the schema in place
        version = await reopened.fetchone("PRAGMA user_version")
        mode = await reopened.fetchone("PRAGMA journal_mode")
        tables = {r[0] for r in await reopened.fetchall("SELECT name FROM sqlite_master")}
        assert reopened.instance_id == instance
    migrations = (Path(__file__).parent.parent / "gateway" / "store" / "migrations").glob("*.sql")
    assert version is not None
    assert version[0] == max(int(m.name[:4]) for m in migrations)  # every migration applied
    assert mode is not None
    assert mode[0] == "wal"
    assert {"orders", "purchase_orders", "events", "feed_positions", "catalog"} <= tables
    assert "outbox" not in tables
    assert len(instance) == 8


async def test_a_failing_job_is_rolled_back_alone_in_a_group_commit(db: Database) -> None:
    def bad(tx: Tx) -> None:
        tx.execute(INSERT_STATE, ("bad",))
        raise ValueError("this job's writes must not land")

    results = await asyncio.gather(
        db.write(insert("good-1")), db.write(bad), db.write(insert("good-2")),
        return_exceptions=True,
    )  # fmt: skip
    assert results[0] == "good-1"
    assert results[2] == "good-2"
    assert isinstance(results[1], ValueError)
    assert await keys(db) == ["good-1", "good-2"]
    assert db.commits == 1  # the three jobs shared one transaction and one hand-off


async def test_after_commit_callbacks_run_only_for_committed_jobs(db: Database) -> None:
    seen: list[str] = []

    def job(tx: Tx, name: str, fail: bool) -> None:
        tx.after_commit(lambda: seen.append(name))
        if fail:
            raise RuntimeError(name)

    await db.write(lambda tx: job(tx, "kept", False))
    with pytest.raises(RuntimeError):
        await db.write(lambda tx: job(tx, "dropped", True))
    assert seen == ["kept"]


async def test_a_callback_that_raises_is_counted_and_the_writer_goes_on(db: Database) -> None:
    def job(tx: Tx) -> str:
        tx.after_commit(lambda: 1 / 0)  # type: ignore[func-returns-value]
        tx.execute(INSERT_STATE, ("first",))
        return "committed"

    assert await db.write(job) == "committed"
    assert db.callback_errors == 1
    assert await db.write(insert("second")) == "second"
    assert db.is_open
    assert await keys(db) == ["first", "second"]


async def test_a_writer_that_dies_fails_every_waiting_write_and_the_store_is_not_open(
    db: Database,
) -> None:
    """If the writer task itself ends (a bug of ours), nobody waits forever."""
    blocker = asyncio.create_task(db.write(lambda tx: None))
    await blocker
    waiting = [asyncio.create_task(db.write(insert(f"k{i}"))) for i in range(3)]
    task = db._task
    assert task is not None
    task.cancel()  # the writer task ends on the next await, with writes queued
    done, _ = await asyncio.wait(waiting, timeout=10)
    assert len(done) == 3
    for finished in done:
        assert isinstance(finished.exception(), WriterFailed)
    assert not db.is_open
    with pytest.raises(WriterFailed):
        await db.write(insert("later"))


async def test_a_writer_that_dies_mid_group_fails_that_group_too(db: Database) -> None:
    """The writer task can end while its thread still runs a group (a bug, a cancellation):
    the callers of that group get WriterFailed instead of waiting forever."""
    started = threading.Event()
    release = threading.Event()

    def slow(tx: Tx) -> str:
        started.set()
        release.wait(timeout=10)
        return "slow"

    in_group = asyncio.create_task(db.write(slow))
    assert await asyncio.to_thread(started.wait, 10)
    queued = asyncio.create_task(db.write(insert("queued")))
    task = db._task
    assert task is not None
    task.cancel()
    try:
        done, _ = await asyncio.wait([in_group, queued], timeout=10)
    finally:
        release.set()
    assert len(done) == 2
    for finished in done:
        assert isinstance(finished.exception(), WriterFailed)
    assert not db.is_open


async def test_a_read_right_after_a_commit_sees_it_while_other_reads_are_in_flight(
    db: Database,
) -> None:
    """Actors are told "look now" after a commit. A read is one function on the reader thread,
    so it runs in one fresh snapshot, never inside an older one."""
    await db.write(lambda tx: tx.executemany(INSERT_STATE, [(f"filler-{i}",) for i in range(200)]))
    stop = asyncio.Event()

    async def busy_reader() -> None:
        while not stop.is_set():
            await db.fetchall("SELECT key FROM plugin_state")

    readers = [asyncio.create_task(busy_reader()) for _ in range(8)]
    try:
        for i in range(100):
            key = f"marker-{i}"
            await db.write(insert(key))
            row = await db.fetchone("SELECT key FROM plugin_state WHERE key = ?", (key,))
            assert row is not None, f"a read after commit {i} did not see it"
    finally:
        stop.set()
        await asyncio.gather(*readers)


async def test_the_reader_cannot_write(db: Database) -> None:
    with pytest.raises(sqlite3.OperationalError):
        await db.fetchall("DELETE FROM plugin_state")


async def test_the_writer_counts_its_statements(db: Database) -> None:
    before = db.statements
    await db.write(lambda tx: tx.executemany(INSERT_STATE, [("a",), ("b",), ("c",)]))
    # BEGIN, three inserts, COMMIT: no savepoint while no job raises
    assert db.statements - before == 5


async def test_a_job_beside_a_failing_one_commits_once_with_one_callback(db: Database) -> None:
    """A group in which a job raises is rolled back and run again with a savepoint per job:
    the good job runs twice, but its row and its callback land once, and the statements of
    both runs are counted."""
    runs: list[str] = []
    callbacks: list[str] = []

    def good(tx: Tx) -> str:
        runs.append("good")
        tx.execute(INSERT_STATE, ("good",))
        tx.after_commit(lambda: callbacks.append("good"))
        return "good"

    def bad(tx: Tx) -> None:
        runs.append("bad")
        tx.execute(INSERT_STATE, ("bad",))
        tx.after_commit(lambda: callbacks.append("bad"))
        raise ValueError("bad input")

    before = db.statements
    results = await asyncio.gather(db.write(good), db.write(bad), return_exceptions=True)
    assert results[0] == "good"
    assert isinstance(results[1], ValueError)
    assert runs == ["good", "bad", "good", "bad"]
    assert callbacks == ["good"]
    assert await keys(db) == ["good"]
    assert db.commits == 1
    # first run: BEGIN, 2 inserts, ROLLBACK; second: BEGIN, 2 x (SAVEPOINT, insert, RELEASE),
    # ROLLBACK TO for the bad job, COMMIT
    assert db.statements - before == 4 + 1 + 6 + 1 + 1


async def test_writes_queued_while_a_group_runs_join_it_before_its_commit(
    db: Database,
) -> None:
    """Jobs that arrive while the writer thread is inside a group are taken into the same
    transaction: they do not wait for that group's commit and a group of their own."""
    started = threading.Event()
    release = threading.Event()

    def slow(tx: Tx) -> str:
        tx.execute(INSERT_STATE, ("first",))
        started.set()
        if not release.wait(timeout=10):
            raise TimeoutError("the test never released the writer")
        return "first"

    first = asyncio.create_task(db.write(slow))
    assert await asyncio.to_thread(started.wait, 10)
    commits = db.commits
    late = [asyncio.create_task(db.write(insert(f"late-{i}"))) for i in range(3)]
    # The loop runs callbacks in the order they were scheduled: the three tasks queue their
    # writes before the writer thread is let go.
    asyncio.get_running_loop().call_soon(release.set)
    assert await first == "first"
    assert await asyncio.gather(*late) == ["late-0", "late-1", "late-2"]
    assert db.commits == commits + 1
    assert await keys(db) == ["first", "late-0", "late-1", "late-2"]


async def test_a_deferred_write_alone_commits_at_its_deadline(db: Database) -> None:
    """Nothing else is written: the deferred write starts its own group when its time is up,
    not before (a timer never fires early, so the lower bound holds on any machine)."""
    loop = asyncio.get_running_loop()
    queued_at = loop.time()
    assert await db.write_deferred(insert("audit"), within_s=0.05) == "audit"
    assert loop.time() - queued_at >= 0.05
    assert await keys(db) == ["audit"]


async def test_a_deferred_write_rides_along_with_the_next_write(db: Database) -> None:
    """The next write's group takes it, long before its deadline, in one commit. (That it
    starts no group of its own before its deadline is the test above.)"""
    commits = db.commits
    deferred = asyncio.create_task(db.write_deferred(insert("audit"), within_s=60))
    assert await keys(db) == []  # meanwhile the writer had its turns: nothing committed
    assert await db.write(insert("order")) == "order"
    assert await asyncio.wait_for(deferred, timeout=10) == "audit"
    assert db.commits == commits + 1
    assert await keys(db) == ["audit", "order"]


async def test_the_deadline_of_a_write_that_rode_along_does_not_hurry_the_next(
    db: Database,
) -> None:
    """A deferred write that went with another write's group leaves its deadline void: a
    deferred write queued after it still waits for its own (at a steady trickle of orders,
    the stale deadlines of the audit log's writes made its next ones commit alone)."""
    loop = asyncio.get_running_loop()
    commits = db.commits
    rode_along = asyncio.create_task(db.write_deferred(insert("audit-1"), within_s=0.02))
    await db.write(insert("order"))
    await rode_along
    assert db.commits == commits + 1
    queued_at = loop.time()
    assert await db.write_deferred(insert("audit-2"), within_s=0.2) == "audit-2"
    assert loop.time() - queued_at >= 0.2


async def test_close_writes_deferred_writes_first(tmp_path: Path) -> None:
    database = Database(tmp_path / "gateway.db")
    await database.open()
    deferred = asyncio.create_task(database.write_deferred(insert("audit"), within_s=60))
    closing = asyncio.create_task(database.close())  # tasks start in order: the write is queued
    assert await asyncio.wait_for(deferred, timeout=10) == "audit"
    await closing
    async with Database(tmp_path / "gateway.db") as reopened:
        assert await keys(reopened) == ["audit"]


async def test_the_leak_check_sees_an_open_database_and_a_task_left_running(
    tmp_path: Path,
) -> None:
    """tests/conftest.py fails any test that leaves these behind: prove that it can."""
    before = set(asyncio.all_tasks())
    database = Database(tmp_path / "leaked.db")
    await database.open()
    forgotten = asyncio.create_task(asyncio.Event().wait(), name="forgotten")
    try:
        left = leftovers(before)
        assert "task forgotten" in left
        assert "task store-writer" in left
        assert {"thread store-writer_0", "thread store-reader_0"} <= set(left)
    finally:
        forgotten.cancel()
        await database.close()
    await asyncio.gather(forgotten, return_exceptions=True)
    assert leftovers(before) == []


async def test_execute_rows_writes_every_row_in_one_statement(db: Database) -> None:
    """85 rows go as one statement, and the count of rows changed is right."""

    def job(tx: Tx) -> tuple[int, int]:
        changed = tx.execute_rows(
            "INSERT INTO plugin_state (scope, key, value, updated_at) VALUES {rows}",
            [("t", f"k{i:03}", str(i), "") for i in range(85)],
        )
        return changed, tx.statements

    assert await db.write(job) == (85, 1)
    assert await keys(db) == [f"k{i:03}" for i in range(85)]

    def update(tx: Tx) -> int:
        return tx.execute_rows(
            "UPDATE plugin_state SET value = v.column2 FROM (VALUES {rows}) AS v"
            " WHERE key = v.column1 AND value != v.column2",
            [(f"k{i:03}", "same" if i % 2 else str(i)) for i in range(85)],
        )

    assert await db.write(update) == 42  # the odd keys changed; the even ones had that value
    row = await db.fetchone("SELECT value FROM plugin_state WHERE key = 'k007'")
    assert row is not None
    assert row[0] == "same"


_AWKWARD_ROWS = [
    # text with quotes, backslashes, control characters, non-ASCII; integers, reals, NULL;
    # a JSON document as bytes (stored as a BLOB, byte for byte)
    ("plain", 1, 2.5, None, b'{"a":1}'),
    ('quote " back \\ tab \t nl \n', -(2**62), 1e-300, "x", '{"名":"张三"}'.encode()),
    ("张三 \u2028 end", 0, 100.0, None, None),
    ("", 2**63 - 1, -0.5, "", b""),
]
_NUL_ROW = ("before \x00 after", 1, 1.0, None, None)


@pytest.mark.parametrize(
    ("json_rows", "with_nul", "statements"),
    [(True, False, 1), (True, True, 2), (False, True, 2)],
    ids=["json_each", "a_nul_in_a_text", "values_chunks"],
)
async def test_execute_rows_stores_every_kind_of_value_as_sqlite_would(
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
    json_rows: bool,
    with_nul: bool,
    statements: int,
) -> None:
    """Rows through `json_each` (or VALUES chunks: on SQLite < 3.38, and when a text holds a
    NUL, which `->>` would cut) keep their types and values: what `executemany` stores."""
    monkeypatch.setattr(db_module, "_JSON_ROWS", json_rows)
    rows = [*_AWKWARD_ROWS, _NUL_ROW] if with_nul else _AWKWARD_ROWS
    create = "CREATE TABLE IF NOT EXISTS kinds (t TEXT, i INTEGER, r REAL, n TEXT, b BLOB)"

    def job(tx: Tx) -> list[tuple[Any, ...]]:
        tx.execute(create)
        tx.execute("CREATE TABLE IF NOT EXISTS expected AS SELECT * FROM kinds WHERE 0")
        before = tx.statements
        tx.execute_rows("INSERT INTO kinds (t, i, r, n, b) VALUES {rows}", rows)
        assert tx.statements - before == statements
        tx.executemany("INSERT INTO expected VALUES (?, ?, ?, ?, ?)", rows)
        query = "SELECT t, i, r, n, b, typeof(b), typeof(r), typeof(n) FROM {} ORDER BY rowid"
        stored = tx.fetchall(query.format("kinds"))
        assert [tuple(row) for row in stored] == [
            tuple(row) for row in tx.fetchall(query.format("expected"))
        ]
        return [tuple(row) for row in stored]

    stored = await db.write(job)
    assert [row[:5] for row in stored] == [tuple(row) for row in rows]
    assert [row[5] for row in stored][:4] == ["blob", "blob", "null", "blob"]


async def test_execute_rows_passes_other_types_to_sqlite3_as_it_would(db: Database) -> None:
    """A value JSON would change goes the VALUES way, where sqlite3 stores it as ever (a str
    subclass) or refuses it as ever (a Decimal, which JSON would quietly turn into text)."""

    class Status(str):
        pass

    def job(tx: Tx) -> tuple[int, list[tuple[Any, ...]]]:
        tx.execute("CREATE TABLE typed (s TEXT, d TEXT)")
        before = tx.statements
        tx.execute_rows("INSERT INTO typed (s, d) VALUES {rows}", [(Status("ok"), "2026-12-03")])
        statements = tx.statements - before
        return statements, [tuple(r) for r in tx.fetchall("SELECT s, typeof(s), d FROM typed")]

    assert await db.write(job) == (1, [("ok", "text", "2026-12-03")])

    def refused(tx: Tx) -> int:
        return tx.execute_rows("INSERT INTO typed (s, d) VALUES {rows}", [(Decimal("1.5"), "")])

    with pytest.raises(sqlite3.ProgrammingError):
        await db.write(refused)


async def test_an_in_list_takes_any_number_of_keys_as_one_text_parameter(db: Database) -> None:
    """`IN_LIST` finds awkward keys, and more keys than SQLite allows parameters (32,766)."""
    keys = [f"k{i:05}" for i in range(40_000)] + ['quote " back \\', "张三"]

    def job(tx: Tx) -> tuple[int, int]:
        tx.execute_rows(INSERT_ROWS, [("t", key, "", "") for key in keys[-3:]])
        found = tx.fetchall(f"SELECT key FROM plugin_state WHERE key {IN_LIST}", [json_list(keys)])
        return len(found), tx.statements

    assert await db.write(job) == (3, 2)
    assert isinstance(json_list(keys), str)  # a BLOB would be read as JSONB by SQLite >= 3.45


async def test_execute_rows_refuses_sql_without_a_values_list(db: Database) -> None:
    def job(tx: Tx) -> int:
        return tx.execute_rows("INSERT INTO plugin_state SELECT {rows}", [("a",)])

    with pytest.raises(ValueError, match="VALUES"):
        await db.write(job)


def _insert_all(tx: Tx, items: list[str]) -> list[str]:
    if "poison" in items:
        raise ValueError("poison")
    tx.execute_rows(
        "INSERT INTO plugin_state (scope, key, value, updated_at) VALUES {rows}",
        [("t", item, "", "") for item in items],
    )
    return [item.upper() for item in items]


async def test_batched_writes_of_one_group_run_as_one_call(db: Database) -> None:
    calls: list[list[str]] = []

    def counted(tx: Tx, items: list[str]) -> list[str]:
        calls.append(list(items))
        return _insert_all(tx, items)

    results = await asyncio.gather(
        db.write_batched(counted, "a"), db.write(insert("plain")), db.write_batched(counted, "b")
    )
    assert results == ["A", "plain", "B"]
    assert calls == [["a", "b"]]  # queued together, so one group and one call
    assert db.commits == 1
    assert await keys(db) == ["a", "b", "plain"]


async def test_a_batched_write_that_raises_fails_only_the_caller_whose_item_is_bad(
    db: Database,
) -> None:
    results = await asyncio.gather(
        db.write_batched(_insert_all, "good-1"),
        db.write_batched(_insert_all, "poison"),
        db.write_batched(_insert_all, "good-2"),
        return_exceptions=True,
    )
    assert results[0] == "GOOD-1"
    assert isinstance(results[1], ValueError)
    assert results[2] == "GOOD-2"
    assert await keys(db) == ["good-1", "good-2"]
    assert db.commits == 1


async def test_audit_entries_recorded_within_the_gathering_are_written_as_one_job(
    db: Database,
) -> None:
    """The audit log's actor gathers entries for a moment, then writes them as one deferred
    write; with nothing else written, that commits on its own at its deadline, no flush
    needed. The entries come one loop turn apart (a read between each), as requests do."""
    audit = AuditLog(db, gather_s=0.5, ride_along_s=0.05)
    committed = asyncio.Event()
    db.add_commit_listener(committed.set)
    jobs = db.jobs
    actor = asyncio.create_task(audit.run(lambda: None))
    now = datetime.now(UTC)
    actions = ["POST /api/v1/orders", "POST /api/v1/orders/{order_id}/cancel", "GET /x"]
    for action in actions:
        audit.record(AuditEntry(at=now, actor="op", role="operator", via="bearer", action=action))
        assert await db.fetchall("SELECT seq FROM audit_log") == []  # a loop turn: none yet
    await asyncio.wait_for(committed.wait(), timeout=10)
    actor.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await actor
    assert db.jobs == jobs + 1
    rows = await db.fetchall("SELECT action FROM audit_log ORDER BY seq")
    assert [r[0] for r in rows] == actions


async def test_audit_entries_whose_write_is_queued_are_written_once_when_the_actor_stops(
    tmp_path: Path,
) -> None:
    """The actor is stopped while its entries wait to ride along (at shutdown, with nothing
    else written, they wait up to their deadline). The store still holds that write and makes
    it when it closes; the shutdown's own flush must not write the entries a second time."""
    database = Database(tmp_path / "gateway.db")
    await database.open()
    audit = AuditLog(database)
    audit.record(
        AuditEntry(at=datetime.now(UTC), actor="op", role="operator", via="bearer", action="x")
    )
    waiting = asyncio.create_task(audit.flush(within_s=60))
    asyncio.get_running_loop().call_soon(waiting.cancel)  # after its write is queued
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await audit.flush()  # as the gateway's stop does, and then it closes the store
    await database.close()
    async with Database(tmp_path / "gateway.db") as reopened:
        rows = await reopened.fetchall("SELECT action FROM audit_log")
    assert [r[0] for r in rows] == ["x"]
