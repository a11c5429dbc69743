//! Fault injection: latency, failures, dropped connections, forced 429s.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::TestSandbox;

#[tokio::test]
async fn the_next_n_calls_fail_with_the_chosen_status() {
    let s = TestSandbox::spawn().await;
    s.sandbox.faults().fail_next(2, 503);
    for _ in 0..2 {
        let answer = s.post("/api/v1/contacts/search", json!({})).await;
        assert_eq!(answer.status, 503);
        assert_eq!(
            answer.json(),
            json!({"status": 503, "error": "Service Unavailable"})
        );
    }
    assert_eq!(
        s.post("/api/v1/contacts/search", json!({})).await.status,
        200
    );
    let statuses: Vec<u16> = s.seen().into_iter().map(|(_, _, status)| status).collect();
    assert_eq!(statuses, vec![503, 503, 200]);
}

#[tokio::test]
async fn latency_is_added_until_cleared() {
    let s = TestSandbox::spawn().await;
    s.sandbox.faults().set_latency(Duration::from_millis(150));
    let started = Instant::now();
    s.post("/api/v1/contacts/search", json!({})).await;
    assert!(started.elapsed() >= Duration::from_millis(150));
    s.sandbox.faults().clear();
    // No upper bound on time here (shared machines are noisy): clearing resets the setting.
    assert_eq!(s.sandbox.faults().settings().latency_ms, 0);
    s.post("/api/v1/contacts/search", json!({})).await;
}

#[tokio::test]
async fn a_dropped_connection_gets_no_answer_at_all() {
    let s = TestSandbox::spawn().await;
    s.sandbox.faults().drop_next(1);
    let result = s
        .client
        .post(s.url("/api/v1/contacts/search"))
        .header("x-api-key", s.master())
        .json(&json!({}))
        .send()
        .await;
    assert!(
        result.is_err(),
        "the connection was closed without a response: {result:?}"
    );
    assert_eq!(
        s.post("/api/v1/contacts/search", json!({})).await.status,
        200
    );
    assert_eq!(s.seen()[0].2, 0, "journaled with status 0");
}

#[tokio::test]
async fn forced_429_looks_like_apollos() {
    let s = TestSandbox::spawn().await;
    s.sandbox.faults().rate_limit_next(1);
    let answer = s.post("/api/v1/mixed_people/api_search", json!({})).await;
    assert_eq!(answer.status, 429);
    assert!(answer.json()["message"].as_str().unwrap_or("").starts_with("The maximum number of api calls allowed for api/v1/mixed_people/api_search is 200 times per minute."));
    assert_eq!(answer.header("retry-after"), Some("30"));
    assert_eq!(answer.header("x-minute-requests-left"), Some("0"));
    assert_eq!(
        s.post("/api/v1/mixed_people/api_search", json!({}))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn faults_are_switchable_over_http() {
    let s = TestSandbox::spawn().await;
    let set = s
        .post(
            "/__sandbox/faults",
            json!({"fail_next": 1, "fail_status": 502}),
        )
        .await;
    assert_eq!(set.json()["fail_next"], 1);
    assert_eq!(
        s.post("/api/v1/contacts/search", json!({})).await.status,
        502
    );
    s.post("/__sandbox/faults", json!({"rate_limit_next": 1}))
        .await;
    let key = s.master();
    s.call("DELETE", "/__sandbox/faults", Some(&key), None)
        .await;
    assert_eq!(
        s.post("/api/v1/contacts/search", json!({})).await.status,
        200
    );
    let bad = s
        .post(
            "/__sandbox/faults",
            json!({"fail_next": 1, "fail_status": 200}),
        )
        .await;
    assert_eq!(bad.status, 422);
}
