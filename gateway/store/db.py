"""The SQLite database: WAL mode, versioned migrations, one writer with group commit.

Units of work, not statements, cross threads. A write is a plain function `job(tx)` that runs
on the store's writer thread with the standard `sqlite3` module. The writer task takes every job
waiting in its queue, hands the whole group to the writer thread at once, and that thread runs
them in one transaction, takes in the jobs that arrived meanwhile, and commits once: one thread
hand-off and one fsync for the group. One failing job does not undo the others: the group is
then run again with a savepoint per job (see `Database._run_group`). A job's
`after_commit` callbacks run on the event loop once its data is durable; that is where messages
to other actors are sent from. Reads are whole functions too (`read(fn)`), run on a reader
thread with its own connection, which never waits for the writer (WAL).

Why not aiosqlite: it sends every statement to its thread and back (about 34 µs awaited per
statement against 3.4 µs on the thread); a routed order took some 50 such round trips.
`make bench` compares both write paths on the same jobs.

Fewer statements, too: each SQLite step gives the GIL up, and under load the writer thread then
waits tens of µs to get it back from the event loop (2026-12-03: 63 % of the writer's time, at
13.4 statements per order). Jobs write many rows per statement (`Tx.execute_rows`), read many
rows as one JSON value (`Tx.fetch_json`), and callers of the same batched write share one
call (`Database.write_batched`: intake, supplier outcomes): under one statement per order.
Background writes that need not be durable at once ride along with the next group instead of
starting their own (`Database.write_deferred`: the audit log).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import importlib.resources
import re
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

import msgspec
import structlog

T = TypeVar("T")
J = TypeVar("J")
log = structlog.get_logger(__name__)

Synchronous = Literal["full", "normal"]
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
Row = sqlite3.Row
Connection = sqlite3.Connection  # what a `read` function is given


class Tx:
    """A job's view of the current transaction, on the writer thread. It counts the statements
    it runs (an `executemany` counts each row): the benchmark's statements per order. Counted
    here rather than with sqlite3's trace callback, which makes SQLite expand every statement
    with its values and call back into Python (a 600-byte insert went from 4 to 21 µs)."""

    __slots__ = ("_after", "conn", "statements")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._after: list[Callable[[], None]] = []
        self.statements = 0

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` on the event loop once this job's writes are committed (never if
        they are not). A callback that raises is logged and counted; it cannot harm the writer."""
        self._after.append(callback)

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Cursor:
        self.statements += 1
        return self.conn.execute(sql, params)

    def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> sqlite3.Cursor:
        rows = params if isinstance(params, list) else list(params)
        self.statements += len(rows)
        return self.conn.executemany(sql, rows)

    def execute_rows(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """Run `sql` over many rows in one statement; the number of rows it changed.

        `sql` has `VALUES {rows}` where the rows go: `INSERT INTO t (a, b) VALUES {rows}`, or
        `UPDATE t SET a = v.column2 FROM (VALUES {rows}) AS v WHERE t.id = v.column1`. The rows
        travel as one JSON array read by `json_each` (see `row_chunks`). Why not `executemany`:
        it runs one SQLite step per row, and each step gives up the GIL, which the writer thread
        then waits to get back from the busy event loop (about 40 µs a time under load, issue
        5). With UPDATE ... FROM, a target row matched by two rows of the list is updated once:
        give each key one row."""
        changed = 0
        for statement, params in row_chunks(sql, rows):
            changed += self.conn.execute(statement, params).rowcount
            self.statements += 1
        return changed

    def fetch_json(self, sql: str, params: Sequence[Any], decoder: msgspec.json.Decoder[J]) -> J:
        """What a `SELECT json_group_array(...)` query returns, decoded by `decoder`: a whole
        result in one SQLite step (each row fetched is a step, see `execute_rows`)."""
        row = self.execute(sql, params).fetchone()
        return decoder.decode(row[0])

    def fetchone(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Row | None:
        row: Row | None = self.execute(sql, params).fetchone()
        return row

    def fetchall(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Row]:
        return self.execute(sql, params).fetchall()


# `->>` with an array index needs SQLite 3.38; older ones get the rows in VALUES chunks.
_JSON_ROWS = sqlite3.sqlite_version_info >= (3, 38, 0)
_CHUNKS = (64, 32, 16, 8, 4, 2, 1)
_json_encoder = msgspec.json.Encoder()

# `WHERE key IN_LIST` with `json_list(keys)` as its parameter: one statement text whatever the
# number of keys (so the statement cache keeps it, where `IN (?,?,...)` made a new one for each
# count), and no limit on their number. SQLite still probes the key's index once per key.
IN_LIST = "IN (SELECT value FROM json_each(?))"


def json_list(values: Sequence[str]) -> str:
    """The parameter of an `IN_LIST`. Text, not bytes: SQLite 3.45 and later read a BLOB given to
    a JSON function as its binary JSONB format."""
    return _json_encoder.encode(values).decode()


def row_chunks(sql: str, rows: Sequence[Sequence[Any]]) -> Iterator[tuple[str, list[Any]]]:
    """(statement, parameters) that run `sql` over `rows` (see `Tx.execute_rows`).

    One statement whatever the number of rows: `VALUES {rows}` becomes `SELECT value->>0 AS
    column1, ... FROM json_each(?)` and the rows one JSON array of arrays, so SQLite takes them
    in one step (2026-12-03: VALUES lists in chunks of 64/32/16/8/4/2/1 rows took 4 statements
    for 30 rows). Values are what SQLite stores from Python alike: text, integers, reals, NULL;
    `bytes` (our JSON documents, UTF-8) travel as text and are cast back to BLOB. Without
    `->>` (SQLite < 3.38), for rows with a NUL character in a text (`->>` would cut it there)
    and for values of other types, the rows go in VALUES chunks of 64, 32, 16, 8, 4, 2 and 1."""
    if not rows:
        return
    if _JSON_ROWS and (blobs := _blob_columns(rows)) is not None:
        texts = rows
        if blobs:
            texts = [tuple(v.decode() if v.__class__ is bytes else v for v in row) for row in rows]
        payload = _json_encoder.encode(texts).decode()  # text: see `json_list`
        if "\\u0000" not in payload:  # SQLite's `->>` ends a text at a NUL character
            yield _json_sql(sql, len(rows[0]), blobs), [payload]
            return
    start, total = 0, len(rows)
    while start < total:
        size = next(c for c in _CHUNKS if c <= total - start)
        chunk = rows[start : start + size]
        start += size
        yield _rows_sql(sql, size, len(chunk[0])), [value for row in chunk for value in row]


# What goes through JSON unchanged; anything else (a datetime, a Decimal, a str subclass) takes
# the VALUES path, where sqlite3 stores or refuses it as it always does.
_JSON_TYPES = frozenset({str, int, float, bool, type(None), bytes})


def _blob_columns(rows: Sequence[Sequence[Any]]) -> frozenset[int] | None:
    """The columns holding bytes; None if a value is of a type JSON would change."""
    blobs: set[int] = set()
    for row in rows:
        for index, value in enumerate(row):
            kind = value.__class__
            if kind is bytes:
                blobs.add(index)
            elif kind not in _JSON_TYPES:
                return None
    return frozenset(blobs)


@functools.cache
def _json_sql(sql: str, width: int, blobs: frozenset[int]) -> str:
    columns = ", ".join(
        (f"CAST(value->>{i} AS BLOB)" if i in blobs else f"value->>{i}") + f" AS column{i + 1}"
        for i in range(width)
    )
    # WHERE true: an INSERT ... SELECT followed by ON CONFLICT needs it to parse (SQLite's docs).
    return _values(sql).replace("VALUES {rows}", f"SELECT {columns} FROM json_each(?) WHERE true")


@functools.cache
def _rows_sql(sql: str, rows: int, width: int) -> str:
    row = "(" + ",".join("?" * width) + ")"
    return _values(sql).replace("{rows}", ",".join([row] * rows))


def _values(sql: str) -> str:
    if "VALUES {rows}" not in sql:
        raise ValueError(f"execute_rows needs 'VALUES {{rows}}' in its SQL: {sql!r}")
    return sql


Job = Callable[[Tx], T]
Read = Callable[[Connection], T]
BatchJob = Callable[[Tx, list[Any]], list[Any]]


class _Pending(Generic[T]):
    __slots__ = ("batch", "deferred", "future", "item", "job", "size", "taken")

    def __init__(
        self,
        job: Job[T] | None,
        future: asyncio.Future[T],
        size: int,
        batch: BatchJob | None = None,
        item: Any = None,
        deferred: bool = False,
    ) -> None:
        self.job = job
        self.future = future
        self.size = size
        self.batch = batch  # a batched write: `batch(tx, items)` runs once for all its items
        self.item = item
        # Starts no group of its own (see `Database.write_deferred`) until its deadline.
        self.deferred = deferred
        self.taken = False  # into a group (set under the queue's lock)


class _Outcome:
    __slots__ = ("after", "error", "pending", "result")

    def __init__(
        self,
        pending: _Pending[Any],
        result: Any,
        error: BaseException | None,
        after: list[Callable[[], None]],
    ) -> None:
        self.pending = pending
        self.result = result
        self.error = error
        self.after = after


class DatabaseClosed(RuntimeError):
    """The database is closing or closed; nothing more is written."""


class WriterFailed(RuntimeError):
    """The writer stopped on an error of its own; the gateway is not ready."""


class Database:
    """Owns the writer and reader connections, their threads and the writer task."""

    def __init__(
        self, path: Path, *, synchronous: Synchronous = "full", max_batch: int = 512
    ) -> None:
        self.path = path
        self.synchronous = synchronous
        self.max_batch = max_batch
        self._writer_conn: sqlite3.Connection | None = None
        self._reader_conn: sqlite3.Connection | None = None
        # One thread each: a connection is only ever used by the thread that owns it.
        self._writer_thread: concurrent.futures.ThreadPoolExecutor | None = None
        self._reader_thread: concurrent.futures.ThreadPoolExecutor | None = None
        # Filled on the loop, emptied by the writer task and, for late arrivals that join an
        # open transaction, by the writer thread: hence the lock.
        self._queue: deque[_Pending[Any]] = deque()
        self._queue_lock = threading.Lock()
        self._running: list[_Pending[Any]] = []  # taken from the queue, not yet settled
        self._urgent = 0  # queued jobs that are not deferred: each is a reason to start a group
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.failure: BaseException | None = None
        self.commits = 0  # for metrics: jobs per commit shows how well group commit works
        self.jobs = 0
        self.statements = 0  # SQL statements the writer ran (benchmark: statements per order)
        self.callback_errors = 0
        self.waiting_units = 0  # orders taken in (intake's `units`) and not yet committed
        self._commit_listeners: list[Callable[[], None]] = []
        self.instance_id = ""  # this database's id, part of every event id

    async def __aenter__(self) -> Database:
        await self.open()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    @property
    def is_open(self) -> bool:
        return (
            self._task is not None
            and not self._task.done()
            and not self._closing
            and self.failure is None
        )

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer_thread = concurrent.futures.ThreadPoolExecutor(1, "store-writer")
        self._reader_thread = concurrent.futures.ThreadPoolExecutor(1, "store-reader")
        loop = asyncio.get_running_loop()
        try:
            self._writer_conn = await loop.run_in_executor(self._writer_thread, self._connect)
            await loop.run_in_executor(self._writer_thread, migrate, self._writer_conn)
            self.instance_id = await loop.run_in_executor(
                self._writer_thread, read_instance_id, self._writer_conn
            )
            self._reader_conn = await loop.run_in_executor(self._reader_thread, self._connect)
            await loop.run_in_executor(
                self._reader_thread, self._reader_conn.execute, "PRAGMA query_only = ON"
            )
        except BaseException:
            await self._close_connections()
            raise
        self._task = asyncio.create_task(self._write_loop(), name="store-writer")
        self._task.add_done_callback(self._writer_ended)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, cached_statements=256
        )
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {self.synchronous.upper()}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA busy_timeout = 5000")
        # 64 MiB instead of 2: random-key indexes (order ids) stay in memory as the store grows.
        conn.execute("PRAGMA cache_size = -65536")
        return conn

    def add_commit_listener(self, listener: Callable[[], None]) -> None:
        """Call `listener` on the loop after every commit (the publisher wakes up on it)."""
        self._commit_listeners.append(listener)

    def remove_commit_listener(self, listener: Callable[[], None]) -> None:
        self._commit_listeners.remove(listener)

    async def write(self, job: Job[T], *, units: int = 0) -> T:
        """Run `job(tx)` on the writer thread in the next group transaction; return its result
        once committed. `units`: the orders it takes in, which admission control counts."""
        return await self._enqueue(job, units)

    async def write_deferred(self, job: Job[T], *, within_s: float) -> T:
        """Like `write`, for background work that need not be durable at once (the audit log):
        the job starts no group of its own but joins the next one that other writes start, or,
        if none starts within `within_s`, a group of its own then. At a steady trickle of
        orders, a write of its own costs a commit per write (issue 5: at 300 orders/s a
        fifth of the commits were the audit log's alone)."""
        return await self._enqueue(job, 0, within_s=within_s)

    def _deferred_deadline(self, pending: _Pending[Any]) -> None:
        """A deferred job still queued at its deadline is deferred no more."""
        with self._queue_lock:  # the writer thread may be taking it right now
            if pending.taken:  # it rode along: the deadline is void
                return
            pending.deferred = False
            self._urgent += 1
        self._wake.set()

    async def write_batched(
        self, batch: Callable[[Tx, list[Any]], list[T]], item: Any, *, units: int = 0
    ) -> T:
        """Like `write`, for work that is cheaper done for many callers at once: the items of
        every caller of the same `batch` function waiting for the next group go to one call
        `batch(tx, items)`, which returns one result per item, in order (each SQLite statement
        costs the writer a wait for the GIL: see `Tx.execute_rows`). They run where the first
        of them stood in the queue. If that call raises, each item is run alone in its own
        savepoint, so one caller's bad input fails that caller only."""
        return await self._enqueue(None, units, batch, item)

    async def _enqueue(
        self,
        job: Job[T] | None,
        units: int,
        batch: BatchJob | None = None,
        item: Any = None,
        *,
        within_s: float | None = None,
    ) -> T:
        if self.failure is not None:
            raise WriterFailed(f"the store's writer stopped: {self.failure!r}")
        if self._closing or self._task is None:
            raise DatabaseClosed("database is closing")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        deferred = within_s is not None
        pending = _Pending(job, future, units, batch, item, deferred)
        with self._queue_lock:
            self._queue.append(pending)
            if not deferred:
                self._urgent += 1
        self.waiting_units += units
        if within_s is None:
            self._wake.set()
        else:
            loop.call_later(within_s, self._deferred_deadline, pending)
        return await asyncio.shield(future)

    async def read(self, fn: Read[T]) -> T:
        """Run `fn(connection)` on the reader thread: a whole read, statements and fetches, in
        one hand-off (and so in one snapshot of the database)."""
        if self._reader_conn is None or self._reader_thread is None:
            raise DatabaseClosed("database is not open")
        conn = self._reader_conn
        return await asyncio.get_running_loop().run_in_executor(self._reader_thread, fn, conn)

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """One row of an ad-hoc query (tests, the demo's printout)."""
        return await self.read(lambda conn: conn.execute(sql, params).fetchone())

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return await self.read(lambda conn: conn.execute(sql, params).fetchall())

    async def close(self) -> None:
        """Finish the jobs already queued, then close."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        await self._close_connections()

    async def _close_connections(self) -> None:
        loop = asyncio.get_running_loop()
        for conn, thread in (
            (self._reader_conn, self._reader_thread),
            (self._writer_conn, self._writer_thread),
        ):
            if conn is not None and thread is not None:
                await loop.run_in_executor(thread, conn.close)
        for thread in (self._reader_thread, self._writer_thread):
            if thread is not None:
                thread.shutdown(wait=True)
        self._reader_conn = self._writer_conn = None
        self._reader_thread = self._writer_thread = None

    # -- the writer ----------------------------------------------------------------------------

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                if self._closing:
                    return
            # A group starts for a job that is not deferred, or at the close (which writes what
            # is queued first, deferred jobs included).
            elif self._urgent or self._closing:
                await self._run_next_group(loop)
                continue
            self._wake.clear()
            await self._wake.wait()

    async def _run_next_group(self, loop: asyncio.AbstractEventLoop) -> None:
        assert self._writer_conn is not None
        assert self._writer_thread is not None
        group, outcomes, commit_error = await loop.run_in_executor(
            self._writer_thread, self._run_group, self._writer_conn, self._take(self.max_batch)
        )
        self._running = []
        self.waiting_units -= sum(p.size for p in group)
        self._complete(group, outcomes, commit_error)

    def _take(self, limit: int) -> list[_Pending[Any]]:
        """Up to `limit` jobs from the front of the queue, noted as running (on the loop or the
        writer thread); none once the writer has failed, whose waiting jobs are then failed."""
        with self._queue_lock:
            if self.failure is not None:
                return []
            queue = self._queue
            taken = [queue.popleft() for _ in range(min(limit, len(queue)))]
            for pending in taken:
                pending.taken = True
                if not pending.deferred:
                    self._urgent -= 1
            self._running.extend(taken)
            return taken

    def _run_group(
        self, conn: sqlite3.Connection, group: list[_Pending[Any]]
    ) -> tuple[list[_Pending[Any]], list[_Outcome], BaseException | None]:
        """On the writer thread: every job of the group in one transaction; the jobs that
        arrived while the group ran join it before the commit. Returns the jobs it ran.

        Jobs rarely raise, so the group first runs without a savepoint per job (two SQLite
        steps each, and each step waits for the GIL: see `Tx.execute_rows`). If one does raise,
        the group is rolled back and run again with a savepoint per job, so that only the
        failing job's writes are undone. A job therefore may run twice: its effects belong in
        the transaction and in `after_commit` callbacks, both of which the rollback discards."""
        self.statements += 2  # BEGIN and COMMIT
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                outcomes = self._run_units(conn, group, contained=False)
                if late := self._take(self.max_batch - len(group)):
                    group = group + late  # before running them: a fallback reruns them too
                    outcomes += self._run_units(conn, late, contained=False)
            except _JobRaised:
                if conn.in_transaction:  # some errors (a full disk) end it already
                    conn.execute("ROLLBACK")
                conn.execute("BEGIN IMMEDIATE")
                self.statements += 2  # BEGIN and COMMIT again (the ROLLBACK ended the first)
                outcomes = self._run_units(conn, group, contained=True)
            conn.execute("COMMIT")
        except Exception as error:
            with contextlib.suppress(Exception):
                conn.execute("ROLLBACK")
            return group, [], error
        return group, outcomes, None

    def _run_units(
        self, conn: sqlite3.Connection, jobs: list[_Pending[Any]], *, contained: bool
    ) -> list[_Outcome]:
        """Run `jobs` in the open transaction. `contained`: each unit in its own savepoint
        (a job that raises fails alone); otherwise the first to raise raises `_JobRaised`."""
        outcomes: list[_Outcome] = []
        run = self._run_contained if contained else self._run_bare
        for unit in _units(jobs):
            run(conn, unit, outcomes)
        return outcomes

    def _run_bare(
        self, conn: sqlite3.Connection, unit: list[_Pending[Any]], out: list[_Outcome]
    ) -> None:
        """One unit of work, uncontained: if it raises, the whole group is run again."""
        tx = Tx(conn)
        try:
            results = _call(tx, unit)
        except Exception as error:
            raise _JobRaised from error
        finally:
            self.statements += tx.statements
        _settle(unit, results, tx, out)

    def _run_contained(
        self, conn: sqlite3.Connection, unit: list[_Pending[Any]], out: list[_Outcome]
    ) -> None:
        """One unit in its own savepoint: if it raises, only its writes are undone, and the
        items of a batched write are then run again each alone."""
        tx = Tx(conn)
        conn.execute("SAVEPOINT job")
        try:
            results = _call(tx, unit)
        except Exception as error:
            conn.execute("ROLLBACK TO job")
            conn.execute("RELEASE job")
            self.statements += tx.statements + 3
            if len(unit) == 1:
                out.append(_Outcome(unit[0], None, error, []))
                return
            for pending in unit:
                self._run_contained(conn, [pending], out)
            return
        conn.execute("RELEASE job")
        self.statements += tx.statements + 2
        _settle(unit, results, tx, out)

    def _complete(
        self,
        batch: list[_Pending[Any]],
        outcomes: list[_Outcome],
        commit_error: BaseException | None,
    ) -> None:
        """On the loop: settle the futures of a group and run its callbacks."""
        if commit_error is not None:
            log.error("store.commit_failed", error=repr(commit_error), jobs=len(batch))
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(commit_error)
            return
        self.commits += 1
        self.jobs += len(batch)
        for listener in self._commit_listeners:
            self._run_callback(listener, "commit_listener")
        for outcome in outcomes:
            for callback in outcome.after:
                self._run_callback(callback, "after_commit")
            future = outcome.pending.future
            if future.done():  # the caller was cancelled; its work is committed all the same
                continue
            if outcome.error is not None:
                future.set_exception(outcome.error)
            else:
                future.set_result(outcome.result)

    def _run_callback(self, callback: Callable[[], None], kind: str) -> None:
        try:
            callback()
        except Exception as error:  # a listener's bug must not stop the writer
            self.callback_errors += 1
            log.error("store.callback_failed", kind=kind, error=repr(error), exc_info=error)

    def _writer_ended(self, task: asyncio.Task[None]) -> None:
        """The writer task ended: normal at close; otherwise fail every waiting write, those of
        the group the writer thread may still be running included (whether that group commits
        is not known here: a caller that retries finds its work done, as after a crash)."""
        error = None if task.cancelled() else task.exception()
        if error is None and self._closing:
            return
        failure = error or WriterFailed("the writer task was cancelled")
        with self._queue_lock:  # the writer thread takes no more late jobs after this
            self.failure = failure
            waiting = [*self._running, *self._queue]
            self._running = []
            self._queue.clear()
            self._urgent = 0
        log.error("store.writer_failed", error=repr(failure))
        for pending in waiting:
            if not pending.future.done():
                stopped = WriterFailed(f"the store's writer stopped: {failure!r}")
                pending.future.set_exception(stopped)


class _JobRaised(Exception):
    """A job raised in a group run without savepoints: run the group again, contained."""


def _call(tx: Tx, unit: list[_Pending[Any]]) -> list[Any]:
    """A unit's results, one per job: its job's, or those of its batched write's one call."""
    first = unit[0]
    if first.batch is None:
        assert first.job is not None
        return [first.job(tx)]
    results = first.batch(tx, [p.item for p in unit])
    if len(results) != len(unit):
        raise RuntimeError(f"{first.batch!r} gave {len(results)} results for {len(unit)} items")
    return results


def _settle(unit: list[_Pending[Any]], results: list[Any], tx: Tx, out: list[_Outcome]) -> None:
    """The outcomes of a unit that ran; its callbacks go with its first job."""
    for index, (pending, result) in enumerate(zip(unit, results, strict=True)):
        out.append(_Outcome(pending, result, None, tx._after if index == 0 else []))


def _units(batch: list[_Pending[Any]]) -> list[list[_Pending[Any]]]:
    """The group as units of work: a job is one; the items of one batched write are one, where
    the first of them stood."""
    units: list[list[_Pending[Any]]] = []
    batched: dict[Any, list[_Pending[Any]]] = {}
    for pending in batch:
        if pending.batch is None:
            units.append([pending])
        elif pending.batch in batched:
            batched[pending.batch].append(pending)
        else:
            batched[pending.batch] = unit = [pending]
            units.append(unit)
    return units


def read_instance_id(conn: sqlite3.Connection) -> str:
    return str(conn.execute("SELECT value FROM meta WHERE key = 'instance_id'").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the migrations newer than the database's `user_version`; return the version."""
    current = int(conn.execute("PRAGMA user_version").fetchone()[0])
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
        conn.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")
        log.info("store.migrated", version=version, script=name)
        current = version
    return current
