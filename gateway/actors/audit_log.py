"""The audit log's writer (issue 9): requests hand entries over without waiting for a commit;
this actor writes what has gathered as one statement of the store's next group commit.

Why not write in the request: the entry would cost intake a second commit wait per request.
Handed over here, the entries of `GATHER_S` go as one statement that rides along with the
commits that happen anyway (a deferred write: it starts no commit of its own unless none comes
within `RIDE_ALONG_S`), durable within about a third of a second of the answer. `flush()` at
shutdown writes what is left before the database closes.
"""

from __future__ import annotations

import asyncio

import structlog

from gateway.infra.supervision import Ready
from gateway.store.audit import AuditEntry, append_entries
from gateway.store.db import Database

log = structlog.get_logger(__name__)

# How long entries gather before they are handed to the store: one statement for all of them,
# not one in each commit (at 300 orders/s there are some 300 commits a second).
GATHER_S = 0.1
# Longest the gathered entries then wait for a commit that other writes start. At 300 orders/s
# the entries' own commits were a fifth of all (issue 5); a quiet gateway writes them this much
# later.
RIDE_ALONG_S = 0.2


class AuditLog:
    def __init__(
        self, db: Database, gather_s: float = GATHER_S, ride_along_s: float = RIDE_ALONG_S
    ) -> None:
        self._db = db
        self._gather_s = gather_s
        self._ride_along_s = ride_along_s
        self._pending: list[AuditEntry] = []
        self._wake = asyncio.Event()
        self._writing = asyncio.Lock()
        self.written = 0

    def record(self, entry: AuditEntry) -> None:
        self._pending.append(entry)
        self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def run(self, ready: Ready) -> None:
        ready()
        while True:
            await self._wake.wait()
            await asyncio.sleep(self._gather_s)
            await self.flush(within_s=self._ride_along_s)

    async def flush(self, within_s: float | None = None) -> None:
        """Write every entry recorded so far, in the next commit or (`within_s`) riding along
        with other writes. On failure they stay pending, in order."""
        async with self._writing:
            self._wake.clear()
            batch, self._pending = self._pending, []
            if not batch:
                return
            try:
                await append_entries(self._db, batch, within_s=within_s)
            except asyncio.CancelledError:
                # The write is queued in the store, which writes it all the same (at the
                # latest when it closes): taken back, the entries would be written twice.
                raise
            except BaseException:
                self._pending[:0] = batch
                raise
            self.written += len(batch)
