-- Bollard's schema for SQLite. Timestamps are unix nanoseconds (INTEGER), the unit the audit
-- chain hashes; grants and limits are JSON text; key hashes are 32-byte SHA-256 digests.

CREATE TABLE agents (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL,
    -- The name folded to lower case (Unicode, by the store): names are unique ignoring case.
    name_key    TEXT    NOT NULL UNIQUE,
    description TEXT    NOT NULL,
    key_hash    BLOB    NOT NULL UNIQUE,
    key_prefix  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER,
    revoked_at  INTEGER,
    grants      TEXT    NOT NULL,
    limits      TEXT    NOT NULL
);

CREATE TABLE rules (
    agent_id   TEXT    NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    cedar      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (agent_id, name)
);

CREATE TABLE admin_keys (
    id         TEXT    NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL,
    key_hash   BLOB    NOT NULL UNIQUE,
    key_prefix TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

-- One row: grows with every admin change, so replicas know when to reload their caches.
CREATE TABLE config_version (
    id      INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO config_version (id, version) VALUES (1, 0);

CREATE TABLE settings (
    name  TEXT NOT NULL PRIMARY KEY,
    value BLOB NOT NULL
);

-- The append-only audit chain. agent_id has no foreign key: a denied call may name an
-- agent that does not exist, and the record must still be written.
CREATE TABLE audit (
    seq        INTEGER NOT NULL PRIMARY KEY,
    at         INTEGER NOT NULL,
    request_id TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    agent_id   TEXT,
    action     TEXT,
    decision   TEXT    NOT NULL,
    content    TEXT    NOT NULL,
    prev_hash  TEXT    NOT NULL,
    hash       TEXT    NOT NULL
);
CREATE INDEX audit_agent_seq ON audit (agent_id, seq);
CREATE INDEX audit_action_seq ON audit (action, seq);
CREATE INDEX audit_request_id ON audit (request_id);

-- One row: the chain's head, written in the same transaction as the entries it covers.
CREATE TABLE audit_head (
    id   INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT    NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Fixed request windows: one row per (agent, scope, window, start).
CREATE TABLE rate_windows (
    agent_id    TEXT    NOT NULL,
    scope       TEXT    NOT NULL,
    window_name TEXT    NOT NULL,
    start       INTEGER NOT NULL,
    taken       INTEGER NOT NULL,
    PRIMARY KEY (agent_id, scope, window_name, start)
);

-- Credit budgets in milli-credits: one row per (agent, period, start).
CREATE TABLE budgets (
    agent_id       TEXT    NOT NULL,
    period         TEXT    NOT NULL,
    start          INTEGER NOT NULL,
    spent_milli    INTEGER NOT NULL,
    reserved_milli INTEGER NOT NULL,
    PRIMARY KEY (agent_id, period, start)
);
