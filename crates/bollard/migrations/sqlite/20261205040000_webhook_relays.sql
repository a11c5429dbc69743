-- The webhook relay (#11): Bollard's single-use addresses that replace an agent's
-- `webhook_url`, so Apollo's later delivery (phone numbers, waterfall results) comes through
-- Bollard, is recorded and checked against the agent's grants, then forwarded. The token is
-- kept only as its SHA-256 digest; a delivery's payload is never stored.
CREATE TABLE webhook_relays (
    token_hash  TEXT    NOT NULL PRIMARY KEY,
    request_id  TEXT    NOT NULL,
    agent_id    TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL,
    state       TEXT    NOT NULL,
    attempts    BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX webhook_relays_expires ON webhook_relays (expires_at);
