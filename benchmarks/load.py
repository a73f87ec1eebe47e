"""The load: order bodies, clients that POST them (closed loop: C clients, each sending its next
order when the last is answered; open loop: sends at fixed times, whatever the answers do), and
the MQTT subscriber that sees each order complete.

An order is complete when the message saying its supplier accepted it arrives: for the gateway
the `{p}/events/po.accepted` event, for the floor its one status message. Every order answered
202 must complete; one that does not is a lost order and fails the benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import aiomqtt
import msgspec

from benchmarks.processes import BenchError
from tests.harness import order_json

JSON_HEADERS = {"Content-Type": "application/json"}
# One SKU per supplier: every order becomes exactly one purchase order, spread over the three.
SKUS = {"SKU-A": "sup-a", "SKU-B": "sup-b", "SKU-C": "sup-c"}
PROVINCES = ("浙江省", "广东省", "CN-SH", "江苏", "北京市")


def order_bodies(label: str, count: int) -> list[bytes]:
    """`count` single-order bodies (CONTRACT §3), one line each, rotating over the SKUs."""
    skus = list(SKUS)
    return [
        msgspec.json.encode(
            order_json(
                f"{label}-{i:07d}",
                [(skus[i % len(skus)], 1 + i % 3)],
                PROVINCES[i % len(PROVINCES)],
            )
        )
        for i in range(count)
    ]


# -- completions ---------------------------------------------------------------------------------


class _OrderRef(msgspec.Struct):
    order_id: str | None = None


_order_ref = msgspec.json.Decoder(_OrderRef)


class Completions:
    """Subscribed to the gateway's `po.accepted` events and the floor's status messages; notes
    when each order completed (time.perf_counter), and counts every message of a census."""

    def __init__(self, port: int, gateway_prefix: str, floor_prefix: str) -> None:
        self.port = port
        self.gateway_topic = f"{gateway_prefix}/events/po.accepted"
        self.floor_filter = f"{floor_prefix}/orders/+/status"
        self.at: dict[str, float] = {}
        self._expected: set[str] = set()
        self._remaining = 0
        self._progress = asyncio.Event()
        self._subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._client: aiomqtt.Client | None = None
        self.census: Counter[str] | None = None  # while set: every message, by topic kind
        self._census_filter = f"{gateway_prefix}/#"

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="completions")
        async with asyncio.timeout(10):
            await self._subscribed.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await self._task

    async def _run(self) -> None:
        async with aiomqtt.Client(
            "127.0.0.1", self.port, identifier="bench-completions", timeout=10
        ) as client:
            client.pending_calls_threshold = 100_000
            self._client = client
            await client.subscribe(self.gateway_topic, qos=1)
            await client.subscribe(self.floor_filter, qos=1)
            self._subscribed.set()
            async for message in client.messages:
                topic = message.topic.value
                if self.census is not None:
                    self.census[_kind(topic)] += 1
                if message.topic.matches(self.floor_filter):
                    self._done(topic.split("/")[2])
                elif topic == self.gateway_topic:
                    payload = message.payload
                    assert isinstance(payload, bytes | bytearray)
                    order_id = _order_ref.decode(payload).order_id
                    if order_id:
                        self._done(order_id)

    async def start_census(self) -> None:
        """Count everything the gateway publishes from now on (a slower subscription)."""
        assert self._client is not None
        self.census = Counter()
        await self._client.subscribe(self._census_filter, qos=1)

    async def stop_census(self) -> Counter[str]:
        assert self._client is not None
        await self._client.unsubscribe(self._census_filter)
        census, self.census = self.census or Counter(), None
        return census

    def _done(self, order_id: str) -> None:
        if order_id in self.at:
            return
        self.at[order_id] = time.perf_counter()
        if order_id in self._expected:
            self._remaining -= 1
            self._progress.set()

    async def wait_for(self, order_ids: list[str], stall_s: float) -> float:
        """Wait until every one of `order_ids` completed; the time the last did. Fails if no
        order completes for `stall_s` seconds while some are missing (lost orders)."""
        self._expected = set(order_ids)
        self._remaining = sum(1 for o in self._expected if o not in self.at)
        while self._remaining > 0:
            self._progress.clear()
            try:
                async with asyncio.timeout(stall_s):
                    await self._progress.wait()
            except TimeoutError:
                missing = [o for o in order_ids if o not in self.at]
                raise BenchError(
                    f"{len(missing)} of {len(order_ids)} orders answered 202 never completed "
                    f"(nothing completed for {stall_s:.0f} s); first missing: {missing[:3]}"
                ) from None
        self._expected = set()
        return max(self.at[o] for o in order_ids)


def _kind(topic: str) -> str:
    """`dropship/orders/ord_x/status` → `orders/+/status`; events keep their type."""
    parts = topic.split("/")[1:]
    if len(parts) == 3 and parts[0] in ("orders", "suppliers"):
        return f"{parts[0]}/+/{parts[2]}"
    return "/".join(parts)


# -- clients -------------------------------------------------------------------------------------


class _Accepted(msgspec.Struct):
    order_id: str


class _Answer(msgspec.Struct):
    accepted: list[_Accepted]
    rejected: list[Any]


_answer = msgspec.json.Decoder(_Answer)


@dataclass
class Load:
    """What a load run saw: the order ids answered 202 and when."""

    label: str
    started: float = 0.0
    last_answer: float = 0.0
    order_ids: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # seconds, per request

    @property
    def orders(self) -> int:
        return len(self.order_ids)

    @property
    def accepted_rate(self) -> float:
        return self.orders / (self.last_answer - self.started)


async def _post(session: aiohttp.ClientSession, url: str, body: bytes, label: str) -> str:
    async with session.post(url, data=body, headers=JSON_HEADERS) as response:
        raw = await response.read()
        if response.status != 202:
            raise BenchError(f"{label}: HTTP {response.status}: {raw[:300]!r}")
    answer = _answer.decode(raw)
    if answer.rejected or len(answer.accepted) != 1:
        raise BenchError(f"{label}: the order was not accepted: {raw[:300]!r}")
    return answer.accepted[0].order_id


async def closed_loop(url: str, bodies: list[bytes], clients: int, label: str) -> Load:
    """`clients` clients, each POSTing the next order as soon as its last one was answered."""
    load = Load(label)
    pending: Iterator[bytes] = iter(bodies)
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=120)
    ) as session:

        async def client() -> None:
            for body in pending:  # shared: each client takes the next order
                began = time.perf_counter()
                order_id = await _post(session, url, body, label)
                done = time.perf_counter()
                load.latencies.append(done - began)
                load.order_ids.append(order_id)
                load.last_answer = max(load.last_answer, done)

        load.started = time.perf_counter()
        with _first_failure():
            async with asyncio.TaskGroup() as group:
                for _ in range(clients):
                    group.create_task(client())
    return load


async def open_loop(url: str, bodies: list[bytes], rate: float, label: str) -> Load:
    """Send order i at `start + i / rate`, whatever happened to the others; the latency of each
    is counted from the moment it was due, so a slow answer cannot hide the next one's wait."""
    load = Load(label)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=120)
    ) as session:

        async def send(body: bytes, due: float) -> None:
            order_id = await _post(session, url, body, label)
            done = time.perf_counter()
            load.latencies.append(done - due)
            load.order_ids.append(order_id)
            load.last_answer = max(load.last_answer, done)

        load.started = start = time.perf_counter()
        with _first_failure():
            async with asyncio.TaskGroup() as group:
                for i, body in enumerate(bodies):
                    due = start + i / rate
                    delay = due - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)  # the schedule itself: open loop sends on time
                    group.create_task(send(body, due))
    return load


@contextlib.contextmanager
def _first_failure() -> Iterator[None]:
    """A client's BenchError as itself, not wrapped in the task group's ExceptionGroup."""
    try:
        yield
    except* BenchError as failures:
        raise failures.exceptions[0] from None
