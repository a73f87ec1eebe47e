"""A `PluginState` in memory, for adapters built by hand in tests (the gateway gives real ones)."""

from __future__ import annotations


class MemoryState:
    """`PluginState` kept in a dict: what a test gives an adapter's `ctx.state`."""

    def __init__(self, initial: dict[str, str] | None = None) -> None:
        self.values: dict[str, str] = dict(initial or {})

    async def get(self, key: str) -> str | None:
        return self.values.get(key)

    async def set(self, key: str, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"PluginState values are strings; got {type(value).__name__}")
        self.values[key] = value

    async def delete(self, key: str) -> None:
        self.values.pop(key, None)
