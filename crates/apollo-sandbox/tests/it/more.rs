//! The endpoints past the design's twenty: views, bulk writes, stages, lists, email
//! accounts, calls, auth health (their master-only 403s are in `auth.rs`).

use serde_json::json;

use crate::helpers::TestSandbox;

#[tokio::test]
async fn views_lists_and_bulk_writes_answer_as_apollo_does() {
    let s = TestSandbox::spawn().await;
    let f = s.sandbox.fixtures();
    let c = &f.contact_ids[0];
    let view = s.get(&format!("/api/v1/contacts/{c}")).await;
    assert_eq!(view.status, 200);
    assert_eq!(view.json()["contact"]["id"], json!(c));
    assert_eq!(
        s.get("/api/v1/contacts/000000000000000000000000")
            .await
            .status,
        404
    );
    let stages = s.get("/api/v1/contact_stages").await.json();
    assert_eq!(stages["contact_stages"].as_array().unwrap().len(), 9);
    let accounts = s.get("/api/v1/email_accounts").await.json();
    assert_eq!(
        accounts["email_accounts"].as_array().unwrap().len(),
        f.email_account_ids.len()
    );
    let bulk = s
        .post(
            "/api/v1/contacts/bulk_create",
            json!({"contacts": [{"first_name": "New"}, {"email": view.json()["contact"]["email"]}]}),
        )
        .await
        .json();
    assert_eq!(
        bulk["created_contacts"].as_array().unwrap().len(),
        1,
        "{bulk}"
    );
    assert_eq!(
        bulk["existing_contacts"].as_array().unwrap().len(),
        1,
        "{bulk}"
    );
    let many: Vec<_> = (0..101).map(|i| json!({"name": format!("n{i}")})).collect();
    let too_many = s
        .post("/api/v1/accounts/bulk_create", json!({"accounts": many}))
        .await;
    assert_eq!(too_many.status, 422);
    let moved = s
        .post(
            "/api/v1/contacts/update_stages",
            json!({"contact_ids": [c], "contact_stage_id": f.contact_stage_ids[2]}),
        )
        .await
        .json();
    assert_eq!(
        moved["contacts"][0]["contact_stage_id"],
        json!(f.contact_stage_ids[2])
    );
    let call = s
        .post(
            "/api/v1/phone_calls",
            json!({"contact_id": c, "status": "busy"}),
        )
        .await
        .json();
    let id = call["phone_call"]["id"].as_str().unwrap();
    let found = s.post("/api/v1/phone_calls/search", json!({})).await.json();
    assert_eq!(found["phone_calls"][0]["id"], json!(id));
    assert_eq!(found["pagination"]["total_entries"], json!(1));
    let health = s.get("/v1/auth/health").await.json();
    assert_eq!(health, json!({"healthy": true, "is_logged_in": true}));
}

#[tokio::test]
async fn company_views_and_pages_spend_credits_and_misses_do_not() {
    let s = TestSandbox::spawn().await;
    let page = json!({"page": 2, "per_page": 1});
    let orgs = s.post("/api/v1/mixed_companies/search", page).await.json();
    let id = orgs["organizations"][0]["id"].as_str().unwrap().to_owned();
    let domain = orgs["organizations"][0]["primary_domain"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = s.sandbox.credits().total();
    assert_eq!(
        s.get(&format!("/api/v1/organizations/{id}")).await.status,
        200
    );
    assert_eq!(s.sandbox.credits().total(), before + 1.0);
    let postings = s
        .get(&format!("/api/v1/organizations/{id}/job_postings"))
        .await
        .json();
    assert!(
        !postings["organization_job_postings"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.sandbox.credits().total(), before + 2.0);
    let bulk = s
        .post(
            "/api/v1/organizations/bulk_enrich",
            json!({"domains": [domain, "nowhere.invalid"]}),
        )
        .await
        .json();
    assert_eq!(bulk["unique_enriched_records"], json!(1));
    assert_eq!(bulk["missing_records"], json!(1));
    assert_eq!(s.sandbox.credits().total(), before + 3.0);
    let eleven: Vec<String> = (0..11).map(|i| format!("d{i}.example")).collect();
    let refused = s
        .post(
            "/api/v1/organizations/bulk_enrich",
            json!({"domains": eleven}),
        )
        .await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json()["error_code"], json!("RECORD_LIMIT_EXCEEDED"));
    assert_eq!(
        s.get("/api/v1/organizations/000000000000000000000000")
            .await
            .status,
        404
    );
    assert_eq!(s.sandbox.credits().total(), before + 3.0, "misses are free");
}
