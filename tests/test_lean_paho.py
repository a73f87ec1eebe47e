"""The feed's lean reading of the broker's bytes (gateway/feed/lean_paho.py, issue 5).

Without a broker: `LeanPaho` and paho's own reader are given the same bytes on a scripted
socket, split at every offset, and must end in the same state with the same callbacks and the
same bytes sent; errors must come out as paho's. Against a real Mosquitto: thousands of
messages acknowledged, and a link cut in the middle of a PUBACK in the middle of a batch.
Last, what of paho's internals the lean reader relies on (it was written against 2.2.0)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import re
import socket
from collections import deque
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt import _packet
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, _ConnectionState
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gateway.domain.model import NewEvent
from gateway.feed import lean_paho
from gateway.feed.lean_paho import READ_CHUNK, LeanPaho, missing_internals
from gateway.feed.publisher import BATCH, CONSUMER, Publisher, _FeedClient
from gateway.infra.clock import FakeClock
from gateway.infra.config import MqttSection
from gateway.infra.metrics import Metrics
from gateway.store import events
from gateway.store.db import Database
from tests.harness import Mosquitto, until_committed

# ---------------------------------------------------------------------------------------------
# Without a broker: the same bytes through paho's reader and through LeanPaho's.


class ScriptedSocket:
    """What the client reads: the chunks given (one `recv` never returns more than one), then
    "would block" or `error`; what it sends is kept."""

    def __init__(self) -> None:
        self.chunks: deque[bytes] = deque()
        self.error: OSError | None = None  # raised once the chunks are read
        self.peer_closed = False  # `recv` returns b"" once the chunks are read
        self.sent = bytearray()
        self.recvs = 0
        self.closed = False
        self.options: list[tuple[int, int, int]] = []  # setsockopt calls

    @property
    def readable(self) -> bool:
        return bool(self.chunks) or self.error is not None or self.peer_closed

    def recv(self, size: int) -> bytes:
        self.recvs += 1
        if not self.chunks:
            if self.error is not None:
                raise self.error
            if self.peer_closed:
                return b""
            raise BlockingIOError
        chunk = self.chunks.popleft()
        if len(chunk) > size:
            self.chunks.appendleft(chunk[size:])
        return chunk[:size]

    def send(self, data: bytes) -> int:
        self.sent += data
        return len(data)

    def fileno(self) -> int:
        return -1

    def setsockopt(self, level: int, option: int, value: int) -> None:
        self.options.append((level, option, value))

    def close(self) -> None:
        self.closed = True


class Scripted:
    """A paho client (plain or made lean) connected to a `ScriptedSocket`, noting its callbacks,
    with 30 QoS 1 messages published: 20 in flight (paho's default), 10 queued behind them."""

    def __init__(self, lean: bool) -> None:
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id="t", protocol=paho.MQTTv311)
        if lean:
            assert lean_paho.install(client)
        self.client = client
        self.socket = ScriptedSocket()
        client._sock = self.socket  # type: ignore[assignment]
        client._state = _ConnectionState.MQTT_CS_CONNECTED
        client._ping_t = 1.0  # a PINGREQ went out
        self.seen: list[tuple[Any, ...]] = []
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        self.infos = [client.publish(f"t/{i}", b"p" * i, 1) for i in range(30)]
        self.read_codes: list[MQTTErrorCode] = []

    def _on_publish(
        self, _c: paho.Client, _u: Any, mid: int, reason: ReasonCode, props: Properties
    ) -> None:
        self.seen.append(("published", mid, reason.value, str(props)))

    def _on_message(self, _c: paho.Client, _u: Any, message: paho.MQTTMessage) -> None:
        self.seen.append(("message", message.topic, message.payload, message.qos, message.mid))

    def _on_subscribe(
        self, _c: paho.Client, _u: Any, mid: int, codes: list[ReasonCode], _p: Properties
    ) -> None:
        self.seen.append(("subscribed", mid, [c.value for c in codes]))

    def _on_disconnect(
        self, _c: paho.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any
    ) -> None:
        self.seen.append(("disconnected", reason.value))

    def receive(self, *chunks: bytes) -> None:
        """The chunks arrive one after another, each read as the loop's reader callback
        would: `loop_read` for as long as the socket is readable."""
        for chunk in chunks:
            self.socket.chunks.append(chunk)
            while self.socket.readable and self.client._sock is not None:
                self.read_codes.append(self.client.loop_read())

    def state(self) -> dict[str, Any]:
        client = self.client
        return {
            "seen": self.seen,
            "sent": bytes(self.socket.sent),
            "unacknowledged": list(client._out_messages),
            "in flight": client._inflight_messages,
            "published": [info.is_published() for info in self.infos],
            "ping_t": client._ping_t,
            "connected": client._sock is not None,
            "read codes": [code for code in self.read_codes if code != 0],
        }


def puback(mid: int) -> bytes:
    return bytes([0x40, 0x02]) + mid.to_bytes(2, "big")


def publish(topic: str, payload: bytes, mid: int | None = None) -> bytes:
    """A PUBLISH from the broker: QoS 1 with a packet id, QoS 0 without."""
    body = len(topic).to_bytes(2, "big") + topic.encode()
    if mid is not None:
        body += mid.to_bytes(2, "big")
    body += payload
    length, encoded = len(body), bytearray()
    while True:
        byte, length = length % 128, length // 128
        encoded.append(byte | (0x80 if length else 0))
        if not length:
            break
    return bytes([0x32 if mid is not None else 0x30]) + encoded + body


# PUBACKs (freeing slots, so queued messages go out), one for no message of ours, a PINGRESP, a
# SUBACK, a PUBLISH with a 2-byte remaining length and a QoS 1 one (which paho acknowledges).
STREAM = b"".join(
    [
        *(puback(mid) for mid in range(1, 6)),
        bytes([0xD0, 0x00]),  # PINGRESP
        puback(999),
        bytes([0x90, 0x03, 0x00, 0x07, 0x01]),  # SUBACK of mid 7, QoS 1 granted
        publish("in/large", b"x" * 300),
        publish("in/qos1", b"y", mid=42),
        *(puback(mid) for mid in range(6, 31)),
    ]
)


def reference() -> dict[str, Any]:
    """What paho's own reader makes of STREAM."""
    paho_client = Scripted(lean=False)
    paho_client.receive(STREAM)
    return paho_client.state()


def test_the_reference_is_what_the_stream_says() -> None:
    """The comparisons below are only as good as the reference: all 30 acknowledged, in order,
    with the ping answered, the subscription and both messages seen, the queued 10 sent."""
    state = reference()
    assert [s[1] for s in state["seen"] if s[0] == "published"] == list(range(1, 31))
    assert ("subscribed", 7, [1]) in state["seen"]
    assert [s[1] for s in state["seen"] if s[0] == "message"] == ["in/large", "in/qos1"]
    assert state["unacknowledged"] == []
    assert state["in flight"] == 0
    assert all(state["published"])
    assert state["ping_t"] == 0
    assert puback(42) in state["sent"]  # paho acknowledged the QoS 1 message
    assert state["connected"]


def test_lean_reading_of_the_stream_in_one_piece_is_paho_s() -> None:
    lean = Scripted(lean=True)
    lean.receive(STREAM)
    assert lean.state() == reference()
    assert lean.socket.recvs == 1  # the whole stream in one read, handled at once
    assert isinstance(lean.client, LeanPaho)
    assert lean.client._buffer == b""


def _connected(lean: bool) -> tuple[paho.Client, ScriptedSocket]:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="t", protocol=paho.MQTTv311)
    if lean:
        assert lean_paho.install(client)
    sock = ScriptedSocket()
    client._sock = sock  # type: ignore[assignment]
    client._state = _ConnectionState.MQTT_CS_CONNECTED
    return client, sock


LEAN_MESSAGES = [
    ("t/a", b"x", False),
    ("gw/orders/ord_1/status", '{"status":"已路由"}'.encode(), True),
    ("长/话题", b"", False),  # no payload
    ("gw/events/order.received", b"p" * 200_000, True),  # a 3-byte remaining length
]


def test_lean_publishing_sends_the_bytes_paho_sends() -> None:
    plain, plain_socket = _connected(lean=False)
    for topic, payload, retain in LEAN_MESSAGES:
        assert plain.publish(topic, payload, 1, retain).rc == MQTTErrorCode.MQTT_ERR_SUCCESS
    lean, lean_socket = _connected(lean=True)
    assert isinstance(lean, LeanPaho)
    assert lean.publish_lean(LEAN_MESSAGES) == [1, 2, 3, 4]
    assert lean.loop_write() == MQTTErrorCode.MQTT_ERR_SUCCESS
    assert len(plain_socket.sent) > 200_000
    assert bytes(lean_socket.sent) == bytes(plain_socket.sent)
    assert lean._out_packet == deque()


def test_lean_pubacks_go_to_their_callback_and_paho_s_to_paho() -> None:
    lean, _ = _connected(lean=True)
    assert isinstance(lean, LeanPaho)
    acked: list[int] = []
    lean.on_lean_puback = acked.append
    ids = lean.publish_lean(LEAN_MESSAGES[:2])
    status = lean.publish("gw/status", b'"online"', 1, True)  # paho's own, as the feed's online
    lean._sock.chunks.append(  # type: ignore[union-attr]
        b"".join(bytes([0x40, 2, 0, mid]) for mid in (ids[1], status.mid, ids[0], ids[1]))
    )
    assert lean.loop_read() == MQTTErrorCode.MQTT_ERR_SUCCESS
    assert acked == ids[::-1]  # the repeated PUBACK of ids[1] is ignored
    assert status.is_published()
    assert lean._lean_unacked == set()
    assert lean._out_messages == {}


def test_lean_publishing_refuses_what_paho_refuses() -> None:
    lean, _ = _connected(lean=True)
    assert isinstance(lean, LeanPaho)
    for topic in ("", "a/+/b", "a/#", "x" * 65_536):
        with pytest.raises(ValueError, match="not a topic"):
            lean.publish_lean([(topic, b"x", False)])
    lean._sock = None
    with pytest.raises(ConnectionError):
        lean.publish_lean(LEAN_MESSAGES)


@pytest.mark.skipif(not hasattr(socket, "TCP_QUICKACK"), reason="Linux only")
def test_every_read_asks_for_quick_acks() -> None:
    """A broker that delays small packets (Nagle's algorithm, Mosquitto's default) sends its
    next PUBACK only once the last is ACKed; the lean reader has the kernel ACK at once."""
    lean = Scripted(lean=True)
    half = len(STREAM) // 2
    lean.receive(STREAM[:half], STREAM[half:])
    assert lean.socket.recvs == 2
    assert lean.socket.options == [(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)] * 2
    assert lean.state() == reference()


def test_lean_reading_of_the_stream_split_anywhere_is_paho_s() -> None:
    expected = reference()
    for split in range(1, len(STREAM)):
        lean = Scripted(lean=True)
        lean.receive(STREAM[:split], STREAM[split:])
        assert lean.state() == expected, f"split at byte {split}"
        assert isinstance(lean.client, LeanPaho)
        assert lean.client._buffer == b"", f"split at byte {split}: bytes left unhandled"


def test_lean_reading_of_the_stream_byte_by_byte_is_paho_s() -> None:
    lean = Scripted(lean=True)
    lean.receive(*(STREAM[i : i + 1] for i in range(len(STREAM))))
    assert lean.state() == reference()


def test_a_chunk_longer_than_a_read_is_all_handled() -> None:
    """More than READ_CHUNK arrived: it takes more than one read, none of it is left over."""
    acks = b"".join(puback(mid) for mid in range(1, 31))
    filler = bytes([0xD0, 0x00]) * (READ_CHUNK // 2 + 7)  # PINGRESPs
    for lean in (False, True):
        scripted = Scripted(lean)
        scripted.receive(filler + acks)
        assert [s[1] for s in scripted.seen] == list(range(1, 31)), f"lean={lean}"


@pytest.mark.parametrize(
    ("name", "data", "error"),
    [
        ("the broker closed the link", b"", None),
        ("the socket failed", b"", ConnectionResetError(104, "reset")),
        ("a PUBACK of 3 bytes in MQTT 3.1.1", bytes([0x40, 0x03, 0, 1, 0]), None),
        ("a remaining length over 4 bytes", bytes([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]), None),
        ("an AUTH packet, which MQTT 3.1.1 has not", bytes([0xF0, 0x00]), None),
    ],
)
def test_errors_come_out_as_paho_s(name: str, data: bytes, error: OSError | None) -> None:
    """After two good PUBACKs, the same return code, the same disconnection, the link closed."""
    states = []
    for lean in (False, True):
        scripted = Scripted(lean)
        scripted.socket.error = error
        scripted.socket.peer_closed = not data and error is None
        scripted.receive(puback(1) + puback(2) + data)
        states.append(scripted.state())
    paho_state, lean_state = states
    assert lean_state == paho_state, name
    assert not lean_state["connected"], name
    assert lean_state["seen"][-1][0] == "disconnected", name


def test_a_partial_packet_is_dropped_with_its_connection() -> None:
    scripted = Scripted(lean=True)
    scripted.receive(puback(1) + puback(2)[:3])
    client = scripted.client
    assert isinstance(client, LeanPaho)
    assert client._buffer == puback(2)[:3]
    client.connect_async("127.0.0.1", 1)  # reconnect() needs a host; nothing listens on port 1
    with contextlib.suppress(OSError):
        client.reconnect()
    assert client._buffer == b""


# ---------------------------------------------------------------------------------------------
# Against Mosquitto.

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


async def test_the_feed_client_has_every_puback_of_thousands_from_mosquitto(
    broker: Mosquitto,
) -> None:
    async with _FeedClient("127.0.0.1", broker.port, timeout=10) as client:
        assert isinstance(client._client, LeanPaho)
        # aiomqtt's own publish (the feed's `online` and `offline`) waits for its PUBACK.
        await client.publish("lean/status", b'"online"', qos=1, retain=True)
        messages = [(f"lean/{i % 7}", b"%d" % i, False) for i in range(5_000)]
        await asyncio.wait_for(client.publish_in_order(messages, window=64), 60)
        await client.publish("lean/status", b'"offline"', qos=1, retain=True)
        paho_client = client._client
        assert paho_client._out_messages == {}
        assert paho_client._inflight_messages == 0
        assert client._unacked == set()
        assert client._pending_publishes == {}
        assert paho_client._buffer == b""
        assert paho_client._lean_unacked == set()


class SilentBroker:
    """Accepts one MQTT connection, answers its CONNECT and keeps each PUBLISH it receives,
    acknowledging them only when told to (`acknowledge`)."""

    def __init__(self) -> None:
        self.published: list[int] = []  # packet ids, in the order received
        self.arrived = asyncio.Condition()
        self.writer: asyncio.StreamWriter | None = None
        self.acked = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                command = (await reader.readexactly(1))[0]
                length, shift = 0, 0
                while True:
                    byte = (await reader.readexactly(1))[0]
                    length += (byte & 0x7F) << shift
                    shift += 7
                    if not byte & 0x80:
                        break
                body = await reader.readexactly(length)
                if command == 0x10:  # CONNECT
                    writer.write(b"\x20\x02\x00\x00")
                elif command >> 4 == 3:  # PUBLISH at QoS 1: topic, then the packet id
                    topic_length = body[0] << 8 | body[1]
                    packet_id = body[2 + topic_length] << 8 | body[3 + topic_length]
                    async with self.arrived:
                        self.published.append(packet_id)
                        self.arrived.notify_all()

    async def wait_for(self, count: int) -> None:
        async with self.arrived:
            await self.arrived.wait_for(lambda: len(self.published) >= count)

    def acknowledge(self) -> None:
        """A PUBACK for every PUBLISH received and not yet acknowledged."""
        assert self.writer is not None
        for packet_id in self.published[self.acked :]:
            self.writer.write(bytes([0x40, 2, packet_id >> 8, packet_id & 0xFF]))
        self.acked = len(self.published)


async def test_the_whole_window_is_on_the_wire_before_the_first_puback() -> None:
    """`publish_in_order(window=64)` sends 64 messages before any is acknowledged, not paho's
    default of 20 in flight with the rest held back in its queue."""
    silent = SilentBroker()
    server = await asyncio.start_server(silent.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    messages = [(f"window/{i}", b"%d" % i, False) for i in range(100)]
    async with server, _FeedClient("127.0.0.1", port, timeout=10) as client:
        publishing = asyncio.create_task(client.publish_in_order(messages, window=64))
        try:
            async with asyncio.timeout(10):
                await silent.wait_for(64)
            assert not publishing.done()
            assert len(client._unacked) == 64
            assert len(silent.published) == 64  # no more than the window either
            silent.acknowledge()
            async with asyncio.timeout(10):
                await silent.wait_for(100)
                silent.acknowledge()
                await publishing
        finally:
            publishing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await publishing
        assert client._unacked == set()
        assert client._client._out_messages == {}
        assert len(set(silent.published)) == 100


class CuttingProxy:
    """Between the publisher and Mosquitto: passes the broker's bytes on in pieces of 3 (so
    PUBACKs arrive split), and on the first connection cuts the link once `cut_after` of them
    went through: in the middle of a PUBACK. Later connections are passed on whole."""

    def __init__(self, broker_port: int, cut_after: int) -> None:
        self.broker_port = broker_port
        self.cut_after = cut_after
        self.connections = 0
        self.cut = asyncio.Event()
        self.handlers: set[asyncio.Task[None]] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.handlers.add(asyncio.current_task())  # type: ignore[arg-type]
        self.connections += 1
        limit = self.cut_after if self.connections == 1 else None
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.broker_port)
        try:
            async with asyncio.TaskGroup() as tasks:
                upward = tasks.create_task(self._pipe(reader, up_writer, None))
                await self._pipe(up_reader, writer, limit)
                upward.cancel()
        finally:
            for w in (writer, up_writer):
                w.close()
                with contextlib.suppress(OSError):
                    await w.wait_closed()
            if limit is not None:
                self.cut.set()

    @staticmethod
    async def _pipe(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, limit: int | None
    ) -> None:
        passed = 0
        while data := await reader.read(3 if limit is not None else 65536):
            if limit is not None:
                data = data[: limit - passed]
            writer.write(data)
            await writer.drain()
            passed += len(data)
            if limit is not None and passed >= limit:
                return
        writer.close()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with Database(tmp_path / "gateway.db") as database:
        yield database


async def test_a_link_cut_inside_a_puback_mid_batch_is_noticed_and_the_feed_resumes(
    broker: Mosquitto, db: Database
) -> None:
    alerts = 6 * BATCH  # one message each
    await events.record(
        db,
        T0,
        [
            NewEvent(type="alert.test", data={"severity": "info", "message": f"{i}", "subject": {}})
            for i in range(alerts)
        ],
    )
    # The broker's bytes: CONNACK (4), the PUBACK of `online` (4), then a PUBACK (4) for each
    # message: cut inside the PUBACK of the 201st message of the second batch.
    proxy = CuttingProxy(broker.port, cut_after=4 + 4 + (BATCH + 200) * 4 + 2)
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    config = MqttSection(url=f"mqtt://127.0.0.1:{port}", reconnect_max_s=1)
    clock = FakeClock(T0)  # the reconnect backoff waits on it: the test says when it ends
    publisher = Publisher(db, config, clock, Metrics())
    async with server:
        running = asyncio.create_task(publisher.run(lambda: None), name="publisher")
        try:
            async with asyncio.timeout(30):
                await proxy.cut.wait()
                await publisher.wait_connected(False)  # noticed
                await clock.wait_sleepers(1)  # waiting to connect again
            # The first batch went out whole, the second was cut short.
            assert await db.read(lambda conn: events.position(conn, CONSUMER)) == BATCH
            clock.advance(60)
            async with asyncio.timeout(30):
                await publisher.wait_connected(True)

            async def at_head() -> int | None:
                position = await db.read(lambda conn: events.position(conn, CONSUMER))
                return position if position == alerts else None

            await until_committed(db, at_head, 60, "the mqtt position at the head")
            assert proxy.connections == 2
        finally:
            if not await publisher.flush(10):
                running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
            async with asyncio.timeout(5):
                await asyncio.gather(*proxy.handlers)


# ---------------------------------------------------------------------------------------------
# What of paho the lean reader relies on.

WRITTEN_AGAINST = "2.2.0"


def test_paho_still_has_what_the_lean_reader_relies_on() -> None:
    """Fails when paho changes what `LeanPaho` uses or mirrors: re-read paho's `_packet_read`
    and `_handle_pubackcomp` against gateway/feed/lean_paho.py, then update this test."""
    about = (
        f"LeanPaho was written against paho-mqtt {WRITTEN_AGAINST}, this is {version('paho-mqtt')}"
    )
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
    assert missing_internals(client) == [], about
    # paho's loop_read gets its packets from _packet_read, which LeanPaho overrides.
    assert "rc = self._packet_read()" in inspect.getsource(paho.Client.loop_read), about
    # The PUBACK path LeanPaho takes is the end of paho's, after decoding.
    handle_puback = inspect.getsource(paho.Client._handle_pubackcomp)
    for line in (
        "with self._out_message_mutex:",
        "if mid in self._out_messages:",
        "rc = self._do_on_publish(mid, reasonCode, properties)",
    ):
        assert line in handle_puback, f"{about}: _handle_pubackcomp lacks {line!r}"
    # paho's handlers read of `_in_packet` only what LeanPaho sets (pos, the read position of
    # paho's own reader, is 0 for a complete packet as in `_fresh_in_packet`).
    handlers = [
        inspect.getsource(method)
        for name, method in vars(paho.Client).items()
        if name == "_packet_handle" or name.startswith("_handle_")
    ]
    read = set(re.findall(r"_in_packet\[['\"](\w+)['\"]\]", "".join(handlers)))
    assert read == {"command", "packet", "remaining_length"}, about
    # What paho decodes from a PUBACK of 2 bytes is what LeanPaho passes on to on_publish.
    # publish_lean puts a QoS 1 PUBLISH of many packets in paho's out-queue, with no info:
    # paho's writer only looks further at a PUBLISH of QoS 0.
    packet_write = inspect.getsource(paho.Client._packet_write)
    assert "(packet['command'] & 0xF0) == PUBLISH and packet['qos'] == 0" in packet_write, about
    assert packet_write.count("packet['info']") == 1, about
    decoded = _packet.decode_puback(0x40, b"\x00\x01", paho.MQTTv311)
    assert decoded.reason == lean_paho._SUCCESS, about
    assert str(decoded.properties) == str(lean_paho._NO_PROPERTIES) == "[]", about
    assert lean_paho._SUCCESS.packetType == PacketTypes.PUBACK
    assert lean_paho._SUCCESS.value == 0


async def test_the_feed_client_is_lean_and_speaks_mqtt_3_1_1() -> None:
    """aiomqtt builds a plain paho Client, for MQTT 3.1.1 unless told otherwise."""
    client = _FeedClient("127.0.0.1", 1883)
    assert type(client._client) is LeanPaho
    assert client._client.protocol == paho.MQTTv311


def test_a_paho_without_what_it_needs_is_left_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lean_paho, "_METHODS", (*lean_paho._METHODS, "_gone_in_a_later_paho"))
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
    assert missing_internals(client) == ["method _gone_in_a_later_paho"]
    assert not lean_paho.install(client)
    assert type(client) is paho.Client
