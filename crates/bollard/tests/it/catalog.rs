//! All of Apollo's reference, governed: every action past the design's twenty reaches the
//! sandbox at Full and nothing at Off, with a sentence; a sequence agent works end to end;
//! bulk writes are refused whole with the refused records named; what is outside the
//! catalog is refused naming the method and path, and `bollard catalog` lists it all.

use bollard_policy::{ActionId, Method};
use serde_json::{Value, json};

use crate::cli::Bin;
use crate::helpers::{TestApp, WEBHOOK_PREFIX};

const EVERYTHING: &[&str] = &[
    "people=full",
    "organizations=full",
    "contacts=full",
    "accounts=full",
    "sequences=full",
    "tasks=full",
    "deals=full",
    "users=full",
    "calls=full",
];

fn first_id(v: &Value, key: &str) -> String {
    v[key][0]["id"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn every_new_action_reaches_apollo_at_full_and_nothing_at_off() {
    let t = TestApp::spawn().await;
    let full = t.agent("Full Agent", EVERYTHING).await;
    t.daily_budget("Full Agent", 1000).await;
    let off = t.agent("Off Agent", &[]).await;
    let f = t.sandbox.fixtures();
    let people = t
        .post(
            "/api/v1/mixed_people/api_search",
            &full,
            json!({"per_page": 1}),
        )
        .await;
    let person = first_id(&people.body, "people");
    let orgs = t
        .post(
            "/api/v1/mixed_companies/search",
            &full,
            json!({"per_page": 1}),
        )
        .await;
    let org = first_id(&orgs.body, "organizations");
    let domain = orgs.body["organizations"][0]["primary_domain"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let deals = t
        .post("/api/v1/opportunities/search", &full, json!({}))
        .await;
    let deal = first_id(&deals.body, "opportunities");
    assert!(!person.is_empty() && !org.is_empty() && !deal.is_empty());
    let (c, a) = (f.contact_ids[0].clone(), f.account_ids[0].clone());
    let mut call_id = String::new();
    let (mut message, mut field_id, mut conversation) =
        (String::new(), String::new(), String::new());
    let mut list_id = String::new();
    let tasks: Vec<String> = t.post("/api/v1/tasks/search", &full, json!({})).await.body["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_owned())
        .collect();
    // A phone reveal delivers to a webhook; its result can be polled by request id.
    let revealer = t.agent("Revealer", &["people=full", "reveal=full"]).await;
    t.daily_budget("Revealer", 100).await;
    let revealed = t
        .post(
            "/api/v1/people/match",
            &revealer,
            json!({"id": person, "reveal_phone_number": true, "webhook_url": format!("{WEBHOOK_PREFIX}p")}),
        )
        .await;
    let request_id = revealed.body["request_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!request_id.is_empty(), "{}", revealed.text);
    for id in ActionId::ALL.into_iter().skip(20) {
        let action = id.action();
        let (path_id, body): (Option<String>, Value) = match id {
            ActionId::PeopleView => (Some(person.clone()), json!({})),
            ActionId::OrganizationsView | ActionId::OrganizationsJobPostings => {
                (Some(org.clone()), json!({}))
            }
            ActionId::OrganizationsBulkEnrich => (None, json!({"domains": [domain]})),
            ActionId::OrganizationsNews => (None, json!({"organization_ids": [org]})),
            ActionId::ContactsView => (Some(c.clone()), json!({})),
            ActionId::AccountsView => (Some(a.clone()), json!({})),
            ActionId::DealsView => (Some(deal.clone()), json!({})),
            ActionId::ContactsBulkCreate => (
                None,
                json!({"contacts": [{"first_name": "Ada", "title": "CTO", "organization_name": "Acme"}]}),
            ),
            ActionId::ContactsBulkUpdate => (
                None,
                json!({"contact_attributes": [{"id": c, "title": "CEO"}]}),
            ),
            ActionId::ContactsUpdateStages => (
                None,
                json!({"contact_ids": [c], "contact_stage_id": f.contact_stage_ids[1]}),
            ),
            ActionId::ContactsUpdateOwners => {
                (None, json!({"contact_ids": [c], "owner_id": f.user_ids[1]}))
            }
            ActionId::AccountsBulkCreate => (
                None,
                json!({"accounts": [{"name": "Bulk Co", "domain": "bulk-co.example"}]}),
            ),
            ActionId::AccountsBulkUpdate => (
                None,
                json!({"account_attributes": [{"id": a, "name": "Renamed"}]}),
            ),
            ActionId::AccountsUpdateOwners => {
                (None, json!({"account_ids": [a], "owner_id": f.user_ids[1]}))
            }
            ActionId::SequencesRemoveContacts => (
                None,
                json!({"emailer_campaign_ids": [f.sequence_ids[0]], "contact_ids": [c], "mode": "stop"}),
            ),
            ActionId::CallsCreate => (
                None,
                json!({"contact_id": c, "status": "completed", "duration": 60}),
            ),
            ActionId::CallsUpdate => (Some(call_id.clone()), json!({"duration": 90})),
            ActionId::SequencesEmailStats | ActionId::SequencesSendNow => {
                (Some(message.clone()), json!({}))
            }
            // The seeded 'Event: SaaStr attendees' sequence is inactive and has steps.
            ActionId::SequencesActivate => (Some(f.sequence_ids[3].clone()), json!({})),
            ActionId::SequencesDeactivate => (Some(f.sequence_ids[0].clone()), json!({})),
            ActionId::SequencesArchive => (Some(f.sequence_ids[1].clone()), json!({})),
            ActionId::TasksView | ActionId::TasksUpdate => {
                (Some(tasks[0].clone()), json!({"priority": "low"}))
            }
            ActionId::TasksComplete => (Some(tasks[1].clone()), json!({"note": "Done"})),
            ActionId::TasksSkip => (Some(tasks[2].clone()), json!({})),
            ActionId::TasksBulkCreate => (
                None,
                json!({"user_id": f.user_ids[0], "contact_ids": [c, f.contact_ids[1]], "type": "call",
                       "status": "scheduled", "due_at": "2026-12-24T09:00:00Z"}),
            ),
            ActionId::DealsContactDeals => (Some(c.clone()), json!({})),
            ActionId::ContactsNotes => (None, json!({"contact_id": c})),
            ActionId::ContactsCreateField => (
                None,
                json!({"label": "Renewal owner", "modality": "account", "type": "string"}),
            ),
            ActionId::ContactsUpdateFields => (
                None,
                json!({"fields": [{"id": field_id.clone(), "label": "Renewal lead"}]}),
            ),
            ActionId::CallsConversation => (Some(conversation.clone()), json!({})),
            ActionId::PeopleWebhookResult => (Some(request_id.clone()), json!({})),
            ActionId::SequencesEmailContent => {
                (None, json!({"ids": [message], "body_format": "plain"}))
            }
            ActionId::SequencesEmailStatus => (None, json!({"id": message})),
            ActionId::SequencesActivity => (None, json!({"contact_id": c})),
            ActionId::ContactsCreateList => {
                (None, json!({"name": "Q3 Targets", "modality": "contacts"}))
            }
            ActionId::ContactsUpdateList => (Some(list_id.clone()), json!({"name": "Q4 Targets"})),
            ActionId::ContactsAddToLists | ActionId::ContactsRemoveFromLists => (
                None,
                json!({"entity_ids": [c], "label_names": ["Q4 Targets"], "modality": "contacts"}),
            ),
            _ => (None, json!({})),
        };
        let mut path = action.upstream_path(path_id.as_deref()).unwrap();
        // A GET carries its arguments in the query string.
        let query: Vec<String> = body
            .as_object()
            .into_iter()
            .flatten()
            .filter(|_| action.method == Method::Get)
            .filter_map(|(k, v)| v.as_str().map(|v| format!("{k}={v}")))
            .collect();
        let upstream = path.clone();
        if !query.is_empty() {
            path = format!("{path}?{}", query.join("&"));
        }
        let body = (action.method != Method::Get).then_some(body);
        let before = t.journal().len();
        let denied = t
            .send(action.method.as_str(), &path, Some(&off), body.clone())
            .await;
        assert_eq!(denied.status, 403, "{id} at Off: {}", denied.text);
        assert_eq!(denied.code(), "BOLLARD_DENIED", "{id}");
        assert_eq!(t.journal().len(), before, "{id} at Off reached Apollo");
        let ok = t
            .send(action.method.as_str(), &path, Some(&full), body)
            .await;
        assert_eq!(ok.status, 200, "{id} at Full: {}", ok.text);
        let reached = t.journal();
        assert_eq!(reached.len(), before + 1, "{id}");
        assert_eq!(
            reached.last().map(|e| e.path.as_str()),
            Some(upstream.as_str())
        );
        let sentence = t.last_sentence().await;
        assert!(
            sentence.starts_with("Full Agent, over REST, ")
                && sentence.contains("allowed. Apollo answered 200"),
            "{id}: {sentence}"
        );
        let learnt = |p: &str| {
            ok.body
                .pointer(p)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        match id {
            ActionId::CallsCreate => call_id = learnt("/phone_call/id").unwrap(),
            // Sending needs a scheduled email; the search lists newest first.
            ActionId::SequencesEmails => {
                message = ok.body["emailer_messages"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|m| m["status"] == "scheduled")
                    .and_then(|m| m["id"].as_str())
                    .unwrap()
                    .to_owned();
            }
            ActionId::ContactsCreateField => {
                field_id = format!("account.{}", learnt("/typed_custom_fields/0/id").unwrap());
            }
            ActionId::CallsConversations => {
                conversation = learnt("/conversations/0/id").unwrap();
            }
            ActionId::ContactsCreateList => list_id = learnt("/label/id").unwrap(),
            _ => {}
        }
    }
    // Credits were spent only by the actions that price them.
    assert!(t.sandbox.credits().total() > 0.0);
}

#[tokio::test]
async fn a_sequence_agent_goes_end_to_end() {
    let t = TestApp::spawn().await;
    let key = t
        .agent("Sequencer", &["sequences=full", "contacts=read"])
        .await;
    let f = t.sandbox.fixtures();
    let found = t
        .post(
            "/api/v1/emailer_campaigns/search",
            &key,
            json!({"q_name": "VP Sales"}),
        )
        .await;
    assert_eq!(found.status, 200, "{}", found.text);
    let sequence = first_id(&found.body, "emailer_campaigns");
    let accounts = t
        .send("GET", "/api/v1/email_accounts", Some(&key), None)
        .await;
    assert_eq!(accounts.status, 200, "{}", accounts.text);
    let sender = first_id(&accounts.body, "email_accounts");
    assert!(f.email_account_ids.contains(&sender));
    let contacts = t.post("/api/v1/contacts/search", &key, json!({})).await;
    let ids: Vec<String> = contacts.body["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["email"].is_string())
        .take(2)
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    let added = t
        .post(
            &format!("/api/v1/emailer_campaigns/{sequence}/add_contact_ids"),
            &key,
            json!({"emailer_campaign_id": sequence, "contact_ids": ids,
                   "send_email_from_email_account_id": sender, "sequence_unverified_email": true}),
        )
        .await;
    assert_eq!(added.status, 200, "{}", added.text);
    assert_eq!(
        added.body["contacts"].as_array().unwrap().len(),
        2,
        "{}",
        added.text
    );
    let removed = t
        .post(
            "/api/v1/emailer_campaigns/remove_or_stop_contact_ids",
            &key,
            json!({"emailer_campaign_ids": [sequence], "contact_ids": ids, "mode": "remove"}),
        )
        .await;
    assert_eq!(removed.status, 200, "{}", removed.text);
    let sentence = t.last_sentence().await;
    assert_eq!(
        sentence,
        "Sequencer, over REST, removed 2 contacts from a sequence: allowed. Apollo answered 200 with 2 contacts; 0 credits."
    );
    let view = t
        .send(
            "GET",
            &format!("/api/v1/contacts/{}", ids[0]),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(view.status, 200, "{}", view.text);
    let campaigns = view.body["contact"]["emailer_campaign_ids"]
        .as_array()
        .unwrap();
    assert!(
        !campaigns.iter().any(|c| c == &json!(sequence)),
        "{}",
        view.text
    );
    // Reading email accounts is part of Sequences: without it, no sequence use at all.
    let reader = t.agent("Contacts Only", &["contacts=full"]).await;
    let no = t
        .send("GET", "/api/v1/email_accounts", Some(&reader), None)
        .await;
    assert_eq!(no.status, 403);
    assert!(no.error().contains("'Sequences' is Off"), "{}", no.error());
}

#[tokio::test]
async fn a_bulk_write_with_a_refused_record_is_refused_whole_naming_it() {
    let t = TestApp::spawn().await;
    let key = t.agent("Importer", &["contacts=write"]).await;
    bollard::ops::add_rule(
        &*t.store,
        &crate::helpers::tester(),
        "Importer",
        "no-ceos",
        r#"forbid(principal, action == Action::"contacts.create", resource) when { context.args has title && context.args.title == "CEO" };"#,
    )
    .await
    .unwrap();
    t.sync().await;
    let before = t.journal().len();
    let refused = t
        .post(
            "/api/v1/contacts/bulk_create",
            &key,
            json!({"contacts": [{"first_name": "A", "title": "CTO"}, {"first_name": "B", "title": "CEO"}, {"first_name": "C"}]}),
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert_eq!(
        refused.error(),
        "Importer may not create contacts in bulk: 1 of 3 records is refused as single writes (contacts[1] because the rule 'no-ceos' forbids it), and Bollard refuses a bulk write whole. Nothing was sent; send the call again without the refused records."
    );
    assert_eq!(refused.body["bollard"]["rule_ids"], json!(["rule:no-ceos"]));
    assert_eq!(t.journal().len(), before, "nothing reached Apollo");
    let sentence = t.last_sentence().await;
    assert!(
        sentence.contains("contacts[1] because the rule 'no-ceos' forbids it"),
        "{sentence}"
    );
    let ok = t
        .post(
            "/api/v1/contacts/bulk_create",
            &key,
            json!({"contacts": [{"first_name": "A", "title": "CTO"}, {"first_name": "C"}]}),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.body["created_contacts"].as_array().unwrap().len(), 2);
    assert_eq!(
        t.last_sentence().await,
        "Importer, over REST, created 2 contacts in bulk: allowed. Apollo answered 200 with 2 created; 0 credits."
    );
    // The updates' records are named by id.
    let f = t.sandbox.fixtures();
    bollard::ops::add_rule(
        &*t.store,
        &crate::helpers::tester(),
        "Importer",
        "hands-off",
        &format!(
            r#"forbid(principal, action == Action::"contacts.update", resource) when {{ context.path_id == "{}" }};"#,
            f.contact_ids[1]
        ),
    )
    .await
    .unwrap();
    t.sync().await;
    let upd = t
        .post(
            "/api/v1/contacts/bulk_update",
            &key,
            json!({"contact_attributes": [{"id": f.contact_ids[0], "title": "VP"}, {"id": f.contact_ids[1], "title": "VP"}]}),
        )
        .await;
    assert_eq!(upd.status, 403, "{}", upd.text);
    assert!(
        upd.error()
            .contains(&format!("contact_attributes[1] (id {})", f.contact_ids[1])),
        "{}",
        upd.error()
    );
    // The other form Apollo documents, one set of fields for many ids, is decided per id too.
    let before = t.journal().len();
    let same = t
        .post(
            "/api/v1/contacts/bulk_update",
            &key,
            json!({"contact_ids": [f.contact_ids[0], f.contact_ids[1]], "title": "VP"}),
        )
        .await;
    assert_eq!(same.status, 403, "{}", same.text);
    assert!(
        same.error()
            .contains(&format!("contact_ids[1] (id {})", f.contact_ids[1])),
        "{}",
        same.error()
    );
    assert_eq!(t.journal().len(), before);
    let ok = t
        .post(
            "/api/v1/contacts/bulk_update",
            &key,
            json!({"contact_ids": [f.contact_ids[0], f.contact_ids[2]], "title": "VP"}),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.body["contacts"][1]["title"], "VP", "{}", ok.text);
    assert_eq!(
        t.last_sentence().await,
        "Importer, over REST, updated 2 contacts in bulk: allowed. Apollo answered 200 with 2 contacts; 0 credits."
    );
}

#[tokio::test]
async fn what_is_outside_the_catalog_is_refused_naming_method_and_path() {
    let t = TestApp::spawn().await;
    let key = t.agent("Sales Agent", EVERYTHING).await;
    let outside = bollard::governed::OUTSIDE.iter().map(|(m, p, ..)| (m, p));
    let undocumented = bollard::governed::UNDOCUMENTED
        .iter()
        .map(|(m, p, _)| (m, p));
    for (method, path) in outside.chain(undocumented) {
        let path = path.replace("{id}", "abc123");
        let before = t.journal().len();
        let a = t.send(method, &path, Some(&key), Some(json!({}))).await;
        assert_eq!(a.status, 403, "{method} {path}: {}", a.text);
        assert_eq!(
            a.error(),
            format!(
                "{method} {path} is not an Apollo action that Bollard governs, so it is refused."
            )
        );
        assert_eq!(t.journal().len(), before);
    }
}

#[tokio::test]
async fn the_catalog_command_prints_what_is_governed_and_what_is_not() {
    let bin = Bin::new();
    let text = bin.ok(&["catalog"]).await;
    assert!(
        text.starts_with("Bollard governs 75 Apollo actions in 9 capabilities."),
        "{text}"
    );
    assert!(text.contains("sequences.email_accounts"), "{text}");
    assert!(text.contains("POST   /api/v1/sequences"), "{text}");
    assert!(
        text.contains("POST   /api/v1/calendar_events/search"),
        "{text}"
    );
    assert!(text.contains("apollo_webhook_result_show"), "{text}");
    let doc = bin.json(&["catalog", "--json"]).await;
    assert_eq!(doc, bollard::governed::document());
    assert_eq!(doc["actions"].as_array().unwrap().len(), 75);
    assert_eq!(doc["groups"].as_array().unwrap().len(), 9);
}

#[tokio::test]
async fn every_action_is_a_tool_with_its_schema_for_an_agent_at_full() {
    let t = TestApp::spawn().await;
    let key = t.agent("Full Agent", EVERYTHING).await;
    let c = crate::mcp::connect(&t, &key).await;
    let tools = c.peer().list_all_tools().await.expect("tools/list");
    for action in bollard_policy::catalog() {
        let tool = tools
            .iter()
            .find(|x| x.name == action.mcp_tool)
            .unwrap_or_else(|| panic!("{} is not listed", action.mcp_tool));
        assert_eq!(tool.title.as_deref(), Some(action.title), "{}", action.id);
        let want = action.input_schema();
        let listed: Vec<&String> = tool.input_schema["properties"]
            .as_object()
            .map(|p| p.keys().collect())
            .unwrap_or_default();
        // Without reveal and waterfall grants their flags (and the webhook) are not offered.
        let offered: Vec<&String> = want["properties"]
            .as_object()
            .map(|p| p.keys().collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .filter(|k| {
                !k.starts_with("reveal_") && !k.starts_with("run_waterfall") && *k != "webhook_url"
            })
            .collect();
        assert_eq!(listed, offered, "{}", action.id);
        assert_eq!(
            tool.input_schema.get("required"),
            want.get("required"),
            "{}",
            action.id
        );
        let hints = tool.annotations.clone().expect("annotations");
        assert_eq!(
            hints.read_only_hint,
            Some(action.read_only()),
            "{}",
            action.id
        );
        if !action.read_only() {
            assert_eq!(
                hints.destructive_hint,
                Some(action.overwrites()),
                "{}",
                action.id
            );
            assert_eq!(
                hints.idempotent_hint,
                Some(action.idempotent()),
                "{}",
                action.id
            );
        }
    }
    assert_eq!(tools.len(), bollard_policy::catalog().len());
    // Sending an email is not idempotent; a sequence switch overwrites.
    let send = tools
        .iter()
        .find(|x| x.name == "apollo_emailer_messages_send_now")
        .unwrap();
    assert_eq!(
        send.annotations.clone().unwrap().idempotent_hint,
        Some(false)
    );
    let _ = c.cancel().await;
    t.stop().await;
}
