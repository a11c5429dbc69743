//! Sequences: search and add contacts.

use serde_json::json;

use crate::helpers::TestSandbox;

#[tokio::test]
async fn sequence_search_lists_seeded_sequences_and_filters_by_name() {
    let s = TestSandbox::spawn().await;
    let all = s
        .post("/api/v1/emailer_campaigns/search", json!({}))
        .await
        .json();
    assert_eq!(all["pagination"]["total_entries"], 6);
    let first = &all["emailer_campaigns"][0];
    for key in [
        "id",
        "name",
        "archived",
        "active",
        "created_at",
        "num_steps",
        "user_id",
    ] {
        assert!(first.get(key).is_some(), "{key} missing");
    }
    let found = s
        .get("/v1/emailer_campaigns/search?q_name=inbound")
        .await
        .json();
    assert_eq!(found["pagination"]["total_entries"], 1);
    assert_eq!(found["emailer_campaigns"][0]["name"], "Inbound follow-up");
}

#[tokio::test]
async fn add_contacts_to_a_sequence_adds_and_reports_skipped_ids() {
    let s = TestSandbox::spawn().await;
    let f = s.sandbox.fixtures();
    let contact = s
        .post(
            "/api/v1/contacts",
            json!({"first_name": "Seq", "email": "seq@example.com"}),
        )
        .await
        .json()["contact"]["id"]
        .clone();
    let missing = "0123456789abcdef01234567";
    let sequence = &f.sequence_ids[0];
    let answer = s
        .post(
            &format!("/api/v1/emailer_campaigns/{sequence}/add_contact_ids"),
            json!({"emailer_campaign_id": sequence, "contact_ids": [contact, missing], "send_email_from_email_account_id": f.email_account_ids[0]}),
        )
        .await;
    assert_eq!(answer.status, 200);
    let body = answer.json();
    assert_eq!(body["contacts"][0]["id"], contact);
    assert_eq!(
        body["contacts"][0]["emailer_campaign_ids"],
        json!([sequence])
    );
    assert_eq!(
        body["skipped_contact_ids"],
        json!({missing: "contact_not_found"})
    );
    assert_eq!(body["emailer_campaign"]["id"], sequence.as_str());
}

#[tokio::test]
async fn add_contacts_requires_the_ids_apollo_requires() {
    let s = TestSandbox::spawn().await;
    let f = s.sandbox.fixtures();
    let sequence = &f.sequence_ids[0];
    let path = format!("/api/v1/emailer_campaigns/{sequence}/add_contact_ids");
    let no_sender = s
        .post(
            &path,
            json!({"emailer_campaign_id": sequence, "contact_ids": ["x"]}),
        )
        .await;
    assert_eq!(no_sender.status, 422);
    assert_eq!(
        no_sender.json(),
        json!({"error": "Please specify a emailer_campaign_id and send_email_from_email_account_id."})
    );
    let no_contacts = s
        .post(&path, json!({"emailer_campaign_id": sequence, "send_email_from_email_account_id": f.email_account_ids[0]}))
        .await;
    assert_eq!(
        no_contacts.json(),
        json!({"error": "Please specify either contact_ids or label_names."})
    );
    let unknown = "0123456789abcdef01234567";
    let not_found = s
        .post(
            &format!("/api/v1/emailer_campaigns/{unknown}/add_contact_ids"),
            json!({"emailer_campaign_id": unknown, "contact_ids": ["x"], "send_email_from_email_account_id": f.email_account_ids[0]}),
        )
        .await;
    assert_eq!(not_found.status, 404);
}

#[tokio::test]
async fn add_contacts_by_label_names() {
    let s = TestSandbox::spawn().await;
    let f = s.sandbox.fixtures();
    let sequence = &f.sequence_ids[1];
    let answer = s
        .post(
            &format!("/v1/emailer_campaigns/{sequence}/add_contact_ids"),
            json!({"emailer_campaign_id": sequence, "label_names": ["Hot lead"], "send_email_from_email_account_id": f.email_account_ids[0], "sequence_unverified_email": true, "sequence_no_email": true}),
        )
        .await
        .json();
    let added = answer["contacts"].as_array().map(Vec::len).unwrap_or(0);
    assert!(added >= 1, "seeded contacts carry the label: {answer}");
}
