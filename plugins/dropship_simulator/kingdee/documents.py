"""The bills a simulated K3Cloud keeps: sales orders, purchase orders, sales outbound bills.

What matters to an integration is modelled after K3Cloud's behaviour: internal ids (``FID``)
and bill numbers (``XSDD000001``) assigned on save; the document status (``FDocumentStatus``:
``A`` created, ``B`` submitted/in approval, ``C`` audited, ``D`` re-audit) moved only by the
operations that may move it; base data (supplier, material, carrier numbers) that must exist;
and the link between a sales order and the outbound bills made from it (``Push`` or ``Save``
with ``FEntity_Link``), which never ships more than was ordered.

Field keys are case-insensitive, as in K3Cloud; values are stored under the lower-case key, and
the first spelling seen is kept for output. Dates are naive local times of the server.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

CREATED, SUBMITTED, AUDITED, REAUDIT = "A", "B", "C", "D"


class BillError(Exception):
    """An operation K3Cloud refuses for a reason about the data: becomes ``Errors[...]``."""

    def __init__(self, message: str, field_name: str | None = None, msg_code: int = 11) -> None:
        super().__init__(message)
        self.message = message
        self.field_name = field_name
        self.msg_code = msg_code


@dataclass(frozen=True)
class Form:
    form_id: str
    title: str
    entry: str  # the entry collection's key, as Save's Model spells it
    prefix: str  # bill number prefix
    header_fields: tuple[str, ...]
    entry_fields: tuple[str, ...]


SALE_ORDER = Form(
    "SAL_SaleOrder",
    "销售订单",
    "FSaleOrderEntry",
    "XSDD",
    (
        "FID",
        "FBillNo",
        "FDocumentStatus",
        "FDate",
        "FCreateDate",
        "FModifyDate",
        "FApproveDate",
        "FBillTypeID.FNumber",
        "FSaleOrgId.FNumber",
        "FCustId.FNumber",
        "FCustId.FName",
        "FSettleCurrId.FNumber",
        "FLinkMan",
        "FLinkPhone",
        "FReceiveAddress",
        "FNote",
        "FCloseStatus",
    ),
    ("FEntryID", "FMaterialId.FNumber", "FMaterialId.FName", "FQty", "FTaxPrice", "FAllAmount"),
)
PURCHASE_ORDER = Form(
    "PUR_PurchaseOrder",
    "采购订单",
    "FPOOrderEntry",
    "CGDD",
    (
        "FID",
        "FBillNo",
        "FDocumentStatus",
        "FDate",
        "FCreateDate",
        "FModifyDate",
        "FApproveDate",
        "FBillTypeID.FNumber",
        "FPurchaseOrgId.FNumber",
        "FSupplierId.FNumber",
        "FNote",
    ),
    ("FEntryID", "FMaterialId.FNumber", "FQty", "FTaxPrice", "FNote"),
)
OUTSTOCK = Form(
    "SAL_OUTSTOCK",
    "销售出库单",
    "FEntity",
    "XSCKD",
    (
        "FID",
        "FBillNo",
        "FDocumentStatus",
        "FDate",
        "FCreateDate",
        "FModifyDate",
        "FApproveDate",
        "FBillTypeID.FNumber",
        "FSaleOrgId.FNumber",
        "FStockOrgId.FNumber",
        "FCustomerID.FNumber",
        "FCarrierID.FNumber",
        "FCarriageNO",
        "FNote",
    ),
    (
        "FEntryID",
        "FMaterialId.FNumber",
        "FRealQty",
        "FSrcType",
        "FSrcBillNo",
        "FSoorDerno",
        "FSOEntryId",
    ),
)
FORMS = {form.form_id.lower(): form for form in (SALE_ORDER, PURCHASE_ORDER, OUTSTOCK)}

# Base data a saved bill may refer to by number: the field (lower case) → the kind of record.
BASE_DATA_FIELDS = {
    "fsupplierid.fnumber": "supplier",
    "fmaterialid.fnumber": "material",
    "fcarrierid.fnumber": "carrier",
    "fcustid.fnumber": "customer",
    "fcustomerid.fnumber": "customer",
}
BASE_DATA_NAMES = {
    "supplier": "供应商",
    "material": "物料",
    "carrier": "承运商",
    "customer": "客户",
}


@dataclass
class Bill:
    form: Form
    fid: int
    number: str
    status: str
    header: dict[str, Any]
    entries: list[dict[str, Any]]
    created: datetime
    modified: datetime
    approved: datetime | None = None

    def header_row(self) -> dict[str, Any]:
        return {
            **self.header,
            "fid": self.fid,
            "fbillno": self.number,
            "fdocumentstatus": self.status,
            "fcreatedate": self.created,
            "fmodifydate": self.modified,
            "fapprovedate": self.approved,
        }


def flatten(model: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"FSupplierId": {"FNumber": "S1"}}`` → ``{"FSupplierId.FNumber": "S1"}`` (lists kept)."""
    flat: dict[str, Any] = {}
    for key, value in model.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


@dataclass
class Ledger:
    """Every bill of the simulated account, and the base data they may refer to."""

    now: Callable[[], datetime]
    base_data: dict[str, set[str]] = field(
        default_factory=lambda: {
            "supplier": set(),
            "material": set(),
            "carrier": set(),
            "customer": set(),
        }
    )
    bills: dict[str, dict[int, Bill]] = field(default_factory=lambda: {f: {} for f in FORMS})
    names: dict[str, dict[str, str]] = field(default_factory=lambda: {f: {} for f in FORMS})
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(100001))
    _entry_ids: Iterator[int] = field(default_factory=lambda: itertools.count(200001))
    _numbers: dict[str, Iterator[int]] = field(
        default_factory=lambda: {f: itertools.count(1) for f in FORMS}
    )
    _by_number: dict[str, dict[str, Bill]] = field(default_factory=lambda: {f: {} for f in FORMS})

    def __post_init__(self) -> None:
        for key, form in FORMS.items():
            for name in (*form.header_fields, *form.entry_fields):
                self.names[key].setdefault(name.lower(), name)

    # -- lookups -----------------------------------------------------------------------------

    def form(self, form_id: str) -> Form:
        form = FORMS.get(form_id.lower())
        if form is None:
            raise BillError(f"业务对象 {form_id} 不存在", "FormId", msg_code=9)
        return form

    def known_field(self, form: Form) -> Callable[[str], bool]:
        fixed = {name.lower() for name in form.header_fields + form.entry_fields}
        fixed.add(f"{form.entry.lower()}_fentryid")
        spelled = self.names[form.form_id.lower()]
        return lambda key: key in fixed or key in spelled

    def find(self, form: Form, number: str | None = None, fid: Any = None) -> Bill | None:
        key = form.form_id.lower()
        if number:
            return self._by_number[key].get(str(number))
        if fid not in (None, "", 0, "0"):
            try:
                return self.bills[key].get(int(fid))
            except (TypeError, ValueError):
                return None
        return None

    def all(self, form: Form) -> list[Bill]:
        return list(self.bills[form.form_id.lower()].values())

    def rows(self, form: Form, with_entries: bool) -> Iterator[dict[str, Any]]:
        """One row per entry (or per bill when no entry field is asked for)."""
        entry_id_key = f"{form.entry.lower()}_fentryid"
        for bill in self.bills[form.form_id.lower()].values():
            header = bill.header_row()
            if not with_entries or not bill.entries:
                yield header
                continue
            for entry in bill.entries:
                row = {**header, **entry}
                row[entry_id_key] = entry["fentryid"]
                yield row

    # -- writes ------------------------------------------------------------------------------

    def _remember_names(self, form: Form, flat: dict[str, Any]) -> None:
        spelled = self.names[form.form_id.lower()]
        for name in flat:
            spelled.setdefault(name.lower(), name)

    def _check_base_data(self, flat: dict[str, Any], where: str = "") -> None:
        for name, value in flat.items():
            kind = BASE_DATA_FIELDS.get(name.lower())
            if kind is None or value in (None, ""):
                continue
            known = self.base_data[kind]
            if known and str(value) not in known:
                field_name = name.split(".")[0]
                raise BillError(
                    f"{where}字段“{field_name}”的值“{value}”在{BASE_DATA_NAMES[kind]}中不存在或未审核",
                    field_name,
                )

    def _entry(
        self, form: Form, raw: dict[str, Any], index: int, old: dict[str, Any] | None
    ) -> dict[str, Any]:
        links = raw.get(f"{form.entry}_Link") or raw.get("FEntity_Link")
        flat = flatten({k: v for k, v in raw.items() if not k.lower().endswith("_link")})
        self._remember_names(form, flat)
        self._check_base_data(flat, f"第{index + 1}行分录")
        entry = dict(old or {})
        entry.update({k.lower(): v for k, v in flat.items() if k.lower() != "fentryid"})
        entry.setdefault("fentryid", next(self._entry_ids))
        if links:
            entry["links"] = [{k.lower(): v for k, v in link.items()} for link in links]
        return entry

    def save(self, form: Form, model: dict[str, Any], checked: bool = True) -> Bill:
        """Create (``FID`` absent or 0) or change a bill. Raises BillError. `checked=False`
        skips the data checks: what a data import or a customisation can leave behind."""
        now = self.now()
        bill = self.find(form, fid=model.get("FID") or model.get("fid"))
        if model.get("FID") not in (None, "", 0, "0") and bill is None:
            raise BillError(f"{form.title}内码 {model.get('FID')} 不存在", "FID", msg_code=10)
        if bill is not None and bill.status not in (CREATED, REAUDIT):
            raise BillError(
                f"{form.title}“{bill.number}”已提交或已审核，不允许修改", "FDocumentStatus", 12
            )
        raw_entries = model.get(form.entry)
        header_model = {k: v for k, v in model.items() if k != form.entry and k.upper() != "FID"}
        flat = flatten(header_model)
        self._check_base_data(flat)
        entries: list[dict[str, Any]] = list(bill.entries) if bill else []
        if raw_entries is not None:
            if not isinstance(raw_entries, list):
                raise BillError(f"分录 {form.entry} 应为数组", form.entry, 8)
            by_id = {e["fentryid"]: e for e in entries}
            updated: list[dict[str, Any]] = [] if bill is None else entries
            for index, raw in enumerate(raw_entries):
                if not isinstance(raw, dict):
                    raise BillError(f"第{index + 1}行分录格式不正确", form.entry, 8)
                entry_id = raw.get("FEntryID") or raw.get("FEntryId")
                old = by_id.get(int(entry_id)) if entry_id else None
                entry = self._entry(form, raw, index, old)
                if old is None:
                    updated.append(entry)
                else:
                    updated[updated.index(old)] = entry
            entries = updated
        if not entries:
            raise BillError(f"{form.title}至少需要一行分录", form.entry, 11)
        header = {**(bill.header if bill else {}), **{k.lower(): v for k, v in flat.items()}}
        if checked:
            self._validate(form, header, entries, bill)
        self._remember_names(form, flat)
        if bill is None:
            number = str(
                model.get("FBillNo")
                or f"{form.prefix}{next(self._numbers[form.form_id.lower()]):06d}"
            )
            if number in self._by_number[form.form_id.lower()]:
                raise BillError(f"单据编号“{number}”已存在", "FBillNo", 11)
            bill = Bill(form, next(self._ids), number, CREATED, {}, entries, now, now)
            self.bills[form.form_id.lower()][bill.fid] = bill
            self._by_number[form.form_id.lower()][number] = bill
        bill.header.update({k.lower(): v for k, v in flat.items() if k.lower() not in ("fbillno",)})
        if "fdate" not in bill.header:
            bill.header["fdate"] = now.replace(hour=0, minute=0, second=0, microsecond=0)
        elif isinstance(bill.header["fdate"], str):
            bill.header["fdate"] = _parse_date(bill.header["fdate"], "FDate")
        bill.entries = entries
        bill.modified = now
        return bill

    def _validate(
        self, form: Form, header: dict[str, Any], entries: list[dict[str, Any]], bill: Bill | None
    ) -> None:
        if form is PURCHASE_ORDER and not header.get("fsupplierid.fnumber"):
            raise BillError("字段“供应商”是必填项", "FSupplierId", 11)
        quantity_key = "frealqty" if form is OUTSTOCK else "fqty"
        for index, entry in enumerate(entries):
            if not entry.get("fmaterialid.fnumber"):
                raise BillError(f"第{index + 1}行分录字段“物料编码”是必填项", "FMaterialId", 11)
            try:
                quantity = Decimal(str(entry.get(quantity_key, 0)))
            except ArithmeticError:
                raise BillError(f"第{index + 1}行分录数量格式不正确", quantity_key, 8) from None
            if quantity <= 0:
                raise BillError(f"第{index + 1}行分录数量必须大于0", quantity_key, 11)
        if form is OUTSTOCK:
            self._check_links(entries, bill)

    def _check_links(self, entries: list[dict[str, Any]], bill: Bill | None) -> None:
        """An outbound bill linked to sales order entries ships at most what is left."""
        wanted: dict[int, Decimal] = {}
        for entry in entries:
            for link in entry.get("links", []):
                if str(link.get("fentity_link_fstablename", "")).upper() != "T_SAL_ORDERENTRY":
                    raise BillError("源单表名应为 T_SAL_ORDERENTRY", "FEntity_Link_FSTableName", 8)
                source = self.find(SALE_ORDER, fid=link.get("fentity_link_fsbillid"))
                if source is None:
                    raise BillError(
                        f"源单内码 {link.get('fentity_link_fsbillid')} 不存在",
                        "FEntity_Link_FSBillId",
                        10,
                    )
                if source.status != AUDITED:
                    raise BillError(
                        f"源单“{source.number}”未审核，不能生成下游单据",
                        "FEntity_Link_FSBillId",
                        12,
                    )
                source_entry = next(
                    (
                        e
                        for e in source.entries
                        if str(e["fentryid"]) == str(link.get("fentity_link_fsid"))
                    ),
                    None,
                )
                if source_entry is None:
                    raise BillError(
                        f"源单“{source.number}”没有分录 {link.get('fentity_link_fsid')}",
                        "FEntity_Link_FSId",
                        10,
                    )
                entry.setdefault("fsrctype", SALE_ORDER.form_id)
                entry.setdefault("fsrcbillno", source.number)
                entry.setdefault("fsoorderno", source.number)
                entry.setdefault("fsoentryid", source_entry["fentryid"])
                wanted[source_entry["fentryid"]] = wanted.get(
                    source_entry["fentryid"], Decimal()
                ) + Decimal(str(entry.get("frealqty", 0)))
                left = self.remaining(source, source_entry, excluding=bill)
                if wanted[source_entry["fentryid"]] > left:
                    raise BillError(
                        f"源单“{source.number}”第{source.entries.index(source_entry) + 1}行"
                        f"可出库数量为{left}，本次出库超出",
                        "FRealQty",
                        11,
                    )

    def remaining(
        self, source: Bill, source_entry: dict[str, Any], excluding: Bill | None = None
    ) -> Decimal:
        """What of a sales order entry no outbound bill (but `excluding`) has taken yet."""
        shipped = Decimal()
        for bill in self.all(OUTSTOCK):
            if bill is excluding:
                continue
            for entry in bill.entries:
                for link in entry.get("links", []):
                    if str(link.get("fentity_link_fsid")) == str(source_entry["fentryid"]):
                        shipped += Decimal(str(entry.get("frealqty", 0)))
        return Decimal(str(source_entry.get("fqty", 0))) - shipped

    def submit(self, bill: Bill) -> None:
        if bill.status not in (CREATED, REAUDIT):
            raise BillError(
                f"{bill.form.title}“{bill.number}”当前状态不允许提交", "FDocumentStatus", 12
            )
        bill.status = SUBMITTED
        bill.modified = self.now()

    def audit(self, bill: Bill) -> None:
        if bill.status != SUBMITTED:
            raise BillError(
                f"{bill.form.title}“{bill.number}”不是审核中状态，不允许审核", "FDocumentStatus", 12
            )
        bill.status = AUDITED
        # K3Cloud's audit stamps the approver and approve date; the modify date stays.
        bill.approved = self.now()

    def unaudit(self, bill: Bill) -> None:
        if bill.status != AUDITED:
            raise BillError(
                f"{bill.form.title}“{bill.number}”未审核，不允许反审核", "FDocumentStatus", 12
            )
        if bill.form is SALE_ORDER and any(
            self.remaining(bill, e) != Decimal(str(e.get("fqty", 0))) for e in bill.entries
        ):
            raise BillError(
                f"{bill.form.title}“{bill.number}”已有下游单据，不允许反审核", "FDocumentStatus", 12
            )
        bill.status = REAUDIT
        bill.approved = None

    def delete(self, bill: Bill) -> None:
        if bill.status not in (CREATED, REAUDIT):
            raise BillError(
                f"{bill.form.title}“{bill.number}”已提交或已审核，不允许删除", "FDocumentStatus", 12
            )
        del self.bills[bill.form.form_id.lower()][bill.fid]
        del self._by_number[bill.form.form_id.lower()][bill.number]

    def push(self, source: Bill, target: Form, entry_ids: list[int] | None) -> Bill:
        """Make a target bill (status A) from an audited sales order, entry by entry."""
        if source.form is not SALE_ORDER or target is not OUTSTOCK:
            raise BillError(f"不存在从{source.form.title}到{target.title}的转换规则", "RuleId", 9)
        if source.status != AUDITED:
            raise BillError(
                f"{source.form.title}“{source.number}”未审核，不允许下推", "FDocumentStatus", 12
            )
        entries: list[dict[str, Any]] = []
        for entry in source.entries:
            if entry_ids and entry["fentryid"] not in entry_ids:
                continue
            left = self.remaining(source, entry)
            if left <= 0:
                continue
            entries.append(
                {
                    "FMaterialId": {"FNumber": entry.get("fmaterialid.fnumber")},
                    "FRealQty": float(left),
                    "FEntity_Link": [
                        {
                            "FEntity_Link_FRuleId": "SaleOrder-OutStock",
                            "FEntity_Link_FSTableName": "T_SAL_ORDERENTRY",
                            "FEntity_Link_FSBillId": source.fid,
                            "FEntity_Link_FSId": entry["fentryid"],
                            "FEntity_Link_FBaseUnitQty": float(left),
                        }
                    ],
                }
            )
        if not entries:
            raise BillError(
                f"{source.form.title}“{source.number}”没有可下推的分录（已全部出库）",
                "EntryIds",
                11,
            )
        model: dict[str, Any] = {
            "FCustomerID": {"FNumber": source.header.get("fcustid.fnumber")},
            "FSaleOrgId": {"FNumber": source.header.get("fsaleorgid.fnumber")},
            target.entry: entries,
        }
        return self.save(target, model)


def _parse_date(value: str, field_name: str) -> datetime:
    try:
        return datetime.fromisoformat(value.replace("/", "-"))
    except ValueError:
        raise BillError(f"字段“{field_name}”的日期格式不正确: {value}", field_name, 8) from None
