"""Alerts of the configurable rules: each recorded with its event (`alert.<kind>`, which the
feed publishes on `{p}/alerts/{kind}`) in one transaction, and the facts the rules look at
that live in the store."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import msgspec

from gateway.domain.alerting import Firing, subject_key
from gateway.domain.model import alert_event
from gateway.store import events
from gateway.store.codec import iso, parse_iso
from gateway.store.db import Database, Tx

MQTT_CONSUMER = "mqtt"  # the publisher's position in the event log


async def record_alert(
    db: Database,
    kind: str,
    data: dict[str, Any],
    *,
    resolves: str | None,
    now: datetime,
) -> str:
    """Append the alert's event (its `alert_id` is the event's id) and store it as firing, or
    close the alert `resolves` names; returns the alert_id. `data` holds severity, message,
    subject and the rule's own fields."""

    def job(tx: Tx) -> str:
        event = alert_event(kind, data["severity"], data["message"], data["subject"])
        extra = {k: v for k, v in data.items() if k not in event.data}
        events.append(tx, now, [msgspec.structs.replace(event, data={**event.data, **extra})])
        seq = tx.fetchone("SELECT last_insert_rowid()")
        instance = tx.fetchone("SELECT value FROM meta WHERE key = 'instance_id'")
        assert seq is not None
        assert instance is not None
        alert_id = events.event_id(instance[0], seq[0])
        if resolves is None:
            tx.execute(
                "INSERT INTO alerts (alert_id, rule, subject, severity, message, value,"
                " fired_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    alert_id,
                    kind,
                    subject_key(data["subject"]),
                    data["severity"],
                    data["message"],
                    data.get("value"),
                    iso(now),
                ),
            )
        else:
            tx.execute(
                "UPDATE alerts SET resolved_at = ?, resolved_by = ? WHERE alert_id = ?",
                (iso(now), alert_id, resolves),
            )
        return alert_id

    return await db.write(job)


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
    """When the oldest event the MQTT publisher has not delivered yet was written."""
    row = await db.fetchone(
        "SELECT at FROM events WHERE seq > coalesce("
        " (SELECT seq FROM feed_positions WHERE consumer = ?), 0) ORDER BY seq LIMIT 1",
        (MQTT_CONSUMER,),
    )
    return parse_iso(row[0]) if row is not None else None


async def last_order_at(db: Database, channel: str) -> datetime | None:
    row = await db.fetchone(
        "SELECT received_at FROM orders WHERE channel = ? ORDER BY seq DESC LIMIT 1", (channel,)
    )
    return parse_iso(row[0]) if row is not None else None


async def stock_by_sku(db: Database) -> dict[str, int]:
    """Known stock per SKU, summed over the suppliers that carry it."""
    rows = await db.fetchall("SELECT sku, sum(max(stock, 0)) FROM catalog GROUP BY sku")
    return {r[0]: int(r[1]) for r in rows}
