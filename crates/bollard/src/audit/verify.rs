//! `audit verify`: walks the chain from the first entry, recomputing every hash, and names
//! the first entry that does not fit. An edited entry breaks its own hash; a removed one
//! leaves a gap in `seq` and a `prev_hash` that points nowhere; a reordered pair breaks both
//! hashes; a removed tail no longer reaches the head the store recorded.

use serde::Serialize;

use super::Record;
use crate::store::{AuditEntry, GENESIS_HASH, NewAuditEntry, Store, StoreError, chain_hash};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifyReport {
    pub ok: bool,
    pub checked: u64,
    /// The first entry found wrong, and what is wrong with it.
    pub first_bad_seq: Option<i64>,
    pub problem: Option<String>,
}

impl VerifyReport {
    pub fn sentence(&self) -> String {
        match (&self.problem, self.first_bad_seq) {
            (None, _) => format!(
                "The audit chain is intact: {} entr{} checked, every hash matches.",
                self.checked,
                if self.checked == 1 { "y" } else { "ies" }
            ),
            (Some(p), Some(seq)) => format!("The audit chain is broken at entry {seq}: {p}"),
            (Some(p), None) => format!("The audit chain is broken: {p}"),
        }
    }
}

fn check_entry(e: &AuditEntry, expected_seq: i64, prev: &str) -> Option<String> {
    if e.seq != expected_seq {
        return Some(format!(
            "expected entry {expected_seq} next but found {}; entries were removed or reordered.",
            e.seq
        ));
    }
    if e.prev_hash != prev {
        return Some("it does not point to the entry before it; an entry before it was removed, edited or reordered.".into());
    }
    let fresh = NewAuditEntry {
        at: e.at,
        request_id: e.request_id.clone(),
        kind: e.kind.clone(),
        agent_id: e.agent_id.clone(),
        action: e.action.clone(),
        decision: e.decision.clone(),
        content: e.content.clone(),
    };
    if chain_hash(prev, e.seq, &fresh) != e.hash {
        return Some("its content does not match its hash; it was edited.".into());
    }
    match serde_json::from_str::<Record>(&e.content) {
        Ok(r)
            if r.request_id == e.request_id
                && r.kind == e.kind
                && r.agent_id == e.agent_id
                && r.action == e.action
                && r.decision == e.decision =>
        {
            None
        }
        Ok(_) => Some("its indexed fields disagree with its content; it was edited.".into()),
        Err(_) => Some("its content is not a record Bollard wrote.".into()),
    }
}

pub async fn verify(store: &dyn Store) -> Result<VerifyReport, StoreError> {
    let (seq, hash) = start(store).await?;
    verify_from(store, seq, &hash).await
}

/// Where the chain starts: the first entry, or after a prune the entry after the cut, which
/// points back to the last entry removed (`bollard audit prune`).
async fn start(store: &dyn Store) -> Result<(i64, String), StoreError> {
    Ok(match store.proofs().prune_state().await? {
        Some(p) => (p.cut, p.last_hash),
        None => (0, GENESIS_HASH.to_owned()),
    })
}

/// Verifies the log kept since a prune at `cut` (0 without one), whose last removed entry's
/// hash is `cut_hash`.
pub async fn verify_from(
    store: &dyn Store,
    cut: i64,
    cut_hash: &str,
) -> Result<VerifyReport, StoreError> {
    if let Some(report) = not_removed(store, cut).await? {
        return Ok(report);
    }
    walk(store, cut, cut_hash).await.map(|(r, _, _)| r)
}

/// An entry at or before the prune's cut, which no walk reads, yet every screen and export
/// shows: a prune removes them in the transaction that records it, so one that is there was
/// put back, or written in the prune's place (found in review: a forged prune record let
/// every entry before its cut be changed unseen).
async fn not_removed(store: &dyn Store, cut: i64) -> Result<Option<VerifyReport>, StoreError> {
    if cut <= 0 {
        return Ok(None);
    }
    let first = store.audit_range(0, 1).await?;
    Ok(first.first().filter(|e| e.seq <= cut).map(|e| VerifyReport {
        ok: false,
        checked: 0,
        first_bad_seq: Some(e.seq),
        problem: Some(format!(
            "the log was pruned up to entry {cut}, yet entry {} is still there; a prune removes \
             every entry up to its cut, so it was put back or the prune's record was forged.",
            e.seq
        )),
    }))
}

/// The walk itself; also returns the last entry verified (seq and hash).
async fn walk(
    store: &dyn Store,
    after_seq: i64,
    after_hash: &str,
) -> Result<(VerifyReport, i64, String), StoreError> {
    let mut prev = after_hash.to_owned();
    let mut expected = after_seq + 1;
    let mut checked = 0u64;
    loop {
        let page = store.audit_range(expected - 1, 1000).await?;
        for e in &page {
            if let Some(problem) = check_entry(e, expected, &prev) {
                let report = VerifyReport {
                    ok: false,
                    checked,
                    first_bad_seq: Some(expected.min(e.seq)),
                    problem: Some(problem),
                };
                return Ok((report, expected - 1, prev));
            }
            prev = e.hash.clone();
            expected += 1;
            checked += 1;
        }
        if !page.is_empty() {
            continue;
        }
        // Nothing more to read: the store's head must be where the walk ended. A head further
        // on means entries were written while we walked (read on) or removed (nothing to read).
        let (head_seq, head_hash) = store.audit_head().await?;
        let at_end = head_seq == expected - 1 && (head_seq == after_seq || head_hash == prev);
        if at_end {
            break;
        }
        if head_seq > expected - 1 && !store.audit_range(expected - 1, 1).await?.is_empty() {
            continue;
        }
        let report = VerifyReport {
            ok: false,
            checked,
            first_bad_seq: Some(expected),
            problem: Some(format!(
                "the chain ends at entry {} but the store recorded {head_seq} entries; the last entries were removed.",
                expected - 1
            )),
        };
        return Ok((report, expected - 1, prev));
    }
    let report = VerifyReport {
        ok: true,
        checked,
        first_bad_seq: None,
        problem: None,
    };
    Ok((report, expected - 1, prev))
}

/// The chain's status for screens that ask often (the console): the whole chain is walked at
/// most every `full_every`; in between, only the entries written since the last walk are
/// checked against it. `audit verify` and the admin API always walk the whole chain.
#[derive(Debug)]
pub struct ChainWatch {
    full_every: std::time::Duration,
    last: tokio::sync::Mutex<Option<Checkpoint>>,
}

#[derive(Debug, Clone)]
struct Checkpoint {
    seq: i64,
    hash: String,
    full_at: std::time::Instant,
    checked: u64,
}

impl ChainWatch {
    pub fn new(full_every: std::time::Duration) -> Self {
        Self {
            full_every,
            last: tokio::sync::Mutex::new(None),
        }
    }

    pub async fn status(&self, store: &dyn Store) -> Result<VerifyReport, StoreError> {
        let mut last = self.last.lock().await;
        let fresh = last
            .as_ref()
            .filter(|c| c.full_at.elapsed() < self.full_every)
            .cloned();
        let (report, seq, hash, full_at) = match fresh {
            Some(c) => {
                let (r, seq, hash) = walk(store, c.seq, &c.hash).await?;
                let total = c.checked + r.checked;
                (
                    VerifyReport {
                        checked: total,
                        ..r
                    },
                    seq,
                    hash,
                    c.full_at,
                )
            }
            None => {
                let (from, from_hash) = start(store).await?;
                if let Some(r) = not_removed(store, from).await? {
                    *last = None;
                    return Ok(r);
                }
                let (r, seq, hash) = walk(store, from, &from_hash).await?;
                (r, seq, hash, std::time::Instant::now())
            }
        };
        *last = report.ok.then_some(Checkpoint {
            seq,
            hash,
            full_at,
            checked: report.checked,
        });
        Ok(report)
    }
}
