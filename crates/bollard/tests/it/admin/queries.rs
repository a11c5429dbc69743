//! The admin API's read side: the dry run, the audit log and its verification, the OpenAPI
//! document, and what unknown routes and methods answer.

use bollard::admin::ROUTES;
use serde_json::json;

use super::{admin, assert_sentence, send_raw};
use crate::helpers::TestApp;

#[tokio::test]
async fn the_dry_run_decides_like_a_real_call_and_sends_nothing() {
    let t = TestApp::spawn().await;
    let a = admin(&t).await;
    let (_, _) = a.create("Sales Agent").await;
    a.put(
        "/agents/Sales%20Agent/grants",
        json!({"set": ["people=read"]}),
    )
    .await;
    let before = t.journal().len();

    let r = a
        .post("/check", json!({"agent": "Sales Agent", "method": "POST", "path": "/api/v1/mixed_people/api_search", "body": {"per_page": 5}}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.body["decision"].as_str(), r.body["status"].as_u64()),
        (Some("allowed"), Some(200))
    );
    assert_eq!(r.body["action"], "people.search");

    let r = a
        .post(
            "/check",
            json!({"agent": "Sales Agent", "action": "people.enrich",
                   "body": "{\"domain\": \"acme.com\", \"reveal_phone_number\": true, \"webhook_url\": \"http://127.0.0.1:9/hooks/x\"}"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["decision"], "denied");
    assert_eq!(r.body["path"], "/api/v1/people/match");
    assert!(
        r.body["reason"]
            .as_str()
            .unwrap()
            .contains("Reveal emails and phone numbers"),
        "{}",
        r.text
    );
    assert!(
        r.body["rule_ids"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == "grant:reveal")
    );

    let r = a
        .post(
            "/check",
            json!({"agent": "Sales Agent", "method": "GET", "path": "/api/v1/opportunity_pipelines"}),
        )
        .await;
    assert_eq!(
        (r.body["decision"].as_str(), r.body["status"].as_u64()),
        (Some("denied"), Some(403))
    );
    assert!(r.body["action"].is_null());

    assert_sentence(
        &a.post(
            "/check",
            json!({"agent": "Nobody", "action": "people.search"}),
        )
        .await,
        404,
        "BOLLARD_NOT_FOUND",
    );
    assert_sentence(
        &a.post("/check", json!({"agent": "Sales Agent"})).await,
        422,
        "BOLLARD_INVALID",
    );
    assert_sentence(
        &a.post(
            "/check",
            json!({"agent": "Sales Agent", "path": "/api/v1/x"}),
        )
        .await,
        422,
        "BOLLARD_INVALID",
    );
    assert_sentence(
        &a.post(
            "/check",
            json!({"agent": "Sales Agent", "action": "people.nothing"}),
        )
        .await,
        422,
        "BOLLARD_INVALID",
    );
    assert_sentence(
        &a.post(
            "/check",
            json!({"agent": "Sales Agent", "action": "contacts.update"}),
        )
        .await,
        422,
        "BOLLARD_INVALID",
    );
    assert_sentence(
        &a.post("/check", json!({"action": "people.search"})).await,
        422,
        "BOLLARD_INVALID",
    );
    assert_eq!(t.journal().len(), before, "a dry run never reaches Apollo");
    assert!(
        t.audit_lines().await.is_empty(),
        "a dry run is not recorded"
    );
    t.stop().await;
}

#[tokio::test]
async fn the_audit_log_pages_newest_first_filters_and_verifies() {
    let t = TestApp::spawn().await;
    let a = admin(&t).await;
    let key = t.agent("Sales Agent", &["people=read"]).await;
    t.agent("Other Agent", &[]).await;
    for n in 1..=3 {
        let r = t
            .post(
                "/api/v1/mixed_people/api_search",
                &key,
                json!({"per_page": n}),
            )
            .await;
        assert_eq!(r.status, 200);
    }
    let denied = t
        .post("/api/v1/people/match", &key, json!({"domain": "acme.com", "reveal_phone_number": true, "webhook_url": "http://127.0.0.1:9/hooks/x"}))
        .await;
    assert_eq!(denied.status, 403);
    t.flush_audit().await;

    let r = a.get("/audit?kind=calls").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let calls = r.body["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 4);
    assert_eq!(calls[0]["decision"], "denied", "newest first");
    assert!(
        calls[0]["sentence"]
            .as_str()
            .unwrap()
            .contains("denied, because"),
        "{}",
        calls[0]
    );
    assert!(r.body["next_cursor"].is_null());

    let r = a.get("/audit?decision=denied").await;
    assert_eq!(r.body["calls"].as_array().unwrap().len(), 1);
    let r = a.get("/audit?kind=calls&agent=Other%20Agent").await;
    assert_eq!(r.body["calls"], json!([]));
    let r = a.get("/audit?action=people.search&since=1h").await;
    assert_eq!(r.body["calls"].as_array().unwrap().len(), 3);

    let p1 = a.get("/audit?kind=calls&limit=2").await;
    assert_eq!(p1.body["calls"].as_array().unwrap().len(), 2);
    let cursor = p1.body["next_cursor"]
        .as_str()
        .expect("a cursor")
        .to_owned();
    let p2 = a
        .get(&format!("/audit?kind=calls&limit=2&cursor={cursor}"))
        .await;
    let p2c = p2.body["calls"].as_array().unwrap();
    assert_eq!(p2c.len(), 2);
    assert!(
        p2c[0]["seq"].as_i64() < p1.body["calls"][1]["seq"].as_i64(),
        "the next page is older"
    );

    for bad in [
        "decision=maybe",
        "since=yesterday",
        "limit=0",
        "limit=x",
        "action=people.nothing",
        "cursor=abc",
    ] {
        assert_sentence(
            &a.get(&format!("/audit?{bad}")).await,
            422,
            "BOLLARD_INVALID",
        );
    }
    assert_sentence(
        &a.get("/audit?agent=Nobody").await,
        404,
        "BOLLARD_NOT_FOUND",
    );

    let v = a.get("/audit/verify").await;
    assert_eq!(v.status, 200, "{}", v.text);
    assert_eq!(v.body["ok"], true);
    assert!(
        v.body["sentence"]
            .as_str()
            .unwrap()
            .starts_with("The audit chain is intact")
    );
    t.stop().await;
}

#[tokio::test]
async fn audit_pages_never_repeat_a_call() {
    let t = TestApp::spawn().await;
    let a = admin(&t).await;
    let key = t.agent("Sales Agent", &["people=read"]).await;
    for n in 1..=4 {
        t.post(
            "/api/v1/mixed_people/api_search",
            &key,
            json!({"per_page": n}),
        )
        .await;
    }
    t.flush_audit().await;
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let r = a.get(&format!("/audit?kind=calls&limit=1{cursor}")).await;
        for c in r.body["calls"].as_array().unwrap() {
            assert_eq!(c.get("outcome_missing"), None, "{c}");
            seen.push(c["request_id"].as_str().unwrap().to_owned());
        }
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (4, 4), "{seen:?}");
    t.stop().await;
}

#[tokio::test]
async fn the_openapi_document_is_public_and_documents_every_route() {
    let t = TestApp::spawn().await;
    let r = send_raw(&t, "GET", "/admin/api/v1/openapi.json", None, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["openapi"], "3.1.0");
    for route in ROUTES {
        assert!(
            r.body["paths"][route.path][route.method].is_object(),
            "{} {}",
            route.method,
            route.path
        );
    }
    t.stop().await;
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json_sentences() {
    let t = TestApp::spawn().await;
    let a = admin(&t).await;
    assert_sentence(&a.get("/nothing").await, 404, "BOLLARD_NOT_FOUND");
    assert_sentence(
        &a.send("DELETE", "/catalog", None).await,
        405,
        "BOLLARD_METHOD_NOT_ALLOWED",
    );
    t.stop().await;
}
