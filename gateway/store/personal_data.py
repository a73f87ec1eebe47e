"""An order's full ship-to address, unmasked, for the operators who must correct it (issue 9).
Every other read of an order masks it (`gateway.store.queries`)."""

from __future__ import annotations

from typing import Any

import msgspec

from gateway.store.codec import order_decoder
from gateway.store.db import Database


async def get_ship_to(db: Database, order_id: str) -> dict[str, Any] | None:
    row = await db.fetchone("SELECT doc FROM orders WHERE order_id = ?", (order_id,))
    if row is None:
        return None
    address: dict[str, Any] = msgspec.to_builtins(order_decoder.decode(row["doc"]).ship_to)
    return address
