"""Order intake shared by every way in (HTTP, channel adapters): validate each order, store the
valid ones in one transaction, tell the router after the commit."""

from __future__ import annotations

import asyncio

import msgspec
import structlog

from gateway.actors.bus import ROUTER, Bus, OrdersAccepted
from gateway.domain.intake import InvalidJson, decode_order, normalise
from gateway.domain.model import Order
from gateway.domain.validation import Problem, ValidationFailed
from gateway.infra.clock import Clock
from gateway.infra.metrics import Metrics
from gateway.plugin_api.adapters import IntakeBusy, SubmitResult
from gateway.store.codec import new_id
from gateway.store.db import Database
from gateway.store.intake import store_orders

log = structlog.get_logger(__name__)

# Longest stretch of validation between two yields to the event loop, and the pause after
# each: a real one, not a bare yield, so that the store's writer thread gets the GIL too (a
# bare yield hands it over only every sys.getswitchinterval(), 5 ms, per step of the writer:
# a single order waited half a second behind a junk batch). A large batch pays for it in time.
VALIDATION_SLICE_S = 0.001
VALIDATION_PAUSE_S = 0.0005


class IntakeClosed(RuntimeError):
    """The gateway is shutting down and takes no new orders."""


# How long a client told to come back later (429) should wait.
BUSY_RETRY_AFTER_S = 1.0


class IntakeService:
    def __init__(
        self, db: Database, bus: Bus, clock: Clock, metrics: Metrics, max_pending: int = 10_000
    ) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock
        self._metrics = metrics
        self._max_pending = max_pending
        self.accepting = True

    async def submit(
        self, raw_orders: list[bytes | msgspec.Raw], default_channel: str = "api"
    ) -> list[SubmitResult]:
        """Validate and store orders; one result per input, in input order.

        Returns once every valid order is committed. Raises IntakeClosed while shutting down, and
        IntakeBusy when the store is behind: more orders wait for their commit than
        `intake_max_pending` allows (one batch alone always gets in, however large).
        """
        if not self.accepting:
            raise IntakeClosed("the gateway is shutting down")
        waiting = self._db.waiting_units
        if waiting and waiting + len(raw_orders) > self._max_pending:
            self._metrics.intake_busy.inc()
            raise IntakeBusy(BUSY_RETRY_AFTER_S)
        now = self._clock.now()
        results: list[SubmitResult | None] = [None] * len(raw_orders)
        valid: list[tuple[int, Order]] = []
        loop = asyncio.get_running_loop()
        slice_started = loop.time()
        for index, raw in enumerate(raw_orders):
            # A large batch is validated in slices, yielding between them, so that the loop
            # keeps serving other clients (and the MQTT link) while it is judged.
            if loop.time() - slice_started > VALIDATION_SLICE_S:
                await asyncio.sleep(VALIDATION_PAUSE_S)
                slice_started = loop.time()
            try:
                intake = decode_order(raw)
            except ValidationFailed as failed:
                results[index] = _rejected(failed.external_id, failed.problems)
                continue
            except InvalidJson as error:
                results[index] = _rejected(None, [Problem((), f"not valid JSON: {error}")])
                continue
            order = normalise(
                intake, order_id=new_id("ord"), received_at=now, default_channel=default_channel
            )
            valid.append((index, order))
        if valid:
            stored = await store_orders(
                self._db, [order for _, order in valid], now, on_commit=self._tell_router
            )
            for (index, order), outcome in zip(valid, stored, strict=True):
                results[index] = SubmitResult(
                    external_id=order.external_id,
                    order_id=outcome.order_id,
                    duplicate=outcome.duplicate,
                )
                self._metrics.orders_received.labels(
                    order.channel, "duplicate" if outcome.duplicate else "accepted"
                ).inc()
                if not outcome.duplicate:
                    log.info(
                        "order.accepted",
                        order_id=outcome.order_id,
                        external_id=order.external_id,
                        channel=order.channel,
                    )
        final = [r for r in results if r is not None]
        for result in final:
            if not result.accepted:
                self._metrics.orders_received.labels(default_channel, "rejected").inc()
        return final

    def _tell_router(self, order_ids: list[str]) -> None:
        self._bus.offer(ROUTER, OrdersAccepted(tuple(order_ids)))


def _rejected(external_id: str | None, problems: list[Problem]) -> SubmitResult:
    return SubmitResult(
        external_id=external_id,
        problems=tuple((p.json_path(), p.message) for p in problems),
    )
