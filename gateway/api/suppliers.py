"""`/api/v1/suppliers`: live supplier state, and suppliers' shipment notices."""

from __future__ import annotations

import msgspec
import structlog
from aiohttp import web

from gateway.api.context import context
from gateway.api.errors import error_response, json_response
from gateway.api.orders import is_json
from gateway.domain.model import ShipmentLine
from gateway.domain.notices import SIGNATURE_HEADER, ShipmentNotice, signature_valid
from gateway.domain.validation import ValidationFailed, collect_problems
from gateway.store.shipments import ShipmentConflict, UnknownPurchaseOrder, record_shipment

log = structlog.get_logger(__name__)
_notice_decoder = msgspec.json.Decoder(ShipmentNotice)


async def list_suppliers(request: web.Request) -> web.Response:
    ctx = context(request)
    return json_response({"suppliers": [health.snapshot() for health in ctx.healths.values()]})


async def post_shipment(request: web.Request) -> web.Response:
    ctx = context(request)
    supplier_id = request.match_info["supplier_id"]
    supplier = ctx.suppliers.get(supplier_id)
    if supplier is None:
        return error_response(404, "not_found", f"no supplier {supplier_id!r}")
    body = await request.read()
    if supplier.webhook_secret and not signature_valid(
        supplier.webhook_secret, body, request.headers.get(SIGNATURE_HEADER)
    ):
        log.warning("shipment.bad_signature", supplier_id=supplier_id)
        return error_response(
            401,
            "bad_signature",
            f"{SIGNATURE_HEADER} must be sha256=<hex HMAC-SHA256 of the body> "
            "with this supplier's webhook secret",
        )
    if not is_json(request):
        return error_response(415, "unsupported_media_type", "send Content-Type: application/json")
    try:
        notice = _notice_decoder.decode(body)
    except msgspec.ValidationError:
        value = msgspec.json.decode(body)
        problems = collect_problems(value, ShipmentNotice)
        return error_response(
            422,
            "validation_failed",
            "the shipment notice is not valid",
            [{"path": p.json_path(), "message": p.message} for p in problems],
        )
    except msgspec.DecodeError as error:
        return error_response(
            400,
            "invalid_json",
            "the body is not valid JSON",
            [{"path": "$", "message": str(error)}],
        )
    now = ctx.clock.now()
    try:
        recorded = await record_shipment(
            ctx.db,
            supplier_id,
            notice.po_id,
            notice.carrier,
            notice.tracking_number,
            notice.shipped_at or now,
            tuple(ShipmentLine(sku=line.sku, quantity=line.quantity) for line in notice.lines),
            now,
        )
    except UnknownPurchaseOrder as error:
        return error_response(404, "not_found", str(error))
    except ShipmentConflict as error:
        return error_response(409, "conflict", str(error))
    except ValidationFailed as failed:
        return error_response(
            422,
            "validation_failed",
            "the shipment does not match the purchase order",
            [{"path": p.json_path(), "message": p.message} for p in failed.problems],
        )
    if not recorded.duplicate:
        ctx.metrics.shipments.labels(supplier_id).inc()
        log.info(
            "shipment.recorded",
            supplier_id=supplier_id,
            po_id=recorded.po_id,
            order_id=recorded.order_id,
            po_status=recorded.po_status.value,
        )
    return json_response(
        {
            "shipment_id": recorded.shipment_id,
            "po_id": recorded.po_id,
            "order_id": recorded.order_id,
            "po_status": recorded.po_status.value,
            "duplicate": recorded.duplicate,
        },
        status=200 if recorded.duplicate else 201,
    )
