"""The Kingdee channel through the channel conformance kit (`gateway.testing`), against the
simulated K3Cloud.

How the kit's words map onto K3Cloud:

- an order *offered* at the source is a sales order saved, submitted and audited in the
  simulator, with the offered external id as its bill number (``FBillNo``; K3Cloud takes a
  number given on Save) and the receiver in the fields of the default mapping;
- K3Cloud has no "confirm" call: the channel confirms by moving its watermark. An order is
  *confirmed* once the channel asked ExecuteBillQuery for the sales orders after a watermark
  (approve date, ``FID``) at or past it;
- the source *away* is K3Cloud down: every call answers 503;
- *written back* are the outbound bills (``SAL_OUTSTOCK``) linked to a sales order, one per
  shipment, carrying its tracking number, and the purchase orders naming it.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest

from dropship_kingdee import KingdeeChannel
from dropship_simulator.kingdee.erp_service import sales_order_fields
from gateway.testing import ChannelUnderTest, WrittenBack, channel_contract_tests
from tests.kingdee_fixtures import channel_options, simulator

# What the intake filter adds for a watermark: FApproveDate > 'v' OR (... AND FID > n).
WATERMARK = re.compile(r"FApproveDate > '([^']*)' OR \(FApproveDate = '[^']*' AND FID > (\d+)\)")


class KingdeeSource:
    """The simulated K3Cloud as the kit's `ChannelCounterpart`."""

    def __init__(self) -> None:
        self.erp = simulator()

    async def start(self) -> None:
        await self.erp.start()

    async def stop(self) -> None:
        await self.erp.stop()

    def options(self) -> dict[str, Any]:
        return channel_options(
            self.erp,
            poll_interval_s=60,
            purchase_order={"suppliers": {"sup-a": "VEN-A"}},
        )

    def offer(self, order: dict[str, Any]) -> None:
        self.erp.create_sales_order(
            customer="CUST-KIT",
            lines=[
                (line["sku"], float(line["quantity"]), float(line["unit_price"]))
                for line in order["lines"]
            ],
            fields={**sales_order_fields(order), "FBillNo": order["external_id"]},
        )

    def confirmed(self) -> list[str]:
        marks = [
            (datetime.fromisoformat(match.group(1)), int(match.group(2)))
            for query in self.erp.queries
            if str(query.get("FormId")) == "SAL_SaleOrder"
            for match in [WATERMARK.search(str(query.get("FilterString") or ""))]
            if match
        ]
        return [
            bill.number
            for bill in self.erp.bills("SAL_SaleOrder")
            if bill.approved is not None
            and any((bill.approved, bill.fid) <= mark for mark in marks)
        ]

    def set_available(self, available: bool) -> None:
        self.erp.down = not available

    def written_back(self) -> list[WrittenBack]:
        shipped = [
            WrittenBack(
                number,
                "po.shipped",
                {
                    "tracking_number": bill.header.get("fcarriageno"),
                    "carrier": bill.header.get("fcarrierid.fnumber"),
                    "status": bill.status,
                },
            )
            for bill in self.erp.bills("SAL_OUTSTOCK")
            for number in sorted({str(e.get("fsrcbillno")) for e in bill.entries})
        ]
        purchased = [
            WrittenBack(
                number,
                "po.accepted",
                {"supplier": bill.header.get("fsupplierid.fnumber"), "status": bill.status},
            )
            for bill in self.erp.bills("PUR_PurchaseOrder")
            for number in sorted({str(e.get("fsrcbillno")) for e in bill.entries})
        ]
        return shipped + purchased


@pytest.fixture
def channel_under_test() -> ChannelUnderTest:
    return ChannelUnderTest(factory=KingdeeChannel, counterpart=KingdeeSource())


test_the_kingdee_channel_keeps_the_channel_contract = channel_contract_tests()
