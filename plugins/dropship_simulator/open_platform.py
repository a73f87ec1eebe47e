"""A wholesaler's "open platform" order API, simulated over real HTTP on 127.0.0.1: the stand-in
for REST suppliers whose JSON looks nothing like CONTRACT §5, which the `mapped_json` adapter
reaches by configuration alone.

It follows the conventions of Chinese merchant open platforms: one endpoint, every request
signed (`X-App-Key`, `X-Timestamp` in seconds, `X-Sign` = upper-case hex HMAC-SHA256 of
timestamp + body with the app secret), snake_case fields, and answers that are HTTP 200 with a
business code, HTTP 503 only when the gateway in front of it is overloaded:

    POST /open/api/trade/create
    {"out_trade_no", "shop_order_no", "order_time": "2026-11-23 10:00:00", "is_urgent": 0,
     "receiver": {"name", "mobile", "state", "city", "district", "address", "zip"},
     "items": [{"goods_no", "qty", "price": 18.50}], "total_qty"}

    {"flag": "success", "code": "0", "message": "", "data": {"trade_no": "WH..."}}
    {"flag": "failure", "code": "E2001", "message": "库存不足: TEA-001"}

Codes: E1001 bad signature, E1002 timestamp too old, E1003 bad parameter (names the field),
E2001 out of stock, E2002 unknown goods, E2003 address not served, E3001 trade exists (with its
trade_no), E9001 system busy.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Self

import msgspec
from aiohttp import web

SIGN_INVALID = "E1001"
TIMESTAMP_EXPIRED = "E1002"
PARAM_ERROR = "E1003"
STOCK_SHORT = "E2001"
GOODS_NOT_FOUND = "E2002"
ADDRESS_UNREACHABLE = "E2003"
TRADE_EXISTS = "E3001"
SYSTEM_BUSY = "E9001"

_MESSAGES = {
    SIGN_INVALID: "签名错误",
    TIMESTAMP_EXPIRED: "时间戳已过期",
    STOCK_SHORT: "库存不足",
    GOODS_NOT_FOUND: "商品不存在",
    ADDRESS_UNREACHABLE: "该地区不配送",
    TRADE_EXISTS: "订单已存在",
    SYSTEM_BUSY: "系统繁忙，请稍后再试",
}


class Receiver(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    mobile: str
    state: str
    city: str
    address: str
    district: str | None = None
    zip: str | None = None


class Item(msgspec.Struct, forbid_unknown_fields=True):
    goods_no: str
    qty: int
    price: Decimal | None = None


class Trade(msgspec.Struct, forbid_unknown_fields=True):
    out_trade_no: str
    order_time: str
    receiver: Receiver
    items: list[Item]
    total_qty: int
    shop_order_no: str | None = None
    is_urgent: int = 0
    remark: str | None = None
    channel: str | None = None


_trade = msgspec.json.Decoder(Trade)
_MOBILE = re.compile(r"^1\d{10}$")


@dataclass
class Attempt:
    out_trade_no: str | None
    code: str
    http_status: int


@dataclass
class Created:
    trade_no: str
    trade: Trade
    raw: bytes


class OpenPlatformSupplier:
    """`async with OpenPlatformSupplier(app_key="app-1001", app_secret="...") as sim:`"""

    def __init__(
        self,
        *,
        app_key: str,
        app_secret: str,
        host: str = "127.0.0.1",
        port: int = 0,
        stock: dict[str, int] | None = None,
        states: Iterable[str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app_key = app_key
        self._secret = app_secret.encode()
        self.host = host
        self.port = port
        self.stock: dict[str, int] = dict(stock or {})  # goods it has; others are E2002
        self.states = set(states) if states is not None else None  # provinces it serves
        self._clock = clock
        self.attempts: list[Attempt] = []
        self.trades: dict[str, Created] = {}
        self._scripts: dict[str, list[str | int]] = {}
        self._numbers = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    # -- life ---------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post("/open/api/trade/create", self._create)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- controls -----------------------------------------------------------------------------

    def script(self, out_trade_no: str, answers: Iterable[str | int]) -> None:
        """The next answers for this trade (`"*"`: any): a business code (`"E9001"`), an HTTP
        status (`503`), or `"0"` for "handle normally"."""
        self._scripts.setdefault(out_trade_no, []).extend(answers)

    def created_count(self, out_trade_no: str) -> int:
        return 1 if out_trade_no in self.trades else 0

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        async with self._changed:
            await self._changed.wait_for(predicate)

    # -- the endpoint -------------------------------------------------------------------------

    async def _create(self, request: web.Request) -> web.Response:
        raw = await request.read()
        out_trade_no = _peek_trade_no(raw)
        code, http_status, data = self._answer(request, raw, out_trade_no)
        async with self._changed:
            self.attempts.append(Attempt(out_trade_no, code, http_status))
            self._changed.notify_all()
        if http_status != 200:
            return web.json_response({"message": "service unavailable"}, status=http_status)
        body: dict[str, Any] = {
            "flag": "success" if code == "0" else "failure",
            "code": code,
            "message": data.pop("message", _MESSAGES.get(code, "")),
        }
        if data:
            body["data"] = data
        return web.json_response(body)

    def _answer(
        self, request: web.Request, raw: bytes, out_trade_no: str | None
    ) -> tuple[str, int, dict[str, Any]]:
        signed = self._signature_problem(request, raw)
        if signed:
            return signed, 200, {}
        scripted = self._next_scripted(out_trade_no)
        if isinstance(scripted, int):
            return "", scripted, {}
        if scripted is not None and scripted != "0":
            return scripted, 200, {}
        try:
            trade = _trade.decode(raw)
        except msgspec.ValidationError as error:
            return PARAM_ERROR, 200, {"message": f"参数错误: {error}"}
        except msgspec.DecodeError:
            return PARAM_ERROR, 200, {"message": "参数错误: not JSON"}
        problem = _parameter_problem(trade)
        if problem:
            return PARAM_ERROR, 200, {"message": f"参数错误: {problem}"}
        existing = self.trades.get(trade.out_trade_no)
        if existing is not None:
            return TRADE_EXISTS, 200, {"trade_no": existing.trade_no}
        for item in trade.items:
            if item.goods_no not in self.stock:
                return GOODS_NOT_FOUND, 200, {"message": f"商品不存在: {item.goods_no}"}
            if self.stock[item.goods_no] < item.qty:
                return STOCK_SHORT, 200, {"message": f"库存不足: {item.goods_no}"}
        if self.states is not None and trade.receiver.state not in self.states:
            return ADDRESS_UNREACHABLE, 200, {}
        for item in trade.items:
            self.stock[item.goods_no] -= item.qty
        trade_no = f"WH{next(self._numbers):08d}"
        self.trades[trade.out_trade_no] = Created(trade_no, trade, raw)
        return "0", 200, {"trade_no": trade_no}

    def _signature_problem(self, request: web.Request, raw: bytes) -> str | None:
        timestamp = request.headers.get("X-Timestamp", "")
        if request.headers.get("X-App-Key") != self.app_key or not timestamp.isdigit():
            return SIGN_INVALID
        expected = hmac.new(self._secret, timestamp.encode() + raw, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.upper(), request.headers.get("X-Sign", "")):
            return SIGN_INVALID
        if abs(self._clock() - int(timestamp)) > 300:
            return TIMESTAMP_EXPIRED
        return None

    def _next_scripted(self, out_trade_no: str | None) -> str | int | None:
        for key in (out_trade_no, "*"):
            queue = self._scripts.get(key or "")
            if queue:
                return queue.pop(0)
        return None


def _peek_trade_no(raw: bytes) -> str | None:
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    trade_no = value.get("out_trade_no") if isinstance(value, dict) else None
    return trade_no if isinstance(trade_no, str) else None


def _parameter_problem(trade: Trade) -> str | None:
    try:
        datetime.strptime(trade.order_time, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return f"order_time {trade.order_time!r} is not yyyy-MM-dd HH:mm:ss"
    if not _MOBILE.match(trade.receiver.mobile):
        return "receiver.mobile is not a mobile number"
    if not trade.items:
        return "items is empty"
    for index, item in enumerate(trade.items):
        if item.qty <= 0:
            return f"items[{index}].qty must be positive"
        if item.price is not None and item.price.as_tuple().exponent < -2:  # type: ignore[operator]
            return f"items[{index}].price has more than 2 decimals"
    if trade.total_qty != sum(item.qty for item in trade.items):
        return "total_qty is not the sum of items[].qty"
    if trade.is_urgent not in (0, 1):
        return "is_urgent is 0 or 1"
    return None


def open_platform_mapping(app_secret: str, app_key: str = "app-1001") -> dict[str, Any]:
    """The `options` of a `mapped_json` supplier that reach this platform: the whole
    integration, as configuration (the tests, the demo and docs/README use it)."""
    return {
        "path": "/open/api/trade/create",
        "idempotency_header": "",  # this platform deduplicates on out_trade_no instead
        "headers": {"X-App-Key": app_key},
        "auth": {
            "type": "hmac",
            "secret": app_secret,
            "header": "X-Sign",
            "encoding": "HEX",
            "payload": "{timestamp}{body}",
            "timestamp_header": "X-Timestamp",
        },
        "body": {
            "out_trade_no": "$.po_id",
            "shop_order_no": "$.order_external_id",
            "order_time": {"path": "$.created_at", "date": "%Y-%m-%d %H:%M:%S", "tz": "+08:00"},
            "is_urgent": {"path": "$.priority", "map": {"urgent": 1, "high": 1}, "default": 0},
            "receiver": {
                "name": "$.ship_to.name",
                "mobile": "$.ship_to.phone",
                "state": "$.ship_to.province",
                "city": "$.ship_to.city",
                "district": "$.ship_to.district",
                "address": {"join": ["$.ship_to.address1", "$.ship_to.address2"], "sep": " "},
                "zip": "$.ship_to.postal_code",
            },
            "items": {
                "each": "$.lines",
                "item": {
                    "goods_no": "@.sku",
                    "qty": "@.quantity",
                    "price": {"path": "@.unit_cost", "decimal": "0.01", "as": "number"},
                },
            },
            "total_qty": "$.total_quantity",
            "channel": "dropship-gateway",
        },
        "response": {
            "success": {"path": "$.flag", "equals": "success"},
            "reference": "$.data.trade_no",
            "reason": "$.code",
            "message": "$.message",
            "reason_map": {"E2001": "out_of_stock", "E2002": "unknown_sku", "E2003": "bad_address"},
            "duplicate": {"path": "$.code", "equals": "E3001"},
            "retry": {"path": "$.code", "in": ["E9001"]},
            "failed": {"path": "$.code", "in": ["E1001", "E1002", "E1003"]},
        },
    }
