-- What Apollo really charges, learned from its bills: when an answer's `credits_consumed`
-- was more than the price table said, later reservations for that action are scaled by
-- `factor_milli` / 1000 (the highest ratio seen), so one plan's higher prices cannot drain a
-- budget past its limit twice.
CREATE TABLE learned_prices (
    action       TEXT    NOT NULL PRIMARY KEY,
    factor_milli BIGINT  NOT NULL,
    learned_at   BIGINT  NOT NULL
);
