"""A simulated Kingdee Cloud Galaxy (金蝶云星空, K3Cloud) WebAPI server on 127.0.0.1.

Every call is ``POST /k3cloud/Kingdee.BOS.WebApi.ServicesStub.<Service>.<Method>.common.kdsvc``
with a JSON body, as Kingdee's SDKs send it, and answers as K3Cloud does (see `envelope`):

- **Who is calling.** Either the third-party-app signature headers of the SDK 8.x on every call
  (checked as `signature.verify` describes), or a session opened by
  ``AuthService.ValidateUser`` (account, user, password, LCID) or
  ``AuthService.LoginByAppSecret`` (account, user, app id, app secret, LCID). Either way the
  server sets the ``kdservice-sessionid`` cookie; a session idle for ``session_idle_s`` is gone,
  and a call on it answers ``MsgCode 1`` (会话信息已丢失). A signed call opens a new session by
  itself.
- **Call limits**: more than ``call_limit`` calls within ``call_window_s`` answer ``MsgCode 14``.
- **DynamicFormService**: ExecuteBillQuery, BillQuery, View, Save, BatchSave, Submit, Audit,
  UnAudit, Delete, Push, over the bills of `documents.Ledger`.
- **Outages**: `down` answers 503 to everything, as IIS does when the app pool is stopped.

Tests and the demo make approved sales orders with `create_sales_order`, and read what the
gateway wrote back from `ledger`.
"""

from __future__ import annotations

import asyncio
import collections
import json
import secrets
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from aiohttp import web

from dropship_simulator.kingdee import envelope as env
from dropship_simulator.kingdee.documents import (
    AUDITED,
    OUTSTOCK,
    SALE_ORDER,
    Bill,
    BillError,
    Form,
    Ledger,
)
from dropship_simulator.kingdee.filters import FilterError, compile_filter, compile_order, sort_key
from dropship_simulator.kingdee.signature import SignatureInvalid, verify

SERVICE_PREFIX = "Kingdee.BOS.WebApi.ServicesStub."
SUFFIX = ".common.kdsvc"
SESSION_COOKIE = "kdservice-sessionid"
MAX_QUERY_ROWS = 10_000  # K3Cloud's default cap on one ExecuteBillQuery
CHINA = timezone(timedelta(hours=8))


@dataclass
class Session:
    sid: str
    acct_id: str
    user_name: str
    last_used: float


class KingdeeSimulator:
    """One K3Cloud account (数据中心) with its users, third-party apps and bills."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        acct_id: str = "6565a0b1c2d3e4",
        users: dict[str, str] | None = None,
        apps: dict[str, str] | None = None,
        session_idle_s: float = 1200.0,
        call_limit: int | None = None,
        call_window_s: float = 60.0,
        signature_window_s: float = 900.0,
        ssl_context: ssl.SSLContext | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.acct_id = acct_id
        self.users = dict(users or {"administrator": "888888"})
        self.apps = dict(apps or {})  # app id → app secret
        self.session_idle_s = session_idle_s
        self.call_limit = call_limit
        self.call_window_s = call_window_s
        self.signature_window_s = signature_window_s
        self.ssl_context = ssl_context
        self._now = now or (lambda: datetime.now(CHINA).replace(tzinfo=None))
        self.ledger = Ledger(now=self._stamp)
        self.sessions: dict[str, Session] = {}
        self.down = False
        self.calls: collections.Counter[str] = collections.Counter()
        self.rows_served = 0
        # The latest ExecuteBillQuery/BillQuery requests answered (their `data`), for tests that
        # check what a client asked for; bounded, as the demo's server runs for hours.
        self.queries: collections.deque[dict[str, Any]] = collections.deque(maxlen=1000)
        self.logins = 0
        self.refused_for_limit = 0
        self._recent_calls: collections.deque[float] = collections.deque()
        self._limit_next = 0
        self._down_after: tuple[str, str] | None = None
        self._expire_after: tuple[str, str] | None = None
        self._last_stamp: datetime | None = None
        self._runner: web.AppRunner | None = None
        self._changed = asyncio.Condition()

    # -- life ----------------------------------------------------------------------------------

    async def __aenter__(self) -> KingdeeSimulator:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def start(self) -> None:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/k3cloud/{service}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=self.ssl_context)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        """The server URL as users configure it (the SDK's ``server_url``)."""
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://{self.host}:{self.port}/k3cloud/"

    # -- what tests and the demo do ------------------------------------------------------------

    def add_base_data(self, kind: str, numbers: list[str]) -> None:
        """Register supplier, material, carrier or customer numbers. While a kind has none,
        any number is accepted for it."""
        self.ledger.base_data[kind].update(numbers)

    def create_sales_order(
        self,
        *,
        customer: str,
        lines: list[tuple[str, float, float]],
        fields: dict[str, Any] | None = None,
        approve: bool = True,
        bill_date: datetime | None = None,
    ) -> Bill:
        """A sales order as a clerk enters it: saved, and by default submitted and audited.
        `lines` are (material number, quantity, price incl. tax); `fields` further header
        fields (receiver, phone, the tenant's custom address fields...)."""
        model: dict[str, Any] = {
            "FBillTypeID": {"FNumber": "XSDD01_SYS"},
            "FSaleOrgId": {"FNumber": "100"},
            "FCustId": {"FNumber": customer},
            "FSettleCurrId": {"FNumber": "PRE001"},
            **(fields or {}),
            SALE_ORDER.entry: [
                {
                    "FMaterialId": {"FNumber": sku},
                    "FQty": quantity,
                    "FTaxPrice": price,
                    "FAllAmount": float(Decimal(str(quantity)) * Decimal(str(price))),
                }
                for sku, quantity, price in lines
            ],
        }
        if bill_date is not None:
            model["FDate"] = bill_date.isoformat()
        bill = self._save_unchecked(model)
        if approve:
            self.ledger.submit(bill)
            self.ledger.audit(bill)
        return bill

    def _save_unchecked(self, model: dict[str, Any]) -> Bill:
        """Save without checks: data imported or left by a customisation can be as bad as
        real data is (no material, a quantity of zero), and the gateway must cope with it."""
        saved = self.ledger.base_data
        self.ledger.base_data = {kind: set() for kind in saved}
        try:
            return self.ledger.save(SALE_ORDER, model, checked=False)
        finally:
            self.ledger.base_data = saved

    def approve(self, bill: Bill) -> None:
        self.ledger.submit(bill)
        self.ledger.audit(bill)

    def expire_sessions(self) -> int:
        """End every session now, as an idle timeout or an IIS recycle does."""
        count = len(self.sessions)
        self.sessions.clear()
        return count

    def go_down_after(self, method: str, form_id: str) -> None:
        """Answer the next `method` call on `form_id` (e.g. a Save of PUR_PurchaseOrder), then go
        down: the caller has made a bill and cannot finish what follows (Submit, Audit)."""
        self._down_after = (method, form_id.lower())

    def expire_sessions_after(self, method: str, form_id: str) -> None:
        """Answer the next `method` call on `form_id`, then end every session (an IIS recycle
        between a Save and the Submit that should follow it)."""
        self._expire_after = (method, form_id.lower())

    def limit_next(self, n: int) -> None:
        """The next `n` calls are refused with MsgCode 14, whatever the configured limit."""
        self._limit_next += n

    def bills(self, form_id: str) -> list[Bill]:
        return self.ledger.all(self.ledger.form(form_id))

    def find(self, form_id: str, number: str) -> Bill | None:
        return self.ledger.find(self.ledger.form(form_id), number=number)

    # The wait takes its own `timeout` (ASYNC109) so that a failing wait names what it waited for.
    async def wait_until(
        self,
        predicate: Callable[[], bool],
        timeout: float,  # noqa: ASYNC109
        what: str,
    ) -> None:
        """Wait for a state of this simulator, woken by every call it answers."""
        async with self._changed:
            try:
                async with asyncio.timeout(timeout):
                    await self._changed.wait_for(predicate)
            except TimeoutError:
                raise AssertionError(f"kingdee simulator: {what} within {timeout}s") from None

    # -- time ----------------------------------------------------------------------------------

    def _stamp(self) -> datetime:
        """The server's local time, to the millisecond, as SQL Server keeps it."""
        now = self._now()
        return now.replace(microsecond=now.microsecond // 1000 * 1000)

    # -- HTTP ----------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self.down:
            return web.Response(status=503, text="Service Unavailable", content_type="text/html")
        name = request.match_info["service"]
        if not (name.startswith(SERVICE_PREFIX) and name.endswith(SUFFIX)):
            return web.Response(status=404, text="Not Found")
        service, _, method = name[len(SERVICE_PREFIX) : -len(SUFFIX)].rpartition(".")
        raw = await request.read()
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return web.Response(text=f"response_error: 请求数据不是有效的JSON: {raw[:40]!r}")
        response = web.Response(content_type="application/json")
        try:
            if service == "AuthService":
                answer = self._login(method, body, response)
            elif service == "DynamicFormService":
                answer = self._business(method, body, request, response)
            else:
                answer = env.failure(f"服务 {service} 不存在", msg_code=4)
        finally:
            self.calls[method] += 1
            async with self._changed:
                self._changed.notify_all()
        response.text = json.dumps(answer, ensure_ascii=False, default=_json_default)
        return response

    def _login(self, method: str, body: Any, response: web.Response) -> Any:
        params = body.get("parameters") if isinstance(body, dict) else None
        if method == "ValidateUser":
            if isinstance(params, list) and len(params) >= 3:
                acct, user, password = str(params[0]), str(params[1]), str(params[2])
            else:
                acct = str(body.get("acctID") or body.get("acctid") or "")
                user, password = str(body.get("username", "")), str(body.get("password", ""))
            ok = acct == self.acct_id and self.users.get(user.lower()) == password
            failure = "用户名或密码错误！" if acct == self.acct_id else f"数据中心 {acct} 不存在"
        elif method == "LoginByAppSecret":
            if not isinstance(params, list) or len(params) < 4:
                return _login_result(
                    False, "参数个数不正确：账套ID,用户名,应用ID,应用密钥,语言ID", None
                )
            acct, user, app_id, app_secret = (str(p) for p in params[:4])
            ok = (
                acct == self.acct_id
                and user.lower() in self.users
                and self.apps.get(app_id) == app_secret
            )
            failure = "第三方系统登录授权验证失败：应用ID或密钥不正确"
        elif method == "LogOut":
            return True
        else:
            return env.failure(f"方法 {method} 不存在", msg_code=4)
        if not ok:
            return _login_result(False, failure, None)
        self.logins += 1
        session = self._open_session(acct, user, response)
        return _login_result(True, None, session)

    def _open_session(self, acct: str, user: str, response: web.Response) -> Session:
        session = Session(secrets.token_hex(12), acct, user, time.monotonic())
        self.sessions[session.sid] = session
        response.set_cookie(SESSION_COOKIE, session.sid, path="/", httponly=True)
        return session

    def _session_of(self, request: web.Request) -> Session | None:
        sid = request.cookies.get(SESSION_COOKIE) or request.headers.get(SESSION_COOKIE)
        session = self.sessions.get(sid or "")
        now = time.monotonic()
        if session is None:
            return None
        if now - session.last_used > self.session_idle_s:
            del self.sessions[session.sid]
            return None
        session.last_used = now
        return session

    def _authenticate(self, request: web.Request, response: web.Response) -> str | None:
        """None when the caller may go on; otherwise why not (answered with MsgCode 1)."""
        if "X-Kd-Appkey" in request.headers:
            try:
                who = verify(
                    dict(request.headers),
                    request.raw_path.split("?")[0],
                    self.apps,
                    time.time(),
                    self.signature_window_s,
                )
            except SignatureInvalid as error:
                return f"第三方系统登录授权验证失败：{error}"
            if who.acct_id != self.acct_id:
                return f"第三方系统登录授权验证失败：数据中心 {who.acct_id} 不存在"
            if who.user_name.lower() not in self.users:
                return f"第三方系统登录授权验证失败：用户 {who.user_name} 不存在"
            if self._session_of(request) is None:
                self._open_session(who.acct_id, who.user_name, response)
            return None
        if self._session_of(request) is None:
            return env.SESSION_LOST_MESSAGE
        return None

    def _over_limit(self) -> bool:
        if self._limit_next > 0:
            self._limit_next -= 1
            return True
        if self.call_limit is None:
            return False
        now = time.monotonic()
        while self._recent_calls and now - self._recent_calls[0] > self.call_window_s:
            self._recent_calls.popleft()
        if len(self._recent_calls) >= self.call_limit:
            return True
        self._recent_calls.append(now)
        return False

    def _business(
        self, method: str, body: Any, request: web.Request, response: web.Response
    ) -> Any:
        is_query = method in ("ExecuteBillQuery", "BillQuery")
        fail = env.query_failure if is_query else env.failure
        refusal = self._authenticate(request, response)
        if refusal is not None:
            return fail(refusal, msg_code=env.SESSION_LOST)
        if self._over_limit():
            self.refused_for_limit += 1
            return fail("超出接口调用频率限制，请稍后再试", msg_code=env.CALL_LIMIT)
        try:
            form_id, data = _arguments(body, needs_form=not is_query)
            handler = _HANDLERS.get(method)
            if handler is None:
                return fail(f"方法 {method} 不存在", msg_code=4)
            answer = handler(self, form_id, data)
            if self._down_after == (method, (form_id or "").lower()):
                self._down_after, self.down = None, True
            if self._expire_after == (method, (form_id or "").lower()):
                self._expire_after = None
                self.expire_sessions()
            return answer
        except BillError as error:
            return fail(error.message, error.field_name, error.msg_code)
        except FilterError as error:
            return fail(str(error), msg_code=9)
        except (KeyError, TypeError, ValueError) as error:
            return fail(f"参数格式不正确: {error}", msg_code=8)

    # -- operations ----------------------------------------------------------------------------

    def _query_rows(self, data: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
        form = self.ledger.form(str(data["FormId"]))
        keys = [k.strip() for k in str(data.get("FieldKeys", "")).split(",") if k.strip()]
        if not keys:
            raise BillError("FieldKeys 不能为空", "FieldKeys", 8)
        known = self.ledger.known_field(form)
        for key in keys:
            if not known(key.lower()):
                raise BillError(f"元数据中标识为{key}的字段不存在", key, 9)
        filter_text = data.get("FilterString") or ""
        if not isinstance(filter_text, str):
            raise BillError("FilterString 应为字符串", "FilterString", 8)
        predicate = compile_filter(filter_text, known)
        order = compile_order(str(data.get("OrderString") or ""), known)
        entry_keys = {f.lower() for f in form.entry_fields} | {f"{form.entry.lower()}_fentryid"}
        used = {k.lower() for k in keys} | {k for k, _ in order}
        with_entries = bool(used & entry_keys) or _mentions(filter_text, entry_keys)
        rows = [row for row in self.ledger.rows(form, with_entries) if predicate(row)]
        if not order:
            order = [("fid", False)] + (
                [(f"{form.entry.lower()}_fentryid", False)] if with_entries else []
            )
        if all(not descending for _, descending in order):
            names = [key for key, _ in order]
            rows.sort(key=lambda row: tuple(sort_key(row.get(k)) for k in names))
        else:
            for key, descending in reversed(order):
                rows.sort(key=lambda row, k=key: sort_key(row.get(k)), reverse=descending)  # type: ignore[misc]
        top = int(data.get("TopRowCount") or 0)
        if top > 0:
            rows = rows[:top]
        start = int(data.get("StartRow") or 0)
        limit = int(data.get("Limit") or 0)
        limit = MAX_QUERY_ROWS if limit <= 0 else min(limit, MAX_QUERY_ROWS)
        self.queries.append(dict(data))
        return keys, rows[start : start + limit]

    def execute_bill_query(self, _: str | None, data: dict[str, Any]) -> Any:
        keys, rows = self._query_rows(data)
        self.rows_served += len(rows)
        lower = [k.lower() for k in keys]
        return [[_value(row.get(k)) for k in lower] for row in rows]

    def bill_query(self, _: str | None, data: dict[str, Any]) -> Any:
        keys, rows = self._query_rows(data)
        self.rows_served += len(rows)
        return [{k: _value(row.get(k.lower())) for k in keys} for row in rows]

    def view(self, form_id: str | None, data: dict[str, Any]) -> Any:
        form = self.ledger.form(str(form_id))
        bill = self.ledger.find(form, number=data.get("Number"), fid=data.get("Id"))
        if bill is None:
            return env.failure("要查看的数据不存在，可能已被删除", msg_code=10)
        return {"Result": {"ResponseStatus": None, "Result": self._view_of(bill)}}

    def _view_of(self, bill: Bill) -> dict[str, Any]:
        spelled = self.ledger.names[bill.form.form_id.lower()]

        def nest(values: dict[str, Any]) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for key, value in values.items():
                if key == "links":
                    continue
                name = spelled.get(key, key)
                base, _, sub = name.partition(".")
                prop = base[1:] if base[:1] in ("F", "f") else base
                if sub:
                    target = out.setdefault(prop, {})
                    if isinstance(target, dict):
                        target[sub[1:] if sub[:1] in ("F", "f") else sub] = _value(value)
                else:
                    out[prop] = _value(value)
            return out

        view = {
            "Id": bill.fid,
            "BillNo": bill.number,
            "DocumentStatus": bill.status,
            "CreateDate": _value(bill.created),
            "ModifyDate": _value(bill.modified),
            "ApproveDate": _value(bill.approved),
            **nest(bill.header),
        }
        entries = []
        for entry in bill.entries:
            shown = nest({k: v for k, v in entry.items() if k != "fentryid"})
            shown["Id"] = entry["fentryid"]
            if entry.get("links"):
                shown[f"{bill.form.entry[1:]}_Link"] = [
                    {spelled.get(k, k): v for k, v in link.items()} for link in entry["links"]
                ]
            entries.append(shown)
        view[bill.form.entry[1:]] = entries
        return view

    def save(self, form_id: str | None, data: dict[str, Any]) -> Any:
        form = self.ledger.form(str(form_id))
        model = data.get("Model")
        if not isinstance(model, dict):
            raise BillError("Model 不能为空", "Model", 8)
        bill = self._save_one(form, model, bool(data.get("IsAutoSubmitAndAudit")))
        entity = env.success_entity(bill.fid, bill.number)
        return {
            "Result": {
                "ResponseStatus": env.response_status(successes=[entity]),
                "Id": bill.fid,
                "Number": bill.number,
                "NeedReturnData": [{}],
            }
        }

    def _save_one(self, form: Form, model: dict[str, Any], submit_and_audit: bool) -> Bill:
        bill = self.ledger.save(form, model)
        if submit_and_audit:
            self.ledger.submit(bill)
            self.ledger.audit(bill)
        return bill

    def batch_save(self, form_id: str | None, data: dict[str, Any]) -> Any:
        form = self.ledger.form(str(form_id))
        models = data.get("Model")
        if not isinstance(models, list):
            raise BillError("Model 应为数组", "Model", 8)
        errors, successes = [], []
        for index, model in enumerate(models):
            try:
                bill = self._save_one(form, model, bool(data.get("IsAutoSubmitAndAudit")))
                successes.append(env.success_entity(bill.fid, bill.number, index))
            except BillError as error:
                errors.append(env.error_item(error.message, error.field_name, index))
        return {
            "Result": {
                "ResponseStatus": env.response_status(errors, successes, 11 if errors else 0)
            }
        }

    def _each_bill(
        self, form_id: str | None, data: dict[str, Any], operation: Callable[[Bill], None]
    ) -> Any:
        form = self.ledger.form(str(form_id))
        numbers = data.get("Numbers") or []
        ids = [i for i in str(data.get("Ids") or "").split(",") if i.strip()]
        targets: list[tuple[str, Bill | None]] = [
            (str(n), self.ledger.find(form, number=str(n))) for n in numbers
        ]
        targets += [(i, self.ledger.find(form, fid=i.strip())) for i in ids]
        if not targets:
            raise BillError("Numbers 和 Ids 不能同时为空", "Numbers", 8)
        errors, successes = [], []
        for index, (given, bill) in enumerate(targets):
            if bill is None:
                errors.append(env.error_item(f"{form.title}“{given}”不存在", None, index))
                continue
            try:
                operation(bill)
                successes.append(env.success_entity(bill.fid, bill.number, index))
            except BillError as error:
                errors.append(env.error_item(error.message, error.field_name, index))
        code = 0 if not errors else 12
        return {"Result": {"ResponseStatus": env.response_status(errors, successes, code)}}

    def submit(self, form_id: str | None, data: dict[str, Any]) -> Any:
        return self._each_bill(form_id, data, self.ledger.submit)

    def audit(self, form_id: str | None, data: dict[str, Any]) -> Any:
        return self._each_bill(form_id, data, self.ledger.audit)

    def unaudit(self, form_id: str | None, data: dict[str, Any]) -> Any:
        return self._each_bill(form_id, data, self.ledger.unaudit)

    def delete(self, form_id: str | None, data: dict[str, Any]) -> Any:
        return self._each_bill(form_id, data, self.ledger.delete)

    def push(self, form_id: str | None, data: dict[str, Any]) -> Any:
        source_form = self.ledger.form(str(form_id))
        target = self.ledger.form(str(data.get("TargetFormId") or ""))
        numbers = data.get("Numbers") or []
        ids = [i for i in str(data.get("Ids") or "").split(",") if i.strip()]
        sources = [self.ledger.find(source_form, number=str(n)) for n in numbers]
        sources += [self.ledger.find(source_form, fid=i) for i in ids]
        if not sources:
            raise BillError("Numbers 和 Ids 不能同时为空", "Numbers", 8)
        entry_ids = [int(e) for e in str(data.get("EntryIds") or "").split(",") if e.strip()]
        errors, successes = [], []
        for index, source in enumerate(sources):
            if source is None:
                errors.append(env.error_item(f"{source_form.title}不存在", None, index))
                continue
            try:
                made = self.ledger.push(source, target, entry_ids or None)
                successes.append(env.success_entity(made.fid, made.number, index))
            except BillError as error:
                errors.append(env.error_item(error.message, error.field_name, index))
        status = env.response_status(errors, successes, 12 if errors else 0)
        return {"Result": {"ResponseStatus": status, "ConvertResponseStatus": None}}

    # -- reading what the gateway wrote back (tests) -------------------------------------------

    def outstock_for(self, sales_order: str) -> list[Bill]:
        """The outbound bills linked to a sales order."""
        return [
            bill
            for bill in self.ledger.all(OUTSTOCK)
            if any(e.get("fsrcbillno") == sales_order for e in bill.entries)
        ]

    def audited(self, form_id: str) -> list[Bill]:
        return [b for b in self.bills(form_id) if b.status == AUDITED]


_HANDLERS: dict[str, Callable[[KingdeeSimulator, str | None, dict[str, Any]], Any]] = {
    "ExecuteBillQuery": KingdeeSimulator.execute_bill_query,
    "BillQuery": KingdeeSimulator.bill_query,
    "View": KingdeeSimulator.view,
    "Save": KingdeeSimulator.save,
    "BatchSave": KingdeeSimulator.batch_save,
    "Submit": KingdeeSimulator.submit,
    "Audit": KingdeeSimulator.audit,
    "UnAudit": KingdeeSimulator.unaudit,
    "Delete": KingdeeSimulator.delete,
    "Push": KingdeeSimulator.push,
}


def _arguments(body: Any, needs_form: bool) -> tuple[str | None, dict[str, Any]]:
    """(form id, data) of a call: the SDK's ``{"formid", "data"}`` (data an object or a JSON
    string), or the older ``{"parameters": [formid, data]}``."""
    if not isinstance(body, dict):
        raise ValueError("请求体应为JSON对象")
    params = body.get("parameters")
    if isinstance(params, list):
        form_id = str(params[0]) if needs_form and params else None
        data = params[1] if needs_form and len(params) > 1 else (params[0] if params else None)
    else:
        form_id = body.get("formid") or body.get("FormId")
        data = body.get("data")
    if isinstance(data, str):
        data = json.loads(data)
    if not isinstance(data, dict):
        raise ValueError("接口参数data不能为空")
    if needs_form and not form_id:
        raise ValueError("接口参数formid不能为空")
    return (str(form_id) if form_id else None), data


def _mentions(filter_text: str, keys: set[str]) -> bool:
    lower = filter_text.lower()
    return any(key in lower for key in keys)


def _value(value: Any) -> Any:
    if isinstance(value, datetime):
        text = value.isoformat(timespec="milliseconds")
        return text[:-4] if text.endswith(".000") else text
    if isinstance(value, Decimal):
        return float(value)
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | Decimal):
        return _value(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def _login_result(ok: bool, message: str | None, session: Session | None) -> dict[str, Any]:
    context = None
    if session is not None:
        context = {
            "UserLocale": "zh-CN",
            "DBid": session.acct_id,
            "SessionId": session.sid,
            "UserName": session.user_name,
            "DataCenterName": "模拟数据中心",
            "CurrentOrganizationInfo": {"ID": 1, "Name": "总公司"},
        }
    return {
        "Message": message,
        "MessageCode": "CheckPasswordPolicy" if ok else None,
        "LoginResultType": 1 if ok else 0,
        "Context": context,
        "KDSVCSessionId": session.sid if session else None,
        "FormId": None,
        "RedirectFormParam": None,
        "FormInputObject": None,
        "ErrorStackTrace": None,
        "Lcid": 2052 if ok else 0,
        "AccessToken": None,
        "KdAccessResult": None,
        "IsSuccessByAPI": ok,
    }


def now_in_china() -> datetime:
    return datetime.now(UTC).astimezone(CHINA).replace(tzinfo=None)
