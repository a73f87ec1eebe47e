"""`/api/v1/session`: the dashboard's login (issue 9).

A browser logs in once with a token: `POST /api/v1/session {"token": "..."}` sets an HttpOnly,
SameSite=Strict session cookie, so page scripts never hold the token. The answer carries a
`csrf_token`; every mutating request made with the cookie must send it as `X-CSRF-Token`.
`GET` says who is logged in (and gives the CSRF token again after a page reload); `DELETE`
logs out. Programs send `Authorization: Bearer <token>` instead and need none of this.
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from gateway.api.access import (
    ACCESS,
    SESSION_COOKIE,
    SESSION_KEY,
    WWW_AUTHENTICATE,
    Session,
    principal_of,
    set_principal,
)
from gateway.api.errors import error_response, json_response
from gateway.domain.access import Principal, Via, token_digest
from gateway.store.codec import iso

MAX_LOGIN_BODY = 4096


class Login(msgspec.Struct, forbid_unknown_fields=True):
    token: str


_login_decoder = msgspec.json.Decoder(Login)


def _who(principal: Principal, session: Session | None) -> dict[str, Any]:
    return {
        "name": principal.name,
        "role": principal.role_text,
        "via": principal.via.value,
        "sees_personal_data": principal.sees_personal_data,
        "csrf_token": session.csrf_token if session else None,
        "expires_at": iso(session.expires_at) if session else None,
    }


async def login(request: web.Request) -> web.Response:
    control = request.app[ACCESS]
    if request.content_type != "application/json":
        return error_response(415, "unsupported_media_type", 'send {"token": "..."} as JSON')
    body = await request.content.read(MAX_LOGIN_BODY + 1)
    if len(body) > MAX_LOGIN_BODY:
        return error_response(413, "payload_too_large", "a login body is a token, no more")
    try:
        token = _login_decoder.decode(body).token
    except msgspec.DecodeError as error:
        return error_response(
            400, "invalid_json", 'expected {"token": "..."}', [{"path": "$", "message": str(error)}]
        )
    principal = await control.tokens.lookup(token)
    if principal is None:
        response = error_response(
            401, "unauthenticated", "the token is not valid (unknown or revoked)"
        )
        response.headers["WWW-Authenticate"] = WWW_AUTHENTICATE
        return response
    session_id, session = control.sessions.create(token_digest(token))
    principal = Principal(principal.name, principal.role, principal.supplier_id, Via.SESSION)
    set_principal(request, principal)
    response = json_response(_who(principal, session))
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int(control.sessions.ttl_s),
        path="/",
        httponly=True,
        secure=request.secure,
        samesite="Strict",
    )
    return response


async def whoami(request: web.Request) -> web.Response:
    principal = principal_of(request)
    assert principal is not None  # the middleware let only a known caller through
    current = request.get(SESSION_KEY)
    return json_response(_who(principal, current[1] if current else None))


async def logout(request: web.Request) -> web.Response:
    control = request.app[ACCESS]
    current = request.get(SESSION_KEY)
    if current:
        control.sessions.drop(current[0])
    response = json_response({"logged_out": current is not None})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response
