"""`/api/v1/orders`: intake and reads (CONTRACT §3)."""

from __future__ import annotations

import re
from typing import Any

import msgspec
from aiohttp import web

from gateway.actors.intake import IntakeClosed
from gateway.api.body import read_body
from gateway.api.context import context
from gateway.api.errors import error_response, json_response
from gateway.domain.fields import AwareDatetime
from gateway.domain.intake import InvalidJson, split_body
from gateway.domain.masking import mask_text, mask_value
from gateway.domain.model import OrderStatus
from gateway.domain.validation import Problem, ValidationFailed, quote
from gateway.plugin_api.adapters import SubmitResult
from gateway.store.queries import (
    MAX_PAGE,
    BadCursor,
    OrderFilter,
    decode_cursor,
    get_order,
    list_orders,
)

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
    if batch is None and not results[0].accepted:
        problems = results[0].problems
        return error_response(
            422,
            "validation_failed",
            _problem_count(len(problems)),
            [{"path": path, "message": message} for path, message in problems],
        )
    return json_response(_intake_answer(results), status=202)


def _intake_answer(results: list[SubmitResult]) -> dict[str, Any]:
    accepted, rejected = [], []
    for index, result in enumerate(results):
        if result.accepted:
            accepted.append(
                {
                    "order_id": result.order_id,
                    "external_id": result.external_id,
                    "duplicate": result.duplicate,
                }
            )
        else:
            rejected.append(
                {
                    "index": index,
                    "external_id": result.external_id,
                    "error": {
                        "code": "validation_failed",
                        "message": _problem_count(len(result.problems)),
                        "details": [{"path": p, "message": m} for p, m in result.problems],
                    },
                }
            )
    return {"accepted": accepted, "rejected": rejected}


def _problem_count(count: int) -> str:
    return f"the order has {count} problem{'s' if count != 1 else ''}"


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
    return json_response(_free_text_masked(order))


def _free_text_masked(order: dict[str, Any]) -> dict[str, Any]:
    """What suppliers wrote (a refusal may quote the customer's name, street and phone) goes
    out through the masking like a log line does."""
    if isinstance(order.get("hold_detail"), str):
        order["hold_detail"] = mask_text(order["hold_detail"])
    for po in order.get("purchase_orders", []):
        if isinstance(po.get("message"), str):
            po["message"] = mask_text(po["message"])
    for event in order.get("timeline", []):
        event["data"] = mask_value(None, event.get("data"))
    return order


async def get_many(request: web.Request) -> web.Response:
    query, problems = _parse_filter(request)
    if problems:
        return error_response(400, "invalid_query", "the query is not valid", problems)
    items, next_cursor = await list_orders(context(request).db, query)
    return json_response({"orders": items, "next_cursor": next_cursor})


_STATUSES = {s.value for s in OrderStatus}


_DIGITS = re.compile(r"[0-9]{1,4}")


def _parse_filter(request: web.Request) -> tuple[OrderFilter, list[dict[str, str]]]:
    params = request.query
    problems: list[dict[str, str]] = []
    statuses = tuple(s for s in params.get("status", "").split(",") if s)
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
        text = params["limit"]
        # ASCII digits only: `²` and `①` are digits to str.isdigit but not to int().
        if not _DIGITS.fullmatch(text) or not 1 <= int(text) <= MAX_PAGE:
            problems.append({"path": "query.limit", "message": f"expected 1 to {MAX_PAGE}"})
        else:
            limit = int(text)
    since = None
    if "since" in params:
        try:
            since = msgspec.convert(params["since"], AwareDatetime)
        except msgspec.ValidationError:
            problems.append(
                {"path": "query.since", "message": "expected an RFC 3339 time with a timezone"}
            )
    cursor = params.get("cursor")
    if cursor:  # empty: the first page
        try:
            decode_cursor(cursor)
        except BadCursor as error:
            problems.append({"path": "query.cursor", "message": str(error)})
    query = OrderFilter(
        status=statuses,
        supplier=params.get("supplier") or None,
        channel=params.get("channel") or None,
        since=since,
        limit=limit,
        cursor=cursor or None,
    )
    return query, problems
