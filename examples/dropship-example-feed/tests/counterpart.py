"""The Example Feed API in miniature, for the gateway's conformance kit: the same routes, the same
answers and the same event feed as the real service, scripted by the kit."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from aiohttp import web
from dropship_example_feed.adapter import REASONS, STATES

from gateway.plugin_api import PoAcknowledged, PoRefused, PoShipment, ShipmentReport
from gateway.testing import (
    AlreadyHave,
    Answer,
    Busy,
    CannotExpress,
    Confirmed,
    HttpAnswer,
    HttpCounterpart,
    HttpRequest,
    Malformed,
    NotAllowed,
    Operation,
    ReceivedPo,
    Refuse,
    Report,
    Route,
    Status,
    Stock,
    Take,
    UnknownPo,
)

API_KEY = "test-key"
CODES = {reason: code for code, reason in REASONS.items()}
WORDS = {status: state for state, status in STATES.items()}


def _parcel(carrier: str, tracking: str, at: Any, lines: tuple[tuple[str, int], ...]) -> Any:
    return {
        "courier": carrier,
        "waybill": tracking,
        "dispatched_at": at.isoformat() if at else None,
        "items": [{"code": sku, "qty": qty} for sku, qty in lines],
    }


class FeedCounterpart(HttpCounterpart):
    routes: ClassVar[tuple[Route, ...]] = (
        Route("POST", "/v2/orders", Operation.SEND),
        Route("POST", "/v2/orders/{ref}/cancel", Operation.CANCEL),
        Route("GET", "/v2/orders/{ref}", Operation.STATUS),
        Route("GET", "/v2/stock", Operation.INVENTORY),
    )

    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict[str, Any]] = []

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/v2/events", self._events)

    async def _events(self, request: web.Request) -> web.Response:
        if request.headers.get("X-Api-Key") != API_KEY:
            return web.json_response({"error": {"code": "AUTH", "text": "bad key"}}, status=401)
        after = int(request.query.get("after", "0"))
        events = [e for e in self.events if e["seq"] > after]
        last = events[-1]["seq"] if events else after
        return web.json_response({"events": events, "last_seq": last})

    def read_purchase_order(self, request: HttpRequest) -> ReceivedPo:
        body = request.json()
        return ReceivedPo(
            po_id=body["your_ref"],
            idempotency_key=body["your_ref"],  # the supplier deduplicates on your_ref
            lines=tuple((item["code"], int(item["qty"])) for item in body["items"]),
        )

    def po_id_of(self, operation: Operation, request: HttpRequest) -> str | None:
        return request.match_info.get("ref")

    def render(self, operation: Operation, answer: Answer, po_id: str | None) -> HttpAnswer:
        match operation, answer:
            case Operation.SEND, Take(supplier_ref=ref):
                return HttpAnswer(202, {"order_no": ref or f"N-{po_id}"})
            case Operation.SEND, AlreadyHave(supplier_ref=ref):
                return HttpAnswer(200, {"order_no": ref or f"N-{po_id}", "duplicate": True})
            case Operation.SEND, Refuse(reason=reason, message=text):
                if reason not in CODES:
                    raise CannotExpress(f"the API has no refusal code for {reason!r}")
                return HttpAnswer(400, {"error": {"code": CODES[reason], "text": text}})
            case _, Busy(retry_after_s=seconds):
                headers = {"Retry-After": f"{seconds:.0f}"} if seconds else {}
                return HttpAnswer(503, {"error": {"code": "BUSY", "text": ""}}, headers)
            case _, NotAllowed():
                return HttpAnswer(401, {"error": {"code": "AUTH", "text": "bad key"}})
            case Operation.CANCEL, Confirmed():
                return HttpAnswer(200, {"cancelled": True})
            case Operation.CANCEL | Operation.STATUS, UnknownPo():
                return HttpAnswer(404, {"error": {"code": "NOT_FOUND", "text": ""}})
            case Operation.STATUS, Status(status=status, supplier_ref=ref, shipments=parcels):
                if status not in WORDS:
                    raise CannotExpress(f"the API has no order state for {status!r}")
                return HttpAnswer(
                    200,
                    {
                        "state": WORDS[status],
                        "order_no": ref,
                        "parcels": [
                            _parcel(p.carrier, p.tracking_number, p.shipped_at, p.lines)
                            for p in parcels
                        ],
                    },
                )
            case Operation.INVENTORY, Stock(levels=levels):
                return HttpAnswer(
                    200, {"stock": [{"code": c, "on_hand": n} for c, n in levels.items()]}
                )
        raise CannotExpress(f"{type(answer).__name__} is not an answer to {operation.value}")

    def publish(self, report: Report) -> None:
        seq = len(self.events) + 1
        match report:
            case PoAcknowledged(po_id=po_id, supplier_ref=ref):
                event = {"kind": "confirmed", "your_ref": po_id, "order_no": ref}
            case PoRefused(po_id=po_id, reason=reason, message=text):
                event = {"kind": "declined", "your_ref": po_id, "reason_code": CODES[reason]}
                event["text"] = text
            case PoShipment():
                shipment = ShipmentReport(
                    carrier=report.carrier,
                    tracking_number=report.tracking_number,
                    shipped_at=report.shipped_at,
                    lines=report.lines,
                )
                event = {
                    "kind": "dispatched",
                    "your_ref": report.po_id,
                    "parcel": _parcel(
                        shipment.carrier,
                        shipment.tracking_number,
                        shipment.shipped_at,
                        shipment.lines,
                    ),
                }
            case Malformed(po_id=po_id):
                event = {"kind": "dispatched", "your_ref": po_id}  # the parcel is missing
        self.events.append({"seq": seq, **event})

    def garbled(self, operation: Operation) -> HttpAnswer | None:
        if operation == Operation.SEND:
            return HttpAnswer(202, b"<html>Bad Gateway</html>", {"Content-Type": "text/html"})
        return HttpAnswer(200, json.dumps({"unexpected": True}).encode())
