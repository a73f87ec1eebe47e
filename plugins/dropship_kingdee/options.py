"""The ``options`` of a ``kingdee`` channel: how to reach the account, which sales orders to
take and how their fields map onto an order, and what to write back.

Every tenant names its custom fields differently (the receiver's province is
``F_PAEZ_Province`` in one account and ``F_ABC_SHENG`` in the next), so each field of an order
is a K3Cloud field key given in ``[fields]``; the defaults are the standard ones.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from msgspec import Meta

from dropship_kingdee.signing import BadAppId, client_credentials
from gateway.plugin_api import OptionProblem

FieldKey = Annotated[str, Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$", max_length=100)]
Positive = Annotated[float, Meta(gt=0)]
CURRENCIES = {"PRE001": "CNY", "PRE002": "HKD", "PRE003": "EUR", "PRE007": "USD"}


class FieldMap(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Which K3Cloud field key fills which part of an order (``SAL_SaleOrder``)."""

    external_id: FieldKey = "FBillNo"
    created_at: FieldKey = "FDate"
    customer_id: FieldKey | None = "FCustId.FNumber"
    currency: FieldKey | None = "FSettleCurrId.FNumber"
    notes: FieldKey | None = "FNote"
    line_id: FieldKey = "FSaleOrderEntry_FEntryID"
    sku: FieldKey = "FMaterialId.FNumber"
    quantity: FieldKey = "FQty"
    unit_price: FieldKey | None = "FTaxPrice"
    name: FieldKey = "FLinkMan"
    phone: FieldKey = "FLinkPhone"
    province: FieldKey = "F_PAEZ_Province"
    city: FieldKey = "F_PAEZ_City"
    district: FieldKey | None = "F_PAEZ_District"
    address1: FieldKey = "FReceiveAddress"
    postal_code: FieldKey | None = None


class PurchaseOrderOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``PUR_PurchaseOrder`` written for each PO a supplier accepted."""

    enabled: bool = True
    bill_type: str = "CGDD01_SYS"  # 标准采购订单
    purchase_org: str = "100"
    # gateway supplier id → K3Cloud supplier number (BD_Supplier.FNumber); unmapped: the id
    suppliers: dict[str, str] = {}
    audit: bool = True  # Submit and Audit after Save


class OutstockOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``SAL_OUTSTOCK`` written for each shipment, linked to the sales order's entries."""

    enabled: bool = True
    bill_type: str = "XSCKD01_SYS"  # 标准销售出库单
    stock_org: str = "100"
    tracking_field: FieldKey = "FCarriageNO"  # 运输单号
    carrier_field: FieldKey | None = "FCarrierID"  # 承运商 (base data, by number)
    carriers: dict[str, str] = {}  # gateway carrier → K3Cloud carrier number; unmapped: as is
    audit: bool = True


class KingdeeOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    url: str  # the server URL with its /k3cloud/ path, as Kingdee's SDKs take it
    acct_id: str  # 数据中心 (account set) id
    user_name: str
    auth: Literal["signature", "app_secret", "password"] = "signature"
    app_id: str | None = None  # signature and app_secret
    app_secret: str | None = None
    password: str | None = None  # password (ValidateUser), on-premises installs
    lcid: int = 2052
    org_number: str = "0"
    ca_file: str | None = None  # a private CA for an on-premises HTTPS server
    timeout_s: Positive = 30.0
    call_limit_backoff_s: Positive = 5.0  # after MsgCode 14, doubling up to the max
    call_limit_backoff_max_s: Positive = 120.0
    retry_base_s: Positive = 1.0  # after the server was unavailable, doubling up to the max
    retry_max_s: Positive = 60.0

    poll_interval_s: Positive = 60.0
    page_size: Annotated[int, Meta(ge=1, le=10_000)] = 500  # rows per ExecuteBillQuery
    filter: str = ""  # added to FDocumentStatus = 'C' with AND
    watermark_field: FieldKey = "FApproveDate"
    timezone: str = "Asia/Shanghai"  # of the server's dates
    # K3Cloud currency numbers (BD_Currency.FNumber) → ISO codes; unlisted ones pass as they are
    currencies: dict[str, str] = msgspec.field(default_factory=lambda: dict(CURRENCIES))
    payment_status: Literal["paid", "unpaid", "cod"] = "paid"
    fields: FieldMap = msgspec.field(default_factory=FieldMap)

    reference_field: FieldKey = "FNote"  # where write-backs keep the gateway's id, to find them
    purchase_order: PurchaseOrderOptions = msgspec.field(default_factory=PurchaseOrderOptions)
    outstock: OutstockOptions = msgspec.field(default_factory=OutstockOptions)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _path_of(message: str) -> tuple[tuple[str | int, ...], str]:
    """msgspec's "... - at `$.fields.sku`" → (("fields", "sku"), "...")."""
    match = re.search(r" - at `\$(.*)`$", message)
    if not match:
        return (), message
    text = message[: match.start()]
    parts: list[str | int] = []
    for name, index in re.findall(r"\.([A-Za-z_][\w]*)|\[(\d+)\]", match.group(1)):
        parts.append(int(index) if index else name)
    return tuple(parts), text


def parse_options(raw: dict[str, Any]) -> KingdeeOptions:
    """The options, or msgspec.ValidationError naming the bad key."""
    return msgspec.convert(raw, KingdeeOptions)


def check_options(raw: dict[str, Any]) -> list[OptionProblem]:
    """Every problem `run.py check` can see before anything connects."""
    try:
        options = parse_options(raw)
    except msgspec.ValidationError as error:
        path, message = _path_of(str(error))
        return [OptionProblem(path, message)]
    problems: list[OptionProblem] = []
    url = urlparse(options.url)
    if url.scheme not in ("http", "https") or not url.netloc:
        problems.append(OptionProblem(("url",), "expected http(s)://host/k3cloud/"))
    if options.auth in ("signature", "app_secret"):
        for key in ("app_id", "app_secret"):
            if not getattr(options, key):
                problems.append(OptionProblem((key,), f"required when auth = {options.auth!r}"))
    if options.auth == "signature" and options.app_id:
        try:
            client_credentials(options.app_id)
        except BadAppId as error:
            problems.append(OptionProblem(("app_id",), str(error).partition(": ")[2]))
    if options.auth == "password" and not options.password:
        problems.append(OptionProblem(("password",), "required when auth = 'password'"))
    try:
        ZoneInfo(options.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(OptionProblem(("timezone",), f"unknown time zone {options.timezone!r}"))
    return problems
