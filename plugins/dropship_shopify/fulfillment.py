"""Tracking written back to Shopify: one fulfillment per parcel (per tracking number), naming
exactly the line items and quantities that travel in it.

Shopify fulfils *fulfillment orders* (the part of an order one location ships), so for each
shipment the order's fulfillment orders are read first, with the fulfillments it already has.
A tracking number that already has its fulfillment is not written again (write-back is at
least once: after a restart the same shipment may come again). The parcel's SKUs are matched
to the Shopify line items of the purchase order that shipped them (the gateway's `line_id` is
the Shopify line item's id), then to the open fulfillment-order line items of those line items.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from dropship_shopify.admin import ShopifyAdmin
from dropship_shopify.carriers import Carriers

# Query costs (Shopify's method): 1 + 20 × (1 + 5) + 2 + 5 × (1 + 1 + 2 + 50 × (1 + 1)) ≈ 640,
# inside the 1,000 a single query may cost.
ORDER_FULFILLMENT_QUERY = """
query DropshipOrderFulfillment($id: ID!) {
  order(id: $id) {
    id
    name
    cancelledAt
    fulfillments(first: 20) { id trackingInfo(first: 5) { number } }
    fulfillmentOrders(first: 5) {
      nodes {
        id
        status
        assignedLocation { name }
        lineItems(first: 50) {
          nodes { id remainingQuantity lineItem { id sku } }
        }
      }
    }
  }
}
"""
ORDER_FULFILLMENT_COST = 650

FULFILLMENT_CREATE = """
mutation DropshipFulfillmentCreate($fulfillment: FulfillmentInput!, $message: String) {
  fulfillmentCreate(fulfillment: $fulfillment, message: $message) {
    fulfillment { id name status trackingInfo(first: 5) { company number url } }
    userErrors { field message }
  }
}
"""
FULFILLMENT_CREATE_COST = 10

_FULFILLABLE = ("OPEN", "IN_PROGRESS")


class CannotWriteBack(Exception):
    """This shipment cannot become a Shopify fulfillment (Shopify's or our reason)."""


class OpenLine(msgspec.Struct, kw_only=True):
    """One fulfillment-order line item that still has something to fulfil."""

    id: str  # gid://shopify/FulfillmentOrderLineItem/…
    fulfillment_order_id: str
    location: str
    line_item_id: int
    sku: str | None
    remaining: int


class Written(msgspec.Struct, frozen=True):
    fulfillment_ids: tuple[str, ...]
    already: bool = False  # the tracking number had its fulfillment already


def open_lines(order: Mapping[str, Any]) -> list[OpenLine]:
    lines: list[OpenLine] = []
    for fo in order["fulfillmentOrders"]["nodes"]:
        if fo["status"] not in _FULFILLABLE:
            continue
        for item in fo["lineItems"]["nodes"]:
            line_item_id = int(str(item["lineItem"]["id"]).rsplit("/", 1)[-1])
            if item["remainingQuantity"] > 0:
                lines.append(
                    OpenLine(
                        id=item["id"],
                        fulfillment_order_id=fo["id"],
                        location=fo["assignedLocation"]["name"],
                        line_item_id=line_item_id,
                        sku=item["lineItem"].get("sku"),
                        remaining=int(item["remainingQuantity"]),
                    )
                )
    return lines


def plan(
    parcel: Sequence[tuple[str, int]],
    lines: Sequence[OpenLine],
    line_items_of_sku: Mapping[str, Sequence[int]] | None,
) -> list[list[dict[str, Any]]]:
    """`lineItemsByFulfillmentOrder` for each fulfillment to create (one per location).

    `line_items_of_sku`: the Shopify line items (ids) each SKU of the purchase order stands
    for; None when not known, and then any open line item with that SKU will do."""
    remaining = {line.id: line.remaining for line in lines}
    taken: dict[str, int] = {}
    problems: list[str] = []
    for sku, quantity in parcel:
        if line_items_of_sku is not None:
            candidates = line_items_of_sku.get(sku, ())
            matching = [line for item in candidates for line in lines if line.line_item_id == item]
        else:
            matching = [line for line in lines if line.sku == sku]
        left = quantity
        for line in matching:
            take = min(left, remaining[line.id])
            if take > 0:
                remaining[line.id] -= take
                taken[line.id] = taken.get(line.id, 0) + take
                left -= take
        if left > 0:
            problems.append(
                f"{quantity} × {sku} shipped, but Shopify has {quantity - left} of it "
                "left to fulfil on this order"
            )
    if problems:
        raise CannotWriteBack("; ".join(problems))
    by_location: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for line in lines:
        if line.id in taken:
            groups = by_location.setdefault(line.location, {})
            groups.setdefault(line.fulfillment_order_id, []).append(
                {"id": line.id, "quantity": taken[line.id]}
            )
    return [
        [
            {"fulfillmentOrderId": fo_id, "fulfillmentOrderLineItems": items}
            for fo_id, items in groups.items()
        ]
        for groups in by_location.values()
    ]


class FulfillmentWriter:
    def __init__(self, admin: ShopifyAdmin, carriers: Carriers, notify_customer: bool) -> None:
        self._admin = admin
        self._carriers = carriers
        self._notify_customer = notify_customer

    async def write(
        self,
        shopify_order_id: str,
        carrier: str,
        tracking_number: str,
        parcel: Sequence[tuple[str, int]],
        line_items_of_sku: Mapping[str, Sequence[int]] | None,
    ) -> Written:
        """Create the fulfillment of one parcel, unless its tracking number has one already."""
        data = await self._admin.graphql(
            ORDER_FULFILLMENT_QUERY,
            {"id": f"gid://shopify/Order/{shopify_order_id}"},
            ORDER_FULFILLMENT_COST,
        )
        order = data.get("order")
        if order is None:
            raise CannotWriteBack(f"Shopify has no order {shopify_order_id}")
        existing = [
            f["id"]
            for f in order["fulfillments"]
            if any(t.get("number") == tracking_number for t in f["trackingInfo"])
        ]
        if existing:
            return Written(tuple(existing), already=True)
        groups = plan(parcel, open_lines(order), line_items_of_sku)
        tracking = self._carriers.tracking(carrier, tracking_number)
        tracking_input: dict[str, Any] = {"company": tracking.company, "number": tracking_number}
        if tracking.url:
            tracking_input["url"] = tracking.url
        created: list[str] = []
        for group in groups:
            result = await self._admin.graphql(
                FULFILLMENT_CREATE,
                {
                    "fulfillment": {
                        "lineItemsByFulfillmentOrder": group,
                        "trackingInfo": tracking_input,
                        "notifyCustomer": self._notify_customer,
                    },
                    "message": f"Shipped by the supplier ({carrier} {tracking_number})",
                },
                FULFILLMENT_CREATE_COST,
            )
            payload = result.get("fulfillmentCreate") or {}
            errors = payload.get("userErrors") or []
            if errors or not payload.get("fulfillment"):
                raise CannotWriteBack(
                    "fulfillmentCreate: "
                    + ("; ".join(str(e.get("message")) for e in errors) or "no fulfillment")
                )
            created.append(payload["fulfillment"]["id"])
        return Written(tuple(created))
