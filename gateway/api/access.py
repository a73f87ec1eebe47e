"""Access control for the HTTP API (issue 9): who is calling, may they, and what they did.

Every request passes `access_middleware`. It finds the route's rule in `ROUTE_ACCESS` (the one
table of who may call what: add a row with every new route; a route without one is admin-only
and a test fails), identifies the caller (a bearer token, the dashboard's session cookie, or
nobody), answers 401/403/429 in the error shape of CONTRACT §3, and writes every mutating
request, and every read of personal data, to the audit log with the token's name.

Secure by default, as Mosquitto 2 is: with no token at all (none in the config, none made with
`run.py token create`) the API is open, but only on a loopback address; on any other address
the gateway refuses to start. Tokens made while it runs are seen within `REFRESH_S`, and so are
revocations.
"""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from aiohttp import web

from gateway.actors.audit_log import AuditLog
from gateway.api.errors import error_response
from gateway.domain.access import (
    ADMIN_ONLY,
    ANONYMOUS,
    HEALTH,
    INTAKE,
    METRICS,
    OPERATE,
    PERSONAL_DATA,
    PUBLIC,
    READ,
    SHIPMENT_NOTICE,
    SIGNED_IN,
    Access,
    Principal,
    Via,
    parse_role,
    refusal,
    token_digest,
)
from gateway.infra.clock import Clock
from gateway.infra.config import AuthSection, Config
from gateway.infra.rate_limit import RateLimiter, retry_after_header
from gateway.plugin_api.adapters import SubmitResult
from gateway.store.audit import AuditEntry
from gateway.store.db import Database
from gateway.store.tokens import list_tokens

log = structlog.get_logger(__name__)

# -- the role table -------------------------------------------------------------------------------
# (method, route as registered) → what it asks. HEAD follows GET. docs/openapi.yaml lists the
# same roles under each operation's `x-roles`; tests/test_access.py tries every route with every
# role against that list.

ROUTE_ACCESS: dict[tuple[str, str], Access] = {
    ("POST", "/api/v1/orders"): INTAKE,
    ("GET", "/api/v1/orders"): READ,
    ("GET", "/api/v1/orders/{order_id}"): READ,
    ("GET", "/api/v1/orders/{order_id}/ship_to"): PERSONAL_DATA,
    ("POST", "/api/v1/orders/{order_id}/cancel"): OPERATE,
    ("GET", "/api/v1/suppliers"): READ,
    ("GET", "/api/v1/plugins"): READ,
    ("POST", "/api/v1/suppliers/{supplier_id}/shipments"): SHIPMENT_NOTICE,
    ("POST", "/api/v1/session"): PUBLIC,
    ("GET", "/api/v1/session"): SIGNED_IN,
    ("DELETE", "/api/v1/session"): SIGNED_IN,
    ("GET", "/api/v1/audit"): ADMIN_ONLY,
    ("GET", "/healthz"): HEALTH,
    ("GET", "/readyz"): HEALTH,
    ("GET", "/metrics"): METRICS,
    # KPIs, alerts, dashboard (issue 9): the page and its files hold no data (it logs in).
    ("GET", "/api/v1/kpis"): READ,
    ("GET", "/api/v1/alerts"): READ,
    ("GET", "/api/v1/live"): READ,
    ("GET", "/"): PUBLIC,
    ("GET", "/dashboard/{name}"): PUBLIC,
}

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SESSION_COOKIE = "dgw_session"
CSRF_HEADER = "X-CSRF-Token"
WWW_AUTHENTICATE = 'Bearer realm="dropship-gateway"'
REFRESH_S = 5.0  # tokens made or revoked by `run.py token` take effect within this
MISS_REFRESH_S = 1.0  # an unknown token re-reads the store at most this often
MAX_SESSIONS = 10_000

_PRINCIPAL_KEY = web.RequestKey("principal", Principal)
_AUDIT_DETAIL_KEY = web.RequestKey("audit_detail", dict[str, Any])


class InsecureConfig(Exception):
    """The API would be open to a network: no tokens, and not on a loopback address."""


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve to anything


def principal_of(request: web.Request) -> Principal | None:
    """Who made this request (None on public routes called without credentials)."""
    return request.get(_PRINCIPAL_KEY)


def set_principal(request: web.Request, principal: Principal) -> None:
    """For a public route that identifies its caller itself (the login), so it is audited."""
    request[_PRINCIPAL_KEY] = principal


def note_audit(request: web.Request, **detail: Any) -> None:
    """Add facts to this request's audit entry (`detail`), e.g. how many orders it carried."""
    if _AUDIT_DETAIL_KEY not in request:
        request[_AUDIT_DETAIL_KEY] = {}
    request[_AUDIT_DETAIL_KEY].update(detail)


AUDITED_ORDER_IDS = 20  # a batch's ids beyond this are only counted


def note_intake(request: web.Request, results: Sequence[SubmitResult]) -> None:
    """What an intake request did, for its audit entry: counts, and the order ids of small
    requests (the usual single order), so the log answers "who sent order X"."""
    accepted = [r for r in results if r.accepted]
    detail: dict[str, Any] = {
        "accepted": len(accepted),
        "rejected": len(results) - len(accepted),
        "duplicates": sum(1 for r in accepted if r.duplicate),
    }
    if len(accepted) <= AUDITED_ORDER_IDS:
        detail["order_ids"] = [r.order_id for r in accepted]
    note_audit(request, **detail)


# -- tokens -----------------------------------------------------------------------------------


class TokenDirectory:
    """The tokens that exist: the config's (fixed) and the store's (re-read every REFRESH_S)."""

    def __init__(self, auth: AuthSection, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self.configured: dict[str, Principal] = {}
        for token in auth.tokens:
            role, supplier_id = parse_role(token.role)
            digest = token.sha256 or token_digest(token.token or "")
            self.configured[digest] = Principal(token.name, role, supplier_id)
        self._stored: dict[str, Principal] = {}
        self._read_at: float | None = None
        self._lock = asyncio.Lock()

    @property
    def count(self) -> int:
        return len(self.configured) + len(self._stored)

    async def refresh(self, older_than_s: float = 0.0) -> None:
        async with self._lock:
            now = self._clock.monotonic()
            if self._read_at is not None and now - self._read_at < older_than_s:
                return  # another request refreshed it meanwhile
            stored: dict[str, Principal] = {}
            for row in await list_tokens(self._db):
                role, supplier_id = parse_role(row.role)
                stored[row.sha256] = Principal(row.name, role, supplier_id)
            self._stored = stored
            self._read_at = now

    def _age(self) -> float:
        if self._read_at is None:
            return float("inf")
        return self._clock.monotonic() - self._read_at

    async def by_digest(self, digest: str) -> Principal | None:
        if self._age() >= REFRESH_S:
            await self.refresh(REFRESH_S)
        found = self.configured.get(digest) or self._stored.get(digest)
        if found is None and self._age() >= MISS_REFRESH_S:
            await self.refresh(MISS_REFRESH_S)  # made a moment ago with `run.py token create`?
            found = self._stored.get(digest)
        return found

    async def lookup(self, token: str) -> Principal | None:
        return await self.by_digest(token_digest(token))

    async def any_token(self) -> bool:
        if self._age() >= REFRESH_S:
            await self.refresh(REFRESH_S)
        return self.count > 0


# -- dashboard sessions -----------------------------------------------------------------------


@dataclass
class Session:
    token_digest: str  # re-checked on every request: revoking the token ends the session
    csrf_token: str
    expires_mono: float
    expires_at: datetime


class SessionStore:
    """Logins of the dashboard, in memory: a restart of the gateway logs everyone out."""

    def __init__(self, clock: Clock, ttl_s: float) -> None:
        self._clock = clock
        self.ttl_s = ttl_s
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def create(self, digest: str) -> tuple[str, Session]:
        session_id = secrets.token_urlsafe(32)
        session = Session(
            token_digest=digest,
            csrf_token=secrets.token_urlsafe(24),
            expires_mono=self._clock.monotonic() + self.ttl_s,
            expires_at=self._clock.now() + timedelta(seconds=self.ttl_s),
        )
        self._sessions[token_digest(session_id)] = session
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return session_id, session

    def get(self, session_id: str) -> Session | None:
        key = token_digest(session_id)
        session = self._sessions.get(key)
        if session is not None and session.expires_mono <= self._clock.monotonic():
            del self._sessions[key]
            return None
        return session

    def drop(self, session_id: str) -> None:
        self._sessions.pop(token_digest(session_id), None)


# -- the control --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    principal: Principal | None
    problem: str | None = None  # why presented credentials were refused
    session_id: str | None = None
    session: Session | None = None


class AccessControl:
    def __init__(
        self,
        config: Config,
        db: Database,
        clock: Clock,
        audit: AuditLog,
        routes: Mapping[tuple[str, str], Access] | None = None,
    ) -> None:
        self.auth = config.auth
        self.host = config.http.host
        self.tls = bool(config.http.tls_cert_file)
        self.clock = clock
        self.audit = audit
        self.routes = ROUTE_ACCESS if routes is None else routes
        self.tokens = TokenDirectory(config.auth, db, clock)
        self.sessions = SessionStore(clock, config.auth.session_ttl_s)
        self.limiter = RateLimiter(
            clock, config.limits.intake_rate_per_s, config.limits.intake_burst
        )
        self.loopback = is_loopback_host(self.host)

    async def prepare(self) -> None:
        """Read the tokens and refuse to expose an open API (before the HTTP server starts)."""
        await self.tokens.refresh()
        if self.tokens.count == 0:
            if not self.loopback:
                raise InsecureConfig(
                    f"http.host = {self.host!r} is not a loopback address and no API token "
                    "exists: add [[auth.tokens]] to the config or run `python run.py token "
                    "create --name NAME --role admin`, or listen on 127.0.0.1"
                )
            log.warning(
                "auth.open",
                message="no API tokens: the API is open to anyone on this machine",
                host=self.host,
            )
        elif not self.loopback and not self.tls:
            log.warning(
                "auth.cleartext",
                message="tokens travel unencrypted: set http.tls_cert_file and tls_key_file, "
                "or put a TLS proxy in front",
                host=self.host,
            )
        log.info("auth.ready", tokens=self.tokens.count, open=self.tokens.count == 0)

    def access_for(self, request: web.Request) -> tuple[Access, str | None]:
        """The rule of the matched route, and the route's path template."""
        resource = request.match_info.route.resource
        if request.match_info.http_exception is not None or resource is None:
            return SIGNED_IN, None  # unknown path or method: say so only to a caller we know
        method = "GET" if request.method == "HEAD" else request.method
        canonical = resource.canonical
        access = self.routes.get((method, canonical))
        if access is None:
            log.error("auth.route_without_rule", method=method, route=canonical)
            return ADMIN_ONLY, canonical
        return access, canonical

    def is_public(self, access: Access) -> bool:
        return access.public or (
            access.public_if is not None and bool(getattr(self.auth, access.public_if))
        )

    async def identify(self, request: web.Request) -> Identity:
        header = request.headers.get("Authorization")
        if header is not None:
            scheme, _, credential = header.strip().partition(" ")
            if scheme.lower() != "bearer" or not credential.strip():
                return Identity(None, "the Authorization header must be: Bearer <token>")
            principal = await self.tokens.lookup(credential.strip())
            if principal is None:
                return Identity(None, "the token is not valid (unknown or revoked)")
            return Identity(principal)
        session_id = request.cookies.get(SESSION_COOKIE)
        if session_id:
            session = self.sessions.get(session_id)
            principal = await self.tokens.by_digest(session.token_digest) if session else None
            if session is None or principal is None:
                return Identity(None, "the session has ended; log in again")
            return Identity(
                Principal(principal.name, principal.role, principal.supplier_id, Via.SESSION),
                session_id=session_id,
                session=session,
            )
        if self.loopback and not await self.tokens.any_token():
            return Identity(ANONYMOUS)
        return Identity(None)

    def record(
        self,
        request: web.Request,
        principal: Principal,
        action: str,
        status: int,
    ) -> None:
        target = next(iter(request.match_info.values()), None) if request.match_info else None
        detail = request.get(_AUDIT_DETAIL_KEY)
        self.audit.record(
            AuditEntry(
                at=self.clock.now(),
                actor=principal.name,
                role=principal.role_text,
                via=principal.via.value,
                action=action,
                target=target,
                status=status,
                remote=request.remote,
                detail=detail,
            )
        )


ACCESS = web.AppKey("access", AccessControl)
SESSION_KEY = web.RequestKey("session", tuple[str, Session])

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _unauthorized(message: str) -> web.Response:
    response = error_response(401, "unauthenticated", message)
    response.headers["WWW-Authenticate"] = WWW_AUTHENTICATE
    return response


@web.middleware
async def access_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    control = request.app[ACCESS]
    access, route = control.access_for(request)
    action = f"{request.method} {route or request.path}"
    mutating = request.method in MUTATING
    if control.is_public(access):
        return await _run_and_audit(control, request, handler, action, audit=mutating)
    identity = await control.identify(request)
    principal = identity.principal
    if principal is None:
        return _unauthorized(
            identity.problem or "this needs a token: send Authorization: Bearer <token>"
        )
    request[_PRINCIPAL_KEY] = principal
    if identity.session is not None and identity.session_id is not None:
        request[SESSION_KEY] = (identity.session_id, identity.session)
    reason = refusal(access, principal, request.match_info.get("supplier_id"))
    if reason is None and mutating and identity.session is not None:
        given = request.headers.get(CSRF_HEADER, "")
        if not secrets.compare_digest(given, identity.session.csrf_token):
            reason = f"a request made with the session cookie must carry {CSRF_HEADER}"
    if reason is not None:
        if mutating:
            control.record(request, principal, action, 403)
        log.warning("auth.forbidden", actor=principal.name, action=action)
        return error_response(403, "forbidden", reason)
    if access.rate_limited and principal.via != Via.OPEN:
        wait_s = control.limiter.acquire(principal.name)
        if wait_s > 0:
            response = error_response(
                429,
                "rate_limited",
                f"token {principal.name!r} is over its limit of "
                f"{control.limiter.rate_per_s:g} requests a second on this endpoint; "
                "retry after the Retry-After seconds",
            )
            response.headers["Retry-After"] = retry_after_header(wait_s)
            return response
    return await _run_and_audit(
        control, request, handler, action, audit=mutating or access.audit_reads
    )


async def _run_and_audit(
    control: AccessControl,
    request: web.Request,
    handler: Handler,
    action: str,
    *,
    audit: bool,
) -> web.StreamResponse:
    if not audit:
        return await handler(request)
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        principal = principal_of(request)  # a login sets it on its way
        read_failed = request.method not in MUTATING and status >= 400
        if principal is not None and not read_failed:
            control.record(request, principal, action, status)
