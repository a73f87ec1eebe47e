"""`HttpCounterpart`: a supplier's HTTP API on 127.0.0.1 that the conformance kit scripts.

Out of the box it speaks the protocol of the built-in `http_json` adapter (CONTRACT §5). For
another dialect, subclass it and override what differs: `routes` (which request is which
operation), `read_purchase_order` (how the supplier reads a PO out of a request) and `render`
(how the supplier says each answer). Silence, dropped connections and bytes that are not HTTP at
all are the base class's job.
"""

from __future__ import annotations

import asyncio
import collections
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiohttp import web

from gateway.testing.answers import (
    AlreadyHave,
    Answer,
    Busy,
    CannotExpress,
    Confirmed,
    Garbled,
    Hangup,
    NoAnswer,
    NotAllowed,
    Operation,
    ReceivedPo,
    Refuse,
    Report,
    Status,
    Stock,
    Take,
    UnknownPo,
)

# Not HTTP: what a broken proxy or a half-written answer puts on the wire.
_NOT_HTTP = b"HTTP/1.1 2x0 Fine\r\nContent-Length: zz\r\n\r\n\x00\x01"


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # aiohttp route syntax: `/purchase-orders/{po_id}`
    operation: Operation


@dataclass(frozen=True)
class HttpRequest:
    """A request as the counterpart received it."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    match_info: Mapping[str, str]
    query: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class HttpAnswer:
    """What the counterpart answers: a status, a body (bytes, or anything JSON-encodable), and
    headers."""

    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


class HttpCounterpart:
    """A `SupplierCounterpart` over HTTP, speaking CONTRACT §5 unless a subclass says otherwise."""

    routes: ClassVar[tuple[Route, ...]] = (
        Route("POST", "/purchase-orders", Operation.SEND),
        Route("DELETE", "/purchase-orders/{po_id}", Operation.CANCEL),
        Route("GET", "/purchase-orders/{po_id}", Operation.STATUS),
        Route("GET", "/inventory", Operation.INVENTORY),
    )

    def __init__(self) -> None:
        self.requests: list[HttpRequest] = []
        self._received: list[ReceivedPo] = []
        self._cancelled: list[str] = []
        self._scripts: dict[tuple[Operation, str | None], collections.deque[Answer]] = (
            collections.defaultdict(collections.deque)
        )
        self._calls: collections.Counter[Operation] = collections.Counter()
        self._call_arrived = asyncio.Condition()
        self._released = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._url = ""

    # -- the dialect: override these for another supplier protocol -------------------------------

    def read_purchase_order(self, request: HttpRequest) -> ReceivedPo:
        """The PO of a send request, as the supplier reads it. §5: a JSON body with `po_id` and
        `lines` of `{sku, quantity}`, the idempotency key in the `Idempotency-Key` header."""
        body = request.json()
        return ReceivedPo(
            po_id=str(body["po_id"]),
            idempotency_key=request.headers.get("Idempotency-Key"),
            lines=tuple((str(line["sku"]), int(line["quantity"])) for line in body["lines"]),
        )

    def po_id_of(self, operation: Operation, request: HttpRequest) -> str | None:
        """Which PO a cancel or status request is about (§5: the `{po_id}` of its path)."""
        return request.match_info.get("po_id")

    def render(self, operation: Operation, answer: Answer, po_id: str | None) -> HttpAnswer:
        """`answer` to a call of `operation`, in the dialect (here §5). Raise CannotExpress for
        an answer the dialect cannot give."""
        match operation, answer:
            case Operation.SEND, Take(supplier_ref=ref):
                return HttpAnswer(201, {"supplier_ref": ref} if ref else {})
            case Operation.SEND, AlreadyHave(supplier_ref=ref):
                return HttpAnswer(409, {"supplier_ref": ref} if ref else {"message": "duplicate"})
            case Operation.SEND, Refuse(reason=reason, message=message):
                return HttpAnswer(422, {"reason": reason, "message": message})
            case _, Busy(retry_after_s=None):
                return HttpAnswer(503, {"message": "busy"})
            case _, Busy(retry_after_s=seconds):
                return HttpAnswer(429, {"message": "slow down"}, {"Retry-After": f"{seconds:.0f}"})
            case _, NotAllowed():
                return HttpAnswer(401, {"message": "bad credentials"})
            case Operation.CANCEL, Confirmed():
                return HttpAnswer(204)
            case Operation.CANCEL | Operation.STATUS, UnknownPo():
                return HttpAnswer(404, {"message": "no such purchase order"})
            case Operation.STATUS, Status():
                return HttpAnswer(200, _status_body(answer))
            case Operation.INVENTORY, Stock(levels=levels):
                return HttpAnswer(200, [{"sku": s, "available": n} for s, n in levels.items()])
        raise CannotExpress(f"{type(answer).__name__} is not an answer to {operation.value}")

    def garbled(self, operation: Operation) -> HttpAnswer | None:
        """An unreadable answer to `operation`; None puts bytes that are not HTTP on the wire.
        §5: a send is answered by its status code alone, so only non-HTTP is unreadable there;
        the other operations get a 200 whose body is cut off."""
        if operation == Operation.SEND:
            return None
        return HttpAnswer(200, b'{"status": "shipp', {"Content-Type": "application/json"})

    def authorize(self, request: HttpRequest) -> HttpAnswer | None:
        """The answer to a request that lacks its credentials, as the supplier gives it (a 401);
        None lets the request through. The default asks for nothing."""
        return None

    def add_routes(self, app: web.Application) -> None:
        """Serve more than the four operations (a report feed, a login endpoint)."""

    def default_answer(self, operation: Operation, po_id: str | None) -> Answer:
        """The answer when nothing is scripted."""
        defaults: dict[Operation, Answer] = {
            Operation.SEND: Take(f"SUP-{po_id}"),
            Operation.CANCEL: Confirmed(),
            Operation.STATUS: UnknownPo(),
            Operation.INVENTORY: Stock({}),
        }
        return defaults[operation]

    # -- SupplierCounterpart -------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        for route in self.routes:
            app.router.add_route(route.method, route.path, self._handler(route.operation))
        self.add_routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self._url = f"http://{host}:{port}"

    async def stop(self) -> None:
        self._released.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> HttpCounterpart:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    def url(self) -> str:
        return self._url

    def options(self) -> dict[str, Any]:
        return {}

    def script(self, operation: Operation, po_id: str | None, answer: Answer) -> None:
        if not isinstance(answer, NoAnswer | Garbled | Hangup):
            self.render(operation, answer, po_id)  # CannotExpress now, not in mid-call
        self._scripts[(operation, po_id)].append(answer)

    def publish(self, report: Report) -> None:
        raise CannotExpress("this HTTP dialect has no reports: the supplier answers each call")

    def received(self) -> list[ReceivedPo]:
        return list(self._received)

    def cancelled(self) -> list[str]:
        return list(self._cancelled)

    async def wait_for_call(self, operation: Operation, count: int = 1) -> None:
        async with self._call_arrived:
            await self._call_arrived.wait_for(lambda: self._calls[operation] >= count)

    # -- serving -------------------------------------------------------------------------------

    def _handler(self, operation: Operation) -> Any:
        async def handle(request: web.Request) -> web.StreamResponse:
            seen = HttpRequest(
                method=request.method,
                path=request.path,
                headers=dict(request.headers),
                body=await request.read(),
                match_info=dict(request.match_info),
                query=dict(request.query),
            )
            self.requests.append(seen)
            refused = self.authorize(seen)
            if refused is not None:
                return _response(refused)
            po_id = self._record(operation, seen)
            queue = self._scripts.get((operation, po_id))
            answer = queue.popleft() if queue else self.default_answer(operation, po_id)
            async with self._call_arrived:
                self._calls[operation] += 1
                self._call_arrived.notify_all()
            return await self._answer(request, operation, answer, po_id)

        return handle

    def _record(self, operation: Operation, request: HttpRequest) -> str | None:
        if operation == Operation.SEND:
            try:
                received = self.read_purchase_order(request)
            except (ValueError, KeyError, TypeError):
                return None  # not a PO at all; the kit sees it missing from received()
            self._received.append(received)
            return received.po_id
        po_id = self.po_id_of(operation, request)
        if operation == Operation.CANCEL and po_id is not None:
            self._cancelled.append(po_id)
        return po_id

    async def _answer(
        self, request: web.Request, operation: Operation, answer: Answer, po_id: str | None
    ) -> web.StreamResponse:
        if isinstance(answer, NoAnswer):
            await self._released.wait()
            return web.Response(status=503)
        if isinstance(answer, Hangup) or (
            isinstance(answer, Garbled) and self.garbled(operation) is None
        ):
            transport = request.transport
            if transport is not None:
                if isinstance(answer, Garbled):
                    transport.write(_NOT_HTTP)
                transport.close()
            return web.Response(status=500)  # never reaches the client: the connection is gone
        http = self.garbled(operation) if isinstance(answer, Garbled) else None
        return _response(http or self.render(operation, answer, po_id))


def _response(http: HttpAnswer) -> web.Response:
    body = http.body
    if body is not None and not isinstance(body, bytes):
        body = json.dumps(body).encode()
    headers = dict(http.headers)
    if body is not None:
        headers.setdefault("Content-Type", "application/json")
    return web.Response(status=http.status, body=body, headers=headers)


def _status_body(status: Status) -> dict[str, Any]:
    return {
        "status": status.status,
        "supplier_ref": status.supplier_ref,
        "shipments": [
            {
                "carrier": s.carrier,
                "tracking_number": s.tracking_number,
                "shipped_at": s.shipped_at.isoformat() if s.shipped_at else None,
                "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in s.lines],
            }
            for s in status.shipments
        ],
    }
