"""The channel's durable state: what it has taken in, what it has written back."""

from __future__ import annotations

import json
from dataclasses import dataclass

from gateway.plugin_api import PluginState

WATERMARK_KEY = "intake.watermark"


@dataclass(frozen=True)
class Watermark:
    """Everything at or before (`value` of the watermark field, `fid`) is taken in."""

    value: str
    fid: int


async def load_watermark(state: PluginState) -> Watermark | None:
    raw = await state.get(WATERMARK_KEY)
    if raw is None:
        return None
    data = json.loads(raw)
    return Watermark(str(data["value"]), int(data["fid"]))


async def save_watermark(state: PluginState, mark: Watermark) -> None:
    await state.set(WATERMARK_KEY, json.dumps({"value": mark.value, "fid": mark.fid}))


class MemoryState:
    """Stands in for `ctx.state` when a gateway does not provide one (a context built by hand
    in a test): nothing survives a restart, which intake's idempotency makes safe but slow."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}

    async def get(self, key: str) -> str | None:
        return self._values.get(key)

    async def set(self, key: str, value: str) -> None:
        self._values[key] = value

    async def delete(self, key: str) -> None:
        self._values.pop(key, None)
