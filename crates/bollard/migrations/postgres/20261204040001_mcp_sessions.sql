-- Sessions of MCP's sessions era (2025-06-18, 2025-11-25), shared by replicas so that a
-- session opened on one is served by any (no sticky sessions). The id is stored as its
-- SHA-256 (it is a bearer secret of a kind); `state` is the client's `initialize` parameters,
-- which a replica that has not seen the session replays; `agent_id` is the agent that opened
-- it, the only one that may use it.
CREATE TABLE mcp_sessions (
    id_hash    TEXT   NOT NULL PRIMARY KEY,
    agent_id   TEXT,
    state      TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX mcp_sessions_created ON mcp_sessions (created_at);
