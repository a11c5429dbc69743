-- Proving the audit log (issue #17): signed checkpoints as made, and what a prune keeps so the
-- log stays provable from the checkpoint at the cut.
CREATE TABLE audit_checkpoints (
    size       INTEGER NOT NULL PRIMARY KEY,
    note       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

-- One row: the entries up to `cut` are gone; `frontier` is the Merkle tree's compact range
-- there (comma-separated hex), `last_hash` the hash chain's link to entry cut + 1.
CREATE TABLE audit_prune (
    id        INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    cut       INTEGER NOT NULL,
    last_hash TEXT    NOT NULL,
    frontier  TEXT    NOT NULL,
    pruned_at INTEGER NOT NULL
);

-- Consistency proofs (RFC 9162 2.1.4) of checkpoints older than a cut to the cut's checkpoint,
-- taken while the entries they need were still there.
CREATE TABLE audit_prune_proofs (
    from_size INTEGER NOT NULL PRIMARY KEY,
    to_size   INTEGER NOT NULL,
    proof     TEXT    NOT NULL
);
