//! Deals, users and API usage stats.

use serde_json::json;

use crate::helpers::TestSandbox;

#[tokio::test]
async fn create_deal_requires_a_name_and_takes_the_stage() {
    let s = TestSandbox::spawn().await;
    let refused = s
        .post("/api/v1/opportunities", json!({"amount": "100"}))
        .await;
    assert_eq!(refused.status, 422);
    assert_eq!(refused.json(), json!({"error": "Name is required"}));
    let f = s.sandbox.fixtures();
    let won = f.opportunity_stage_ids[3].clone();
    let answer = s
        .post("/api/v1/opportunities", json!({"name": "Big one", "amount": "250000", "opportunity_stage_id": won, "closed_date": "2025-06-30", "account_id": f.account_ids[0]}))
        .await;
    assert_eq!(answer.status, 200);
    let deal = answer.json()["opportunity"].clone();
    assert_eq!(deal["amount"], 250_000.0);
    assert_eq!(deal["is_closed"], true);
    assert_eq!(deal["is_won"], true);
    assert_eq!(deal["stage_name"], "Closed Won");
    assert_eq!(deal["source"], "api");
    assert_eq!(deal["closed_date"], "2025-06-30");
    let bad_date = s
        .post(
            "/api/v1/opportunities",
            json!({"name": "x", "closed_date": "30/06/2025"}),
        )
        .await;
    assert_eq!(bad_date.status, 422);
    let bad_amount = s
        .post(
            "/api/v1/opportunities",
            json!({"name": "x", "amount": "lots"}),
        )
        .await;
    assert_eq!(bad_amount.status, 422);
}

#[tokio::test]
async fn update_deal_and_unknown_deal() {
    let s = TestSandbox::spawn().await;
    let id = s
        .post("/api/v1/opportunities", json!({"name": "Small"}))
        .await
        .json()["opportunity"]["id"]
        .clone();
    let updated = s
        .patch(
            &format!("/api/v1/opportunities/{}", id.as_str().unwrap_or("")),
            json!({"amount": 99}),
        )
        .await;
    assert_eq!(updated.status, 200);
    assert_eq!(updated.json()["opportunity"]["amount"], 99.0);
    let unknown = s
        .patch(
            "/api/v1/opportunities/0123456789abcdef01234567",
            json!({"amount": 1}),
        )
        .await;
    assert_eq!(unknown.status, 422);
    assert_eq!(
        unknown.json(),
        json!({"error": "Opportunity does not exist."})
    );
}

#[tokio::test]
async fn list_deals_with_get_sorted_by_amount() {
    let s = TestSandbox::spawn().await;
    let body = s
        .get("/api/v1/opportunities/search?sort_by_field=amount&sort_ascending=true")
        .await
        .json();
    let amounts: Vec<f64> = body["opportunities"]
        .as_array()
        .expect("deals")
        .iter()
        .map(|d| d["amount"].as_f64().unwrap_or(0.0))
        .collect();
    assert_eq!(amounts.len(), 4);
    assert!(amounts.windows(2).all(|w| w[0] <= w[1]), "{amounts:?}");
    let named = s
        .post(
            "/v1/opportunities/search",
            json!({"q_opportunity_name": "deal 2"}),
        )
        .await
        .json();
    assert_eq!(named["pagination"]["total_entries"], 1);
    assert_eq!(
        s.get("/api/v1/opportunities/search?sort_by_field=name")
            .await
            .status,
        422
    );
}

#[tokio::test]
async fn list_users() {
    let s = TestSandbox::spawn().await;
    let body = s.get("/api/v1/users/search").await.json();
    assert_eq!(body["pagination"]["total_entries"], 4);
    let user = &body["users"][0];
    for key in [
        "id",
        "team_id",
        "first_name",
        "last_name",
        "name",
        "title",
        "email",
    ] {
        assert!(user.get(key).is_some(), "{key} missing");
    }
}

#[tokio::test]
async fn api_usage_stats_uses_apollos_odd_keys_and_counts_calls() {
    let s = TestSandbox::spawn().await;
    s.post("/api/v1/contacts/search", json!({})).await;
    s.post("/api/v1/contacts/search", json!({})).await;
    let body = s
        .post("/api/v1/usage_stats/api_usage_stats", json!({}))
        .await
        .json();
    let contacts = &body["[\"api/v1/contacts\", \"search\"]"];
    assert_eq!(
        contacts["minute"],
        json!({"limit": 200, "consumed": 2, "left_over": 198})
    );
    assert_eq!(contacts["hour"]["limit"], 400);
    assert_eq!(contacts["day"]["limit"], 2000);
    assert_eq!(
        body["[\"api/v1/people\", \"bulk_match\"]"]["minute"]["limit"],
        20
    );
}
