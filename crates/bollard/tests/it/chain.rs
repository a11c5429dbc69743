//! Tamper evidence, fail-closed audit and crash safety, on a real SQLite file.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use apollo_sandbox::{PlanLimits, Sandbox, SandboxConfig};
use bollard::audit::verify::verify;
use serde_json::json;

use crate::helpers::{Served, TestApp};

/// Two admin entries (the agent created, then granted people=read) and, after them, four
/// entries of calls (seq 3 to 6): two denied, one allowed (a decision and an outcome entry).
async fn with_some_records() -> TestApp {
    let t = TestApp::spawn().await;
    let key = t.agent("Sales Agent", &["people=read"]).await;
    t.post("/api/v1/mixed_people/api_search", &key, json!({}))
        .await;
    t.post("/api/v1/contacts", &key, json!({"first_name": "A"}))
        .await;
    t.post("/api/v1/people/match", &key, json!({"email": "a@b.co"}))
        .await;
    t.flush_audit().await;
    let report = verify(&*t.store).await.unwrap();
    assert!(report.ok && report.checked == 6, "{}", report.sentence());
    t
}

#[tokio::test]
async fn verify_names_an_edited_entry() {
    let t = with_some_records().await;
    t.tamper_content(5, |c| c.replace("denied", "allowed"))
        .await;
    let r = verify(&*t.store).await.unwrap();
    assert!(!r.ok);
    assert_eq!(r.first_bad_seq, Some(5), "{}", r.sentence());
    assert!(r.sentence().contains("edited"), "{}", r.sentence());
    t.stop().await;
}

#[tokio::test]
async fn verify_names_a_deleted_entry() {
    let t = with_some_records().await;
    t.raw_sql("DELETE FROM audit WHERE seq = 4").await;
    let r = verify(&*t.store).await.unwrap();
    assert_eq!(r.first_bad_seq, Some(4), "{}", r.sentence());
    t.stop().await;
}

#[tokio::test]
async fn verify_finds_reordered_entries() {
    let t = with_some_records().await;
    for sql in [
        "UPDATE audit SET seq = -2 WHERE seq = 4",
        "UPDATE audit SET seq = 4 WHERE seq = 5",
        "UPDATE audit SET seq = 5 WHERE seq = -2",
    ] {
        t.raw_sql(sql).await;
    }
    let r = verify(&*t.store).await.unwrap();
    assert_eq!(r.first_bad_seq, Some(4), "{}", r.sentence());
    t.stop().await;
}

#[tokio::test]
async fn verify_finds_a_removed_tail() {
    let t = with_some_records().await;
    t.raw_sql("DELETE FROM audit WHERE seq = 6").await;
    let r = verify(&*t.store).await.unwrap();
    assert!(!r.ok);
    assert!(
        r.sentence().contains("last entries were removed"),
        "{}",
        r.sentence()
    );
    t.stop().await;
}

#[tokio::test]
async fn when_the_record_cannot_be_written_the_call_is_refused_and_nothing_is_sent() {
    let t = TestApp::spawn().await;
    let key = t.agent("Sales Agent", &["people=read"]).await;
    t.raw_sql("CREATE TRIGGER no_audit BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'disk full'); END").await;
    let a = t
        .post("/api/v1/mixed_people/api_search", &key, json!({}))
        .await;
    assert_eq!(
        (a.status, a.code()),
        (503, "BOLLARD_AUDIT_UNAVAILABLE"),
        "{}",
        a.text
    );
    assert!(t.journal().is_empty(), "nothing reached Apollo");
    t.raw_sql("DROP TRIGGER no_audit").await;
    let a = t
        .post("/api/v1/mixed_people/api_search", &key, json!({}))
        .await;
    assert_eq!(
        a.status, 200,
        "the gateway recovers once the store does: {}",
        a.text
    );
    t.stop().await;
}

#[tokio::test]
async fn a_change_whose_record_cannot_be_written_is_not_made() {
    let t = TestApp::spawn().await;
    t.agent("Sales Agent", &["people=read"]).await;
    t.raw_sql("CREATE TRIGGER no_audit BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'disk full'); END").await;
    let by = crate::helpers::tester();
    let refused =
        bollard::ops::grant(&*t.store, &by, "Sales Agent", &["contacts=full".into()]).await;
    assert!(refused.is_err(), "the change reports the failure");
    let created =
        bollard::ops::create_agent(&*t.store, &by, "Ghost", "", None, t.clock.now()).await;
    assert!(created.is_err());
    t.raw_sql("DROP TRIGGER no_audit").await;
    let agent = bollard::ops::find_agent(&*t.store, "Sales Agent")
        .await
        .unwrap();
    assert_eq!(
        agent.grants.level(bollard_policy::Group::Contacts),
        bollard_policy::Level::Off,
        "an unrecorded grant never took effect"
    );
    assert!(t.store.find_agent("Ghost").await.unwrap().is_none());
    assert!(verify(&*t.store).await.unwrap().ok);
    t.stop().await;
}

/// The entry is written before the change; a change that then fails gets a second entry
/// saying so, so the record never claims a change that was not made.
#[tokio::test]
async fn a_change_that_fails_after_its_record_is_recorded_as_failed() {
    let t = TestApp::spawn().await;
    t.agent("Sales Agent", &["people=read"]).await;
    t.raw_sql(
        "CREATE TRIGGER frozen BEFORE UPDATE ON agents BEGIN SELECT RAISE(ABORT, 'frozen'); END",
    )
    .await;
    let by = crate::helpers::tester();
    let refused =
        bollard::ops::grant(&*t.store, &by, "Sales Agent", &["contacts=full".into()]).await;
    assert!(refused.is_err());
    t.raw_sql("DROP TRIGGER frozen").await;
    let newest = t.store.audit_range(0, 0).await.unwrap();
    let [.., intended, failed] = newest.as_slice() else {
        panic!("two entries at least");
    };
    assert_eq!(
        (intended.kind.as_str(), intended.decision.as_str()),
        ("admin", "changed")
    );
    assert_eq!(
        (failed.kind.as_str(), failed.decision.as_str()),
        ("admin", "failed")
    );
    assert_eq!(intended.request_id, failed.request_id);
    assert!(
        failed
            .content
            .contains("Contacts from Off to Full use: this did not take effect, because"),
        "{}",
        failed.content
    );
    assert!(verify(&*t.store).await.unwrap().ok);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_sigkill_under_load_every_call_that_reached_apollo_has_its_record() {
    let mut sc = SandboxConfig::new(3);
    sc.limits = PlanLimits::unlimited();
    let sandbox = Sandbox::spawn(sc, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let mut served = Served::start(&sandbox, &["people=read"], "error").await;
    let (url, key) = (served.url.clone(), served.key.clone());
    let client = reqwest::Client::new();
    let base = format!("{}/api/v1/mixed_people/api_search", served.base);
    let mut load = Vec::new();
    for w in 0..8 {
        let (client, base, key) = (client.clone(), base.clone(), key.clone());
        load.push(tokio::spawn(async move {
            for i in 0.. {
                let body = json!({"q_keywords": format!("crash-{w}-{i}")});
                if client
                    .post(&base)
                    .header("x-api-key", &key)
                    .json(&body)
                    .send()
                    .await
                    .is_err()
                {
                    break;
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    served.child.start_kill().unwrap(); // SIGKILL: no drain, no goodbye.
    let _ = served.child.wait().await;
    for l in load {
        let _ = l.await;
    }
    let arrived: Vec<String> = sandbox
        .journal()
        .iter()
        .filter_map(|e| {
            e.args
                .get("q_keywords")
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        })
        .collect();
    assert!(
        arrived.len() > 20,
        "the load reached the sandbox ({} calls)",
        arrived.len()
    );
    let store = bollard::store::open(&url).await.unwrap();
    let report = verify(&*store).await.unwrap();
    assert!(report.ok, "{}", report.sentence());
    let mut recorded = HashSet::new();
    let mut after = 0;
    loop {
        let page = store.audit_range(after, 1000).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in page
            .iter()
            .filter(|e| e.kind == "decision" && e.decision == "allowed")
        {
            let v: serde_json::Value = serde_json::from_str(&e.content).unwrap();
            if let Some(k) = v.pointer("/arguments/q_keywords").and_then(|k| k.as_str()) {
                recorded.insert(k.to_owned());
            }
        }
    }
    let missing: Vec<&String> = arrived.iter().filter(|k| !recorded.contains(*k)).collect();
    assert!(
        missing.is_empty(),
        "{} calls reached Apollo unrecorded: {missing:?}",
        missing.len()
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn the_consoles_chain_watch_checks_new_entries_and_walks_everything_on_schedule() {
    use bollard::audit::verify::ChainWatch;
    let t = with_some_records().await;
    let often = ChainWatch::new(Duration::from_secs(3600));
    let r = often.status(&*t.store).await.unwrap();
    assert!(r.ok && r.checked == 6, "{}", r.sentence());
    // One admin entry (Another created) and one call.
    let key = t.agent("Another", &[]).await;
    t.post("/api/v1/contacts", &key, json!({})).await;
    t.flush_audit().await;
    let r = often.status(&*t.store).await.unwrap();
    assert!(
        r.ok && r.checked == 8,
        "only the new entries were walked: {}",
        r.sentence()
    );
    // An edit to an entry already checked waits for the next walk of everything, which a
    // zero period makes every time.
    t.tamper_content(5, |c| c + " ").await;
    assert!(often.status(&*t.store).await.unwrap().ok);
    let always = ChainWatch::new(Duration::ZERO);
    assert_eq!(
        always.status(&*t.store).await.unwrap().first_bad_seq,
        Some(5)
    );
    t.stop().await;
}

/// #19 item 4: calls holding credit reservations when the process is SIGKILLed. The next
/// process to start finds them (their process stopped saying it is alive), settles each as
/// spent (they reached Apollo; what came back was never seen), and records it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_with_reservations_held_leaves_nothing_reserved_after_the_next_start() {
    use bollard::store::Limits;
    let sandbox = Sandbox::spawn(SandboxConfig::new(3), SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    // Long enough that every call is still in flight when the process dies.
    sandbox.faults().set_latency(Duration::from_secs(3));
    let mut served = Served::start(&sandbox, &["people=read"], "error").await;
    let store = bollard::store::open(&served.url).await.unwrap();
    let agent = store.find_agent("Agent").await.unwrap().unwrap();
    store
        .set_limits(
            &agent.id,
            &agent.limits,
            &Limits {
                credits_per_day: Some(50),
                ..Limits::default()
            },
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await; // the served process's poll
    let day = bollard::limits::budget_periods(
        &Limits {
            credits_per_day: Some(50),
            ..Limits::default()
        },
        time::OffsetDateTime::now_utc(),
    );
    let reserved = |usage: Vec<bollard::store::BudgetUsage>| {
        usage
            .iter()
            .find(|u| u.period == "day")
            .map_or(0, |u| u.reserved_milli)
    };
    let client = reqwest::Client::new();
    let mut calls = Vec::new();
    for i in 0..4 {
        let (client, base, key) = (client.clone(), served.base.clone(), served.key.clone());
        calls.push(tokio::spawn(async move {
            let _ = client
                .post(format!("{base}/api/v1/people/match"))
                .header("x-api-key", &key)
                .json(&json!({"email": format!("p{i}@acme.com")}))
                .send()
                .await;
        }));
    }
    // All four recorded and at Apollo (a reservation whose call was not yet recorded was
    // never sent, and is released instead: the record comes before the forward).
    let decisions = || async {
        store
            .query_audit(&bollard::store::AuditFilter {
                kind: Some("decision".into()),
                ..Default::default()
            })
            .await
            .unwrap()
            .len()
    };
    for _ in 0..150 {
        if decisions().await == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(decisions().await, 4, "four calls recorded, so forwarded");
    assert_eq!(
        reserved(store.budget_usage(&agent.id, &day).await.unwrap()),
        4_000,
        "four calls hold a credit each"
    );
    served.child.start_kill().unwrap(); // SIGKILL: the reservations stay held.
    let _ = served.child.wait().await;
    for c in calls {
        let _ = c.await;
    }
    assert_eq!(
        reserved(store.budget_usage(&agent.id, &day).await.unwrap()),
        4_000,
        "nothing settled them"
    );

    // The next start, as its clock sees it a minute later: the dead process stopped beating.
    let (app, stop) =
        crate::helpers::start_a_minute_later(&served.url, sandbox.base_url(), sandbox.master_key())
            .await;
    let usage = store.budget_usage(&agent.id, &day).await.unwrap();
    assert_eq!(
        reserved(usage.clone()),
        0,
        "nothing left reserved: {usage:?}"
    );
    assert_eq!(
        usage
            .iter()
            .find(|u| u.period == "day")
            .unwrap()
            .spent_milli,
        4_000,
        "an outcome Bollard did not see is not zero"
    );
    stop.cancel();
    let _ = app.done.await;
    let outcomes = store
        .query_audit(&bollard::store::AuditFilter {
            kind: Some("outcome".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(outcomes.len(), 4, "one outcome record per abandoned call");
    for o in &outcomes {
        let r: bollard::audit::Record = serde_json::from_str(&o.content).unwrap();
        assert!(
            r.sentence.starts_with("Agent's call was sent to Apollo, but the Bollard process that sent it (ins_")
                && r.sentence.ends_with(
                    ") stopped before the answer came back; its reservation of 1 credit stays counted as spent."
                ),
            "{}",
            r.sentence
        );
        assert_eq!(r.credits_used, Some(1.0));
        assert_eq!(r.action.as_deref(), Some("people.enrich"));
    }
    let report = verify(&*store).await.unwrap();
    assert!(report.ok, "{}", report.sentence());
    sandbox.shutdown().await;
}
