//! The gate over REST: every action at every level, authentication, unknown paths, what
//! reaches the sandbox, redaction, the webhook allowlist and the scoped-key refusal.

use apollo_sandbox::KeyUsed;
use bollard::config::ApolloKeyKind;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, WEBHOOK_PREFIX};

/// A call that passes Apollo's validation for each action: (method, path, body).
fn sample_call(action: &str) -> (&'static str, &'static str, Value) {
    match action {
        "people.search" => (
            "POST",
            "/api/v1/mixed_people/api_search",
            json!({"person_titles": ["cto"]}),
        ),
        "people.enrich" => (
            "POST",
            "/api/v1/people/match",
            json!({"first_name": "Ada", "last_name": "Lovelace", "domain": "example.com"}),
        ),
        "people.bulk_enrich" => (
            "POST",
            "/api/v1/people/bulk_match",
            json!({"details": [{"email": "ada@example.com"}]}),
        ),
        "organizations.search" => (
            "POST",
            "/api/v1/mixed_companies/search",
            json!({"q_organization_name": "a"}),
        ),
        "organizations.enrich" => (
            "POST",
            "/api/v1/organizations/enrich",
            json!({"domain": "example.com"}),
        ),
        "contacts.create" => (
            "POST",
            "/api/v1/contacts",
            json!({"first_name": "Ada", "last_name": "Lovelace", "organization_name": "Acme"}),
        ),
        "contacts.update" => ("PATCH", "/api/v1/contacts/c_123", json!({"title": "CTO"})),
        "contacts.search" => ("POST", "/api/v1/contacts/search", json!({})),
        "accounts.create" => (
            "POST",
            "/api/v1/accounts",
            json!({"name": "Acme", "domain": "acme.com"}),
        ),
        "accounts.update" => ("PUT", "/api/v1/accounts/a_123", json!({"name": "Acme Inc"})),
        "accounts.search" => ("POST", "/api/v1/accounts/search", json!({})),
        "sequences.search" => ("POST", "/api/v1/emailer_campaigns/search", json!({})),
        "sequences.add_contacts" => (
            "POST",
            "/api/v1/emailer_campaigns/seq_1/add_contact_ids",
            json!({"emailer_campaign_id": "seq_1", "contact_ids": ["c_1"], "send_email_from_email_account_id": "ea_1"}),
        ),
        "tasks.create" => (
            "POST",
            "/api/v1/tasks",
            json!({"user_id": "u_1", "contact_id": "c_1", "type": "call", "status": "scheduled", "due_at": "2026-12-01T10:00:00Z"}),
        ),
        "tasks.search" => ("POST", "/api/v1/tasks/search", json!({})),
        "deals.create" => (
            "POST",
            "/api/v1/opportunities",
            json!({"name": "Acme renewal", "amount": "50000"}),
        ),
        "deals.update" => (
            "PATCH",
            "/api/v1/opportunities/o_1",
            json!({"amount": "60000"}),
        ),
        "deals.list" => ("GET", "/api/v1/opportunities/search", json!({})),
        "users.list" => ("GET", "/api/v1/users/search", json!({})),
        "users.usage_stats" => ("POST", "/api/v1/usage_stats/api_usage_stats", json!({})),
        "people.view" => ("GET", "/api/v1/people/p_1", json!({})),
        "organizations.view" => ("GET", "/api/v1/organizations/o_1", json!({})),
        "organizations.bulk_enrich" => (
            "POST",
            "/api/v1/organizations/bulk_enrich",
            json!({"domains": ["example.com"]}),
        ),
        "organizations.job_postings" => {
            ("GET", "/api/v1/organizations/o_1/job_postings", json!({}))
        }
        "organizations.news" => (
            "POST",
            "/api/v1/news_articles/search",
            json!({"organization_ids": ["o_1"]}),
        ),
        "contacts.view" => ("GET", "/api/v1/contacts/c_1", json!({})),
        "contacts.bulk_create" => (
            "POST",
            "/api/v1/contacts/bulk_create",
            json!({"contacts": [{"first_name": "Ada"}]}),
        ),
        "contacts.bulk_update" => (
            "POST",
            "/api/v1/contacts/bulk_update",
            json!({"contact_attributes": [{"id": "c_1", "title": "CTO"}]}),
        ),
        "contacts.update_stages" => (
            "POST",
            "/api/v1/contacts/update_stages",
            json!({"contact_ids": ["c_1"], "contact_stage_id": "s_1"}),
        ),
        "contacts.update_owners" => (
            "POST",
            "/api/v1/contacts/update_owners",
            json!({"contact_ids": ["c_1"], "owner_id": "u_1"}),
        ),
        "contacts.stages" => ("GET", "/api/v1/contact_stages", json!({})),
        "contacts.labels" => ("GET", "/api/v1/labels", json!({})),
        "contacts.custom_fields" => ("GET", "/api/v1/typed_custom_fields", json!({})),
        "accounts.view" => ("GET", "/api/v1/accounts/a_1", json!({})),
        "accounts.bulk_create" => (
            "POST",
            "/api/v1/accounts/bulk_create",
            json!({"accounts": [{"name": "Acme"}]}),
        ),
        "accounts.bulk_update" => (
            "POST",
            "/api/v1/accounts/bulk_update",
            json!({"account_attributes": [{"id": "a_1", "name": "Acme"}]}),
        ),
        "accounts.update_owners" => (
            "POST",
            "/api/v1/accounts/update_owners",
            json!({"account_ids": ["a_1"], "owner_id": "u_1"}),
        ),
        "accounts.stages" => ("GET", "/api/v1/account_stages", json!({})),
        "sequences.remove_contacts" => (
            "POST",
            "/api/v1/emailer_campaigns/remove_or_stop_contact_ids",
            json!({"emailer_campaign_ids": ["s_1"], "contact_ids": ["c_1"], "mode": "remove"}),
        ),
        "sequences.email_accounts" => ("GET", "/api/v1/email_accounts", json!({})),
        "deals.view" => ("GET", "/api/v1/opportunities/o_1", json!({})),
        "deals.stages" => ("GET", "/api/v1/opportunity_stages", json!({})),
        "calls.create" => (
            "POST",
            "/api/v1/phone_calls",
            json!({"contact_id": "c_1", "status": "completed"}),
        ),
        "calls.search" => ("POST", "/api/v1/phone_calls/search", json!({})),
        "calls.update" => ("PUT", "/api/v1/phone_calls/call_1", json!({"duration": 60})),
        "users.profile" => ("GET", "/api/v1/users/api_profile", json!({})),
        "users.auth_health" => ("GET", "/api/v1/auth/health", json!({})),
        "people.webhook_result" => ("GET", "/api/v1/webhook_result/1000000001", json!({})),
        "sequences.emails" => ("POST", "/api/v1/emailer_messages/search", json!({})),
        "sequences.email_stats" => ("GET", "/api/v1/emailer_messages/m_1/activities", json!({})),
        "sequences.send_now" => ("POST", "/api/v1/emailer_messages/m_1/send_now", json!({})),
        "sequences.activate" => ("POST", "/api/v1/emailer_campaigns/s_1/approve", json!({})),
        "sequences.deactivate" => ("POST", "/api/v1/emailer_campaigns/s_1/abort", json!({})),
        "sequences.archive" => ("POST", "/api/v1/emailer_campaigns/s_1/archive", json!({})),
        "sequences.schedules" => ("GET", "/api/v1/emailer_schedules", json!({})),
        "sequences.email_content" => (
            "POST",
            "/api/v1/emailer_messages/get_content",
            json!({"ids": ["m_1"]}),
        ),
        "sequences.email_status" => (
            "POST",
            "/api/v1/emailer_messages/email_send_status",
            json!({"id": "m_1"}),
        ),
        "sequences.activity" => (
            "POST",
            "/api/v1/emailer_campaigns/activity_feed",
            json!({"contact_id": "c_1"}),
        ),
        "tasks.view" => ("GET", "/api/v1/tasks/t_1", json!({})),
        "tasks.update" => ("PATCH", "/api/v1/tasks/t_1", json!({"priority": "low"})),
        "tasks.complete" => ("POST", "/api/v1/tasks/t_1/complete", json!({})),
        "tasks.skip" => ("POST", "/api/v1/tasks/t_1/skip", json!({})),
        "tasks.bulk_create" => (
            "POST",
            "/api/v1/tasks/bulk_create",
            json!({"user_id": "u_1", "contact_ids": ["c_1"], "type": "call",
                   "status": "scheduled", "due_at": "2026-12-24T09:00:00Z"}),
        ),
        "deals.contact_deals" => ("POST", "/api/v1/contacts/c_1/opportunities", json!({})),
        "contacts.notes" => ("GET", "/api/v1/notes?contact_id=c_1", json!({})),
        "contacts.fields" => ("GET", "/api/v1/fields", json!({})),
        "contacts.create_field" => (
            "POST",
            "/api/v1/fields",
            json!({"label": "Renewal", "modality": "contact", "type": "date"}),
        ),
        "contacts.update_fields" => (
            "PATCH",
            "/api/v1/fields",
            json!({"fields": [{"id": "contact.f_1", "label": "Renewal"}]}),
        ),
        "contacts.create_list" => (
            "POST",
            "/api/v1/labels",
            json!({"name": "Q3", "modality": "contacts"}),
        ),
        "contacts.update_list" => ("PATCH", "/api/v1/labels/l_1", json!({"name": "Q4"})),
        "contacts.add_to_lists" => (
            "POST",
            "/api/v1/labels/add_entity_ids_to_label_names",
            json!({"entity_ids": ["c_1"], "label_names": ["Q3"], "modality": "contacts"}),
        ),
        "contacts.remove_from_lists" => (
            "POST",
            "/api/v1/labels/remove_entity_ids_from_label_names",
            json!({"entity_ids": ["c_1"], "label_names": ["Q3"], "modality": "contacts"}),
        ),
        "calls.conversations" => ("POST", "/api/v1/conversations/search", json!({})),
        "calls.conversation" => ("GET", "/api/v1/conversations/conv_1", json!({})),
        "users.credit_usage" => ("POST", "/api/v1/usage_stats/credit_usage_stats", json!({})),
        other => panic!("no sample call for {other}"),
    }
}

#[tokio::test]
async fn every_action_at_every_level_is_allowed_exactly_when_the_grid_says() {
    let t = TestApp::spawn().await;
    let mut n = 0;
    let mut agents: std::collections::HashMap<(&str, &str), (String, String)> =
        std::collections::HashMap::new();
    for action in bollard_policy::catalog() {
        let group = action.group.as_str();
        for level in ["off", "read", "write", "full"] {
            if level == "write" && !action.group.has_writes() {
                // `write` is refused for groups with nothing to write (the grant test covers it).
                continue;
            }
            // One agent per group and level, shared by that group's actions: what is tested is
            // the decision per action, and ~300 agents made the test take minutes.
            let (name, key) = match agents.get(&(group, level)) {
                Some(x) => x.clone(),
                None => {
                    n += 1;
                    let name = format!("agent {n}");
                    let grant = format!("{group}={level}");
                    let key = t.agent(&name, &[grant.as_str()]).await;
                    t.daily_budget(&name, 100_000).await;
                    agents.insert((group, level), (name.clone(), key.clone()));
                    (name, key)
                }
            };
            let expect = matches!(
                (level, action.kind),
                ("full", _)
                    | ("read", bollard_policy::Kind::Read)
                    | ("write", bollard_policy::Kind::Write)
            );
            let before = t.journal().len();
            let (method, path, body) = sample_call(action.id.as_str());
            let body = if method == "GET" { None } else { Some(body) };
            let a = t.send(method, path, Some(&key), body).await;
            let arrived = t.journal().len() - before;
            if expect {
                assert_ne!(
                    a.code(),
                    "BOLLARD_DENIED",
                    "{} at {level}: {}",
                    action.id,
                    a.text
                );
                assert!(
                    a.code() != "BOLLARD_INVALID",
                    "{} sample call invalid: {}",
                    action.id,
                    a.text
                );
                assert_eq!(
                    arrived, 1,
                    "{} at {level} should reach Apollo once",
                    action.id
                );
            } else {
                assert_eq!(a.status, 403, "{} at {level}: {}", action.id, a.text);
                assert_eq!(a.code(), "BOLLARD_DENIED");
                assert!(
                    a.error().contains(&name),
                    "the sentence names the agent: {}",
                    a.error()
                );
                assert_eq!(arrived, 0, "{} at {level} must not reach Apollo", action.id);
            }
        }
    }
    t.stop().await;
}

#[tokio::test]
async fn an_allowed_call_arrives_with_the_team_key_and_not_the_agents() {
    let t = TestApp::spawn().await;
    let key = t.agent("Sales Agent", &["people=read"]).await;
    let a = t
        .send(
            "POST",
            &format!("/api/v1/mixed_people/api_search?api_key={key}"),
            Some(&key),
            Some(json!({"person_titles": ["vp sales"], "per_page": 5, "api_key": key})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["people"].as_array().map(Vec::len), Some(5));
    assert!(a.headers.contains_key("x-bollard-request-id"));
    // All nine of Apollo's rate headers pass through, as Apollo sent them.
    for name in bollard::upstream::PASSED_HEADERS
        .iter()
        .filter(|n| *n != "retry-after")
    {
        let value = a.headers.get(name).map(|v| v.to_str().unwrap_or_default());
        assert!(
            value.is_some_and(|v| v.parse::<u64>().is_ok()),
            "{name}: {value:?}"
        );
    }
    let j = t.journal();
    let last = j.last().expect("arrived");
    assert_eq!(last.key, KeyUsed::Master);
    assert!(
        !last.api_key_argument,
        "the agent's api_key argument is stripped"
    );
    assert!(!last.args.to_string().contains(&key));
    assert!(!last.query.contains(&key));
    t.stop().await;
}

#[tokio::test]
async fn the_legacy_prefix_and_loose_verbs_reach_the_same_actions() {
    let t = TestApp::spawn().await;
    let key = t.agent("Sales Agent", &["people=read", "deals=read"]).await;
    let a = t
        .send(
            "GET",
            "/v1/mixed_people/api_search?person_titles[]=cto&per_page=2",
            Some(&key),
            None,
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let a = t
        .send(
            "POST",
            "/v1/opportunities/search",
            Some(&key),
            Some(json!({})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    t.stop().await;
}

#[tokio::test]
async fn missing_unknown_revoked_and_expired_keys_get_401_and_nothing_is_sent() {
    let t = TestApp::spawn().await;
    let key = t.agent("Sales Agent", &["people=read"]).await;
    let path = "/api/v1/mixed_people/api_search";
    let a = t.send("POST", path, None, Some(json!({}))).await;
    assert_eq!((a.status, a.code()), (401, "BOLLARD_UNAUTHENTICATED"));
    // RFC 9110 section 15.5.2: a 401 names its scheme, over REST as over MCP.
    assert_eq!(
        a.headers
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap()),
        Some("Bearer")
    );
    let a = t
        .send("POST", path, Some("bol_agent_000000"), Some(json!({})))
        .await;
    assert_eq!(a.status, 401);
    // Bearer works like X-Api-Key.
    let r = t
        .client
        .post(t.agent_url(path))
        .bearer_auth(&key)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    bollard::ops::revoke_agent(
        &*t.store,
        &crate::helpers::tester(),
        "Sales Agent",
        t.clock.now(),
    )
    .await
    .unwrap();
    t.sync().await;
    let a = t.send("POST", path, Some(&key), Some(json!({}))).await;
    assert_eq!(a.status, 401);
    assert!(a.error().contains("revoked"), "{}", a.error());

    let created = bollard::ops::create_agent(
        &*t.store,
        &crate::helpers::tester(),
        "Temp",
        "",
        Some(time::Duration::hours(1)),
        t.clock.now(),
    )
    .await
    .unwrap();
    bollard::ops::grant(
        &*t.store,
        &crate::helpers::tester(),
        "Temp",
        &["people=read".into()],
    )
    .await
    .unwrap();
    t.sync().await;
    let temp = created.key.expose().to_owned();
    assert_eq!(
        t.send("POST", path, Some(&temp), Some(json!({})))
            .await
            .status,
        200
    );
    t.clock.advance(time::Duration::hours(2));
    let a = t.send("POST", path, Some(&temp), Some(json!({}))).await;
    assert_eq!(a.status, 401);
    assert!(a.error().contains("expired"), "{}", a.error());
    let arrived = t.journal().len();
    assert_eq!(arrived, 2, "only the two valid calls reached Apollo");
    t.stop().await;
}

#[tokio::test]
async fn paths_outside_the_catalog_are_denied_and_never_forwarded() {
    let t = TestApp::spawn().await;
    let key = t
        .agent(
            "Sales Agent",
            &["people=full", "contacts=full", "users=full"],
        )
        .await;
    for (m, p) in [
        ("POST", "/api/v1/mixed_people/search"),
        ("GET", "/api/v1/emailer_steps/search"),
        ("DELETE", "/api/v1/contacts/c_1"),
        ("POST", "/api/v1/contacts%2Fsearch"),
        ("GET", "/admin/api/v1/agents"),
        ("POST", "/api/v2/contacts"),
        ("GET", "/"),
    ] {
        let a = t.send(m, p, Some(&key), None).await;
        assert_eq!(a.status, 403, "{m} {p}: {}", a.text);
        assert_eq!(a.code(), "BOLLARD_DENIED");
    }
    // Raw paths a client library would have normalised away.
    for raw in [
        "/api/v1/contacts/c_1/../../users/search",
        "/api/v1//users/search",
        "/api/v1/users/search/..",
    ] {
        let (status, body) = t.raw_request("POST", raw, &key).await;
        assert_eq!(status, 403, "{raw}: {body}");
    }
    assert!(t.journal().is_empty());
    t.stop().await;
}

#[tokio::test]
async fn revealed_fields_are_removed_unless_the_agent_holds_reveal() {
    let t = TestApp::spawn().await;
    let researcher = t.agent("Researcher", &["people=read", "reveal=full"]).await;
    let sales = t.agent("Sales", &["people=read"]).await;
    for n in ["Researcher", "Sales"] {
        t.daily_budget(n, 100).await;
    }
    // Find a real person, then reveal their personal emails for the team.
    let s = t
        .post(
            "/api/v1/mixed_people/api_search",
            &researcher,
            json!({"per_page": 1}),
        )
        .await;
    let id = s.body["people"][0]["id"]
        .as_str()
        .expect("a person")
        .to_owned();
    let a = t
        .post(
            "/api/v1/people/match",
            &researcher,
            json!({"id": id, "reveal_personal_emails": true}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert!(
        a.body["person"].get("personal_emails").is_some(),
        "the researcher sees them: {}",
        a.text
    );
    // The sandbox now returns them for the team even without asking; Bollard removes them.
    let a = t
        .post("/api/v1/people/match", &sales, json!({"id": id}))
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert!(a.body["person"].is_object());
    assert!(!a.text.contains("personal_emails"), "{}", a.text);
    assert!(!a.text.contains("phone_numbers"), "{}", a.text);
    t.stop().await;
}

#[tokio::test]
async fn webhook_urls_outside_the_allowed_prefixes_are_denied() {
    let t = TestApp::spawn().await;
    let key = t.agent("Researcher", &["people=read", "reveal=full"]).await;
    t.daily_budget("Researcher", 100).await;
    let body = |url: &str| json!({"first_name": "Ada", "last_name": "L", "domain": "example.com", "reveal_phone_number": true, "webhook_url": url});
    let a = t
        .post(
            "/api/v1/people/match",
            &key,
            body("https://evil.example/collect"),
        )
        .await;
    assert_eq!(a.status, 403, "{}", a.text);
    assert!(a.error().contains("webhook_url"), "{}", a.error());
    assert!(t.journal().is_empty());
    let a = t
        .post(
            "/api/v1/people/match",
            &key,
            body(&format!("{WEBHOOK_PREFIX}phones")),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    t.stop().await;
}

#[tokio::test]
async fn a_scoped_apollo_key_makes_master_only_actions_refused_up_front() {
    let t = TestApp::spawn_with(Options {
        key_kind: Some(ApolloKeyKind::Scoped),
        sandbox_scoped_key: true,
        ..Options::default()
    })
    .await;
    let key = t
        .agent("Sales Agent", &["people=read", "sequences=full"])
        .await;
    let a = t
        .post("/api/v1/emailer_campaigns/search", &key, json!({}))
        .await;
    assert_eq!(a.status, 403, "{}", a.text);
    assert!(a.error().contains("scoped Apollo key"), "{}", a.error());
    assert!(t.journal().is_empty());
    let a = t
        .post("/api/v1/mixed_people/api_search", &key, json!({}))
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(t.journal().last().map(|j| j.key), Some(KeyUsed::Scoped));
    t.stop().await;
}

#[tokio::test]
async fn apollo_constraints_are_checked_before_anything_is_spent() {
    let t = TestApp::spawn().await;
    let key = t.agent("Researcher", &["people=read"]).await;
    t.daily_budget("Researcher", 100).await;
    let too_many: Vec<Value> = (0..11)
        .map(|i| json!({"email": format!("p{i}@example.com")}))
        .collect();
    for body in [json!({"per_page": 101}), json!({"page": 501})] {
        let a = t.post("/api/v1/mixed_people/api_search", &key, body).await;
        assert_eq!((a.status, a.code()), (422, "BOLLARD_INVALID"), "{}", a.text);
    }
    let a = t
        .post(
            "/api/v1/people/bulk_match",
            &key,
            json!({"details": too_many}),
        )
        .await;
    assert_eq!(a.status, 422, "{}", a.text);
    let a = t
        .post("/api/v1/people/match", &key, json!({"title": "CTO"}))
        .await;
    assert_eq!(a.status, 422, "{}", a.text);
    assert!(t.journal().is_empty());
    t.stop().await;
}

#[tokio::test]
async fn the_apollo_key_appears_in_no_answer_and_no_audit_record() {
    let t = TestApp::spawn().await;
    let master = t.sandbox.master_key().to_owned();
    let key = t.agent("Sales Agent", &["people=read"]).await;
    let mut texts = Vec::new();
    for (m, p, b) in [
        ("POST", "/api/v1/mixed_people/api_search", Some(json!({}))),
        (
            "POST",
            "/api/v1/people/match",
            Some(json!({"email": "a@b.co"})),
        ),
        ("POST", "/api/v1/nope", None),
        ("POST", "/api/v1/users/search", Some(json!({}))),
    ] {
        let a = t.send(m, p, Some(&key), b).await;
        texts.push(format!("{:?} {}", a.headers, a.text));
    }
    t.sandbox.faults().fail_next(1, 500);
    let a = t
        .send(
            "POST",
            "/api/v1/mixed_people/api_search",
            Some(&key),
            Some(json!({})),
        )
        .await;
    texts.push(format!("{:?} {}", a.headers, a.text));
    for text in &texts {
        assert!(!text.contains(&master), "the Apollo key leaked: {text}");
    }
    t.flush_audit().await;
    let db = std::fs::read(&t.db_path).unwrap();
    let wal = std::fs::read(t.db_path.with_extension("db-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        assert!(!bytes.windows(master.len()).any(|w| w == master.as_bytes()));
        assert!(
            !bytes.windows(key.len()).any(|w| w == key.as_bytes()),
            "agent keys are stored only as hashes"
        );
    }
    t.stop().await;
}

#[tokio::test]
async fn apollo_refusing_the_team_key_is_not_passed_on_as_the_agents_401() {
    let t = TestApp::spawn_with(Options {
        apollo_key: Some("sbx_master_wrong".into()),
        ..Options::default()
    })
    .await;
    let key = t.agent("Sales Agent", &["people=read"]).await;
    let a = t
        .post("/api/v1/mixed_people/api_search", &key, json!({}))
        .await;
    assert_eq!(
        (a.status, a.code()),
        (502, "BOLLARD_UPSTREAM"),
        "{}",
        a.text
    );
    assert!(
        a.error().contains("Your agent key is fine"),
        "{}",
        a.error()
    );
    let s = t.last_sentence().await;
    assert!(
        s.contains("allowed, but the call failed. Apollo refused the team's Apollo key"),
        "{s}"
    );
    t.stop().await;
}

#[tokio::test]
async fn a_caller_that_hangs_up_mid_call_still_gets_its_call_settled_and_recorded() {
    let t = TestApp::spawn().await;
    let key = t.agent("Sales Agent", &["organizations=read"]).await;
    t.daily_budget("Sales Agent", 10).await;
    // Apollo takes its time; the agent gives up once its call is recorded as sent, long
    // before the answer: on a loaded machine a fixed short timeout could give up before the
    // call was even recorded.
    t.sandbox
        .faults()
        .set_latency(std::time::Duration::from_millis(1500));
    let arrived = |n: usize| {
        let t = &t;
        async move {
            for _ in 0..400 {
                let sent = t
                    .audit_lines()
                    .await
                    .iter()
                    .filter(|l| l.record.kind == "decision" && l.record.decision == "allowed")
                    .count();
                if sent >= n {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            }
            panic!("the call was never recorded as sent");
        }
    };
    let request = t
        .client
        .get(t.agent_url("/api/v1/organizations/enrich?domain=acme.com"))
        .header("x-api-key", &key)
        .send();
    let gave_up = tokio::select! {
        r = request => Some(r),
        () = arrived(1) => None,
    };
    assert!(
        gave_up.is_none(),
        "the client hung up before the answer: {gave_up:?}"
    );
    // The same through the gate itself, its future dropped mid-flight (as when an MCP
    // session is torn down during a call): deterministic whatever the HTTP server does.
    let call = bollard::gate::Call {
        door: bollard::audit::sentence::Door::Mcp,
        request_id: "req_dropped".into(),
        source: None,
        key: Some(key.clone()),
        target: bollard::gate::Target::Tool {
            name: "apollo_organizations_enrich".into(),
            arguments: json!({"domain": "acme.com"}).as_object().unwrap().clone(),
        },
    };
    let dropped = tokio::select! {
        r = t.app.gate.call(call) => Some(r),
        () = arrived(2) => None,
    };
    assert!(
        dropped.is_none(),
        "the call's future was dropped mid-flight"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
    t.sandbox.faults().clear();

    // The call that was recorded as sent is forwarded and finished anyway: the outcome is on
    // record and the reservation is settled to what Apollo billed, not left held.
    let mut lines = Vec::new();
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        lines = t.audit_lines().await;
        if lines.iter().filter(|l| l.record.kind == "outcome").count() == 2 {
            break;
        }
    }
    let outcomes: Vec<_> = lines
        .iter()
        .filter(|l| l.record.kind == "outcome")
        .collect();
    assert_eq!(
        outcomes.len(),
        2,
        "an outcome for each abandoned call: {lines:?}"
    );
    assert!(
        outcomes
            .iter()
            .any(|l| l.record.request_id == "req_dropped")
    );
    let outcome = outcomes[0];
    assert!(
        outcomes.iter().all(|l| l.record.status == Some(200)),
        "{outcomes:?}"
    );
    assert_eq!(t.journal().len(), 2, "each forwarded exactly once");
    let agent = bollard::ops::query::live_agent(&*t.store, "Sales Agent")
        .await
        .unwrap();
    let usage = t
        .store
        .budget_usage(
            &agent.agent.id,
            &bollard::limits::budget_periods(&agent.agent.limits, t.clock.now()),
        )
        .await
        .unwrap();
    let day = usage.iter().find(|u| u.period == "day").unwrap();
    assert_eq!(outcome.record.credits_reserved, Some(1.0), "{outcome:?}");
    assert_eq!(day.reserved_milli, 0, "nothing left reserved: {usage:?}");
    let billed: f64 = outcomes
        .iter()
        .map(|l| l.record.credits_used.expect("settled") * 1000.0)
        .sum();
    assert_eq!(
        day.spent_milli, billed as i64,
        "settled to what Apollo billed: {usage:?}"
    );
    t.stop().await;
}

#[tokio::test]
async fn an_answer_with_nothing_to_redact_reaches_the_agent_byte_for_byte() {
    let t = TestApp::spawn().await;
    let key = t.agent("Sales Agent", &["people=read"]).await;
    let body = json!({"person_titles": ["vp sales"], "per_page": 5});
    let direct = t
        .client
        .post(format!(
            "{}/api/v1/mixed_people/api_search",
            t.sandbox.base_url()
        ))
        .header("x-api-key", t.sandbox.master_key())
        .json(&body)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let through = t
        .client
        .post(t.agent_url("/api/v1/mixed_people/api_search"))
        .header("x-api-key", &key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(through.status().as_u16(), 200);
    let through = through.bytes().await.unwrap();
    // A search answer holds no personal field, so Bollard forwards Apollo's bytes as they
    // came: not parsed and re-serialised into another key order or number format.
    assert_eq!(through, direct);
    t.stop().await;
}
