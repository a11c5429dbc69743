//! Personal data in answers: every answer shape the sandbox produces, over REST and over MCP
//! structured content, read by an agent without `reveal`, after the team stored and revealed
//! numbers and emails by every route Apollo offers. Nothing personal may reach that agent.

use bollard::gate::personal::RecordKind;
use bollard::store::Limits;
use serde_json::{Value, json};

use crate::helpers::{TestApp, WEBHOOK_PREFIX};
use crate::mcp;

/// Every group at full use, and credits to spend.
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

/// The team's data, planted by an agent with `reveal`: the values that must never reach an
/// agent without it.
struct Planted {
    person_id: String,
    /// The phone reveal's request id: its webhook result carries the numbers.
    request_id: String,
    contact_ids: Vec<String>,
    secrets: Vec<String>,
}

/// Phone arguments of a contact, each with its own number.
fn phones(n: u32) -> Value {
    json!({
        "mobile_phone": format!("+1 (415) 555-01{n}1"),
        "home_phone": format!("+1 (415) 555-01{n}2"),
        "direct_phone": format!("+1 (415) 555-01{n}3"),
        "other_phone": format!("+1 (415) 555-01{n}4"),
        "corporate_phone": format!("+1 (415) 555-01{n}5"),
    })
}

/// The numbers of [`phones`], as written and as Apollo sanitizes them.
fn phone_secrets(n: u32) -> Vec<String> {
    (1..=5)
        .flat_map(|k| {
            [
                format!("555-01{n}{k}"),
                format!("+1415555 01{n}{k}").replace(' ', ""),
            ]
        })
        .collect()
}

async fn agent_with_credits(t: &TestApp, name: &str, extra: &[&str]) -> String {
    let grants: Vec<&str> = EVERYTHING.iter().chain(extra).copied().collect();
    let key = t.agent(name, &grants).await;
    t.limits(
        name,
        Limits {
            credits_per_day: Some(10_000),
            ..Limits::default()
        },
    )
    .await;
    key
}

async fn plant(t: &TestApp, revealer: &str) -> Planted {
    let mut secrets = Vec::new();
    let mut contact_ids = Vec::new();
    for n in 1..=2 {
        let mut body = json!({"first_name": "Ada", "last_name": format!("Planted{n}"),
            "organization_name": "Acme", "email": format!("ada{n}@acme.com")});
        if let (Value::Object(b), Value::Object(p)) = (&mut body, phones(n)) {
            b.extend(p);
        }
        let a = t.post("/api/v1/contacts", revealer, body).await;
        assert_eq!(a.status, 200, "{}", a.text);
        assert!(
            a.text.contains(&format!("555-01{n}1")),
            "the revealer sees its numbers"
        );
        contact_ids.push(
            a.body["contact"]["id"]
                .as_str()
                .expect("a contact id")
                .to_owned(),
        );
        secrets.extend(phone_secrets(n));
    }
    // A person the team revealed: emails now, phones after the first reveal (Apollo sends
    // them to the webhook first, then returns them to the team).
    let s = t
        .post(
            "/api/v1/mixed_people/api_search",
            revealer,
            json!({"per_page": 100}),
        )
        .await;
    let people = s.body["people"].as_array().cloned().unwrap_or_default();
    let person_id = people
        .iter()
        .find(|p| p["has_direct_phone"] == "Yes")
        .and_then(|p| p["id"].as_str())
        .expect("a person with a mobile")
        .to_owned();
    let reveal = json!({"id": person_id, "reveal_personal_emails": true,
        "reveal_phone_number": true, "webhook_url": format!("{WEBHOOK_PREFIX}x")});
    let _ = t
        .post("/api/v1/people/match", revealer, reveal.clone())
        .await;
    let a = t.post("/api/v1/people/match", revealer, reveal).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let request_id = a.body["request_id"].as_str().unwrap_or_default().to_owned();
    let person = &a.body["person"];
    for e in person["personal_emails"].as_array().into_iter().flatten() {
        secrets.extend(e.as_str().map(str::to_owned));
    }
    for p in person["phone_numbers"].as_array().into_iter().flatten() {
        for k in ["raw_number", "sanitized_number"] {
            secrets.extend(p[k].as_str().map(str::to_owned));
        }
    }
    assert!(
        person["phone_numbers"]
            .as_array()
            .is_some_and(|p| !p.is_empty()),
        "the team revealed the person's phone: {}",
        a.text
    );
    Planted {
        person_id,
        request_id,
        contact_ids,
        secrets,
    }
}

/// Arguments for each action that make Apollo answer with the planted records where the
/// action can show them: (arguments, path id).
fn calls(
    t: &TestApp,
    p: &Planted,
) -> Vec<(&'static bollard_policy::Action, Value, Option<String>)> {
    let f = t.sandbox.fixtures();
    let first = |v: &[String]| v.first().cloned().unwrap_or_default();
    let contact = first(&p.contact_ids);
    let mut out = Vec::new();
    for action in bollard_policy::catalog() {
        let (args, id) = match action.id.to_string().as_str() {
            "people.search" => (json!({"per_page": 5}), None),
            "people.enrich" => (json!({"id": p.person_id}), None),
            "people.bulk_enrich" => (json!({"details": [{"id": p.person_id}]}), None),
            "organizations.search" => (json!({"per_page": 2}), None),
            "organizations.enrich" => (json!({"domain": "example.com"}), None),
            "contacts.create" => {
                let mut b = json!({"first_name": "Grace", "last_name": "H", "run_dedupe": true,
                    "email": "ada1@acme.com"});
                if let (Value::Object(m), Value::Object(ph)) = (&mut b, phones(1)) {
                    m.extend(ph);
                }
                (b, None)
            }
            "contacts.update" => (json!({"title": "CTO"}), Some(contact.clone())),
            "contacts.search" => (json!({"q_keywords": "Planted"}), None),
            "accounts.create" => (json!({"name": "Acme", "phone": "+1 212 000 0000"}), None),
            "accounts.update" => (json!({"name": "Acme Inc"}), Some(first(&f.account_ids))),
            "accounts.search" => (json!({}), None),
            "sequences.search" => (json!({}), None),
            "sequences.add_contacts" => (
                json!({"contact_ids": p.contact_ids, "send_email_from_email_account_id": first(&f.email_account_ids),
                    "sequence_active_in_other_campaigns": true}),
                Some(first(&f.sequence_ids)),
            ),
            "tasks.create" => (
                json!({"user_id": first(&f.user_ids), "contact_id": contact, "type": "call",
                    "status": "scheduled", "due_at": "2026-12-01T10:00:00Z"}),
                None,
            ),
            "tasks.search" => (json!({}), None),
            "deals.create" => (json!({"name": "Renewal", "amount": "5"}), None),
            "deals.update" => (json!({"amount": "6"}), None),
            "deals.list" => (json!({}), None),
            "users.list" => (json!({}), None),
            "users.usage_stats" => (json!({}), None),
            "people.view" => (json!({}), Some(p.person_id.clone())),
            "organizations.view" | "organizations.job_postings" => (json!({}), None),
            "organizations.bulk_enrich" => (json!({"domains": ["example.com"]}), None),
            "organizations.news" => (json!({"organization_ids": ["o_1"]}), None),
            "contacts.view" => (json!({}), Some(contact.clone())),
            "contacts.bulk_create" => (json!({"contacts": [{"email": "ada1@acme.com"}]}), None),
            "contacts.bulk_update" => (
                json!({"contact_attributes": [{"id": contact, "title": "CTO"}]}),
                None,
            ),
            "contacts.update_stages" => (
                json!({"contact_ids": p.contact_ids, "contact_stage_id": first(&f.contact_stage_ids)}),
                None,
            ),
            "contacts.update_owners" => (
                json!({"contact_ids": p.contact_ids, "owner_id": first(&f.user_ids)}),
                None,
            ),
            "accounts.view" => (json!({}), Some(first(&f.account_ids))),
            "accounts.bulk_create" => (json!({"accounts": [{"name": "Acme"}]}), None),
            "accounts.bulk_update" => (
                json!({"account_attributes": [{"id": first(&f.account_ids), "name": "Acme"}]}),
                None,
            ),
            "accounts.update_owners" => (
                json!({"account_ids": [first(&f.account_ids)], "owner_id": first(&f.user_ids)}),
                None,
            ),
            "sequences.remove_contacts" => (
                json!({"emailer_campaign_ids": [first(&f.sequence_ids)], "contact_ids": p.contact_ids, "mode": "stop"}),
                None,
            ),
            "calls.create" => (json!({"contact_id": contact, "status": "completed"}), None),
            "calls.update" => (json!({"duration": 30}), None),
            "deals.view" => (json!({}), None),
            "contacts.stages"
            | "contacts.labels"
            | "contacts.custom_fields"
            | "accounts.stages"
            | "sequences.email_accounts"
            | "deals.stages"
            | "calls.search"
            | "users.profile"
            | "users.auth_health" => (json!({}), None),
            // The planted contacts joined a sequence above, so their first emails are
            // scheduled: recipients' addresses are in these answers.
            "sequences.emails" => (json!({"per_page": 100}), None),
            "sequences.email_stats" | "sequences.send_now" => (json!({}), None),
            // The seeded 'Event: SaaStr attendees' sequence is inactive.
            "sequences.activate" | "sequences.deactivate" | "sequences.archive" => {
                (json!({}), f.sequence_ids.get(3).cloned())
            }
            "tasks.view" | "tasks.complete" | "tasks.skip" => (json!({}), None),
            "tasks.update" => (json!({"priority": "low"}), None),
            "tasks.bulk_create" => (
                json!({"user_id": first(&f.user_ids), "contact_ids": p.contact_ids, "type": "call",
                    "status": "scheduled", "due_at": "2026-12-01T10:00:00Z"}),
                None,
            ),
            "deals.contact_deals" => (json!({}), Some(contact.clone())),
            "contacts.notes" => (json!({"contact_ids": p.contact_ids}), None),
            "contacts.fields" => (json!({}), None),
            "contacts.create_field" => (
                json!({"label": "Renewal", "modality": "contact", "type": "date"}),
                None,
            ),
            // Filled in from the field just created (see `Seen::fill`).
            "contacts.update_fields" => (json!({"fields": []}), None),
            "calls.conversations" => (json!({}), None),
            "calls.conversation" => (json!({}), None),
            "people.webhook_result" => (json!({}), Some(p.request_id.clone())),
            "users.credit_usage" | "sequences.schedules" => (json!({}), None),
            // Filled in from the outreach emails seen (see `Seen::fill`).
            "sequences.email_content" | "sequences.email_status" => (json!({}), None),
            "sequences.activity" => (json!({"contact_id": contact}), None),
            "contacts.create_list" => (
                json!({"name": "Planted list", "modality": "contacts"}),
                None,
            ),
            "contacts.update_list" => (json!({"name": "Planted list 2"}), None),
            "contacts.add_to_lists" | "contacts.remove_from_lists" => (
                json!({"entity_ids": p.contact_ids, "label_names": ["Planted list 2"], "modality": "contacts"}),
                None,
            ),
            other => panic!("no privacy walk for {other}: add one"),
        };
        out.push((action, args, id));
    }
    out
}

/// Ids the walk learns from earlier answers, for actions on one record.
#[derive(Default)]
struct Seen {
    deal: Option<String>,
    call: Option<String>,
    organization: Option<String>,
    task: Option<String>,
    /// A scheduled task other than the one the walk created, to skip.
    other_task: Option<String>,
    message: Option<String>,
    conversation: Option<String>,
    field: Option<String>,
    list: Option<String>,
}

impl Seen {
    fn note(&mut self, v: &Value) {
        let at = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_owned);
        self.deal = at("/opportunity/id").or(self.deal.take());
        self.call = at("/phone_call/id").or(self.call.take());
        self.organization = at("/organizations/0/id").or(self.organization.take());
        self.task = at("/task/id").or(self.task.take());
        if let Some(tasks) = v.get("tasks").and_then(Value::as_array) {
            self.other_task = tasks
                .iter()
                .filter(|t| t["status"] == "scheduled")
                .filter_map(|t| t["id"].as_str())
                .find(|id| Some(*id) != self.task.as_deref())
                .map(str::to_owned)
                .or(self.other_task.take());
        }
        self.message = at("/emailer_messages/0/id").or(self.message.take());
        self.conversation = at("/conversations/0/id").or(self.conversation.take());
        self.list = at("/label/id").or(self.list.take());
        self.field = at("/typed_custom_fields/0/id")
            .map(|id| format!("contact.{id}"))
            .or(self.field.take());
    }

    fn id_for(&self, action: &bollard_policy::Action) -> Option<String> {
        match (action.id.as_str(), action.path_param.unwrap_or_default()) {
            ("tasks.skip", _) => self.other_task.clone(),
            (_, "task_id") => self.task.clone(),
            (_, "emailer_message_id") => self.message.clone(),
            (_, "conversation_id") => self.conversation.clone(),
            (_, "label_id") => self.list.clone(),
            (_, "call_id") => self.call.clone(),
            (_, "organization_id") => self.organization.clone(),
            _ => self.deal.clone(),
        }
    }

    /// Arguments that name a record learnt on the way.
    fn fill(&self, action: &bollard_policy::Action, args: &mut Value) {
        match action.id.as_str() {
            "contacts.update_fields" => {
                args["fields"] = json!([{"id": self.field, "label": "Renewal date"}]);
            }
            "sequences.email_content" => args["ids"] = json!([self.message]),
            "sequences.email_status" => args["id"] = json!(self.message),
            _ => {}
        }
    }
}

/// Fails if a record in `v` carries a declared personal field. Beside the planted values:
/// catches a field the sandbox fills with data the test did not plant.
fn assert_no_personal_fields(v: &Value, kind: RecordKind, what: &str) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                assert!(
                    !kind.is_personal(k),
                    "{what}: '{k}' reached an agent without reveal: {v}"
                );
                assert_no_personal_fields(child, kind.child(k), what);
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|i| assert_no_personal_fields(i, kind, what)),
        _ => {}
    }
}

fn assert_clean(text: &str, json: &Value, secrets: &[String], what: &str) {
    for s in secrets {
        assert!(
            !text.contains(s.as_str()),
            "{what}: '{s}' reached an agent without reveal: {text}"
        );
    }
    assert_no_personal_fields(json, RecordKind::Person, what);
}

#[tokio::test]
async fn no_personal_field_reaches_an_agent_without_reveal_over_rest() {
    let t = TestApp::spawn().await;
    let revealer = agent_with_credits(&t, "Revealer", &["reveal=full"]).await;
    let reader = agent_with_credits(&t, "Reader", &[]).await;
    let planted = plant(&t, &revealer).await;
    assert!(planted.secrets.len() > 20, "{:?}", planted.secrets);
    let mut seen = Seen::default();
    for (action, mut args, id) in calls(&t, &planted) {
        let id = id.or_else(|| action.path_param.and_then(|_| seen.id_for(action)));
        seen.fill(action, &mut args);
        let path = action
            .upstream_path(id.as_deref())
            .unwrap_or_else(|| panic!("a path for {}", action.id));
        let a = t
            .send(action.method.as_str(), &path, Some(&reader), Some(args))
            .await;
        assert!(
            (200..300).contains(&a.status),
            "{} answered {}: {}",
            action.id,
            a.status,
            a.text
        );
        seen.note(&a.body);
        let what = format!("{} over REST", action.id);
        assert_clean(&a.text, &a.body, &planted.secrets, &what);
    }
    // The same agent with reveal sees what was planted: the walk is not vacuous.
    let a = t
        .post(
            "/api/v1/contacts/search",
            &revealer,
            json!({"q_keywords": "Planted"}),
        )
        .await;
    for field in [
        "mobile_phone",
        "sanitized_phone",
        "phone_numbers",
        "contact_emails",
    ] {
        assert!(a.text.contains(field), "{field}: {}", a.text);
    }
    // And the new shapes carry what the reader never saw: recipients, participants'
    // addresses, the numbers a webhook delivered.
    let emails = t
        .send(
            "GET",
            "/api/v1/emailer_messages/search",
            Some(&revealer),
            None,
        )
        .await;
    assert!(
        emails.text.contains("\"to_email\":\"ada1@acme.com\""),
        "{}",
        emails.text
    );
    let polled = t
        .send(
            "GET",
            &format!("/api/v1/webhook_result/{}", planted.request_id),
            Some(&revealer),
            None,
        )
        .await;
    assert!(
        planted
            .secrets
            .iter()
            .any(|s| polled.text.contains(s.as_str())),
        "{}",
        polled.text
    );
    let id = seen.conversation.clone().unwrap_or_default();
    let talk = t
        .send(
            "GET",
            &format!("/api/v1/conversations/{id}"),
            Some(&revealer),
            None,
        )
        .await;
    assert!(
        talk.body
            .pointer("/participants/external/contacts/0/email")
            .is_some(),
        "{}",
        talk.text
    );
    t.stop().await;
}

#[tokio::test]
async fn no_personal_field_reaches_an_agent_without_reveal_over_mcp() {
    let t = TestApp::spawn().await;
    let revealer = agent_with_credits(&t, "Revealer", &["reveal=full"]).await;
    let reader = agent_with_credits(&t, "Reader", &[]).await;
    let planted = plant(&t, &revealer).await;
    let c = mcp::connect(&t, &reader).await;
    let mut seen = Seen::default();
    for (action, mut args, id) in calls(&t, &planted) {
        seen.fill(action, &mut args);
        if let (Some(param), Value::Object(m)) = (action.path_param, &mut args) {
            let id = id.or_else(|| seen.id_for(action)).unwrap_or_default();
            m.insert(param.to_owned(), Value::String(id));
        }
        let r = mcp::call(&c, action.mcp_tool, args).await;
        assert_ne!(r.is_error, Some(true), "{}: {}", action.id, mcp::text(&r));
        let structured = r.structured_content.clone().unwrap_or(Value::Null);
        seen.note(&structured);
        let what = format!("{} over MCP", action.id);
        assert_clean(&mcp::text(&r), &structured, &planted.secrets, &what);
        assert_clean(
            &structured.to_string(),
            &structured,
            &planted.secrets,
            &what,
        );
    }
    let _ = c.cancel().await;
    t.stop().await;
}

#[tokio::test]
async fn waterfall_without_reveal_is_refused_in_every_position_and_nothing_reaches_apollo() {
    let t = TestApp::spawn().await;
    let key = agent_with_credits(&t, "Waterfaller", &["waterfall=full"]).await;
    let hook = format!("{WEBHOOK_PREFIX}w");
    let body = json!({"first_name": "Ada", "last_name": "L", "domain": "example.com", "webhook_url": hook});
    let with = |k: &str, v: Value| {
        let mut b = body.clone();
        b[k] = v;
        b
    };
    for (path, b) in [
        (
            "/api/v1/people/match",
            with("run_waterfall_phone", json!(true)),
        ),
        (
            "/api/v1/people/match",
            with("run_waterfall_email", json!("true")),
        ),
        ("/api/v1/people/match?run_waterfall_phone=1", body.clone()),
        (
            "/api/v1/people/bulk_match",
            json!({"details": [{"email": "a@b.co"}], "run_waterfall_email": 1, "webhook_url": hook}),
        ),
    ] {
        let a = t.post(path, &key, b).await;
        assert_eq!(a.status, 403, "{path}: {}", a.text);
        assert!(
            a.error().contains("Reveal emails and phone numbers"),
            "{}",
            a.error()
        );
        assert_eq!(
            a.body["bollard"]["rule_ids"][0], "grant:reveal",
            "{}",
            a.text
        );
    }
    assert!(t.journal().is_empty(), "{:?}", t.journal());
    assert!(
        t.last_sentence().await.contains("it delivers"),
        "the audit says why"
    );
    // The same agent with reveal too runs it.
    t.agent_grants("Waterfaller", &["reveal=full"]).await;
    let a = t
        .post(
            "/api/v1/people/match",
            &key,
            with("run_waterfall_phone", json!(true)),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    t.stop().await;
}

#[tokio::test]
async fn webhook_urls_that_escape_the_prefix_are_denied_and_never_reach_apollo() {
    let t = TestApp::spawn().await;
    let key = agent_with_credits(&t, "Researcher", &["reveal=full"]).await;
    let body = |url: &str| json!({"first_name": "Ada", "last_name": "L", "domain": "example.com", "reveal_phone_number": true, "webhook_url": url});
    for escape in [
        "../../escaped",
        "x/../../escaped",
        "%2e%2e/escaped",
        "%2E%2e/%2e%2e/escaped",
        "..\\escaped",
        "x%2f..%2f..%2fescaped",
        "%252e%252e/escaped",
        "./x",
        "x#y",
    ] {
        let url = format!("{WEBHOOK_PREFIX}{escape}");
        let a = t.post("/api/v1/people/match", &key, body(&url)).await;
        assert_eq!(a.status, 403, "{url}: {}", a.text);
        assert_eq!(a.body["bollard"]["rule_ids"][0], "setting:webhook_prefixes");
    }
    for outside in [
        "http://user@127.0.0.1:9/hooks/x",
        "http://127.0.0.1:9/hooksx/y",
        "http://127.0.0.1:10/hooks/x",
        "https://127.0.0.1:9/hooks/x",
    ] {
        let a = t.post("/api/v1/people/match", &key, body(outside)).await;
        assert_eq!(a.status, 403, "{outside}: {}", a.text);
    }
    assert!(t.journal().is_empty(), "{:?}", t.journal());
    let a = t
        .post(
            "/api/v1/people/match",
            &key,
            body(&format!("{WEBHOOK_PREFIX}a/b?c=d")),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    t.stop().await;
}

#[tokio::test]
async fn emails_and_phones_in_free_text_are_never_in_the_audit_in_clear() {
    let t = TestApp::spawn().await;
    let key = agent_with_credits(&t, "Writer", &[]).await;
    let f = t.sandbox.fixtures();
    let contact = t
        .post(
            "/api/v1/contacts",
            &key,
            json!({"first_name": "A", "title": "CTO"}),
        )
        .await;
    let contact_id = contact.body["contact"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let calls = [
        (
            "POST",
            "/api/v1/contacts/search",
            json!({"q_keywords": "jane.doe@acme.com"}),
        ),
        (
            "POST",
            "/api/v1/mixed_people/api_search",
            json!({"q_keywords": "cto +1 (415) 555-0199"}),
        ),
        (
            "POST",
            "/api/v1/emailer_campaigns/search",
            json!({"q_name": "for bob@x.io"}),
        ),
        (
            "GET",
            "/api/v1/opportunities/search",
            json!({"q_opportunity_name": "415-555-0198"}),
        ),
        (
            "POST",
            "/api/v1/tasks",
            json!({"user_id": f.user_ids.first(), "contact_id": contact_id, "type": "call",
                "status": "scheduled", "due_at": "2026-12-01T10:00:00Z",
                "note": "ring her on 415.555.0197 or mail jane.doe@acme.com"}),
        ),
        (
            "POST",
            "/api/v1/contacts",
            json!({"first_name": "B", "title": "VP, cell 4155550196"}),
        ),
        // Denied calls are recorded too.
        (
            "POST",
            "/api/v1/accounts/search?q_organization_name=carol%40y.io",
            json!({}),
        ),
    ];
    for (method, path, body) in calls {
        let a = t.send(method, path, Some(&key), Some(body)).await;
        assert!(a.status < 500, "{path}: {}", a.text);
    }
    let lines = t.audit_lines().await;
    let text = serde_json::to_string(&lines.iter().map(|l| &l.record).collect::<Vec<_>>())
        .unwrap_or_default();
    for clear in [
        "jane.doe@acme.com",
        "555-0199",
        "bob@x.io",
        "415-555-0198",
        "415.555.0197",
        "4155550196",
        "carol@y.io",
    ] {
        assert!(
            !text.contains(clear),
            "{clear} is in the audit in clear: {text}"
        );
    }
    let searched = lines
        .iter()
        .find(|l| l.record.sentence.contains("searched the team's contacts"))
        .map(|l| l.record.sentence.clone())
        .unwrap_or_default();
    assert!(
        searched.contains("searched the team's contacts for an email address (#"),
        "{searched}"
    );
    // The same address always reads the same, so records stay correlatable.
    assert!(
        text.matches("\"q_keywords\":\"hmac:").count() >= 1,
        "{text}"
    );
    // Dates and ids stay readable.
    assert!(text.contains("2026-12-01T10:00:00Z"), "{text}");
    t.stop().await;
}

#[tokio::test]
async fn a_flood_without_a_valid_key_is_throttled_and_summarised_once_per_minute() {
    let t = TestApp::spawn().await;
    let key = agent_with_credits(&t, "Reader", &[]).await;
    let search = "/api/v1/contacts/search";
    let mut statuses = Vec::new();
    for i in 0..25 {
        let bad = format!("bol_agent_wrong{i}");
        let a = t.send("POST", search, Some(&bad), Some(json!({}))).await;
        if a.status == 429 {
            assert!(a.headers.contains_key("retry-after"), "{:?}", a.headers);
            assert_eq!(a.code(), "BOLLARD_RATE_LIMITED");
        }
        statuses.push(a.status);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        10,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        15,
        "{statuses:?}"
    );
    // A valid agent at the same address is not held back.
    let a = t.post(search, &key, json!({})).await;
    assert_eq!(a.status, 200, "{}", a.text);
    // The MCP door counts against the same window.
    let r = t
        .client
        .post(t.agent_url("/mcp"))
        .header("authorization", "Bearer bol_agent_wrong")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}))
        .send()
        .await
        .expect("answers");
    assert_eq!(r.status().as_u16(), 401);
    let unknown = |lines: &[bollard::ops::AuditLine]| {
        lines.iter().filter(|l| l.record.agent_id.is_none()).count()
    };
    assert_eq!(
        unknown(&t.audit_lines().await),
        10,
        "one record each, then none"
    );
    // The next minute starts afresh, and the past one is summarised in one record.
    t.clock.advance(time::Duration::seconds(61));
    let a = t
        .send("POST", search, Some("bol_agent_x"), Some(json!({})))
        .await;
    assert_eq!(a.status, 401);
    let lines = t.audit_lines().await;
    let summary: Vec<&str> = lines
        .iter()
        .map(|l| l.record.sentence.as_str())
        .filter(|s| s.contains("calls without a valid key from 127.0.0.1 between"))
        .collect();
    assert_eq!(summary.len(), 1, "{summary:?}");
    assert!(
        summary[0].starts_with("26 calls without a valid key"),
        "{}",
        summary[0]
    );
    assert_eq!(unknown(&lines), 12);
    t.stop().await;
}

/// An "Apollo" that answers every call with the bytes in `body`, as given.
struct CannedApollo {
    base_url: String,
    body: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl CannedApollo {
    async fn start() -> CannedApollo {
        let body: std::sync::Arc<std::sync::Mutex<Vec<u8>>> = Default::default();
        let b = body.clone();
        let app = axum::Router::new().fallback(move || {
            let b = b.clone();
            async move {
                let bytes = b.lock().unwrap().clone();
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    bytes,
                )
            }
        });
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", l.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(l, app).await });
        CannedApollo { base_url, body }
    }

    /// This "Apollo" and an app that forwards to it.
    async fn with_app() -> (CannedApollo, TestApp) {
        let apollo = CannedApollo::start().await;
        let t = TestApp::spawn_with(crate::helpers::Options {
            apollo_base_url: Some(apollo.base_url.clone()),
            ..Default::default()
        })
        .await;
        (apollo, t)
    }

    fn answer(&self, bytes: &[u8]) {
        *self.body.lock().unwrap() = bytes.to_vec();
    }
}

const NUMBER: &str = "415 555 0100";
const SEARCH: &str = "/api/v1/mixed_people/api_search";

/// The agent's answer as bytes (no lossy decoding) and its status.
async fn search_bytes(t: &TestApp, key: &str) -> (u16, Vec<u8>) {
    let resp = reqwest::Client::new()
        .post(t.agent_url(SEARCH))
        .header("x-api-key", key)
        .json(&json!({"per_page": 10}))
        .send()
        .await
        .expect("gateway answers");
    let status = resp.status().as_u16();
    (status, resp.bytes().await.expect("body").to_vec())
}

fn holds(bytes: &[u8], needle: &str) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Found in review: a key given twice is one entry once parsed (serde_json keeps the last),
/// so the redaction found nothing to remove in the tree while the scan had seen the personal
/// copy, and the original bytes went out. A parser that keeps the first copy, or a model
/// reading the text (MCP's text content), saw the number.
#[tokio::test]
async fn a_personal_field_given_twice_is_removed_from_what_the_agent_reads() {
    let (apollo, t) = CannedApollo::with_app().await;
    let reader = t.agent("Reader", &["people=read"]).await;
    for body in [
        format!(
            r#"{{"people":[{{"id":"p1","mobile_phone":"+1 {NUMBER}"}}],"people":[{{"id":"p1"}}]}}"#
        ),
        format!(r#"{{"person":{{"id":"p1","mobile_phone":"+1 {NUMBER}","mobile_phone":null}}}}"#),
        format!(
            r#"{{"person":{{"id":"p1","phone_numbers":[{{"raw_number":"+1 {NUMBER}"}}]}},"person":{{}}}}"#
        ),
    ] {
        apollo.answer(body.as_bytes());
        let (status, got) = search_bytes(&t, &reader).await;
        assert_eq!(status, 200, "{body}");
        assert!(
            !holds(&got, NUMBER),
            "{body} reached the agent as {}",
            String::from_utf8_lossy(&got)
        );
        let v: Value = serde_json::from_slice(&got).expect("JSON");
        assert_no_personal_fields(&v, RecordKind::Person, &body);
    }
    // Over MCP the text content is what a model reads.
    apollo.answer(
        format!(r#"{{"people":[{{"id":"p1","mobile_phone":"+1 {NUMBER}"}}],"people":[]}}"#)
            .as_bytes(),
    );
    let c = mcp::connect(&t, &reader).await;
    let r = mcp::call(
        &c,
        "apollo_mixed_people_api_search",
        json!({"per_page": 10}),
    )
    .await;
    assert_ne!(r.is_error, Some(true), "{}", mcp::text(&r));
    assert!(!mcp::text(&r).contains(NUMBER), "{}", mcp::text(&r));
    let _ = c.cancel().await;
    t.stop().await;
}

/// Found in review: an answer serde_json refuses was passed on whole, unchecked, yet Python's
/// `json`, a lenient parser or a model reading the text finds the number in it. An agent
/// without `reveal` now gets Bollard's 502 instead, the record says the answer was withheld,
/// and an agent with `reveal` still gets Apollo's bytes as they came.
#[tokio::test]
async fn an_answer_bollard_cannot_read_as_json_is_withheld_from_an_agent_without_reveal() {
    let (apollo, t) = CannedApollo::with_app().await;
    let reader = t.agent("Reader", &["people=read"]).await;
    let revealer = t.agent("Revealer", &["people=read", "reveal=full"]).await;
    let person = format!(r#"{{"id":"p1","mobile_phone":"+1 {NUMBER}"}}"#);
    let deep = format!("{}{person}{}", "[".repeat(200), "]".repeat(200));
    let unreadable: Vec<Vec<u8>> = vec![
        format!(r#"{{"person":{person},"score":NaN}}"#).into_bytes(),
        format!(r#"{{"person":{person},"score":1e400}}"#).into_bytes(),
        [
            &b"\xEF\xBB\xBF"[..],
            format!(r#"{{"person":{person}}}"#).as_bytes(),
        ]
        .concat(),
        format!(r#"{{"person":{person},"name":"Jos"#)
            .into_bytes()
            .into_iter()
            .chain(*b"\xe9\"}")
            .collect(),
        format!(r#"{{"person":{person},}}"#).into_bytes(),
        deep.into_bytes(),
        format!("<html>{person}</html>").into_bytes(),
    ];
    for body in &unreadable {
        let shown = String::from_utf8_lossy(body);
        apollo.answer(body);
        let (status, got) = search_bytes(&t, &reader).await;
        assert_eq!(status, 502, "{shown}: {}", String::from_utf8_lossy(&got));
        assert!(!holds(&got, NUMBER), "{shown} reached the agent");
        let v: Value = serde_json::from_slice(&got).expect("Bollard's own error is JSON");
        let error = v["error"].as_str().unwrap_or_default();
        assert!(error.contains("withheld the answer"), "{error}");
        t.flush_audit().await;
        let sentence = t.last_sentence().await;
        assert!(
            sentence.contains("Bollard withheld the answer"),
            "{sentence}"
        );
        assert!(!sentence.contains(NUMBER), "{sentence}");

        let (status, got) = search_bytes(&t, &revealer).await;
        assert_eq!(status, 200, "{shown}");
        assert_eq!(&got, body, "an agent with reveal gets Apollo's bytes");
    }
    // An empty answer holds nothing to withhold.
    apollo.answer(b"");
    let (status, got) = search_bytes(&t, &reader).await;
    assert_eq!((status, got.len()), (200, 0));
    t.stop().await;
}
