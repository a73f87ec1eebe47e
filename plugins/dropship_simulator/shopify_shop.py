"""A Shopify shop, simulated over real HTTP on 127.0.0.1: the stand-in the Shopify channel is
tested and demonstrated against.

It follows Shopify's public API, its limits and its error shapes:

- **Webhooks** (`orders/create`, `orders/updated`, `orders/paid`, `orders/cancelled`,
  `orders/fulfilled`, `orders/partially_fulfilled`, `fulfillments/create`) to each subscribed
  address, the body being the REST resource, with Shopify's headers (`X-Shopify-Topic`,
  `X-Shopify-Hmac-Sha256` = base64 HMAC-SHA256 of the raw body with the app's client secret,
  `X-Shopify-Shop-Domain`, `X-Shopify-API-Version`, `X-Shopify-Webhook-Id`,
  `X-Shopify-Event-Id`, `X-Shopify-Triggered-At`). A delivery that is not answered 2xx within
  the timeout (5 s) is retried on a schedule (Shopify: 8 retries over 4 hours) with the very
  same body and ids. Tests can lose webhooks, deliver one again, or post a forged one.
- **REST Admin API**: `GET /admin/api/{version}/orders.json` (filters, cursor pagination with
  `page_info` and `Link` headers) and `GET .../orders/{id}.json`, behind a leaky bucket of 40
  calls leaking 2 a second (`X-Shopify-Shop-Api-Call-Limit`, `429` with `Retry-After`).
- **GraphQL Admin API**: `POST /admin/api/{version}/graphql.json` with a real schema
  (`shopify_graphql`): an order's fulfillment orders and fulfillments, `fulfillmentCreate`.
  Query cost is charged to a bucket (`extensions.cost.throttleStatus`); a query that does not
  fit is answered `THROTTLED`.
- Both APIs want `X-Shopify-Access-Token`; a wrong one is `401` as Shopify words it.
- An outage (`available = False`): both APIs answer `503 Service Unavailable`.

Like `SupplierSimulator`, it is observable (`webhooks`, `deliveries`, `fulfillments`,
`rest_requests`, `graphql_requests`) and waitable without sleeping (`wait_until`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import math
import time
import uuid
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlencode

import aiohttp
import structlog
from aiohttp import web
from graphql import (
    GraphQLError,
    OperationDefinitionNode,
    execute,
    parse,
    validate,
)
from graphql.language import FragmentDefinitionNode

from dropship_simulator.shopify_graphql import (
    SINGLE_QUERY_MAX_COST,
    CostCalculator,
    build_admin_schema,
)
from dropship_simulator.shopify_state import SHOP_TZ, Change, ShopState

log = structlog.get_logger(__name__)

API_VERSION = "2024-10"
# Shopify: 8 retries over 4 hours, exponential. Tests and the demo pass shorter schedules.
SHOPIFY_RETRY_SCHEDULE_S = (60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 3840.0, 7680.0)
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
REST_THROTTLED = (
    "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted "
    "service."
)
ORDER_STATUSES = ("open", "closed", "cancelled", "any")
MAX_LIMIT = 250


def sign_webhook(body: bytes, secret: str) -> str:
    """Shopify's webhook signature: base64 of the HMAC-SHA256 of the raw body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@dataclass
class Webhook:
    """One webhook for one subscription: what Shopify sends, every attempt the same bytes."""

    topic: str
    address: str
    body: bytes
    hmac: str
    event_id: str
    webhook_id: str
    triggered_at: str
    order_id: int | None
    lost: bool = False
    status: int | None = None  # the last attempt's answer; None: none answered yet
    attempts: int = 0
    delivered: bool = False

    def headers(self, shop_domain: str, api_version: str) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "X-Shopify-Topic": self.topic,
            "X-Shopify-Hmac-Sha256": self.hmac,
            "X-Shopify-Shop-Domain": shop_domain,
            "X-Shopify-API-Version": api_version,
            "X-Shopify-Webhook-Id": self.webhook_id,
            "X-Shopify-Event-Id": self.event_id,
            "X-Shopify-Triggered-At": self.triggered_at,
        }


@dataclass(frozen=True)
class DeliveryAttempt:
    event_id: str
    topic: str
    attempt: int
    status: int | None  # None: no answer (refused, timed out)
    error: str | None = None


@dataclass(frozen=True)
class ApiRequest:
    api: str  # "rest" | "graphql"
    path: str
    status: int
    cost: int | None = None
    throttled: bool = False
    operation: str | None = None


@dataclass
class _Bucket:
    """A leaky bucket: `level` of `size`, draining `rate` a second."""

    size: float
    rate: float
    level: float = 0.0
    at: float = field(default_factory=time.monotonic)

    def drain(self) -> None:
        now = time.monotonic()
        self.level = max(0.0, self.level - (now - self.at) * self.rate)
        self.at = now


class ShopifyShop:
    """A Shopify shop on ``http://127.0.0.1:<port>``.

    :param access_token: what `X-Shopify-Access-Token` must be on Admin API calls.
    :param api_secret: the app's client secret, which signs webhooks.
    :param subscriptions: ``(topic, address)`` pairs: where each topic's webhooks go.
    :param retry_schedule_s: the waits between attempts of an undelivered webhook.
    :param delivery_timeout_s: an attempt not answered within this long failed (Shopify: 5).
    :param rest_bucket: ``(size, leak per second)`` of the REST call limit (Shopify: 40, 2).
    :param graphql_bucket: ``(maximum, restore per second)`` of query cost (Shopify: 2000, 100).
    """

    def __init__(
        self,
        *,
        access_token: str,
        api_secret: str,
        host: str = "127.0.0.1",
        port: int = 0,
        shop_domain: str = "dropship-demo.myshopify.com",
        api_version: str = API_VERSION,
        subscriptions: Iterable[tuple[str, str]] = (),
        retry_schedule_s: Sequence[float] = SHOPIFY_RETRY_SCHEDULE_S,
        delivery_timeout_s: float = 5.0,
        rest_bucket: tuple[float, float] = (40, 2.0),
        graphql_bucket: tuple[float, float] = (2000, 100.0),
    ) -> None:
        self.host = host
        self.port = port
        self.access_token = access_token
        self.api_secret = api_secret
        self.api_version = api_version
        self.state = ShopState(shop_domain)
        self.subscriptions: list[tuple[str, str]] = list(subscriptions)
        self.retry_schedule_s = tuple(retry_schedule_s)
        self.delivery_timeout_s = delivery_timeout_s
        self._rest_bucket = _Bucket(*rest_bucket)
        self._graphql_bucket = _Bucket(*graphql_bucket)
        self._graphql_bucket.level = 0.0  # level counts what is used; available = size - level
        self._schema = build_admin_schema(self.state)

        self.lose_webhooks = False  # while True, webhooks are made but never sent (lost)
        self.available = True  # while False, the Admin API is down (503), as in an outage
        self.webhooks: list[Webhook] = []
        self.deliveries: list[DeliveryAttempt] = []
        self.rest_requests: list[ApiRequest] = []
        self.graphql_requests: list[ApiRequest] = []
        self.internal_errors: list[BaseException] = []
        self._throttle_rest = 0
        self._throttle_graphql = 0

        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("the Shopify shop is already running")
        runner = web.AppRunner(self._build_app(), access_log=None, shutdown_timeout=5.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.delivery_timeout_s, connect=1.0)
        )
        log.info("shopify_shop.started", url=self.url, shop=self.state.shop_domain)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        await runner.cleanup()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
        log.info("shopify_shop.stopped", shop=self.state.shop_domain)

    @property
    def url(self) -> str:
        if self.port == 0:
            raise RuntimeError("the port is chosen at start(): start the shop first")
        return f"http://{self.host}:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"{self.url}/admin/api/{self.api_version}"

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._errors])
        app.router.add_get("/admin/api/{version}/orders.json", self._list_orders)
        app.router.add_get("/admin/api/{version}/orders/{order_id}.json", self._get_order)
        app.router.add_post("/admin/api/{version}/graphql.json", self._graphql)
        return app

    # -- what customers and the merchant do (each sends its webhooks) ----------------------------

    def create_order(
        self,
        line_items: Sequence[Mapping[str, Any]],
        shipping_address: Mapping[str, Any] | None,
        *,
        financial_status: str = "paid",
        **extra: Any,
    ) -> dict[str, Any]:
        """A customer checks out. Returns the order (REST form); its webhooks go out."""
        change = self.state.create_order(
            line_items=line_items,
            shipping_address=shipping_address,
            financial_status=financial_status,
            now=datetime.now(SHOP_TZ),
            **extra,
        )
        self._announce(change)
        return change.order

    def mark_paid(self, order_id: int) -> dict[str, Any]:
        change = self.state.mark_paid(order_id, now=datetime.now(SHOP_TZ))
        self._announce(change)
        return change.order

    def cancel_order(self, order_id: int, reason: str = "customer") -> dict[str, Any]:
        change = self.state.cancel_order(order_id, reason=reason, now=datetime.now(SHOP_TZ))
        self._announce(change)
        return change.order

    def fulfillments_of(self, order_id: int) -> list[Any]:
        return [f for f in self.state.fulfillments.values() if f.order_id == order_id]

    def throttle_rest_next(self, n: int = 1) -> None:
        """Answer the next `n` REST calls 429, as a bucket that is full would."""
        self._throttle_rest += n

    def throttle_graphql_next(self, n: int = 1) -> None:
        """Answer the next `n` GraphQL queries THROTTLED."""
        self._throttle_graphql += n

    # -- webhooks --------------------------------------------------------------------------------

    def _announce(self, change: Change) -> None:
        """Make the webhooks of a change: one event id per topic, one webhook per subscription."""
        body = json.dumps(change.order, ensure_ascii=False, separators=(",", ":")).encode()
        triggered = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        for topic in change.topics:
            event_id = str(uuid.uuid4())
            for subscribed, address in self.subscriptions:
                if subscribed != topic:
                    continue
                webhook = Webhook(
                    topic=topic,
                    address=address,
                    body=body,
                    hmac=sign_webhook(body, self.api_secret),
                    event_id=event_id,
                    webhook_id=str(uuid.uuid4()),
                    triggered_at=triggered,
                    order_id=change.order.get("id"),
                    lost=self.lose_webhooks,
                )
                self.webhooks.append(webhook)
                if not webhook.lost:
                    self._spawn(self._deliver(webhook), f"shopify-webhook-{webhook.webhook_id}")
        self._notify()

    async def _deliver(self, webhook: Webhook) -> None:
        """Attempt, then retry on the schedule, until a 2xx or the schedule runs out."""
        waits = [0.0, *self.retry_schedule_s]
        for wait in waits:
            if wait:
                await asyncio.sleep(wait)
            status, error = await self._attempt(webhook)
            if status is not None and 200 <= status < 300:
                webhook.delivered = True
                self._notify()
                return
            log.info(
                "shopify_shop.webhook_failed",
                topic=webhook.topic,
                attempt=webhook.attempts,
                status=status,
                error=error,
            )
        log.warning("shopify_shop.webhook_gave_up", topic=webhook.topic, event_id=webhook.event_id)

    async def _attempt(self, webhook: Webhook) -> tuple[int | None, str | None]:
        status, error = await self.post_webhook(
            webhook.address,
            webhook.body,
            webhook.headers(self.state.shop_domain, self.api_version),
        )
        webhook.attempts += 1
        webhook.status = status
        self.deliveries.append(
            DeliveryAttempt(webhook.event_id, webhook.topic, webhook.attempts, status, error)
        )
        self._notify()
        return status, error

    async def redeliver(self, webhook: Webhook) -> int | None:
        """Send a webhook once more, same bytes and ids: Shopify's duplicate delivery."""
        status, _ = await self._attempt(webhook)
        return status

    async def post_webhook(
        self, address: str, body: bytes, headers: Mapping[str, str]
    ) -> tuple[int | None, str | None]:
        """One POST, as is (also forged ones). (status, None) or (None, why it failed)."""
        if self._session is None:
            raise RuntimeError("start the Shopify shop before sending webhooks")
        try:
            async with self._session.post(
                address, data=body, headers=dict(headers), allow_redirects=False
            ) as response:
                await response.read()
                return response.status, None
        except (aiohttp.ClientError, TimeoutError) as error:
            return None, f"{type(error).__name__}: {error}"

    def webhooks_for(self, order_id: int, topic: str | None = None) -> list[Webhook]:
        return [w for w in self.webhooks if w.order_id == order_id and topic in (None, w.topic)]

    # -- waiting without sleeping ----------------------------------------------------------------

    async def wait_until(
        self,
        predicate: Callable[[], bool],
        timeout: float = 10.0,  # noqa: ASYNC109
        what: str = "condition",
    ) -> None:
        try:
            async with asyncio.timeout(timeout):
                while not predicate():
                    await self._changed.wait()
        except TimeoutError:
            raise TimeoutError(f"Shopify shop: no {what} within {timeout}s") from None

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # -- HTTP: authentication, limits, errors ----------------------------------------------------

    @web.middleware
    async def _errors(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        try:
            if not self.available:
                raise web.HTTPServiceUnavailable(reason="Service Unavailable")
            response: web.StreamResponse = await handler(request)
        except web.HTTPException as exc:
            response = web.json_response({"errors": exc.reason}, status=exc.status)
        except Exception as exc:  # a bug in the stand-in: visible, answered as Shopify would
            self.internal_errors.append(exc)
            log.exception("shopify_shop.bug", path=request.path)
            response = web.json_response({"errors": "Internal Server Error"}, status=500)
        response.headers["X-Shopify-API-Version"] = request.match_info.get(
            "version", self.api_version
        )
        return response

    def _authorized(self, request: web.Request) -> bool:
        given = request.headers.get("X-Shopify-Access-Token", "")
        return hmac.compare_digest(given.encode(), self.access_token.encode())

    # -- REST: orders ----------------------------------------------------------------------------

    def _rest_gate(self, request: web.Request) -> web.Response | None:
        """401 or 429 before doing anything; otherwise None, and the call is counted."""
        if not self._authorized(request):
            return web.json_response({"errors": INVALID_TOKEN}, status=401)
        bucket = self._rest_bucket
        bucket.drain()
        if self._throttle_rest > 0 or bucket.level + 1 > bucket.size:
            self._throttle_rest = max(0, self._throttle_rest - 1)
            return web.json_response(
                {"errors": REST_THROTTLED},
                status=429,
                headers={"Retry-After": "2.0", **self._call_limit()},
            )
        bucket.level += 1
        return None

    def _call_limit(self) -> dict[str, str]:
        bucket = self._rest_bucket
        return {"X-Shopify-Shop-Api-Call-Limit": f"{math.ceil(bucket.level)}/{int(bucket.size)}"}

    def _record_rest(self, request: web.Request, status: int) -> None:
        self.rest_requests.append(
            ApiRequest("rest", request.path_qs, status, throttled=status == 429)
        )
        self._notify()

    async def _get_order(self, request: web.Request) -> web.Response:
        refused = self._rest_gate(request)
        if refused is not None:
            self._record_rest(request, refused.status)
            return refused
        raw_id = request.match_info["order_id"]
        order = self.state.orders.get(int(raw_id)) if raw_id.isdigit() else None
        if order is None:
            self._record_rest(request, 404)
            return web.json_response(
                {"errors": "Not Found"}, status=404, headers=self._call_limit()
            )
        self._record_rest(request, 200)
        return web.json_response({"order": order}, headers=self._call_limit())

    async def _list_orders(self, request: web.Request) -> web.Response:
        refused = self._rest_gate(request)
        if refused is not None:
            self._record_rest(request, refused.status)
            return refused
        try:
            orders, links = self._page_of_orders(request)
        except _BadParameter as bad:
            self._record_rest(request, 400)
            return web.json_response(
                {"errors": {bad.name: [bad.message]}}, status=400, headers=self._call_limit()
            )
        headers = self._call_limit()
        if links:
            headers["Link"] = ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links)
        self._record_rest(request, 200)
        return web.json_response({"orders": orders}, headers=headers)

    def _page_of_orders(
        self, request: web.Request
    ) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
        query = request.query
        limit = _int_param(query, "limit", 50)
        if not 1 <= limit <= MAX_LIMIT:
            raise _BadParameter("limit", f"must be between 1 and {MAX_LIMIT}")
        if "page_info" in query:
            # Shopify: with page_info only limit and fields may be given; filters ride in it.
            extra = set(query) - {"page_info", "limit", "fields"}
            if extra:
                raise _BadParameter(
                    "page_info", f"cannot be combined with {', '.join(sorted(extra))}"
                )
            try:
                cursor = json.loads(base64.urlsafe_b64decode(query["page_info"].encode()))
                filters, after = dict(cursor["filters"]), int(cursor["after"])
            except (ValueError, KeyError, TypeError):
                raise _BadParameter("page_info", "Invalid value.") from None
        else:
            filters = {k: v for k, v in query.items() if k not in ("limit", "fields")}
            after = None
        matching = list(self._filtered(filters))
        matching.sort(key=lambda o: o["id"], reverse=True)  # newest first, as Shopify lists
        if after is not None:
            matching = [o for o in matching if o["id"] < after]
        page = matching[:limit]
        last_id = page[-1]["id"] if page else 0
        fields = query.get("fields")
        if fields:
            wanted = {f.strip() for f in fields.split(",")}
            page = [{k: v for k, v in o.items() if k in wanted} for o in page]
        links: list[tuple[str, str]] = []
        if len(matching) > limit:
            cursor = {"filters": filters, "after": last_id}
            token = base64.urlsafe_b64encode(json.dumps(cursor).encode()).decode()
            params = {"limit": str(limit), "page_info": token}
            if fields:
                params["fields"] = fields
            links.append(("next", f"{self.url}{request.path}?{urlencode(params)}"))
        return page, links

    def _filtered(self, filters: Mapping[str, str]) -> Iterable[dict[str, Any]]:
        status = filters.get("status", "open")
        if status not in ORDER_STATUSES:
            raise _BadParameter("status", f"must be one of {', '.join(ORDER_STATUSES)}")
        bounds = {
            name: _time_param(filters, name)
            for name in ("created_at_min", "created_at_max", "updated_at_min", "updated_at_max")
        }
        ids = (
            {int(i) for i in filters["ids"].split(",") if i.strip().isdigit()}
            if ("ids" in filters)
            else None
        )
        since_id = _int_param(filters, "since_id", 0)
        financial = filters.get("financial_status", "any")
        for order in self.state.orders.values():
            if status == "open" and order["closed_at"] is not None:
                continue
            if status == "closed" and order["closed_at"] is None:
                continue
            if status == "cancelled" and order["cancelled_at"] is None:
                continue
            if ids is not None and order["id"] not in ids:
                continue
            if order["id"] <= since_id:
                continue
            if financial != "any" and order["financial_status"] != financial:
                continue
            created = datetime.fromisoformat(order["created_at"])
            updated = datetime.fromisoformat(order["updated_at"])
            if bounds["created_at_min"] and created < bounds["created_at_min"]:
                continue
            if bounds["created_at_max"] and created > bounds["created_at_max"]:
                continue
            if bounds["updated_at_min"] and updated < bounds["updated_at_min"]:
                continue
            if bounds["updated_at_max"] and updated > bounds["updated_at_max"]:
                continue
            yield order

    # -- GraphQL ---------------------------------------------------------------------------------

    async def _graphql(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            self._record_graphql(request, 401)
            return web.json_response({"errors": INVALID_TOKEN}, status=401)
        try:
            if request.content_type == "application/graphql":
                payload: dict[str, Any] = {"query": await request.text()}
            else:
                payload = json.loads(await request.read())
            query = payload["query"]
            variables = payload.get("variables") or {}
            operation_name = payload.get("operationName")
            if not isinstance(query, str) or not isinstance(variables, dict):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            self._record_graphql(request, 400)
            return web.json_response(
                {"errors": {"query": "Required parameter missing or invalid"}}, status=400
            )
        try:
            document = parse(query)
        except GraphQLError as error:
            self._record_graphql(request, 200)
            return web.json_response({"errors": [error.formatted]})
        problems = validate(self._schema, document)
        if problems:
            self._record_graphql(request, 200)
            return web.json_response({"errors": [p.formatted for p in problems]})
        operation = _pick_operation(document.definitions, operation_name)
        if operation is None:
            self._record_graphql(request, 200)
            return web.json_response({"errors": [{"message": "An operation name is required"}]})
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        cost = CostCalculator(self._schema, fragments, variables).operation(operation)
        name = operation.name.value if operation.name else None
        if cost > SINGLE_QUERY_MAX_COST:
            self._record_graphql(request, 200, cost, operation=name)
            return web.json_response(
                {
                    "errors": [
                        {
                            "message": f"Query cost is {cost}, which exceeds the single query "
                            f"max cost limit ({SINGLE_QUERY_MAX_COST}).",
                            "extensions": {
                                "code": "MAX_COST_EXCEEDED",
                                "cost": cost,
                                "maxCost": SINGLE_QUERY_MAX_COST,
                            },
                        }
                    ]
                }
            )
        bucket = self._graphql_bucket
        bucket.drain()
        available = bucket.size - bucket.level
        if self._throttle_graphql > 0 or cost > available:
            self._throttle_graphql = max(0, self._throttle_graphql - 1)
            self._record_graphql(request, 200, cost, throttled=True, operation=name)
            return web.json_response(
                {
                    "errors": [
                        {
                            "message": "Throttled",
                            "extensions": {
                                "code": "THROTTLED",
                                "documentation": "https://shopify.dev/api/usage/rate-limits",
                            },
                        }
                    ],
                    "extensions": {"cost": self._cost(cost, None)},
                }
            )
        bucket.level += cost
        result = execute(
            self._schema,
            document,
            variable_values=variables,
            operation_name=operation_name,
        )
        assert not asyncio.iscoroutine(result)  # every resolver is synchronous
        for change in self.state.pending_announcements:
            self._announce(change)
        self.state.pending_announcements.clear()
        body: dict[str, Any] = {"data": result.data}  # type: ignore[union-attr]
        if result.errors:  # type: ignore[union-attr]
            body["errors"] = [e.formatted for e in result.errors]  # type: ignore[union-attr]
        body["extensions"] = {"cost": self._cost(cost, cost)}
        self._record_graphql(request, 200, cost, operation=name)
        return web.json_response(body)

    def _cost(self, requested: int, actual: int | None) -> dict[str, Any]:
        bucket = self._graphql_bucket
        return {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": {
                "maximumAvailable": float(bucket.size),
                "currentlyAvailable": int(bucket.size - bucket.level),
                "restoreRate": float(bucket.rate),
            },
        }

    def _record_graphql(
        self,
        request: web.Request,
        status: int,
        cost: int | None = None,
        *,
        throttled: bool = False,
        operation: str | None = None,
    ) -> None:
        self.graphql_requests.append(
            ApiRequest("graphql", request.path, status, cost, throttled, operation)
        )
        self._notify()

    # -- owned tasks -----------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            self.internal_errors.append(error)
            log.error("shopify_shop.task_failed", task=task.get_name(), exc_info=error)


class _BadParameter(ValueError):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


def _int_param(query: Mapping[str, str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise _BadParameter(name, "expected an integer") from None


def _time_param(query: Mapping[str, str], name: str) -> datetime | None:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise _BadParameter(name, "expected an ISO 8601 date and time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=SHOP_TZ)


def _pick_operation(definitions: Iterable[Any], name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in definitions if isinstance(d, OperationDefinitionNode)]
    if name is not None:
        return next((o for o in operations if o.name and o.name.value == name), None)
    return operations[0] if len(operations) == 1 else None
