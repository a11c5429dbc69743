-- Credit reservations of calls in flight, one row each, so that a reservation whose process
-- died (SIGKILL, power loss) can be found and settled instead of staying held for ever.
-- `instance` is the process that made it; `instances` says which processes are alive.
CREATE TABLE reservations (
    request_id     TEXT    NOT NULL PRIMARY KEY,
    agent_id       TEXT    NOT NULL,
    instance       TEXT    NOT NULL,
    -- JSON: [{"period": "day", "start": 1764547200}, ...]
    periods        TEXT    NOT NULL,
    reserved_milli BIGINT NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX reservations_instance ON reservations (instance);

-- Running Bollard processes: each refreshes `seen_at` every few seconds and removes its row
-- when it stops cleanly. A row not refreshed for a while is a process that died.
CREATE TABLE instances (
    id         TEXT    NOT NULL PRIMARY KEY,
    host       TEXT    NOT NULL,
    started_at BIGINT NOT NULL,
    seen_at    BIGINT NOT NULL
);
