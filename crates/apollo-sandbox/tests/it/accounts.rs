//! Accounts: create, update, search.

use serde_json::json;

use crate::helpers::TestSandbox;

#[tokio::test]
async fn create_account_needs_a_name_or_domain() {
    let s = TestSandbox::spawn().await;
    let refused = s.post("/api/v1/accounts", json!({"phone": "555"})).await;
    assert_eq!(refused.status, 422);
    assert_eq!(
        refused.json(),
        json!({"error": "Please specify at least a name or domain."})
    );
    let created = s
        .post(
            "/api/v1/accounts",
            json!({"name": "Initech", "domain": "www.initech.example"}),
        )
        .await;
    assert_eq!(created.status, 200);
    let account = created.json()["account"].clone();
    assert_eq!(account["domain"], "initech.example");
    assert_eq!(account["source"], "api");
    for key in [
        "id",
        "team_id",
        "organization_id",
        "account_stage_id",
        "creator_id",
        "owner_id",
        "created_at",
        "phone",
        "label_ids",
        "typed_custom_fields",
    ] {
        assert!(account.get(key).is_some(), "{key} missing");
    }
    let again = s
        .post("/api/v1/accounts", json!({"name": "Initech"}))
        .await
        .json();
    assert_ne!(
        again["account"]["id"], account["id"],
        "accounts are not deduplicated"
    );
}

#[tokio::test]
async fn update_account_and_unknown_id() {
    let s = TestSandbox::spawn().await;
    let id = s
        .post("/api/v1/accounts", json!({"name": "Hooli"}))
        .await
        .json()["account"]["id"]
        .clone();
    let stage = s.sandbox.fixtures().account_stage_ids[1].clone();
    let key = s.master();
    let updated = s
        .call(
            "PUT",
            &format!("/api/v1/accounts/{}", id.as_str().unwrap_or("")),
            Some(&key),
            Some(json!({"account_stage_id": stage})),
        )
        .await;
    assert_eq!(updated.status, 200);
    assert_eq!(
        updated.json()["account"]["account_stage_id"],
        stage.as_str()
    );
    let unknown = s
        .patch(
            "/api/v1/accounts/0123456789abcdef01234567",
            json!({"name": "x"}),
        )
        .await;
    assert_eq!(unknown.status, 422);
}

#[tokio::test]
async fn account_search_by_name_stage_and_sort() {
    let s = TestSandbox::spawn().await;
    s.post("/api/v1/accounts", json!({"name": "Pied Piper"}))
        .await;
    let found = s
        .post(
            "/api/v1/accounts/search",
            json!({"q_organization_name": "pied"}),
        )
        .await
        .json();
    assert_eq!(found["pagination"]["total_entries"], 1);
    assert_eq!(found["accounts"][0]["name"], "Pied Piper");
    let sorted = s
        .get("/v1/accounts/search?sort_by_field=account_updated_at&sort_ascending=false")
        .await;
    assert_eq!(sorted.status, 200);
    assert_eq!(
        sorted.json()["accounts"][0]["name"],
        "Pied Piper",
        "most recently updated first"
    );
    let bad = s
        .post("/api/v1/accounts/search", json!({"sort_by_field": "name"}))
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.json(), json!({"error": "Invalid sort criteria"}));
}
