//! Recovery: after a fault the gateway heals itself without a restart, and `/readyz` tells
//! the truth meanwhile, so a load balancer can route around a sick replica.

use serde_json::json;

use crate::helpers::{Options, TestApp};

async fn readyz(t: &TestApp) -> (u16, String) {
    let a = t.send("GET", "/readyz", None, None).await;
    (a.status, a.text)
}

async fn search(t: &TestApp, key: &str) -> u16 {
    t.post(
        "/api/v1/mixed_people/api_search",
        key,
        json!({"person_titles": ["cto"]}),
    )
    .await
    .status
}

/// A full disk: SQLite rolls the whole transaction back when a commit finds no space. Triggers
/// that do the same to every audit write stand for it, without filling the real disk.
const DISK_FULL: &[&str] = &[
    "CREATE TRIGGER full_audit BEFORE INSERT ON audit \
     BEGIN SELECT RAISE(ROLLBACK, 'database or disk is full'); END",
    "CREATE TRIGGER full_head BEFORE UPDATE ON audit_head \
     BEGIN SELECT RAISE(ROLLBACK, 'database or disk is full'); END",
];

#[tokio::test]
async fn calls_and_readiness_recover_once_the_audit_log_can_be_written_again() {
    let t = TestApp::spawn().await;
    let key = t.agent("Sales Agent", &["people=read"]).await;
    assert_eq!(search(&t, &key).await, 200);
    assert_eq!(readyz(&t).await.0, 200);

    for sql in DISK_FULL {
        t.raw_sql(sql).await;
    }
    assert_eq!(search(&t, &key).await, 503);
    assert_eq!(search(&t, &key).await, 503);
    let (status, why) = readyz(&t).await;
    assert_eq!(status, 503);
    assert!(why.contains("the audit log cannot be written"), "{why}");

    t.raw_sql("DROP TRIGGER full_audit").await;
    t.raw_sql("DROP TRIGGER full_head").await;
    assert_eq!(readyz(&t).await, (200, "ready".to_owned()));
    assert_eq!(search(&t, &key).await, 200);
}

#[tokio::test]
async fn readiness_fails_while_the_schema_is_newer_than_this_bollard() {
    let t = TestApp::spawn().await;
    t.raw_sql(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99990101000000, 'from the future', 1, x'00', 0)",
    )
    .await;
    let (status, why) = readyz(&t).await;
    assert_eq!(status, 503);
    assert!(why.contains("made by a newer Bollard"), "{why}");

    t.raw_sql("DELETE FROM _sqlx_migrations WHERE version = 99990101000000")
        .await;
    assert_eq!(readyz(&t).await.0, 200);
}

#[tokio::test]
async fn readiness_fails_when_the_schema_is_missing() {
    let t = TestApp::spawn().await;
    t.raw_sql("DROP TABLE _sqlx_migrations").await;
    let (status, why) = readyz(&t).await;
    assert_eq!(status, 503);
    assert!(why.contains("no Bollard schema"), "{why}");
}

#[tokio::test]
async fn readiness_fails_once_apollo_refuses_the_team_key() {
    let t = TestApp::spawn_with(Options {
        apollo_key: Some("sbx_master_wrong".into()),
        ..Options::default()
    })
    .await;
    let key = t.agent("Sales Agent", &["people=read"]).await;
    assert_eq!(readyz(&t).await.0, 200);
    search(&t, &key).await;
    let (status, why) = readyz(&t).await;
    assert_eq!(status, 503);
    assert!(why.contains("refused the team's API key"), "{why}");
}

#[tokio::test]
async fn the_outcome_of_an_apollo_error_claims_no_result() {
    let t = TestApp::spawn().await;
    let key = t.agent("Sales Agent", &["people=read"]).await;
    t.daily_budget("Sales Agent", 10).await;
    t.sandbox.faults().fail_next(1, 500);
    let a = t
        .post(
            "/api/v1/people/match",
            &key,
            json!({"first_name": "Ada", "last_name": "Lovelace", "domain": "example.com"}),
        )
        .await;
    assert_eq!(a.status, 500, "{}", a.text);
    let sentence = t.last_sentence().await;
    assert!(sentence.contains("500"), "{sentence}");
    assert!(!sentence.contains("no match"), "{sentence}");
}

/// #19 item 10: a stop has its own deadline. A call still waiting on Apollo when it passes
/// does not hold the stop up; its reservation is left counted as spent, and a live replica's
/// sweep settles and records it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stop_past_its_deadline_leaves_the_call_in_flight_to_the_sweep() {
    let t = TestApp::spawn_with(Options {
        listener: Some(bollard::config::ListenerConfig {
            shutdown_deadline: std::time::Duration::from_secs(1),
            ..Default::default()
        }),
        ..Options::default()
    })
    .await;
    let key = t.agent("Researcher", &["people=read"]).await;
    t.daily_budget("Researcher", 10).await;
    let found = t
        .post(
            "/api/v1/mixed_people/api_search",
            &key,
            json!({"per_page": 1}),
        )
        .await;
    let id = found.body["people"][0]["id"].as_str().unwrap().to_owned();
    // The replica that will outlive the first one.
    let token = tokio_util::sync::CancellationToken::new();
    let b = crate::mcp_stateless::replica(&t, &token).await;
    t.sandbox
        .faults()
        .set_latency(std::time::Duration::from_secs(30));
    let url = t.agent_url("/api/v1/people/match");
    let call = tokio::spawn({
        let key = key.clone();
        async move {
            reqwest::Client::new()
                .post(url)
                .header("x-api-key", key)
                .json(&json!({"id": id}))
                .send()
                .await
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    t.token.cancel();
    tokio::time::timeout(std::time::Duration::from_secs(10), t.app.done)
        .await
        .expect("the stop kept to its deadline, not to the call's 30 s")
        .unwrap();
    call.abort();
    // B's sweep (every 5 s) finds the call of the stopped process and settles it as spent.
    let agent = bollard::ops::find_agent(&*t.store, "Researcher")
        .await
        .unwrap();
    let mut settled = None;
    for _ in 0..60 {
        let u = bollard::ops::agent_usage(&*t.store, &agent, time::OffsetDateTime::now_utc())
            .await
            .unwrap();
        let day = u
            .credits
            .iter()
            .find(|c| c.period == "day")
            .unwrap()
            .clone();
        if day.reserved == 0.0 && day.spent == 1.0 {
            settled = Some(day);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(
        settled.is_some(),
        "the call's reservation was never settled"
    );
    b.gate.audit().flush().await.unwrap();
    let lines = bollard::ops::audit_lines(
        &*t.store,
        &bollard::store::AuditFilter {
            admin: Some(false),
            limit: 20,
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .0;
    assert!(
        lines.iter().any(|l| l
            .record
            .sentence
            .contains("stopped before the answer came back")),
        "{:?}",
        lines.iter().map(|l| &l.record.sentence).collect::<Vec<_>>()
    );
    token.cancel();
    let _ = b.done.await;
    t.sandbox.shutdown().await;
}

/// #19 item 7: a refusal the agent heard is on disk before it heard it, so a SIGKILL right
/// after the answers loses none of them.
#[tokio::test]
async fn every_denial_an_agent_heard_survives_a_sigkill() {
    let sandbox = apollo_sandbox::Sandbox::spawn(
        apollo_sandbox::SandboxConfig::new(7),
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await
    .unwrap();
    let served = crate::helpers::Served::start(&sandbox, &["people=read"], "warn").await;
    let client = reqwest::Client::new();
    // Ten at once, so that they share the writer's batches, then SIGKILL at once.
    let calls = (0..10).map(|_| {
        client
            .post(format!("{}/api/v1/contacts/search", served.base))
            .header("x-api-key", &served.key)
            .json(&json!({"q_keywords": "acme"}))
            .send()
    });
    let mut heard = Vec::new();
    for r in futures::future::join_all(calls).await {
        let r = r.unwrap();
        assert_eq!(r.status().as_u16(), 403);
        heard.push(
            r.headers()[bollard::rest::REQUEST_ID_HEADER]
                .to_str()
                .unwrap()
                .to_owned(),
        );
    }
    let (url, _dir) = served.kill_keeping_db().await;
    let store = bollard::store::open(&url).await.unwrap();
    let on_disk: Vec<String> = store
        .audit_range(0, 0)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "decision" && e.decision == "denied")
        .map(|e| e.request_id)
        .collect();
    for id in &heard {
        assert!(
            on_disk.contains(id),
            "the denial {id} was heard but is not on disk"
        );
    }
    assert_eq!(sandbox.journal().len(), 0, "nothing reached Apollo");
}
