"""What the HTTP handlers may use. Handlers stay thin: they parse, call the core, answer."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from gateway.actors.intake import IntakeService
from gateway.actors.order_actions import OrderActions
from gateway.actors.supplier_health import SupplierHealth
from gateway.infra.clock import Clock
from gateway.infra.config import HttpSection, KpiSection, SupplierConfig
from gateway.infra.logs import LogThrottle
from gateway.infra.metrics import Metrics
from gateway.plugin_api.registry import PluginInfo
from gateway.store.db import Database

Readiness = Callable[[], tuple[bool, dict[str, Any]]]


@dataclass(frozen=True)
class ApiContext:
    db: Database
    intake: IntakeService
    suppliers: Mapping[str, SupplierConfig]
    healths: Mapping[str, SupplierHealth]
    clock: Clock
    metrics: Metrics
    readiness: Readiness
    max_body: int
    order_actions: OrderActions
    plugins: Sequence[PluginInfo] = ()  # as loaded at start-up, failures included
    http: HttpSection = field(default_factory=HttpSection)
    # Bad notice signatures: logged once a minute per supplier, however many arrive.
    signature_log: LogThrottle = field(default_factory=LogThrottle)
    kpis: KpiSection = field(default_factory=KpiSection)  # issue 9: KPI definitions


CONTEXT = web.AppKey("context", ApiContext)


def context(request: web.Request) -> ApiContext:
    return request.app[CONTEXT]
