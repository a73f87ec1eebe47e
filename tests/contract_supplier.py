"""A supplier written in the tests straight from CONTRACT §5, independent of the project's own
simulator plugin (and of the `http_json` adapter's code), so that a misreading of the contract
shared by those two shows up as a failing test.

It answers each `POST {url}/purchase-orders` from a script per SKU (the first line's), keeps
every request it got, and lets a test wait for a request without sleeping.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # the parsed JSON body, None without one

    @property
    def po_id(self) -> str | None:
        """The PO a request is about: the body's `po_id`, or the last path segment."""
        if isinstance(self.body, dict) and "po_id" in self.body:
            return str(self.body["po_id"])
        segments = self.path.rstrip("/").split("/")
        return segments[-1] if len(segments) == 3 else None


class ContractSupplier:
    """`script[sku]`: the answers for POs whose first line is that SKU, one per POST, the last
    one repeated. A SKU without a script is accepted: `201 {"supplier_ref": "REF-<po_id>"}`."""

    def __init__(self, script: dict[str, list[Answer]] | None = None) -> None:
        self.script = {sku: list(answers) for sku, answers in (script or {}).items()}
        self.requests: list[Request] = []
        self.accepted: dict[str, str | None] = {}  # po_id -> supplier_ref
        self.cancelled: set[str] = set()
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post("/purchase-orders", self._post)
        app.router.add_delete("/purchase-orders/{po_id}", self._delete)
        app.router.add_get("/purchase-orders/{po_id}", self._get)
        app.router.add_get("/inventory", self._inventory)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    # -- what a test looks at ----------------------------------------------------------------

    def posts(self, po_id: str | None = None) -> list[Request]:
        return [
            r for r in self.requests if r.method == "POST" and (po_id is None or r.po_id == po_id)
        ]

    def deletes(self) -> list[Request]:
        return [r for r in self.requests if r.method == "DELETE"]

    async def wait_for(
        self, predicate: Callable[[ContractSupplier], bool], timeout: float, what: str
    ) -> None:
        async with self._changed:
            try:
                async with asyncio.timeout(timeout):
                    await self._changed.wait_for(lambda: predicate(self))
            except TimeoutError:
                seen = [(r.method, r.path, r.po_id) for r in self.requests]
                raise AssertionError(
                    f"supplier: {what} did not happen within {timeout}s; requests: {seen}"
                ) from None

    # -- the protocol --------------------------------------------------------------------------

    async def _record(self, request: web.Request) -> Request:
        raw = await request.read()
        seen = Request(
            method=request.method,
            path=request.path,
            headers=dict(request.headers),
            body=json.loads(raw) if raw else None,
        )
        async with self._changed:
            self.requests.append(seen)
            self._changed.notify_all()
        return seen

    async def _post(self, request: web.Request) -> web.Response:
        seen = await self._record(request)
        body = seen.body
        if not isinstance(body, dict) or not body.get("lines"):
            return web.json_response({"reason": "bad_request", "message": "no lines"}, status=400)
        po_id = str(body["po_id"])
        answers = self.script.get(body["lines"][0]["sku"])
        answer = Answer(201, {"supplier_ref": f"REF-{po_id}"})
        if answers:
            answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if answer.status in (200, 201, 409):
            async with self._changed:
                self.accepted.setdefault(po_id, (answer.body or {}).get("supplier_ref"))
                self._changed.notify_all()
        if answer.body is None:
            return web.Response(status=answer.status, headers=answer.headers)
        return web.json_response(answer.body, status=answer.status, headers=answer.headers)

    async def _delete(self, request: web.Request) -> web.Response:
        await self._record(request)
        po_id = request.match_info["po_id"]
        if po_id not in self.accepted:
            return web.Response(status=404)
        async with self._changed:
            self.cancelled.add(po_id)
            self._changed.notify_all()
        return web.Response(status=204)

    async def _get(self, request: web.Request) -> web.Response:
        await self._record(request)
        po_id = request.match_info["po_id"]
        if po_id not in self.accepted:
            return web.Response(status=404)
        status = "cancelled" if po_id in self.cancelled else "accepted"
        return web.json_response({"status": status, "shipments": []})

    async def _inventory(self, request: web.Request) -> web.Response:
        await self._record(request)
        return web.json_response([])
