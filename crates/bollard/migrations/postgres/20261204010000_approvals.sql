-- Ask first (#15): a request for a person's approval of one exact call, bound to the agent, the
-- action and the call's canonical arguments by `call_hash`. Single use: the gate turns an
-- approved row into a used one with one conditional UPDATE, so two replicas can never both
-- forward the approved call. Times are unix nanoseconds, as elsewhere.
CREATE TABLE approvals (
    id              TEXT    NOT NULL PRIMARY KEY,
    agent_id        TEXT    NOT NULL,
    agent_name      TEXT    NOT NULL,
    action          TEXT    NOT NULL,
    call_hash       TEXT    NOT NULL,
    -- pending, approved, denied, used, expired
    state           TEXT    NOT NULL,
    -- the call that asked, and the calls' door ("rest" or "mcp")
    request_id      TEXT    NOT NULL,
    channel         TEXT    NOT NULL,
    -- what the call does, in words (personal data masked), and why it asks
    sentence        TEXT    NOT NULL,
    why             TEXT    NOT NULL,
    rule_ids        TEXT    NOT NULL,
    -- the arguments as the audit stores them (JSON, secrets removed, personal data hashed)
    arguments       TEXT    NOT NULL,
    max_credits     BIGINT  NOT NULL,
    created_at      BIGINT  NOT NULL,
    expires_at      BIGINT  NOT NULL,
    decided_at      BIGINT,
    decided_by      TEXT,
    note            TEXT,
    used_at         BIGINT,
    used_by         TEXT,
    -- the webhook notification: none, pending, sent, failed
    notify_state    TEXT    NOT NULL,
    notify_attempts BIGINT  NOT NULL,
    notify_error    TEXT
);
-- At most one open request per call: a retry while it waits reuses it.
CREATE UNIQUE INDEX approvals_one_pending ON approvals (agent_id, call_hash) WHERE state = 'pending';
CREATE INDEX approvals_call ON approvals (agent_id, call_hash, created_at);
CREATE INDEX approvals_state ON approvals (state, expires_at);
