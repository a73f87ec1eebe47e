"""A fleet of simulated suppliers, run as a supervised gateway service (``supplier_fleet``).

The demo's suppliers: each ``[[services.options.suppliers]]`` table becomes one
`SupplierSimulator` on its own port, and the gateway's ``[[suppliers]]`` point their ``url`` at
them, so orders leave the gateway over real HTTP exactly as they would to a real supplier.

Options::

    gateway_url = "http://127.0.0.1:8080"   # where shipment notices go
    seed = 7                                  # optional; supplier i gets seed + i
    [[suppliers]]
    id = "sup-fast"
    port = 9101
    latency_ms = [20, 60]
    failure_rate = 0.01
    skus = ["SKU-1", "SKU-2"]
    stock = 100000
    ship_after_s = [2, 6]
    webhook_secret = "env:SUP_FAST_SECRET"    # or the secret itself
    api_token = "env:SUP_FAST_TOKEN"          # the gateway's supplier:sup-fast token, if any

The gateway's own config reads ``env:`` secrets; this service reads them the same way, so the
demo config names each secret once and both sides agree on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os

import msgspec

from dropship_simulator.supplier_server import DEFAULT_CARRIERS, SupplierSimulator
from gateway.plugin_api.adapters import ServiceContext


class SupplierOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: str
    host: str = "127.0.0.1"
    port: int = 0
    seed: int | None = None
    latency_ms: float | list[float] | None = None
    failure_rate: float = 0.0
    throttle_rate: float = 0.0
    retry_after_s: int = 1
    skus: list[str] | None = None
    stock: int | dict[str, int] | None = None
    regions: list[str] | None = None
    ship_after_s: float | list[float] | None = None
    webhook_secret: str | None = None
    api_token: str | None = None  # the gateway's supplier:<id> token for its notices
    carriers: list[str] | None = None
    gateway_url: str | None = None  # overrides the fleet's, for one supplier


class FleetOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    suppliers: list[SupplierOptions]
    gateway_url: str | None = None
    seed: int | None = None


class SupplierFleet:
    """Service ``supplier_fleet``: starts every simulator, runs until cancelled, stops them."""

    def __init__(self) -> None:
        self.simulators: dict[str, SupplierSimulator] = {}  # while running, for display
        self.ready = asyncio.Event()  # set once every simulator is serving

    async def run(self, ctx: ServiceContext) -> None:
        simulators = build_simulators(msgspec.convert(ctx.options, FleetOptions))
        # The exit stack is the `finally`: on cancellation (or a failed start) it stops every
        # simulator started so far, the last started first.
        async with contextlib.AsyncExitStack() as stack:
            stack.callback(self.simulators.clear)
            stack.callback(self.ready.clear)
            for simulator in simulators:
                await stack.enter_async_context(simulator)
                self.simulators[simulator.supplier_id] = simulator
            ctx.log.info(
                "supplier_fleet.running",
                suppliers={s.supplier_id: s.url for s in simulators},
            )
            self.ready.set()
            await asyncio.get_running_loop().create_future()  # until cancelled


def build_simulators(options: FleetOptions) -> list[SupplierSimulator]:
    """One unstarted simulator per supplier table; raises ValueError naming the bad key."""
    ids = [s.id for s in options.suppliers]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"suppliers: duplicate id {', '.join(duplicates)}")
    simulators: list[SupplierSimulator] = []
    for index, supplier in enumerate(options.suppliers):
        seed = supplier.seed
        if seed is None and options.seed is not None:
            seed = options.seed + index
        secret = _secret(supplier.webhook_secret, f"suppliers[{index}].webhook_secret")
        try:
            simulator = SupplierSimulator(
                supplier.id,
                host=supplier.host,
                port=supplier.port,
                seed=seed,
                latency_ms=supplier.latency_ms,
                failure_rate=supplier.failure_rate,
                throttle_rate=supplier.throttle_rate,
                retry_after_s=supplier.retry_after_s,
                skus=supplier.skus,
                stock=supplier.stock,
                regions=supplier.regions,
                ship_after_s=supplier.ship_after_s,
                gateway_url=supplier.gateway_url or options.gateway_url,
                webhook_secret=secret,
                api_token=_secret(supplier.api_token, f"suppliers[{index}].api_token"),
                carriers=supplier.carriers or DEFAULT_CARRIERS,
            )
        except ValueError as error:
            raise ValueError(f"suppliers[{index}]: {error}") from None
        simulators.append(simulator)
    return simulators


def _secret(value: str | None, path: str) -> str | None:
    if value is None or not value.startswith("env:"):
        return value
    name = value.removeprefix("env:")
    secret = os.environ.get(name)
    if secret is None:
        raise ValueError(f"{path}: environment variable {name} is not set")
    return secret
