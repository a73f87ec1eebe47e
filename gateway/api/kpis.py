"""`GET /api/v1/kpis?from=&to=&channel=&supplier=`: the figures managers decide by.
The definitions are in `gateway.store.kpis`."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import msgspec
from aiohttp import web

from gateway.api.context import context
from gateway.api.errors import error_response, json_response
from gateway.api.query import bounded_int
from gateway.domain.fields import AwareDatetime
from gateway.store.kpis import KpiQuery, compute_kpis

DEFAULT_DAYS = 7
MAX_DAYS = 3660


def _moment(text: str, offset: timezone, *, end: bool) -> datetime | None:
    """An RFC 3339 time, or a date meaning its local midnight (the day after, for `to`)."""
    if len(text) == 10:
        try:
            day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=offset)
        except ValueError:
            return None
        return day + timedelta(days=1) if end else day
    try:
        return msgspec.convert(text, AwareDatetime)
    except msgspec.ValidationError:
        return None


async def get_kpis(request: web.Request) -> web.Response:
    ctx = context(request)
    settings = ctx.kpis
    offset = timezone(timedelta(hours=settings.utc_offset_h))
    params = request.query
    problems: list[dict[str, str]] = []
    now = ctx.clock.now()
    end: datetime | None = now
    start: datetime | None = None
    for name in ("from", "to"):
        if name in params:  # present but empty is not a time either
            moment = _moment(params[name], offset, end=name == "to")
            if moment is None:
                problems.append(
                    {
                        "path": f"query.{name}",
                        "message": "expected an RFC 3339 time with a timezone or a date YYYY-MM-DD",
                    }
                )
            elif name == "from":
                start = moment
            else:
                end = moment
    idle_days = settings.idle_sku_days
    if "idle_days" in params:
        given = bounded_int(params["idle_days"], 1, MAX_DAYS)
        if given is None:
            problems.append({"path": "query.idle_days", "message": f"expected 1 to {MAX_DAYS}"})
        else:
            idle_days = given
    if problems:
        return error_response(400, "invalid_query", "the query is not valid", problems)
    assert end is not None
    start = start or end - timedelta(days=DEFAULT_DAYS)
    if start >= end:
        return error_response(
            400,
            "invalid_query",
            "the query is not valid",
            [{"path": "query.from", "message": "must be before `to`"}],
        )
    if end - start > timedelta(days=MAX_DAYS):
        return error_response(
            400,
            "invalid_query",
            "the query is not valid",
            [{"path": "query.from", "message": f"the range may span at most {MAX_DAYS} days"}],
        )
    query = KpiQuery(
        start=start,
        end=end,
        channel=params.get("channel") or None,
        supplier=params.get("supplier") or None,
        utc_offset_h=settings.utc_offset_h,
        ship_sla_h=settings.ship_sla_h,
        supplier_ship_sla_h=settings.supplier_ship_sla_h,
        top_skus=settings.top_skus,
        idle_days=idle_days,
        now=now,
    )
    return json_response(await compute_kpis(ctx.db, query))
