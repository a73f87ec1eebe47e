"""What the feed publishes (CONTRACT §6): topics and payloads, built from the event log.

Personal data never leaves here: event data is masked (a supplier's free-text message may quote
the customer) and the order status carries ids and statuses only.
"""

from __future__ import annotations

from typing import Any

import msgspec

from gateway.domain.masking import mask_value
from gateway.domain.model import Event, OrderSnapshot
from gateway.store.codec import iso

# Event types that are not order events: each has a topic of its own.
SUPPLIER_HEALTH = "supplier.health"
ALERT_PREFIX = "alert."
GATEWAY_STATUS = "gateway/status"

_encoder = msgspec.json.Encoder(decimal_format="string")


class Message(msgspec.Struct, frozen=True):
    topic: str  # relative to mqtt.topic_prefix
    payload: bytes
    retain: bool


def order_status_topic(order_id: str) -> str:
    return f"orders/{order_id}/status"


def event_topic(event_type: str) -> str:
    return f"events/{event_type}"


def supplier_health_topic(supplier_id: str) -> str:
    return f"suppliers/{supplier_id}/health"


def alert_topic(kind: str) -> str:
    return f"alerts/{kind}"


def event_payload(event: Event) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "type": event.type,
        "at": iso(event.at),
        "order_id": event.order_id,
        "po_id": event.po_id,
        "supplier_id": event.supplier_id,
        "data": mask_value(None, event.data),
    }


def order_status_payload(order: OrderSnapshot) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "order_id": order.order_id,
        "external_id": order.external_id,
        "channel": order.channel,
        "status": order.status.value,
        "updated_at": order.updated_at,
        "purchase_orders": [
            {
                "po_id": po.po_id,
                "supplier_id": po.supplier_id,
                "status": po.status.value,
                "carrier": po.carrier,
                "tracking_number": po.tracking_number,
            }
            for po in order.purchase_orders
        ],
    }
    if order.hold_reason:
        payload["hold_reason"] = order.hold_reason
    return payload


def messages_for(events: list[Event], orders: list[OrderSnapshot]) -> list[Message]:
    """The messages of a batch of events, in log order: each order event once on its topic,
    then one retained status per order the batch touched (its latest state, however many times
    it changed) and the latest health of each supplier. Alerts go to their own topic."""
    messages: list[Message] = []
    health: dict[str, Message] = {}
    for event in events:
        if event.type == SUPPLIER_HEALTH and event.supplier_id:
            topic = supplier_health_topic(event.supplier_id)
            health[event.supplier_id] = Message(topic, _encoder.encode(event.data), True)
        elif event.type.startswith(ALERT_PREFIX):
            kind = event.type.removeprefix(ALERT_PREFIX)
            payload = {**event.data, "alert_id": event.event_id, "kind": kind, "at": iso(event.at)}
            messages.append(Message(alert_topic(kind), _encoder.encode(payload), False))
        else:
            payload_bytes = _encoder.encode(event_payload(event))
            messages.append(Message(event_topic(event.type), payload_bytes, False))
    for order in orders:
        payload_bytes = _encoder.encode(order_status_payload(order))
        messages.append(Message(order_status_topic(order.order_id), payload_bytes, True))
    messages.extend(health.values())
    return messages
