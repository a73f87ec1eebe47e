"""The `mapped_json` supplier adapter: a REST supplier whose JSON is not CONTRACT §5, driven by
configuration alone. The request body comes from a template over the PO; the answer is sorted
into accepted, refused, retry or failed by conditions and paths (see README.md).

One attempt per call, like every adapter: the supplier actor owns retries and the circuit.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from datetime import UTC, datetime
from typing import Any

import aiohttp
import msgspec
import structlog

from dropship_mapped.options import Auth, compile_options
from dropship_mapped.template import (
    TemplateError,
    encode_json,
    parse_path,
    po_document,
    read_path,
)
from gateway.plugin_api import (
    Accepted,
    PurchaseOrderReport,
    PurchaseOrderRequest,
    StockLevel,
    SupplierContext,
    SupplierFailed,
    SupplierRejected,
    SupplierUnavailable,
    retry_after_seconds,
)

USER_AGENT = "dropship-gateway (mapped_json adapter)"
_RETRYABLE = {408, 425, 429}


class MappingInvalid(ValueError):
    """The options do not make a mapping; `run.py check` names each problem."""


class Request(msgspec.Struct, frozen=True, kw_only=True):
    method: str
    url: str
    headers: dict[str, str]
    body: bytes


class MappedJsonSupplier:
    """A `SupplierAdapter` configured, not coded. One instance per supplier actor incarnation."""

    def __init__(self, ctx: SupplierContext) -> None:
        mapping, problems = compile_options(ctx.options)
        if mapping is None:
            raise MappingInvalid(
                "; ".join(f"options.{_key(p.path)}: {p.message}" for p in problems)
            )
        self._mapping = mapping
        self._ctx = ctx
        self._base = ctx.url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None
        self._log = ctx.log or structlog.get_logger("dropship_mapped")

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

    # -- the request -----------------------------------------------------------------------------

    def build_request(self, po: PurchaseOrderRequest, now: datetime | None = None) -> Request:
        """The request for `po`: method, URL, headers (auth included) and body."""
        options = self._mapping.options
        try:
            body = encode_json(self._mapping.body.render(po_document(po), None))
        except TemplateError as error:
            raise SupplierFailed("mapping", str(error)) from None
        path = options.path.format(po_id=po.po_id)
        headers = {"Content-Type": "application/json", **options.headers}
        if options.idempotency_header:
            headers[options.idempotency_header] = po.po_id
        if options.auth is not None:
            headers.update(_auth_headers(options.auth, options.method, path, body, now))
        return Request(method=options.method, url=self._base + path, headers=headers, body=body)

    def preview_purchase_order(self, po: PurchaseOrderRequest) -> str:
        """What `send_purchase_order` would send for `po` (for `run.py preview`); secrets masked."""
        request = self.build_request(po)
        secret_headers = _secret_headers(self._mapping.options.auth)
        lines = [f"{request.method} {request.url}"]
        for name, value in request.headers.items():
            shown = f"{value[:4]}…(masked)" if name.lower() in secret_headers else value
            lines.append(f"{name}: {shown}")
        body = msgspec.json.format(request.body.decode(), indent=2)
        return "\n".join(lines) + "\n\n" + body + "\n"

    # -- sending ---------------------------------------------------------------------------------

    async def send_purchase_order(self, po: PurchaseOrderRequest) -> Accepted:
        request = self.build_request(po, self._ctx.clock.now() if self._ctx.clock else None)
        status, raw, headers = await self._call(request)
        response = self._mapping.options.response
        if status in _RETRYABLE or status >= 500:
            raise SupplierUnavailable(
                f"HTTP {status}{_detail(self._message(raw))}",
                retry_after=retry_after_seconds(headers.get("Retry-After")),
            )
        answer = _decode(raw)
        if status == 409:  # the supplier already has it (HTTP's own way of saying so)
            return Accepted(self._reference(answer))
        if 200 <= status < 300:
            if answer is _UNREADABLE:
                # The PO may be in: sending it again under the same key is safe, guessing is not.
                raise SupplierUnavailable(f"HTTP {status} with an answer that is not JSON")
            if response.retry is not None and response.retry.holds(answer):
                raise SupplierUnavailable(f"supplier asks to retry{_detail(self._message(raw))}")
            if response.failed is not None and response.failed.holds(answer):
                refusal = self._refusal(answer)
                raise SupplierFailed(refusal.reason, refusal.message)
            if response.duplicate is not None and response.duplicate.holds(answer):
                return Accepted(self._reference(answer))
            if response.success is None or response.success.holds(answer):
                return Accepted(self._reference(answer))
            raise self._refusal(answer)
        if status in response.reject_statuses:
            raise self._refusal(answer)
        raise SupplierFailed(f"http_{status}", self._message(raw))

    async def _call(self, request: Request) -> tuple[int, bytes, dict[str, str]]:
        if self._session is None:
            raise RuntimeError("adapter used before start()")
        try:
            async with self._session.request(
                request.method, request.url, data=request.body, headers=request.headers
            ) as response:
                return response.status, await response.read(), dict(response.headers)
        except TimeoutError:
            raise SupplierUnavailable(f"no answer within {self._ctx.timeout_s:g}s") from None
        except aiohttp.ClientError as error:
            raise SupplierUnavailable(f"{type(error).__name__}: {error}") from None

    def _reference(self, answer: Any) -> str | None:
        path = self._mapping.options.response.reference
        value = _at(answer, path)
        return None if value is None else str(value)

    def _refusal(self, answer: Any) -> SupplierRejected:
        response = self._mapping.options.response
        code = _at(answer, response.reason)
        text = "" if code is None else str(code)
        reason = response.reason_map.get(text, text) or "rejected"
        message = _at(answer, response.message)
        return SupplierRejected(reason, "" if message is None else str(message)[:500])

    def _message(self, raw: bytes) -> str:
        answer = _decode(raw)
        value = _at(answer, self._mapping.options.response.message)
        if value is not None:
            return str(value)[:500]
        return raw[:200].decode(errors="replace") if answer is _UNREADABLE else ""

    # -- what a mapped supplier does not do --------------------------------------------------------

    async def cancel_purchase_order(self, po_id: str) -> None:
        raise SupplierFailed("not_supported", "mapped_json maps sending only")

    async def fetch_purchase_order(self, po_id: str) -> PurchaseOrderReport | None:
        raise SupplierFailed("not_supported", "mapped_json maps sending only")

    async def fetch_inventory(self) -> list[StockLevel]:
        raise SupplierFailed("not_supported", "mapped_json maps sending only")


_UNREADABLE: Any = object()


def _decode(raw: bytes) -> Any:
    if not raw.strip():
        return {}
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return _UNREADABLE


def _at(answer: Any, path: str | None) -> Any:
    if path is None or answer is _UNREADABLE:
        return None
    return read_path(answer, parse_path(path)[1])


def _detail(message: str) -> str:
    return f": {message}" if message else ""


def _auth_headers(
    auth: Auth, method: str, path: str, body: bytes, now: datetime | None
) -> dict[str, str]:
    if auth.type == "bearer":
        return {"Authorization": f"Bearer {auth.token}"}
    if auth.type == "header":
        return {str(auth.header): str(auth.token)}
    moment = now or datetime.now(UTC)
    timestamp = str(
        int(moment.timestamp() * 1000) if auth.timestamp_unit == "ms" else int(moment.timestamp())
    )
    nonce = secrets.token_hex(8)
    payload = auth.payload.format(
        body=body.decode(), timestamp=timestamp, nonce=nonce, method=method, path=path
    )
    digest = hmac.new(str(auth.secret).encode(), payload.encode(), auth.algorithm).digest()
    if auth.encoding == "base64":
        signature = base64.b64encode(digest).decode()
    else:
        signature = digest.hex().upper() if auth.encoding == "HEX" else digest.hex()
    headers = {str(auth.header): auth.prefix + signature}
    if auth.timestamp_header:
        headers[auth.timestamp_header] = timestamp
    if auth.nonce_header:
        headers[auth.nonce_header] = nonce
    return headers


def _secret_headers(auth: Auth | None) -> set[str]:
    if auth is None:
        return set()
    if auth.type == "bearer":
        return {"authorization"}
    return {str(auth.header).lower()}


def _key(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


__all__ = ["MappedJsonSupplier", "MappingInvalid", "Request"]
