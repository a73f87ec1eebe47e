"""Alert rules: each fires once and resolves once as its condition comes and goes, with time
moved by a FakeClock; a real webhook receiver on 127.0.0.1 sees the generic, DingTalk (signed)
and WeCom bodies; a running gateway publishes on `{p}/alerts/{kind}`."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gateway.actors.alerts import AlertActor
from gateway.actors.bus import Bus
from gateway.actors.intake import IntakeService
from gateway.actors.supplier_health import SupplierHealth
from gateway.domain.model import CatalogItem, OrderStatus
from gateway.domain.routing import RulePlanner, SupplierView
from gateway.feed.messages import messages_for
from gateway.infra.clock import FakeClock, SystemClock
from gateway.infra.config import AlertRule, AlertsSection, AlertWebhook
from gateway.infra.metrics import Metrics
from gateway.store.db import Database, Tx
from gateway.store.events import events_after, move_position, set_order_status
from gateway.store.routing import route_orders, sync_catalog
from tests.conftest import WriteConfig, base_config, start_gateway
from tests.harness import FeedCollector, Mosquitto, order_json

T0 = datetime(2026, 11, 20, tzinfo=UTC)
DING_SECRET = "SECtest0123456789"


def stock_of(sku: str, stock: int) -> CatalogItem:
    return CatalogItem(sku=sku, supplier_id="sup-a", cost=Decimal("1"), priority=1, stock=stock)


async def published_alerts(db: Database, kind: str) -> list[dict[str, Any]]:
    """What the MQTT publisher sends on alerts/{kind} for the events in the log."""
    instance = await db.fetchone("SELECT value FROM meta WHERE key = 'instance_id'")
    assert instance is not None
    log = await db.read(lambda conn: events_after(conn, instance[0], 0, 100_000))
    return [json.loads(m.payload) for m in messages_for(log, []) if m.topic == f"alerts/{kind}"]


class Receiver:
    """A webhook endpoint on 127.0.0.1 that keeps every request and answers as told."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        # Per hook, answers given in turn before the default 200 {"errcode": 0}.
        self.answers: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.base = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{hook}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base = f"http://{host}:{port}"

    async def stop(self) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        async with self._changed:
            self.requests.append(
                {"hook": request.match_info["hook"], "query": dict(request.query), "body": body}
            )
            self._changed.notify_all()
        queued = self.answers.get(request.match_info["hook"])
        status, answer = queued.pop(0) if queued else (200, {"errcode": 0})
        return web.json_response(answer, status=status)

    def to(self, hook: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["hook"] == hook]

    async def wait_for(self, count: int, hook: str, timeout: float = 20) -> list[dict[str, Any]]:
        async with self._changed:
            try:
                async with asyncio.timeout(timeout):
                    await self._changed.wait_for(lambda: len(self.to(hook)) >= count)
            except TimeoutError:
                raise AssertionError(f"{hook}: {len(self.to(hook))} of {count} requests") from None
        return self.to(hook)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = Receiver()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with Database(tmp_path / "gateway.db") as database:
        await sync_catalog(database, [stock_of("SKU-1", 10)])
        yield database


class World:
    """What the rules look at, and the means to change it."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.clock = FakeClock(T0)
        self.health = SupplierHealth("sup-a", self.clock)
        self.intake = IntakeService(db, Bus(), self.clock, Metrics())
        self.orders = 0

    async def order(self, sku: str, quantity: int = 1, channel: str = "erp") -> str:
        self.orders += 1
        body = json.dumps(order_json(f"o-{self.orders}", [(sku, quantity)], channel=channel))
        [result] = await self.intake.submit([body.encode()])
        assert result.order_id is not None
        views = {"sup-a": SupplierView(supplier_id="sup-a", regions=("CN",))}
        await route_orders(
            self.db,
            [result.order_id],
            RulePlanner(),
            lambda: views,
            self.clock.now,
            lambda _: None,
        )
        return result.order_id

    async def cancel(self, order_id: str) -> None:
        def job(tx: Tx) -> None:
            set_order_status(tx, order_id, OrderStatus.CANCELLED, self.clock.now())

        await self.db.write(job)


Step = Callable[[World], Awaitable[None]]


async def _noop(_: World) -> None:
    return None


async def _fail_calls(w: World) -> None:
    for _ in range(10):
        w.health.record(False, 0.05)


async def _succeed_calls(w: World) -> None:
    for _ in range(SupplierHealth.WINDOW):
        w.health.record(True, 0.05)


async def _slow_calls(w: World) -> None:
    for _ in range(20):
        w.health.record(True, 2.5)


async def _open_circuit(w: World) -> None:
    for _ in range(5):
        w.health.record(False, None)


async def _close_circuit(w: World) -> None:
    w.health.record(True, 0.05)


async def _crash(w: World) -> None:
    w.health.set_actor_down(True, "RuntimeError: adapter bug")


async def _revive(w: World) -> None:
    w.health.set_actor_down(False)


async def _hold_two(w: World) -> None:
    w.held = [await w.order("SKU-UNKNOWN"), await w.order("SKU-UNKNOWN")]  # type: ignore[attr-defined]


async def _cancel_held(w: World) -> None:
    for order_id in w.held:  # type: ignore[attr-defined]
        await w.cancel(order_id)


async def _feed_waits(w: World) -> None:
    await w.order("SKU-1")  # its events wait for the feed: no publisher runs here


async def _feed_delivered(w: World) -> None:
    """The publisher caught up: its position moves to the end of the log."""
    row = await w.db.fetchone("SELECT max(seq) FROM events")
    assert row is not None
    await move_position(w.db, "mqtt", row[0])


async def _erp_order(w: World) -> None:
    await w.order("SKU-1", channel="erp")


async def _sell_fast(w: World) -> None:
    await w.order("SKU-1", quantity=5)  # 10 − 5 left; 5 sold in 7 days: 7 days of cover


async def _restock(w: World) -> None:
    await sync_catalog(w.db, [stock_of("SKU-1", 500)])


# (rule, subject, what makes it true, what makes it false)
SCENARIOS: dict[str, tuple[AlertRule, dict[str, str], Step, Step]] = {
    "supplier_error_rate": (
        AlertRule(type="supplier_error_rate", threshold=0.2, for_s=60),
        {"supplier_id": "sup-a"},
        _fail_calls,
        _succeed_calls,
    ),
    "supplier_latency": (
        AlertRule(type="supplier_latency", threshold=1000, for_s=60),
        {"supplier_id": "sup-a"},
        _slow_calls,
        _succeed_calls,
    ),
    "circuit_open": (
        AlertRule(type="circuit_open", for_s=60, severity="critical"),
        {"supplier_id": "sup-a"},
        _open_circuit,
        _close_circuit,
    ),
    "supplier_outage": (
        AlertRule(type="supplier_down", for_s=60, severity="critical"),
        {"supplier_id": "sup-a"},
        _crash,
        _revive,
    ),
    "exception_backlog": (
        AlertRule(type="exception_backlog", threshold=1, for_s=60),
        {},
        _hold_two,
        _cancel_held,
    ),
    "outbox_age": (
        AlertRule(type="outbox_age", threshold=30, for_s=30),
        {},
        _feed_waits,
        _feed_delivered,
    ),
    "channel_silent": (
        AlertRule(type="channel_silent", threshold=30, for_s=30, channels=["erp"]),
        {"channel": "erp"},
        _noop,  # silence is what time makes of a channel that sends nothing
        _erp_order,
    ),
    "stock_cover": (
        AlertRule(type="stock_cover", threshold=10, for_s=60, window_days=7),
        {"sku": "SKU-1"},
        _sell_fast,
        _restock,
    ),
}


def hooks(receiver: Receiver) -> list[AlertWebhook]:
    return [
        AlertWebhook(url=f"{receiver.base}/generic", format="generic", retry_base_s=0.01),
        AlertWebhook(
            url=f"{receiver.base}/dingtalk?access_token=tok",
            format="dingtalk",
            secret=DING_SECRET,
            retry_base_s=0.01,
        ),
        AlertWebhook(url=f"{receiver.base}/wecom?key=k", format="wecom", retry_base_s=0.01),
    ]


@pytest.mark.parametrize("kind", sorted(SCENARIOS))
async def test_each_rule_fires_once_and_resolves_once(
    kind: str, db: Database, receiver: Receiver
) -> None:
    rule, subject, make_true, make_false = SCENARIOS[kind]
    w = World(db)
    settings = AlertsSection(rules=[rule], webhooks=hooks(receiver))
    actor = AlertActor(db, settings, {"sup-a": w.health}, [], w.clock, SystemClock())
    sending = asyncio.create_task(actor.webhooks.run())
    try:
        assert await actor.evaluate() == []  # all is well at the start
        await make_true(w)
        seen: list[dict[str, Any]] = []
        # Pending for for_s, then firing; evaluated every 15 s for 3 minutes.
        for _ in range(12):
            w.clock.advance(15)
            seen += await actor.evaluate()
        assert [(a["kind"], a["state"], a["subject"]) for a in seen] == [(kind, "firing", subject)]
        fired = seen[0]
        assert fired["severity"] == rule.severity
        await make_false(w)
        for _ in range(4):
            w.clock.advance(15)
            seen += await actor.evaluate()
        assert [a["state"] for a in seen] == ["firing", "resolved"]
        resolved = seen[1]
        assert resolved["resolves"] == fired["alert_id"]
        assert resolved["severity"] == "info"

        # Recorded, and queued for {p}/alerts/{kind} with the payload of CONTRACT §6.
        published = await published_alerts(db, kind)
        assert [p["alert_id"] for p in published] == [fired["alert_id"], resolved["alert_id"]]
        for payload in published:
            assert {"alert_id", "kind", "severity", "at", "message", "subject"} <= set(payload)
        open_rows = await db.fetchall("SELECT * FROM alerts WHERE resolved_at IS NULL")
        assert open_rows == []

        # Each webhook got the firing and the resolution, once each, in order.
        generic = await receiver.wait_for(2, "generic")
        assert [r["body"]["alert_id"] for r in generic] == [fired["alert_id"], resolved["alert_id"]]
        ding = await receiver.wait_for(2, "dingtalk")
        wecom = await receiver.wait_for(2, "wecom")
        assert ding[0]["body"]["msgtype"] == "markdown"
        assert kind in ding[0]["body"]["markdown"]["title"]
        assert "告警 FIRING" in ding[0]["body"]["markdown"]["text"]
        assert "恢复 RESOLVED" in ding[1]["body"]["markdown"]["text"]
        assert wecom[0]["body"]["msgtype"] == "markdown"
        assert fired["alert_id"] in wecom[0]["body"]["markdown"]["content"]
        assert len(receiver.requests) == 6
    finally:
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)


async def test_dingtalk_requests_carry_a_valid_signature(db: Database, receiver: Receiver) -> None:
    w = World(db)
    rule = AlertRule(type="supplier_down", severity="critical")
    settings = AlertsSection(rules=[rule], webhooks=hooks(receiver)[1:2])
    actor = AlertActor(db, settings, {"sup-a": w.health}, [], w.clock, SystemClock())
    sending = asyncio.create_task(actor.webhooks.run())
    try:
        await _crash(w)
        await actor.evaluate()
        [request] = await receiver.wait_for(1, "dingtalk")
    finally:
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)
    query = request["query"]
    assert query["access_token"] == "tok"
    # DingTalk's check: base64(HMAC-SHA256(secret, "<timestamp>\n<secret>")), ms timestamps.
    expected = hmac.new(
        DING_SECRET.encode(), f"{query['timestamp']}\n{DING_SECRET}".encode(), hashlib.sha256
    ).digest()
    assert base64.b64decode(query["sign"]) == expected
    assert abs(int(query["timestamp"]) / 1000 - datetime.now(UTC).timestamp()) < 300


async def test_deliveries_are_retried_until_they_pass_and_refusals_are_not(
    db: Database, receiver: Receiver
) -> None:
    w = World(db)
    rules = [AlertRule(type="supplier_down", severity="critical")]
    webhooks = [
        AlertWebhook(url=f"{receiver.base}/generic", retry_base_s=0.01),
        AlertWebhook(url=f"{receiver.base}/dingtalk", format="dingtalk", retry_base_s=0.01),
    ]
    settings = AlertsSection(rules=rules, webhooks=webhooks)
    actor = AlertActor(db, settings, {"sup-a": w.health}, [], w.clock, SystemClock())
    receiver.answers = {
        "generic": [(503, {}), (429, {})],
        "dingtalk": [(200, {"errcode": 130101, "errmsg": "send too fast"})],
    }
    sending = asyncio.create_task(actor.webhooks.run())
    try:
        await _crash(w)
        [fired] = await actor.evaluate()
        generic = await receiver.wait_for(3, "generic")
        assert [r["body"]["alert_id"] for r in generic] == [fired["alert_id"]] * 3
        await receiver.wait_for(2, "dingtalk")
        # A refusal that will not change (here the robot's "sign not match") is not repeated:
        # the next alert is the next request that hook sees.
        receiver.answers["dingtalk"] = [(200, {"errcode": 310000, "errmsg": "sign not match"})]
        await _revive(w)
        [resolved] = await actor.evaluate()
        await _crash(w)
        [again] = await actor.evaluate()
        ding = await receiver.wait_for(4, "dingtalk")
    finally:
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)
    titles = [r["body"]["markdown"]["text"] for r in ding]
    assert [fired["alert_id"] in t for t in titles] == [True, True, False, False]
    assert resolved["alert_id"] in titles[2]
    assert again["alert_id"] in titles[3]
    assert actor.webhooks.dropped == 1


async def test_filters_and_an_alert_firing_across_a_restart_is_not_fired_again(
    db: Database, receiver: Receiver
) -> None:
    w = World(db)
    rules = [AlertRule(type="supplier_down", severity="warning")]
    webhooks = [
        AlertWebhook(url=f"{receiver.base}/critical-only", min_severity="critical"),
        AlertWebhook(url=f"{receiver.base}/generic", kinds=["supplier_outage"]),
    ]
    settings = AlertsSection(rules=rules, webhooks=webhooks)
    first = AlertActor(db, settings, {"sup-a": w.health}, [], w.clock, SystemClock())
    await _crash(w)
    [fired] = await first.evaluate()
    # A new incarnation (a restart) adopts the open alert instead of firing it again.
    second = AlertActor(db, settings, {"sup-a": w.health}, [], w.clock, SystemClock())
    sending = asyncio.create_task(second.webhooks.run())
    try:
        assert await second.evaluate() == []
        await _revive(w)
        [resolved] = await second.evaluate()
        assert resolved["resolves"] == fired["alert_id"]
        await receiver.wait_for(1, "generic")
    finally:
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)
    assert receiver.to("critical-only") == []  # a warning stays below min_severity


async def test_a_running_gateway_publishes_alerts_and_posts_webhooks(
    tmp_path: Path,
    broker: Mosquitto,
    write_config: WriteConfig,
    receiver: Receiver,
    http: aiohttp.ClientSession,
) -> None:
    """The supervised actor with the real clock: the erp channel is silent for 0.3 s, then an
    order arrives; the feed and the webhook see the firing and the resolution, once each."""
    config = base_config(
        tmp_path,
        broker,
        suppliers=[{"id": "sup-a", "name": "A", "url": "http://127.0.0.1:9", "regions": ["CN"]}],
        catalog=[{"sku": "SKU-1", "supplier": "sup-a", "cost": "1.00", "stock": 5}],
        alerts={
            "evaluate_every_s": 0.1,
            "rules": [{"type": "channel_silent", "channels": ["erp"], "threshold": 0.3}],
            "webhooks": [{"url": f"{receiver.base}/generic", "retry_base_s": 0.05}],
        },
    )
    async with FeedCollector(broker.port) as feed:
        gateway = await start_gateway(write_config(config))
        try:
            await feed.wait_until(
                lambda f: any(t == "dropship/alerts/channel_silent" for t, _, _ in f.messages),
                20,
                "a channel_silent alert",
            )
            body = json.dumps(order_json("SO-1", [("SKU-1", 1)], channel="erp"))
            async with http.post(
                f"{gateway.http_url}/api/v1/orders",
                data=body,
                headers={"Content-Type": "application/json"},
            ) as response:
                assert response.status == 202
            await feed.wait_until(
                lambda f: (
                    [v["state"] for t, v, _ in f.messages if "/alerts/" in t]
                    == ["firing", "resolved"]
                ),
                20,
                "the resolution",
            )
            hooked = await receiver.wait_for(2, "generic")
        finally:
            await gateway.stop()
    # (The channel may fall silent again before the gateway stops: look at the first two.)
    alerts = [v for t, v, _ in feed.messages if t == "dropship/alerts/channel_silent"][:2]
    assert [a["alert_id"] for a in alerts] == [r["body"]["alert_id"] for r in hooked[:2]]
    assert alerts[0]["subject"] == {"channel": "erp"}
