"""Orders in: approved sales orders (``SAL_SaleOrder``, ``FDocumentStatus = 'C'``), read with
ExecuteBillQuery on a schedule, page by page, from a durable watermark.

The watermark is (watermark field, ``FID``) of the last order taken in, kept in the channel's
durable state once the gateway has stored the orders before it. Pages are read by key, not by
``StartRow``: each query asks for what comes after the watermark, sorted by it, so orders
approved while a page is read are neither skipped nor read twice. A page that is full may end
in the middle of an order's rows; that order is left for the next page. An order with more
rows than a page is read on its own with ``StartRow``.

Exactly once: an order is submitted before the watermark passes it, and submitting again
after a crash is answered as a duplicate (intake is idempotent on channel + external id).

The default watermark field is ``FApproveDate``, not ``FModifyDate``: K3Cloud's audit stamps
the approve date and leaves the modify date alone, so a bill saved before the watermark and
approved after it would be missed on the modify date.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from dropship_kingdee.client import KingdeeClient
from dropship_kingdee.mapping import (
    SalesOrderRows,
    describe_problem,
    field_keys,
    group_rows,
    to_intake,
)
from dropship_kingdee.options import KingdeeOptions
from dropship_kingdee.state import Watermark, load_watermark, save_watermark
from gateway.plugin_api import ChannelContext, PluginState

FORM = "SAL_SaleOrder"


@dataclass
class IntakeCounts:
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    pages: int = 0


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class SalesOrderIntake:
    def __init__(
        self,
        client: KingdeeClient,
        options: KingdeeOptions,
        state: PluginState,
        ctx: ChannelContext,
    ) -> None:
        self._client = client
        self._options = options
        self._state = state
        self._ctx = ctx
        self._keys = field_keys(options)
        self.counts = IntakeCounts()

    def _filter(self, mark: Watermark | None) -> str:
        parts = ["FDocumentStatus = 'C'"]
        if self._options.filter.strip():
            parts.append(f"({self._options.filter.strip()})")
        if mark is not None:
            field, value = self._options.watermark_field, _quote(mark.value)
            parts.append(f"({field} > {value} OR ({field} = {value} AND FID > {mark.fid}))")
        return " AND ".join(parts)

    def _order(self) -> str:
        return f"{self._options.watermark_field} ASC, FID ASC, {self._options.fields.line_id} ASC"

    async def take_new_orders(self) -> int:
        """Read and submit every approved order after the watermark; returns how many were
        read. Raises the client's errors (the caller waits and tries again)."""
        size = self._options.page_size
        read = 0
        while True:
            mark = await load_watermark(self._state)
            rows = await self._client.execute_bill_query(
                FORM, self._keys, self._filter(mark), self._order(), 0, size
            )
            self.counts.pages += 1
            if not rows:
                return read
            orders = group_rows(self._keys, rows)
            full = len(rows) >= size
            if full and len(orders) > 1:
                orders.pop()  # may be cut short: it starts the next page
            elif full:
                await self._read_rest_of(orders[0], size)
            await self._submit(orders)
            read += len(orders)
            last = orders[-1]
            await save_watermark(self._state, Watermark(last.watermark, last.fid))
            if not full:
                return read

    async def _read_rest_of(self, order: SalesOrderRows, size: int) -> None:
        """One order with more rows than a page: read its rows on their own."""
        start = len(order.rows)
        while True:
            rows = await self._client.execute_bill_query(
                FORM, self._keys, f"FID = {order.fid}", self._order(), start, size
            )
            for values in rows:
                order.rows.append(dict(zip(self._keys, values, strict=False)))
            start += len(rows)
            if len(rows) < size:
                return

    async def _submit(self, orders: list[SalesOrderRows]) -> None:
        bodies = [self._encode(to_intake(order, self._options)) for order in orders]
        results = await self._ctx.submit(bodies)
        for order, result in zip(orders, results, strict=True):
            bill_no = order.bill_no(self._options)
            if not result.accepted:
                self.counts.rejected += 1
                reasons = [
                    describe_problem(order, self._options, path, message)
                    for path, message in result.problems
                ]
                self._ctx.log.warning(
                    "kingdee.order_rejected", bill_no=bill_no, fid=order.fid, reasons=reasons
                )
            elif result.duplicate:
                self.counts.duplicates += 1
            else:
                self.counts.accepted += 1
        self._ctx.log.info(
            "kingdee.orders_taken",
            orders=len(orders),
            first=orders[0].bill_no(self._options),
            last=orders[-1].bill_no(self._options),
            accepted=self.counts.accepted,
            duplicates=self.counts.duplicates,
            rejected=self.counts.rejected,
        )

    @staticmethod
    def _encode(order: dict[str, Any]) -> bytes:
        return msgspec.json.encode(order)
