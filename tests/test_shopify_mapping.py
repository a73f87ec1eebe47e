"""The Shopify channel's pure parts: a REST order as an intake order, payment states, carrier
names, the fulfillment plan of a parcel, and the options check of `run.py check`."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from dropship_shopify.carriers import Carriers, Tracking
from dropship_shopify.fulfillment import CannotWriteBack, OpenLine, plan
from dropship_shopify.mapping import (
    NotForTheGateway,
    intake_order,
    payment_moves_forward,
    payment_status,
)
from dropship_shopify.options import CarrierOption, check_options
from dropship_shopify.resources import ShopifyOrder
from gateway.domain.intake import decode_order, normalise
from gateway.plugin_api import OptionProblem


def shopify_order(**fields: Any) -> ShopifyOrder:
    order: dict[str, Any] = {
        "id": 5600000000123,
        "name": "#1123",
        "created_at": "2026-11-23T10:00:00+08:00",
        "updated_at": "2026-11-23T10:00:00+08:00",
        "financial_status": "paid",
        "currency": "CNY",
        "total_price": "49.70",
        "payment_gateway_names": ["alipay"],
        "customer": {"id": 7300000000001},
        "line_items": [
            {"id": 13900000000001, "sku": "TEA-001", "quantity": 2, "price": "9.90"},
            {"id": 13900000000002, "sku": "CUP-002", "quantity": 1, "price": "29.9"},
            {
                "id": 13900000000003,
                "sku": "GIFT-CARD",
                "quantity": 1,
                "price": "50.00",
                "requires_shipping": False,
            },
        ],
        "shipping_address": {
            "first_name": "三",
            "last_name": "张",
            "name": "三 张",
            "address1": "文三路 100 号",
            "address2": "3 幢 201 室",
            "city": "杭州市",
            "province": "Zhejiang",
            "province_code": "ZJ",
            "country_code": "CN",
            "zip": "310000",
            "phone": "+86 138-1234-5678",
        },
        **fields,
    }
    return msgspec.convert(order, ShopifyOrder, strict=False)


def test_a_shopify_order_becomes_a_valid_intake_order() -> None:
    intake = intake_order(shopify_order())
    order = normalise(
        decode_order(msgspec.json.encode(intake)), order_id="ord-1", default_channel="shopify"
    )
    assert order.external_id == "5600000000123"
    assert order.attributes == {"shopify_order_id": "5600000000123", "shopify_order_name": "#1123"}
    assert [
        (line.line_id, line.sku, line.quantity, str(line.unit_price)) for line in order.lines
    ] == [
        ("13900000000001", "TEA-001", 2, "9.90"),
        ("13900000000002", "CUP-002", 1, "29.90"),
    ]  # the gift card needs no shipping
    assert order.ship_to.name == "张三"
    assert order.ship_to.phone == "13812345678"
    assert order.ship_to.region == "CN-ZJ"
    assert order.ship_to.province == "浙江省"
    assert order.ship_to.address2 == "3 幢 201 室"
    assert order.payment is not None
    assert order.payment.status == "paid"
    assert str(order.payment.amount) == "49.70"
    assert order.customer is not None
    assert order.customer.id == "7300000000001"


def test_shopifys_tibet_code_is_iso_xz() -> None:
    order = shopify_order()
    assert order.shipping_address is not None
    order.shipping_address.province_code = "YZ"
    assert intake_order(order)["ship_to"]["province"] == "CN-XZ"


def test_edited_quantities_count_and_removed_lines_go() -> None:
    order = shopify_order(
        line_items=[
            {"id": 1, "sku": "A", "quantity": 3, "current_quantity": 1, "price": "1.00"},
            {"id": 2, "sku": "B", "quantity": 2, "current_quantity": 0, "price": "1.00"},
        ]
    )
    assert [(line["sku"], line["quantity"]) for line in intake_order(order)["lines"]] == [("A", 1)]


def test_orders_with_nothing_to_ship_are_not_for_the_gateway() -> None:
    with pytest.raises(NotForTheGateway, match="shipping address"):
        intake_order(shopify_order(shipping_address=None))
    digital = [{"id": 1, "sku": "E-BOOK", "quantity": 1, "requires_shipping": False}]
    with pytest.raises(NotForTheGateway, match="needs shipping"):
        intake_order(shopify_order(line_items=digital))


@pytest.mark.parametrize(
    ("financial_status", "gateways", "hold_authorized", "expected"),
    [
        ("paid", ["alipay"], False, "paid"),
        ("pending", ["bank_deposit"], False, "unpaid"),
        ("pending", ["Cash on Delivery (COD)"], False, "cod"),
        ("authorized", ["shopify_payments"], False, "paid"),
        ("authorized", ["shopify_payments"], True, "unpaid"),
        ("partially_paid", ["manual"], False, "partially_paid"),
        ("partially_refunded", ["alipay"], False, "paid"),
        ("refunded", ["alipay"], False, "refunded"),
        ("voided", ["shopify_payments"], False, "refunded"),
    ],
)
def test_payment_states(
    financial_status: str, gateways: list[str], hold_authorized: bool, expected: str
) -> None:
    order = shopify_order(financial_status=financial_status, payment_gateway_names=gateways)
    assert payment_status(order, hold_authorized=hold_authorized) == expected


def test_payment_only_moves_forward() -> None:
    assert payment_moves_forward("unpaid", "paid")
    assert payment_moves_forward("partially_paid", "paid")
    assert payment_moves_forward("paid", "refunded")
    assert not payment_moves_forward("paid", "unpaid")  # a late `pending` webhook
    assert not payment_moves_forward("paid", "paid")
    assert not payment_moves_forward("refunded", "paid")


def test_carriers_use_shopifys_names_and_a_url_where_shopify_has_none() -> None:
    carriers = Carriers({"KYE": CarrierOption(company="KY Express", url="https://ky/{number}")})
    assert carriers.tracking("SF", "SF1") == Tracking("SF Express")
    assert carriers.tracking("顺丰", "SF1") == Tracking("SF Express")
    assert carriers.tracking("ems", "E1") == Tracking("China Post")
    assert carriers.tracking("yto", "YT9") == Tracking(
        "YTO Express", "https://www.kuaidi100.com/chaxun?com=yuantong&nu=YT9"
    )
    assert carriers.tracking("KYE", "K7") == Tracking("KY Express", "https://ky/K7")
    assert carriers.tracking("Local Courier", "L1") == Tracking("Local Courier")


def open_line(n: int, line_item: int, sku: str, remaining: int, fo: str = "fo-1") -> OpenLine:
    return OpenLine(
        id=f"fol-{n}",
        fulfillment_order_id=fo,
        location="Shop location",
        line_item_id=line_item,
        sku=sku,
        remaining=remaining,
    )


def test_a_parcel_names_exactly_its_line_items() -> None:
    lines = [open_line(1, 11, "A", 2), open_line(2, 12, "B", 1), open_line(3, 13, "A", 1)]
    # The PO of this parcel holds line items 13 (A) and 12 (B): line 11 is another supplier's.
    groups = plan([("A", 1), ("B", 1)], lines, {"A": [13], "B": [12]})
    assert groups == [
        [
            {
                "fulfillmentOrderId": "fo-1",
                "fulfillmentOrderLineItems": [
                    {"id": "fol-2", "quantity": 1},
                    {"id": "fol-3", "quantity": 1},
                ],
            }
        ]
    ]
    with pytest.raises(CannotWriteBack, match="2 × A shipped, but Shopify has 1 of it left"):
        plan([("A", 2)], lines, {"A": [13]})
    # Without the PO's line items any open line with the SKU will do.
    assert plan([("A", 3)], lines, None)[0][0]["fulfillmentOrderLineItems"] == [
        {"id": "fol-1", "quantity": 2},
        {"id": "fol-3", "quantity": 1},
    ]


def test_options_are_checked_with_their_paths() -> None:
    good = {"shop_url": "https://acme.myshopify.com", "access_token": "t", "api_secret": "s"}
    assert check_options(good) == []
    assert check_options({**good, "listen": "8091"}) == [
        OptionProblem(("listen",), "expected host:port, like 127.0.0.1:8091")
    ]
    assert check_options({**good, "shop_url": "acme"})[0].path == ("shop_url",)
    assert check_options({**good, "carriers": {"KYE": {"company": "KY", "url": "https://ky"}}}) == [
        OptionProblem(("carriers", "KYE", "url"), "expected a URL containing {number}")
    ]
    assert check_options({**good, "reconcile_every": 5}) == [
        OptionProblem(("reconcile_every",), "unknown option")
    ]
    assert check_options({"shop_url": "https://acme.myshopify.com", "api_secret": "s"}) == [
        OptionProblem(("access_token",), "required")
    ]
    assert check_options({**good, "reconcile_every_s": 0})[0].path == ("reconcile_every_s",)
    # Every problem at once, not the first one msgspec meets.
    several = check_options(
        {"shop_url": "acme", "access_token": "t", "listen": "nope", "reconcile_every": 3}
    )
    assert [p.path for p in several] == [
        ("reconcile_every",),
        ("api_secret",),
        ("shop_url",),
        ("listen",),
    ]
