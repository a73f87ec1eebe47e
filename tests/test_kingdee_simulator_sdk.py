"""Kingdee's own Python SDK (`kingdee-cdp-webapi-sdk` 8.x) against the simulated K3Cloud: the
simulator is written from Kingdee's documentation and the SDK's behaviour, not from our client,
so the SDK working against it is what keeps the two honest."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from k3cloud_webapi_sdk.main import K3CloudApiSdk

from dropship_simulator.kingdee import KingdeeSimulator
from tests.kingdee_fixtures import ACCT_ID, APP_ID, APP_SECRET, RECEIVER, USER, simulator


@pytest.fixture
async def sim() -> AsyncIterator[KingdeeSimulator]:
    async with simulator() as running:
        yield running


def sdk_for(sim: KingdeeSimulator, app_secret: str = APP_SECRET) -> K3CloudApiSdk:
    api = K3CloudApiSdk(sim.url, timeout=10)
    api.InitConfig(ACCT_ID, USER, APP_ID, app_secret, sim.url, lcid=2052, org_num=0)
    return api


def status_of(answer: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(answer)["Result"]["ResponseStatus"]
    return result


async def test_the_sdk_queries_saves_submits_audits_views_and_pushes(sim: KingdeeSimulator) -> None:
    order = sim.create_sales_order(
        customer="CUST-01", lines=[("TEA-001", 2, 19.9), ("CUP-002", 1, 9.5)], fields=RECEIVER
    )

    def conversation() -> dict[str, Any]:
        api = sdk_for(sim)
        seen: dict[str, Any] = {}
        seen["rows"] = json.loads(
            api.ExecuteBillQuery(
                {
                    "FormId": "SAL_SaleOrder",
                    "FieldKeys": "FID,FBillNo,FSaleOrderEntry_FEntryID,FMaterialId.FNumber,FQty",
                    "FilterString": "FDocumentStatus = 'C' and FMaterialId.FNumber like 'TEA%'",
                    "OrderString": "FID ASC",
                    "StartRow": 0,
                    "Limit": 100,
                }
            )
        )
        model = {
            "FBillTypeID": {"FNUMBER": "CGDD01_SYS"},
            "FSupplierId": {"FNumber": "VEN-A"},
            "FPurchaseOrgId": {"FNumber": "100"},
            "FPOOrderEntry": [{"FMaterialId": {"FNumber": "TEA-001"}, "FQty": 2}],
        }
        saved = json.loads(api.Save("PUR_PurchaseOrder", {"Model": model}))["Result"]
        seen["saved"] = saved
        number = saved["Number"]
        seen["audit_before_submit"] = status_of(
            api.Audit("PUR_PurchaseOrder", {"Numbers": [number]})
        )
        seen["submit"] = status_of(api.Submit("PUR_PurchaseOrder", {"Numbers": [number]}))
        seen["audit"] = status_of(api.Audit("PUR_PurchaseOrder", {"Numbers": [number]}))
        seen["view"] = json.loads(api.View("PUR_PurchaseOrder", {"Number": number}))["Result"]
        seen["push"] = status_of(
            api.Push("SAL_SaleOrder", {"Numbers": [order.number], "TargetFormId": "SAL_OUTSTOCK"})
        )
        seen["push_again"] = status_of(
            api.Push("SAL_SaleOrder", {"Numbers": [order.number], "TargetFormId": "SAL_OUTSTOCK"})
        )
        return seen

    seen = await asyncio.to_thread(conversation)

    entry_id = order.entries[0]["fentryid"]
    assert seen["rows"] == [[order.fid, order.number, entry_id, "TEA-001", 2]]
    assert seen["saved"]["ResponseStatus"]["IsSuccess"] is True
    assert seen["saved"]["Number"].startswith("CGDD")
    # Audit needs a submitted bill: refused with K3Cloud's envelope, not an HTTP error.
    assert seen["audit_before_submit"]["IsSuccess"] is False
    assert seen["audit_before_submit"]["Errors"][0]["Message"]
    assert seen["submit"]["IsSuccess"] is True
    assert seen["audit"]["SuccessEntitys"][0]["Number"] == seen["saved"]["Number"]
    assert seen["view"]["ResponseStatus"] is None
    assert seen["view"]["Result"]["DocumentStatus"] == "C"
    assert seen["view"]["Result"]["SupplierId"] == {"Number": "VEN-A"}
    pushed = seen["push"]["SuccessEntitys"][0]["Number"]
    assert pushed.startswith("XSCKD")
    outstock = sim.find("SAL_OUTSTOCK", pushed)
    assert outstock is not None
    assert [e["frealqty"] for e in outstock.entries] == [2.0, 1.0]
    assert {e["fsrcbillno"] for e in outstock.entries} == {order.number}
    # Everything is already pushed: a second push has nothing left.
    assert seen["push_again"]["IsSuccess"] is False


async def test_push_refuses_a_sales_order_that_is_not_audited(sim: KingdeeSimulator) -> None:
    draft = sim.create_sales_order(customer="C", lines=[("TEA-001", 1, 1.0)], approve=False)

    def push() -> dict[str, Any]:
        return status_of(
            sdk_for(sim).Push(
                "SAL_SaleOrder", {"Numbers": [draft.number], "TargetFormId": "SAL_OUTSTOCK"}
            )
        )

    status = await asyncio.to_thread(push)
    assert status["IsSuccess"] is False
    assert "未审核" in status["Errors"][0]["Message"]
    assert sim.bills("SAL_OUTSTOCK") == []


async def test_a_wrong_app_secret_is_refused_and_a_bad_query_answers_the_wrapped_envelope(
    sim: KingdeeSimulator,
) -> None:
    def calls() -> tuple[Any, Any]:
        refused = json.loads(
            sdk_for(sim, app_secret="not-the-secret").ExecuteBillQuery(
                {"FormId": "SAL_SaleOrder", "FieldKeys": "FBillNo"}
            )
        )
        bad_field = json.loads(
            sdk_for(sim).ExecuteBillQuery({"FormId": "SAL_SaleOrder", "FieldKeys": "FNoSuchField"})
        )
        return refused, bad_field

    refused, bad_field = await asyncio.to_thread(calls)
    assert refused[0][0]["Result"]["ResponseStatus"]["MsgCode"] == 1
    assert "X-Kd-Signature" in refused[0][0]["Result"]["ResponseStatus"]["Errors"][0]["Message"]
    error = bad_field[0][0]["Result"]["ResponseStatus"]
    assert error["IsSuccess"] is False
    assert "FNoSuchField" in error["Errors"][0]["Message"]


async def test_paging_with_start_row_and_limit(sim: KingdeeSimulator) -> None:
    made = [sim.create_sales_order(customer="C", lines=[("TEA-001", 1, 1.0)]) for _ in range(7)]

    def pages() -> list[list[Any]]:
        api = sdk_for(sim)
        out = []
        for start in (0, 3, 6, 9):
            out.append(
                json.loads(
                    api.ExecuteBillQuery(
                        {
                            "FormId": "SAL_SaleOrder",
                            "FieldKeys": "FBillNo",
                            "OrderString": "FBillNo DESC",
                            "StartRow": start,
                            "Limit": 3,
                        }
                    )
                )
            )
        return out

    got = await asyncio.to_thread(pages)
    numbers = [b.number for b in reversed(made)]
    assert got == [[[n] for n in numbers[0:3]], [[n] for n in numbers[3:6]], [[numbers[6]]], []]
