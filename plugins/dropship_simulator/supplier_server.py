"""A supplier's order system, simulated over real HTTP on 127.0.0.1.

It is the stand-in supplier of the demo and of the end-to-end tests, so it speaks CONTRACT §5
exactly and gives every awkward answer a real supplier gives: a 409 for a PO it already has, a
422 with a reason, a 429 with ``Retry-After``, a 500 before doing anything, and a request that
hangs and is still processed after the client gave up waiting (the case that makes idempotency
keys necessary). See `dropship_simulator.protocol` for the wire format.

Three properties make it usable as a test oracle:

- deterministic when seeded: every random choice draws from one ``random.Random(seed)``;
- observable: `received` (every POST attempt and its answer), `orders`, `created_count`,
  `requests`, `deliveries`;
- waitable without sleeping: ``await sim.wait_for_orders(3)`` and friends wake on each change.

It owns every task it starts (auto-shipping, hang timers) and cancels them on `stop`, and it
uses one ClientSession for its shipment notices, closed on `stop`.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import random
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import aiohttp
import msgspec
import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from dropship_simulator import protocol
from gateway.domain.regions import UnknownRegion, region_code, region_covered

log = structlog.get_logger(__name__)

DEFAULT_CARRIERS = ("SF", "YTO", "ZTO", "JD")

SpanLike = float | Sequence[float] | None
"""A duration as config gives it: a fixed value (``50``) or a uniform range (``[20, 60]``)."""


@dataclass(frozen=True)
class Span:
    low: float
    high: float

    @classmethod
    def of(cls, value: SpanLike) -> Span:
        if value is None:
            return cls(0.0, 0.0)
        if isinstance(value, int | float):
            low = high = float(value)
        elif len(value) == 2:
            low, high = float(value[0]), float(value[1])
        else:
            raise ValueError(f"expected a number or [min, max], got {value!r}")
        if low < 0 or high < low:
            raise ValueError(f"expected 0 <= min <= max, got {value!r}")
        return cls(low, high)

    def draw(self, rng: random.Random) -> float:
        return self.low if self.low == self.high else rng.uniform(self.low, self.high)


@dataclass(frozen=True)
class Scripted:
    """One forced answer to a POST attempt. A 2xx means "handle this attempt normally", so a
    script such as ``[500, 500, 201]`` reads as what the client will see."""

    status: int
    reason: str | None = None  # for 422; default out_of_stock
    retry_after: int | None = None  # for 429; default the simulator's retry_after_s
    message: str | None = None  # for 422: the supplier's own words


@dataclass
class Attempt:
    """One ``POST /purchase-orders`` as received, and what it was answered."""

    idempotency_key: str | None
    po_id: str | None  # from the body, when it parses
    status: int | None = None  # None while the request is held (hang) or being delayed
    reason: str | None = None  # the 4xx/5xx body's reason


@dataclass
class SupplierOrder:
    """A PO as the supplier holds it."""

    po: protocol.PurchaseOrder
    body: dict[str, Any]  # the JSON as received
    supplier_ref: str
    status: protocol.PoState = "accepted"
    shipments: list[protocol.ShipmentNotice] = field(default_factory=list)

    def ordered(self) -> collections.Counter[str]:
        quantities: collections.Counter[str] = collections.Counter()
        for line in self.po.lines:
            quantities[line.sku] += line.quantity
        return quantities

    def unshipped(self) -> collections.Counter[str]:
        shipped: collections.Counter[str] = collections.Counter()
        for shipment in self.shipments:
            for line in shipment.lines:
                shipped[line.sku] += line.quantity
        return self.ordered() - shipped  # Counter subtraction keeps positive counts only


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    status: int


@dataclass(frozen=True)
class NoticeResponse:
    """The gateway's answer to one shipment notice."""

    status: int
    body: Any  # decoded JSON, or the text when it is not JSON
    notice: protocol.ShipmentNotice | None


@dataclass(frozen=True)
class Delivery:
    """The outcome of sending one shipment notice (after retries, for automatic ones)."""

    po_id: str | None
    tracking_number: str | None
    status: int | None  # None when the gateway could not be reached at all
    attempts: int


@dataclass(frozen=True)
class _Answer:
    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def reason(self) -> str | None:
        reason = self.body.get("reason") if isinstance(self.body, dict) else None
        return reason if isinstance(reason, str) else None

    def response(self) -> web.Response:
        return web.json_response(self.body, status=self.status, headers=self.headers)


def _error(status: int, reason: str, message: str) -> _Answer:
    return _Answer(status, {"reason": reason, "message": message})


def _throttled(retry_after: int) -> _Answer:
    return _Answer(
        429,
        {"reason": "throttled", "message": "too many requests", "retry_after": retry_after},
        {"Retry-After": str(retry_after)},
    )


_UNAVAILABLE = _error(503, "unavailable", "supplier shutting down")


class SupplierSimulator:
    """A supplier speaking CONTRACT §5 on ``http://127.0.0.1:<port>``.

    :param supplier_id: the id the gateway knows it by; used in the notice URL and in refs.
    :param port: 0 picks a free port; after the first start the same port is reused on restart.
    :param seed: seeds every random choice (``None``: not reproducible).
    :param latency_ms: delay before each answer, fixed or ``[min, max]``.
    :param failure_rate: fraction of POST attempts answered 500 before doing anything.
    :param throttle_rate: fraction of POST attempts answered 429 with ``Retry-After``.
    :param retry_after_s: the ``Retry-After`` given with 429s.
    :param skus: the catalog; a SKU outside it is refused (``unknown_sku``). ``None``: any SKU.
    :param stock: units available, per SKU (mapping) or for every SKU (int); a PO needing more
        is refused (``out_of_stock``) and an accepted PO takes its units. ``None``: unlimited.
    :param regions: region patterns it ships to (``CN-ZJ``, ``CN``, ``*``); a ship-to outside
        them is refused (``bad_address``). ``None``: everywhere.
    :param ship_after_s: ship each accepted PO this long after accepting it, fixed or
        ``[min, max]``. ``None``: only when told (`ship`, `record_shipment`).
    :param gateway_url: where shipment notices go (``{gateway_url}/api/v1/suppliers/{id}/
        shipments``). ``None``: shipments are only visible by polling ``GET``.
    :param webhook_secret: signs the notices (``X-Signature``) when set.
    :param api_token: sent as ``Authorization: Bearer`` with the notices when set (a
        ``supplier:<id>`` token of the gateway).
    """

    def __init__(
        self,
        supplier_id: str = "sim-supplier",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int | None = 0,
        latency_ms: SpanLike = None,
        failure_rate: float = 0.0,
        throttle_rate: float = 0.0,
        retry_after_s: int = 1,
        skus: Iterable[str] | None = None,
        stock: int | Mapping[str, int] | None = None,
        regions: Iterable[str] | None = None,
        ship_after_s: SpanLike = None,
        gateway_url: str | None = None,
        webhook_secret: str | None = None,
        api_token: str | None = None,
        carriers: Sequence[str] = DEFAULT_CARRIERS,
        notice_attempts: int = 5,
        notice_backoff_s: float = 0.5,
        notice_timeout_s: float = 10.0,
    ) -> None:
        if not (0 <= failure_rate <= 1 and 0 <= throttle_rate <= 1):
            raise ValueError("failure_rate and throttle_rate are fractions between 0 and 1")
        if not carriers:
            raise ValueError("carriers must not be empty")
        self.supplier_id = supplier_id
        self.host = host
        self.port = port
        self.failure_rate = failure_rate
        self.throttle_rate = throttle_rate
        self.retry_after_s = retry_after_s
        self.gateway_url = gateway_url.rstrip("/") if gateway_url else None
        self.webhook_secret = webhook_secret
        self.api_token = api_token
        self.carriers = tuple(carriers)
        self._rng = random.Random(seed)
        self._latency = Span.of(latency_ms)
        self._ship_after = Span.of(ship_after_s) if ship_after_s is not None else None
        self._regions = tuple(regions) if regions is not None else None
        self._notice_attempts = max(1, notice_attempts)
        self._notice_backoff_s = notice_backoff_s
        self._notice_timeout_s = notice_timeout_s
        self._catalog, self._inventory, self._default_stock = _stock_model(skus, stock)

        # What tests look at.
        self.received: list[Attempt] = []
        self.orders: dict[str, SupplierOrder] = {}
        self.requests: list[RequestRecord] = []
        self.deliveries: list[Delivery] = []
        self.internal_errors: list[BaseException] = []  # simulator bugs, never simulated faults
        self._creations: collections.Counter[str] = collections.Counter()

        self._scripts: dict[str, collections.deque[Scripted]] = collections.defaultdict(
            collections.deque
        )
        self._hang = False
        self._stalled = 0
        self._changed = asyncio.Event()
        self._refs = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._stopping = False

    # -- lifecycle -------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError(f"supplier simulator {self.supplier_id!r} is already running")
        self._stopping = False
        runner = web.AppRunner(self._build_app(), access_log=None, shutdown_timeout=5.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._notice_timeout_s)
        )
        # Parcels that were due while we were down still leave, as they would at a real supplier.
        for order in self.orders.values():
            if order.status == "accepted":
                self._schedule_shipping(order.po.po_id)
        log.info("supplier_sim.started", supplier_id=self.supplier_id, url=self.url)

    async def stop(self) -> None:
        """Stop answering (held requests get 503), cancel our tasks, close the session."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self._stopping = True
        self._notify()  # wakes held requests so the server can shut down
        await runner.cleanup()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
        log.info("supplier_sim.stopped", supplier_id=self.supplier_id)

    @property
    def url(self) -> str:
        if self.port == 0:
            raise RuntimeError("the port is chosen at start(): start the simulator first")
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._runner is not None

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._json_errors])
        app.router.add_post("/purchase-orders", self._handle_create)
        app.router.add_get("/purchase-orders/{po_id}", self._handle_get)
        app.router.add_delete("/purchase-orders/{po_id}", self._handle_cancel)
        app.router.add_get("/inventory", self._handle_inventory)
        return app

    # -- controls for tests and the demo ---------------------------------------------------------

    def script(self, po_id: str, responses: Iterable[int | Scripted]) -> None:
        """Force the answers to the next POST attempts for `po_id` (``"*"``: any PO), in order.
        Per-PO scripts go first, then ``"*"``, then the random failure rates."""
        self._scripts[po_id].extend(
            r if isinstance(r, Scripted) else Scripted(status=r) for r in responses
        )

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        self.script("*", [Scripted(status=status)] * n)

    def throttle_next(self, n: int = 1, retry_after: int = 1) -> None:
        self.script("*", [Scripted(status=429, retry_after=retry_after)] * n)

    def reject_next(self, reason: str = protocol.OUT_OF_STOCK, n: int = 1) -> None:
        self.script("*", [Scripted(status=422, reason=reason)] * n)

    def clear_scripts(self) -> None:
        self._scripts.clear()

    @property
    def hang(self) -> bool:
        """While True the server answers nothing. Held requests are processed once released,
        as a slow supplier would, even if the client has given up waiting meanwhile."""
        return self._hang

    @hang.setter
    def hang(self, value: bool) -> None:
        self._hang = value
        self._notify()

    def hang_until(self, event: asyncio.Event) -> None:
        self.hang = True
        self._spawn(self._release_after(event.wait), name=f"sim-{self.supplier_id}-hang")

    def hang_for(self, seconds: float) -> None:
        self.hang = True
        self._spawn(
            self._release_after(lambda: asyncio.sleep(seconds)), name=f"sim-{self.supplier_id}-hang"
        )

    async def _release_after(self, release: Callable[[], Awaitable[Any]]) -> None:
        try:
            await release()
        finally:
            self.hang = False  # also when stop() cancels us: a restarted server answers again

    @property
    def stalled(self) -> int:
        """How many requests the hang switch is holding right now."""
        return self._stalled

    @property
    def inventory(self) -> dict[str, int]:
        return dict(self._inventory)

    def set_stock(self, sku: str, available: int) -> None:
        self._inventory[sku] = available
        self._notify()

    def created_count(self, po_id: str) -> int:
        """How many times a PO was created here: 0 or 1, or the gateway broke idempotency."""
        return self._creations[po_id]

    # -- waiting without sleeping ----------------------------------------------------------------

    # The waits take their own `timeout` (ASYNC109 prefers the caller's asyncio.timeout) so that
    # a test waiting on a broken gateway fails in seconds with a message saying what was
    # missing, not at the suite's timeout with none.

    async def wait_until(
        self,
        predicate: Callable[[], bool],
        timeout: float = 5.0,  # noqa: ASYNC109
        what: str = "condition",
    ) -> None:
        """Return once `predicate()` holds; it is checked again after every change of state."""
        try:
            async with asyncio.timeout(timeout):
                while not predicate():
                    await self._changed.wait()
        except TimeoutError:
            raise TimeoutError(f"{self.supplier_id}: no {what} within {timeout}s") from None

    async def wait_for_orders(self, n: int, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        await self.wait_until(lambda: len(self.orders) >= n, timeout, f"{n} orders")

    async def wait_for_attempts(self, n: int, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        await self.wait_until(lambda: len(self.received) >= n, timeout, f"{n} POST attempts")

    async def wait_for_deliveries(self, n: int, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        await self.wait_until(lambda: len(self.deliveries) >= n, timeout, f"{n} notices")

    def _notify(self) -> None:
        # A fresh Event per change: every waiter wakes, re-checks its predicate, and waits on
        # the next one. No polling, no lost wake-ups (the check and the wait share one step).
        self._changed.set()
        self._changed = asyncio.Event()

    # -- HTTP: what every request goes through ---------------------------------------------------

    @web.middleware
    async def _json_errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """JSON for every answer, aiohttp's own 404/405/413 included, and a record of it."""
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            reason = exc.reason.lower().replace(" ", "_")
            headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else {}
            answer = _Answer(exc.status, {"reason": reason, "message": exc.reason}, headers)
            response = answer.response()
        except Exception as exc:  # a bug in the simulator: kept visible, answered in JSON
            self.internal_errors.append(exc)
            log.exception("supplier_sim.bug", supplier_id=self.supplier_id, path=request.path)
            response = _error(500, "internal_error", "simulator bug, see its log").response()
        self.requests.append(RequestRecord(request.method, request.path, response.status))
        return response

    async def _stall(self) -> bool:
        """Hold the request while hung, then add the latency. False: we are shutting down."""
        if self._hang and not self._stopping:
            self._stalled += 1
            self._notify()  # a test may be waiting for the request to be held
            try:
                while self._hang and not self._stopping:
                    await self._changed.wait()
            finally:
                self._stalled -= 1
        if self._stopping:
            return False
        delay_s = self._latency.draw(self._rng) / 1000
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        return not self._stopping

    # -- POST /purchase-orders -------------------------------------------------------------------

    async def _handle_create(self, request: web.Request) -> web.Response:
        key = request.headers.get(protocol.IDEMPOTENCY_HEADER)
        raw = await request.read()
        attempt = Attempt(idempotency_key=key, po_id=_peek_po_id(raw))
        self.received.append(attempt)
        self._notify()
        answer = await self._answer_create(key, attempt.po_id, raw)
        attempt.status, attempt.reason = answer.status, answer.reason
        self._notify()
        return answer.response()

    async def _answer_create(self, key: str | None, po_id: str | None, raw: bytes) -> _Answer:
        if not await self._stall():
            return _UNAVAILABLE
        forced = self._next_scripted(key or po_id)
        if forced is not None:
            if not 200 <= forced.status < 300:
                return self._forced(forced)
        elif (fault := self._random_fault()) is not None:
            return fault
        # From here to the answer there is no await: check-and-create is atomic, so two
        # concurrent attempts with one po_id create it once.
        return self._accept_or_refuse(key, raw)

    def _next_scripted(self, po_id: str | None) -> Scripted | None:
        for name in (po_id, "*"):
            queue = self._scripts.get(name) if name is not None else None
            if queue:
                return queue.popleft()
        return None

    def _forced(self, scripted: Scripted) -> _Answer:
        if scripted.status == 429:
            return _throttled(scripted.retry_after or self.retry_after_s)
        if scripted.status == 422:
            reason = scripted.reason or protocol.OUT_OF_STOCK
            return _error(422, reason, scripted.message or f"scripted rejection: {reason}")
        if scripted.status == 409:  # "already have it", without a ref: the contract allows it
            return _Answer(409, {"message": "purchase order already received"})
        return _error(scripted.status, "simulated_failure", f"scripted {scripted.status}")

    def _random_fault(self) -> _Answer | None:
        if not (self.failure_rate or self.throttle_rate):
            return None  # no draw, so turning faults off does not shift the random sequence
        roll = self._rng.random()
        if roll < self.failure_rate:
            return _error(500, "internal_error", "simulated failure")
        if roll < self.failure_rate + self.throttle_rate:
            return _throttled(self.retry_after_s)
        return None

    def _accept_or_refuse(self, key: str | None, raw: bytes) -> _Answer:
        if not key:
            return _error(400, "missing_idempotency_key", "Idempotency-Key header is required")
        try:
            po = protocol.decode_purchase_order(raw)
        except msgspec.DecodeError as exc:
            return _error(400, "invalid_request", str(exc))
        if key != po.po_id:
            return _error(400, "idempotency_key_mismatch", "Idempotency-Key must equal po_id")
        existing = self.orders.get(po.po_id)
        if existing is not None:
            return _Answer(
                409,
                {
                    "supplier_ref": existing.supplier_ref,
                    "message": "purchase order already received",
                },
            )
        refusal = self._refusal(po)
        if refusal is not None:
            reason, message = refusal
            log.info(
                "supplier_sim.po_refused",
                supplier_id=self.supplier_id,
                po_id=po.po_id,
                reason=reason,
            )
            return _error(422, reason, message)
        order = self._create(po, raw)
        return _Answer(201, {"supplier_ref": order.supplier_ref})

    def _refusal(self, po: protocol.PurchaseOrder) -> tuple[str, str] | None:
        """Why this supplier cannot take the PO, checked in the order a real one would."""
        quantities = collections.Counter[str]()
        for line in po.lines:
            quantities[line.sku] += line.quantity
        if self._catalog is not None:
            unknown = sorted(sku for sku in quantities if sku not in self._catalog)
            if unknown:
                return protocol.UNKNOWN_SKU, f"not in our catalog: {', '.join(unknown)}"
        if self._regions is not None and not self._ships_to(po.ship_to):
            return protocol.BAD_ADDRESS, "we do not deliver to this region"
        short = sorted(
            sku
            for sku, quantity in quantities.items()
            if (available := self._available(sku)) is not None and available < quantity
        )
        if short:
            return protocol.OUT_OF_STOCK, f"not enough stock of: {', '.join(short)}"
        return None

    def _ships_to(self, ship_to: protocol.ShipTo) -> bool:
        assert self._regions is not None
        try:
            region = ship_to.region or region_code(ship_to.country, ship_to.province)
        except UnknownRegion:
            return False
        return region_covered(region, self._regions)

    def _available(self, sku: str) -> int | None:
        """Units on hand, or None when this SKU's stock is not tracked (unlimited)."""
        return self._inventory.get(sku, self._default_stock)

    def _create(self, po: protocol.PurchaseOrder, raw: bytes) -> SupplierOrder:
        ref = f"{self.supplier_id.upper()}-{next(self._refs):06d}"
        order = SupplierOrder(po=po, body=msgspec.json.decode(raw), supplier_ref=ref)
        for sku, quantity in order.ordered().items():
            available = self._available(sku)
            if available is not None:
                self._inventory[sku] = available - quantity
        self.orders[po.po_id] = order
        self._creations[po.po_id] += 1
        self._schedule_shipping(po.po_id)
        self._notify()
        log.debug(
            "supplier_sim.po_created",
            supplier_id=self.supplier_id,
            po_id=po.po_id,
            supplier_ref=ref,
        )
        return order

    # -- GET / DELETE /purchase-orders/{po_id}, GET /inventory -----------------------------------

    async def _handle_get(self, request: web.Request) -> web.Response:
        if not await self._stall():
            return _UNAVAILABLE.response()
        order = self.orders.get(request.match_info["po_id"])
        if order is None:
            return _error(404, "not_found", "no such purchase order").response()
        state = protocol.PurchaseOrderState(
            po_id=order.po.po_id,
            status=order.status,
            supplier_ref=order.supplier_ref,
            shipments=[notice.shipment() for notice in order.shipments],
        )
        return _Answer(200, msgspec.to_builtins(state)).response()

    async def _handle_cancel(self, request: web.Request) -> web.Response:
        if not await self._stall():
            return _UNAVAILABLE.response()
        order = self.orders.get(request.match_info["po_id"])
        if order is None:
            return _error(404, "not_found", "no such purchase order").response()
        if order.shipments:
            return _error(409, "already_shipped", "parcels have left: cannot cancel").response()
        if order.status != "cancelled":  # cancelling twice is fine and changes nothing
            order.status = "cancelled"
            for sku, quantity in order.ordered().items():
                if sku in self._inventory:
                    self._inventory[sku] += quantity
            self._notify()
        body = {"po_id": order.po.po_id, "status": order.status, "supplier_ref": order.supplier_ref}
        return _Answer(200, body).response()

    async def _handle_inventory(self, request: web.Request) -> web.Response:
        if not await self._stall():
            return _UNAVAILABLE.response()
        entries = [protocol.StockEntry(sku, n) for sku, n in sorted(self._inventory.items())]
        return _Answer(200, msgspec.to_builtins(entries)).response()

    # -- shipping and shipment notices -----------------------------------------------------------

    def record_shipment(
        self,
        po_id: str,
        *,
        carrier: str | None = None,
        tracking_number: str | None = None,
        lines: Mapping[str, int] | None = None,
        shipped_at: datetime | None = None,
    ) -> protocol.ShipmentNotice:
        """Ship a parcel of an accepted PO (default: everything not shipped yet), without
        telling the gateway: a polling gateway sees it on ``GET /purchase-orders/{po_id}``."""
        order = self.orders.get(po_id)
        if order is None:
            raise LookupError(f"{self.supplier_id} has no purchase order {po_id!r}")
        if order.status == "cancelled":
            raise ValueError(f"purchase order {po_id!r} is cancelled")
        parcel = dict(lines) if lines is not None else dict(order.unshipped())
        if not parcel:
            raise ValueError(f"purchase order {po_id!r} has nothing left to ship")
        carrier = carrier or self._rng.choice(self.carriers)
        notice = protocol.ShipmentNotice(
            po_id=po_id,
            carrier=carrier,
            tracking_number=tracking_number or f"{carrier}{self._rng.randrange(10**11, 10**12)}",
            shipped_at=shipped_at or datetime.now(UTC).replace(microsecond=0),
            lines=tuple(protocol.ShippedLine(sku=s, quantity=q) for s, q in parcel.items()),
        )
        order.shipments.append(notice)
        order.status = "partially_shipped" if order.unshipped() else "shipped"
        self._notify()
        return notice

    async def ship(
        self,
        po_id: str,
        carrier: str = "SF",
        tracking_number: str | None = None,
        lines: Mapping[str, int] | None = None,
        shipped_at: datetime | None = None,
    ) -> NoticeResponse:
        """Ship a parcel and send its notice to the gateway once; the gateway's answer."""
        notice = self.record_shipment(
            po_id,
            carrier=carrier,
            tracking_number=tracking_number,
            lines=lines,
            shipped_at=shipped_at,
        )
        return await self.send_notice(notice)

    async def send_notice(
        self,
        notice: protocol.ShipmentNotice | Mapping[str, Any] | bytes,
        *,
        sign: bool = True,
        signature: str | None = None,
    ) -> NoticeResponse:
        """Send one notice as is (a struct, a dict, or raw bytes for malformed ones), signed
        with `webhook_secret` unless `sign` is False or `signature` overrides it."""
        body = notice if isinstance(notice, bytes) else msgspec.json.encode(notice)
        if signature is None and sign and self.webhook_secret is not None:
            signature = protocol.sign(body, self.webhook_secret)
        status, answer = await self._post_notice(body, signature)
        struct = notice if isinstance(notice, protocol.ShipmentNotice) else None
        self._record_delivery(struct, status, attempts=1)
        return NoticeResponse(status=status, body=answer, notice=struct)

    def _schedule_shipping(self, po_id: str) -> None:
        if self._ship_after is not None and not self._stopping:
            self._spawn(self._ship_later(po_id), name=f"sim-{self.supplier_id}-ship-{po_id}")

    async def _ship_later(self, po_id: str) -> None:
        assert self._ship_after is not None
        await asyncio.sleep(self._ship_after.draw(self._rng))
        if self.orders[po_id].status != "accepted":
            return  # cancelled meanwhile, or shipped by hand
        notice = self.record_shipment(po_id)
        if self.gateway_url is not None:
            await self._deliver(notice)

    async def _deliver(self, notice: protocol.ShipmentNotice) -> None:
        """Send a notice, retrying with backoff while the gateway is unreachable or answers
        429/5xx. A 4xx is final: sending the same bytes again would not change it."""
        body = msgspec.json.encode(notice)
        status: int | None = None
        attempt = 0
        for attempt in range(1, self._notice_attempts + 1):
            # Signed afresh for each attempt: the signature carries the time it was sent.
            signature = protocol.sign(body, self.webhook_secret) if self.webhook_secret else None
            try:
                status, _ = await self._post_notice(body, signature)
            except (aiohttp.ClientError, TimeoutError):
                status = None
            if status is not None and status < 500 and status != 429:
                break
            if attempt < self._notice_attempts:
                await asyncio.sleep(min(30.0, self._notice_backoff_s * 2 ** (attempt - 1)))
        self._record_delivery(notice, status, attempts=attempt)
        if status is None or status >= 300:  # logged once per notice, not once per attempt
            log.warning(
                "supplier_sim.notice_undelivered",
                supplier_id=self.supplier_id,
                po_id=notice.po_id,
                status=status,
                attempts=attempt,
            )

    async def _post_notice(self, body: bytes, signature: str | None) -> tuple[int, Any]:
        if self.gateway_url is None:
            raise RuntimeError(f"{self.supplier_id}: no gateway_url to send notices to")
        if self._session is None:
            raise RuntimeError(f"{self.supplier_id}: start the simulator before sending notices")
        url = f"{self.gateway_url}/api/v1/suppliers/{self.supplier_id}/shipments"
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers[protocol.SIGNATURE_HEADER] = signature
        if self.api_token is not None:
            headers["Authorization"] = f"Bearer {self.api_token}"
        async with self._session.post(url, data=body, headers=headers) as response:
            text = await response.text()
            return response.status, _json_or_text(text)

    def _record_delivery(
        self, notice: protocol.ShipmentNotice | None, status: int | None, attempts: int
    ) -> None:
        self.deliveries.append(
            Delivery(
                po_id=notice.po_id if notice else None,
                tracking_number=notice.tracking_number if notice else None,
                status=status,
                attempts=attempts,
            )
        )
        self._notify()

    # -- owned tasks -----------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)  # held until done; cancelled and awaited by stop()
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            self.internal_errors.append(error)
            log.error(
                "supplier_sim.task_failed",
                supplier_id=self.supplier_id,
                task=task.get_name(),
                exc_info=error,
            )


def _stock_model(
    skus: Iterable[str] | None, stock: int | Mapping[str, int] | None
) -> tuple[frozenset[str] | None, dict[str, int], int | None]:
    """(catalog, tracked inventory, stock of a SKU first seen) from the constructor's options."""
    catalog = frozenset(skus) if skus is not None else None
    if isinstance(stock, Mapping):
        inventory = {sku: int(n) for sku, n in stock.items()}
        if catalog is None:
            catalog = frozenset(inventory)
        for sku in catalog - inventory.keys():
            inventory[sku] = 0
        return catalog, inventory, None
    if stock is None:
        return catalog, {}, None
    if catalog is None:  # any SKU, each starting with `stock` units when first ordered
        return None, {}, stock
    return catalog, dict.fromkeys(catalog, stock), None


def _peek_po_id(raw: bytes) -> str | None:
    """The po_id of a body, if it has one, for the record of an attempt that may be malformed."""
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    po_id = value.get("po_id") if isinstance(value, dict) else None
    return po_id if isinstance(po_id, str) else None


def _json_or_text(text: str) -> Any:
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:
        return text
