"""Supplier adapters that each break one rule of the adapter contract, built on the `http_json`
adapter by changing the one thing a careless author would get wrong. The conformance kit must
catch each with that rule's id."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import msgspec

from dropship_http_json.adapter import HttpJsonSupplier, purchase_order_body
from gateway.plugin_api import (
    Accepted,
    PurchaseOrderReport,
    PurchaseOrderRequest,
    StockLevel,
    SupplierContext,
    SupplierFailed,
    SupplierRejected,
    SupplierUnavailable,
)


class LeaksItsSession(HttpJsonSupplier):
    async def close(self) -> None:
        self._session = None  # forgets to close it


class LeavesATaskRunning(HttpJsonSupplier):
    async def start(self) -> None:
        await super().start()
        self._keepalive = asyncio.get_running_loop().create_task(asyncio.sleep(3600))


class ReturnsADict(HttpJsonSupplier):
    async def send_purchase_order(self, po: PurchaseOrderRequest) -> Any:
        accepted = await super().send_purchase_order(po)
        return {"supplier_ref": accepted.supplier_ref}


class NoIdempotencyKey(HttpJsonSupplier):
    async def send_purchase_order(self, po: PurchaseOrderRequest) -> Accepted:
        status, body, headers = await self._call(
            "POST", "/purchase-orders", purchase_order_body(po)
        )
        if status in (200, 201, 409):
            return Accepted(msgspec.json.decode(body).get("supplier_ref"))
        raise self._temporary(status, body, headers)


class DuplicateIsAFailure(HttpJsonSupplier):
    async def send_purchase_order(self, po: PurchaseOrderRequest) -> Accepted:
        status, body, _headers = await self._call(
            "POST", "/purchase-orders", purchase_order_body(po), {"Idempotency-Key": po.po_id}
        )
        if status == 409:
            raise SupplierFailed("http_409", "conflict")
        return Accepted(msgspec.json.decode(body).get("supplier_ref"))


class RefusalWithoutReason(HttpJsonSupplier):
    async def send_purchase_order(self, po: PurchaseOrderRequest) -> Accepted:
        try:
            return await super().send_purchase_order(po)
        except SupplierRejected as refused:
            raise SupplierRejected("rejected", refused.message) from None


class IgnoresRetryAfter(HttpJsonSupplier):
    async def send_purchase_order(self, po: PurchaseOrderRequest) -> Accepted:
        try:
            return await super().send_purchase_order(po)
        except SupplierUnavailable as busy:
            raise SupplierUnavailable(busy.message) from None


class RetriesByItself(HttpJsonSupplier):
    async def send_purchase_order(self, po: PurchaseOrderRequest) -> Accepted:
        for _ in range(2):
            try:
                return await super().send_purchase_order(po)
            except SupplierUnavailable:
                continue
        return await super().send_purchase_order(po)


class InventsADelay(HttpJsonSupplier):
    async def send_purchase_order(self, po: PurchaseOrderRequest) -> Accepted:
        try:
            return await super().send_purchase_order(po)
        except SupplierUnavailable as busy:
            raise SupplierUnavailable(busy.message, busy.retry_after or 30) from None


class RetriesBadCredentials(HttpJsonSupplier):
    async def send_purchase_order(self, po: PurchaseOrderRequest) -> Accepted:
        try:
            return await super().send_purchase_order(po)
        except SupplierFailed as failed:
            raise SupplierUnavailable(failed.message) from None


class NoTimeout(HttpJsonSupplier):
    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))


class CatchesOnlyConnectionErrors(HttpJsonSupplier):
    """Catches what it has seen in development: a refused connection and a timeout."""

    async def _call(
        self, method: str, path: str, body: bytes | None = None, headers: Any = None
    ) -> tuple[int, bytes, dict[str, str]]:
        assert self._session is not None
        try:
            async with self._session.request(
                method, f"{self._base}{path}", data=body, headers=headers
            ) as response:
                return response.status, await response.read(), dict(response.headers)
        except (TimeoutError, aiohttp.ClientConnectorError) as error:
            raise SupplierUnavailable(str(error)) from None


class CatchesAllButDisconnects(CatchesOnlyConnectionErrors):
    async def _call(
        self, method: str, path: str, body: bytes | None = None, headers: Any = None
    ) -> tuple[int, bytes, dict[str, str]]:
        try:
            return await super()._call(method, path, body, headers)
        except aiohttp.ClientResponseError as error:
            raise SupplierUnavailable(str(error)) from None


class SwallowsCancellation(HttpJsonSupplier):
    async def send_purchase_order(self, po: PurchaseOrderRequest) -> Accepted:
        try:
            return await super().send_purchase_order(po)
        except BaseException as error:  # "never crash" taken too far
            raise SupplierUnavailable(f"interrupted: {error!r}") from None


class EchoesTheRequest(HttpJsonSupplier):
    async def send_purchase_order(self, po: PurchaseOrderRequest) -> Accepted:
        try:
            return await super().send_purchase_order(po)
        except (SupplierFailed, SupplierUnavailable) as error:
            raise SupplierFailed("failed", f"{error} for {purchase_order_body(po)!r}") from None


class CancelsNothing(HttpJsonSupplier):
    async def cancel_purchase_order(self, po_id: str) -> None:
        return None  # "done"


class UnknownCancelIsAFailure(HttpJsonSupplier):
    async def cancel_purchase_order(self, po_id: str) -> None:
        status, _body, _ = await self._call("DELETE", f"/purchase-orders/{po_id}")
        if status != 204:
            raise SupplierFailed(f"http_{status}", "")


class CancelIgnoresBusy(HttpJsonSupplier):
    async def cancel_purchase_order(self, po_id: str) -> None:
        await self._call("DELETE", f"/purchase-orders/{po_id}")


class StatusInTheSuppliersWords(HttpJsonSupplier):
    async def fetch_purchase_order(self, po_id: str) -> PurchaseOrderReport | None:
        report = await super().fetch_purchase_order(po_id)
        return (
            None
            if report is None
            else msgspec.structs.replace(report, status=report.status.upper())
        )


class ShipmentsWithoutLines(HttpJsonSupplier):
    async def fetch_purchase_order(self, po_id: str) -> PurchaseOrderReport | None:
        report = await super().fetch_purchase_order(po_id)
        if report is None:
            return None
        parcels = tuple(msgspec.structs.replace(s, lines=()) for s in report.shipments)
        return msgspec.structs.replace(report, shipments=parcels)


class UnknownStatusIsAnError(HttpJsonSupplier):
    async def fetch_purchase_order(self, po_id: str) -> PurchaseOrderReport | None:
        report = await super().fetch_purchase_order(po_id)
        if report is None:
            raise SupplierFailed("http_404", "not found")
        return report


class StatusDecodeErrorEscapes(HttpJsonSupplier):
    async def fetch_purchase_order(self, po_id: str) -> PurchaseOrderReport | None:
        status, body, _headers = await self._call("GET", f"/purchase-orders/{po_id}")
        if status == 404:
            return None
        decoded = msgspec.json.decode(body)
        return PurchaseOrderReport(
            status=decoded["status"], supplier_ref=decoded.get("supplier_ref")
        )


class InventoryAsDicts(HttpJsonSupplier):
    async def fetch_inventory(self) -> Any:
        return [{"sku": s.sku, "available": s.available} for s in await super().fetch_inventory()]


class InventoryEmptyWhenBusy(HttpJsonSupplier):
    async def fetch_inventory(self) -> list[StockLevel]:
        try:
            return await super().fetch_inventory()
        except SupplierUnavailable:
            return []


class InventoryDecodeErrorEscapes(HttpJsonSupplier):
    async def fetch_inventory(self) -> list[StockLevel]:
        _, body, _ = await self._call("GET", "/inventory")
        return msgspec.json.decode(body, type=list[StockLevel])


class FactoryNeedsAnOption(HttpJsonSupplier):
    def __init__(self, ctx: SupplierContext) -> None:
        super().__init__(ctx)
        self._account = ctx.options["account"]


# rule id -> the adapters that break it (and nothing else the rule's check needs).
BREAKERS: dict[str, list[type[HttpJsonSupplier]]] = {
    "adapter.lifecycle": [LeaksItsSession, LeavesATaskRunning, FactoryNeedsAnOption],
    "send.accepted": [ReturnsADict],
    "send.idempotency_key": [NoIdempotencyKey],
    "send.duplicate": [DuplicateIsAFailure],
    "send.refused": [RefusalWithoutReason],
    "send.retry_after": [IgnoresRetryAfter],
    "send.temporary": [RetriesByItself, InventsADelay],
    "send.permanent_failure": [RetriesBadCredentials],
    "send.timeout": [NoTimeout],
    "send.unreadable": [CatchesOnlyConnectionErrors],
    "send.connection_lost": [CatchesAllButDisconnects],
    "send.cancellation": [SwallowsCancellation],
    "errors.no_personal_data": [EchoesTheRequest],
    "cancel.confirmed": [CancelsNothing],
    "cancel.unknown": [UnknownCancelIsAFailure],
    "cancel.temporary": [CancelIgnoresBusy],
    "status.report": [StatusInTheSuppliersWords],
    "status.shipments": [ShipmentsWithoutLines],
    "status.unknown": [UnknownStatusIsAnError],
    "status.unreadable": [StatusDecodeErrorEscapes],
    "inventory.levels": [InventoryAsDicts],
    "inventory.temporary": [InventoryEmptyWhenBusy],
    "inventory.unreadable": [InventoryDecodeErrorEscapes],
}
