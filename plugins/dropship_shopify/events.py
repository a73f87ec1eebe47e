"""The webhook events already handled, by `X-Shopify-Event-Id`, kept in the channel's durable
state so that a delivery repeated after a restart is still recognised.

Shopify retries a delivery for 4 hours and may deliver an event twice even when it was
answered, so an id is remembered for `memory_s` (a day by default) and then forgotten. The
plugin state has no expiry or listing of its own: ids are grouped by the hour they were first
seen, and an hour's ids are deleted together once the hour is old enough.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta

from gateway.plugin_api import Clock, PluginState

_HOUR_FORMAT = "%Y%m%d%H"
_HOURS_KEY = "events:hours"


class SeenEvents:
    def __init__(self, state: PluginState, clock: Clock, memory_s: float = 86400.0) -> None:
        self._state = state
        self._clock = clock
        self._memory = timedelta(seconds=memory_s)
        self._lock = asyncio.Lock()  # one read-modify-write of the hour lists at a time

    async def seen(self, event_id: str) -> bool:
        return await self._state.get(f"event:{event_id}") is not None

    async def remember(self, event_id: str) -> None:
        now = self._clock.now()
        hour = now.strftime(_HOUR_FORMAT)
        async with self._lock:
            await self._state.set(f"event:{event_id}", hour)
            hours = await self._hours()
            if hour not in hours:
                hours = await self._forget_before(hours, now - self._memory)
                hours.append(hour)
                await self._state.set(_HOURS_KEY, json.dumps(hours))
            ids = json.loads(await self._state.get(f"events:{hour}") or "[]")
            ids.append(event_id)
            await self._state.set(f"events:{hour}", json.dumps(ids))

    async def _hours(self) -> list[str]:
        raw = await self._state.get(_HOURS_KEY)
        return list(json.loads(raw)) if raw else []

    async def _forget_before(self, hours: list[str], limit: datetime) -> list[str]:
        cutoff = limit.strftime(_HOUR_FORMAT)
        kept: list[str] = []
        for hour in hours:
            if hour >= cutoff:
                kept.append(hour)
                continue
            for event_id in json.loads(await self._state.get(f"events:{hour}") or "[]"):
                await self._state.delete(f"event:{event_id}")
            await self._state.delete(f"events:{hour}")
        return kept
