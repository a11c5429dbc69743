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
