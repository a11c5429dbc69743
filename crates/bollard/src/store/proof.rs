//! What proving the audit log needs from the store, beside the `Store` trait (reached through
//! `Store::proofs`): the entries' hashes in order (the Merkle tree's leaves), the signed
//! checkpoints as they were made, and the state a prune leaves behind (the compact range of
//! the tree at the cut and the consistency proofs of older checkpoints to it), so that a
//! pruned log stays provable. Backends: `sqlite/proof.rs`, `postgres/proof.rs`.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{AuditEntry, StoreResult};

/// A signed checkpoint as Bollard made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub size: i64,
    /// The signed note, exactly as signed.
    pub note: String,
    pub created_at: OffsetDateTime,
}

/// Where the log was last pruned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PruneState {
    /// The entries up to and including this `seq` are gone; it is a checkpoint's size.
    pub cut: i64,
    /// The hash of entry `cut`, which entry `cut + 1` points back to.
    pub last_hash: String,
    /// The tree's compact range at `cut`, hex, largest subtree first (`merkle::Frontier`).
    pub frontier: Vec<String>,
    pub pruned_at: OffsetDateTime,
}

/// An RFC 9162 consistency proof from the tree of `from_size` to the tree of `to_size`,
/// taken before the entries it needed were pruned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PruneProof {
    pub from_size: i64,
    pub to_size: i64,
    /// Hex hashes.
    pub proof: Vec<String>,
}

#[async_trait]
pub trait ProofStore: Send + Sync + std::fmt::Debug {
    /// `(seq, hash)` of the entries with `seq > after_seq`, oldest first, at most `limit`
    /// (0: no limit).
    async fn audit_hashes(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<(i64, String)>>;
    /// Keeps a checkpoint if the newest kept is still the one of size `previous` (0: none),
    /// so that replicas signing at once keep one chain: false, and nothing changes, if
    /// another was kept first.
    async fn save_checkpoint(&self, cp: &StoredCheckpoint, previous: i64) -> StoreResult<bool>;
    /// Every checkpoint kept, smallest first.
    async fn checkpoints(&self) -> StoreResult<Vec<StoredCheckpoint>>;
    /// The checkpoints larger than `after_size`, smallest first, at most `limit`.
    async fn checkpoints_after(
        &self,
        after_size: i64,
        limit: u32,
    ) -> StoreResult<Vec<StoredCheckpoint>>;
    async fn latest_checkpoint(&self) -> StoreResult<Option<StoredCheckpoint>>;
    async fn prune_state(&self) -> StoreResult<Option<PruneState>>;
    async fn prune_proofs(&self) -> StoreResult<Vec<PruneProof>>;
    /// In one transaction: removes the entries with `seq <= state.cut`, keeps `state` in place
    /// of the last one and adds `proofs`. Returns how many entries were removed.
    async fn prune(&self, state: &PruneState, proofs: &[PruneProof]) -> StoreResult<u64>;
    /// Entries whose content holds `needle` (a keyed hash), newest first, at most `limit`.
    async fn audit_containing(&self, needle: &str, limit: u32) -> StoreResult<Vec<AuditEntry>>;
}

pub(crate) fn hashes_to_text(h: &[String]) -> String {
    h.join(",")
}

pub(crate) fn text_to_hashes(t: &str) -> Vec<String> {
    t.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}
