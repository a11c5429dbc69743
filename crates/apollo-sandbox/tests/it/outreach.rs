//! Outreach emails, sequence switches, tasks by id, a contact's deals, notes, fields,
//! conversations and webhook results: shapes and errors from Apollo's reference.

use serde_json::{Value, json};

use crate::helpers::TestSandbox;

fn ids(v: &Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x["id"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn outreach_emails_are_searched_sent_once_and_stats_are_read() {
    let s = TestSandbox::spawn().await;
    let found = s.get("/api/v1/emailer_messages/search?per_page=2").await;
    assert_eq!(found.status, 200);
    let v = found.json();
    assert_eq!(v["emailer_messages"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(v["pagination"]["per_page"], 2);
    assert!(v["emailer_steps"].is_array());
    assert!(v["emailer_messages"][0]["to_email"].is_string(), "{v}");
    let all = s
        .post(
            "/api/v1/emailer_messages/search",
            json!({"emailer_message_stats": ["scheduled"]}),
        )
        .await
        .json();
    let scheduled = ids(&all, "emailer_messages");
    assert!(!scheduled.is_empty(), "{all}");
    let sent = s
        .post(
            &format!("/api/v1/emailer_messages/{}/send_now", scheduled[0]),
            json!({}),
        )
        .await;
    assert_eq!(sent.status, 200);
    assert_eq!(sent.json()["emailer_message"]["status"], "delivered");
    let again = s
        .post(
            &format!("/api/v1/emailer_messages/{}/send_now", scheduled[0]),
            json!({}),
        )
        .await;
    assert_eq!(again.status, 422);
    let stats = s
        .get(&format!(
            "/api/v1/emailer_messages/{}/activities",
            scheduled[0]
        ))
        .await
        .json();
    assert_eq!(
        stats["activities"][0]["emailer_message_id"],
        json!(scheduled[0])
    );
    let missing = s.get("/api/v1/emailer_messages/nope/activities").await;
    assert_eq!(
        (missing.status, missing.json()),
        (422, json!({"error": "Could not find message."}))
    );
}

#[tokio::test]
async fn adding_contacts_to_an_active_sequence_schedules_their_first_email() {
    let s = TestSandbox::spawn().await;
    let f = s.sandbox.fixtures();
    let contacts = s.post("/api/v1/contacts/search", json!({})).await.json();
    let with_email: Vec<&Value> = contacts["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["email"].is_string())
        .collect();
    let contact = with_email[5]["id"].as_str().unwrap();
    let seq = &f.sequence_ids[0];
    let added = s
        .post(
            &format!("/api/v1/emailer_campaigns/{seq}/add_contact_ids"),
            json!({"emailer_campaign_id": seq, "contact_ids": [contact],
                   "send_email_from_email_account_id": f.email_account_ids[0],
                   "sequence_unverified_email": true}),
        )
        .await;
    assert_eq!(added.status, 200, "{}", added.json());
    let mine = s
        .post(
            "/api/v1/emailer_messages/search",
            json!({"emailer_campaign_ids": [seq]}),
        )
        .await
        .json();
    assert!(
        mine["emailer_messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["contact_id"] == contact && m["status"] == "scheduled"),
        "{mine}"
    );
}

#[tokio::test]
async fn sequences_switch_on_and_off_and_archive_as_apollo_says() {
    let s = TestSandbox::spawn().await;
    let f = s.sandbox.fixtures();
    let (active, inactive) = (&f.sequence_ids[0], &f.sequence_ids[3]);
    let on_again = s
        .post(
            &format!("/api/v1/emailer_campaigns/{active}/approve"),
            json!({}),
        )
        .await;
    assert_eq!(
        (on_again.status, on_again.json()),
        (422, json!({"error": "The sequence is already active."}))
    );
    let on = s
        .post(
            &format!("/api/v1/emailer_campaigns/{inactive}/approve"),
            json!({}),
        )
        .await;
    assert_eq!(on.status, 200);
    assert_eq!(on.json()["emailer_campaign"]["active"], true);
    assert_eq!(on.json()["emailer_steps"].as_array().unwrap().len(), 4);
    let off = s
        .post(
            &format!("/api/v1/emailer_campaigns/{inactive}/abort"),
            json!({}),
        )
        .await;
    assert_eq!(off.json()["emailer_campaign"]["active"], false);
    let off_again = s
        .post(
            &format!("/api/v1/emailer_campaigns/{inactive}/abort"),
            json!({}),
        )
        .await;
    assert_eq!(off_again.status, 422);
    let archived = s
        .post(
            &format!("/api/v1/emailer_campaigns/{active}/archive"),
            json!({}),
        )
        .await;
    assert_eq!(
        archived.json()["emailer_campaign"],
        json!({"id": active, "active": false, "archived": true, "unique_scheduled": 0})
    );
    assert_eq!(
        s.post("/api/v1/emailer_campaigns/nope/abort", json!({}))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn tasks_are_read_changed_completed_skipped_and_created_in_bulk() {
    let s = TestSandbox::spawn().await;
    let f = s.sandbox.fixtures();
    let tasks = ids(
        &s.post("/api/v1/tasks/search", json!({})).await.json(),
        "tasks",
    );
    let one = s.get(&format!("/api/v1/tasks/{}", tasks[0])).await.json();
    assert_eq!(one["task"]["id"], json!(tasks[0]));
    let changed = s
        .patch(
            &format!("/api/v1/tasks/{}", tasks[0]),
            json!({"priority": "low", "title": "Call"}),
        )
        .await
        .json();
    assert_eq!(
        (&changed["task"]["priority"], &changed["task"]["title"]),
        (&json!("low"), &json!("Call"))
    );
    let done = s
        .post(
            &format!("/api/v1/tasks/{}/complete", tasks[0]),
            json!({"note": "Voicemail"}),
        )
        .await
        .json();
    assert_eq!(done["task"]["status"], "completed");
    assert!(done["task"]["completed_at"].is_string());
    let twice = s
        .post(&format!("/api/v1/tasks/{}/skip", tasks[0]), json!({}))
        .await;
    assert_eq!(twice.status, 422);
    let skipped = s
        .post(&format!("/api/v1/tasks/{}/skip", tasks[1]), json!({}))
        .await
        .json();
    assert_eq!(skipped["task"]["status"], "skipped");
    let gone = s.get("/api/v1/tasks/000000000000000000000000").await;
    assert_eq!(gone.status, 422);
    let bulk = s
        .post(
            "/api/v1/tasks/bulk_create",
            json!({"user_id": f.user_ids[0], "contact_ids": [f.contact_ids[0], f.contact_ids[1]],
                   "type": "call", "status": "scheduled", "due_at": "2026-12-24T09:00:00Z"}),
        )
        .await
        .json();
    assert_eq!(bulk["success"], true);
    assert_eq!(bulk["tasks"].as_array().unwrap().len(), 2);
    let bad = s
        .post(
            "/api/v1/tasks/bulk_create",
            json!({"user_id": f.user_ids[0], "contact_ids": [f.contact_ids[0], "000000000000000000000000"],
                   "type": "call", "status": "scheduled", "due_at": "2026-12-24T09:00:00Z"}),
        )
        .await;
    assert_eq!(bad.status, 422, "one unknown contact creates nothing");
}

#[tokio::test]
async fn notes_fields_and_a_contacts_deals_answer_as_apollo_does() {
    let s = TestSandbox::spawn().await;
    let f = s.sandbox.fixtures();
    let none = s.get("/api/v1/notes").await;
    assert_eq!(none.status, 400);
    assert_eq!(none.json()["error"], "At least one argument is required");
    let notes = s
        .get(&format!("/api/v1/notes?contact_id={}", f.contact_ids[0]))
        .await
        .json();
    assert_eq!(notes["notes"].as_array().unwrap().len(), 1, "{notes}");
    let fields = s.get("/api/v1/fields?source=custom").await.json();
    assert_eq!(fields["fields"].as_array().unwrap().len(), 3, "{fields}");
    let made = s
        .post(
            "/api/v1/fields",
            json!({"label": "Renewal owner", "modality": "account", "type": "string"}),
        )
        .await
        .json();
    let id = made["typed_custom_fields"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let renamed = s
        .patch(
            "/api/v1/fields",
            json!({"fields": [{"id": format!("account.{id}"), "label": "Renewal lead"}]}),
        )
        .await
        .json();
    assert_eq!(renamed["fields"][0]["label"], "Renewal lead");
    let unknown = s
        .patch(
            "/api/v1/fields",
            json!({"fields": [{"id": "contact.nope"}]}),
        )
        .await;
    assert_eq!(unknown.status, 422);
    let deals = s
        .post(
            "/api/v1/contacts/000000000000000000000000/opportunities",
            json!({}),
        )
        .await;
    assert_eq!(
        (deals.status, deals.json()),
        (200, json!({"opportunities": []}))
    );
}

#[tokio::test]
async fn conversations_are_summaries_in_search_and_whole_by_id_for_a_credit() {
    let s = TestSandbox::spawn().await;
    let found = s
        .post(
            "/api/v1/conversations/search",
            json!({"num_fetch_result": 2}),
        )
        .await
        .json();
    let list = found["conversations"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{found}");
    assert!(list[0].get("transcript").is_none() && list[0]["participant_names"].is_array());
    let calls = s
        .post(
            "/api/v1/conversations/search",
            json!({"conversation_type": "phone_call"}),
        )
        .await
        .json();
    assert_eq!(calls["conversations"].as_array().unwrap().len(), 1);
    let id = list[0]["id"].as_str().unwrap();
    let before = s.sandbox.credits().total();
    let whole = s.get(&format!("/api/v1/conversations/{id}")).await.json();
    assert!(whole["transcript"].is_array() && whole["participants"]["external"].is_object());
    assert_eq!(s.sandbox.credits().total() - before, 1.0);
    let missing = s.get("/api/v1/conversations/nope").await;
    assert_eq!(
        (missing.status, missing.json()),
        (
            404,
            json!({"error": "Conversation not found or access denied."})
        )
    );
}

#[tokio::test]
async fn a_webhook_result_can_be_polled_by_its_request_id() {
    let s = TestSandbox::spawn().await;
    let person = s.some_person().await;
    let matched = s
        .post(
            "/api/v1/people/match",
            json!({"id": person["id"], "reveal_phone_number": true, "webhook_url": "http://127.0.0.1:9/hook"}),
        )
        .await
        .json();
    let request_id = matched["request_id"].as_str().unwrap();
    assert!(
        request_id.bytes().all(|b| b.is_ascii_digit()),
        "{request_id}"
    );
    let polled = s
        .get(&format!("/api/v1/webhook_result/{request_id}"))
        .await
        .json();
    assert_eq!(polled["request_type"], "phone");
    assert_eq!(polled["webhook_result"]["person"]["id"], person["id"]);
    let bad = s.get("/api/v1/webhook_result/abc").await;
    assert_eq!(
        (bad.status, bad.json()),
        (400, json!({"error_code": "invalid_request_id"}))
    );
    let unknown = s.get("/api/v1/webhook_result/123").await;
    assert_eq!(
        (unknown.status, unknown.json()),
        (404, json!({"error_code": "request_id_unknown"}))
    );
}

#[tokio::test]
async fn lists_are_created_renamed_filled_and_emptied() {
    let s = TestSandbox::spawn().await;
    let f = s.sandbox.fixtures();
    let made = s
        .post(
            "/api/v1/labels",
            json!({"name": "Q3 Targets", "modality": "contacts"}),
        )
        .await;
    assert_eq!(made.status, 200);
    let id = made.json()["label"]["id"].as_str().unwrap().to_owned();
    let twice = s
        .post(
            "/api/v1/labels",
            json!({"name": "q3 targets", "modality": "contacts"}),
        )
        .await;
    assert_eq!(twice.status, 422);
    let bad = s
        .post("/api/v1/labels", json!({"name": "X", "modality": "leads"}))
        .await;
    assert_eq!(bad.status, 422);
    let renamed = s
        .patch(
            &format!("/api/v1/labels/{id}"),
            json!({"name": "Q4 Targets"}),
        )
        .await
        .json();
    assert_eq!(renamed["label"]["name"], "Q4 Targets");
    let c = &f.contact_ids[0];
    let added = s
        .post(
            "/api/v1/labels/add_entity_ids_to_label_names",
            json!({"entity_ids": [c], "label_names": ["Q4 Targets", "Brand new"], "modality": "contacts"}),
        )
        .await
        .json();
    assert_eq!(added["labels"].as_array().unwrap().len(), 2, "{added}");
    let view = s.get(&format!("/api/v1/contacts/{c}")).await.json();
    assert!(
        view["contact"]["label_ids"]
            .as_array()
            .unwrap()
            .contains(&json!(id)),
        "{view}"
    );
    s.post(
        "/api/v1/labels/remove_entity_ids_from_label_names",
        json!({"entity_ids": [c], "label_names": ["Q4 Targets"], "modality": "contacts"}),
    )
    .await;
    let view = s.get(&format!("/api/v1/contacts/{c}")).await.json();
    assert!(
        !view["contact"]["label_ids"]
            .as_array()
            .unwrap()
            .contains(&json!(id)),
        "{view}"
    );
    assert_eq!(
        s.patch("/api/v1/labels/nope", json!({"name": "x"}))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn schedules_content_send_status_and_activity_answer_as_apollo_does() {
    let s = TestSandbox::spawn().await;
    let f = s.sandbox.fixtures();
    let schedules = s.get("/api/v1/emailer_schedules").await.json();
    assert_eq!(schedules["emailer_schedules"].as_array().unwrap().len(), 2);
    let all = s
        .post("/api/v1/emailer_messages/search", json!({}))
        .await
        .json();
    let first = all["emailer_messages"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let content = s
        .post(
            "/api/v1/emailer_messages/get_content",
            json!({"ids": [first, "nope"], "body_format": "html"}),
        )
        .await
        .json();
    let list = content["emailer_messages"].as_array().unwrap();
    assert_eq!(list.len(), 1, "unknown ids are left out: {content}");
    assert!(list[0]["body"].as_str().unwrap().starts_with("<p>"));
    let status = s
        .post(
            "/api/v1/emailer_messages/email_send_status",
            json!({"id": first}),
        )
        .await
        .json();
    assert_eq!(status["id"], json!(first));
    assert!(status["message"].is_string());
    let missing = s
        .post(
            "/api/v1/emailer_messages/email_send_status",
            json!({"id": "nope"}),
        )
        .await;
    assert_eq!(missing.status, 422);
    let seq = &f.sequence_ids[0];
    let contacts = s.post("/api/v1/contacts/search", json!({})).await.json();
    let contact = contacts["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["email"].is_string())
        .and_then(|c| c["id"].as_str())
        .unwrap()
        .to_owned();
    s.post(
        &format!("/api/v1/emailer_campaigns/{seq}/add_contact_ids"),
        json!({"emailer_campaign_id": seq, "contact_ids": [contact],
               "send_email_from_email_account_id": f.email_account_ids[0], "sequence_unverified_email": true}),
    )
    .await;
    let feed = s
        .post(
            "/api/v1/emailer_campaigns/activity_feed",
            json!({"contact_id": contact}),
        )
        .await
        .json();
    assert_eq!(feed["events"][0]["type"], "added", "{feed}");
    assert_eq!(feed["events"][0]["sequence_id"], json!(seq));
}
