"""Alerts of the configurable rules: recorded with their MQTT message in one transaction, and
the facts the rules look at that live in the store."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from gateway.domain.alerting import Firing, subject_key
from gateway.store.codec import encode, iso, parse_iso
from gateway.store.db import Database, Tx
from gateway.store.feed import alert_topic, enqueue


async def record_alert(
    db: Database, payload: dict[str, Any], *, resolves: str | None, now: datetime
) -> None:
    """Store a firing alert (or close the one `resolves` names) and queue the message for
    `{p}/alerts/{kind}` in the same transaction."""

    async def job(tx: Tx) -> None:
        if resolves is None:
            await tx.execute(
                "INSERT INTO alerts (alert_id, rule, subject, severity, message, value,"
                " fired_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    payload["alert_id"],
                    payload["kind"],
                    subject_key(payload["subject"]),
                    payload["severity"],
                    payload["message"],
                    payload.get("value"),
                    iso(now),
                ),
            )
        else:
            await tx.execute(
                "UPDATE alerts SET resolved_at = ?, resolved_by = ? WHERE alert_id = ?",
                (iso(now), payload["alert_id"], resolves),
            )
        await enqueue(tx, alert_topic(payload["kind"]), encode(payload), retain=False, now=now)

    await db.write(job)


async def open_alerts(db: Database) -> list[Firing]:
    rows = await db.fetchall(
        "SELECT alert_id, rule, subject, severity, message, value, fired_at FROM alerts"
        " WHERE resolved_at IS NULL ORDER BY fired_at"
    )
    return [
        Firing(
            alert_id=r["alert_id"],
            rule=r["rule"],
            subject=json.loads(r["subject"]),
            severity=r["severity"],
            message=r["message"],
            value=r["value"],
            fired_at=parse_iso(r["fired_at"]),
        )
        for r in rows
    ]


async def recent_alerts(db: Database, limit: int = 50) -> list[dict[str, Any]]:
    """The latest alerts, open ones first (the dashboard's list)."""
    rows = await db.fetchall(
        "SELECT alert_id, rule, subject, severity, message, value, fired_at, resolved_at"
        " FROM alerts ORDER BY resolved_at IS NOT NULL, fired_at DESC LIMIT ?",
        (limit,),
    )
    return [
        {
            "alert_id": r["alert_id"],
            "kind": r["rule"],
            "subject": json.loads(r["subject"]),
            "severity": r["severity"],
            "message": r["message"],
            "value": r["value"],
            "fired_at": r["fired_at"],
            "resolved_at": r["resolved_at"],
        }
        for r in rows
    ]


async def orders_on_hold(db: Database) -> int:
    row = await db.fetchone("SELECT n FROM kpi_status_counts WHERE status = 'on_hold'")
    return int(row[0]) if row is not None else 0


async def oldest_unpublished_at(db: Database) -> datetime | None:
    """When the oldest message still waiting for the MQTT broker was queued."""
    row = await db.fetchone("SELECT created_at FROM outbox ORDER BY id LIMIT 1")
    return parse_iso(row[0]) if row is not None and row[0] else None


async def last_order_at(db: Database, channel: str) -> datetime | None:
    row = await db.fetchone(
        "SELECT received_at FROM orders WHERE channel = ? ORDER BY seq DESC LIMIT 1", (channel,)
    )
    return parse_iso(row[0]) if row is not None else None


async def stock_by_sku(db: Database) -> dict[str, int]:
    """Known stock per SKU, summed over the suppliers that carry it."""
    rows = await db.fetchall("SELECT sku, sum(max(stock, 0)) FROM catalog GROUP BY sku")
    return {r[0]: int(r[1]) for r in rows}
