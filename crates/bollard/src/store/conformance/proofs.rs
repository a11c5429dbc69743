//! Conformance: what proving the audit log keeps (`store::proof`): checkpoints, prunes and
//! the entries' hashes.

use super::*;
use crate::store::proof::{PruneProof, PruneState, StoredCheckpoint};

fn checkpoint(size: i64) -> StoredCheckpoint {
    StoredCheckpoint {
        size,
        note: format!("log\n{size}\nroot\n\n\u{2014} log sig\n"),
        created_at: datetime!(2026-12-01 10:00 UTC),
    }
}

pub(super) async fn keeps_checkpoints_in_size_order_once_each(s: &dyn Store) {
    let p = s.proofs();
    assert!(p.checkpoints().await.unwrap().is_empty());
    assert_eq!(p.latest_checkpoint().await.unwrap(), None);
    assert!(p.save_checkpoint(&checkpoint(2), 0).await.unwrap());
    assert!(
        !p.save_checkpoint(&checkpoint(3), 0).await.unwrap(),
        "another replica kept one first: this one would fork the chain"
    );
    assert!(p.save_checkpoint(&checkpoint(5), 2).await.unwrap());
    let mut other = checkpoint(5);
    other.note = "another\n".into();
    assert!(!p.save_checkpoint(&other, 5).await.unwrap(), "one per size");
    assert_eq!(
        p.checkpoints().await.unwrap(),
        vec![checkpoint(2), checkpoint(5)]
    );
    assert_eq!(
        p.checkpoints_after(2, 10).await.unwrap(),
        vec![checkpoint(5)]
    );
    assert_eq!(p.latest_checkpoint().await.unwrap(), Some(checkpoint(5)));
}

pub(super) async fn prunes_entries_up_to_the_cut_and_keeps_what_proves_the_rest(s: &dyn Store) {
    let entries: Vec<NewAuditEntry> = (1..=6)
        .map(|i| {
            let mut e = simple_entry(&format!("r{i}"));
            e.content = format!("{{\"email\": \"hmac:{i:016}\"}}");
            e
        })
        .collect();
    let written = s.append_audit(&entries).await.unwrap();
    let p = s.proofs();
    let hashes = p.audit_hashes(2, 2).await.unwrap();
    assert_eq!(
        hashes,
        vec![(3, written[2].hash.clone()), (4, written[3].hash.clone())]
    );
    let found = p
        .audit_containing("hmac:0000000000000002", 10)
        .await
        .unwrap();
    assert_eq!(found.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2]);
    assert_eq!(p.prune_state().await.unwrap(), None);

    let state = PruneState {
        cut: 4,
        last_hash: written[3].hash.clone(),
        frontier: vec!["aa".repeat(32)],
        pruned_at: datetime!(2026-12-02 10:00 UTC),
    };
    let proof = PruneProof {
        from_size: 2,
        to_size: 4,
        proof: vec!["bb".repeat(32), "cc".repeat(32)],
    };
    assert_eq!(
        p.prune(&state, std::slice::from_ref(&proof)).await.unwrap(),
        4
    );
    assert_eq!(p.prune_state().await.unwrap(), Some(state.clone()));
    assert_eq!(p.prune_proofs().await.unwrap(), vec![proof.clone()]);
    let left = s.audit_range(0, 0).await.unwrap();
    assert_eq!(left.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![5, 6]);
    assert!(
        p.audit_containing("hmac:0000000000000002", 10)
            .await
            .unwrap()
            .is_empty()
    );
    // The chain goes on from the head as before.
    let next = s.append_audit(&[simple_entry("r7")]).await.unwrap();
    assert_eq!(
        (next[0].seq, next[0].prev_hash.clone()),
        (7, written[5].hash.clone())
    );

    // A later prune replaces the state and adds its proofs.
    let later = PruneState {
        cut: 6,
        last_hash: written[5].hash.clone(),
        frontier: vec!["dd".repeat(32), "ee".repeat(32)],
        pruned_at: datetime!(2026-12-03 10:00 UTC),
    };
    let hop = PruneProof {
        from_size: 4,
        to_size: 6,
        proof: vec!["ff".repeat(32)],
    };
    assert_eq!(
        p.prune(&later, std::slice::from_ref(&hop)).await.unwrap(),
        2
    );
    assert_eq!(p.prune_state().await.unwrap(), Some(later));
    assert_eq!(p.prune_proofs().await.unwrap(), vec![proof, hop]);
}
