"""The only code that talks to MQTT: follows the event log to the broker (CONTRACT §6).

The publisher reads the log from its durable position (`feed_positions`, consumer `mqtt`) in
batches, publishes each batch pipelined, and moves the position only after the broker
acknowledged every message of it (QoS 1 PUBACK), so a broker that is down delays the feed and
loses nothing of it. The retained order status is built at publish time, once per order per
batch. Without a broker the publisher reconnects
with capped, jittered backoff, logging once when the broker goes away and once when it is back.
Intake never waits for any of this: it only appends events.

The retained `gateway/status` topic says `online` while connected; the connection's last will
says `offline` if the gateway dies, and a clean stop publishes `offline` itself.
"""

from __future__ import annotations

import asyncio
import functools
import math
import random
from typing import Any

import aiomqtt
import paho.mqtt.client as paho_mqtt
import structlog
import yarl
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gateway.feed import lean_paho
from gateway.feed.messages import GATEWAY_STATUS, Message, messages_for
from gateway.infra.clock import Clock
from gateway.infra.config import MqttSection
from gateway.infra.metrics import Metrics
from gateway.infra.supervision import Ready
from gateway.infra.tls import mqtt_client_context
from gateway.store import events
from gateway.store.db import Connection, Database

log = structlog.get_logger(__name__)

# Events per batch. Large: a batch ends with a wait for its last PUBACK, and an order's steps
# within one batch share one retained status (500 -> 2,000: 700 -> 960 orders/s, issue 5).
BATCH = 2000
WINDOW = 64  # messages awaiting their PUBACK at once
CONSUMER = "mqtt"
# JSON strings, as every payload of the feed is JSON (CONTRACT §6).
ONLINE = b'"online"'
OFFLINE = b'"offline"'


def broker_address(config: MqttSection) -> tuple[str, int, bool]:
    """(host, port, tls) of the broker the publisher connects to."""
    if config.url == "embedded":
        host, _, port = config.embedded_listen.rpartition(":")
        return host, int(port), False
    url = yarl.URL(config.url)
    tls = url.scheme == "mqtts"
    return url.host or "127.0.0.1", url.port or (8883 if tls else 1883), tls


class Publisher:
    def __init__(self, db: Database, config: MqttSection, clock: Clock, metrics: Metrics) -> None:
        self._db = db
        self._config = config
        self._clock = clock
        self._metrics = metrics
        self._work = asyncio.Event()
        self._work.set()  # whatever the log holds past our position at start-up goes first
        self._closing = False
        self._drained = asyncio.Event()  # the publisher is done (flushed or gave up)
        self._flushed = False
        self.connected: bool | None = None  # None until the first attempt: its failure is logged
        self._connection_changed = asyncio.Event()
        db.add_commit_listener(self._work.set)

    def topic(self, relative: str) -> str:
        return f"{self._config.topic_prefix}/{relative}"

    async def run(self, ready: Ready) -> None:
        ready()
        host, port, tls = broker_address(self._config)
        backoff = 0.5
        while not self._drained.is_set():
            client = self._client(host, port, tls)
            try:
                async with client:
                    backoff = 0.5
                    self._set_connected(True, host, port)
                    await self._serve_connection(client)
                    self._flushed = True
                    self._drained.set()
                    log.info("mqtt.closed", broker=f"{host}:{port}")
                    self.connected = False
                    self._connection_changed.set()
                    self._metrics.mqtt_connected.set(0)
            except* aiomqtt.MqttError as errors:
                self._set_connected(False, host, port, str(errors.exceptions[0]))
                if self._closing:
                    self._drained.set()  # nothing more can go out; the log keeps it for later
            finally:
                _observe_disconnection(client)
            if not self._drained.is_set() and not self.connected:
                await self._clock.sleep(random.uniform(backoff / 2, backoff))
                backoff = min(self._config.reconnect_max_s, backoff * 2)

    async def _serve_connection(self, client: _FeedClient) -> None:
        """Announce `online`, follow the log until asked to close, announce `offline`.

        A broken connection ends this at once, even while idle or waiting for a PUBACK
        (aiomqtt does not fail a pending publish when the link drops): the watcher's message
        iterator raises MqttError as soon as the client is disconnected, which cancels the rest.
        """
        async with asyncio.TaskGroup() as tasks:
            watch = tasks.create_task(self._watch_connection(client))
            await client.publish(self.topic(GATEWAY_STATUS), ONLINE, qos=1, retain=True)
            await self._drain(client)
            await client.publish(self.topic(GATEWAY_STATUS), OFFLINE, qos=1, retain=True)
            watch.cancel()

    @staticmethod
    async def _watch_connection(client: aiomqtt.Client) -> None:
        async for _ in client.messages:  # we subscribe to nothing; this only watches the link
            pass

    def _client(self, host: str, port: int, tls: bool) -> _FeedClient:
        return _FeedClient(
            hostname=host,
            port=port,
            identifier=self._config.client_id,
            username=self._config.username,
            password=self._config.password,
            keepalive=self._config.keepalive_s,
            tls_context=mqtt_client_context(self._config) if tls else None,
            will=aiomqtt.Will(self.topic(GATEWAY_STATUS), OFFLINE, qos=1, retain=True),
            timeout=10,
        )

    async def _drain(self, client: _FeedClient) -> None:
        """Publish the log from the durable position on, until asked to close and caught up.

        The position is written while the next batch goes out, not before it: a batch is only
        read once the last one is acknowledged, so the position never runs ahead of the broker,
        and after a crash at most the batch in flight is published again (QoS 1 allows that).
        """
        position = await self._db.read(lambda conn: events.position(conn, CONSUMER))
        instance = self._db.instance_id
        loop = asyncio.get_running_loop()
        last_read = -math.inf
        moving: asyncio.Task[None] | None = None  # the position write of the batch before
        try:
            while True:
                # At most one batch per `linger_s` (Kafka's linger.ms): the steps of an order
                # come within milliseconds of each other, so a batch then carries one retained
                # status for all of them instead of one for each. Events all go out either way.
                pause = last_read + self._config.linger_s - loop.time()
                if pause > 0 and not self._closing:
                    await asyncio.sleep(pause)
                last_read = loop.time()
                self._work.clear()
                batch, messages = await self._db.read(
                    functools.partial(_next_batch, instance=instance, after_seq=position)
                )
                self._metrics.outbox_depth.set(batch.head - position)
                if not batch.events:
                    if self._closing:
                        return
                    await self._work.wait()
                    continue
                await self._publish_all(client, messages)
                position = batch.events[-1].seq
                if moving is not None:
                    await moving
                moving = asyncio.create_task(events.move_position(self._db, CONSUMER, position))
                self._metrics.mqtt_published.inc(len(messages))
                self._metrics.outbox_depth.set(batch.head - position)
        finally:
            if moving is not None:
                await moving

    async def _publish_all(self, client: _FeedClient, messages: list[Message]) -> None:
        """Publish in order, up to WINDOW awaiting their PUBACK at once (see `_FeedClient`)."""
        prefix = f"{self._config.topic_prefix}/"
        await client.publish_in_order(
            [(prefix + m.topic, m.payload, m.retain) for m in messages], window=WINDOW
        )

    async def flush(self, timeout_s: float) -> bool:
        """Publish what the log holds, then `offline`, within `timeout_s`. True if done."""
        self._closing = True
        self._work.set()
        try:
            async with asyncio.timeout(timeout_s):
                await self._drained.wait()
        except TimeoutError:
            return False
        return self._flushed

    async def wait_connected(self, connected: bool = True) -> None:
        """Until the link to the broker is up (or, with False, known to be down)."""
        while self.connected is not connected:
            self._connection_changed.clear()
            await self._connection_changed.wait()

    def _set_connected(self, connected: bool, host: str, port: int, error: str = "") -> None:
        if connected == self.connected:
            return
        self.connected = connected
        self._connection_changed.set()
        self._metrics.mqtt_connected.set(1 if connected else 0)
        if connected:
            log.info("mqtt.connected", broker=f"{host}:{port}")
        else:
            log.warning("mqtt.disconnected", broker=f"{host}:{port}", error=error or None)


def _next_batch(
    conn: Connection, instance: str, after_seq: int
) -> tuple[events.FeedBatch, list[Message]]:
    """Read the next batch and shape its messages, both on the store's reader thread: shaping
    2,000 events takes ~20 ms, which on the loop would hold up every request meanwhile."""
    batch = events.feed_batch(conn, instance, after_seq, BATCH)
    return batch, messages_for(batch.events, batch.orders) if batch.events else []


class _FeedClient(aiomqtt.Client):
    """aiomqtt's client with a lean path for the event feed, and quiet about dropped links.

    `publish_in_order` hands a batch to paho directly and counts the PUBACKs in paho's
    `on_publish`, instead of `await publish()` per message: that way costs a task, an event and
    a scan of aiomqtt's pending calls per message, ~40 % of a message's CPU (issue 5). And its
    paho client reads the broker's bytes in chunks and PUBACKs without decoding them into
    objects (`gateway.feed.lean_paho`: 20-25 µs per PUBACK in paho's own reader, ~6 in it).

    aiomqtt keeps an unexpected disconnection as the exception of an internal future. When the
    broker goes away between its CONNACK and the end of `__aenter__`, aiomqtt replaces that
    future unread, and when the drop surfaces first as a failed publish nothing reads it either.
    The publisher reports every drop itself (`mqtt.disconnected`), so the error is marked seen
    as soon as it is set; whoever awaits the future still gets it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # No in-flight limit in paho: `publish_in_order`'s window is the limit. paho's own (20
        # by default) held back the rest of a window in its queue, and at every PUBACK scanned
        # its whole out-queue for the next to send (`_update_inflight`: ~4 % of the loop's
        # time, issue 5; a limit of 64 scanned 64 per PUBACK). With none it skips that scan.
        kwargs.setdefault("max_inflight_messages", 0)
        super().__init__(*args, **kwargs)
        lean_paho.install(self._client)
        self._unacked: set[int] = set()  # mids of publish_in_order awaiting their PUBACK
        self._ack_wanted = 0  # wake the batch when no more than this many are unacked
        self._acks_arrived = asyncio.Event()

    async def publish_in_order(self, messages: list[tuple[str, bytes, bool]], window: int) -> None:
        """Publish (topic, payload, retain) at QoS 1 in this order, at most `window` awaiting
        their PUBACK; return when all are acknowledged. A lost link does not fail this (paho
        keeps the messages): the connection watcher ends the connection and cancels it."""
        paho = self._client
        unacked = self._unacked
        if isinstance(paho, lean_paho.LeanPaho) and paho.can_publish_lean:
            paho.on_lean_puback = self._acked
            sent = 0
            while sent < len(messages):
                room = window - len(unacked)
                if room <= 0:
                    await self._acks_down_to(window // 2)
                    continue
                try:
                    unacked.update(paho.publish_lean(messages[sent : sent + room]))
                except ConnectionError as error:  # as paho's publish says it, for the caller
                    raise aiomqtt.MqttCodeError(paho_mqtt.MQTT_ERR_NO_CONN, str(error)) from None
                sent += room
            await self._acks_down_to(0)
            return
        for topic, payload, retain in messages:
            if len(unacked) >= window:
                await self._acks_down_to(window // 2)
            info = paho.publish(topic, payload, 1, retain)
            if info.rc != paho_mqtt.MQTT_ERR_SUCCESS:
                raise aiomqtt.MqttCodeError(info.rc, "Could not publish message")
            unacked.add(info.mid)
            if info.is_published():  # acknowledged before we noted it: cannot happen on
                unacked.discard(info.mid)  # one loop, but never wait for it if it does
        await self._acks_down_to(0)

    async def _acks_down_to(self, unacked: int) -> None:
        while len(self._unacked) > unacked:
            self._ack_wanted = unacked
            self._acks_arrived.clear()
            await self._acks_arrived.wait()

    def _acked(self, mid: int) -> None:
        """A message of `publish_in_order` is acknowledged (by paho's path or the lean one)."""
        unacked = self._unacked
        unacked.discard(mid)
        if len(unacked) <= self._ack_wanted:
            self._acks_arrived.set()

    def _on_publish(
        self,
        client: paho_mqtt.Client,
        userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties,
    ) -> None:
        super()._on_publish(client, userdata, mid, reason_code, properties)
        if mid in self._unacked:
            self._acked(mid)

    def _on_disconnect(self, *args: Any, **kwargs: Any) -> None:
        super()._on_disconnect(*args, **kwargs)
        _observe_disconnection(self)


def _observe_disconnection(client: aiomqtt.Client) -> None:
    """Mark a dropped link's error as seen (see `_FeedClient`)."""
    disconnected = client._disconnected
    if disconnected.done() and not disconnected.cancelled():
        disconnected.exception()
