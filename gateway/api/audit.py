"""`GET /api/v1/audit` (admin only): who did what, newest first (issue 9)."""

from __future__ import annotations

from aiohttp import web

from gateway.api.context import context
from gateway.api.errors import error_response, json_response
from gateway.api.query import MAX_INT64, bounded_int
from gateway.store.audit import MAX_PAGE, AuditFilter, read_entries


async def get_audit(request: web.Request) -> web.Response:
    params = request.query
    problems: list[dict[str, str]] = []
    limit = 50
    if "limit" in params:
        given = bounded_int(params["limit"], 1, MAX_PAGE)
        if given is None:
            problems.append({"path": "query.limit", "message": f"expected 1 to {MAX_PAGE}"})
        else:
            limit = given
    before = None
    if params.get("cursor"):
        before = bounded_int(params["cursor"], 1, MAX_INT64)
        if before is None:
            problems.append({"path": "query.cursor", "message": "expected a next_cursor value"})
    if problems:
        return error_response(400, "invalid_query", "the query is not valid", problems)
    query = AuditFilter(actor=params.get("actor") or None, before=before, limit=limit)
    entries, next_cursor = await read_entries(context(request).db, query)
    return json_response(
        {"entries": entries, "next_cursor": str(next_cursor) if next_cursor else None}
    )
