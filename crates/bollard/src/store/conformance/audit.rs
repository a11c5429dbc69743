//! Conformance: the audit chain, its queries and concurrent appends.

use super::*;

// --- audit --------------------------------------------------------------------------------

pub(super) async fn starts_the_audit_chain_at_genesis(s: &dyn Store) {
    assert_eq!(s.audit_head().await.unwrap(), (0, GENESIS_HASH.to_owned()));
    assert!(s.audit_range(0, 100).await.unwrap().is_empty());
    assert!(
        s.query_audit(&AuditFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
}

pub(super) async fn appends_audit_entries_as_one_continuous_chain(s: &dyn Store) {
    let first = s
        .append_audit(&[simple_entry("r1"), simple_entry("r2")])
        .await
        .unwrap();
    assert_eq!(first.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(first[0].prev_hash, GENESIS_HASH);
    assert_eq!(
        first[0].hash,
        chain_hash(GENESIS_HASH, 1, &simple_entry("r1"))
    );
    assert_eq!(first[1].prev_hash, first[0].hash);
    assert_eq!(s.audit_head().await.unwrap(), (2, first[1].hash.clone()));

    let second = s.append_audit(&[simple_entry("r3")]).await.unwrap();
    assert_eq!(
        (second[0].seq, second[0].prev_hash.as_str()),
        (3, first[1].hash.as_str())
    );
    let third = s
        .append_audit(&[
            entry("r4", None, None, "denied", "decision"),
            entry(
                "r4",
                Some("agt_y"),
                Some("people.enrich"),
                "allowed",
                "outcome",
            ),
        ])
        .await
        .unwrap();
    assert_eq!(third[0].prev_hash, second[0].hash);

    let stored = assert_chain(s).await;
    let returned: Vec<AuditEntry> = [first, second, third].concat();
    assert_eq!(
        stored, returned,
        "the store returns what it stored, `at` to the nanosecond"
    );
    assert_eq!(stored[3].agent_id, None);
}

pub(super) async fn appending_no_audit_entries_changes_nothing(s: &dyn Store) {
    assert!(s.append_audit(&[]).await.unwrap().is_empty());
    s.append_audit(&[simple_entry("r1")]).await.unwrap();
    let head = s.audit_head().await.unwrap();
    assert!(s.append_audit(&[]).await.unwrap().is_empty());
    assert_eq!(s.audit_head().await.unwrap(), head);
}

/// The writer's append (`append_audit_owned`, which takes the entries instead of copying
/// them) continues the same chain as `append_audit`, in either order, and stores the same.
pub(super) async fn the_writers_append_continues_the_same_chain(s: &dyn Store) {
    s.append_audit_owned(vec![simple_entry("r1"), simple_entry("r2")])
        .await
        .unwrap();
    s.append_audit(&[simple_entry("r3")]).await.unwrap();
    s.append_audit_owned(Vec::new()).await.unwrap();
    let enrol = entry(
        "r4",
        Some("agt_z"),
        Some("sequences.add_contacts"),
        "denied",
        "decision",
    );
    s.append_audit_owned(vec![enrol]).await.unwrap();
    let stored = assert_chain(s).await;
    assert_eq!(
        stored
            .iter()
            .map(|e| e.request_id.as_str())
            .collect::<Vec<_>>(),
        ["r1", "r2", "r3", "r4"]
    );
    assert_eq!(
        stored[0].hash,
        chain_hash(GENESIS_HASH, 1, &simple_entry("r1"))
    );
    assert_eq!(stored[3].agent_id.as_deref(), Some("agt_z"));
    assert_eq!(stored[3].action.as_deref(), Some("sequences.add_contacts"));
    assert_eq!(stored[3].decision, "denied");
}

pub(super) async fn concurrent_audit_appends_form_one_contiguous_chain(s: &dyn Store) {
    let batches: Vec<Vec<NewAuditEntry>> = (0..20)
        .map(|b| (0..5).map(|i| simple_entry(&format!("r{b}-{i}"))).collect())
        .collect();
    let results = join_all(batches.iter().map(|b| s.append_audit(b))).await;
    for (batch, result) in batches.iter().zip(results) {
        let stored = result.unwrap();
        let seqs: Vec<i64> = stored.iter().map(|e| e.seq).collect();
        let start = seqs[0];
        assert_eq!(
            seqs,
            (start..start + 5).collect::<Vec<_>>(),
            "a batch is contiguous"
        );
        let ids: Vec<&str> = stored.iter().map(|e| e.request_id.as_str()).collect();
        let wanted: Vec<&str> = batch.iter().map(|e| e.request_id.as_str()).collect();
        assert_eq!(ids, wanted, "in the order given");
    }
    assert_eq!(assert_chain(s).await.len(), 100);
}

pub(super) async fn queries_the_audit_newest_first_by_every_filter(s: &dyn Store) {
    let mut late = entry(
        "r3",
        Some("agt_b"),
        Some("people.search"),
        "allowed",
        "decision",
    );
    late.at = T0 + time::Duration::hours(1);
    s.append_audit(&[
        entry(
            "r1",
            Some("agt_a"),
            Some("people.search"),
            "allowed",
            "decision",
        ),
        entry(
            "r1",
            Some("agt_a"),
            Some("people.search"),
            "allowed",
            "outcome",
        ),
        entry(
            "r2",
            Some("agt_a"),
            Some("people.enrich"),
            "denied",
            "decision",
        ),
        late,
        entry("r4", None, None, "denied", "decision"),
    ])
    .await
    .unwrap();
    async fn seqs(s: &dyn Store, filter: AuditFilter) -> Vec<i64> {
        s.query_audit(&filter)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.seq)
            .collect()
    }
    let some = |v: &str| Some(v.to_owned());
    assert_eq!(
        seqs(s, AuditFilter::default()).await,
        vec![5, 4, 3, 2, 1],
        "limit 0 is no limit"
    );
    assert_eq!(
        seqs(
            s,
            AuditFilter {
                limit: 2,
                ..Default::default()
            }
        )
        .await,
        vec![5, 4]
    );
    assert_eq!(
        seqs(
            s,
            AuditFilter {
                before_seq: Some(4),
                limit: 2,
                ..Default::default()
            }
        )
        .await,
        vec![3, 2]
    );
    assert_eq!(
        seqs(
            s,
            AuditFilter {
                agent_id: some("agt_a"),
                ..Default::default()
            }
        )
        .await,
        vec![3, 2, 1]
    );
    assert_eq!(
        seqs(
            s,
            AuditFilter {
                action: some("people.search"),
                ..Default::default()
            }
        )
        .await,
        vec![4, 2, 1]
    );
    assert_eq!(
        seqs(
            s,
            AuditFilter {
                decision: some("denied"),
                ..Default::default()
            }
        )
        .await,
        vec![5, 3]
    );
    assert_eq!(
        seqs(
            s,
            AuditFilter {
                kind: some("outcome"),
                ..Default::default()
            }
        )
        .await,
        vec![2]
    );
    assert_eq!(
        seqs(
            s,
            AuditFilter {
                request_id: some("r1"),
                ..Default::default()
            }
        )
        .await,
        vec![2, 1]
    );
    assert_eq!(
        seqs(
            s,
            AuditFilter {
                since: Some(T0 + time::Duration::minutes(1)),
                ..Default::default()
            }
        )
        .await,
        vec![4]
    );
    assert_eq!(
        seqs(
            s,
            AuditFilter {
                since: Some(T0),
                ..Default::default()
            }
        )
        .await
        .len(),
        5,
        "since is inclusive"
    );
    let both = AuditFilter {
        agent_id: some("agt_a"),
        decision: some("allowed"),
        limit: 1,
        ..Default::default()
    };
    assert_eq!(seqs(s, both).await, vec![2], "filters combine");
    assert!(
        seqs(
            s,
            AuditFilter {
                agent_id: some("agt_nobody"),
                ..Default::default()
            }
        )
        .await
        .is_empty()
    );
    // An admin change after the calls: the kind filter keeps it apart from them.
    s.append_audit(&[entry("chg_1", Some("agt_a"), None, "changed", "admin")])
        .await
        .unwrap();
    let kinds = |admin| AuditFilter {
        admin,
        ..Default::default()
    };
    assert_eq!(seqs(s, kinds(Some(true))).await, vec![6]);
    assert_eq!(seqs(s, kinds(Some(false))).await, vec![5, 4, 3, 2, 1]);
    assert_eq!(seqs(s, kinds(None)).await, vec![6, 5, 4, 3, 2, 1]);
}

pub(super) async fn pages_the_audit_range_oldest_first(s: &dyn Store) {
    let batch: Vec<NewAuditEntry> = (1..=7).map(|i| simple_entry(&format!("r{i}"))).collect();
    s.append_audit(&batch).await.unwrap();
    let page = |after, limit| async move {
        s.audit_range(after, limit)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.seq)
            .collect::<Vec<_>>()
    };
    assert_eq!(page(0, 3).await, vec![1, 2, 3]);
    assert_eq!(page(3, 3).await, vec![4, 5, 6]);
    assert_eq!(page(6, 3).await, vec![7]);
    assert!(page(7, 3).await.is_empty());
    assert_eq!(page(2, 0).await, vec![3, 4, 5, 6, 7], "limit 0 is no limit");
}
