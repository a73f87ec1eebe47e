"""Shared set-up of the Kingdee tests: a simulated K3Cloud account with a user, a third-party
app and base data, and the channel options that reach it."""

from __future__ import annotations

from typing import Any

from dropship_simulator.kingdee import KingdeeSimulator, scramble_client_secret

ACCT_ID = "6565a0b1c2d3e4"
USER = "dropship"
PASSWORD = "Kd#2026pass"
CLIENT_SECRET = "c2ltdWxhdGVkLWNsaWVudC1zZWNyZXQx"  # 24 bytes as 32 Base64 characters
APP_ID = f"312345_{scramble_client_secret(CLIENT_SECRET)}"
APP_SECRET = "9f1c2e7a4b6d48e0a3c5b7d9e1f30a2c"
SUPPLIERS = ["VEN-A", "VEN-B", "VEN-C"]
CARRIERS = ["SF", "ZTO", "YTO", "JD", "EMS"]

RECEIVER = {
    "FLinkMan": "张三",
    "FLinkPhone": "13812345678",
    "F_PAEZ_Province": "浙江省",
    "F_PAEZ_City": "杭州市",
    "F_PAEZ_District": "西湖区",
    "FReceiveAddress": "文三路 100 号 3 幢 201 室",
}


def simulator(**kwargs: Any) -> KingdeeSimulator:
    sim = KingdeeSimulator(
        acct_id=ACCT_ID, users={USER: PASSWORD}, apps={APP_ID: APP_SECRET}, **kwargs
    )
    sim.add_base_data("supplier", SUPPLIERS)
    sim.add_base_data("carrier", CARRIERS)
    return sim


def channel_options(sim: KingdeeSimulator, auth: str = "signature", **extra: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "url": sim.url,
        "acct_id": ACCT_ID,
        "user_name": USER,
        "auth": auth,
        "poll_interval_s": 0.2,
        "retry_base_s": 0.05,
        "retry_max_s": 0.5,
        "call_limit_backoff_s": 0.05,
        "call_limit_backoff_max_s": 0.5,
        "timeout_s": 10,
    }
    if auth in ("signature", "app_secret"):
        options.update(app_id=APP_ID, app_secret=APP_SECRET)
    else:
        options["password"] = PASSWORD
    options.update(extra)
    return options
