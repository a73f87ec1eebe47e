"""The K3Cloud client against the simulated K3Cloud over real HTTP: the three ways to log in,
sessions that expire, call limits, K3Cloud's error envelope and a server that is down."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from dropship_kingdee import KingdeeClient, parse_options
from dropship_kingdee.errors import KingdeeAuthFailed, KingdeeBusinessError, KingdeeUnavailable
from dropship_simulator.kingdee import KingdeeSimulator
from gateway.infra.clock import SystemClock
from tests.kingdee_fixtures import channel_options, simulator

QUERY = ("SAL_SaleOrder", ["FID", "FBillNo", "FQty"], "FDocumentStatus = 'C'", "FID ASC")


@pytest.fixture
async def sim() -> AsyncIterator[KingdeeSimulator]:
    async with simulator() as running:
        running.create_sales_order(customer="C", lines=[("TEA-001", 3, 10.0)])
        yield running


def client_for(sim: KingdeeSimulator, auth: str = "signature", **extra: object) -> KingdeeClient:
    return KingdeeClient(parse_options(channel_options(sim, auth, **extra)), SystemClock())


@pytest.mark.parametrize("auth", ["signature", "app_secret", "password"])
async def test_each_way_of_logging_in_reads_approved_orders(
    sim: KingdeeSimulator, auth: str
) -> None:
    async with client_for(sim, auth) as client:
        rows = await client.execute_bill_query(*QUERY)
    bill = sim.bills("SAL_SaleOrder")[0]
    assert rows == [[bill.fid, bill.number, 3]]
    assert sim.logins == (0 if auth == "signature" else 1)


@pytest.mark.parametrize("auth", ["app_secret", "password"])
async def test_wrong_credentials_are_an_auth_failure_naming_the_login(
    sim: KingdeeSimulator, auth: str
) -> None:
    wrong = {"app_secret": "wrong"} if auth == "app_secret" else {"password": "wrong"}
    async with client_for(sim, auth, **wrong) as client:
        with pytest.raises(KingdeeAuthFailed, match=r"LoginByAppSecret|ValidateUser"):
            await client.execute_bill_query(*QUERY)


async def test_a_lost_session_means_one_new_login_however_many_calls_wait(
    sim: KingdeeSimulator,
) -> None:
    async with client_for(sim, "app_secret") as client:
        await client.execute_bill_query(*QUERY)
        assert sim.logins == 1
        sim.expire_sessions()
        results = await asyncio.gather(*(client.execute_bill_query(*QUERY) for _ in range(10)))
    assert all(len(rows) == 1 for rows in results)
    assert sim.logins == 2


async def test_a_signed_client_carries_on_when_its_session_expires(sim: KingdeeSimulator) -> None:
    async with client_for(sim) as client:
        await client.execute_bill_query(*QUERY)
        assert len(sim.sessions) == 1
        sim.expire_sessions()
        rows = await client.execute_bill_query(*QUERY)
    assert len(rows) == 1
    assert len(sim.sessions) == 1


async def test_a_call_limit_is_waited_out(sim: KingdeeSimulator) -> None:
    sim.limit_next(3)
    async with client_for(sim) as client:
        rows = await client.execute_bill_query(*QUERY)
    assert len(rows) == 1
    assert sim.refused_for_limit == 3


async def test_a_call_limit_that_lasts_pauses_every_call(sim: KingdeeSimulator) -> None:
    sim.call_limit = 2
    sim.call_window_s = 0.3
    async with client_for(sim) as client:
        results = await asyncio.gather(*(client.execute_bill_query(*QUERY) for _ in range(6)))
    assert all(len(rows) == 1 for rows in results)
    assert sim.refused_for_limit >= 1


async def test_a_business_error_carries_kingdees_field_and_message(sim: KingdeeSimulator) -> None:
    model = {
        "FSupplierId": {"FNumber": "NO-SUCH-VENDOR"},
        "FPOOrderEntry": [{"FMaterialId": {"FNumber": "TEA-001"}, "FQty": 1}],
    }
    async with client_for(sim) as client:
        with pytest.raises(KingdeeBusinessError) as caught:
            await client.save("PUR_PurchaseOrder", model)
    assert caught.value.errors[0].field_name == "FSupplierId"
    assert "NO-SUCH-VENDOR" in caught.value.message
    assert sim.bills("PUR_PurchaseOrder") == []


async def test_a_query_refused_inside_the_double_array_is_an_error_not_a_row(
    sim: KingdeeSimulator,
) -> None:
    async with client_for(sim) as client:
        with pytest.raises(KingdeeBusinessError, match="FNoSuchField"):
            await client.execute_bill_query("SAL_SaleOrder", ["FNoSuchField"])


async def test_a_server_that_is_down_is_unavailable_until_it_is_back(
    sim: KingdeeSimulator,
) -> None:
    async with client_for(sim) as client:
        sim.down = True
        with pytest.raises(KingdeeUnavailable, match="HTTP 503"):
            await client.execute_bill_query(*QUERY)
        sim.down = False
        assert len(await client.execute_bill_query(*QUERY)) == 1


async def test_save_submit_audit_moves_a_purchase_order_to_audited(sim: KingdeeSimulator) -> None:
    model = {
        "FSupplierId": {"FNumber": "VEN-A"},
        "FPOOrderEntry": [{"FMaterialId": {"FNumber": "TEA-001"}, "FQty": 1}],
    }
    async with client_for(sim) as client:
        saved = await client.save("PUR_PurchaseOrder", model)
        with pytest.raises(KingdeeBusinessError):
            await client.audit("PUR_PurchaseOrder", saved.number)  # not submitted yet
        await client.submit("PUR_PurchaseOrder", saved.number)
        await client.audit("PUR_PurchaseOrder", saved.number)
    bill = sim.find("PUR_PurchaseOrder", saved.number)
    assert bill is not None
    assert bill.status == "C"
