-- The event log becomes the outbox: consumers (the MQTT publisher, each channel's write-back)
-- follow `events` by its sequence from a durable position, so nothing is copied to a second
-- table and nothing is deleted. Event ids are derived from the sequence (`evt_<instance>_<seq>`),
-- which saves a random-key unique index on every insert.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('instance_id', lower(hex(randomblob(4))));

CREATE TABLE events_v2 (
    seq         INTEGER PRIMARY KEY,  -- never reused: rows are only ever appended
    type        TEXT NOT NULL,
    at          TEXT NOT NULL,
    order_id    TEXT,
    po_id       TEXT,
    supplier_id TEXT,
    data        BLOB NOT NULL
);
INSERT INTO events_v2 (seq, type, at, order_id, po_id, supplier_id, data)
    SELECT seq, type, at, order_id, po_id, supplier_id, data FROM events;

-- Where each consumer of the log has got to: it moves only once the consumer is done with
-- everything up to `seq` (for MQTT: after the broker's PUBACK).
CREATE TABLE feed_positions (
    consumer TEXT PRIMARY KEY,
    seq      INTEGER NOT NULL
) WITHOUT ROWID;
-- What the old outbox still held is published again from the oldest event it may have carried:
-- at least once, as before.
INSERT INTO feed_positions (consumer, seq) VALUES ('mqtt', coalesce(
    (SELECT min(seq) - 1 FROM events WHERE at >= (SELECT min(created_at) FROM outbox)),
    (SELECT max(seq) FROM events),
    0));

DROP TABLE events;
DROP TABLE outbox;
ALTER TABLE events_v2 RENAME TO events;
CREATE INDEX events_by_order ON events (order_id, seq) WHERE order_id IS NOT NULL;

-- Small durable values of a plugin instance (PluginState): watermarks, cursors, file names.
CREATE TABLE plugin_state (
    scope      TEXT NOT NULL,  -- 'channel:<id>' or 'supplier:<id>'
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;

-- Attempts that failed because the adapter itself raised (a bug, an answer it cannot read):
-- after a bounded number the PO is failed, so a poison PO is never retried forever.
ALTER TABLE purchase_orders ADD COLUMN adapter_errors INTEGER NOT NULL DEFAULT 0;

-- A cancelled PO the supplier may hold: 'requested' until the supplier confirmed the cancel.
ALTER TABLE purchase_orders ADD COLUMN supplier_cancel TEXT;
CREATE INDEX purchase_orders_to_cancel ON purchase_orders (supplier_id)
    WHERE supplier_cancel = 'requested';
