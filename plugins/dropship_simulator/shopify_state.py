"""What a Shopify shop holds, for the Shopify stand-in: orders as the REST Admin API shows them,
their fulfillment orders and fulfillments, and the changes a merchant or a customer makes.

Orders are kept in the shape of Shopify's REST `Order` resource, which is also the body of the
`orders/*` webhooks. Fulfillment orders and fulfillments are kept as small records and shown
through the GraphQL schema of `shopify_graphql`. Every change returns the webhook topics it
triggers; the server (`shopify_shop`) delivers them.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import urlparse

SHOP_TZ = timezone(timedelta(hours=8))  # a shop in China reports times in +08:00

# ISO 3166-2:CN code → the English province name Shopify shows (Shopify's `province`).
CN_PROVINCES_EN: dict[str, str] = {
    "BJ": "Beijing", "TJ": "Tianjin", "HE": "Hebei", "SX": "Shanxi", "NM": "Inner Mongolia",
    "LN": "Liaoning", "JL": "Jilin", "HL": "Heilongjiang", "SH": "Shanghai", "JS": "Jiangsu",
    "ZJ": "Zhejiang", "AH": "Anhui", "FJ": "Fujian", "JX": "Jiangxi", "SD": "Shandong",
    "HA": "Henan", "HB": "Hubei", "HN": "Hunan", "GD": "Guangdong", "GX": "Guangxi",
    "HI": "Hainan", "CQ": "Chongqing", "SC": "Sichuan", "GZ": "Guizhou", "YN": "Yunnan",
    "YZ": "Tibet", "SN": "Shaanxi", "GS": "Gansu", "QH": "Qinghai", "NX": "Ningxia",
    "XJ": "Xinjiang",
}  # fmt: skip


def gid(kind: str, number: int) -> str:
    return f"gid://shopify/{kind}/{number}"


def parse_gid(value: Any, kind: str) -> int | None:
    """The number of `gid://shopify/<kind>/<n>`, or None when `value` is not one."""
    prefix = f"gid://shopify/{kind}/"
    if isinstance(value, str) and value.startswith(prefix) and value[len(prefix) :].isdigit():
        return int(value[len(prefix) :])
    return None


def shop_time(moment: datetime) -> str:
    return moment.astimezone(SHOP_TZ).replace(microsecond=0).isoformat()


@dataclass
class FoLine:
    id: int
    line_item_id: int
    sku: str | None
    total: int
    remaining: int


@dataclass
class FulfillmentOrder:
    id: int
    order_id: int
    location: str
    lines: list[FoLine]
    created_at: str
    updated_at: str
    status: str = "OPEN"


@dataclass
class Fulfillment:
    id: int
    order_id: int
    name: str
    created_at: str
    tracking: list[dict[str, str | None]]
    lines: list[tuple[int, int]]  # (line item id, quantity)
    fulfillment_order_ids: list[int]
    notify_customer: bool = False
    message: str | None = None


@dataclass
class Change:
    """What one change did: the order after it, and the webhook topics it triggers."""

    order: dict[str, Any]
    topics: list[str] = field(default_factory=list)


class UserErrors(Exception):
    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(e["message"] for e in errors))
        self.errors = errors


class ShopState:
    """Orders, fulfillment orders and fulfillments of one shop, and the rules that change them."""

    def __init__(self, shop_domain: str, location: str = "Shop location") -> None:
        self.shop_domain = shop_domain
        self.location = location
        self.orders: dict[int, dict[str, Any]] = {}
        self.fulfillment_orders: dict[int, FulfillmentOrder] = {}
        self.fulfillments: dict[int, Fulfillment] = {}
        self._order_ids = itertools.count(5_600_000_000_001)
        self._order_numbers = itertools.count(1001)
        self._line_ids = itertools.count(13_900_000_000_001)
        self._fo_ids = itertools.count(6_700_000_000_001)
        self._fo_line_ids = itertools.count(14_500_000_000_001)
        self._fulfillment_ids = itertools.count(5_100_000_000_001)
        self._customer_ids = itertools.count(7_300_000_000_001)
        self.changes: list[Change] = []  # every change, for tests to read
        # Changes made through GraphQL, waiting for the server to deliver their webhooks.
        self.pending_announcements: list[Change] = []

    # -- what a customer and a merchant do ---------------------------------------------------------

    def create_order(
        self,
        *,
        line_items: Sequence[Mapping[str, Any]],
        shipping_address: Mapping[str, Any] | None,
        financial_status: str = "paid",
        currency: str = "CNY",
        email: str = "customer@example.com",
        note: str | None = None,
        gateway: str = "alipay",
        now: datetime,
    ) -> Change:
        """An order placed at checkout: `line_items` as `{"sku", "quantity", "price"}` (plus any
        REST line-item field to override), `shipping_address` in REST form."""
        order_id = next(self._order_ids)
        number = next(self._order_numbers)
        stamp = shop_time(now)
        lines = [self._line_item(item) for item in line_items]
        total = sum((Decimal(line["price"]) * line["quantity"] for line in lines), Decimal("0"))
        customer_id = next(self._customer_ids)
        order: dict[str, Any] = {
            "id": order_id,
            "admin_graphql_api_id": gid("Order", order_id),
            "name": f"#{number}",
            "order_number": number,
            "number": number - 1000,
            "email": email,
            "contact_email": email,
            "phone": None,
            "created_at": stamp,
            "updated_at": stamp,
            "processed_at": stamp,
            "cancelled_at": None,
            "cancel_reason": None,
            "closed_at": None,
            "confirmed": True,
            "test": False,
            "currency": currency,
            "presentment_currency": currency,
            "financial_status": financial_status,
            "fulfillment_status": None,
            "total_price": f"{total:.2f}",
            "subtotal_price": f"{total:.2f}",
            "total_line_items_price": f"{total:.2f}",
            "total_tax": "0.00",
            "total_discounts": "0.00",
            "taxes_included": True,
            "payment_gateway_names": [gateway],
            "note": note,
            "tags": "",
            "source_name": "web",
            "customer": {
                "id": customer_id,
                "admin_graphql_api_id": gid("Customer", customer_id),
                "email": email,
                "first_name": (shipping_address or {}).get("first_name"),
                "last_name": (shipping_address or {}).get("last_name"),
            },
            "line_items": lines,
            "shipping_address": dict(shipping_address) if shipping_address else None,
            "billing_address": dict(shipping_address) if shipping_address else None,
            "shipping_lines": [],
            "fulfillments": [],
            "refunds": [],
        }
        self.orders[order_id] = order
        shippable = [line for line in lines if line["requires_shipping"]]
        if shippable:
            fo_id = next(self._fo_ids)
            self.fulfillment_orders[fo_id] = FulfillmentOrder(
                id=fo_id,
                order_id=order_id,
                location=self.location,
                lines=[
                    FoLine(
                        id=next(self._fo_line_ids),
                        line_item_id=line["id"],
                        sku=line["sku"],
                        total=line["quantity"],
                        remaining=line["quantity"],
                    )
                    for line in shippable
                ],
                created_at=stamp,
                updated_at=stamp,
            )
        topics = ["orders/create"]
        if financial_status == "paid":
            topics.append("orders/paid")
        return self._changed(Change(order, topics))

    def _line_item(self, item: Mapping[str, Any]) -> dict[str, Any]:
        line_id = next(self._line_ids)
        quantity = int(item["quantity"])
        sku = item.get("sku")
        title = item.get("title") or f"Product {sku or line_id}"
        line: dict[str, Any] = {
            "id": line_id,
            "admin_graphql_api_id": gid("LineItem", line_id),
            "variant_id": line_id + 100,
            "product_id": line_id + 200,
            "title": title,
            "name": title,
            "sku": sku,
            "vendor": "Dropship Demo",
            "quantity": quantity,
            "current_quantity": quantity,
            "fulfillable_quantity": quantity,
            "fulfillment_status": None,
            "fulfillment_service": "manual",
            "price": str(item.get("price", "10.00")),
            "total_discount": "0.00",
            "grams": 500,
            "requires_shipping": True,
            "taxable": True,
            "gift_card": False,
            "properties": [],
        }
        line.update({k: v for k, v in item.items() if k not in ("quantity", "price")})
        return line

    def mark_paid(self, order_id: int, *, now: datetime) -> Change:
        """The customer paid (bank transfer arrived, COD collected, authorization captured)."""
        order = self._order(order_id)
        order["financial_status"] = "paid"
        order["updated_at"] = shop_time(now)
        return self._changed(Change(order, ["orders/updated", "orders/paid"]))

    def cancel_order(
        self, order_id: int, *, reason: str = "customer", refund: bool = False, now: datetime
    ) -> Change:
        """The merchant cancels the order in the admin (what is fulfilled stays fulfilled)."""
        order = self._order(order_id)
        stamp = shop_time(now)
        order["cancelled_at"] = stamp
        order["cancel_reason"] = reason
        order["closed_at"] = stamp
        order["updated_at"] = stamp
        if refund and order["financial_status"] in ("paid", "partially_paid"):
            order["financial_status"] = "refunded"
        elif order["financial_status"] in ("pending", "authorized"):
            order["financial_status"] = "voided"
        for fo in self._fos_of(order_id):
            if fo.status in ("OPEN", "IN_PROGRESS", "SCHEDULED", "ON_HOLD"):
                fo.status = "CLOSED" if fo.status == "IN_PROGRESS" else "CANCELLED"
                fo.updated_at = stamp
        return self._changed(Change(order, ["orders/cancelled", "orders/updated"]))

    # -- fulfillmentCreate -----------------------------------------------------------------------

    def create_fulfillment(
        self,
        line_items_by_fo: Sequence[Mapping[str, Any]],
        tracking: Mapping[str, Any] | None,
        *,
        notify_customer: bool = False,
        message: str | None = None,
        now: datetime,
    ) -> tuple[Fulfillment, Change]:
        """Fulfil the given fulfillment-order line items (all that remains of a fulfillment order
        when it names none). Raises UserErrors with Shopify's messages."""
        if not line_items_by_fo:
            raise UserErrors(
                [_error(["fulfillment", "lineItemsByFulfillmentOrder"], "must not be empty")]
            )
        errors: list[dict[str, Any]] = []
        plan: list[tuple[FulfillmentOrder, FoLine, int]] = []
        for index, group in enumerate(line_items_by_fo):
            where = ["fulfillment", "lineItemsByFulfillmentOrder", str(index)]
            fo_number = parse_gid(group.get("fulfillmentOrderId"), "FulfillmentOrder")
            fo = self.fulfillment_orders.get(fo_number) if fo_number is not None else None
            if fo is None:
                errors.append(
                    _error([*where, "fulfillmentOrderId"], "Fulfillment order does not exist.")
                )
                continue
            if fo.status not in ("OPEN", "IN_PROGRESS"):
                errors.append(
                    _error(
                        [*where, "fulfillmentOrderId"],
                        f"Fulfillment order {fo.id} has an unfulfillable status= "
                        f"{fo.status.lower()}.",
                    )
                )
                continue
            wanted = group.get("fulfillmentOrderLineItems")
            if wanted is None:
                plan += [(fo, line, line.remaining) for line in fo.lines if line.remaining > 0]
                continue
            by_id = {line.id: line for line in fo.lines}
            for item_index, item in enumerate(wanted):
                line_number = parse_gid(item.get("id"), "FulfillmentOrderLineItem")
                line = by_id.get(line_number) if line_number is not None else None
                item_where = [*where, "fulfillmentOrderLineItems", str(item_index)]
                if line is None:
                    errors.append(
                        _error([*item_where, "id"], "Fulfillment order line item does not exist.")
                    )
                elif not 0 < int(item["quantity"]) <= line.remaining:
                    errors.append(
                        _error(
                            [*item_where, "quantity"],
                            "Invalid fulfillment order line item quantity requested.",
                        )
                    )
                else:
                    plan.append((fo, line, int(item["quantity"])))
        fos = {fo.id: fo for fo, _, _ in plan}
        if len({fo.order_id for fo in fos.values()}) > 1:
            errors.append(
                _error(["fulfillment"], "All fulfillment orders must belong to the same order.")
            )
        if len({fo.location for fo in fos.values()}) > 1:
            errors.append(
                _error(
                    ["fulfillment"],
                    "All fulfillment orders must be assigned to the same location.",
                )
            )
        errors += _tracking_errors(tracking)
        if not errors and not plan:
            errors.append(_error(["fulfillment"], "Nothing is left to fulfill."))
        if errors:
            raise UserErrors(errors)

        order_id = next(iter(fos.values())).order_id
        order = self._order(order_id)
        stamp = shop_time(now)
        quantities: dict[int, int] = {}
        for fo, line, quantity in plan:
            line.remaining -= quantity
            fo.updated_at = stamp
            quantities[line.line_item_id] = quantities.get(line.line_item_id, 0) + quantity
        for fo in fos.values():
            fo.status = "CLOSED" if all(ln.remaining == 0 for ln in fo.lines) else "IN_PROGRESS"
        fulfillment_id = next(self._fulfillment_ids)
        count = sum(1 for f in self.fulfillments.values() if f.order_id == order_id) + 1
        fulfillment = Fulfillment(
            id=fulfillment_id,
            order_id=order_id,
            name=f"{order['name']}.{count}",
            created_at=stamp,
            tracking=_tracking_entries(tracking),
            lines=list(quantities.items()),
            fulfillment_order_ids=list(fos),
            notify_customer=notify_customer,
            message=message,
        )
        self.fulfillments[fulfillment_id] = fulfillment
        for line_item in order["line_items"]:
            shipped = quantities.get(line_item["id"], 0)
            line_item["fulfillable_quantity"] -= shipped
            if shipped:
                line_item["fulfillment_status"] = (
                    "fulfilled" if line_item["fulfillable_quantity"] == 0 else "partial"
                )
        order["fulfillments"].append(self._rest_fulfillment(fulfillment))
        done = all(fo.status in ("CLOSED", "CANCELLED") for fo in self._fos_of(order_id))
        order["fulfillment_status"] = "fulfilled" if done else "partial"
        order["updated_at"] = stamp
        topic = "orders/fulfilled" if done else "orders/partially_fulfilled"
        change = self._changed(Change(order, ["fulfillments/create", "orders/updated", topic]))
        return fulfillment, change

    def _rest_fulfillment(self, fulfillment: Fulfillment) -> dict[str, Any]:
        order = self._order(fulfillment.order_id)
        by_id = {line["id"]: line for line in order["line_items"]}
        first = fulfillment.tracking[0] if fulfillment.tracking else {}
        return {
            "id": fulfillment.id,
            "order_id": fulfillment.order_id,
            "name": fulfillment.name,
            "status": "success",
            "created_at": fulfillment.created_at,
            "tracking_company": first.get("company"),
            "tracking_number": first.get("number"),
            "tracking_numbers": [t["number"] for t in fulfillment.tracking if t.get("number")],
            "tracking_url": first.get("url"),
            "line_items": [{**by_id[i], "quantity": q} for i, q in fulfillment.lines],
        }

    # -- reads -----------------------------------------------------------------------------------

    def _order(self, order_id: int) -> dict[str, Any]:
        order = self.orders.get(order_id)
        if order is None:
            raise KeyError(f"no order {order_id}")
        return order

    def _fos_of(self, order_id: int) -> list[FulfillmentOrder]:
        return [fo for fo in self.fulfillment_orders.values() if fo.order_id == order_id]

    def _changed(self, change: Change) -> Change:
        self.changes.append(change)
        return change

    # -- the GraphQL view (resolvers of shopify_graphql) -------------------------------------------

    def gql_shop(self) -> dict[str, Any]:
        return {"name": self.shop_domain.split(".")[0], "myshopifyDomain": self.shop_domain}

    def gql_node(self, node_id: Any) -> dict[str, Any] | None:
        for kind, reader in (
            ("Order", self.gql_order),
            ("FulfillmentOrder", self.gql_fulfillment_order),
        ):
            if parse_gid(node_id, kind) is not None:
                return reader(node_id)
        return None

    def gql_order(self, order_gid: Any) -> dict[str, Any] | None:
        number = parse_gid(order_gid, "Order")
        order = self.orders.get(number) if number is not None else None
        if order is None:
            return None
        return {
            "__typename": "Order",
            "id": gid("Order", order["id"]),
            "legacyResourceId": str(order["id"]),
            "name": order["name"],
            "createdAt": order["created_at"],
            "updatedAt": order["updated_at"],
            "cancelledAt": order["cancelled_at"],
            "displayFinancialStatus": order["financial_status"].upper(),
            "displayFulfillmentStatus": {
                None: "UNFULFILLED",
                "partial": "PARTIALLY_FULFILLED",
                "fulfilled": "FULFILLED",
            }[order["fulfillment_status"]],
            "lineItems": [self._gql_line_item(line) for line in order["line_items"]],
            "fulfillmentOrders": [
                self._gql_fo(fo) for fo in self._fos_of(order["id"]) if fo.status != "CANCELLED"
            ],
            "fulfillments": [
                self._gql_fulfillment(f)
                for f in self.fulfillments.values()
                if f.order_id == order["id"]
            ],
        }

    def gql_fulfillment_order(self, fo_gid: Any) -> dict[str, Any] | None:
        number = parse_gid(fo_gid, "FulfillmentOrder")
        fo = self.fulfillment_orders.get(number) if number is not None else None
        return self._gql_fo(fo) if fo is not None else None

    def _gql_line_item(self, line: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "__typename": "LineItem",
            "id": gid("LineItem", line["id"]),
            "sku": line["sku"],
            "name": line["name"],
            "title": line["title"],
            "quantity": line["quantity"],
            "currentQuantity": line["current_quantity"],
            "requiresShipping": line["requires_shipping"],
        }

    def _gql_fo(self, fo: FulfillmentOrder) -> dict[str, Any]:
        order = self._order(fo.order_id)
        lines = {line["id"]: line for line in order["line_items"]}
        return {
            "__typename": "FulfillmentOrder",
            "id": gid("FulfillmentOrder", fo.id),
            "status": fo.status,
            "createdAt": fo.created_at,
            "updatedAt": fo.updated_at,
            "orderId": gid("Order", fo.order_id),
            "orderName": order["name"],
            "assignedLocation": {
                "name": fo.location,
                "location": {"id": gid("Location", 1), "name": fo.location},
            },
            "lineItems": [
                {
                    "__typename": "FulfillmentOrderLineItem",
                    "id": gid("FulfillmentOrderLineItem", line.id),
                    "sku": line.sku,
                    "totalQuantity": line.total,
                    "remainingQuantity": line.remaining,
                    "lineItem": self._gql_line_item(lines[line.line_item_id]),
                }
                for line in fo.lines
            ],
        }

    def _gql_fulfillment(self, fulfillment: Fulfillment) -> dict[str, Any]:
        order = self._order(fulfillment.order_id)
        lines = {line["id"]: line for line in order["line_items"]}
        return {
            "__typename": "Fulfillment",
            "id": gid("Fulfillment", fulfillment.id),
            "legacyResourceId": str(fulfillment.id),
            "name": fulfillment.name,
            "status": "SUCCESS",
            "createdAt": fulfillment.created_at,
            "trackingInfo": list(fulfillment.tracking),
            "fulfillmentLineItems": [
                {
                    "id": gid("FulfillmentLineItem", fulfillment.id * 10 + index),
                    "quantity": quantity,
                    "lineItem": self._gql_line_item(lines[line_id]),
                }
                for index, (line_id, quantity) in enumerate(fulfillment.lines)
            ],
        }

    def gql_fulfillment_create(
        self, fulfillment: Mapping[str, Any], message: str | None, *, now: datetime | None = None
    ) -> dict[str, Any]:
        """The `fulfillmentCreate` payload; the change is kept for the server to announce."""
        try:
            created, change = self.create_fulfillment(
                fulfillment["lineItemsByFulfillmentOrder"],
                fulfillment.get("trackingInfo"),
                notify_customer=bool(fulfillment.get("notifyCustomer")),
                message=message,
                now=now or datetime.now(SHOP_TZ),
            )
        except UserErrors as failed:
            return {"fulfillment": None, "userErrors": failed.errors}
        self.pending_announcements.append(change)
        return {"fulfillment": self._gql_fulfillment(created), "userErrors": []}


def _error(path: list[str], message: str) -> dict[str, Any]:
    return {"field": path, "message": message}


def _tracking_errors(tracking: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    if not tracking:
        return []
    errors: list[dict[str, Any]] = []
    where = ["fulfillment", "trackingInfo"]
    if tracking.get("number") is not None and tracking.get("numbers") is not None:
        errors.append(_error(where, "Specify either number or numbers, not both."))
    if tracking.get("url") is not None and tracking.get("urls") is not None:
        errors.append(_error(where, "Specify either url or urls, not both."))
    for url in [tracking.get("url"), *(tracking.get("urls") or [])]:
        if url is None:
            continue
        parsed = urlparse(str(url))
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            errors.append(_error([*where, "url"], "Tracking url is not a valid URL."))
    return errors


def _tracking_entries(tracking: Mapping[str, Any] | None) -> list[dict[str, str | None]]:
    if not tracking:
        return []
    numbers = list(
        tracking.get("numbers") or ([tracking["number"]] if tracking.get("number") else [])
    )
    urls = list(tracking.get("urls") or ([tracking["url"]] if tracking.get("url") else []))
    company = tracking.get("company")
    return [
        {"company": company, "number": number, "url": urls[i] if i < len(urls) else None}
        for i, number in enumerate(numbers)
    ] or [{"company": company, "number": None, "url": None}]
