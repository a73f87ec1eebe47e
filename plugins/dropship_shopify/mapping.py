"""From Shopify's REST order to the gateway's intake format (CONTRACT §3), and Shopify's
payment states to the gateway's.

- `external_id` is the Shopify order's `id` (stable, what every webhook and API call names);
  its `name` (`#1001`, what the merchant sees) is kept in `attributes`.
- `line_id` is the line item's `id`, so a shipment can be written back to exactly those line
  items. Lines that need no shipping (gift cards, digital goods) are left out; an order with
  none to ship is not the gateway's business.
- The province comes from `province_code` (`ZJ` in China → `CN-ZJ`), not from Shopify's
  English province name, which the gateway does not know.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from dropship_shopify.resources import ShopifyAddress, ShopifyOrder

# Shopify's China province codes are ISO 3166-2's, except Tibet (Shopify: YZ, ISO: XZ).
_SHOPIFY_CN_CODES = {"YZ": "XZ"}
_NOTES_MAX = 2000

# Shopify `financial_status` → the gateway's payment status. `authorized` (captured later,
# typically at fulfilment) lets the order ship unless the channel holds it (`hold_authorized`).
PAYMENT_STATUS = {
    "pending": "unpaid",
    "expired": "unpaid",
    "authorized": "paid",
    "partially_paid": "partially_paid",
    "paid": "paid",
    "partially_refunded": "paid",
    "refunded": "refunded",
    "voided": "refunded",
}
# Payment only moves forward: a webhook that arrives late (Shopify retries for hours, with the
# payload of the moment it was triggered) must not take a paid order back to unpaid.
_PAYMENT_RANK = {"unpaid": 0, "cod": 0, "partially_paid": 1, "paid": 2, "refunded": 3}
_COD_GATEWAYS = ("cash on delivery", "cod", "货到付款")


class NotForTheGateway(Exception):
    """This order has nothing the gateway could ship (no shipping address, no shippable line)."""


def payment_status(order: ShopifyOrder, *, hold_authorized: bool = False) -> str:
    status = order.financial_status or "pending"
    if status == "authorized" and hold_authorized:
        return "unpaid"
    if status == "pending" and _is_cash_on_delivery(order):
        return "cod"
    return PAYMENT_STATUS.get(status, "unpaid")


def payment_moves_forward(current: str | None, new: str) -> bool:
    """Whether `new` is a later payment state than `current` (never back to unpaid)."""
    return _PAYMENT_RANK.get(new, 0) > _PAYMENT_RANK.get(current or "unpaid", 0)


def _is_cash_on_delivery(order: ShopifyOrder) -> bool:
    names = " ".join(order.payment_gateway_names).lower()
    return any(word in names for word in _COD_GATEWAYS)


def intake_order(order: ShopifyOrder, *, hold_authorized: bool = False) -> dict[str, Any]:
    """The intake order (a JSON-ready dict) for a Shopify order. Raises NotForTheGateway.

    Values are passed on as Shopify has them; what intake cannot accept (a line without a SKU,
    an unknown province) comes back from `submit` as a problem with its path."""
    address = order.shipping_address
    if address is None:
        raise NotForTheGateway("the order has no shipping address (pickup or digital)")
    lines = [
        {
            "line_id": str(item.id),
            "sku": item.sku or "",
            "quantity": quantity,
            "unit_price": _money(item.price),
        }
        for item in order.line_items
        if item.requires_shipping
        and (
            quantity := item.current_quantity
            if item.current_quantity is not None
            else item.quantity
        )
        > 0
    ]
    if not lines:
        raise NotForTheGateway("no line item of the order needs shipping")
    intake: dict[str, Any] = {
        "external_id": str(order.id),
        "currency": order.currency,
        "payment": {
            "status": payment_status(order, hold_authorized=hold_authorized),
            **({"amount": _money(order.total_price)} if order.total_price else {}),
        },
        "ship_to": ship_to(order, address),
        "lines": lines,
        "attributes": {"shopify_order_id": str(order.id), "shopify_order_name": order.name},
    }
    if order.created_at is not None:
        intake["created_at"] = order.created_at.isoformat()
    if order.customer is not None and order.customer.id is not None:
        intake["customer"] = {"id": str(order.customer.id)}
    if order.note:
        intake["notes"] = order.note[:_NOTES_MAX]
    return intake


def ship_to(order: ShopifyOrder, address: ShopifyAddress) -> dict[str, Any]:
    country = (address.country_code or "").upper()
    result: dict[str, Any] = {
        "name": _person(address, country),
        "phone": _phone(
            address.phone
            or order.phone
            or (order.customer.phone if order.customer else None)
            or (order.billing_address.phone if order.billing_address else None),
            country,
        ),
        "country": country,
        "province": _province(address, country),
        "city": address.city or "",
        "address1": address.address1 or "",
    }
    if address.address2:
        result["address2"] = address.address2
    if address.zip:
        result["postal_code"] = address.zip
    return result


def _person(address: ShopifyAddress, country: str) -> str:
    first, last = (address.first_name or "").strip(), (address.last_name or "").strip()
    if country in ("CN", "TW", "HK", "MO", "JP", "KR") and first and last:
        return f"{last}{first}"  # family name first, no space: 张三
    return (address.name or f"{first} {last}").strip()


def _province(address: ShopifyAddress, country: str) -> str:
    code = (address.province_code or "").upper()
    if code:
        if country == "CN":
            code = _SHOPIFY_CN_CODES.get(code, code)
        return f"{country}-{code}"
    return address.province or country


def _phone(raw: str | None, country: str) -> str:
    if not raw:
        return ""
    phone = "".join(c for c in raw if c.isdigit() or c == "+")
    if country == "CN":  # suppliers in China want the national number
        for prefix in ("+86", "0086"):
            if phone.startswith(prefix):
                return phone[len(prefix) :]
    return phone


def _money(value: str | None) -> str:
    """Shopify's decimal string as intake wants it ("19.90"); left as is when it is not one,
    so that intake names the problem."""
    if value is None:
        return "0"
    try:
        amount = Decimal(value)
    except InvalidOperation:
        return value
    return f"{amount:.2f}" if amount == amount.quantize(Decimal("0.01")) else str(amount)
