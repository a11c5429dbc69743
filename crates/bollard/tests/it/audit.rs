//! The audit record over REST: one per call, denied ones included, sentences a person can
//! read, personal data kept out of the database, and fail-closed when it cannot be written.

use bollard::audit::verify::verify;
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn every_call_allowed_or_denied_is_recorded_with_a_readable_sentence() {
    let t = TestApp::spawn().await;
    let key = t.agent("Sales Agent", &["people=read"]).await;
    let a = t
        .post(
            "/api/v1/mixed_people/api_search",
            &key,
            json!({"person_titles": ["VP Sales"], "person_locations": ["Austin"], "per_page": 25}),
        )
        .await;
    assert_eq!(a.status, 200);
    let s = t.last_sentence().await;
    assert!(
        s.starts_with("Sales Agent, over REST, searched Apollo's people database for \"VP Sales\" in Austin (page 1, 25 per page): allowed. Apollo answered 200 with "),
        "{s}"
    );
    assert!(s.ends_with("; 0 credits."), "{s}");

    let a = t
        .post(
            "/api/v1/people/match",
            &key,
            json!({"domain": "acme.com", "first_name": "Ada", "last_name": "L", "reveal_phone_number": true, "webhook_url": "http://127.0.0.1:9/hooks/x"}),
        )
        .await;
    assert_eq!(a.status, 403);
    let s = t.last_sentence().await;
    assert_eq!(
        s,
        "Sales Agent, over REST, asked to reveal phone numbers for a person at acme.com: denied, because 'Reveal emails and phone numbers' is Off for this agent. Nothing was sent to Apollo.",
    );
    let a = t
        .send(
            "POST",
            "/api/v1/mixed_people/api_search",
            Some("bol_agent_nope"),
            Some(json!({})),
        )
        .await;
    assert_eq!(a.status, 401);
    let lines = t.audit_lines().await;
    assert_eq!(lines.len(), 3);
    let rid = a.headers["x-bollard-request-id"].to_str().unwrap();
    assert_eq!(
        lines[0].record.request_id, rid,
        "the request id of the answer is the record's"
    );
    assert_eq!(lines[0].record.decision, "denied");
    assert!(lines[0].record.agent_id.is_none());
    let report = verify(&*t.store).await.unwrap();
    assert!(report.ok, "{}", report.sentence());
    t.stop().await;
}

#[tokio::test]
async fn personal_data_is_stored_only_as_a_keyed_hash() {
    let t = TestApp::spawn().await;
    let key = t.agent("Researcher", &["people=read"]).await;
    t.daily_budget("Researcher", 10).await;
    let email = "grace.hopper@navy.example";
    let _ = t
        .post(
            "/api/v1/people/match",
            &key,
            json!({"email": email, "first_name": "Grace", "last_name": "Hopperish"}),
        )
        .await;
    t.flush_audit().await;
    let lines = t.audit_lines().await;
    let args = lines[0].record.arguments.to_string();
    assert!(args.contains("hmac:"), "{args}");
    for path in [t.db_path.clone(), t.db_path.with_extension("db-wal")] {
        let bytes = std::fs::read(&path).unwrap_or_default();
        for needle in [email, "Hopperish"] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle} is in {} in clear",
                path.display()
            );
        }
    }
    t.stop().await;
}

#[tokio::test]
async fn stopping_the_gateway_writes_every_queued_record_first() {
    let t = TestApp::spawn().await;
    let key = t.agent("Sales Agent", &["people=read"]).await;
    // Denials are queued without waiting for the disk. End to end, a graceful stop loses none
    // of them; the writer's own test (audit::writer) stops with records still queued.
    let calls = (0..200).map(|_| t.post("/api/v1/contacts", &key, json!({"first_name": "A"})));
    for a in futures::future::join_all(calls).await {
        assert_eq!(a.status, 403);
    }
    let store = t.store.clone();
    let _db = t.stop().await;
    let (seq, _) = store.audit_head().await.unwrap();
    // After the two admin entries of the set-up (the agent created, its grant).
    assert_eq!(seq, 202, "every denial is on record after shutdown");
    assert!(verify(&*store).await.unwrap().ok);
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_with_413_and_recorded() {
    let t = TestApp::spawn().await;
    let key = t.agent("Sales Agent", &["people=read"]).await;
    let big = "x".repeat(2 * 1024 * 1024);
    let a = t
        .post(
            "/api/v1/mixed_people/api_search",
            &key,
            json!({"q_keywords": big}),
        )
        .await;
    assert_eq!(
        (a.status, a.code()),
        (413, "BOLLARD_TOO_LARGE"),
        "{}",
        a.text
    );
    assert!(t.journal().is_empty());
    let lines = t.audit_lines().await;
    assert_eq!(lines[0].record.status, Some(413));
    t.stop().await;
}
