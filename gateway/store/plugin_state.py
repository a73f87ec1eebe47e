"""Durable key-value state of a plugin instance (`PluginState` of the plugin API)."""

from __future__ import annotations

from gateway.infra.clock import Clock
from gateway.store.codec import iso
from gateway.store.db import Database, Tx


class StoredPluginState:
    """The `PluginState` of one channel or supplier (`scope` is `channel:<id>`/`supplier:<id>`)."""

    def __init__(self, db: Database, scope: str, clock: Clock) -> None:
        self._db = db
        self._scope = scope
        self._clock = clock

    async def get(self, key: str) -> str | None:
        row = await self._db.fetchone(
            "SELECT value FROM plugin_state WHERE scope = ? AND key = ?", (self._scope, key)
        )
        return None if row is None else str(row[0])

    async def set(self, key: str, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"plugin state values are strings, not {type(value).__name__}")
        at = iso(self._clock.now())

        def job(tx: Tx) -> None:
            tx.execute(
                "INSERT INTO plugin_state (scope, key, value, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value,"
                " updated_at = excluded.updated_at",
                (self._scope, key, value, at),
            )

        await self._db.write(job)

    async def delete(self, key: str) -> None:
        def job(tx: Tx) -> None:
            tx.execute("DELETE FROM plugin_state WHERE scope = ? AND key = ?", (self._scope, key))

        await self._db.write(job)
