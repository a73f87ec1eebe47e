"""`/api/v1/orders`: intake and reads (CONTRACT §3)."""

from __future__ import annotations

import asyncio
import math
from typing import Annotated, Any

import msgspec
from aiohttp import web

from gateway.actors.intake import VALIDATION_PAUSE_S, VALIDATION_SLICE_S, IntakeClosed
from gateway.actors.order_actions import OrderMissing
from gateway.api.access import note_intake
from gateway.api.body import read_body
from gateway.api.context import context
from gateway.api.cursors import BadCursor, decode_cursor, encode_cursor
from gateway.api.errors import error_response, json_response
from gateway.api.query import bounded_int
from gateway.api.views import order_view, summary_view
from gateway.domain.fields import AwareDatetime
from gateway.domain.intake import InvalidJson, split_body
from gateway.domain.model import OrderStatus
from gateway.domain.validation import Problem, ValidationFailed, quote
from gateway.plugin_api.adapters import IntakeBusy, SubmitResult
from gateway.store.queries import MAX_PAGE, OrderFilter, get_order, list_orders

JSON_TYPES = ("application/json",)


def is_json(request: web.Request) -> bool:
    content_type = request.content_type.lower()
    return content_type in JSON_TYPES or content_type.endswith("+json")


async def post_orders(request: web.Request) -> web.Response:
    ctx = context(request)
    if not ctx.intake.accepting:
        return _closing()
    if not is_json(request):
        return error_response(
            415, "unsupported_media_type", "send the order as Content-Type: application/json"
        )
    body = await read_body(request)
    try:
        batch = split_body(body)
    except InvalidJson as error:
        return error_response(
            400,
            "invalid_json",
            "the body is not valid JSON",
            [{"path": "$", "message": str(error)}],
        )
    except ValidationFailed as failed:
        return _validation_error("the batch is malformed", failed.problems)
    try:
        raw_orders: list[bytes | msgspec.Raw] = [body] if batch is None else list(batch)
        results = await ctx.intake.submit(raw_orders)
    except IntakeClosed:
        return _closing()
    except IntakeBusy as busy:
        return _busy(busy.retry_after_s)
    if batch is None and not results[0].accepted:
        problems = results[0].problems
        return error_response(
            422,
            "validation_failed",
            _problem_count(len(problems)),
            [{"path": path, "message": message} for path, message in problems],
        )
    note_intake(request, results)  # the audit log names the orders (issue 9)
    body = await _intake_answer(results)
    return web.Response(body=body, status=202, content_type="application/json")


# Longest stretch of answer-building between two pauses (as intake's validation slices).
_ENCODE_SLICE_S = VALIDATION_SLICE_S


async def _intake_answer(results: list[SubmitResult]) -> bytes:
    """The 202 body, `{"accepted": [...], "rejected": [...]}`. A batch of 1,000 invalid
    orders answers with megabytes of problems: it is encoded an entry at a time, yielding to
    the loop now and then, so that other clients are served meanwhile."""
    loop = asyncio.get_running_loop()
    slice_started = loop.time()
    accepted: list[bytes] = []
    rejected: list[bytes] = []
    for index, result in enumerate(results):
        if loop.time() - slice_started > _ENCODE_SLICE_S:
            await asyncio.sleep(VALIDATION_PAUSE_S)
            slice_started = loop.time()
        entry: dict[str, Any]
        if result.accepted:
            entry = {
                "order_id": result.order_id,
                "external_id": result.external_id,
                "duplicate": result.duplicate,
            }
            accepted.append(msgspec.json.encode(entry))
        else:
            entry = {
                "index": index,
                "external_id": result.external_id,
                "error": {
                    "code": "validation_failed",
                    "message": _problem_count(len(result.problems)),
                    "details": [{"path": p, "message": m} for p, m in result.problems],
                },
            }
            rejected.append(msgspec.json.encode(entry))
    return b"".join(
        (b'{"accepted":[', b",".join(accepted), b'],"rejected":[', b",".join(rejected), b"]}")
    )


def _problem_count(count: int) -> str:
    return f"the order has {count} problem{'s' if count != 1 else ''}"


def _busy(retry_after_s: float) -> web.Response:
    response = error_response(
        429, "busy", "the gateway is taking in orders faster than it can store them; retry later"
    )
    response.headers["Retry-After"] = str(max(1, math.ceil(retry_after_s)))
    return response


def _closing() -> web.Response:
    response = error_response(503, "shutting_down", "the gateway is shutting down; retry later")
    response.headers["Retry-After"] = "5"
    return response


def _validation_error(message: str, problems: list[Problem]) -> web.Response:
    return error_response(
        422,
        "validation_failed",
        message,
        [{"path": p.json_path(), "message": p.message} for p in problems],
    )


async def get_one(request: web.Request) -> web.Response:
    order = await get_order(context(request).db, request.match_info["order_id"])
    if order is None:
        return error_response(404, "not_found", f"no order {quote(request.match_info['order_id'])}")
    return json_response(order_view(order))


async def get_many(request: web.Request) -> web.Response:
    query, problems = _parse_filter(request)
    if problems:
        return error_response(400, "invalid_query", "the query is not valid", problems)
    page, more = await list_orders(context(request).db, query)
    next_cursor = encode_cursor(page[-1].seq) if more and page else None
    return json_response({"orders": [summary_view(s) for s in page], "next_cursor": next_cursor})


_STATUSES = {s.value for s in OrderStatus}


def _parse_filter(request: web.Request) -> tuple[OrderFilter, list[dict[str, str]]]:
    params = request.query
    problems: list[dict[str, str]] = []
    # Present but empty (`status=`, `status=a,`) names no status: refused like an unknown one.
    statuses = tuple(params["status"].split(",")) if "status" in params else ()
    unknown = [s for s in statuses if s not in _STATUSES]
    if unknown:
        shown = ", ".join(quote(s) for s in unknown[:5]) + (", …" if len(unknown) > 5 else "")
        problems.append(
            {
                "path": "query.status",
                "message": f"unknown status {shown}; one of {', '.join(sorted(_STATUSES))}",
            }
        )
    limit = 50
    if "limit" in params:
        given = bounded_int(params["limit"], 1, MAX_PAGE)
        if given is None:
            problems.append({"path": "query.limit", "message": f"expected 1 to {MAX_PAGE}"})
        else:
            limit = given
    since = None
    if "since" in params:  # present but empty is not a time either
        try:
            since = msgspec.convert(params["since"], AwareDatetime)
        except msgspec.ValidationError:
            problems.append(
                {"path": "query.since", "message": "expected an RFC 3339 time with a timezone"}
            )
    after_seq = 0
    if params.get("cursor"):
        try:
            after_seq = decode_cursor(params["cursor"])
        except BadCursor as error:
            problems.append({"path": "query.cursor", "message": str(error)})
    query = OrderFilter(
        status=statuses,
        supplier=params.get("supplier") or None,
        channel=params.get("channel") or None,
        since=since,
        limit=limit,
        after_seq=after_seq,
    )
    return query, problems


class CancelRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] = "requested"


async def post_cancel(request: web.Request) -> web.Response:
    """Cancel what has not shipped; the answer is the order, with what had already shipped."""
    ctx = context(request)
    body = await read_body(request)
    reason = "requested"
    if body.strip():
        if not is_json(request):
            return error_response(
                415, "unsupported_media_type", "send Content-Type: application/json"
            )
        try:
            reason = msgspec.json.decode(body, type=CancelRequest).reason
        except msgspec.DecodeError as error:
            return error_response(
                422,
                "validation_failed",
                "the request is not valid",
                [{"path": "$", "message": str(error)}],
            )
        except RecursionError:
            return error_response(
                422,
                "validation_failed",
                "the request is not valid",
                [{"path": "$", "message": "JSON nested too deeply"}],
            )
    try:
        state = await ctx.order_actions.cancel(request.match_info["order_id"], reason)
    except OrderMissing:
        return error_response(404, "not_found", f"no order {quote(request.match_info['order_id'])}")
    return json_response(order_view(state))
