"""`/api/v1/suppliers`: live supplier state, and suppliers' shipment notices."""

from __future__ import annotations

import structlog
from aiohttp import web

from gateway.api.body import read_body
from gateway.api.context import ApiContext, context
from gateway.api.errors import error_response, json_response
from gateway.api.orders import is_json
from gateway.domain.model import ShipmentLine
from gateway.domain.notices import (
    SIGNATURE_HEADER,
    InvalidNotice,
    SignatureCheck,
    check_signature,
    decode_notice,
    shipped_at_problems,
)
from gateway.domain.validation import Problem, ValidationFailed, quote
from gateway.infra.config import SupplierConfig
from gateway.store.shipments import ShipmentConflict, UnknownPurchaseOrder, record_shipment

log = structlog.get_logger(__name__)

_SIGNATURE_FORM = (
    f"{SIGNATURE_HEADER} must be t=<unix seconds>,sha256=<hex HMAC-SHA256 of "
    '"<t>." + the body> with this supplier\'s webhook secret'
)


async def list_suppliers(request: web.Request) -> web.Response:
    ctx = context(request)
    return json_response({"suppliers": [health.snapshot() for health in ctx.healths.values()]})


async def post_shipment(request: web.Request) -> web.Response:
    ctx = context(request)
    supplier_id = request.match_info["supplier_id"]
    supplier = ctx.suppliers.get(supplier_id)
    if supplier is None:
        return error_response(404, "not_found", f"no supplier {quote(supplier_id)}")
    body = await read_body(request)
    refused = _authenticate(ctx, supplier, body, request.headers.get(SIGNATURE_HEADER))
    if refused is not None:
        return refused
    if not is_json(request):
        return error_response(415, "unsupported_media_type", "send Content-Type: application/json")
    try:
        notice = decode_notice(body)
    except InvalidNotice as error:
        return error_response(
            400,
            "invalid_json",
            "the body is not valid JSON",
            [{"path": "$", "message": str(error)}],
        )
    except ValidationFailed as failed:
        return _invalid("the shipment notice is not valid", failed.problems)
    now = ctx.clock.now()
    problems = shipped_at_problems(notice.shipped_at, now)
    if problems:
        return _invalid("the shipment notice is not valid", problems)
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
        return _invalid("the shipment does not match the purchase order", failed.problems)
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


def _invalid(message: str, problems: list[Problem]) -> web.Response:
    return error_response(
        422,
        "validation_failed",
        message,
        [{"path": p.json_path(), "message": p.message} for p in problems],
    )


def _authenticate(
    ctx: ApiContext, supplier: SupplierConfig, body: bytes, header: str | None
) -> web.Response | None:
    """None when the notice may be read; else the 401 to answer (counted, and logged at a
    bounded rate: anyone can send bad signatures as fast as they like)."""
    if not supplier.webhook_secret:
        if supplier.unsigned_notices:
            return None
        _note_refusal(ctx, supplier.id, "unsigned_not_allowed")
        return error_response(
            401,
            "unsigned_notices_refused",
            f"supplier {supplier.id!r} has no webhook_secret, and its config does not allow"
            " unsigned notices (unsigned_notices = true)",
        )
    window_s = supplier.notice_window_s or ctx.http.notice_window_s
    check = check_signature(
        supplier.webhook_secret,
        body,
        header,
        ctx.clock.now(),
        window_s,
        legacy=supplier.legacy_signature,
    )
    if check == SignatureCheck.VALID:
        return None
    _note_refusal(ctx, supplier.id, check.value)
    message = _SIGNATURE_FORM
    if check == SignatureCheck.STALE:
        message = f"the signature's timestamp t is more than {window_s:g}s from the gateway's clock"
    return error_response(401, "bad_signature", message)


def _note_refusal(ctx: ApiContext, supplier_id: str, reason: str) -> None:
    ctx.metrics.bad_signatures.labels(supplier_id, reason).inc()
    suppressed = ctx.signature_log.allow(supplier_id, ctx.clock.monotonic())
    if suppressed is not None:
        log.warning(
            "shipment.refused_signature",
            supplier_id=supplier_id,
            reason=reason,
            suppressed_since_last=suppressed,
        )
