"""The MQTT publisher notices a broken link at once, even while waiting for a PUBACK."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gateway.feed.publisher import Publisher
from gateway.infra.clock import SystemClock
from gateway.infra.config import MqttSection
from gateway.infra.metrics import Metrics
from gateway.infra.supervision import ChildSpec, ChildState, Restart, RestartPolicy, Supervisor
from gateway.store.db import Database

CONNACK = bytes([0x20, 0x02, 0x00, 0x00])


def packet_id_of_publish(packet: bytes) -> bytes:
    """The packet id of a QoS 1 PUBLISH: after the fixed header and the topic."""
    index, multiplier, length = 1, 1, 0
    while True:  # "remaining length" is a varint
        byte = packet[index]
        length += (byte & 0x7F) * multiplier
        index += 1
        if not byte & 0x80:
            break
        multiplier *= 128
    topic_length = int.from_bytes(packet[index : index + 2], "big")
    start = index + 2 + topic_length
    return packet[start : start + 2]


class FlakyBroker:
    """Just enough MQTT on 127.0.0.1: the first connection takes the `online` PUBLISH and is
    then dropped without a PUBACK; later ones are acknowledged and kept open."""

    def __init__(self) -> None:
        self.connections = 0
        self.acknowledged = asyncio.Event()
        self.handlers: set[asyncio.Task[None]] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.handlers.add(asyncio.current_task())  # type: ignore[arg-type]
        self.connections += 1
        await reader.read(1024)  # CONNECT
        writer.write(CONNACK)
        await writer.drain()
        publish = await reader.read(1024)  # the retained "online"
        if self.connections == 1:
            writer.close()  # gone, without a PUBACK
            return
        writer.write(bytes([0x40, 0x02]) + packet_id_of_publish(publish))
        await writer.drain()
        self.acknowledged.set()
        while await reader.read(1024):  # until the client disconnects
            pass
        writer.close()


async def test_a_broker_that_drops_the_link_before_the_first_puback_is_noticed_at_once(
    tmp_path: Path,
) -> None:
    """aiomqtt alone would wait its 10 s publish timeout for the lost PUBACK; the publisher
    must see the dropped link right away and connect again."""
    broker = FlakyBroker()
    server = await asyncio.start_server(broker.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    config = MqttSection(url=f"mqtt://127.0.0.1:{port}")
    async with server, Database(tmp_path / "gateway.db") as db:
        publisher = Publisher(db, config, SystemClock(), Metrics())
        supervisor = Supervisor("test", RestartPolicy(), SystemClock())
        await supervisor.start_child(ChildSpec("publisher", publisher.run, Restart.TRANSIENT))
        try:
            # Well inside aiomqtt's 10 s publish timeout: the drop was noticed, not waited out.
            async with asyncio.timeout(5):
                await broker.acknowledged.wait()
            status = supervisor.status("publisher")
            assert status is not None
            assert (status.state, status.restarts) == (ChildState.RUNNING, 0)  # not a crash
            assert broker.connections == 2
            assert publisher.connected
        finally:
            await supervisor.stop()
            async with asyncio.timeout(5):
                await asyncio.gather(*broker.handlers)
