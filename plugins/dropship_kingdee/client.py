"""An async client of the K3Cloud WebAPI (金蝶云星空), speaking it as Kingdee's own SDKs do.

Every call is ``POST {url}Kingdee.BOS.WebApi.ServicesStub.<Service>.<Method>.common.kdsvc`` with
a JSON body. Who is calling is told one of three ways (``auth``):

- ``signature`` (the SDK 8.x, cloud tenants): the third-party-app signature headers of
  `signing.signature_headers` on every call;
- ``app_secret``: a session opened with ``AuthService.LoginByAppSecret``;
- ``password``: a session opened with ``AuthService.ValidateUser`` (older on-premises installs).

The server answers with a ``kdservice-sessionid`` cookie, sent back on every call. When a call
answers that the session is lost (``MsgCode 1``), the client logs in again, once however many
calls are waiting, and repeats the call. When it answers that a call limit is hit
(``MsgCode 14``), every call pauses, doubling the pause while it lasts. Failures surface as
`KingdeeUnavailable` (try later), `KingdeeAuthFailed` (fix the config) or
`KingdeeBusinessError` (K3Cloud's own ``Errors``). TLS is always verified (Kingdee's SDK turns
verification off; we do not), against ``ca_file`` when an on-premises server has its own CA.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import aiohttp
import structlog

from dropship_kingdee.errors import (
    ErrorItem,
    KingdeeAuthFailed,
    KingdeeBusinessError,
    KingdeeUnavailable,
)
from dropship_kingdee.options import KingdeeOptions
from dropship_kingdee.signing import signature_headers
from gateway.plugin_api import Clock

STUB = "Kingdee.BOS.WebApi.ServicesStub."
SESSION_COOKIE = "kdservice-sessionid"
SESSION_LOST = 1
CALL_LIMIT = 14


@dataclass(frozen=True)
class SavedBill:
    fid: int
    number: str


def response_status(answer: Any) -> dict[str, Any] | None:
    """The ``ResponseStatus`` of an answer, also inside ExecuteBillQuery's ``[[...]]`` wrapping
    of a failure; None for a plain result (rows, a login result)."""
    node = answer
    while isinstance(node, list) and node:
        node = node[0]
    if not isinstance(node, dict):
        return None
    result = node.get("Result")
    if isinstance(result, dict) and isinstance(result.get("ResponseStatus"), dict):
        status: dict[str, Any] = result["ResponseStatus"]
        return status
    return None


def _errors_of(status: dict[str, Any]) -> tuple[ErrorItem, ...]:
    items = []
    for error in status.get("Errors") or []:
        if isinstance(error, dict):
            items.append(
                ErrorItem(
                    field_name=error.get("FieldName") or None,
                    message=str(error.get("Message") or "").strip(),
                    index=int(error.get("DIndex") or 0),
                )
            )
    return tuple(items)


class KingdeeClient:
    """One client per channel incarnation: ``async with KingdeeClient(...) as client``."""

    def __init__(self, options: KingdeeOptions, clock: Clock, log: Any = None) -> None:
        self._options = options
        self._clock = clock
        self._log = log or structlog.get_logger(__name__)
        base = options.url if options.url.endswith("/") else options.url + "/"
        self._base = base
        self._base_path = urlparse(base).path
        self._http: aiohttp.ClientSession | None = None
        self._session_id: str | None = None
        self._generation = 0  # bumped at each new session: who saw which session
        self._login_lock = asyncio.Lock()
        self._paused_until = 0.0
        self._limit_strikes = 0
        self.logins = 0

    async def __aenter__(self) -> KingdeeClient:
        context = ssl.create_default_context(cafile=self._options.ca_file)
        self._http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=context, limit=8),
            timeout=aiohttp.ClientTimeout(total=self._options.timeout_s),
            cookie_jar=aiohttp.DummyCookieJar(),  # the session cookie is handled here
        )
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    # -- the one way out -----------------------------------------------------------------------

    async def call(self, service: str, body: dict[str, Any]) -> Any:
        """Call ``<Service>.<Method>`` (e.g. ``DynamicFormService.Save``) and return the decoded
        answer once K3Cloud says it succeeded."""
        relogged = False
        while True:
            await self._wait_out_call_limit()
            if self._options.auth != "signature" and self._session_id is None:
                await self._new_session(self._generation)
            generation = self._generation
            answer = await self._post(service, body)
            status = response_status(answer)
            if status is None or status.get("IsSuccess", True):
                self._limit_strikes = 0
                return answer
            code = int(status.get("MsgCode") or 0)
            if code == SESSION_LOST:
                if relogged:  # a fresh session is refused at once: the credentials are wrong
                    raise KingdeeAuthFailed(
                        f"{service}: {'; '.join(str(e) for e in _errors_of(status))}"
                    )
                self._log.info("kingdee.session_lost", service=service)
                await self._new_session(generation)
                relogged = True
                continue
            if code == CALL_LIMIT:
                self._call_limited(service)
                continue
            self._limit_strikes = 0
            raise KingdeeBusinessError(service, _errors_of(status), code)

    async def _post(self, service: str, body: dict[str, Any]) -> Any:
        assert self._http is not None, "use the client as `async with`"
        url = f"{self._base}{STUB}{service}.common.kdsvc"
        headers = {"Content-Type": "application/json", "Accept-Charset": "utf-8"}
        options = self._options
        if options.auth == "signature" and not service.startswith("AuthService."):
            assert options.app_id is not None
            assert options.app_secret is not None
            headers.update(
                signature_headers(
                    path=f"{self._base_path}{STUB}{service}.common.kdsvc",
                    app_id=options.app_id,
                    app_secret=options.app_secret,
                    acct_id=options.acct_id,
                    user_name=options.user_name,
                    lcid=options.lcid,
                    org_number=options.org_number,
                    # K3Cloud checks the timestamp against its own clock: it is the wall clock's,
                    # not the gateway's (which tests and the conformance kit move).
                    unix_time=int(time.time()),
                )
            )
        if self._session_id:
            headers["Cookie"] = f"{SESSION_COOKIE}={self._session_id}"
            headers[SESSION_COOKIE] = self._session_id
        payload = json.dumps(body, ensure_ascii=False).encode()
        try:
            async with self._http.post(url, data=payload, headers=headers) as response:
                text = await response.text(encoding="utf-8", errors="replace")
                cookie = response.cookies.get(SESSION_COOKIE)
                if cookie is not None and cookie.value:
                    self._session_id = cookie.value
                if response.status not in (200, 206):
                    raise KingdeeUnavailable(f"{service}: HTTP {response.status} {text[:200]!r}")
        except (aiohttp.ClientError, TimeoutError) as error:
            raise KingdeeUnavailable(f"{service}: {type(error).__name__}: {error}") from None
        if text.startswith("response_error:"):
            raise KingdeeUnavailable(f"{service}: {text[15:].strip()[:300]}")
        try:
            return json.loads(text)
        except ValueError:
            raise KingdeeUnavailable(f"{service}: the answer is not JSON: {text[:200]!r}") from None

    # -- sessions ------------------------------------------------------------------------------

    async def _new_session(self, seen_generation: int) -> None:
        """Replace the session `seen_generation` was using; whoever comes second finds it
        already replaced and goes on with the new one."""
        async with self._login_lock:
            if self._generation != seen_generation:
                return
            self._session_id = None
            if self._options.auth != "signature":
                await self._login()
            self._generation += 1

    async def _login(self) -> None:
        options = self._options
        if options.auth == "app_secret":
            service = "AuthService.LoginByAppSecret"
            params: list[Any] = [
                options.acct_id,
                options.user_name,
                options.app_id,
                options.app_secret,
                options.lcid,
            ]
        else:
            service = "AuthService.ValidateUser"
            params = [options.acct_id, options.user_name, options.password, options.lcid]
        answer = await self._post(service, {"parameters": params})
        ok = isinstance(answer, dict) and (
            answer.get("LoginResultType") == 1 or answer.get("IsSuccessByAPI") is True
        )
        if not ok:
            message = answer.get("Message") if isinstance(answer, dict) else None
            raise KingdeeAuthFailed(f"{service}: {message or answer!r}")
        if self._session_id is None and isinstance(answer, dict):
            self._session_id = answer.get("KDSVCSessionId") or None
        self.logins += 1
        self._log.info("kingdee.logged_in", auth=options.auth, user=options.user_name)

    # -- call limits ---------------------------------------------------------------------------

    def _call_limited(self, service: str) -> None:
        options = self._options
        pause = min(
            options.call_limit_backoff_s * 2**self._limit_strikes, options.call_limit_backoff_max_s
        )
        if self._limit_strikes == 0:
            self._log.warning("kingdee.call_limited", service=service, pause_s=pause)
        self._limit_strikes += 1
        self._paused_until = max(self._paused_until, self._clock.monotonic() + pause)

    async def _wait_out_call_limit(self) -> None:
        while (delay := self._paused_until - self._clock.monotonic()) > 0:
            await self._clock.sleep(delay)

    # -- DynamicFormService --------------------------------------------------------------------

    async def execute_bill_query(
        self,
        form_id: str,
        field_keys: list[str],
        filter_string: str = "",
        order_string: str = "",
        start_row: int = 0,
        limit: int = 0,
    ) -> list[list[Any]]:
        """Rows (one list of values per row, in `field_keys` order)."""
        data = {
            "FormId": form_id,
            "FieldKeys": ",".join(field_keys),
            "FilterString": filter_string,
            "OrderString": order_string,
            "TopRowCount": 0,
            "StartRow": start_row,
            "Limit": limit,
            "SubSystemId": "",
        }
        answer = await self.call("DynamicFormService.ExecuteBillQuery", {"data": data})
        if not isinstance(answer, list) or not all(isinstance(row, list) for row in answer):
            raise KingdeeUnavailable(f"ExecuteBillQuery: unexpected answer {str(answer)[:200]}")
        return answer

    async def save(
        self, form_id: str, model: dict[str, Any], need_update_fields: list[str] | None = None
    ) -> SavedBill:
        data: dict[str, Any] = {
            "NeedUpDateFields": need_update_fields or [],
            "NeedReturnFields": [],
            "IsDeleteEntry": "false" if need_update_fields else "true",
            "IsVerifyBaseDataField": "true",
            "IsAutoSubmitAndAudit": False,
            "Model": model,
        }
        answer = await self.call("DynamicFormService.Save", {"formid": form_id, "data": data})
        result = answer.get("Result", {}) if isinstance(answer, dict) else {}
        entities = (result.get("ResponseStatus") or {}).get("SuccessEntitys") or []
        fid, number = result.get("Id"), result.get("Number")
        if (fid is None or number is None) and entities:
            fid, number = entities[0].get("Id"), entities[0].get("Number")
        if fid is None or number is None:
            raise KingdeeUnavailable(f"Save {form_id}: no Id/Number in {str(answer)[:200]}")
        return SavedBill(int(fid), str(number))

    async def submit(self, form_id: str, number: str) -> None:
        await self.call(
            "DynamicFormService.Submit", {"formid": form_id, "data": {"Numbers": [number]}}
        )

    async def audit(self, form_id: str, number: str) -> None:
        await self.call(
            "DynamicFormService.Audit", {"formid": form_id, "data": {"Numbers": [number]}}
        )
