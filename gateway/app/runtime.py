"""Assembles a running gateway from a Config and the loaded plugins, and takes it apart again.

Start-up order: store → MQTT publisher → background services → supplier actors → router →
HTTP API → channel actors. Shutdown is the reverse, with the steps CONTRACT §1 asks for:
intake answers 503 at once; supplier calls in flight get `shutdown_grace_s` to finish;
the event log is published if the broker is there; the database is closed last. Whatever is cut
short stays in the store and is resumed at the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from gateway.actors.alerts import AlertActor
from gateway.actors.audit_log import AuditLog
from gateway.actors.bus import HEALTH, ROUTER, Bus, SupplierHealthChanged, supplier_address
from gateway.actors.channel_bridge import ChannelOrderAccess, ChannelUpdates
from gateway.actors.health_reporter import HealthReporter
from gateway.actors.intake import IntakeService
from gateway.actors.order_actions import OrderActions
from gateway.actors.router import RouterActor
from gateway.actors.supplier import SupplierActor
from gateway.actors.supplier_health import SupplierHealth
from gateway.api.access import AccessControl
from gateway.api.app import build_app
from gateway.api.context import ApiContext
from gateway.api.server import GatewayRunner
from gateway.app.plugins import PluginSet
from gateway.domain.model import CatalogItem
from gateway.domain.routing import RulePlanner, SupplierView
from gateway.feed.embedded_broker import EmbeddedBroker
from gateway.feed.publisher import Publisher, broker_address
from gateway.infra.clock import Clock, SystemClock
from gateway.infra.config import ChannelConfig, Config, ServiceConfig
from gateway.infra.metrics import Metrics
from gateway.infra.supervision import (
    ChildSpec,
    ChildState,
    ChildStatus,
    Ready,
    Restart,
    RestartPolicy,
    Supervisor,
)
from gateway.infra.tls import server_context
from gateway.plugin_api.adapters import ChannelContext, ServiceContext, SubmitResult
from gateway.store.db import Database
from gateway.store.plugin_state import StoredPluginState
from gateway.store.purchase_orders import waiting_by_supplier
from gateway.store.routing import sync_catalog

log = structlog.get_logger(__name__)

DATABASE_FILE = "gateway.db"
CORE_ACTORS = ("publisher", "health", "router")


class Gateway:
    def __init__(self, config: Config, plugins: PluginSet, clock: Clock | None = None) -> None:
        self.config = config
        self.plugins = plugins
        # A plugin's actor that is not ready within this long does not hold up the rest.
        self._plugin_start_s = config.gateway.plugin_timeout_s
        self.clock: Clock = clock or SystemClock()
        self.metrics = Metrics(channels=[c.id for c in config.channels] + config.metrics.channels)
        self.bus = Bus()
        self.db = Database(
            Path(config.gateway.data_dir) / DATABASE_FILE,
            synchronous=config.gateway.sqlite_synchronous,
        )
        self.metrics.watch_store(self.db)
        self.intake = IntakeService(
            self.db, self.bus, self.clock, self.metrics, config.gateway.intake_max_pending
        )
        self.order_actions = OrderActions(self.db, self.bus, self.clock)
        self.healths: dict[str, SupplierHealth] = {
            s.id: SupplierHealth(
                s.id, self.clock, on_change=self._health_changed, name=s.name, adapter=s.adapter
            )
            for s in config.suppliers
        }
        g = config.gateway
        self.supervisor = Supervisor(
            "gateway",
            RestartPolicy(
                intensity=g.restart_intensity,
                period_s=g.restart_period_s,
                backoff_s=g.restart_backoff_s,
                backoff_max_s=g.restart_backoff_max_s,
                revive_after_s=g.revive_after_s,
            ),
            self.clock,
            on_change=self._child_changed,
        )
        self.publisher = Publisher(self.db, config.mqtt, self.clock, self.metrics)
        self.supplier_actors: dict[str, SupplierActor] = {}
        self.alerts: AlertActor | None = None
        self.audit = AuditLog(self.db)
        self.access = AccessControl(config, self.db, self.clock, self.audit)
        self._broker: EmbeddedBroker | None = None
        self._runner: web.AppRunner | None = None
        self.http_url = ""
        self.stopping = asyncio.Event()  # set when stop() begins: intake answers 503 from then

    async def __aenter__(self) -> Gateway:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    # -- start ---------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.db.open()
        try:
            await self._start_parts()
        except BaseException:
            await self.stop()
            raise
        host, port, _ = broker_address(self.config.mqtt)
        log.info(
            "gateway.started",
            http=self.http_url,
            mqtt=f"{host}:{port}",
            suppliers=len(self.config.suppliers),
            data_dir=self.config.gateway.data_dir,
        )

    async def _start_parts(self) -> None:
        await self.access.prepare()  # refuses an open API on a network address: nothing starts
        await sync_catalog(
            self.db,
            [
                CatalogItem(
                    sku=e.sku,
                    supplier_id=e.supplier,
                    cost=e.unit_cost,
                    priority=e.priority,
                    stock=e.stock,
                )
                for e in self.config.catalog
            ],
        )
        await self._watch_unserved_suppliers()
        if self.config.mqtt.url == "embedded":
            self._broker = EmbeddedBroker(self.config.mqtt.embedded_listen)
            await self._broker.start()
        start = self.supervisor.start_child
        await start(ChildSpec("publisher", self.publisher.run, Restart.TRANSIENT))
        await start(ChildSpec("audit", self.audit.run))
        health = HealthReporter(self.db, self.bus.mailbox(HEALTH), self.healths, self.clock)
        await start(ChildSpec("health", health.run))
        if self.config.alerts.rules:  # issue 9: the configurable alert rules
            self.alerts = AlertActor(
                self.db,
                self.config.alerts,
                self.healths,
                [c.id for c in self.config.channels],
                self.clock,
            )
            await start(ChildSpec("alerts", self.alerts.run))
        for service in self.config.services:
            await self._start_service(service)
        registry = self.plugins.registry
        for supplier in self.config.suppliers:
            if not supplier.enabled:
                continue
            factory = registry.supplier_adapters.get(supplier.adapter)
            if factory is None:
                error = f"no supplier adapter named {supplier.adapter!r} is loaded"
                log.error("supplier.no_adapter", supplier_id=supplier.id, adapter=supplier.adapter)
                self.healths[supplier.id].set_actor_down(True, error)
                continue
            actor = SupplierActor(
                supplier,
                factory,
                self.db,
                self.bus.mailbox(supplier_address(supplier.id)),
                self.healths[supplier.id],
                self.clock,
                self.metrics,
                StoredPluginState(self.db, f"supplier:{supplier.id}", self.clock),
            )
            self.supplier_actors[supplier.id] = actor
            await start(ChildSpec(f"supplier:{supplier.id}", actor.run), self._plugin_start_s)
        router = RouterActor(
            self.db,
            self.bus.mailbox(ROUTER),
            self.bus,
            RulePlanner(self.config.routing.strategy, self.config.routing.split),
            self.supplier_views,
            self.clock,
            self.metrics,
        )
        await start(ChildSpec("router", router.run))
        await self._start_http()
        for channel in self.config.channels:
            await self._start_channel(channel)

    async def _start_http(self) -> None:
        app = build_app(
            ApiContext(
                db=self.db,
                intake=self.intake,
                suppliers={s.id: s for s in self.config.suppliers},
                healths=self.healths,
                clock=self.clock,
                metrics=self.metrics,
                readiness=self.readiness,
                max_body=self.config.http.max_body_bytes,
                order_actions=self.order_actions,
                plugins=self.plugins.plugins,
                http=self.config.http,
                kpis=self.config.kpis,
            ),
            access=self.access,
        )
        self._runner = GatewayRunner(app, self.config.http)  # connection limits, timeouts
        await self._runner.setup()
        tls = server_context(self.config.http)
        site = web.TCPSite(
            self._runner, self.config.http.host, self.config.http.port, ssl_context=tls
        )
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.http_url = f"{'https' if tls else 'http'}://{host}:{port}"

    async def _start_channel(self, channel: ChannelConfig) -> None:
        factory = self.plugins.registry.channel_adapters.get(channel.adapter)
        if factory is None:
            log.error("channel.no_adapter", channel_id=channel.id, adapter=channel.adapter)
            return

        async def submit(raw_orders: list[bytes]) -> list[SubmitResult]:
            return await self.intake.submit(list(raw_orders), default_channel=channel.id)

        context = ChannelContext(
            channel_id=channel.id,
            options=dict(channel.options),
            submit=submit,
            clock=self.clock,
            log=log.bind(channel_id=channel.id),
            state=StoredPluginState(self.db, f"channel:{channel.id}", self.clock),
            updates=ChannelUpdates(self.db, channel.id),
            orders=ChannelOrderAccess(self.db, self.order_actions, channel.id),
        )
        await self._start_plugin_child(f"channel:{channel.id}", factory, context)

    async def _start_service(self, service: ServiceConfig) -> None:
        factory = self.plugins.registry.services.get(service.plugin)
        if factory is None:
            log.error("service.not_loaded", service_id=service.id, plugin=service.plugin)
            return
        context = ServiceContext(
            service_id=service.id,
            options=dict(service.options),
            clock=self.clock,
            log=log.bind(service_id=service.id),
        )
        await self._start_plugin_child(f"service:{service.id}", factory, context)

    async def _start_plugin_child(
        self, name: str, factory: Callable[[], Any], context: Any
    ) -> None:
        """Supervise a channel adapter or service: a fresh instance per incarnation."""

        async def run(ready: Ready) -> None:
            instance = factory()
            ready()
            await instance.run(context)

        await self.supervisor.start_child(ChildSpec(name, run), self._plugin_start_s)

    async def _watch_unserved_suppliers(self) -> None:
        """POs waiting for a supplier no actor will serve (disabled, removed from the config,
        adapter missing) are not left silently: the supplier shows `down` with the reason in
        `GET /suppliers` and the feed, which raises an alert."""
        waiting = await waiting_by_supplier(self.db)
        configured = {s.id: s for s in self.config.suppliers}
        for supplier_id, count in sorted(waiting.items()):
            supplier = configured.get(supplier_id)
            if supplier is None:
                reason = "not in the config"
                self.healths[supplier_id] = SupplierHealth(
                    supplier_id, self.clock, on_change=self._health_changed
                )
            elif not supplier.enabled:
                reason = "disabled in the config"
            else:
                continue  # served (or down for a missing adapter, reported when it starts)
            health = self.healths[supplier_id]
            health.queue_depth = count
            health.set_actor_down(True, f"{reason}; {count} purchase orders wait for it")
            log.error("supplier.unserved", supplier_id=supplier_id, reason=reason, waiting=count)

    # -- views ---------------------------------------------------------------------------------

    def supplier_views(self) -> Mapping[str, SupplierView]:
        """What routing may use right now. A disabled supplier is not offered at all; one whose
        actor is down (or has no adapter) is offered as a last resort, and its POs wait."""
        return {
            s.id: SupplierView(
                supplier_id=s.id,
                regions=tuple(s.regions),
                available=s.id in self.supplier_actors and self.healths[s.id].routable,
                score=self.healths[s.id].score,
            )
            for s in self.config.suppliers
            if s.enabled
        }

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        states = {s.name: s.state.value for s in self.supervisor.statuses()}
        core_running = all(states.get(name) == ChildState.RUNNING.value for name in CORE_ACTORS)
        ready = self.db.is_open and self.intake.accepting and core_running
        return ready, {
            "database": "open" if self.db.is_open else "closed",
            "intake": "open" if self.intake.accepting else "closed",
            "mqtt": "connected" if self.publisher.connected else "disconnected",
            "actors": states,
        }

    # -- events from parts ---------------------------------------------------------------------

    def _health_changed(self, supplier_id: str) -> None:
        self.bus.offer(HEALTH, SupplierHealthChanged(supplier_id))

    def _child_changed(self, status: ChildStatus) -> None:
        self.metrics.actor_down.labels(status.name).set(1 if status.state == ChildState.DOWN else 0)
        if status.state == ChildState.RESTARTING:
            self.metrics.actor_restarts.labels(status.name).inc()
        kind, _, name = status.name.partition(":")
        if kind == "supplier" and name in self.healths:
            down = status.state == ChildState.DOWN
            if down != self.healths[name].actor_down:
                self.healths[name].set_actor_down(down, status.last_error)

    # -- stop ----------------------------------------------------------------------------------

    async def stop(self) -> None:
        """Stop in the reverse order of start; safe to call on a half-started gateway."""
        grace = self.config.gateway.shutdown_grace_s
        deadline = self.clock.monotonic() + grace
        self.intake.accepting = False
        self.stopping.set()
        log.info("gateway.stopping", grace_s=grace)
        for status in reversed(self.supervisor.statuses()):
            if status.name.startswith("channel:"):
                await self.supervisor.stop_child(status.name)
        await asyncio.gather(
            *(
                actor.quiesce(deadline - self.clock.monotonic())
                for actor in self.supplier_actors.values()
            )
        )
        for status in reversed(self.supervisor.statuses()):
            if status.name != "publisher":
                await self.supervisor.stop_child(status.name)
        publisher = self.supervisor.status("publisher")
        flushed = False
        if publisher is not None and publisher.state == ChildState.RUNNING:
            flushed = await self.publisher.flush(max(1.0, deadline - self.clock.monotonic()))
        await self.supervisor.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._broker is not None:
            await self._broker.stop()
            self._broker = None
        try:
            await self.audit.flush()  # what the last requests did, before the store closes
        except Exception as error:
            log.error("audit.flush_failed", error=str(error), lost=self.audit.pending)
        with contextlib.suppress(Exception):
            await self.db.close()
        log.info("gateway.stopped", feed_flushed=flushed)
