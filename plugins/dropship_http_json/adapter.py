"""The `http_json` supplier adapter: the supplier protocol of CONTRACT §5.

One attempt per call; the supplier actor around it owns retries, the circuit and the cap on
requests in flight. This module only translates between our model and the supplier's HTTP
answers, and sorts those answers into accepted, rejected, failed or try-again-later.
"""

from __future__ import annotations

from datetime import datetime

import aiohttp
import msgspec

from gateway.plugin_api.adapters import (
    Accepted,
    PurchaseOrderReport,
    PurchaseOrderRequest,
    ShipmentReport,
    StockLevel,
    SupplierContext,
    SupplierFailed,
    SupplierRejected,
    SupplierUnavailable,
)
from gateway.plugin_api.http import retry_after_seconds

USER_AGENT = "dropship-gateway (http_json adapter)"
_RETRYABLE = {408, 425, 429}


class _Answer(msgspec.Struct):
    supplier_ref: str | None = None
    reason: str | None = None
    message: str | None = None


class _Line(msgspec.Struct):
    sku: str
    quantity: int


class _Shipment(msgspec.Struct):
    carrier: str
    tracking_number: str
    shipped_at: datetime | None = None
    lines: list[_Line] = []


class _Status(msgspec.Struct):
    status: str
    supplier_ref: str | None = None
    shipments: list[_Shipment] = []


_answer = msgspec.json.Decoder(_Answer)
_status = msgspec.json.Decoder(_Status)
_inventory = msgspec.json.Decoder(list[StockLevel])
_encoder = msgspec.json.Encoder(decimal_format="string")


def purchase_order_body(po: PurchaseOrderRequest) -> bytes:
    """The JSON body of `POST {url}/purchase-orders`."""
    ship_to = po.ship_to
    return _encoder.encode(
        {
            "po_id": po.po_id,
            "order_external_id": po.order_external_id,
            "created_at": po.created_at,
            "priority": po.priority,
            "currency": po.currency,
            "ship_to": {
                "name": ship_to.name,
                "phone": ship_to.phone,
                "country": ship_to.country,
                "region": ship_to.region,
                "province": ship_to.province,
                "city": ship_to.city,
                "district": ship_to.district,
                "address1": ship_to.address1,
                "address2": ship_to.address2,
                "postal_code": ship_to.postal_code,
            },
            "lines": [
                {"sku": line.sku, "quantity": line.quantity, "unit_cost": line.unit_cost}
                for line in po.lines
            ],
        }
    )


def _decode_answer(body: bytes) -> _Answer:
    try:
        return _answer.decode(body) if body else _Answer()
    except (msgspec.DecodeError, msgspec.ValidationError):
        return _Answer(message=body[:200].decode(errors="replace"))


class HttpJsonSupplier:
    """A `SupplierAdapter` for suppliers that speak CONTRACT §5."""

    def __init__(self, ctx: SupplierContext) -> None:
        self._base = ctx.url.rstrip("/")
        self._ctx = ctx
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._ctx.timeout_s),
            connector=aiohttp.TCPConnector(limit=self._ctx.max_in_flight),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes, dict[str, str]]:
        if self._session is None:
            raise RuntimeError("adapter used before start()")
        all_headers = dict(headers or {})
        if body is not None:
            all_headers["Content-Type"] = "application/json"
        try:
            async with self._session.request(
                method, f"{self._base}{path}", data=body, headers=all_headers
            ) as response:
                return response.status, await response.read(), dict(response.headers)
        except TimeoutError:
            raise SupplierUnavailable(f"no answer within {self._ctx.timeout_s:g}s") from None
        except aiohttp.ClientError as error:
            raise SupplierUnavailable(f"{type(error).__name__}: {error}") from None

    @staticmethod
    def _temporary(status: int, body: bytes, headers: dict[str, str]) -> SupplierUnavailable:
        answer = _decode_answer(body)
        detail = f": {answer.message}" if answer.message else ""
        return SupplierUnavailable(
            f"HTTP {status}{detail}", retry_after=retry_after_seconds(headers.get("Retry-After"))
        )

    async def send_purchase_order(self, po: PurchaseOrderRequest) -> Accepted:
        status, body, headers = await self._call(
            "POST",
            "/purchase-orders",
            purchase_order_body(po),
            {"Idempotency-Key": po.po_id},
        )
        if status in (200, 201, 409):  # 409: the supplier already has this PO
            return Accepted(_decode_answer(body).supplier_ref)
        if status == 422:
            answer = _decode_answer(body)
            raise SupplierRejected(answer.reason or "rejected", answer.message or "")
        if status in _RETRYABLE or status >= 500:
            raise self._temporary(status, body, headers)
        answer = _decode_answer(body)
        raise SupplierFailed(f"http_{status}", answer.message or answer.reason or "")

    async def cancel_purchase_order(self, po_id: str) -> None:
        status, body, headers = await self._call("DELETE", f"/purchase-orders/{po_id}")
        if status in (200, 204, 404):
            return
        if status in _RETRYABLE or status >= 500:
            raise self._temporary(status, body, headers)
        raise SupplierFailed(f"http_{status}", _decode_answer(body).message or "")

    async def fetch_purchase_order(self, po_id: str) -> PurchaseOrderReport | None:
        status, body, headers = await self._call("GET", f"/purchase-orders/{po_id}")
        if status == 404:
            return None
        if status != 200:
            raise self._temporary(status, body, headers)
        try:
            report = _status.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            raise SupplierUnavailable(f"unreadable PO status: {error}") from None
        return PurchaseOrderReport(
            status=report.status,
            supplier_ref=report.supplier_ref,
            shipments=tuple(
                ShipmentReport(
                    carrier=s.carrier,
                    tracking_number=s.tracking_number,
                    shipped_at=s.shipped_at,
                    lines=tuple((line.sku, line.quantity) for line in s.lines),
                )
                for s in report.shipments
            ),
        )

    async def fetch_inventory(self) -> list[StockLevel]:
        status, body, headers = await self._call("GET", "/inventory")
        if status != 200:
            raise self._temporary(status, body, headers)
        try:
            return _inventory.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            raise SupplierUnavailable(f"unreadable inventory: {error}") from None
