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
