"""From ExecuteBillQuery rows of ``SAL_SaleOrder`` to orders in the gateway's intake format.

K3Cloud answers one row per order line (entry), the header's fields repeated on each; rows
are grouped into one order per ``FID``. Values are passed on as they are, so that intake's
validation reports what is wrong with them (a missing SKU, a quantity of zero, a province it
does not know); `describe_problem` then names the bill and the K3Cloud field, so that the
person who fixes it in K3Cloud knows where to look.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from dropship_kingdee.options import KingdeeOptions

ORDER_FIELDS = ("external_id", "created_at", "customer_id", "currency", "notes")
ADDRESS_FIELDS = ("name", "phone", "province", "city", "district", "address1", "postal_code")
LINE_FIELDS = ("line_id", "sku", "quantity", "unit_price")


def field_keys(options: KingdeeOptions) -> list[str]:
    """What to ask ExecuteBillQuery for: FID, the watermark field, then every mapped field."""
    mapping = options.fields
    keys = ["FID", options.watermark_field]
    for name in ORDER_FIELDS + ADDRESS_FIELDS + LINE_FIELDS:
        key = getattr(mapping, name)
        if key and key not in keys:
            keys.append(key)
    return keys


@dataclass
class SalesOrderRows:
    """The rows of one sales order (one per entry), as {field key: value}."""

    fid: int
    watermark: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    def value(self, key: str | None) -> Any:
        return self.rows[0].get(key) if key else None

    def bill_no(self, options: KingdeeOptions) -> str:
        value = self.value(options.fields.external_id)
        return str(value).strip() if value not in (None, "") else f"FID {self.fid}"


def group_rows(keys: list[str], rows: list[list[Any]]) -> list[SalesOrderRows]:
    """Rows → orders, in the order the rows came (they are sorted by watermark, FID)."""
    orders: list[SalesOrderRows] = []
    for values in rows:
        row = dict(zip(keys, values, strict=False))
        fid = int(row["FID"])
        if not orders or orders[-1].fid != fid:
            orders.append(SalesOrderRows(fid, str(row.get(keys[1]))))
        orders[-1].rows.append(row)
    return orders


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _quantity(value: Any) -> Any:
    """K3Cloud's decimals arrive as JSON numbers (2.0); a whole number becomes an int, anything
    else is passed on for intake to refuse with its path."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _money(value: Any) -> str | None:
    if value is None or value == "":
        return None
    try:
        return format(Decimal(str(value)).normalize(), "f")
    except InvalidOperation:
        return str(value)


def _created_at(value: Any, options: KingdeeOptions) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=options.zone)
    return moment.isoformat()


def to_intake(order: SalesOrderRows, options: KingdeeOptions) -> dict[str, Any]:
    """The intake order (CONTRACT §3) of one sales order."""
    mapping = options.fields
    ship_to: dict[str, Any] = {"country": "CN"}
    for name in ADDRESS_FIELDS:
        key = getattr(mapping, name)
        if key:
            text = _text(order.value(key))
            if text or name not in ("district", "postal_code"):
                ship_to[name] = text
    lines = []
    for row in order.rows:
        line: dict[str, Any] = {
            "line_id": _text(row.get(mapping.line_id)),
            "sku": _text(row.get(mapping.sku)),
            "quantity": _quantity(row.get(mapping.quantity)),
        }
        price = _money(row.get(mapping.unit_price)) if mapping.unit_price else None
        if price is not None:
            line["unit_price"] = price
        lines.append(line)
    intake: dict[str, Any] = {
        "external_id": order.bill_no(options),
        "payment": {"status": options.payment_status},
        "ship_to": ship_to,
        "lines": lines,
        "attributes": {"kingdee_fid": str(order.fid)},
    }
    created_at = _created_at(order.value(mapping.created_at), options)
    if created_at:
        intake["created_at"] = created_at
    currency = _text(order.value(mapping.currency))
    if currency:
        intake["currency"] = options.currencies.get(currency, currency)
    customer = _text(order.value(mapping.customer_id))
    if customer:
        intake["customer"] = {"id": customer[:100]}
    notes = _text(order.value(mapping.notes))
    if notes:
        intake["notes"] = notes[:2000]
    return intake


def describe_problem(
    order: SalesOrderRows, options: KingdeeOptions, path: str, message: str
) -> str:
    """``$.lines[1].sku`` → ``XSDD000123 entry 200017 FMaterialId.FNumber: ...``."""
    mapping = options.fields
    where = path
    parts = path.removeprefix("$.").replace("[", ".").replace("]", "").split(".")
    if parts[0] == "lines" and len(parts) >= 3 and parts[1].isdigit():
        index = int(parts[1])
        entry = _text(order.rows[index].get(mapping.line_id)) if index < len(order.rows) else "?"
        key = getattr(mapping, parts[2], None) if parts[2] in LINE_FIELDS else parts[2]
        where = f"entry {entry} {key}"
    elif parts[0] == "ship_to" and len(parts) >= 2 and parts[1] in ADDRESS_FIELDS:
        where = str(getattr(mapping, parts[1]) or path)
    elif parts[0] in ("external_id", "created_at", "notes", "currency"):
        where = str(getattr(mapping, parts[0]) or path)
    return f"{order.bill_no(options)} {where}: {message}"
