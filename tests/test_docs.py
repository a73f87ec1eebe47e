"""The documents in docs/ against the code: a route, a response status, a request schema, a
status value, an MQTT topic or event type, an alert kind,"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from gateway.actors.health_reporter import _ALERTS
from gateway.actors.supplier_health import SupplierHealth
from gateway.api.access import MUTATING, ROUTE_ACCESS
from gateway.api.app import build_app
from gateway.api.context import ApiContext
from gateway.domain.access import READERS, Role
from gateway.domain.intake import order_schema
from gateway.domain.lifecycle import order_event_type
from gateway.domain.model import OrderStatus, PoStatus
from gateway.domain.notices import ShipmentNotice
from gateway.feed import messages as feed
from gateway.feed.messages import GATEWAY_STATUS
from gateway.infra.clock import SystemClock

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
GATEWAY = ROOT / "gateway"
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DOCS / "openapi.yaml").read_text(encoding="utf-8"))
    return document


def text_of(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


# -- openapi.yaml ------------------------------------------------------------------------------


def registered_routes() -> dict[tuple[str, str], Any]:
    """(method, path) → handler of every route `build_app` registers. Nothing in the context is
    touched while building except `max_body`, so the other fields can stay empty."""
    fields: dict[str, Any] = {field.name: None for field in dataclasses.fields(ApiContext)}
    app = build_app(ApiContext(**{**fields, "max_body": 1024}), access=None)
    routes = {
        (route.method.lower(), route.resource.canonical): route.handler
        for route in app.router.routes()
        if route.resource is not None
    }
    # aiohttp adds HEAD to every GET route by itself.
    return {
        (method, path): handler
        for (method, path), handler in routes.items()
        if not (method == "head" and ("get", path) in routes)
    }


def documented_operations(openapi: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): operation
        for path, item in openapi["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


def test_openapi_is_an_openapi_3_1_document(openapi: dict[str, Any]) -> None:
    assert openapi["openapi"].startswith("3.1.")
    assert openapi["info"]["title"]
    refs = set(re.findall(r"#/components/(\w+)/(\w+)", (DOCS / "openapi.yaml").read_text()))
    missing = {f"{kind}/{name}" for kind, name in refs if name not in openapi["components"][kind]}
    assert not missing, f"references to undefined components: {sorted(missing)}"


def test_openapi_documents_exactly_the_registered_routes(openapi: dict[str, Any]) -> None:
    routes = set(registered_routes())
    documented = set(documented_operations(openapi))
    assert routes - documented == set(), "routes missing from docs/openapi.yaml"
    assert documented - routes == set(), "docs/openapi.yaml documents routes that do not exist"


def _status_codes(node: ast.AST) -> set[int]:
    """Integer status codes in `error_response(401, ...)`, `json_response(x, status=...)`,
    `web.Response(status=...)`, `web.StreamResponse(...)` calls under `node`; a call without a
    status means 200."""
    codes: set[int] = set()
    for call in ast.walk(node):
        if not isinstance(call, ast.Call):
            continue
        name = (
            call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
        )
        status: ast.AST | None = None
        if name == "error_response" and call.args:
            status = call.args[0]
        elif name in ("json_response", "Response", "StreamResponse"):
            keywords = {k.arg: k.value for k in call.keywords}
            status = keywords.get("status", call.args[1] if len(call.args) > 1 else None)
            if status is None:
                codes.add(200)
                continue
        if status is not None:
            codes.update(
                n.value
                for n in ast.walk(status)
                if isinstance(n, ast.Constant) and isinstance(n.value, int) and n.value >= 100
            )
    return codes


def _reads_body(node: ast.AST) -> bool:
    """Whether a handler reads the request body (`read_body(request)`, `request.read()`...)."""
    return any(
        (
            isinstance(n, ast.Attribute)
            and n.attr in ("read", "json", "text", "post")
            and isinstance(n.value, ast.Name)
            and n.value.id == "request"
        )
        or (isinstance(n, ast.Call) and getattr(n.func, "id", "") == "read_body")
        for n in ast.walk(node)
    )


# What reading a body can answer (gateway.api.body): a Content-Encoding that does not decode
# (400), a body slower than http.body_timeout_s (408), past http.max_body_bytes (413).
BODY_STATUSES = {400, 408, 413}


def handler_statuses(handler: Any) -> set[int]:
    """Every status a handler can answer with: its own, those of the module's helpers it calls
    (transitively), BODY_STATUSES if it reads the body, and 500 (the error middleware's answer
    to a bug)."""
    source = inspect.getmodule(handler)
    assert source is not None
    module = ast.parse(inspect.getsource(source))
    functions = {
        f.name: f for f in module.body if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    seen: set[str] = set()
    todo = [handler.__name__]
    codes: set[int] = {500}
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        function = functions[name]
        codes |= _status_codes(function)
        if _reads_body(function):
            codes |= BODY_STATUSES
        todo += [
            n.func.id
            for n in ast.walk(function)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in functions
        ]
    return codes


def test_every_status_a_handler_returns_is_documented_and_no_other(
    openapi: dict[str, Any],
) -> None:
    operations = documented_operations(openapi)
    for key, handler in registered_routes().items():
        documented = {int(status) for status in operations[key]["responses"]}
        expected = handler_statuses(handler) | access_statuses(*key)
        assert documented == expected, f"{key}: responses differ from the code"


def access_statuses(method: str, path: str) -> set[int]:
    """What the access middleware may answer before the handler (gateway/api/access.py)."""
    access = ROUTE_ACCESS[("GET" if method == "head" else method.upper(), path)]
    if access.public:
        return set()
    codes = {401}
    if access.roles != READERS | {Role.SUPPLIER} or method.upper() in MUTATING:
        codes.add(403)  # a role that may not, or a cookie without its CSRF token
    if access.rate_limited:
        codes.add(429)
    return codes


def _without_descriptions(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: _without_descriptions(v)
            for k, v in node.items()
            if not (k in ("description", "examples") and not isinstance(v, dict))
        }
    if isinstance(node, list):
        return [_without_descriptions(v) for v in node]
    return node


def _components_refs(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: v.replace("#/$defs/", "#/components/schemas/")
            if k == "$ref"
            else _components_refs(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_components_refs(v) for v in node]
    return node


@pytest.mark.parametrize(
    ("command", "schema"),
    [("order", order_schema()), ("shipment", msgspec.json.schema(ShipmentNotice))],
)
def test_request_schemas_are_the_codes_own(
    openapi: dict[str, Any], command: str, schema: dict[str, Any]
) -> None:
    """The request schemas are `python run.py schema order|shipment` with refs moved to
    components; descriptions may be added in the document."""
    components = openapi["components"]["schemas"]
    for name, definition in schema["$defs"].items():
        assert name in components, f"`run.py schema {command}` defines {name}; add it"
        assert _without_descriptions(components[name]) == _without_descriptions(
            _components_refs(definition)
        ), f"components.schemas.{name} differs from `run.py schema {command}`"


def test_status_enums_match_the_model(openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]
    assert schemas["OrderStatus"]["enum"] == [s.value for s in OrderStatus]
    assert schemas["PoStatus"]["enum"] == [s.value for s in PoStatus]


def supplier_snapshot_keys() -> set[str]:
    return set(SupplierHealth("sup-x", SystemClock()).snapshot())


def test_supplier_entry_lists_every_field_of_the_snapshot(openapi: dict[str, Any]) -> None:
    entry = openapi["components"]["schemas"]["SupplierEntry"]
    assert set(entry["properties"]) == supplier_snapshot_keys() | {"name", "adapter"}


# -- mqtt.md -----------------------------------------------------------------------------------

# Event types built at run time, by the source text of the expression that builds them.
DYNAMIC_EVENT_TYPES = {
    # gateway/store/purchase_orders.py: a PO is rejected, or failed.
    "f'po.{status.value}'": {f"po.{PoStatus.REJECTED.value}", f"po.{PoStatus.FAILED.value}"},
    # gateway/store/events.py, set_order_status: any order status can be moved into (the
    # constant types of `_po_event(...)` and of `event_type=` are collected where they are given).
    "kind": {order_event_type(s) for s in OrderStatus},
    # gateway/domain/model.py, alert_event: alerts have a topic of their own (`{p}/alerts/`).
    "f'alert.{kind}'": set(),
}
# Events that are not published on `{p}/events/{type}` but on a topic of their own.
OWN_TOPIC = {"supplier.health"}


def _event_type_argument(node: ast.Call) -> ast.expr | None:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    keywords = {k.arg: k.value for k in node.keywords}
    if name == "NewEvent":
        return keywords.get("type")
    if name == "_po_event":
        return node.args[0] if node.args else None
    return keywords.get("event_type")


def emitted_event_types() -> Iterator[tuple[str, str]]:
    """(event type, where) for every event the gateway package builds."""
    for path in sorted(GATEWAY.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            argument = _event_type_argument(node)
            if argument is None:
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                if argument.value not in OWN_TOPIC:
                    yield argument.value, where
                continue
            source = ast.unparse(argument)
            assert source in DYNAMIC_EVENT_TYPES, (
                f"{where}: an event type built by {source} that this test does not know; "
                "document the types it can take in docs/mqtt.md and add them to "
                "DYNAMIC_EVENT_TYPES"
            )
            for event_type in sorted(DYNAMIC_EVENT_TYPES[source]):
                yield event_type, where


def test_every_emitted_event_type_is_documented() -> None:
    mqtt = text_of("mqtt.md")
    types = dict(emitted_event_types())
    assert {"order.received", "po.shipped", "order.exception"} <= set(types)
    missing = {t: where for t, where in types.items() if f"`{t}`" not in mqtt}
    assert not missing, f"event types not in docs/mqtt.md: {missing}"


def test_every_documented_event_type_is_emitted() -> None:
    mqtt = text_of("mqtt.md")
    section = mqtt.split("#### Event types", 1)[1].split("\n### ", 1)[0]
    documented = set(re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \|", section, re.MULTILINE))
    assert documented == set(dict(emitted_event_types()))


def test_every_topic_is_documented() -> None:
    mqtt = text_of("mqtt.md")
    topics = [
        feed.order_status_topic("{order_id}"),
        feed.event_topic("{type}"),
        feed.supplier_health_topic("{supplier_id}"),
        feed.alert_topic("{kind}"),
        GATEWAY_STATUS,
    ]
    for topic in topics:
        assert f"`{{p}}/{topic}`" in mqtt, topic


def test_every_alert_kind_and_severity_is_documented() -> None:
    mqtt = text_of("mqtt.md")
    for kind, severity, _ in _ALERTS.values():
        assert re.search(rf"^\| `{kind}` \| `{severity}` \|", mqtt, re.MULTILINE), kind


def test_every_field_of_the_supplier_health_is_documented() -> None:
    mqtt = text_of("mqtt.md")
    section = mqtt.split("### `{p}/suppliers/{supplier_id}/health`", 1)[1].split("\n### ", 1)[0]
    for key in supplier_snapshot_keys() | {"at"}:
        assert f"| `{key}` |" in section, key


# docs/plugins.md is checked by tests/test_plugin_docs.py.
