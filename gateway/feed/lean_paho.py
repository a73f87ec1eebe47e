"""Leaner ways for paho to read from and publish to the broker, for the event feed's client
only (issue 5).

The feed publishes ~6 QoS 1 messages per order, so the broker sends ~6 PUBACKs per order, and
paho 2.2 spends 20-25 µs of the GIL-bound event loop on each: three `recv` calls for a 4-byte
packet (command, remaining length, body), a ReasonCode and a Properties built to say "success,
no properties", a DEBUG log call and two fresh dicts for its parser state. `LeanPaho` replaces
only how bytes become packets:

- `_packet_read` reads up to `READ_CHUNK` bytes at once and handles every complete packet in
  them. What is left in the buffer is only ever the start of a packet whose rest has not
  arrived: its bytes will make the socket readable again. paho's `loop_read` calls
  `_packet_read` until it returns MQTT_ERR_AGAIN (or a count is reached), and aiomqtt calls
  `loop_read` from the loop's reader callback, which fires as long as the socket is readable;
  nothing buffered waits for a readiness that will not come.
- A PUBACK with a remaining length of 2 (every MQTT 3.1.1 PUBACK; in MQTT 5 one with no reason
  code, which means success) goes straight to what paho's `_handle_pubackcomp` does after
  decoding: `_do_on_publish`, which calls `on_publish`, forgets the message, marks its
  MessageInfo published, frees its in-flight slot and sends what waited for one. `on_publish`
  gets one shared ReasonCode(PUBACK) and Properties(PUBACK): equal to what paho's decoder would
  build for such a packet. paho's DEBUG line "Received PUBACK (Mid: n)" is not logged.
- Every other packet (CONNACK, PINGRESP, SUBACK, PUBLISH, other PUBACKs...) is put where paho's
  own reader puts it (`_in_packet`) and handled by paho's `_packet_handle`, unchanged.
- Errors are paho's: the same return codes for a failed or closed socket and a malformed
  packet, on which `loop_read` closes the connection and reports it as before.

`publish_lean` publishes a window of the feed's messages without paho's `publish`: the same
PUBLISH bytes, built in one buffer and handed to paho's writer as one entry of its out-queue,
their PUBACKs counted by the feed itself (see its docstring).

It also acknowledges the broker's bytes at once (Linux: `TCP_QUICKACK` after every read). A
broker with Nagle's algorithm on (Mosquitto's default, `set_tcp_nodelay false`) holds each
small packet back while one it sent is not yet acknowledged at the TCP level, and Linux delays
that ACK (up to 40 ms) unless it has data to send with it. While the feed waits for PUBACKs it
sends nothing, so the broker's PUBACKs came in bursts, one per delayed ACK (issue 5: with 20
messages in flight, 103 completed orders/s; with quick ACKs, 520-600).

Written against paho-mqtt 2.2.0, whose private internals this relies on; `missing_internals`
lists those it cannot find, `install` then leaves paho as it is (and says so), and
tests/test_lean_paho.py fails on any of them.
"""

from __future__ import annotations

import contextlib
import inspect
import socket
from collections.abc import Callable, Sequence
from typing import cast

import paho.mqtt.client as paho_mqtt
import structlog
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

log = structlog.get_logger(__name__)

READ_CHUNK = 64 * 1024
_PUBACK = int(paho_mqtt.PUBACK)  # the first byte of a PUBACK (no flags)
_PUBLISH_QOS1 = int(paho_mqtt.PUBLISH) | 0x02  # a PUBLISH's first byte at QoS 1; | 1 retains
# Linux's TCP_QUICKACK, set again after every read because the kernel leaves quick-ACK mode by
# itself (why it is set: the module's docstring).
_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)
_SUCCESS = ReasonCode(PacketTypes.PUBACK)  # what paho decodes from a PUBACK of 2 bytes
_NO_PROPERTIES = Properties(PacketTypes.PUBACK)  # type: ignore[no-untyped-call]

# paho's private methods and attributes used here (paho-mqtt 2.2.0).
_METHODS = (
    "loop_read",
    "reconnect",
    "_sock_recv",
    "_packet_handle",
    "_do_on_publish",
    "_mid_generate",
    "_call_socket_register_write",
)
_ATTRIBUTES = (
    "_sock",
    "_in_packet",
    "_msgtime_mutex",
    "_last_bytes_received",
    "_out_message_mutex",
    "_out_messages",
    "_out_packet",
    "_protocol",
)
_IN_PACKET_KEYS = {
    "command",
    "have_remaining",
    "remaining_count",
    "remaining_mult",
    "remaining_length",
    "packet",
    "to_process",
    "pos",
}
_DO_ON_PUBLISH_PARAMETERS = ["self", "mid", "reason_code", "properties"]
_refusal_logged = False


def missing_internals(client: paho_mqtt.Client) -> list[str]:
    """What `LeanPaho` needs of paho and `client` does not have (empty when all is there)."""
    missing = [f"method {m}" for m in _METHODS if not callable(getattr(type(client), m, None))]
    missing += [f"attribute {a}" for a in _ATTRIBUTES if not hasattr(client, a)]
    in_packet = getattr(client, "_in_packet", None)
    if not isinstance(in_packet, dict) or set(in_packet) != _IN_PACKET_KEYS:
        missing.append(f"_in_packet with the keys {sorted(_IN_PACKET_KEYS)}")
    do_on_publish = getattr(type(client), "_do_on_publish", None)
    if callable(do_on_publish):
        parameters = list(inspect.signature(do_on_publish).parameters)
        if parameters != _DO_ON_PUBLISH_PARAMETERS:
            missing.append(f"_do_on_publish{tuple(_DO_ON_PUBLISH_PARAMETERS)}")
    return missing


def install(client: paho_mqtt.Client) -> bool:
    """Make `client` (a plain paho Client, before it connects) a `LeanPaho`. True if done;
    False, logged, if this paho lacks what `LeanPaho` relies on: `client` stays paho's own."""
    missing = missing_internals(client)
    if type(client) is not paho_mqtt.Client or missing:
        global _refusal_logged
        if not _refusal_logged:  # once, not at every reconnection
            log.warning("mqtt.lean_reads_off", paho_class=type(client).__name__, missing=missing)
            _refusal_logged = True
        return False
    client.__class__ = LeanPaho
    lean = cast(LeanPaho, client)
    lean._buffer = bytearray()
    lean._lean_unacked = set()
    lean.on_lean_puback = None
    return True


def _fresh_in_packet() -> paho_mqtt._InPacket:
    return {
        "command": 0,
        "have_remaining": 0,
        "remaining_count": [],
        "remaining_mult": 1,
        "remaining_length": 0,
        "packet": bytearray(b""),
        "to_process": 0,
        "pos": 0,
    }


class LeanPaho(paho_mqtt.Client):
    """paho's Client reading in chunks, with PUBACKs of 2 bytes handled without decoding
    (see the module's docstring). Made by `install` from a constructed client."""

    _buffer: bytearray  # bytes received and not yet handled: the start of one packet at most
    _lean_unacked: set[int]  # packet ids of `publish_lean` messages awaiting their PUBACK
    on_lean_puback: Callable[[int], None] | None  # told the packet id of each of their PUBACKs

    def reconnect(self) -> MQTTErrorCode:
        # paho drops its half-read packet here; the bytes of the old connection go as well.
        self._buffer = bytearray()
        self._lean_unacked = set()
        return super().reconnect()

    @property
    def can_publish_lean(self) -> bool:
        """`publish_lean` speaks MQTT 3.1 and 3.1.1 (an MQTT 5 PUBLISH has properties too)."""
        return self._protocol in (paho_mqtt.MQTTv31, paho_mqtt.MQTTv311)

    def publish_lean(self, messages: Sequence[tuple[str, bytes, bool]]) -> list[int]:
        """Publish (topic, payload, retain) at QoS 1, in this order, as one write; the packet
        ids. Their PUBACKs go to `on_lean_puback`, not to paho's bookkeeping, and nothing of
        them is kept for resending: the feed publishes again from its durable position after a
        new connection. paho's `publish` costs ~25 µs a message (a MQTTMessage and its
        MessageInfo with a threading.Condition each, a DEBUG log call, one packet and one
        `send` each); this builds the same bytes (tests/test_lean_paho.py compares them).
        Raises ValueError for a topic paho would refuse, ConnectionError without a link."""
        if self._sock is None:
            raise ConnectionError("not connected to the broker")
        packets = bytearray()
        ids: list[int] = []
        for topic, payload, retain in messages:
            name = topic.encode()
            if not name or len(name) > 65535 or b"+" in name or b"#" in name:
                raise ValueError(f"not a topic to publish to: {topic!r}")
            packet_id = self._mid_generate()
            packets.append(_PUBLISH_QOS1 | retain)
            _pack_length(packets, 4 + len(name) + len(payload))
            packets += len(name).to_bytes(2, "big")
            packets += name
            packets += packet_id.to_bytes(2, "big")
            packets += payload
            ids.append(packet_id)
        if not ids:
            return ids
        self._lean_unacked.update(ids)
        # One entry of paho's out-queue for them all: paho's writer sends it as it comes and,
        # for a PUBLISH at QoS 1, does nothing more once it is sent.
        self._out_packet.append(
            {
                "command": paho_mqtt.PUBLISH,
                "mid": ids[0],
                "qos": 1,
                "pos": 0,
                "to_process": len(packets),
                "packet": packets,
                "info": None,
            }
        )
        self._call_socket_register_write()
        return ids

    def _packet_read(self) -> MQTTErrorCode:
        try:
            data = self._sock_recv(READ_CHUNK)
        except BlockingIOError:
            return MQTTErrorCode.MQTT_ERR_AGAIN
        except TimeoutError as err:
            self._easy_log(paho_mqtt.MQTT_LOG_ERR, "timeout on socket: %s", err)
            return MQTTErrorCode.MQTT_ERR_CONN_LOST
        except OSError as err:
            self._easy_log(paho_mqtt.MQTT_LOG_ERR, "failed to receive on socket: %s", err)
            return MQTTErrorCode.MQTT_ERR_CONN_LOST
        if not data:
            return MQTTErrorCode.MQTT_ERR_CONN_LOST
        if _QUICKACK is not None:
            # Refused, or no TCP socket under it (paho's websocket wrapper): only speed is lost.
            with contextlib.suppress(OSError, AttributeError):
                self._sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)  # type: ignore[union-attr]
        with self._msgtime_mutex:  # the keepalive counts from here
            self._last_bytes_received = paho_mqtt.time_func()
        self._buffer += data
        rc = self._handle_buffered()
        if rc == MQTTErrorCode.MQTT_ERR_SUCCESS and len(data) < READ_CHUNK:
            # The socket had no more: one `recv` fewer to find that out. More arriving later
            # makes it readable again, and the loop's reader callback brings us back.
            return MQTTErrorCode.MQTT_ERR_AGAIN
        return rc

    def _handle_buffered(self) -> MQTTErrorCode:
        """Handle every complete packet in the buffer, stopping at the first error (on which
        `loop_read` closes the connection) or when a handler closed it."""
        buffer = self._buffer
        end = len(buffer)
        sock = self._sock
        position = 0
        rc = MQTTErrorCode.MQTT_ERR_SUCCESS
        try:
            while end - position >= 2 and self._sock is sock:
                if buffer[position] == _PUBACK and buffer[position + 1] == 2:
                    if end - position < 4:
                        break
                    mid = buffer[position + 2] << 8 | buffer[position + 3]
                    position += 4
                    if mid in self._lean_unacked:
                        self._lean_unacked.discard(mid)
                        if self.on_lean_puback is not None:
                            self.on_lean_puback(mid)
                        continue
                    with self._out_message_mutex:  # as in paho's _handle_pubackcomp
                        if mid not in self._out_messages:
                            continue  # acknowledged already: paho ignores it too
                        rc = self._do_on_publish(mid, _SUCCESS, _NO_PROPERTIES)
                else:
                    header = remaining_length(buffer, position + 1, end)
                    if header is None:
                        break
                    length, start = header
                    if length < 0:
                        return MQTTErrorCode.MQTT_ERR_PROTOCOL  # as paho: over 4 length bytes
                    if start + length > end:
                        break
                    rc = self._handle_one(buffer[position], buffer[start : start + length])
                    position = start + length
                if rc > 0:  # not MQTT_ERR_AGAIN (-1): paho's reader would go on reading
                    return rc
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        finally:
            del buffer[:position]

    def _handle_one(self, command: int, body: bytearray) -> MQTTErrorCode:
        """Let paho handle one packet, as its own reader would once all of it has arrived."""
        in_packet = _fresh_in_packet()
        in_packet["command"] = command
        in_packet["have_remaining"] = 1
        in_packet["remaining_length"] = len(body)
        in_packet["packet"] = body
        self._in_packet = in_packet
        try:
            return self._packet_handle()
        except MalformedPacket as exc:
            self._easy_log(paho_mqtt.MQTT_LOG_DEBUG, "Received malformed packet: %s", exc)
            return MQTTErrorCode.MQTT_ERR_PROTOCOL
        finally:
            self._in_packet = _fresh_in_packet()


def _pack_length(packet: bytearray, length: int) -> None:
    """MQTT's "remaining length" (as paho's `_pack_remaining_length`)."""
    if length > 268_435_455:
        raise ValueError("packet too large")
    while True:
        byte, length = length & 0x7F, length >> 7
        if length:
            packet.append(byte | 0x80)
        else:
            packet.append(byte)
            return


def remaining_length(buffer: bytearray, start: int, end: int) -> tuple[int, int] | None:
    """Decode MQTT's "remaining length" (1 to 4 bytes of 7 bits, least significant first) at
    `buffer[start:end]`: (length, index of the first byte after it), None if its bytes have not
    all arrived, (-1, 0) if it runs over 4 bytes (a protocol error)."""
    length = 0
    for count in range(4):
        if start + count >= end:
            return None
        byte = buffer[start + count]
        length += (byte & 0x7F) << (7 * count)
        if not byte & 0x80:
            return length, start + count + 1
    return -1, 0
