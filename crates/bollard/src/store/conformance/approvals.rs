//! Conformance of the approvals store (`store::approvals`), on every backend: one pending
//! request per call, single use under concurrency and across replicas, decisions and expiry
//! that happen once.

use std::sync::Arc;

use futures::future::join_all;
use serde_json::json;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use super::replicas::two_stores;
use super::{Backend, run};
use crate::store::approvals::{Approval, ApprovalState, NewApproval, new_approval_id};
use crate::store::{AuditFilter, NewAuditEntry, Store};

const T0: OffsetDateTime = datetime!(2026-12-04 10:00 UTC);

fn asking(agent: &str, hash: &str, at: OffsetDateTime) -> NewApproval {
    NewApproval {
        id: new_approval_id(),
        agent_id: agent.to_owned(),
        agent_name: "Sales Agent".into(),
        action: "sequences.add_contacts".into(),
        call_hash: hash.to_owned(),
        request_id: format!("req_{}", uuid::Uuid::new_v4().simple()),
        channel: "rest".into(),
        sentence: "add 2 contacts to the sequence seq_1".into(),
        why: "'Sequences' is Full use with a person's approval for this agent".into(),
        rule_ids: vec!["grant:sequences".into()],
        arguments: json!({"contact_ids": ["c1", "c2"]}),
        max_credits: 0,
        created_at: at,
        expires_at: at + Duration::hours(1),
        notify_state: "pending",
        sealed_arguments: Some(format!("v1.sealed-{hash}")),
    }
}

/// One entry per expiry, as `ops::approvals` writes them (the content here is the id).
fn record(expired: &[Approval]) -> Vec<NewAuditEntry> {
    expired
        .iter()
        .map(|a| NewAuditEntry {
            request_id: format!("exp_{}", a.id),
            kind: "admin".into(),
            at: T0,
            agent_id: Some(a.agent_id.clone()),
            action: None,
            decision: "changed".into(),
            content: json!({"expired": a.id}).to_string(),
        })
        .collect()
}

/// The ids the audit log says expired, in order.
async fn recorded_expiries(s: &dyn Store) -> Vec<String> {
    let mut ids: Vec<String> = s
        .query_audit(&AuditFilter {
            limit: 1000,
            ..AuditFilter::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| e.request_id.strip_prefix("exp_").map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

async fn asks_once_per_call_and_reuses_the_pending_request(s: &dyn Store) {
    let a = s.approvals();
    let (first, created) = a
        .request_approval(&asking("agt_1", "h1", T0))
        .await
        .unwrap();
    assert!(created);
    assert_eq!(first.state, ApprovalState::Pending);
    assert_eq!(first.arguments, json!({"contact_ids": ["c1", "c2"]}));
    assert_eq!(first.rule_ids, ["grant:sequences"]);
    assert_eq!(first.expires_at, T0 + Duration::hours(1));
    assert_eq!(first.sealed_arguments.as_deref(), Some("v1.sealed-h1"));
    let (again, created) = a
        .request_approval(&asking("agt_1", "h1", T0 + Duration::minutes(1)))
        .await
        .unwrap();
    assert!(!created, "a retry while pending reuses the request");
    assert_eq!(again.id, first.id);
    let (other, created) = a
        .request_approval(&asking("agt_2", "h1", T0))
        .await
        .unwrap();
    assert!(
        created && other.id != first.id,
        "another agent's call is its own"
    );
    assert_eq!(a.pending_approvals(T0).await.unwrap(), 2);
    let listed = a.list_approvals(None, 10).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(
        a.get_approval(&first.id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(a.get_approval("apr_none").await.unwrap(), None);
    assert_eq!(
        a.latest_approval("agt_1", "h1")
            .await
            .unwrap()
            .map(|x| x.id),
        Some(first.id)
    );
}

async fn decides_a_pending_request_once(s: &dyn Store) {
    let a = s.approvals();
    let (r, _) = a
        .request_approval(&asking("agt_1", "h1", T0))
        .await
        .unwrap();
    let now = T0 + Duration::minutes(5);
    let approved = a
        .decide_approval(&r.id, true, "dana", Some("fine"), now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(approved.state, ApprovalState::Approved);
    assert_eq!(approved.decided_by.as_deref(), Some("dana"));
    assert_eq!(approved.note.as_deref(), Some("fine"));
    assert_eq!(approved.decided_at, Some(now));
    assert_eq!(
        approved.sealed_arguments, None,
        "a decision erases the sealed arguments"
    );
    assert!(
        a.decide_approval(&r.id, false, "eve", None, now)
            .await
            .unwrap()
            .is_none(),
        "an approved request cannot be denied after"
    );
    let (r2, _) = a
        .request_approval(&asking("agt_1", "h2", T0))
        .await
        .unwrap();
    assert!(
        a.decide_approval(&r2.id, true, "dana", None, T0 + Duration::hours(2))
            .await
            .unwrap()
            .is_none(),
        "an expired request cannot be approved"
    );
    let denied = a
        .decide_approval(&r2.id, false, "dana", None, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(denied.state, ApprovalState::Denied);
    assert_eq!(
        a.list_approvals(Some(ApprovalState::Denied), 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn uses_an_approval_once_under_concurrency(s: &dyn Store) {
    let a = s.approvals();
    let (r, _) = a
        .request_approval(&asking("agt_1", "h1", T0))
        .await
        .unwrap();
    let now = T0 + Duration::minutes(1);
    assert!(
        a.use_approval("agt_1", "h1", "req_early", now)
            .await
            .unwrap()
            .is_none(),
        "a pending request is not an approval"
    );
    a.decide_approval(&r.id, true, "dana", None, now)
        .await
        .unwrap()
        .unwrap();
    assert!(
        a.use_approval("agt_2", "h1", "req_x", now)
            .await
            .unwrap()
            .is_none(),
        "another agent cannot use it"
    );
    assert!(
        a.use_approval("agt_1", "h2", "req_x", now)
            .await
            .unwrap()
            .is_none(),
        "another call cannot use it"
    );
    let other = a
        .approved_other_call("agt_1", "sequences.add_contacts", "h2", now)
        .await
        .unwrap();
    assert_eq!(other.map(|o| o.id), Some(r.id.clone()));
    let tries = (0..10).map(|i| a.use_approval("agt_1", "h1", format!("req_{i}").leak(), now));
    let used: Vec<_> = join_all(tries)
        .await
        .into_iter()
        .filter_map(|r| r.unwrap())
        .collect();
    assert_eq!(used.len(), 1, "used exactly once");
    assert_eq!(used[0].state, ApprovalState::Used);
    assert_eq!(used[0].used_at, Some(now));
    assert!(
        used[0]
            .used_by
            .as_deref()
            .is_some_and(|r| r.starts_with("req_"))
    );
    // Once used, a new request for the same call can be made.
    let (again, created) = a
        .request_approval(&asking("agt_1", "h1", now))
        .await
        .unwrap();
    assert!(created && again.id != r.id);
}

async fn expires_pending_and_approved_requests_once(s: &dyn Store) {
    let a = s.approvals();
    let (p, _) = a
        .request_approval(&asking("agt_1", "h1", T0))
        .await
        .unwrap();
    let (q, _) = a
        .request_approval(&asking("agt_1", "h2", T0))
        .await
        .unwrap();
    let (d, _) = a
        .request_approval(&asking("agt_1", "h3", T0))
        .await
        .unwrap();
    a.decide_approval(&q.id, true, "dana", None, T0)
        .await
        .unwrap();
    a.decide_approval(&d.id, false, "dana", None, T0)
        .await
        .unwrap();
    assert!(a.expire_approvals(T0, &record).await.unwrap().is_empty());
    let later = T0 + Duration::hours(1);
    let mut expired: Vec<String> = a
        .expire_approvals(later, &record)
        .await
        .unwrap()
        .into_iter()
        .map(|x| x.id)
        .collect();
    expired.sort();
    let mut want = vec![p.id.clone(), q.id.clone()];
    want.sort();
    assert_eq!(expired, want, "denied requests stay denied");
    assert!(
        a.expire_approvals(later, &record).await.unwrap().is_empty(),
        "once"
    );
    assert_eq!(
        recorded_expiries(s).await,
        want,
        "each recorded with its marking"
    );
    assert!(
        a.use_approval("agt_1", "h2", "req_late", later)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(a.pending_approvals(later).await.unwrap(), 0);
    a.note_notification(&p.id, false, 3, Some("connection refused"))
        .await
        .unwrap();
    let p = a.get_approval(&p.id).await.unwrap().unwrap();
    assert_eq!(p.state, ApprovalState::Expired);
    assert_eq!(
        p.sealed_arguments, None,
        "expiry erases the sealed arguments"
    );
    assert_eq!(
        (
            p.notify_state.as_str(),
            p.notify_attempts,
            p.notify_error.as_deref()
        ),
        ("failed", 3, Some("connection refused"))
    );
}

async fn a_refused_call_gives_its_approval_back_and_only_it_can(s: &dyn Store) {
    let a = s.approvals();
    let (r, _) = a
        .request_approval(&asking("agt_1", "h1", T0))
        .await
        .unwrap();
    a.decide_approval(&r.id, true, "dana", None, T0)
        .await
        .unwrap()
        .unwrap();
    let used = a.use_approval("agt_1", "h1", "req_a", T0).await.unwrap();
    assert!(used.is_some());
    assert!(
        a.use_approval("agt_1", "h1", "req_b", T0)
            .await
            .unwrap()
            .is_none(),
        "held by req_a"
    );
    assert!(
        !a.release_approval(&r.id, "req_b").await.unwrap(),
        "only the call that used it gives it back"
    );
    assert!(a.release_approval(&r.id, "req_a").await.unwrap());
    assert!(
        !a.release_approval(&r.id, "req_a").await.unwrap(),
        "given back once"
    );
    let back = a.get_approval(&r.id).await.unwrap().unwrap();
    assert_eq!(back.state, ApprovalState::Approved);
    assert_eq!((back.used_at, back.used_by), (None, None));
    let again = a.use_approval("agt_1", "h1", "req_c", T0).await.unwrap();
    assert_eq!(again.and_then(|x| x.used_by).as_deref(), Some("req_c"));
    // Given back after its time is up, it is expired like any other.
    a.release_approval(&r.id, "req_c").await.unwrap();
    let later = T0 + Duration::hours(2);
    assert!(
        a.use_approval("agt_1", "h1", "req_d", later)
            .await
            .unwrap()
            .is_none()
    );
    let expired = a.expire_approvals(later, &record).await.unwrap();
    assert_eq!(expired.len(), 1);
}

async fn two_replicas_record_each_expiry_once(url: &str) {
    let (a, b): (Arc<dyn Store>, Arc<dyn Store>) = two_stores(url).await;
    let mut ids = Vec::new();
    for i in 0..6 {
        let (r, _) = a
            .approvals()
            .request_approval(&asking("agt_1", &format!("h{i}"), T0))
            .await
            .unwrap();
        ids.push(r.id);
    }
    ids.sort();
    let later = T0 + Duration::hours(1);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            s.approvals()
                .expire_approvals(later, &record)
                .await
                .unwrap()
                .len()
        }));
    }
    let mut marked = 0;
    for t in tasks {
        marked += t.await.unwrap();
    }
    assert_eq!(marked, ids.len(), "each marked by one sweep");
    assert_eq!(
        recorded_expiries(&*a).await,
        ids,
        "each recorded exactly once"
    );
}

/// Calls on two replicas race one approval while the budget refuses half of them: a refused
/// call gives the approval back, the others try again. At no moment do two calls hold it, and
/// in the end exactly one call (one that was sent) has used it.
async fn two_replicas_race_an_approval_that_refused_calls_give_back(url: &str) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (a, b): (Arc<dyn Store>, Arc<dyn Store>) = two_stores(url).await;
    let (r, _) = a
        .approvals()
        .request_approval(&asking("agt_1", "h1", T0))
        .await
        .unwrap();
    b.approvals()
        .decide_approval(&r.id, true, "dana", None, T0)
        .await
        .unwrap()
        .unwrap();
    let holders = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        let (holders, most, id) = (holders.clone(), most.clone(), r.id.clone());
        tasks.push(tokio::spawn(async move {
            let me = format!("req_{i}");
            // Calls 0 to 5 are refused by their budget; 6 and 7 are sent.
            let refused = i < 6;
            for _ in 0..200 {
                if s.approvals()
                    .use_approval("agt_1", "h1", &me, T0)
                    .await
                    .unwrap()
                    .is_some()
                {
                    let now = holders.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                    holders.fetch_sub(1, Ordering::SeqCst);
                    if !refused {
                        return true;
                    }
                    assert!(s.approvals().release_approval(&id, &me).await.unwrap());
                    return false;
                }
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            false
        }));
    }
    let mut sent = 0;
    for t in tasks {
        sent += usize::from(t.await.unwrap());
    }
    assert_eq!(most.load(Ordering::SeqCst), 1, "never two holders at once");
    assert_eq!(sent, 1, "used up by exactly one call that was sent");
    let used = a.approvals().get_approval(&r.id).await.unwrap().unwrap();
    assert_eq!(used.state, ApprovalState::Used);
    assert!(matches!(used.used_by.as_deref(), Some("req_6" | "req_7")));
}

async fn two_replicas_use_one_approval_once(url: &str) {
    let (a, b): (Arc<dyn Store>, Arc<dyn Store>) = two_stores(url).await;
    let (r, _) = a
        .approvals()
        .request_approval(&asking("agt_1", "h1", T0))
        .await
        .unwrap();
    b.approvals()
        .decide_approval(&r.id, true, "dana", None, T0)
        .await
        .unwrap()
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            s.approvals()
                .use_approval("agt_1", "h1", &format!("req_{i}"), T0)
                .await
                .unwrap()
                .is_some()
        }));
    }
    let mut used = 0;
    for t in tasks {
        used += usize::from(t.await.unwrap());
    }
    assert_eq!(used, 1);
}

conformance! {
    store: [
        asks_once_per_call_and_reuses_the_pending_request,
        decides_a_pending_request_once,
        uses_an_approval_once_under_concurrency,
        expires_pending_and_approved_requests_once,
        a_refused_call_gives_its_approval_back_and_only_it_can,
    ],
    replicas: [
        two_replicas_use_one_approval_once,
        two_replicas_race_an_approval_that_refused_calls_give_back,
        two_replicas_record_each_expiry_once,
    ],
}
