"""A small client of Shopify's Admin API: the REST order list and GraphQL, within Shopify's
rate limits.

- REST calls fill a leaky bucket (40 calls, 2 a second leak). A `429` is waited out for its
  `Retry-After` and tried again; near a full bucket (`X-Shopify-Shop-Api-Call-Limit`) calls
  slow down by themselves.
- GraphQL queries cost points from a bucket that refills at `restoreRate` a second. The client
  remembers the last `throttleStatus` Shopify reported, waits before a query whose expected
  cost would not fit, and when Shopify answers `THROTTLED` anyway, waits for the points to
  come back and asks again.

Failures that may pass (connection refused, timeouts, 5xx, and 401/402/403/423, which pass
once the merchant fixes the token, the bill or the lock) raise `ShopifyUnavailable`; the caller
waits and tries again. What will not pass by retrying (other 4xx, GraphQL errors) raises
`ShopifyRefused`.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any

import aiohttp
import msgspec

from dropship_shopify.resources import ShopifyOrder, order_list_decoder
from gateway.plugin_api import Clock

REST_THROTTLE_RETRIES = 10
DEFAULT_RETRY_AFTER_S = 2.0


class ShopifyUnavailable(Exception):
    """Shopify could not be reached or had trouble; trying again later may work."""


class ShopifyRefused(Exception):
    """Shopify refused the request; sending it again will not help."""


class CostBucket:
    """What Shopify last said of the GraphQL cost bucket, projected forward in time."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.maximum = 1000.0  # until Shopify tells us: the smallest plan's bucket
        self.available = 1000.0
        self.restore_rate = 50.0
        self._at = clock.monotonic()

    def update(self, throttle_status: Mapping[str, Any]) -> None:
        self.maximum = float(throttle_status.get("maximumAvailable", self.maximum))
        self.available = float(throttle_status.get("currentlyAvailable", self.available))
        self.restore_rate = float(throttle_status.get("restoreRate", self.restore_rate)) or 1.0
        self._at = self._clock.monotonic()

    def wait_for(self, cost: float) -> float:
        """Seconds until `cost` points are there (0 when they are)."""
        elapsed = self._clock.monotonic() - self._at
        now = min(self.maximum, self.available + elapsed * self.restore_rate)
        return 0.0 if now >= cost else (min(cost, self.maximum) - now) / self.restore_rate


class ShopifyAdmin:
    """Admin API calls of one shop. `session` is owned by the caller."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        admin_base: str,
        access_token: str,
        clock: Clock,
    ) -> None:
        self._session = session
        self._base = admin_base.rstrip("/")
        self._headers = {
            "X-Shopify-Access-Token": access_token,
            "Accept": "application/json",
        }
        self._clock = clock
        self.cost = CostBucket(clock)
        self.throttled = 0  # how often Shopify said to slow down (REST 429 or THROTTLED)

    # -- REST ------------------------------------------------------------------------------------

    async def orders_updated_since(
        self, since: datetime, page_size: int = 250
    ) -> AsyncIterator[list[ShopifyOrder]]:
        """Every order (any status) updated at or after `since`, a page at a time."""
        url: str | None = f"{self._base}/orders.json"
        params: dict[str, str] | None = {
            "status": "any",
            "updated_at_min": since.isoformat(),
            "limit": str(page_size),
        }
        while url is not None:
            body, links = await self._rest_get(url, params)
            try:
                page = order_list_decoder.decode(body).orders
            except msgspec.DecodeError as error:
                raise ShopifyRefused(f"orders.json: unexpected answer: {error}") from None
            yield page
            url, params = links.get("next"), None  # the next link carries every parameter

    async def _rest_get(
        self, url: str, params: Mapping[str, str] | None
    ) -> tuple[bytes, dict[str, str]]:
        for _ in range(REST_THROTTLE_RETRIES):
            try:
                async with self._session.get(url, params=params, headers=self._headers) as answer:
                    body = await answer.read()
                    status = answer.status
                    retry_after = _seconds(answer.headers.get("Retry-After"))
                    call_limit = answer.headers.get("X-Shopify-Shop-Api-Call-Limit")
                    links = _links(answer.headers.getall("Link", []))
            except (aiohttp.ClientError, TimeoutError) as error:
                raise ShopifyUnavailable(f"GET {url}: {type(error).__name__}: {error}") from None
            if status == 429:
                self.throttled += 1
                await self._clock.sleep(retry_after or DEFAULT_RETRY_AFTER_S)
                continue
            _raise_for_status(status, body, f"GET {url}")
            await self._pace(call_limit)
            return body, links
        raise ShopifyUnavailable(f"GET {url}: still throttled after {REST_THROTTLE_RETRIES} tries")

    async def _pace(self, call_limit: str | None) -> None:
        """Slow down before the bucket is full rather than after: one leak's worth of wait."""
        if not call_limit or "/" not in call_limit:
            return
        used, _, size = call_limit.partition("/")
        if used.isdigit() and size.isdigit() and int(used) >= int(size) - 2:
            await self._clock.sleep(0.5)

    # -- GraphQL ---------------------------------------------------------------------------------

    async def graphql(
        self, query: str, variables: Mapping[str, Any], expected_cost: float
    ) -> dict[str, Any]:
        """The `data` of a query; waits for the cost bucket and retries while THROTTLED."""
        url = f"{self._base}/graphql.json"
        body = msgspec.json.encode({"query": query, "variables": dict(variables)})
        headers = {**self._headers, "Content-Type": "application/json"}
        while True:
            wait = self.cost.wait_for(expected_cost)
            if wait > 0:
                await self._clock.sleep(wait)
            try:
                async with self._session.post(url, data=body, headers=headers) as answer:
                    raw = await answer.read()
                    status = answer.status
                    retry_after = _seconds(answer.headers.get("Retry-After"))
            except (aiohttp.ClientError, TimeoutError) as error:
                raise ShopifyUnavailable(f"POST {url}: {type(error).__name__}: {error}") from None
            if status == 429:  # too many requests at once, apart from the cost bucket
                self.throttled += 1
                await self._clock.sleep(retry_after or DEFAULT_RETRY_AFTER_S)
                continue
            _raise_for_status(status, raw, f"POST {url}")
            try:
                result = msgspec.json.decode(raw)
            except msgspec.DecodeError as error:
                raise ShopifyRefused(f"graphql: not JSON: {error}") from None
            cost = (result.get("extensions") or {}).get("cost") or {}
            if "throttleStatus" in cost:
                self.cost.update(cost["throttleStatus"])
            errors = result.get("errors")
            if errors and _throttled(errors):
                self.throttled += 1
                requested = float(cost.get("requestedQueryCost") or expected_cost)
                expected_cost = max(expected_cost, requested)
                await self._clock.sleep(max(self.cost.wait_for(expected_cost), 0.1))
                continue
            if errors:
                raise ShopifyRefused("graphql: " + "; ".join(_messages(errors)))
            data = result.get("data")
            if not isinstance(data, dict):
                raise ShopifyRefused("graphql: the answer has no data")
            return data


# Answers about the shop or the app rather than the request: they pass once the merchant acts
# (a new access token, the bill paid, the shop unlocked), so the request waits and is retried.
_SHOP_NOT_READY = {
    401: "check access_token",
    402: "the shop is frozen",
    403: "check the app's access scopes",
    423: "the shop is locked",
}


def _raise_for_status(status: int, body: bytes, what: str) -> None:
    if 200 <= status < 300:
        return
    detail = _error_text(body)
    if status >= 500:
        raise ShopifyUnavailable(f"{what}: {status} {detail}")
    if status in _SHOP_NOT_READY:
        raise ShopifyUnavailable(f"{what}: {status} {detail} ({_SHOP_NOT_READY[status]})")
    raise ShopifyRefused(f"{what}: {status} {detail}")


def _error_text(body: bytes) -> str:
    """Shopify's `{"errors": "..."}` or `{"errors": {"field": [...]}}`, as one line."""
    try:
        value = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return body[:200].decode(errors="replace")
    errors = value.get("errors") if isinstance(value, dict) else value
    if isinstance(errors, dict):
        return "; ".join(f"{k}: {v}" for k, v in errors.items())
    return str(errors)[:500]


def _throttled(errors: Any) -> bool:
    return isinstance(errors, list) and any(
        isinstance(e, dict) and (e.get("extensions") or {}).get("code") == "THROTTLED"
        for e in errors
    )


def _messages(errors: Any) -> list[str]:
    if not isinstance(errors, list):
        return [str(errors)]
    return [str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors]


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _links(headers: list[str]) -> dict[str, str]:
    """`<url>; rel="next", <url>; rel="previous"` as {"next": url, ...}."""
    links: dict[str, str] = {}
    for header in headers:
        for part in header.split(","):
            url_part, _, rest = part.strip().partition(";")
            if url_part.startswith("<") and url_part.endswith(">") and 'rel="' in rest:
                rel = rest.split('rel="', 1)[1].split('"', 1)[0]
                links[rel] = url_part[1:-1]
    return links
