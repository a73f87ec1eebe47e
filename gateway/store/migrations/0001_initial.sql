-- Orders as accepted. `doc` is the msgspec-encoded canonical Order (with its personal data,
-- which suppliers need); the columns beside it are what queries filter on.
CREATE TABLE orders (
    seq         INTEGER PRIMARY KEY,
    order_id    TEXT NOT NULL UNIQUE,
    channel     TEXT NOT NULL,
    external_id TEXT NOT NULL,
    status      TEXT NOT NULL,
    hold_reason TEXT,
    hold_detail TEXT,
    created_at  TEXT NOT NULL,
    received_at TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    doc         BLOB NOT NULL,
    UNIQUE (channel, external_id)
);
CREATE INDEX orders_by_status ON orders (status, seq);
CREATE INDEX orders_by_channel ON orders (channel, seq);
CREATE INDEX orders_by_update ON orders (updated_at);

-- One row per purchase order; `lines` is a JSON list of PoLine (quantities per line).
CREATE TABLE purchase_orders (
    po_id        TEXT PRIMARY KEY,
    order_id     TEXT NOT NULL REFERENCES orders (order_id),
    supplier_id  TEXT NOT NULL,
    status       TEXT NOT NULL,
    supplier_ref TEXT,
    reason       TEXT,
    message      TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    lines        BLOB NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX purchase_orders_by_order ON purchase_orders (order_id);
CREATE INDEX purchase_orders_by_supplier ON purchase_orders (supplier_id, status);

CREATE TABLE shipments (
    shipment_id     TEXT PRIMARY KEY,
    po_id           TEXT NOT NULL REFERENCES purchase_orders (po_id),
    carrier         TEXT NOT NULL,
    tracking_number TEXT NOT NULL,
    shipped_at      TEXT NOT NULL,
    lines           BLOB NOT NULL,
    received_at     TEXT NOT NULL,
    UNIQUE (po_id, carrier, tracking_number)
);

-- The audit trail: every status change, in order.
CREATE TABLE events (
    seq         INTEGER PRIMARY KEY,
    event_id    TEXT NOT NULL UNIQUE,
    type        TEXT NOT NULL,
    at          TEXT NOT NULL,
    order_id    TEXT,
    po_id       TEXT,
    supplier_id TEXT,
    data        BLOB NOT NULL
);
CREATE INDEX events_by_order ON events (order_id, seq);

-- What the MQTT publisher still has to deliver. A row leaves only after the broker's PUBACK.
-- `topic` is relative to mqtt.topic_prefix, so a changed prefix applies to waiting rows too.
CREATE TABLE outbox (
    id         INTEGER PRIMARY KEY,
    topic      TEXT NOT NULL,
    payload    BLOB NOT NULL,
    retain     INTEGER NOT NULL,
    created_at TEXT NOT NULL
);

-- Known stock per supplier and SKU. `stock` counts down as routing reserves units;
-- `configured_stock` remembers the config's figure so a changed figure resets the count.
CREATE TABLE catalog (
    sku              TEXT NOT NULL,
    supplier_id      TEXT NOT NULL,
    cost             TEXT NOT NULL,
    priority         INTEGER NOT NULL,
    stock            INTEGER NOT NULL,
    configured_stock INTEGER NOT NULL,
    PRIMARY KEY (sku, supplier_id)
) WITHOUT ROWID;
