"""The webhook listener: Shopify posts `orders/create`, `orders/updated`, `orders/paid` and
`orders/cancelled` here.

Each delivery is, in this order:

1. **verified** before anything reads it: `X-Shopify-Hmac-Sha256` must be the base64
   HMAC-SHA256 of the raw body with the app's client secret, compared in constant time.
   Otherwise `401`, and nothing is parsed or stored;
2. **de-duplicated** on `X-Shopify-Event-Id`: an event already handled is answered `200` at
   once (Shopify may deliver an event more than once, and retries with the same id);
3. **applied** (`OrderSync`), which returns once the result is durably stored;
4. **answered** `200` only then. If the gateway could not store it (stopping, overloaded),
   the answer is `503` and Shopify delivers it again later.

Shopify gives up on an answer after 5 seconds and retries; the work above takes milliseconds,
and a retry of work that did finish is recognised in step 2.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import msgspec
import structlog
from aiohttp import web

from dropship_shopify.events import SeenEvents
from dropship_shopify.resources import order_decoder
from dropship_shopify.sync import OrderSync

HMAC_HEADER = "X-Shopify-Hmac-Sha256"
TOPIC_HEADER = "X-Shopify-Topic"
EVENT_HEADER = "X-Shopify-Event-Id"
WEBHOOK_HEADER = "X-Shopify-Webhook-Id"
ORDER_TOPICS = frozenset({"orders/create", "orders/updated", "orders/paid", "orders/cancelled"})


def signature_valid(body: bytes, signature: str | None, secret: str) -> bool:
    """Whether `signature` is Shopify's signature of `body`: constant time, whatever it is."""
    if not signature:
        return False
    expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, signature.strip().encode("utf-8", "replace"))


class WebhookReceiver:
    def __init__(
        self,
        secret: str,
        sync: OrderSync,
        events: SeenEvents | None,
        log: structlog.typing.FilteringBoundLogger,
    ) -> None:
        self._secret = secret
        self._sync = sync
        self._events = events
        self._log = log
        self.received = 0  # verified deliveries, for the listener's own report

    def app(self, path: str, max_body_bytes: int) -> web.Application:
        app = web.Application(client_max_size=max_body_bytes)
        base = path.rstrip("/")
        app.router.add_post(base or "/", self.handle)
        app.router.add_post(base + "/{topic:.*}", self.handle)  # one address per topic works too
        return app

    async def handle(self, request: web.Request) -> web.Response:
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _answer(413, "the body is larger than this listener accepts")
        if not signature_valid(body, request.headers.get(HMAC_HEADER), self._secret):
            self._log.warning(
                "shopify.webhook_unauthorized",
                has_signature=HMAC_HEADER in request.headers,
                remote=request.remote,
            )
            return _answer(401, f"{HMAC_HEADER} does not match the body")
        self.received += 1
        topic = request.headers.get(TOPIC_HEADER, "")
        event_id = request.headers.get(EVENT_HEADER) or request.headers.get(WEBHOOK_HEADER)
        log = self._log.bind(topic=topic, event_id=event_id)
        if topic not in ORDER_TOPICS:
            log.info("shopify.webhook_ignored")
            return _answer(200, "topic not used by the gateway")
        if event_id and self._events is not None and await self._events.seen(event_id):
            log.info("shopify.webhook_duplicate")
            return _answer(200, "already handled")
        try:
            order = order_decoder.decode(body)
        except msgspec.DecodeError as error:  # ValidationError included: names the field
            log.error("shopify.webhook_unusable", error=str(error))
            return _answer(400, f"not a Shopify order: {error}")
        try:
            outcome = await self._sync.apply(order, source=topic)
            if event_id and self._events is not None:
                await self._events.remember(event_id)
        except Exception as error:  # not stored: Shopify must deliver it again
            log.warning("shopify.webhook_not_stored", error=f"{type(error).__name__}: {error}")
            return _answer(503, "not stored, deliver again later")
        log.info("shopify.webhook_handled", outcome=outcome.value, shopify_order=order.name)
        return _answer(200, outcome.value)


def _answer(status: int, message: str) -> web.Response:
    return web.json_response({"status": status, "message": message}, status=status)
