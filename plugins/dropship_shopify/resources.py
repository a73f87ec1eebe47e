"""Shopify's REST `Order` resource, as far as the gateway reads it.

The `orders/*` webhooks carry this resource as their body, and `GET orders.json` lists it, so
one decoder serves both. Fields the gateway does not use are ignored (Shopify adds fields in
new API versions); what it uses is typed, so a payload that is not an order fails with the
path of the field that is wrong.
"""

from __future__ import annotations

from datetime import datetime

import msgspec


class ShopifyAddress(msgspec.Struct, kw_only=True):
    first_name: str | None = None
    last_name: str | None = None
    name: str | None = None
    company: str | None = None
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    province: str | None = None
    province_code: str | None = None
    country: str | None = None
    country_code: str | None = None
    zip: str | None = None
    phone: str | None = None


class ShopifyLineItem(msgspec.Struct, kw_only=True):
    id: int
    sku: str | None = None
    quantity: int
    current_quantity: int | None = None  # after order edits; absent in older API versions
    price: str = "0"
    title: str | None = None
    requires_shipping: bool = True


class ShopifyCustomer(msgspec.Struct, kw_only=True):
    id: int | None = None
    phone: str | None = None


class ShopifyOrder(msgspec.Struct, kw_only=True):
    id: int
    name: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    financial_status: str | None = None
    currency: str = "CNY"
    total_price: str | None = None
    note: str | None = None
    phone: str | None = None
    payment_gateway_names: list[str] = []
    line_items: list[ShopifyLineItem] = []
    shipping_address: ShopifyAddress | None = None
    billing_address: ShopifyAddress | None = None
    customer: ShopifyCustomer | None = None


class OrderList(msgspec.Struct):
    orders: list[ShopifyOrder]


order_decoder = msgspec.json.Decoder(ShopifyOrder)
order_list_decoder = msgspec.json.Decoder(OrderList)
