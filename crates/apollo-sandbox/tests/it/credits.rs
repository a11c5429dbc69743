//! The credit ledger and credit_usage_stats.

use serde_json::json;

use crate::helpers::TestSandbox;

#[tokio::test]
async fn credits_are_charged_as_apollo_charges_and_reported() {
    let s = TestSandbox::spawn().await;
    let id = s.some_person().await["id"].clone();
    s.post("/api/v1/people/match", json!({"id": id})).await; // 1
    s.post("/api/v1/mixed_companies/search", json!({})).await; // 1
    s.get("/api/v1/organizations/enrich?name=nobody-inc").await; // 0: no match
    s.post("/api/v1/mixed_people/api_search", json!({})).await; // free
    let ledger = s.sandbox.credits();
    assert_eq!(ledger.person_match, 1.0);
    assert_eq!(ledger.organization_search, 1.0);
    assert_eq!(ledger.organization_enrich, 0.0);
    assert_eq!(ledger.total(), 2.0);
    let stats = s
        .post("/api/v1/usage_stats/credit_usage_stats", json!({}))
        .await;
    assert_eq!(stats.status, 200);
    let body = stats.json();
    assert_eq!(body["credit_usage_stats"]["lead_credit"]["consumed"], 2.0);
    assert_eq!(
        body["credit_usage_stats"]["lead_credit"]["left_over"],
        9998.0
    );
    assert_eq!(
        body["current_credit_cycle"],
        json!({"start_date": "2025-03-01", "end_date": "2025-03-31"})
    );
    let over_http = s.get("/__sandbox/credits").await.json();
    assert_eq!(over_http["total"], 2.0);
}

#[tokio::test]
async fn mobile_and_personal_email_reveals_cost_extra_at_configured_prices() {
    let s = TestSandbox::spawn_with(|c| c.prices.mobile_phone = 5.0).await;
    let people = s
        .post("/api/v1/mixed_people/api_search", json!({"per_page": 50}))
        .await
        .json()["people"]
        .clone();
    let with_phone = people
        .as_array()
        .expect("people")
        .iter()
        .find(|p| p["has_direct_phone"] == "Yes")
        .expect("someone has a mobile")["id"]
        .clone();
    let answer = s
        .post("/api/v1/people/bulk_match", json!({"details": [{"id": with_phone}], "reveal_phone_number": true, "webhook_url": "http://127.0.0.1:9/hook"}))
        .await
        .json();
    assert_eq!(answer["credits_consumed"], 6.0);
    assert_eq!(s.sandbox.credits().mobile_phone, 5.0);
}
