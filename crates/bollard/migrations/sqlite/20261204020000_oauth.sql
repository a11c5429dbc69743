-- OAuth 2.1 for hosted assistants (issue 13). Codes, refresh tokens and connect links are
-- kept only as SHA-256 hashes (hex); access tokens are signed and never stored.

-- Clients: registered (RFC 7591) or known by their Client ID Metadata Document (the URL is
-- the client id). status: 'new', 'approved' (in advance, by an admin) or 'blocked'.
CREATE TABLE oauth_clients (
    client_id     TEXT    NOT NULL PRIMARY KEY,
    name          TEXT    NOT NULL,
    redirect_uris TEXT    NOT NULL,
    source        TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- Authorization codes, single use. connection_id is set when the code is redeemed, so a
-- second redemption can revoke what the first one made (OAuth 2.1 section 4.1.3).
CREATE TABLE oauth_codes (
    code_hash      TEXT    NOT NULL PRIMARY KEY,
    client_id      TEXT    NOT NULL,
    agent_id       TEXT    NOT NULL,
    redirect_uri   TEXT    NOT NULL,
    code_challenge TEXT    NOT NULL,
    resource       TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    approved_by    TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER,
    connection_id  TEXT
);

-- A connection: one assistant acting as one agent, until revoked.
CREATE TABLE oauth_connections (
    id                TEXT    NOT NULL PRIMARY KEY,
    agent_id          TEXT    NOT NULL,
    client_id         TEXT    NOT NULL,
    name              TEXT    NOT NULL,
    approved_by       TEXT    NOT NULL,
    created_at        INTEGER NOT NULL,
    refreshed_at      INTEGER,
    revoked_at        INTEGER,
    revoked_reason    TEXT
);
CREATE INDEX oauth_connections_agent ON oauth_connections (agent_id);
CREATE INDEX oauth_connections_client ON oauth_connections (client_id);

-- Refresh tokens, rotated on every use: a used one presented again revokes its connection.
CREATE TABLE oauth_refresh_tokens (
    token_hash    TEXT    NOT NULL PRIMARY KEY,
    connection_id TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    used_at       INTEGER
);
CREATE INDEX oauth_refresh_tokens_connection ON oauth_refresh_tokens (connection_id);

-- Connect links: single use, expiring, for one agent.
CREATE TABLE oauth_links (
    link_hash  TEXT    NOT NULL PRIMARY KEY,
    agent_id   TEXT    NOT NULL,
    created_by TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);

-- Grows with every change to connections and clients; replicas poll it to refresh the
-- connections they accept tokens for.
CREATE TABLE oauth_version (
    id      INTEGER NOT NULL PRIMARY KEY,
    version INTEGER NOT NULL
);
INSERT INTO oauth_version (id, version) VALUES (1, 0);
