//! The audit log as a Merkle tree: signing checkpoints of it, proving a call's entries are in
//! it, proving today's log extends the checkpoints kept outside the database, and pruning old
//! entries without losing any of that.
//!
//! Leaf `i` is entry `seq = i + 1` (entries are numbered from 1 and `verify` holds them
//! gap-free); its data is the entry's stored hash text, so the leaf commits to the whole entry
//! through the hash chain, and anyone with an export can recompute it
//! (`SHA-256(0x00 || hash text)`). The hash chain stays what `audit verify` walks; the tree is
//! what checkpoints sign.

use serde::Serialize;
use time::OffsetDateTime;

use super::checkpoint::{Checkpoint, CheckpointError, CheckpointKey, PublicKey, note_hash};
use super::merkle::{self, Frontier, Hash, MerkleError, Tree};
use super::verify::verify_from;
use crate::store::proof::{PruneProof, PruneState, StoredCheckpoint};
use crate::store::{AuditFilter, GENESIS_HASH, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Merkle(#[from] MerkleError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("entry {0} is missing from the log: entries were removed")]
    Gap(i64),
    #[error("the state of the last prune is damaged: {0}")]
    BadPrune(String),
    #[error(
        "no checkpoint has been signed yet: set [audit] checkpoint_key_file and run the gateway"
    )]
    NoCheckpoint,
    #[error("no call with the request id {0} is in the log")]
    NotFound(String),
    #[error("{0}")]
    Refused(String),
}

pub fn leaf(entry_hash: &str) -> Hash {
    merkle::leaf_hash(entry_hash.as_bytes())
}

fn unhex(h: &str) -> Option<Hash> {
    hex::decode(h).ok()?.try_into().ok()
}

/// The log's tree as the store holds it now: the compact range at the last prune and every
/// leaf after it.
#[derive(Debug, Clone, Default)]
pub struct LogTree {
    pub base: Frontier,
    pub leaves: Vec<Hash>,
    cache: std::cell::RefCell<std::collections::HashMap<(u64, u64), Hash>>,
}

impl LogTree {
    pub fn tree(&self) -> Tree<'_> {
        Tree {
            base: &self.base,
            leaves: &self.leaves,
            cache: Some(&self.cache),
        }
    }

    pub fn size(&self) -> u64 {
        self.tree().size()
    }

    /// Reads the tree; fails naming the first missing entry if the log has a gap.
    pub async fn load(store: &dyn Store) -> Result<Self, ProofError> {
        let base = match store.proofs().prune_state().await? {
            None => Frontier::default(),
            Some(p) => frontier_of(&p)?,
        };
        let mut leaves = Vec::new();
        let mut after = i64::try_from(base.size).unwrap_or(i64::MAX);
        loop {
            let page = store.proofs().audit_hashes(after, 10_000).await?;
            if page.is_empty() {
                break;
            }
            for (seq, hash) in page {
                if seq != after + 1 {
                    return Err(ProofError::Gap(after + 1));
                }
                leaves.push(leaf(&hash));
                after = seq;
            }
        }
        Ok(Self {
            base,
            leaves,
            cache: Default::default(),
        })
    }
}

fn frontier_of(p: &PruneState) -> Result<Frontier, ProofError> {
    let size = u64::try_from(p.cut).map_err(|_| ProofError::BadPrune("a negative cut".into()))?;
    let nodes = p
        .frontier
        .iter()
        .map(|h| unhex(h))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| ProofError::BadPrune("a kept hash is not SHA-256 hex".into()))?;
    if nodes.len() != size.count_ones() as usize {
        return Err(ProofError::BadPrune(
            "the kept hashes do not fit the cut".into(),
        ));
    }
    Ok(Frontier { size, nodes })
}

/// Signs the next checkpoint of a tree of `size` with this `root`, after the latest kept one,
/// and keeps it. `None` when the log has not grown since the latest checkpoint, or another
/// replica kept one of this size first.
pub async fn sign_next(
    store: &dyn Store,
    key: &CheckpointKey,
    size: u64,
    root: Hash,
    now: OffsetDateTime,
) -> Result<Option<StoredCheckpoint>, ProofError> {
    let latest = store.proofs().latest_checkpoint().await?;
    if size == 0
        || latest
            .as_ref()
            .is_some_and(|l| u64::try_from(l.size).unwrap_or(0) >= size)
    {
        return Ok(None);
    }
    let previous = latest.as_ref().map_or(0, |l| l.size);
    let cp = Checkpoint {
        origin: key.name().to_owned(),
        size,
        root,
        previous: latest.map(|l| note_hash(&l.note)),
    };
    let stored = StoredCheckpoint {
        size: i64::try_from(size).unwrap_or(i64::MAX),
        note: key.sign_note(&cp.text()),
        created_at: now,
    };
    Ok(store
        .proofs()
        .save_checkpoint(&stored, previous)
        .await?
        .then_some(stored))
}

/// One entry's inclusion proof.
#[derive(Debug, Clone, Serialize)]
pub struct EntryProof {
    pub seq: i64,
    pub kind: String,
    pub leaf_index: u64,
    /// The entry's stored hash: the leaf's data.
    pub entry_hash: String,
    /// What `entry_hash` is the SHA-256 of, so an outsider can tie the proof to the call
    /// itself, not take the hash on trust (found in review): each of these fields in this
    /// order, as UTF-8, after its length as 8 bytes big-endian (`store::chain_hash`).
    pub preimage: Preimage,
    pub leaf_hash: String,
    /// RFC 9162 inclusion path, hex, from the leaf up.
    pub path: Vec<String>,
    /// Whether the path leads to the checkpoint's root (checked here before printing).
    pub verified: bool,
}

/// An entry's hashed fields, in the order `entry_hash` covers them.
#[derive(Debug, Clone, Serialize)]
pub struct Preimage {
    pub prev_hash: String,
    pub seq: String,
    /// The entry's time in Unix nanoseconds.
    pub at: String,
    pub request_id: String,
    pub kind: String,
    pub agent_id: String,
    pub action: String,
    pub decision: String,
    /// The record as JSON text (personal data as keyed hashes).
    pub content: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CallProof {
    pub request_id: String,
    pub tree_size: u64,
    /// The root hash in hex and in the checkpoint's base64.
    pub root: String,
    pub checkpoint: String,
    pub entries: Vec<EntryProof>,
    /// Entries of the call written after the checkpoint: the next one covers them.
    pub not_yet_covered: Vec<i64>,
}

/// The inclusion proofs of one call's entries against the latest checkpoint.
pub async fn prove(store: &dyn Store, request_id: &str) -> Result<CallProof, ProofError> {
    let mut entries = store
        .query_audit(&AuditFilter {
            request_id: Some(request_id.to_owned()),
            limit: 100,
            ..AuditFilter::default()
        })
        .await?;
    if entries.is_empty() {
        return Err(ProofError::NotFound(request_id.to_owned()));
    }
    entries.sort_by_key(|e| e.seq);
    let cp = store
        .proofs()
        .latest_checkpoint()
        .await?
        .ok_or(ProofError::NoCheckpoint)?;
    // The checkpoint is read as text: its own signature is the verifier's business.
    let text = cp
        .note
        .rfind("\n\n")
        .and_then(|i| cp.note.get(..=i))
        .ok_or_else(|| ProofError::Refused("the latest checkpoint is not a signed note".into()))?;
    let parsed = Checkpoint::parse_text(text)?;
    let log = LogTree::load(store).await?;
    let tree = log.tree();
    let mut out = Vec::new();
    let mut later = Vec::new();
    for e in &entries {
        let index = u64::try_from(e.seq - 1).unwrap_or(u64::MAX);
        if index >= parsed.size {
            later.push(e.seq);
            continue;
        }
        let leaf_hash = leaf(&e.hash);
        let path = tree.inclusion(index, parsed.size)?;
        let verified =
            merkle::verify_inclusion(index, parsed.size, &leaf_hash, &path, &parsed.root);
        out.push(EntryProof {
            seq: e.seq,
            kind: e.kind.clone(),
            leaf_index: index,
            entry_hash: e.hash.clone(),
            preimage: Preimage {
                prev_hash: e.prev_hash.clone(),
                seq: e.seq.to_string(),
                at: e.at.unix_timestamp_nanos().to_string(),
                request_id: e.request_id.clone(),
                kind: e.kind.clone(),
                agent_id: e.agent_id.clone().unwrap_or_default(),
                action: e.action.clone().unwrap_or_default(),
                decision: e.decision.clone(),
                content: e.content.clone(),
            },
            leaf_hash: hex::encode(leaf_hash),
            path: path.iter().map(hex::encode).collect(),
            verified,
        });
    }
    Ok(CallProof {
        request_id: request_id.to_owned(),
        tree_size: parsed.size,
        root: hex::encode(parsed.root),
        checkpoint: cp.note,
        entries: out,
        not_yet_covered: later,
    })
}

/// What `audit verify --checkpoints` found.
#[derive(Debug, Clone, Serialize)]
pub struct CheckpointReport {
    pub ok: bool,
    pub checkpoints: usize,
    pub entries: u64,
    /// The file of the first checkpoint that today's log does not extend.
    pub first_bad_checkpoint: Option<String>,
    /// The first entry found wrong, when it can be named.
    pub first_bad_seq: Option<i64>,
    pub problem: Option<String>,
    /// Entries written after the newest checkpoint given: not yet covered by a signature.
    pub uncovered: u64,
    /// The last prune: entries up to this one were removed (said in the sentence, so a
    /// prune nobody remembers making is seen).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pruned_up_to: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pruned_on: Option<String>,
}

impl CheckpointReport {
    pub fn sentence(&self) -> String {
        match &self.problem {
            None => {
                format!(
                    "The audit log extends all {} checkpoint{} given: every signature is good and \
                 today's {} entr{} hash to each signed root{}.",
                    self.checkpoints,
                    if self.checkpoints == 1 { "" } else { "s" },
                    self.entries,
                    if self.entries == 1 { "y" } else { "ies" },
                    if self.uncovered > 0 {
                        format!(
                            " ({} entr{} written since the newest checkpoint are not signed yet)",
                            self.uncovered,
                            if self.uncovered == 1 { "y" } else { "ies" }
                        )
                    } else {
                        String::new()
                    }
                ) + &match (self.pruned_up_to, &self.pruned_on) {
                    (Some(cut), Some(on)) => format!(
                        " Entries 1 to {cut} were pruned (the last prune on {on}): the checkpoints \
                     before then are proved by what the prune kept."
                    ),
                    _ => String::new(),
                }
            }
            Some(p) => format!("The audit log cannot be proved: {p}"),
        }
    }

    fn fail(
        checkpoints: usize,
        entries: u64,
        file: Option<&str>,
        seq: Option<i64>,
        p: String,
    ) -> Self {
        Self {
            ok: false,
            checkpoints,
            entries,
            first_bad_checkpoint: file.map(str::to_owned),
            first_bad_seq: seq,
            problem: Some(p),
            uncovered: 0,
            pruned_up_to: None,
            pruned_on: None,
        }
    }
}

/// Proves that today's log extends every checkpoint given (file name, signed note): each
/// signature is checked with `public`, the checkpoints' own chain is checked, and each root is
/// recomputed from today's entries (or, for a checkpoint older than a prune, checked by the
/// consistency proofs taken at the prune). The hash chain is walked too, so an entry edited
/// without its hash is named.
pub async fn verify_checkpoints(
    store: &dyn Store,
    public: &PublicKey,
    notes: &[(String, String)],
) -> Result<CheckpointReport, ProofError> {
    let mut cps: Vec<(String, String, Checkpoint)> = Vec::new();
    for (file, note) in notes {
        match public.open_checkpoint(note) {
            Ok(cp) => cps.push((file.clone(), note.clone(), cp)),
            Err(e) => {
                return Ok(CheckpointReport::fail(
                    0,
                    0,
                    Some(file),
                    None,
                    format!("the checkpoint {file} is not to be trusted: {e}"),
                ));
            }
        }
    }
    cps.sort_by_key(|(_, _, cp)| cp.size);
    cps.dedup_by(|a, b| a.1 == b.1);
    let count = cps.len();
    for pair in cps.windows(2) {
        let [(fa, na, a), (fb, _, b)] = pair else {
            continue;
        };
        if a.size == b.size {
            return Ok(CheckpointReport::fail(
                count,
                0,
                Some(fb),
                None,
                format!(
                    "the checkpoints {fa} and {fb} both sign a log of {} entries with different \
                     contents: the log was forked or rewritten",
                    a.size
                ),
            ));
        }
        if b.previous != Some(note_hash(na)) {
            return Ok(CheckpointReport::fail(
                count,
                0,
                Some(fb),
                None,
                format!(
                    "the checkpoint {fb} does not follow {fa}: a checkpoint between them is \
                     missing from the directory, or one of them was replaced"
                ),
            ));
        }
    }
    let prune = store.proofs().prune_state().await?;
    let log = match LogTree::load(store).await {
        Ok(l) => l,
        Err(ProofError::Gap(seq)) => {
            return Ok(CheckpointReport::fail(
                count,
                0,
                None,
                Some(seq),
                format!("entry {seq} is missing from the log: entries were removed"),
            ));
        }
        Err(e) => return Err(e),
    };
    let tree = log.tree();
    let size = tree.size();
    let cut = log.base.size;
    let proofs = store.proofs().prune_proofs().await?;
    let stored = store.proofs().checkpoints().await?;
    let mut last_good: Option<(String, u64)> = None;
    for (file, _, cp) in &cps {
        if cp.size > size {
            return Ok(CheckpointReport::fail(
                count,
                size,
                Some(file),
                i64::try_from(size + 1).ok(),
                format!(
                    "the checkpoint {file} signs {} entries but the log holds only {size}: entries \
                     from {} on were removed",
                    cp.size,
                    size + 1
                ),
            ));
        }
        let consistent = if cp.size >= cut {
            tree.root(cp.size)? == cp.root
        } else {
            linked_to_cut(cp, cut, &tree.root(cut)?, &proofs, &cps, &stored)
        };
        if !consistent {
            let from = last_good.as_ref().map_or(cut, |(_, s)| *s) + 1;
            let since = last_good
                .as_ref()
                .map(|(f, s)| format!(" (the first {s} still match {f})"))
                .unwrap_or_default();
            let p = if cp.size >= cut {
                format!(
                    "today's log does not hash to the root the checkpoint {file} signed: one or \
                     more of entries {from} to {} were changed, removed or reordered after it was \
                     signed{since}",
                    cp.size
                )
            } else {
                format!(
                    "the checkpoint {file} (of {} entries) is older than the prune at entry {cut}, \
                     and no proof kept at the prune shows the log since extends it",
                    cp.size
                )
            };
            return Ok(CheckpointReport::fail(
                count,
                size,
                Some(file),
                i64::try_from(from).ok(),
                p,
            ));
        }
        last_good = Some((file.clone(), cp.size));
    }
    // The chain too: an entry edited in place (its hash left alone) fails there, by number.
    let (after, hash) = match &prune {
        Some(p) => (p.cut, p.last_hash.clone()),
        None => (0, GENESIS_HASH.to_owned()),
    };
    let chain = verify_from(store, after, &hash).await?;
    if !chain.ok {
        return Ok(CheckpointReport::fail(
            count,
            size,
            None,
            chain.first_bad_seq,
            chain.sentence(),
        ));
    }
    Ok(CheckpointReport {
        ok: true,
        checkpoints: count,
        entries: size,
        first_bad_checkpoint: None,
        first_bad_seq: None,
        problem: None,
        uncovered: size - last_good.map_or(0, |(_, s)| s),
        pruned_up_to: prune.as_ref().map(|p| p.cut),
        pruned_on: prune.as_ref().map(|p| p.pruned_at.date().to_string()),
    })
}

/// Follows the consistency proofs kept at prunes from `cp` up to the cut. Each hop's far root
/// is a signed checkpoint's when one was given, else the kept checkpoint's: either way two
/// proofs that verify make the first tree a prefix of the last, so a root taken from the
/// database cannot make a false chain hold.
fn linked_to_cut(
    cp: &Checkpoint,
    cut: u64,
    cut_root: &Hash,
    proofs: &[PruneProof],
    given: &[(String, String, Checkpoint)],
    stored: &[StoredCheckpoint],
) -> bool {
    let mut size = cp.size;
    let mut root = cp.root;
    for _ in 0..=proofs.len() {
        if size == cut {
            return root == *cut_root;
        }
        let Some(p) = proofs
            .iter()
            .find(|p| u64::try_from(p.from_size).ok() == Some(size))
        else {
            return false;
        };
        let Ok(to) = u64::try_from(p.to_size) else {
            return false;
        };
        let to_root = if to == cut {
            Some(*cut_root)
        } else {
            given
                .iter()
                .find(|(_, _, c)| c.size == to)
                .map(|(_, _, c)| c.root)
                .or_else(|| {
                    stored
                        .iter()
                        .find(|s| u64::try_from(s.size).ok() == Some(to))
                        .and_then(|s| {
                            let text = s.note.get(..=s.note.rfind("\n\n")?)?;
                            Checkpoint::parse_text(text).ok().map(|c| c.root)
                        })
                })
        };
        let Some(to_root) = to_root else { return false };
        let Some(path) = p.proof.iter().map(|h| unhex(h)).collect::<Option<Vec<_>>>() else {
            return false;
        };
        if !merkle::verify_consistency(size, to, &root, &to_root, &path) {
            return false;
        }
        size = to;
        root = to_root;
    }
    false
}

/// A prune worked out and not yet made: `apply_prune` makes it.
#[derive(Debug, Clone)]
pub struct PrunePlan {
    pub state: PruneState,
    pub proofs: Vec<PruneProof>,
    /// Entries `old_cut + 1 ..= state.cut` go.
    pub old_cut: i64,
}

/// Works out the prune of the entries written before `before`: up to the newest checkpoint
/// that covers only such entries, so the log stays provable from that checkpoint on. `None`
/// when no checkpoint after the last cut is that old.
pub async fn plan_prune(
    store: &dyn Store,
    before: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<Option<PrunePlan>, ProofError> {
    let old_cut = store.proofs().prune_state().await?.map_or(0, |p| p.cut);
    let checkpoints = store.proofs().checkpoints().await?;
    if checkpoints.is_empty() {
        return Err(ProofError::Refused(
            "nothing is pruned before a checkpoint is signed: the log must stay provable from \
             the checkpoint at the cut (set [audit] checkpoint_key_file and run the gateway)"
                .into(),
        ));
    }
    // The newest checkpoint whose last entry was written before the date.
    let mut cut = None;
    for cp in checkpoints.iter().rev().filter(|c| c.size > old_cut) {
        let last = store.audit_range(cp.size - 1, 1).await?;
        match last.first() {
            Some(e) if e.seq == cp.size && e.at < before => {
                cut = Some((cp.size, e.hash.clone()));
                break;
            }
            Some(_) | None => {}
        }
    }
    let Some((cut, last_hash)) = cut else {
        return Ok(None);
    };
    let log = LogTree::load(store).await?;
    let tree = log.tree();
    let cut_u = u64::try_from(cut).unwrap_or(0);
    let mut frontier = log.base.clone();
    for l in log
        .leaves
        .iter()
        .take(usize::try_from(cut_u - log.base.size).unwrap_or(0))
    {
        frontier.push(*l);
    }
    // Checkpoints older than the cut keep a proof that the log at the cut extends them; those
    // older than the last cut already have one, to it, and it gets one now.
    let mut proofs = Vec::new();
    for cp in checkpoints
        .iter()
        .filter(|c| c.size >= old_cut && c.size < cut && c.size > 0)
    {
        let from = u64::try_from(cp.size).unwrap_or(0);
        let path = tree.consistency(from, cut_u)?;
        proofs.push(PruneProof {
            from_size: cp.size,
            to_size: cut,
            proof: path.iter().map(hex::encode).collect(),
        });
    }
    let state = PruneState {
        cut,
        last_hash,
        frontier: frontier.nodes.iter().map(hex::encode).collect(),
        pruned_at: now,
    };
    Ok(Some(PrunePlan {
        state,
        proofs,
        old_cut,
    }))
}

/// Removes the entries and keeps what proving the rest needs, in one transaction.
pub async fn apply_prune(store: &dyn Store, plan: &PrunePlan) -> Result<u64, ProofError> {
    Ok(store.proofs().prune(&plan.state, &plan.proofs).await?)
}

/// An RFC 9162 consistency proof between two kept checkpoints.
#[derive(Debug, Clone, Serialize)]
pub struct ConsistencyProof {
    pub old_size: u64,
    pub new_size: u64,
    pub old_root: String,
    pub new_root: String,
    /// RFC 9162 2.1.4.1 `PROOF(m, D[n])`, hex.
    pub path: Vec<String>,
    /// Whether the path links the two signed roots (checked here before printing).
    pub verified: bool,
    pub old_checkpoint: String,
    pub new_checkpoint: String,
}

fn kept_checkpoint(
    kept: &[StoredCheckpoint],
    size: u64,
) -> Result<(Checkpoint, String), ProofError> {
    let s = kept
        .iter()
        .find(|c| u64::try_from(c.size).ok() == Some(size))
        .ok_or_else(|| {
            ProofError::Refused(format!(
                "no checkpoint of {size} entr{} is kept",
                if size == 1 { "y" } else { "ies" }
            ))
        })?;
    let text = s
        .note
        .rfind("\n\n")
        .and_then(|i| s.note.get(..=i))
        .ok_or_else(|| ProofError::Refused("a kept checkpoint is not a signed note".into()))?;
    Ok((Checkpoint::parse_text(text)?, s.note.clone()))
}

/// The proof that the checkpoint of `old` entries is a prefix of the checkpoint of `new`
/// (the newest when `None`), both as kept in the database.
pub async fn consistency(
    store: &dyn Store,
    old: u64,
    new: Option<u64>,
) -> Result<ConsistencyProof, ProofError> {
    let kept = store.proofs().checkpoints().await?;
    let newest = kept
        .last()
        .and_then(|c| u64::try_from(c.size).ok())
        .ok_or(ProofError::NoCheckpoint)?;
    let new = new.unwrap_or(newest);
    if old > new {
        return Err(ProofError::Refused(format!(
            "the older checkpoint ({old} entries) must not be larger than the newer ({new})"
        )));
    }
    let (a, a_note) = kept_checkpoint(&kept, old)?;
    let (b, b_note) = kept_checkpoint(&kept, new)?;
    let log = LogTree::load(store).await?;
    let path = log.tree().consistency(old, new)?;
    let verified = merkle::verify_consistency(old, new, &a.root, &b.root, &path);
    Ok(ConsistencyProof {
        old_size: old,
        new_size: new,
        old_root: hex::encode(a.root),
        new_root: hex::encode(b.root),
        path: path.iter().map(hex::encode).collect(),
        verified,
        old_checkpoint: a_note,
        new_checkpoint: b_note,
    })
}
