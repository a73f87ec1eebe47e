-- Access control and the audit log (issue 9).

-- API tokens made with `run.py token create`. Only a token's SHA-256 is kept. A revoked token
-- keeps its row: its name stays taken, so the audit log never names two different tokens alike.
CREATE TABLE api_tokens (
    name       TEXT PRIMARY KEY,
    role       TEXT NOT NULL,           -- viewer | operator | admin | supplier:<supplier id>
    sha256     TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    revoked_at TEXT
);

-- Who did what: every mutating API request, every read of personal data, token management.
-- Append-only: the triggers refuse to change or remove an entry.
CREATE TABLE audit_log (
    seq    INTEGER PRIMARY KEY,
    at     TEXT NOT NULL,
    actor  TEXT NOT NULL,               -- the token's name; "anonymous" in open mode
    role   TEXT NOT NULL,
    via    TEXT NOT NULL,               -- bearer | session | open | cli
    action TEXT NOT NULL,               -- "POST /api/v1/orders/{order_id}/cancel", "token.create"
    target TEXT,                        -- the order, supplier or token acted on
    status INTEGER,                     -- the HTTP answer
    remote TEXT,                        -- the client's address
    detail TEXT                         -- JSON: what else is worth knowing
);
CREATE INDEX audit_log_by_actor ON audit_log (actor, seq);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
