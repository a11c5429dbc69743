//! Conformance: two stores on one database, as two gateway replicas would be.

use super::*;

// --- replicas: two stores on one database -------------------------------------------------

pub(super) async fn two_stores(url: &str) -> (Arc<dyn Store>, Arc<dyn Store>) {
    (
        crate::store::open(url).await.unwrap(),
        crate::store::open(url).await.unwrap(),
    )
}

pub(super) async fn two_replicas_append_to_one_chain(url: &str) {
    let (a, b) = two_stores(url).await;
    let mut tasks = Vec::new();
    for t in 0..8 {
        let store = if t % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            for i in 0..5 {
                let batch = [
                    simple_entry(&format!("t{t}-{i}-a")),
                    simple_entry(&format!("t{t}-{i}-b")),
                ];
                store.append_audit(&batch).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(assert_chain(&*a).await.len(), 80);
    assert_eq!(a.audit_head().await.unwrap(), b.audit_head().await.unwrap());
}

pub(super) async fn two_replicas_share_rate_windows_and_budgets(url: &str) {
    let (a, b) = two_stores(url).await;
    let mut tasks = Vec::new();
    for t in 0..100 {
        let store = if t % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            let rate = store
                .take_rate("agt_a", "agent", &[minute(60, 20)])
                .await
                .unwrap();
            let credits = store
                .reserve_credits("agt_a", 1_000, &[day(0, 20_000)], None)
                .await
                .unwrap();
            (
                matches!(rate, RateTake::Taken(_)),
                matches!(credits, Reserve::Reserved(_)),
            )
        }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    assert_eq!(outcomes.iter().filter(|o| o.0).count(), 20);
    assert_eq!(outcomes.iter().filter(|o| o.1).count(), 20);
    assert_eq!(
        b.rate_counts("agt_a", "agent", &[minute(60, 20)])
            .await
            .unwrap(),
        vec![20]
    );
    assert_eq!(
        a.budget_usage("agt_a", &[day(0, 20_000)]).await.unwrap()[0].reserved_milli,
        20_000
    );
}

pub(super) async fn two_replicas_agree_on_the_installation_secret_and_config_version(url: &str) {
    let (a, b) = two_stores(url).await;
    let (sa, sb) = tokio::join!(a.installation_secret(), b.installation_secret());
    assert_eq!(sa.unwrap(), sb.unwrap());
    let before = b.config_version().await.unwrap();
    let agent = a.create_agent(new_agent("Sales Agent")).await.unwrap();
    assert!(
        b.config_version().await.unwrap() > before,
        "a change on one replica is seen by the other"
    );
    assert_eq!(b.find_agent("sales agent").await.unwrap(), Some(agent));
    let msg = conflict(b.create_agent(new_agent("SALES AGENT")).await);
    assert_eq!(
        msg,
        "An agent named 'SALES AGENT' already exists; choose another name."
    );
}

pub(super) async fn reopening_a_store_keeps_its_data(url: &str) {
    let agent = {
        let s = crate::store::open(url).await.unwrap();
        s.append_audit(&[simple_entry("r1")]).await.unwrap();
        s.create_agent(new_agent("Sales Agent")).await.unwrap()
    };
    let s = crate::store::open(url).await.unwrap();
    assert_eq!(
        s.find_agent(&agent.id).await.unwrap(),
        Some(agent),
        "migrations run once; data stays"
    );
    assert_eq!(assert_chain(&*s).await.len(), 1);
}

/// #19 item 2, PostgreSQL: a replica that stalls while it holds the audit head's lock (here a
/// session made as Bollard makes them, that locks it and goes quiet) is ended by PostgreSQL, and the other replicas'
/// batches go on within seconds instead of hanging.
pub(super) async fn a_stalled_lock_holder_does_not_stop_the_other_replicas(url: &str) {
    let store = crate::store::open(url).await.unwrap();
    store.append_audit(&[simple_entry("before")]).await.unwrap();
    // The stalled replica: its own session, with the server-side timeout Bollard sets. It
    // runs in its own task (sqlx's executor bounds and the suite's boxed futures disagree).
    let (locked_tx, locked) = tokio::sync::oneshot::channel();
    let (check_tx, check) = tokio::sync::oneshot::channel::<()>();
    let holder = tokio::spawn(stall(url.to_owned(), locked_tx, check));
    locked.await.unwrap();
    let started = std::time::Instant::now();
    let appended = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        store.append_audit(&[simple_entry("after")]),
    )
    .await
    .expect("the other replica's batch did not hang");
    appended.expect("the batch went in once the stalled holder was ended");
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(4),
        "the lock was really held (waited {:?})",
        started.elapsed()
    );
    assert_eq!(assert_chain(&*store).await.len(), 2);
    check_tx.send(()).unwrap();
    assert!(holder.await.unwrap(), "the stalled session is still alive");
}

/// Locks the audit head in a transaction and goes quiet; once told, says whether the server
/// ended the session (its next statement fails).
async fn stall(
    url: String,
    locked: tokio::sync::oneshot::Sender<()>,
    check: tokio::sync::oneshot::Receiver<()>,
) -> bool {
    use sqlx::{ConnectOptions, Executor};
    use std::str::FromStr;
    // A connection as Bollard's own replicas make them.
    let mut conn =
        crate::store::postgres::bounded(sqlx::postgres::PgConnectOptions::from_str(&url).unwrap())
            .connect()
            .await
            .unwrap();
    conn.execute("BEGIN; SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE;")
        .await
        .unwrap();
    locked.send(()).unwrap();
    check.await.unwrap();
    conn.execute("SELECT 1").await.is_err()
}
