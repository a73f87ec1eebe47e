"""How orders look in the API: the store's domain objects shaped as JSON, with personal data
masked (the API serves operators and integrations, neither of which needs a full phone number
or street address)."""

from __future__ import annotations

from typing import Any

import msgspec

from gateway.domain.masking import mask_name, mask_phone, mask_text, mask_value
from gateway.domain.model import Address, OrderState, OrderSummary, PurchaseOrder
from gateway.store.codec import iso


def masked_address(address: Address) -> dict[str, Any]:
    return {
        "name": mask_name(address.name),
        "phone": mask_phone(address.phone),
        "country": address.country,
        "region": address.region,
        "province": address.province,
        "city": address.city,
        "district": address.district,
    }


def _text(value: str | None) -> str | None:
    """Free text from outside (a supplier's message) may quote the customer."""
    return mask_text(value) if value else value


def purchase_order_view(po: PurchaseOrder) -> dict[str, Any]:
    return {
        "po_id": po.po_id,
        "supplier_id": po.supplier_id,
        "status": po.status.value,
        "supplier_ref": po.supplier_ref,
        "reason": po.reason,
        "message": _text(po.message),
        "attempts": po.attempts,
        "lines": msgspec.to_builtins(po.lines),
        "shipments": [
            {
                "shipment_id": s.shipment_id,
                "carrier": s.carrier,
                "tracking_number": s.tracking_number,
                "shipped_at": iso(s.shipped_at),
                "lines": msgspec.to_builtins(s.lines),
            }
            for s in po.shipments
        ],
        "created_at": iso(po.created_at),
        "updated_at": iso(po.updated_at),
    }


def order_view(state: OrderState) -> dict[str, Any]:
    order = state.order
    return {
        "order_id": order.order_id,
        "external_id": order.external_id,
        "channel": order.channel,
        "status": state.status.value,
        "hold_reason": state.hold_reason,
        "hold_detail": _text(state.hold_detail),
        "priority": order.priority.value,
        "currency": order.currency,
        "created_at": iso(order.created_at),
        "received_at": iso(order.received_at),
        "updated_at": iso(state.updated_at),
        "customer": msgspec.to_builtins(order.customer) if order.customer else None,
        "payment": msgspec.to_builtins(order.payment) if order.payment else None,
        "ship_to": masked_address(order.ship_to),
        "lines": msgspec.to_builtins(order.lines),
        "purchase_orders": [purchase_order_view(po) for po in state.purchase_orders],
        "timeline": [
            {
                "event_id": e.event_id,
                "type": e.type,
                "at": iso(e.at),
                "po_id": e.po_id,
                "supplier_id": e.supplier_id,
                "data": mask_value(None, e.data),
            }
            for e in state.timeline
        ],
    }


def summary_view(summary: OrderSummary) -> dict[str, Any]:
    return {
        "order_id": summary.order_id,
        "external_id": summary.external_id,
        "channel": summary.channel,
        "status": summary.status.value,
        "hold_reason": summary.hold_reason,
        "created_at": iso(summary.created_at),
        "received_at": iso(summary.received_at),
        "updated_at": iso(summary.updated_at),
    }
