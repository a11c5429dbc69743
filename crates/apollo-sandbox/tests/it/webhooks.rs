//! Webhook delivery to a tiny axum receiver on port 0.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::helpers::TestSandbox;

/// A receiver on port 0 that forwards every POSTed body to a channel.
async fn receiver() -> (String, mpsc::UnboundedReceiver<Value>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new()
        .route("/hook", post(|State(tx): State<mpsc::UnboundedSender<Value>>, Json(body): Json<Value>| async move {
            let _ = tx.send(body);
            "ok"
        }))
        .with_state(tx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hook"), rx)
}

async fn person_with_mobile(s: &TestSandbox) -> Value {
    let people = s
        .post("/api/v1/mixed_people/api_search", json!({"per_page": 50}))
        .await
        .json()["people"]
        .clone();
    people
        .as_array()
        .expect("people")
        .iter()
        .find(|p| p["has_direct_phone"] == "Yes")
        .expect("a mobile")["id"]
        .clone()
}

#[tokio::test]
async fn phone_reveal_is_delivered_later_to_the_webhook_and_then_stays_revealed() {
    let s = TestSandbox::spawn().await;
    let (url, mut rx) = receiver().await;
    let id = person_with_mobile(&s).await;
    let answer = s
        .post(
            "/api/v1/people/match",
            json!({"id": id, "reveal_phone_number": true, "webhook_url": url}),
        )
        .await;
    assert_eq!(answer.status, 200);
    assert!(
        answer.json()["person"].get("phone_numbers").is_none(),
        "phones arrive later, not in the answer"
    );
    let delivered = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("delivered in time")
        .expect("a body");
    assert_eq!(delivered["person"]["id"], id);
    assert!(delivered["person"]["phone_numbers"][0]["sanitized_number"].is_string());
    assert_eq!(s.sandbox.credits().mobile_phone, 8.0);
    // Apollo returns data the team already revealed even when a call does not ask.
    let later = s
        .post("/api/v1/people/match", json!({"id": id}))
        .await
        .json();
    assert!(later["person"]["phone_numbers"][0]["sanitized_number"].is_string());
    assert_eq!(later["person"]["revealed_for_current_team"], true);
    assert_eq!(s.sandbox.webhook_counts(), (1, 0));
}

#[tokio::test]
async fn waterfall_is_accepted_and_delivered() {
    let s = TestSandbox::spawn().await;
    let (url, mut rx) = receiver().await;
    let id = s.some_person().await["id"].clone();
    let answer = s
        .post(
            "/api/v1/people/match",
            json!({"id": id, "run_waterfall_email": "true", "webhook_url": url}),
        )
        .await
        .json();
    assert_eq!(answer["waterfall"]["status"], "accepted");
    let delivered = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("in time")
        .expect("body");
    assert_eq!(delivered["people"][0]["id"], id);
    assert!(delivered["people"][0].get("waterfall_emails").is_some());
    assert_eq!(s.sandbox.credits().waterfall, 1.0);
}

#[tokio::test]
async fn bulk_phone_reveal_is_one_delivery_for_all_matches() {
    let s = TestSandbox::spawn().await;
    let (url, mut rx) = receiver().await;
    let id = person_with_mobile(&s).await;
    let answer = s
        .post("/api/v1/people/bulk_match", json!({"details": [{"id": id}, {"email": "none@x.example"}], "reveal_phone_number": "true", "webhook_url": url}))
        .await;
    assert_eq!(answer.status, 200);
    let delivered = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("in time")
        .expect("body");
    assert_eq!(delivered["people"].as_array().map(Vec::len), Some(1));
    assert_eq!(delivered["people"][0]["id"], id);
}
