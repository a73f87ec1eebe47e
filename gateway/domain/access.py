"""Who may do what: the roles of API tokens, the identity behind a request, and what each kind of
route asks of it. Pure rules; the HTTP layer applies them (`gateway.api.access`).

A token is a random string the gateway shows once; only its SHA-256 is kept. Tokens are long
and random (256 bits), so a fast hash is enough: nobody can guess one to match a stored digest,
and checking a request costs a microsecond instead of the tens of milliseconds of a password KDF.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum

TOKEN_PREFIX = "dgw_"  # lets secret scanners and people recognise a leaked gateway token
SUPPLIER_ROLE_PREFIX = "supplier:"
TOKEN_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"
_TOKEN_NAME = re.compile(TOKEN_NAME_PATTERN)
_SUPPLIER_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
MIN_TOKEN_LENGTH = 16


class Role(StrEnum):
    VIEWER = "viewer"  # reads everything but the audit log; personal data masked
    OPERATOR = "operator"  # a viewer who also submits orders and acts on orders and exceptions
    ADMIN = "admin"  # everything, including the audit log
    SUPPLIER = "supplier"  # posts its own supplier's shipment notices, nothing else


class Via(StrEnum):
    """How a request proved who it is."""

    BEARER = "bearer"  # Authorization: Bearer <token>
    SESSION = "session"  # the dashboard's session cookie, got by logging in with a token
    OPEN = "open"  # no tokens exist and the API listens on loopback only


@dataclass(frozen=True)
class Principal:
    """The identity behind a request: a token's name and role."""

    name: str
    role: Role
    supplier_id: str | None = None  # the supplier of a `supplier:<id>` token
    via: Via = Via.BEARER

    @property
    def role_text(self) -> str:
        return format_role(self.role, self.supplier_id)

    @property
    def sees_personal_data(self) -> bool:
        """Operators and admins may read an order's full address (to correct it); viewers and
        suppliers see it masked, as everyone does in the order views."""
        return self.role in (Role.OPERATOR, Role.ADMIN)


ANONYMOUS = Principal("anonymous", Role.ADMIN, via=Via.OPEN)


def parse_role(text: str) -> tuple[Role, str | None]:
    """`viewer`, `operator`, `admin` or `supplier:<supplier id>`; raises ValueError saying why."""
    if text.startswith(SUPPLIER_ROLE_PREFIX):
        supplier_id = text[len(SUPPLIER_ROLE_PREFIX) :]
        if not _SUPPLIER_ID.match(supplier_id):
            raise ValueError(f"{text!r}: expected supplier:<supplier id>, such as supplier:sup-a")
        return Role.SUPPLIER, supplier_id
    try:
        role = Role(text)
    except ValueError:
        role = Role.SUPPLIER  # a bare `supplier` lacks its id
    if role == Role.SUPPLIER:
        raise ValueError(
            f"{text!r} is not a role; one of viewer, operator, admin, supplier:<supplier id>"
        )
    return role, None


def format_role(role: Role, supplier_id: str | None) -> str:
    return f"{SUPPLIER_ROLE_PREFIX}{supplier_id}" if role == Role.SUPPLIER else role.value


def valid_token_name(name: str) -> bool:
    return bool(_TOKEN_NAME.match(name))


def valid_digest(text: str) -> bool:
    return bool(_SHA256_HEX.match(text))


def new_token() -> str:
    """A fresh token: the prefix and 256 random bits, URL-safe."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What is stored of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# -- what a route asks ----------------------------------------------------------------------------

READERS = frozenset({Role.VIEWER, Role.OPERATOR, Role.ADMIN})
OPERATORS = frozenset({Role.OPERATOR, Role.ADMIN})
ADMINS = frozenset({Role.ADMIN})


@dataclass(frozen=True)
class Access:
    """What a route asks of a request.

    :param roles: the roles that may call it.
    :param public: anyone may call it, without a token (the login, the dashboard's page).
    :param public_if: the name of an `[auth]` setting that makes it public when true
        (`public_health`, `public_metrics`).
    :param own_supplier: a `supplier:<id>` token passes only for its own `{supplier_id}`.
    :param rate_limited: counts against the token's intake rate (`[limits]`).
    :param audit_reads: a successful read is written to the audit log too (personal data).
    """

    roles: frozenset[Role] = frozenset()
    public: bool = False
    public_if: str | None = None
    own_supplier: bool = False
    rate_limited: bool = False
    audit_reads: bool = False

    def role_names(self) -> list[str]:
        """The roles, as the docs list them (`x-roles` in docs/openapi.yaml)."""
        if self.public:
            return ["anyone"]
        order = [Role.VIEWER, Role.OPERATOR, Role.ADMIN, Role.SUPPLIER]
        supplier = "supplier:own" if self.own_supplier else "supplier"
        return [r.value if r != Role.SUPPLIER else supplier for r in order if r in self.roles]


PUBLIC = Access(public=True)
SIGNED_IN = Access(roles=READERS | {Role.SUPPLIER})  # any valid token
READ = Access(roles=READERS)
OPERATE = Access(roles=OPERATORS)
INTAKE = Access(roles=OPERATORS, rate_limited=True)
ADMIN_ONLY = Access(roles=ADMINS)
SHIPMENT_NOTICE = Access(roles=OPERATORS | {Role.SUPPLIER}, own_supplier=True)
PERSONAL_DATA = Access(roles=OPERATORS, audit_reads=True)
HEALTH = Access(roles=READERS, public_if="public_health")
METRICS = Access(roles=READERS, public_if="public_metrics")


def refusal(access: Access, principal: Principal, supplier_id: str | None) -> str | None:
    """Why `principal` may not call a route asking `access`, or None if it may."""
    if principal.role not in access.roles:
        allowed = " or ".join(access.role_names()) or "no token"
        return f"token {principal.name!r} has the role {principal.role_text}; this needs {allowed}"
    if (
        principal.role == Role.SUPPLIER
        and access.own_supplier
        and principal.supplier_id != supplier_id
    ):
        return (
            f"token {principal.name!r} may post notices for supplier {principal.supplier_id!r} only"
        )
    return None
