"""The SQLite database: WAL mode, versioned migrations, one writer with group commit.

Every write goes through `Database.write(job)`. One writer task runs the jobs waiting in its
queue inside a single transaction (each job in its own savepoint, so one failing job does not
undo the others) and commits once: concurrent intake requests share one fsync. A job's
`after_commit` callbacks run only once its data is durable, which is where messages to other
actors are sent from. Reads use a second connection and never wait for the writer (WAL).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.resources
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

import aiosqlite
import structlog

T = TypeVar("T")
log = structlog.get_logger(__name__)

Synchronous = Literal["full", "normal"]
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class Tx:
    """A job's view of the current transaction."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn
        self._after: list[Callable[[], None]] = []

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once this job's writes are committed (never if they are not)."""
        self._after.append(callback)

    async def execute(self, sql: str, params: Any = ()) -> aiosqlite.Cursor:
        return await self.conn.execute(sql, params)

    async def executemany(self, sql: str, params: Any) -> aiosqlite.Cursor:
        return await self.conn.executemany(sql, params)

    async def fetchone(self, sql: str, params: Any = ()) -> Any:
        rows = await self.conn.execute_fetchall(sql, params)
        return next(iter(rows), None)

    async def fetchall(self, sql: str, params: Any = ()) -> list[Any]:
        return list(await self.conn.execute_fetchall(sql, params))


Job = Callable[[Tx], Awaitable[T]]


class _Pending(Generic[T]):
    __slots__ = ("future", "job")

    def __init__(self, job: Job[T], future: asyncio.Future[T]) -> None:
        self.job = job
        self.future = future


class DatabaseClosed(RuntimeError):
    pass


class Database:
    """Owns the writer and reader connections and the writer task. Use as `async with`."""

    def __init__(
        self, path: Path, *, synchronous: Synchronous = "full", max_batch: int = 256
    ) -> None:
        self.path = path
        self.synchronous = synchronous
        self.max_batch = max_batch
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._queue: asyncio.Queue[_Pending[Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.commits = 0  # for metrics: jobs per commit shows how well group commit works
        self.jobs = 0
        self._commit_listeners: list[Callable[[], None]] = []

    async def __aenter__(self) -> Database:
        await self.open()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    @property
    def is_open(self) -> bool:
        return self._task is not None and not self._task.done() and not self._closing

    @property
    def reader(self) -> aiosqlite.Connection:
        if self._reader is None:
            raise DatabaseClosed("database is not open")
        return self._reader

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = await aiosqlite.connect(self.path, isolation_level=None)
        try:
            await self._configure(self._writer)
            await migrate(self._writer)
            self._reader = await aiosqlite.connect(self.path, isolation_level=None)
            await self._configure(self._reader)
            await self._reader.execute("PRAGMA query_only = ON")
        except BaseException:
            await self._close_connections()
            raise
        self._task = asyncio.create_task(self._write_loop(), name="store-writer")

    async def _configure(self, conn: aiosqlite.Connection) -> None:
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute(f"PRAGMA synchronous = {self.synchronous.upper()}")
        await conn.execute("PRAGMA foreign_keys = ON")
        await conn.execute("PRAGMA busy_timeout = 5000")
        # 64 MiB instead of 2: random-key indexes (order ids, event ids) stay in memory as the
        # store grows, instead of being read back page by page.
        await conn.execute("PRAGMA cache_size = -65536")

    def add_commit_listener(self, listener: Callable[[], None]) -> None:
        """Call `listener` after every commit (the MQTT publisher wakes up on it)."""
        self._commit_listeners.append(listener)

    async def write(self, job: Job[T]) -> T:
        """Run `job` in the next group transaction; return its result once committed."""
        if self._closing or self._task is None:
            raise DatabaseClosed("database is closing")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(job, future))
        return await asyncio.shield(future)

    # Reads run the statement and fetch its rows in one step on the reader's thread. With
    # separate execute and fetch awaits, another coroutine's query could run while this
    # statement is still open, inside the same (older) read snapshot, and miss a commit that
    # had just told it to look.

    async def fetchone(self, sql: str, params: Any = ()) -> Any:
        rows = await self.reader.execute_fetchall(sql, params)
        return next(iter(rows), None)

    async def fetchall(self, sql: str, params: Any = ()) -> list[Any]:
        return list(await self.reader.execute_fetchall(sql, params))

    async def close(self) -> None:
        """Finish the jobs already queued, then close."""
        self._closing = True
        if self._task is not None:
            self._queue.put_nowait(_Pending(_stop_job, asyncio.get_running_loop().create_future()))
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._close_connections()

    async def _close_connections(self) -> None:
        for conn in (self._reader, self._writer):
            if conn is not None:
                await conn.close()
        self._reader = self._writer = None

    async def _write_loop(self) -> None:
        assert self._writer is not None
        conn = self._writer
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            stop = any(p.job is _stop_job for p in batch)
            batch = [p for p in batch if p.job is not _stop_job]
            if batch:
                await self._run_batch(conn, batch)
            if stop:
                return

    async def _run_batch(self, conn: aiosqlite.Connection, batch: list[_Pending[Any]]) -> None:
        outcomes: list[tuple[_Pending[Any], Tx, Any, BaseException | None]] = []
        try:
            await conn.execute("BEGIN IMMEDIATE")
            for pending in batch:
                tx = Tx(conn)
                await conn.execute("SAVEPOINT job")
                try:
                    result = await pending.job(tx)
                except Exception as error:
                    await conn.execute("ROLLBACK TO job")
                    await conn.execute("RELEASE job")
                    outcomes.append((pending, tx, None, error))
                else:
                    await conn.execute("RELEASE job")
                    outcomes.append((pending, tx, result, None))
            await conn.execute("COMMIT")
        except Exception as error:
            log.error("store.commit_failed", error=str(error), jobs=len(batch), exc_info=error)
            with contextlib.suppress(Exception):
                await conn.execute("ROLLBACK")
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(error)
            return
        self.commits += 1
        self.jobs += len(batch)
        for listener in self._commit_listeners:
            listener()
        for pending, tx, result, job_error in outcomes:
            if job_error is None:
                for callback in tx._after:
                    callback()
            if pending.future.done():
                continue
            if job_error is not None:
                pending.future.set_exception(job_error)
            else:
                pending.future.set_result(result)


async def _stop_job(_: Tx) -> None:  # a marker in the queue; never run
    return None


async def migrate(conn: aiosqlite.Connection) -> int:
    """Apply the migrations newer than the database's `user_version`; return the version."""
    rows = list(await conn.execute_fetchall("PRAGMA user_version"))
    current = int(rows[0][0]) if rows else 0
    scripts = importlib.resources.files("gateway.store") / "migrations"
    names = sorted(n.name for n in scripts.iterdir() if _MIGRATION_NAME.match(n.name))
    for name in names:
        match = _MIGRATION_NAME.match(name)
        assert match is not None
        version = int(match.group(1))
        if version <= current:
            continue
        sql = (scripts / name).read_text(encoding="utf-8")
        # executescript commits first; the script and the version bump form one transaction.
        await conn.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")
        log.info("store.migrated", version=version, script=name)
        current = version
    return current
