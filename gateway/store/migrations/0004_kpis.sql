-- KPI rollups behind GET /api/v1/kpis and the dashboard, kept by triggers on the tables the
-- write path already updates. The KPIs need a handful of narrow, indexed rows per order instead
-- of scanning the events of a million orders, and the write path needs no KPI code of its own.
-- Timestamps are the fixed-width UTC text of store/codec.py `iso`; durations are seconds.

-- One row per order: when it was received and how long it took to reach dispatched (its first
-- move to `dispatched` or any later status) and shipped (every line shipped), and the first
-- exception (hold reason) it ever had.
CREATE TABLE kpi_orders (
    order_id    TEXT PRIMARY KEY,
    channel     TEXT NOT NULL,
    received_at TEXT NOT NULL,
    dispatch_s  REAL,
    ship_s      REAL,
    exception   TEXT
) WITHOUT ROWID;
-- Covering: every order-level KPI of a time range is read from this index alone.
CREATE INDEX kpi_orders_by_received
    ON kpi_orders (received_at, channel, dispatch_s, ship_s, exception);

-- One row per purchase order: its supplier, its order's receipt, the seconds from that receipt
-- until the PO was fully shipped, and how it ended (NULL while open).
CREATE TABLE kpi_pos (
    po_id       TEXT PRIMARY KEY,
    order_id    TEXT NOT NULL,
    supplier_id TEXT NOT NULL,
    received_at TEXT NOT NULL,
    ship_s      REAL,
    outcome     TEXT
) WITHOUT ROWID;
CREATE INDEX kpi_pos_by_received ON kpi_pos (received_at, supplier_id, ship_s, outcome);
CREATE INDEX kpi_pos_by_supplier ON kpi_pos (supplier_id, received_at, order_id);

-- Ordered units per SKU, UTC day and channel.
CREATE TABLE kpi_sku_daily (
    sku      TEXT NOT NULL,
    day      TEXT NOT NULL,
    channel  TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    orders   INTEGER NOT NULL,
    PRIMARY KEY (sku, day, channel)
) WITHOUT ROWID;
CREATE INDEX kpi_sku_daily_by_day ON kpi_sku_daily (day, sku, quantity, orders);

-- Orders per current status: the dashboard's live counts without counting a million rows.
CREATE TABLE kpi_status_counts (
    status TEXT PRIMARY KEY,
    n      INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TRIGGER kpi_order_received AFTER INSERT ON orders BEGIN
    INSERT OR IGNORE INTO kpi_orders (order_id, channel, received_at)
        VALUES (new.order_id, new.channel, new.received_at);
    INSERT INTO kpi_sku_daily (sku, day, channel, quantity, orders)
        SELECT json_extract(line.value, '$.sku'), substr(new.received_at, 1, 10), new.channel,
               sum(json_extract(line.value, '$.quantity')), 1
        FROM json_each(CAST(new.doc AS TEXT), '$.lines') AS line
        WHERE true
        GROUP BY 1
        ON CONFLICT (sku, day, channel) DO UPDATE
            SET quantity = quantity + excluded.quantity, orders = orders + 1;
    INSERT INTO kpi_status_counts (status, n) VALUES (new.status, 1)
        ON CONFLICT (status) DO UPDATE SET n = n + 1;
END;

-- One trigger per figure, each with its own WHEN: most status moves touch one row only.
CREATE TRIGGER kpi_order_status AFTER UPDATE OF status ON orders
WHEN new.status != old.status BEGIN
    UPDATE kpi_status_counts SET n = n - 1 WHERE status = old.status;
    INSERT INTO kpi_status_counts (status, n) VALUES (new.status, 1)
        ON CONFLICT (status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER kpi_order_dispatched AFTER UPDATE OF status ON orders
WHEN new.status != old.status AND new.status IN
    ('dispatched', 'acknowledged', 'partially_shipped', 'shipped', 'delivered') BEGIN
    UPDATE kpi_orders
        SET dispatch_s = (julianday(new.updated_at) - julianday(received_at)) * 86400.0
        WHERE order_id = new.order_id AND dispatch_s IS NULL;
END;

CREATE TRIGGER kpi_order_shipped AFTER UPDATE OF status ON orders
WHEN new.status != old.status AND new.status IN ('shipped', 'delivered') BEGIN
    UPDATE kpi_orders
        SET ship_s = (julianday(new.updated_at) - julianday(received_at)) * 86400.0
        WHERE order_id = new.order_id AND ship_s IS NULL;
END;

CREATE TRIGGER kpi_order_exception AFTER UPDATE OF status ON orders
WHEN new.status != old.status AND new.status = 'on_hold' BEGIN
    UPDATE kpi_orders SET exception = coalesce(new.hold_reason, 'unknown')
        WHERE order_id = new.order_id AND exception IS NULL;
END;

CREATE TRIGGER kpi_po_created AFTER INSERT ON purchase_orders BEGIN
    INSERT OR IGNORE INTO kpi_pos (po_id, order_id, supplier_id, received_at)
        SELECT new.po_id, new.order_id, new.supplier_id, received_at
        FROM orders WHERE order_id = new.order_id;
END;

CREATE TRIGGER kpi_po_status AFTER UPDATE OF status ON purchase_orders
WHEN new.status != old.status
    AND new.status IN ('shipped', 'delivered', 'rejected', 'failed', 'cancelled') BEGIN
    UPDATE kpi_pos SET
        outcome = CASE WHEN new.status = 'delivered' THEN 'shipped' ELSE new.status END,
        ship_s = CASE
            WHEN ship_s IS NULL AND new.status IN ('shipped', 'delivered')
            THEN (julianday(new.updated_at) - julianday(received_at)) * 86400.0
            ELSE ship_s END
    WHERE po_id = new.po_id AND (outcome IS NULL OR outcome != 'shipped');
END;

-- Orders stored before this migration, from their events.
INSERT INTO kpi_orders (order_id, channel, received_at, dispatch_s, ship_s, exception)
SELECT o.order_id, o.channel, o.received_at,
    (SELECT (julianday(min(e.at)) - julianday(o.received_at)) * 86400.0 FROM events e
     WHERE e.order_id = o.order_id AND e.type IN ('order.dispatched', 'order.acknowledged',
         'order.partially_shipped', 'order.shipped', 'order.delivered')),
    (SELECT (julianday(min(e.at)) - julianday(o.received_at)) * 86400.0 FROM events e
     WHERE e.order_id = o.order_id AND e.type IN ('order.shipped', 'order.delivered')),
    (SELECT coalesce(json_extract(CAST(e.data AS TEXT), '$.reason'), 'unknown') FROM events e
     WHERE e.order_id = o.order_id AND e.type = 'order.exception' ORDER BY e.seq LIMIT 1)
FROM orders o;

INSERT INTO kpi_pos (po_id, order_id, supplier_id, received_at, ship_s, outcome)
SELECT po.po_id, po.order_id, po.supplier_id, o.received_at,
    CASE WHEN po.status IN ('shipped', 'delivered') THEN
        (julianday(coalesce((SELECT min(e.at) FROM events e WHERE e.po_id = po.po_id
            AND e.type = 'po.shipped' AND json_extract(CAST(e.data AS TEXT), '$.complete')),
            po.updated_at)) - julianday(o.received_at)) * 86400.0 END,
    CASE WHEN po.status = 'delivered' THEN 'shipped'
        WHEN po.status IN ('shipped', 'rejected', 'failed', 'cancelled') THEN po.status END
FROM purchase_orders po JOIN orders o ON o.order_id = po.order_id;

INSERT INTO kpi_sku_daily (sku, day, channel, quantity, orders)
SELECT json_extract(line.value, '$.sku'), substr(o.received_at, 1, 10), o.channel,
       sum(json_extract(line.value, '$.quantity')), count(DISTINCT o.order_id)
FROM orders o, json_each(CAST(o.doc AS TEXT), '$.lines') AS line
GROUP BY 1, 2, 3;

INSERT INTO kpi_status_counts (status, n) SELECT status, count(*) FROM orders GROUP BY status;
