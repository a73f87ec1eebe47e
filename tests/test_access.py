"""Access control (issue 9): every route tried with no token, a wrong token and each role; only
the access docs/openapi.yaml documents (`x-roles` of each operation) passes, and the audit log
names who did what. Also: the dashboard's login, secure-by-default open mode, the per-token
intake limit."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from gateway.api.access import CSRF_HEADER, ROUTE_ACCESS, SESSION_COOKIE
from gateway.app.runtime import Gateway
from gateway.domain.access import new_token, token_digest
from gateway.infra.config import AuthSection
from tests.conftest import WriteConfig, base_config, start_gateway
from tests.harness import ROOT, Mosquitto, order_json
from tests.test_docs import documented_operations, registered_routes

TOKENS = {
    "viewer": "viewer-token-0123456789",
    "operator": "operator-token-0123456789",
    "admin": "admin-token-0123456789",
    "supplier:sup-a": "supplier-a-token-0123456789",
    "supplier:sup-b": "supplier-b-token-0123456789",
}
NAMES = {role: f"{role.replace(':', '-')}-user" for role in TOKENS}
# The operator's token is given by its hash only, as a careful config would.
HASHED = {"operator"}


def token_config() -> list[dict[str, str]]:
    tokens = []
    for role, token in TOKENS.items():
        entry = {"name": NAMES[role], "role": role}
        if role in HASHED:
            entry["sha256"] = token_digest(token)
        else:
            entry["token"] = token
        tokens.append(entry)
    return tokens


def suppliers() -> list[dict[str, Any]]:
    # Disabled: nothing is sent to them; they exist so notices have somewhere to go.
    return [
        {"id": sid, "name": sid, "url": "http://127.0.0.1:9", "regions": ["CN"], "enabled": False}
        for sid in ("sup-a", "sup-b")
    ]


async def gateway_with(
    tmp_path: Path, broker: Mosquitto, write_config: WriteConfig, **sections: Any
) -> Gateway:
    config = base_config(tmp_path, broker, suppliers=suppliers(), **sections)
    return await start_gateway(write_config(config))


@pytest.fixture
async def gateway(
    tmp_path: Path, broker: Mosquitto, write_config: WriteConfig
) -> AsyncIterator[Gateway]:
    running = await gateway_with(tmp_path, broker, write_config, auth={"tokens": token_config()})
    try:
        yield running
    finally:
        await running.stop()


def bearer(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


async def call(
    http: aiohttp.ClientSession,
    gateway: Gateway,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: Any = None,
) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:
    data = None if body is None else json.dumps(body).encode()
    request_headers = {"Content-Type": "application/json"} if data else {}
    async with http.request(
        method,
        f"{gateway.http_url}{path}",
        data=data,
        headers={**request_headers, **(headers or {})},
    ) as response:
        if response.content_type == "text/event-stream":  # the dashboard's stream never ends
            return response.status, None, response.headers
        text = await response.text()
        try:
            answer: Any = json.loads(text)
        except ValueError:
            answer = text
        return response.status, answer, response.headers


def refused_by_access(status: int, answer: Any) -> bool:
    """A 401/403 of the access layer (a handler's own 401, a bad signature, is not one)."""
    code = answer.get("error", {}).get("code") if isinstance(answer, dict) else None
    return (status, code) in ((401, "unauthenticated"), (403, "forbidden"))


# -- the matrix ---------------------------------------------------------------------------------

IDENTITIES = ["no token", "wrong token", *TOKENS]
counter = itertools.count()


def documented_roles() -> dict[tuple[str, str], tuple[list[str], str | None]]:
    openapi = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text(encoding="utf-8"))
    return {
        key: (operation["x-roles"], operation.get("x-public-setting"))
        for key, operation in documented_operations(openapi).items()
    }


def passes(identity: str, roles: list[str], supplier_in_path: str | None) -> bool:
    """What the docs promise for this identity."""
    if "anyone" in roles:
        return True
    if identity in ("no token", "wrong token"):
        return False
    if identity.startswith("supplier:"):
        own = identity.removeprefix("supplier:") == supplier_in_path
        return "supplier" in roles or ("supplier:own" in roles and own)
    return identity in roles


def request_for(method: str, route: str, order_id: str) -> tuple[str, Any]:
    """A concrete path and a plausible body for a route."""
    path = route.replace("{order_id}", order_id).replace("{supplier_id}", "sup-a")
    path = path.replace("{name}", "app.js")  # a dashboard file
    body: Any = None
    if (method, route) == ("post", "/api/v1/orders"):
        body = order_json(f"SO-MATRIX-{next(counter)}", [("SKU-1", 1)])
    elif route.endswith("/shipments"):
        body = {"po_id": "po_unknown-1", "carrier": "SF", "tracking_number": "SF1", "lines": []}
    elif (method, route) == ("post", "/api/v1/session"):
        body = {"token": TOKENS["viewer"]}
    return path, body


def headers_for(identity: str) -> dict[str, str]:
    if identity == "no token":
        return {}
    if identity == "wrong token":
        return {"Authorization": f"Bearer {new_token()}"}
    return bearer(identity)


async def test_every_route_lets_exactly_the_documented_roles_through(
    http: aiohttp.ClientSession, gateway: Gateway
) -> None:
    status, answer, _ = await call(
        http,
        gateway,
        "POST",
        "/api/v1/orders",
        bearer("operator"),
        order_json("SO-1", [("SKU-1", 1)]),
    )
    assert status == 202, answer
    order_id = answer["accepted"][0]["order_id"]
    documented = documented_roles()
    defaults = AuthSection()
    wrong: list[str] = []
    for method, route in sorted(registered_routes()):
        if method == "head":
            continue
        roles, setting = documented[(method, route)]
        public = setting is not None and getattr(defaults, setting)
        for identity in IDENTITIES:
            path, body = request_for(method, route, order_id)
            status, answer, headers = await call(
                http, gateway, method.upper(), path, headers_for(identity), body
            )
            expected = public or passes(
                identity, roles, "sup-a" if "{supplier_id}" in route else None
            )
            if expected == refused_by_access(status, answer):
                wrong.append(f"{method.upper()} {route} as {identity}: {status} {answer}")
            if status == 401 and refused_by_access(status, answer):
                assert headers["WWW-Authenticate"].startswith("Bearer")
    assert not wrong, "\n".join(wrong)


async def test_the_audit_log_names_who_did_what(
    http: aiohttp.ClientSession, gateway: Gateway
) -> None:
    status, answer, _ = await call(
        http,
        gateway,
        "POST",
        "/api/v1/orders",
        bearer("operator"),
        order_json("SO-A", [("SKU-1", 1)]),
    )
    assert status == 202
    order_id = answer["accepted"][0]["order_id"]
    notice = {"po_id": "po_x-1", "carrier": "SF", "tracking_number": "SF9", "lines": []}
    await call(
        http, gateway, "POST", "/api/v1/suppliers/sup-a/shipments", bearer("supplier:sup-b"), notice
    )
    await call(
        http,
        gateway,
        "POST",
        "/api/v1/orders",
        bearer("viewer"),
        order_json("SO-V", [("SKU-1", 1)]),
    )
    await call(http, gateway, "POST", "/api/v1/orders", {}, order_json("SO-N", [("SKU-1", 1)]))
    await call(http, gateway, "GET", f"/api/v1/orders/{order_id}", bearer("viewer"))
    status, _, _ = await call(
        http, gateway, "GET", f"/api/v1/orders/{order_id}/ship_to", bearer("admin")
    )
    assert status == 200
    await gateway.audit.flush()

    status, answer, _ = await call(http, gateway, "GET", "/api/v1/audit?limit=500", bearer("admin"))
    assert status == 200, answer
    seen = [
        (e["actor"], e["action"], e["target"], e["status"]) for e in reversed(answer["entries"])
    ]
    assert seen == [
        ("operator-user", "POST /api/v1/orders", None, 202),
        ("supplier-sup-b-user", "POST /api/v1/suppliers/{supplier_id}/shipments", "sup-a", 403),
        ("viewer-user", "POST /api/v1/orders", None, 403),
        # nobody (no token) is not in the log; a plain read is not either; personal data is
        ("admin-user", "GET /api/v1/orders/{order_id}/ship_to", order_id, 200),
    ]
    first = answer["entries"][-1]
    assert first["detail"] == {
        "accepted": 1,
        "rejected": 0,
        "duplicates": 0,
        "order_ids": [order_id],
    }
    assert first["role"] == "operator"
    assert first["via"] == "bearer"
    assert first["remote"] == "127.0.0.1"
    assert first["at"].endswith("Z")

    status, answer, _ = await call(
        http, gateway, "GET", "/api/v1/audit?actor=viewer-user", bearer("admin")
    )
    assert [e["actor"] for e in answer["entries"]] == ["viewer-user"]


async def test_the_audit_log_pages_newest_first_and_cannot_be_rewritten(
    http: aiohttp.ClientSession, gateway: Gateway
) -> None:
    for index in range(5):
        await call(
            http,
            gateway,
            "POST",
            "/api/v1/orders",
            bearer("admin"),
            order_json(f"SO-P{index}", [("SKU-1", 1)]),
        )
    await gateway.audit.flush()
    seqs: list[int] = []
    cursor = ""
    while True:
        status, answer, _ = await call(
            http, gateway, "GET", f"/api/v1/audit?limit=2{cursor}", bearer("admin")
        )
        assert status == 200
        seqs += [e["seq"] for e in answer["entries"]]
        if answer["next_cursor"] is None:
            break
        cursor = f"&cursor={answer['next_cursor']}"
    assert len(seqs) == 5
    assert seqs == sorted(seqs, reverse=True)
    status, answer, _ = await call(
        http, gateway, "GET", "/api/v1/audit?limit=0&cursor=x", bearer("admin")
    )
    assert status == 400
    assert {d["path"] for d in answer["error"]["details"]} == {"query.limit", "query.cursor"}

    def tamper(tx: Any) -> None:
        tx.execute("DELETE FROM audit_log")

    with pytest.raises(Exception, match="append-only"):
        await gateway.db.write(tamper)


async def test_viewers_see_personal_data_masked_and_operators_can_read_the_address(
    http: aiohttp.ClientSession, gateway: Gateway
) -> None:
    _, answer, _ = await call(
        http,
        gateway,
        "POST",
        "/api/v1/orders",
        bearer("operator"),
        order_json("SO-M", [("SKU-1", 1)]),
    )
    order_id = answer["accepted"][0]["order_id"]
    _, view, _ = await call(http, gateway, "GET", f"/api/v1/orders/{order_id}", bearer("viewer"))
    assert view["ship_to"]["phone"] == "138****5678"
    assert "13812345678" not in json.dumps(view, ensure_ascii=False)
    status, _, _ = await call(
        http, gateway, "GET", f"/api/v1/orders/{order_id}/ship_to", bearer("viewer")
    )
    assert status == 403
    status, full, _ = await call(
        http, gateway, "GET", f"/api/v1/orders/{order_id}/ship_to", bearer("operator")
    )
    assert status == 200
    assert full["ship_to"]["phone"] == "13812345678"
    assert full["ship_to"]["address1"] == "文三路 100 号"


# -- the dashboard's login ------------------------------------------------------------------------


async def test_a_browser_logs_in_with_a_token_and_gets_an_httponly_session(
    gateway: Gateway,
) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        base = gateway.http_url
        async with browser.get(f"{base}/api/v1/suppliers") as response:
            assert response.status == 401
        async with browser.post(
            f"{base}/api/v1/session", json={"token": "wrong-token-000000000"}
        ) as response:
            assert response.status == 401
            assert (await response.json())["error"]["code"] == "unauthenticated"
        async with browser.post(
            f"{base}/api/v1/session", json={"token": TOKENS["operator"]}
        ) as response:
            assert response.status == 200
            me = await response.json()
            cookie = response.cookies[SESSION_COOKIE]
        assert cookie["httponly"]
        assert cookie["samesite"] == "Strict"
        assert cookie["path"] == "/"
        assert me["name"] == "operator-user"
        assert me["role"] == "operator"
        assert me["via"] == "session"
        assert me["sees_personal_data"] is True
        csrf = me["csrf_token"]

        async with browser.get(f"{base}/api/v1/suppliers") as response:
            assert response.status == 200
        async with browser.get(f"{base}/api/v1/session") as response:
            assert (await response.json())["csrf_token"] == csrf  # again, after a page reload
        order = order_json("SO-BROWSER", [("SKU-1", 1)])
        async with browser.post(f"{base}/api/v1/orders", json=order) as response:
            assert response.status == 403  # a cross-site form could do this much: refused
            assert CSRF_HEADER in (await response.json())["error"]["message"]
        async with browser.post(
            f"{base}/api/v1/orders", json=order, headers={CSRF_HEADER: csrf}
        ) as response:
            assert response.status == 202
        async with browser.delete(
            f"{base}/api/v1/session", headers={CSRF_HEADER: csrf}
        ) as response:
            assert response.status == 200
        async with browser.get(f"{base}/api/v1/suppliers") as response:
            assert response.status == 401

    await gateway.audit.flush()
    entries = await gateway.db.fetchall(
        "SELECT actor, via, action, status FROM audit_log ORDER BY seq"
    )
    assert [tuple(e) for e in entries] == [
        ("operator-user", "session", "POST /api/v1/session", 200),
        ("operator-user", "session", "POST /api/v1/orders", 403),
        ("operator-user", "session", "POST /api/v1/orders", 202),
        ("operator-user", "session", "DELETE /api/v1/session", 200),
    ]


# -- tokens made with the CLI ----------------------------------------------------------------------


async def test_tokens_made_and_revoked_with_the_cli_work_on_a_running_gateway(
    http: aiohttp.ClientSession, gateway: Gateway, tmp_path: Path
) -> None:
    from tests.test_token_cli import run_cli, wait_for_status

    config = tmp_path / "gateway.toml"
    # In a thread: the gateway shares this event loop and must keep committing meanwhile.
    created = await asyncio.to_thread(
        run_cli, config, "token", "create", "--name", "ci-bot", "--role", "operator"
    )
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert re.fullmatch(r"dgw_[A-Za-z0-9_-]{43}", token)
    headers = {"Authorization": f"Bearer {token}"}
    await wait_for_status(http, f"{gateway.http_url}/api/v1/suppliers", headers, 200)
    stored = await gateway.db.fetchall("SELECT sha256 FROM api_tokens")
    assert [r[0] for r in stored] == [token_digest(token)]  # the hash, never the token

    revoked = await asyncio.to_thread(run_cli, config, "token", "revoke", "ci-bot")
    assert revoked.returncode == 0, revoked.stderr
    await wait_for_status(http, f"{gateway.http_url}/api/v1/suppliers", headers, 401)


# -- secure by default ---------------------------------------------------------------------------


async def test_without_tokens_the_api_is_open_on_loopback_with_a_warning(
    http: aiohttp.ClientSession,
    tmp_path: Path,
    broker: Mosquitto,
    write_config: WriteConfig,
    capsys: pytest.CaptureFixture[str],
) -> None:
    gateway = await gateway_with(tmp_path, broker, write_config)
    try:
        status, answer, _ = await call(
            http, gateway, "POST", "/api/v1/orders", {}, order_json("SO-OPEN", [("SKU-1", 1)])
        )
        assert status == 202
        status, me, _ = await call(http, gateway, "GET", "/api/v1/session")
        assert me["name"] == "anonymous"
        assert me["via"] == "open"
        await gateway.audit.flush()
        status, answer, _ = await call(http, gateway, "GET", "/api/v1/audit")
        assert [(e["actor"], e["action"]) for e in answer["entries"]] == [
            ("anonymous", "POST /api/v1/orders")
        ]
    finally:
        await gateway.stop()
    assert "auth.open" in capsys.readouterr().out


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
async def test_without_tokens_the_gateway_refuses_a_network_address(
    host: str, tmp_path: Path, broker: Mosquitto, write_config: WriteConfig
) -> None:
    from tests.test_token_cli import run_cli

    config = write_config(base_config(tmp_path, broker, http={"host": host, "port": 0}))
    result = run_cli(config, "serve", timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    refused = [json.loads(line) for line in result.stdout.splitlines() if "gateway.refused" in line]
    assert refused, result.stdout
    assert "no API token" in refused[0]["error"]
    assert '"gateway.started"' not in result.stdout


# -- limits --------------------------------------------------------------------------------------


async def test_intake_is_rate_limited_per_token_with_retry_after(
    http: aiohttp.ClientSession, tmp_path: Path, broker: Mosquitto, write_config: WriteConfig
) -> None:
    # A bucket of 3 that refills once in 1,000 s: the 4th request in a row is over, however
    # slow this machine is.
    gateway = await gateway_with(
        tmp_path,
        broker,
        write_config,
        auth={"tokens": token_config()},
        limits={"intake_rate_per_s": 0.001, "intake_burst": 3},
    )
    try:
        statuses = []
        for index in range(4):
            status, answer, headers = await call(
                http,
                gateway,
                "POST",
                "/api/v1/orders",
                bearer("operator"),
                order_json(f"SO-R{index}", [("SKU-1", 1)]),
            )
            statuses.append(status)
        assert statuses == [202, 202, 202, 429]
        assert answer["error"]["code"] == "rate_limited"
        assert 990 <= int(headers["Retry-After"]) <= 1000
        # another token has its own bucket; reads are not limited
        status, _, _ = await call(
            http,
            gateway,
            "POST",
            "/api/v1/orders",
            bearer("admin"),
            order_json("SO-R9", [("SKU-1", 1)]),
        )
        assert status == 202
        status, _, _ = await call(http, gateway, "GET", "/api/v1/orders", bearer("operator"))
        assert status == 200
        rows = await gateway.db.fetchall("SELECT external_id FROM orders ORDER BY seq")
        assert [r[0] for r in rows] == ["SO-R0", "SO-R1", "SO-R2", "SO-R9"]
    finally:
        await gateway.stop()


async def test_health_and_metrics_are_open_or_protected_by_config(
    http: aiohttp.ClientSession, tmp_path: Path, broker: Mosquitto, write_config: WriteConfig
) -> None:
    gateway = await gateway_with(
        tmp_path,
        broker,
        write_config,
        auth={"tokens": token_config(), "public_health": False, "public_metrics": True},
    )
    try:
        assert (await call(http, gateway, "GET", "/healthz"))[0] == 401
        assert (await call(http, gateway, "GET", "/readyz"))[0] == 401
        assert (await call(http, gateway, "GET", "/readyz", bearer("viewer")))[0] == 200
        assert (await call(http, gateway, "GET", "/metrics"))[0] == 200
    finally:
        await gateway.stop()


def test_every_route_has_an_access_rule_and_documented_roles() -> None:
    routes = {(m.upper(), p) for m, p in registered_routes() if m != "head"}
    assert routes == set(ROUTE_ACCESS), "gateway/api/access.py ROUTE_ACCESS differs from the routes"
    documented = documented_roles()
    for (method, route), access in ROUTE_ACCESS.items():
        roles, setting = documented[(method.lower(), route)]
        assert roles == access.role_names(), f"{method} {route}: x-roles differ from the code"
        assert setting == access.public_if, f"{method} {route}: x-public-setting differs"
