"""Suppliers on the Example Feed API: a PO is posted and taken in (202), and the supplier's
answer (confirmed, declined, dispatched) comes later on an event feed that the gateway polls.

    POST /v2/orders                  {"your_ref", "priority", "deliver_to", "items": [...]}
    POST /v2/orders/{your_ref}/cancel
    GET  /v2/orders/{your_ref}       {"order_no", "state", "parcels": [...]}
    GET  /v2/stock                   {"stock": [{"code", "on_hand"}]}
    GET  /v2/events?after=SEQ        {"events": [...], "last_seq": SEQ}

Every request carries the account's key in `X-Api-Key`. Errors are `{"error": {"code", "text"}}`.
The supplier deduplicates on `your_ref`, which is the gateway's po_id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import aiohttp
import msgspec

from gateway.plugin_api import (
    OptionProblem,
    PluginState,
    PoAcknowledged,
    PoRefused,
    PoShipment,
    PurchaseOrderReport,
    PurchaseOrderRequest,
    ReportBatch,
    ReportProblem,
    ShipmentReport,
    StockLevel,
    Submitted,
    SupplierContext,
    SupplierFailed,
    SupplierRejected,
    SupplierReport,
    SupplierUnavailable,
    retry_after_seconds,
)

CURSOR_KEY = "events.after"  # in ctx.state: the last event recorded by the gateway

# The supplier's refusal codes, in the gateway's words (short, stable, the same for every adapter).
REASONS = {
    "OUT_OF_STOCK": "out_of_stock",
    "UNKNOWN_ITEM": "unknown_sku",
    "UNDELIVERABLE": "bad_address",
}
# The supplier's order states, in the gateway's PO statuses.
STATES = {
    "RECEIVED": "sent",
    "CONFIRMED": "accepted",
    "DECLINED": "rejected",
    "PART_DISPATCHED": "partially_shipped",
    "DISPATCHED": "shipped",
    "DELIVERED": "delivered",
    "CANCELLED": "cancelled",
}


class _Error(msgspec.Struct):
    code: str = ""
    text: str = ""


class _Answer(msgspec.Struct):
    order_no: str | None = None
    error: _Error | None = None


class _Item(msgspec.Struct):
    code: str
    qty: int


class _Parcel(msgspec.Struct):
    courier: str
    waybill: str
    dispatched_at: datetime | None = None
    items: list[_Item] = []


class _Order(msgspec.Struct):
    state: str
    order_no: str | None = None
    parcels: list[_Parcel] = []


class _StockEntry(msgspec.Struct):
    code: str
    on_hand: int


class _Stock(msgspec.Struct):
    stock: list[_StockEntry]


class _Event(msgspec.Struct):
    seq: int
    kind: str
    your_ref: str
    order_no: str | None = None
    reason_code: str | None = None
    text: str = ""
    parcel: _Parcel | None = None


class _Feed(msgspec.Struct):
    events: list[msgspec.Raw]
    last_seq: int | None = None


_answer = msgspec.json.Decoder(_Answer)
_order = msgspec.json.Decoder(_Order)
_stock = msgspec.json.Decoder(_Stock)
_feed = msgspec.json.Decoder(_Feed)
_event = msgspec.json.Decoder(_Event)
_encoder = msgspec.json.Encoder(decimal_format="string")


def check_options(options: dict[str, Any]) -> list[OptionProblem]:
    """`run.py check` reports a missing key before anything starts."""
    if not isinstance(options.get("api_key"), str) or not options["api_key"]:
        return [OptionProblem(("api_key",), "the account's API key is required (env:NAME works)")]
    return []


def _error(body: bytes) -> _Error:
    try:
        return _answer.decode(body).error or _Error()
    except msgspec.DecodeError:  # also msgspec.ValidationError
        return _Error()


def _lines(items: list[_Item]) -> tuple[tuple[str, int], ...]:
    return tuple((item.code, item.qty) for item in items)


class FeedSupplier:
    """A ReportingSupplierAdapter. One instance per supplier actor incarnation."""

    def __init__(self, ctx: SupplierContext) -> None:
        if ctx.state is None:
            raise ValueError("example_feed keeps its feed position in ctx.state")
        self._ctx = ctx
        self._state: PluginState = ctx.state
        self._base = ctx.url.rstrip("/")
        self._api_key = str(ctx.options.get("api_key", ""))
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._ctx.timeout_s),
            connector=aiohttp.TCPConnector(limit=self._ctx.max_in_flight),
            headers={"X-Api-Key": self._api_key, "Accept": "application/json"},
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _call(
        self, method: str, path: str, body: bytes | None = None
    ) -> tuple[int, bytes, str | None]:
        """One request. Anything the network does is SupplierUnavailable; never retried here."""
        if self._session is None:
            raise RuntimeError("adapter used before start()")
        headers = {"Content-Type": "application/json"} if body is not None else None
        try:
            async with self._session.request(
                method, self._base + path, data=body, headers=headers
            ) as response:
                return response.status, await response.read(), response.headers.get("Retry-After")
        except TimeoutError:
            raise SupplierUnavailable(f"no answer within {self._ctx.timeout_s:g} s") from None
        except aiohttp.ClientError as error:
            raise SupplierUnavailable(f"{type(error).__name__}: {error}") from None

    def _failure(self, status: int, body: bytes, retry_after: str | None) -> Exception:
        """The exception for an answer that is not a success."""
        error = _error(body)
        if status in (408, 429) or status >= 500:
            return SupplierUnavailable(
                f"HTTP {status} {error.code}".strip(), retry_after_seconds(retry_after)
            )
        if status in (401, 403):
            return SupplierFailed("unauthorized", "the supplier refused the API key")
        return SupplierFailed(f"http_{status}", error.code)

    async def send_purchase_order(self, po: PurchaseOrderRequest) -> Submitted:
        return await self._send(po, test=False)

    async def send_test_purchase_order(self, po: PurchaseOrderRequest) -> Submitted:
        """The API's test orders (`"test": true`) are checked like any other and never shipped:
        `run.py supplier probe` uses them."""
        return await self._send(po, test=True)

    async def _send(self, po: PurchaseOrderRequest, test: bool) -> Submitted:
        ship_to = po.ship_to
        body = _encoder.encode(
            {
                "your_ref": po.po_id,  # the supplier deduplicates on it: our idempotency key
                "test": test,
                "priority": po.priority,
                "currency": po.currency,
                "deliver_to": {
                    "name": ship_to.name,
                    "phone": ship_to.phone,
                    "province": ship_to.province or ship_to.region,
                    "city": ship_to.city,
                    "district": ship_to.district,
                    "street": " ".join(p for p in (ship_to.address1, ship_to.address2) if p),
                    "postcode": ship_to.postal_code,
                },
                "items": [
                    {"code": line.sku, "qty": line.quantity, "price": line.unit_cost}
                    for line in po.lines
                ],
            }
        )
        status, raw, retry_after = await self._call("POST", "/v2/orders", body)
        if status in (200, 202):  # 200: it already had this your_ref
            try:
                return Submitted(_answer.decode(raw).order_no)
            except msgspec.DecodeError:
                raise SupplierUnavailable("unreadable answer to a new order") from None
        if status in (400, 409, 422):
            error = _error(raw)
            if error.code in REASONS:
                raise SupplierRejected(REASONS[error.code], error.text)
        raise self._failure(status, raw, retry_after)

    async def cancel_purchase_order(self, po_id: str) -> None:
        status, raw, retry_after = await self._call("POST", f"/v2/orders/{po_id}/cancel")
        if status in (200, 404):  # 404: it never had it; nothing to cancel
            return
        if status == 409:
            raise SupplierFailed("already_shipped", _error(raw).text)
        raise self._failure(status, raw, retry_after)

    async def fetch_purchase_order(self, po_id: str) -> PurchaseOrderReport | None:
        status, raw, retry_after = await self._call("GET", f"/v2/orders/{po_id}")
        if status == 404:
            return None
        if status != 200:
            raise self._failure(status, raw, retry_after)
        try:
            order = _order.decode(raw)
        except msgspec.DecodeError as error:
            raise SupplierUnavailable(f"unreadable order state: {error}") from None
        if order.state not in STATES:
            raise SupplierUnavailable(f"unknown order state {order.state!r}")
        return PurchaseOrderReport(
            status=STATES[order.state],
            supplier_ref=order.order_no,
            shipments=tuple(
                ShipmentReport(
                    carrier=p.courier,
                    tracking_number=p.waybill,
                    shipped_at=p.dispatched_at,
                    lines=_lines(p.items),
                )
                for p in order.parcels
            ),
        )

    async def fetch_inventory(self) -> list[StockLevel]:
        status, raw, retry_after = await self._call("GET", "/v2/stock")
        if status != 200:
            raise self._failure(status, raw, retry_after)
        try:
            stock = _stock.decode(raw)
        except msgspec.DecodeError as error:
            raise SupplierUnavailable(f"unreadable stock list: {error}") from None
        return [StockLevel(entry.code, entry.on_hand) for entry in stock.stock]

    # -- reports: the event feed ---------------------------------------------------------------

    async def collect_reports(self) -> ReportBatch:
        """The events after the last confirmed one. Nothing is consumed here: the position moves
        in confirm_reports, once the gateway has recorded the batch."""
        after = await self._state.get(CURSOR_KEY) or "0"
        status, raw, retry_after = await self._call("GET", f"/v2/events?after={after}")
        if status != 200:
            raise self._failure(status, raw, retry_after)
        try:
            feed = _feed.decode(raw)
        except msgspec.DecodeError as error:
            raise SupplierUnavailable(f"unreadable event feed: {error}") from None
        reports: list[SupplierReport] = []
        problems: list[ReportProblem] = []
        for number, event_raw in enumerate(feed.events, start=1):
            try:
                event = _event.decode(event_raw)
                reports.append(self._report(event))
            except (msgspec.DecodeError, ValueError) as error:
                problems.append(
                    ReportProblem(
                        source=f"event feed after {after}", line=number, message=str(error)
                    )
                )
        receipt = feed.last_seq if feed.events else None
        return ReportBatch(reports=tuple(reports), problems=tuple(problems), receipt=receipt)

    async def confirm_reports(self, receipt: Any) -> None:
        if receipt is not None:
            await self._state.set(CURSOR_KEY, str(receipt))

    @staticmethod
    def _report(event: _Event) -> SupplierReport:
        if event.kind == "confirmed":
            return PoAcknowledged(po_id=event.your_ref, supplier_ref=event.order_no)
        if event.kind == "declined":
            code = event.reason_code or ""
            return PoRefused(
                po_id=event.your_ref,
                reason=REASONS.get(code, code.lower() or "declined"),
                message=event.text,
            )
        if event.kind == "dispatched":
            if event.parcel is None:
                raise ValueError(f"event {event.seq}: a dispatch without its parcel")
            return PoShipment(
                po_id=event.your_ref,
                carrier=event.parcel.courier,
                tracking_number=event.parcel.waybill,
                shipped_at=event.parcel.dispatched_at,
                lines=_lines(event.parcel.items),
            )
        raise ValueError(f"event {event.seq}: unknown kind {event.kind!r}")
