-- Alerts of the configurable rules (gateway/actors/alerts.py): one row per alert that fired,
-- resolved_at set when it resolved. Open rows survive a restart, so an alert that was firing
-- is not fired again, and its resolution is still sent.
CREATE TABLE alerts (
    alert_id    TEXT PRIMARY KEY,
    rule        TEXT NOT NULL,
    subject     TEXT NOT NULL,  -- JSON object, keys sorted: what the alert is about
    severity    TEXT NOT NULL,
    message     TEXT NOT NULL,
    value       REAL,
    fired_at    TEXT NOT NULL,
    resolved_at TEXT,
    resolved_by TEXT           -- the alert_id of the resolution message
);
CREATE INDEX alerts_open ON alerts (rule) WHERE resolved_at IS NULL;
CREATE INDEX alerts_by_fired ON alerts (fired_at);
