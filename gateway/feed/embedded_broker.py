"""The in-process MQTT broker behind `mqtt.url = "embedded"`, for single-box use and the demo.

amqtt is an optional dependency (the `embedded` extra): production setups point the gateway at
their own broker and need not install it.
"""

from __future__ import annotations

import logging
from typing import Any

import structlog

log = structlog.get_logger(__name__)


class EmbeddedBrokerUnavailable(RuntimeError):
    pass


class EmbeddedBroker:
    def __init__(self, listen: str) -> None:
        self.listen = listen
        self._broker: Any = None

    async def start(self) -> None:
        try:
            from amqtt.broker import Broker
        except ImportError as error:
            raise EmbeddedBrokerUnavailable(
                'mqtt.url = "embedded" needs the embedded broker: '
                "pip install 'dropship-gateway[embedded]'"
            ) from error
        # amqtt logs every client's packets at INFO and harmless PUBACK races at WARNING.
        logging.getLogger("amqtt").setLevel(logging.ERROR)
        self._broker = Broker(
            {
                "listeners": {"default": {"type": "tcp", "bind": self.listen}},
                "plugins": {
                    "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
                },
            }
        )
        await self._broker.start()
        log.info("mqtt.embedded_broker_started", listen=self.listen)

    async def stop(self) -> None:
        if self._broker is not None:
            await self._broker.shutdown()
            self._broker = None
