"""Sends alerts to webhooks: a generic JSON body, or the DingTalk and WeCom group robots.

One queue and one worker per webhook, so each receives its alerts in order; a delivery that
fails for a reason that may pass (a refused connection, a timeout, 429, a 5xx, a robot's
"too many messages" answer) is retried with exponential backoff (tenacity) for up to the
webhook's `retry_for_s`. A permanent refusal (a 4xx, a robot's bad token or signature) is
logged once and dropped: repeating it would not change the answer.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import structlog
import tenacity
from tenacity.wait import wait_base

from gateway.domain.alerting import SEVERITY_RANK, dingtalk_sign, webhook_body
from gateway.domain.masking import mask_text
from gateway.infra.clock import Clock
from gateway.infra.config import AlertWebhook

log = structlog.get_logger(__name__)

# The robots answer HTTP 200 with an errcode; these ones mean "slow down" (DingTalk: more than
# 20 messages a minute; WeCom: API frequency limit).
_RATE_LIMIT_ERRCODES = {130101, 45009}


class RetryableDelivery(Exception):
    pass


class RefusedDelivery(Exception):
    pass


def describe_url(url: str) -> str:
    """A webhook URL for logs: its query carries the robot's token."""
    return url.split("?", 1)[0]


class WebhookSender:
    def __init__(self, hooks: list[AlertWebhook], clock: Clock) -> None:
        self._hooks = hooks
        self._clock = clock
        self._queues: list[asyncio.Queue[dict[str, Any]]] = [asyncio.Queue() for _ in hooks]
        self.delivered = 0
        self.dropped = 0

    def offer(self, alert: dict[str, Any], rule_severity: str) -> None:
        """Queue `alert` for every webhook whose filters let it through. A resolution goes
        where the alert it resolves went: filters look at the rule's severity."""
        for hook, queue in zip(self._hooks, self._queues, strict=True):
            if SEVERITY_RANK[rule_severity] < SEVERITY_RANK[hook.min_severity]:
                continue
            if hook.kinds and alert["kind"] not in hook.kinds:
                continue
            queue.put_nowait(alert)

    async def run(self) -> None:
        """Deliver until cancelled."""
        if not self._hooks:
            await asyncio.Event().wait()
        async with aiohttp.ClientSession() as session, asyncio.TaskGroup() as group:
            for hook, queue in zip(self._hooks, self._queues, strict=True):
                group.create_task(self._worker(session, hook, queue))

    async def _worker(
        self, session: aiohttp.ClientSession, hook: AlertWebhook, queue: asyncio.Queue[Any]
    ) -> None:
        while True:
            alert = await queue.get()
            try:
                await self._deliver(session, hook, alert)
                self.delivered += 1
            except (RetryableDelivery, RefusedDelivery) as error:
                self.dropped += 1
                log.error(
                    "alert.webhook_failed",
                    url=describe_url(hook.url),
                    alert_id=alert["alert_id"],
                    error=mask_text(str(error)),
                )

    async def _deliver(
        self, session: aiohttp.ClientSession, hook: AlertWebhook, alert: dict[str, Any]
    ) -> None:
        wait: wait_base = tenacity.wait_exponential(
            multiplier=hook.retry_base_s, max=60
        ) + tenacity.wait_random(0, hook.retry_base_s)
        retrying = tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception_type(RetryableDelivery),
            stop=tenacity.stop_after_delay(hook.retry_for_s),
            wait=wait,
            sleep=self._clock.sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                await self._post(session, hook, alert)

    async def _post(
        self, session: aiohttp.ClientSession, hook: AlertWebhook, alert: dict[str, Any]
    ) -> None:
        params: dict[str, str] = {}
        if hook.format == "dingtalk" and hook.secret:
            timestamp = int(self._clock.now().timestamp() * 1000)
            params = {"timestamp": str(timestamp), "sign": dingtalk_sign(hook.secret, timestamp)}
        body = webhook_body(hook.format, alert)
        try:
            async with session.post(
                hook.url,
                params=params,
                json=body,
                timeout=aiohttp.ClientTimeout(total=hook.timeout_s),
            ) as response:
                text = await response.text()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as error:
            raise RetryableDelivery(f"{type(error).__name__}: {error}") from error
        if status == 429 or status >= 500:
            raise RetryableDelivery(f"HTTP {status}")
        if status >= 400:
            raise RefusedDelivery(f"HTTP {status}: {text[:200]}")
        if hook.format in ("dingtalk", "wecom"):
            self._check_robot_answer(text)

    @staticmethod
    def _check_robot_answer(text: str) -> None:
        """The robots answer `{"errcode": 0, "errmsg": "ok"}`, or an errcode saying why not."""
        try:
            errcode = int(json.loads(text).get("errcode", 0))
        except (ValueError, AttributeError, TypeError):
            raise RetryableDelivery(f"not a robot answer: {text[:200]}") from None
        if errcode in _RATE_LIMIT_ERRCODES:
            raise RetryableDelivery(f"robot rate limit (errcode {errcode})")
        if errcode != 0:
            raise RefusedDelivery(f"robot refused the message: {text[:200]}")
