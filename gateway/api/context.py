"""What the HTTP handlers may use. Handlers stay thin: they parse, call the core, answer."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from gateway.clock import Clock
from gateway.config import SupplierConfig
from gateway.intake_service import IntakeService
from gateway.metrics import Metrics
from gateway.store.db import Database
from gateway.supplier_health import SupplierHealth

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


CONTEXT = web.AppKey("context", ApiContext)


def context(request: web.Request) -> ApiContext:
    return request.app[CONTEXT]
