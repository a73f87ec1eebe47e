"""The dashboard in a real browser: Debian's Chromium, headless, driven by Playwright, against a
gateway running in this test with a simulated supplier and a real Mosquitto. Screenshots of
each step are saved under the test's tmp dir (`screenshots/`)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from dropship_simulator.supplier_server import SupplierSimulator
from gateway.app.runtime import Gateway
from gateway.domain.access import new_token
from tests.conftest import WriteConfig, base_config, start_gateway
from tests.harness import Mosquitto, order_json

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
TOKENS = {"viewer": new_token(), "operator": new_token()}
pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None, reason="needs Debian's chromium (.ci/run installs it)"
)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def supplier() -> AsyncIterator[SupplierSimulator]:
    sim = SupplierSimulator("sup-a", seed=1, latency_ms=[1, 5])
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


@pytest.fixture
async def gateway(
    tmp_path: Path, broker: Mosquitto, write_config: WriteConfig, supplier: SupplierSimulator
) -> AsyncIterator[Gateway]:
    config = base_config(
        tmp_path,
        broker,
        suppliers=[
            {
                "id": "sup-a",
                "name": "Supplier A",
                "url": supplier.url,
                "regions": ["CN"],
                "retry_base_s": 0.05,
            }
        ],
        catalog=[{"sku": "SKU-1", "supplier": "sup-a", "cost": "9.90", "stock": 100000}],
        auth={
            "tokens": [
                {"name": f"{role}-user", "role": role, "token": token}
                for role, token in TOKENS.items()
            ]
        },
    )
    running = await start_gateway(write_config(config))
    try:
        yield running
    finally:
        await running.stop()


async def log_in(page: Page, role: str) -> None:
    await page.fill("#token", TOKENS[role])
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#tabs")).to_be_visible()


class Shots:
    """Saves a numbered screenshot of each step."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0
        folder.mkdir(parents=True, exist_ok=True)

    async def take(self, page: Page, name: str) -> None:
        self.count += 1
        await page.screenshot(
            path=str(self.folder / f"{self.count:02d}-{name}.png"), full_page=True
        )


async def post_orders(
    http: aiohttp.ClientSession, base: str, prefix: str, count: int, sku: str = "SKU-1"
) -> list[str]:
    body = {"orders": [order_json(f"{prefix}-{i}", [(sku, 1)]) for i in range(count)]}
    headers = {"Authorization": f"Bearer {TOKENS['operator']}"}
    async with http.post(f"{base}/api/v1/orders", json=body, headers=headers) as response:
        answer: dict[str, Any] = await response.json()
        assert response.status == 202, answer
    return [a["order_id"] for a in answer["accepted"]]


async def test_the_dashboard_shows_orders_flowing_suppliers_kpis_and_masked_orders(
    browser: Browser, gateway: Gateway, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    shots = Shots(tmp_path / "screenshots")
    page = await browser.new_page(locale="en-GB", viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(f"{gateway.http_url}/")
    await expect(page.locator("#login")).to_be_visible()
    await page.fill("#token", "dgw_not-a-token-of-this-gateway")
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#login-error")).to_contain_text("not valid")
    await shots.take(page, "login")
    await log_in(page, "operator")
    await expect(page.locator("#who")).to_have_text("operator-user · operator")
    await expect(page.locator("#orders-total")).to_have_text("0")
    await expect(page.locator("#supplier-table tbody tr[data-supplier=sup-a]")).to_be_visible()
    await shots.take(page, "empty")

    # Counts change as orders flow, pushed by the live stream (no reload).
    await post_orders(http, gateway.http_url, "A", 5)
    await expect(page.locator("#orders-total")).to_have_text("5", timeout=15000)
    await post_orders(http, gateway.http_url, "B", 7)
    await expect(page.locator("#orders-total")).to_have_text("12", timeout=15000)
    await expect(page.locator("#last-minute")).to_have_text("12")
    # The supplier took them all: its share of volume is 100 %.
    row = page.locator("#supplier-table tbody tr[data-supplier=sup-a]")
    await expect(row.locator("td").nth(7)).to_have_text("100.0%", timeout=15000)
    await shots.take(page, "orders-flowing")

    # Chinese labels.
    await page.click("#lang")
    await expect(page.locator("#tabs button[data-tab=exceptions]")).to_have_text("异常订单")
    await expect(page.locator("h1")).to_have_text("一件代发网关")
    await shots.take(page, "chinese")
    await page.click("#lang")

    # KPI charts.
    await page.click("#tabs button[data-tab=kpis]")
    await expect(page.locator("#kpi-total")).to_have_text("12", timeout=15000)
    await expect(page.locator("#per-day div")).to_have_count(1)
    await shots.take(page, "kpis")

    # Order search with the full timeline, personal data masked.
    [order_id] = await post_orders(http, gateway.http_url, "C", 1)
    await page.click("#tabs button[data-tab=orders]")
    await page.fill("#search-id", order_id)
    await page.click("#search-form button[type=submit]")
    detail = page.locator("#order-detail")
    await expect(detail.locator("h2").first).to_contain_text(order_id)
    await expect(detail.locator("#timeline")).to_contain_text("order.received")
    ship_to = await detail.locator("#ship-to").inner_text()
    assert "138****5678" in ship_to
    assert "张*" in ship_to
    assert "13812345678" not in await page.content()
    await shots.take(page, "order-detail")
    # An operator may read the full address (to correct it); the read is audited.
    await page.click("#show-address")
    await expect(detail.locator("#ship-to")).to_contain_text("文三路 100 号")
    await expect(detail.locator("#ship-to")).to_contain_text("13812345678")
    assert errors == []


async def test_a_viewer_sees_personal_data_masked_and_no_actions(
    browser: Browser, gateway: Gateway, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    shots = Shots(tmp_path / "screenshots")
    [order_id] = await post_orders(http, gateway.http_url, "V", 1)
    [held_id] = await post_orders(http, gateway.http_url, "H", 1, sku="SKU-NOBODY-HAS")
    page = await browser.new_page(locale="zh-CN", viewport={"width": 1280, "height": 900})
    await page.goto(f"{gateway.http_url}/#orders")
    await log_in(page, "viewer")
    await expect(page.locator("#who")).to_have_text("viewer-user · viewer")
    await page.fill("#search-id", order_id)
    await page.click("#search-form button[type=submit]")
    detail = page.locator("#order-detail")
    await expect(detail.locator("#timeline")).to_contain_text("order.received")
    ship_to = await detail.locator("#ship-to").inner_text()
    assert "138****5678" in ship_to
    assert "张*" in ship_to
    await expect(page.locator("#show-address")).to_have_count(0)
    content = await page.content()
    for personal in ("13812345678", "张三", "文三路"):
        assert personal not in content
    await shots.take(page, "viewer-order")
    # The exception queue shows the held order and its reason, without action buttons.
    await page.click("#tabs button[data-tab=exceptions]")
    row = page.locator(f"#exception-table tr[data-order-id={held_id}]")
    await expect(row).to_contain_text("no_route")
    await expect(row.locator("button")).to_have_count(0)
    await shots.take(page, "viewer-exceptions")


async def test_the_page_needs_nothing_from_outside_the_gateway(
    browser: Browser, gateway: Gateway
) -> None:
    page = await browser.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    await page.goto(f"{gateway.http_url}/")
    await log_in(page, "viewer")
    await expect(page.locator("#orders-total")).not_to_have_text("–")
    assert requested, "the page made no request at all"
    assert all(url.startswith(gateway.http_url) for url in requested), requested


async def test_an_operator_resolves_an_exception_by_clicking(
    browser: Browser, gateway: Gateway, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    shots = Shots(tmp_path / "screenshots")
    [held_id] = await post_orders(http, gateway.http_url, "X", 1, sku="SKU-NOBODY-HAS")
    page = await browser.new_page(locale="en-GB", viewport={"width": 1280, "height": 800})
    page.on("dialog", lambda dialog: dialog.accept())  # "Cancel order ...?"
    await page.goto(f"{gateway.http_url}/#exceptions")
    await log_in(page, "operator")
    row = page.locator(f"#exception-table tr[data-order-id={held_id}]")
    await expect(row).to_contain_text("no_route")
    await expect(page.locator("#on-hold")).to_have_text("1")
    await shots.take(page, "exception-queue")
    await row.locator("button[data-action=cancel]").click()
    await expect(page.locator("#exception-message")).to_contain_text(f"done for {held_id}")
    await expect(row).to_have_count(0)
    await expect(page.locator("#no-exceptions")).to_be_visible()
    await shots.take(page, "exception-resolved")
    async with http.get(
        f"{gateway.http_url}/api/v1/orders/{held_id}",
        headers={"Authorization": f"Bearer {TOKENS['viewer']}"},
    ) as response:
        order = await response.json()
    assert order["status"] == "cancelled"
