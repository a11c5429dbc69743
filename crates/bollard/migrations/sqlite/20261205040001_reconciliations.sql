-- Bollard's credit ledger compared with Apollo's own `credit_usage_stats` (#19 item 6), by
-- the server every interval: one row per interval (`bucket`), whichever replica took it.
CREATE TABLE reconciliations (
    bucket         BIGINT  NOT NULL PRIMARY KEY,
    at             BIGINT  NOT NULL,
    cycle_start    TEXT    NOT NULL,
    cycle_end      TEXT    NOT NULL,
    apollo_milli   BIGINT  NOT NULL,
    bollard_milli  BIGINT  NOT NULL
);
