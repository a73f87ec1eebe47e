"""The alert rules of `[alerts]`, evaluated every `evaluate_every_s` by a supervised actor.

Each evaluation gathers what the rules look at (supplier health from the live health objects;
backlog, outbox, channels and stock from the store), steps every rule's state machine
(`gateway.domain.alerting`), and for each alert that fires or resolves: records it and its
`{p}/alerts/{kind}` message in one transaction, then hands it to the webhooks.

The supplier_down/degraded/recovered messages of the health reporter stay as they are (sent
at every change of state, no webhook); the `supplier_down` rule here is the configurable one:
down for `for_s`, published as `supplier_outage` unless named otherwise.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog

from gateway.actors.supplier_health import CircuitState, SupplierHealth, SupplierState
from gateway.actors.webhooks import WebhookSender
from gateway.domain.alerting import Firing, Observation, RuleTracker, Transition
from gateway.infra.clock import Clock
from gateway.infra.config import AlertRule, AlertsSection
from gateway.infra.supervision import Ready
from gateway.store import alerts as store
from gateway.store.codec import iso
from gateway.store.db import Database
from gateway.store.kpis import units_sold_since

log = structlog.get_logger(__name__)


def _num(value: float) -> str:
    return f"{value:g}"


class AlertActor:
    def __init__(
        self,
        db: Database,
        settings: AlertsSection,
        healths: Mapping[str, SupplierHealth],
        channels: Sequence[str],
        clock: Clock,
        webhook_clock: Clock | None = None,
    ) -> None:
        self._db = db
        self._settings = settings
        self._healths = healths
        self._channels = list(channels)
        self._clock = clock
        self.webhooks = WebhookSender(settings.webhooks, webhook_clock or clock)
        self._trackers = [
            (rule, RuleTracker(rule.kind, rule.severity, rule.for_s, rule.resolve_after_s))
            for rule in settings.rules
        ]
        self._started_at: datetime | None = None
        self.evaluations = 0
        self._listeners: list[Callable[[dict[str, Any]], None]] = []

    def on_alert(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """Call `listener` with each alert message once it is recorded (tests, dashboard)."""
        self._listeners.append(listener)

    async def run(self, ready: Ready) -> None:
        await self.restore()
        ready()
        async with asyncio.TaskGroup() as group:
            group.create_task(self.webhooks.run())
            while True:
                await self.evaluate()
                await self._clock.sleep(self._settings.evaluate_every_s)

    async def restore(self) -> None:
        """Adopt the alerts that were firing when the gateway last stopped."""
        self._started_at = self._started_at or self._clock.now()
        by_name = {tracker.rule: tracker for _, tracker in self._trackers}
        for firing in await store.open_alerts(self._db):
            tracker = by_name.get(firing.rule)
            if tracker is not None:
                tracker.adopt(firing)
            else:  # its rule was removed from the config: close it
                await self._record(
                    Transition(
                        state="resolved",
                        rule=firing.rule,
                        subject=firing.subject,
                        severity=firing.severity,
                        message=f"{firing.rule}: the rule was removed from the config",
                        value=None,
                        resolves=firing.alert_id,
                    ),
                    None,
                )

    async def evaluate(self) -> list[dict[str, Any]]:
        """One evaluation of every rule; returns the alert messages it sent."""
        if self._started_at is None:
            await self.restore()
        now = self._clock.now()
        monotonic = self._clock.monotonic()
        sent: list[dict[str, Any]] = []
        for rule, tracker in self._trackers:
            observations = await self._observe(rule, now)
            for transition in tracker.step(observations, monotonic):
                sent.append(await self._record(transition, tracker))
        self.evaluations += 1
        return sent

    async def _record(self, transition: Transition, tracker: RuleTracker | None) -> dict[str, Any]:
        now = self._clock.now()
        firing = transition.state == "firing"
        data: dict[str, Any] = {
            "severity": transition.severity if firing else "info",
            "message": transition.message,
            "subject": transition.subject,
            "state": transition.state,
            "value": transition.value,
        }
        if not firing:
            data["resolves"] = transition.resolves
        alert_id = await store.record_alert(
            self._db, transition.rule, data, resolves=transition.resolves, now=now
        )
        # What the feed publishes on {p}/alerts/{kind} for this event, and the webhooks get.
        payload = {**data, "alert_id": alert_id, "kind": transition.rule, "at": iso(now)}
        if tracker is not None:
            if firing:
                tracker.fired(
                    Firing(
                        alert_id=alert_id,
                        rule=transition.rule,
                        subject=transition.subject,
                        severity=transition.severity,
                        message=transition.message,
                        value=transition.value,
                        fired_at=now,
                    )
                )
            else:
                tracker.resolved(transition.subject)
        log.warning(
            "alert.fired" if firing else "alert.resolved",
            kind=transition.rule,
            severity=transition.severity,
            alert_id=alert_id,
            subject=transition.subject,
        )
        self.webhooks.offer(payload, transition.severity)
        for listener in self._listeners:
            listener(payload)
        return payload

    # -- what each rule looks at ---------------------------------------------------------------

    async def _observe(self, rule: AlertRule, now: datetime) -> list[Observation]:
        match rule.type:
            case "supplier_error_rate" | "supplier_latency" | "circuit_open" | "supplier_down":
                return self._observe_suppliers(rule)
            case "exception_backlog":
                held = await store.orders_on_hold(self._db)
                return [
                    Observation(
                        subject={},
                        breached=held > rule.threshold,
                        value=held,
                        message=f"{held} orders on hold (threshold {_num(rule.threshold)})",
                    )
                ]
            case "outbox_age":
                oldest = await store.oldest_unpublished_at(self._db)
                age = max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
                return [
                    Observation(
                        subject={},
                        breached=age > rule.threshold,
                        value=round(age, 1),
                        message=f"the oldest feed message has waited {age:.0f} s for the "
                        f"MQTT broker (threshold {_num(rule.threshold)} s)",
                    )
                ]
            case "channel_silent":
                return await self._observe_channels(rule, now)
            case "stock_cover":
                return await self._observe_stock(rule, now)
        raise AssertionError(rule.type)  # pragma: no cover - the config type lists them all

    def _observe_suppliers(self, rule: AlertRule) -> list[Observation]:
        observations = []
        for supplier_id, health in self._healths.items():
            if rule.suppliers and supplier_id not in rule.suppliers:
                continue
            subject = {"supplier_id": supplier_id}
            if rule.type == "supplier_error_rate":
                calls = int(health.snapshot()["calls"])
                rate = health.error_rate
                enough = calls >= SupplierHealth.MIN_CALLS_FOR_RATE
                observations.append(
                    Observation(
                        subject=subject,
                        breached=enough and rate > rule.threshold,
                        value=round(rate, 4),
                        message=f"supplier {supplier_id}: {rate:.0%} of the last {calls} calls "
                        f"failed (threshold {rule.threshold:.0%})",
                    )
                )
            elif rule.type == "supplier_latency":
                p95 = health.latency_p95_ms
                observations.append(
                    Observation(
                        subject=subject,
                        breached=p95 is not None and p95 > rule.threshold,
                        value=p95,
                        message=f"supplier {supplier_id}: p95 latency {p95} ms "
                        f"(threshold {_num(rule.threshold)} ms)",
                    )
                )
            elif rule.type == "circuit_open":
                circuit = health.circuit.state
                observations.append(
                    Observation(
                        subject=subject,
                        breached=circuit != CircuitState.CLOSED,
                        value=None,
                        message=f"supplier {supplier_id}: circuit {circuit.value}",
                    )
                )
            else:
                state = health.state
                observations.append(
                    Observation(
                        subject=subject,
                        breached=state == SupplierState.DOWN,
                        value=None,
                        message=f"supplier {supplier_id} is {state.value}"
                        + (f": {health.actor_error}" if health.actor_error else ""),
                    )
                )
        return observations

    async def _observe_channels(self, rule: AlertRule, now: datetime) -> list[Observation]:
        assert self._started_at is not None
        observations = []
        for channel in rule.channels or self._channels:
            last = await store.last_order_at(self._db, channel)
            # A channel that never sent an order is silent since the gateway started.
            since = max(last, self._started_at) if last else self._started_at
            silent = max(0.0, (now - since).total_seconds())
            observations.append(
                Observation(
                    subject={"channel": channel},
                    breached=silent > rule.threshold,
                    value=round(silent, 1),
                    message=f"channel {channel}: no order for {silent:.0f} s"
                    f" (threshold {_num(rule.threshold)} s)",
                )
            )
        return observations

    async def _observe_stock(self, rule: AlertRule, now: datetime) -> list[Observation]:
        """Days of sales the known stock covers: stock / (units ordered in the last
        `window_days` UTC days, today included / window_days). Unsold SKUs never breach."""
        stock = await store.stock_by_sku(self._db)
        sold = await units_sold_since(self._db, now - timedelta(days=rule.window_days - 1))
        observations = []
        for sku in sorted(rule.skus or stock):
            per_day = sold.get(sku, 0) / rule.window_days
            units = stock.get(sku, 0)
            cover = units / per_day if per_day > 0 else None
            observations.append(
                Observation(
                    subject={"sku": sku},
                    breached=cover is not None and cover < rule.threshold,
                    value=None if cover is None else round(cover, 2),
                    message=f"SKU {sku}: {units} in stock cover "
                    + (f"{cover:.1f} days" if cover is not None else "every day (no sales)")
                    + f" at {per_day:.1f} a day (threshold {_num(rule.threshold)} days)",
                )
            )
        return observations
