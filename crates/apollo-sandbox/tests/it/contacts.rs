//! Contacts: create (with and without run_dedupe), update, search.

use serde_json::{Value, json};

use crate::helpers::TestSandbox;

#[tokio::test]
async fn create_contact_answers_contact_and_labels() {
    let s = TestSandbox::spawn().await;
    let answer = s
        .post(
            "/api/v1/contacts",
            json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@analytical.example", "title": "CTO",
                   "organization_name": "Analytical Engines", "label_names": ["VIP"], "mobile_phone": "+1 415 555 0100",
                   "typed_custom_fields": {"abc": "x"}}),
        )
        .await;
    assert_eq!(answer.status, 200);
    let body = answer.json();
    let contact = &body["contact"];
    assert_eq!(contact["name"], "Ada Lovelace");
    assert_eq!(contact["source"], "api");
    assert_eq!(contact["email"], "ada@analytical.example");
    assert_eq!(
        contact["phone_numbers"][0]["sanitized_number"],
        "+14155550100"
    );
    // As Apollo's contacts do: the first number sanitized, the addresses as a list.
    assert_eq!(contact["sanitized_phone"], "+14155550100");
    assert_eq!(contact["mobile_phone"], "+1 415 555 0100");
    assert_eq!(
        contact["contact_emails"][0]["email"],
        "ada@analytical.example"
    );
    assert_eq!(contact["typed_custom_fields"], json!({"abc": "x"}));
    assert_eq!(body["labels"][0]["name"], "VIP");
    assert_eq!(contact["label_ids"][0], body["labels"][0]["id"]);
    for key in [
        "id",
        "owner_id",
        "account_id",
        "organization_id",
        "contact_stage_id",
        "emailer_campaign_ids",
        "created_at",
        "updated_at",
    ] {
        assert!(contact.get(key).is_some(), "{key} missing");
    }
}

#[tokio::test]
async fn without_run_dedupe_a_duplicate_is_created_and_with_it_the_existing_one_is_updated() {
    let s = TestSandbox::spawn().await;
    let first = s
        .post(
            "/api/v1/contacts",
            json!({"first_name": "Grace", "email": "grace@navy.example"}),
        )
        .await
        .json();
    let second = s
        .post(
            "/api/v1/contacts",
            json!({"first_name": "Grace", "email": "grace@navy.example"}),
        )
        .await
        .json();
    assert_ne!(first["contact"]["id"], second["contact"]["id"]);
    let deduped = s
        .post(
            "/api/v1/contacts",
            json!({"email": "GRACE@navy.example", "title": "Rear Admiral", "run_dedupe": "true"}),
        )
        .await
        .json();
    assert_eq!(deduped["contact"]["id"], first["contact"]["id"]);
    assert_eq!(deduped["contact"]["title"], "Rear Admiral");
    assert_eq!(
        deduped["contact"]["dedupe_result"],
        json!({"found_existing": true, "match_reason": "email", "existing_contact_id": first["contact"]["id"]})
    );
}

#[tokio::test]
async fn bad_id_arguments_are_422_parameters_misconfigured() {
    let s = TestSandbox::spawn().await;
    let answer = s
        .post(
            "/api/v1/contacts",
            json!({"first_name": "X", "account_id": "nope"}),
        )
        .await;
    assert_eq!(answer.status, 422);
    assert_eq!(
        answer.json(),
        json!({"error": "Parameters misconfigured. nope is not a valid ID"})
    );
}

#[tokio::test]
async fn update_contact_with_patch_or_put_and_label_names_replace() {
    let s = TestSandbox::spawn().await;
    let created = s
        .post(
            "/api/v1/contacts",
            json!({"first_name": "Alan", "label_names": ["a", "b"]}),
        )
        .await
        .json();
    let id = created["contact"]["id"].as_str().expect("id").to_owned();
    let patched = s
        .patch(
            &format!("/api/v1/contacts/{id}"),
            json!({"last_name": "Turing", "label_names": ["c"]}),
        )
        .await;
    assert_eq!(patched.status, 200);
    let body = patched.json();
    assert_eq!(body["contact"]["name"], "Alan Turing");
    assert_eq!(body["labels"].as_array().map(Vec::len), Some(1));
    assert_eq!(body["labels"][0]["name"], "c");
    let key = s.master();
    let put = s
        .call(
            "PUT",
            &format!("/v1/contacts/{id}"),
            Some(&key),
            Some(json!({"title": "Mathematician"})),
        )
        .await;
    assert_eq!(put.json()["contact"]["title"], "Mathematician");
    let unknown = s
        .patch(
            "/api/v1/contacts/0123456789abcdef01234567",
            json!({"title": "x"}),
        )
        .await;
    assert_eq!(unknown.status, 422);
    assert_eq!(unknown.json(), json!({"error": "Contact does not exist."}));
}

#[tokio::test]
async fn contact_search_finds_only_team_contacts_with_keywords_and_sorts() {
    let s = TestSandbox::spawn().await;
    s.post(
        "/api/v1/contacts",
        json!({"first_name": "Zelda", "last_name": "Unique", "email": "zelda@hyrule.example"}),
    )
    .await;
    let body = s
        .post(
            "/api/v1/contacts/search",
            json!({"q_keywords": "zelda unique"}),
        )
        .await
        .json();
    assert_eq!(body["pagination"]["total_entries"], 1);
    assert_eq!(body["contacts"][0]["first_name"], "Zelda");
    let all = s
        .post(
            "/api/v1/contacts/search",
            json!({"sort_by_field": "contact_created_at", "sort_ascending": true, "per_page": 100}),
        )
        .await
        .json();
    let created: Vec<&str> = all["contacts"]
        .as_array()
        .expect("contacts")
        .iter()
        .map(|c| c["created_at"].as_str().unwrap_or(""))
        .collect();
    let mut sorted = created.clone();
    sorted.sort();
    assert_eq!(created, sorted);
    assert_eq!(
        all["contacts"]
            .as_array()
            .expect("contacts")
            .last()
            .map(|c| c["first_name"].clone()),
        Some(Value::from("Zelda"))
    );
    let bad = s
        .post(
            "/api/v1/contacts/search",
            json!({"sort_by_field": "shoe_size"}),
        )
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.json(), json!({"error": "Invalid sort criteria"}));
}

#[tokio::test]
async fn contact_search_filters_by_label_and_stage() {
    let s = TestSandbox::spawn().await;
    let created = s
        .post(
            "/api/v1/contacts",
            json!({"first_name": "Lab", "label_names": ["Only me"]}),
        )
        .await
        .json();
    let label = created["labels"][0]["id"].clone();
    let found = s
        .post(
            "/api/v1/contacts/search",
            json!({"contact_label_ids": [label]}),
        )
        .await
        .json();
    assert_eq!(found["pagination"]["total_entries"], 1);
    let stage = s.sandbox.fixtures().contact_stage_ids[0].clone();
    let none = s
        .get(&format!(
            "/api/v1/contacts/search?contact_stage_ids[]={stage}"
        ))
        .await
        .json();
    assert_eq!(none["pagination"]["total_entries"], 0);
}
