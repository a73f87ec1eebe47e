"""Publishes each supplier's health (retained) and raises alerts when a supplier's state
changes. Health changes arrive as bus messages from the health objects; this actor records them
in the event log (`supplier.health`, `alert.<kind>`), so the feed gets them through the same
at-least-once path as everything else."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import structlog

from gateway.actors.bus import Mailbox, Message, SupplierHealthChanged
from gateway.actors.supplier_health import SupplierHealth, SupplierState
from gateway.domain.model import NewEvent, alert_event
from gateway.infra.clock import Clock
from gateway.infra.supervision import Ready
from gateway.store import events
from gateway.store.codec import iso
from gateway.store.db import Database

log = structlog.get_logger(__name__)

_ALERTS = {
    SupplierState.DOWN: ("supplier_down", "critical", "supplier {id} is down: {error}"),
    SupplierState.DEGRADED: ("supplier_degraded", "warning", "supplier {id} is degraded"),
    SupplierState.UP: ("supplier_recovered", "info", "supplier {id} is up again"),
}


class HealthReporter:
    def __init__(
        self,
        db: Database,
        mailbox: Mailbox[Message],
        healths: Mapping[str, SupplierHealth],
        clock: Clock,
        refresh_s: float = 15.0,
    ) -> None:
        self._db = db
        self._mailbox = mailbox
        self._healths = healths
        self._clock = clock
        self._refresh_s = refresh_s
        self._published: dict[str, dict[str, Any]] = {}
        self._states: dict[str, SupplierState] = {}

    async def run(self, ready: Ready) -> None:
        ready()
        await self._publish(list(self._healths))
        while True:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # arrives as the message does, and this actor would never stop.
            try:
                async with asyncio.timeout(self._refresh_s):
                    message: Message | None = await self._mailbox.get()
            except TimeoutError:  # nothing changed state: refresh the figures now and then
                await self._publish(list(self._healths))
                continue
            changed: set[str] = set()
            while message is not None:
                if isinstance(message, SupplierHealthChanged):
                    changed.add(message.supplier_id)
                message = self._mailbox.get_nowait()
            if self._mailbox.take_overflow():
                changed.update(self._healths)
            await self._publish(sorted(changed))

    async def _publish(self, supplier_ids: list[str]) -> None:
        now = self._clock.now()
        rows: list[NewEvent] = []
        for supplier_id in supplier_ids:
            health = self._healths.get(supplier_id)
            if health is None:
                continue
            snapshot = health.snapshot()
            previous = self._states.get(supplier_id)
            # A change, or a supplier found down at start (POs waiting for one nobody serves).
            if previous != health.state and (previous or health.state == SupplierState.DOWN):
                kind, severity, text = _ALERTS[health.state]
                message = text.format(
                    id=supplier_id, error=snapshot["last_error"] or "restart limit"
                )
                log.warning("alert", kind=kind, severity=severity, supplier_id=supplier_id)
                rows.append(alert_event(kind, severity, message, {"supplier_id": supplier_id}))
            self._states[supplier_id] = health.state
            # Published on state changes and by the periodic refresh, whenever anything moved.
            if self._published.get(supplier_id) != snapshot:
                self._published[supplier_id] = snapshot
                rows.append(
                    NewEvent(
                        type="supplier.health",
                        supplier_id=supplier_id,
                        data={**snapshot, "at": iso(now)},
                    )
                )
        await events.record(self._db, now, rows)
