//! Unit tests of `validate`: each names the behaviour it pins down.

use super::*;
use crate::args::read_args;
use crate::catalog::{by_id, catalog};

fn check(id: &str, json: &str, path_id: Option<&str>) -> Result<(), Invalid> {
    let args = read_args(None, Some("application/json"), json.as_bytes()).unwrap();
    validate(by_id(id).unwrap(), &args, path_id)
}

fn message(id: &str, json: &str, path_id: Option<&str>) -> String {
    check(id, json, path_id).unwrap_err().message
}

#[test]
fn minimal_valid_calls_pass() {
    let ok = [
        ("people.search", "{}", None),
        ("people.search", r#"{"per_page":100,"page":500}"#, None),
        ("people.enrich", r#"{"email":"a@b.c"}"#, None),
        (
            "people.enrich",
            r#"{"first_name":"A","last_name":"B","domain":"b.c"}"#,
            None,
        ),
        (
            "people.enrich",
            r#"{"reveal_phone_number":true,"id":"p1","webhook_url":"https://h.example/x"}"#,
            None,
        ),
        (
            "people.bulk_enrich",
            r#"{"details":[{"id":"1"},{"linkedin_url":"u"}]}"#,
            None,
        ),
        ("organizations.search", r#"{"page":"2"}"#, None),
        ("organizations.enrich", r#"{"domain":"acme.com"}"#, None),
        ("contacts.create", r#"{"first_name":"A"}"#, None),
        ("contacts.update", r#"{"title":"CEO"}"#, Some("c1")),
        (
            "contacts.search",
            r#"{"sort_by_field":"contact_created_at"}"#,
            None,
        ),
        ("accounts.create", r#"{"domain":"acme.com"}"#, None),
        ("accounts.update", "{}", Some("a1")),
        (
            "accounts.search",
            r#"{"sort_by_field":"account_updated_at"}"#,
            None,
        ),
        ("sequences.search", r#"{"q_name":"Q4"}"#, None),
        (
            "sequences.add_contacts",
            r#"{"contact_ids":["c1"],"send_email_from_email_account_id":"e1"}"#,
            Some("s1"),
        ),
        (
            "sequences.add_contacts",
            r#"{"emailer_campaign_id":"s1","label_names":["hot"],"send_email_from_email_account_id":"e1","status":"paused"}"#,
            Some("s1"),
        ),
        (
            "tasks.create",
            r#"{"user_id":"u","contact_id":"c","type":"call","status":"scheduled","due_at":"2025-07-01T09:00:00Z","priority":"high"}"#,
            None,
        ),
        ("tasks.search", r#"{"sort_by_field":"task_due_at"}"#, None),
        (
            "deals.create",
            r#"{"name":"Big","amount":"50000","closed_date":"2025-12-31"}"#,
            None,
        ),
        ("deals.update", r#"{"amount":5}"#, Some("o1")),
        ("deals.list", r#"{"sort_by_field":"is_won"}"#, None),
        ("users.list", r#"{"per_page":5}"#, None),
        ("users.usage_stats", "{}", None),
        ("people.view", "{}", Some("p1")),
        ("organizations.view", "{}", Some("o1")),
        (
            "organizations.bulk_enrich",
            r#"{"domains":["acme.com","b.io"]}"#,
            None,
        ),
        (
            "organizations.job_postings",
            r#"{"per_page":10}"#,
            Some("o1"),
        ),
        (
            "organizations.news",
            r#"{"organization_ids":["o1"],"categories":["hires"]}"#,
            None,
        ),
        ("contacts.view", "{}", Some("c1")),
        (
            "contacts.bulk_create",
            r#"{"contacts":[{"first_name":"A"},{"title":"CTO"}]}"#,
            None,
        ),
        (
            "contacts.bulk_update",
            r#"{"contact_attributes":[{"id":"c1","title":"CEO"}]}"#,
            None,
        ),
        (
            "contacts.update_stages",
            r#"{"contact_ids":["c1"],"contact_stage_id":"s1"}"#,
            None,
        ),
        (
            "contacts.update_owners",
            r#"{"contact_ids":["c1"],"owner_id":"u1"}"#,
            None,
        ),
        ("contacts.stages", "{}", None),
        ("contacts.labels", "{}", None),
        ("contacts.custom_fields", "{}", None),
        ("accounts.view", "{}", Some("a1")),
        (
            "accounts.bulk_create",
            r#"{"accounts":[{"name":"Acme"},{"domain":"b.io"}]}"#,
            None,
        ),
        (
            "accounts.bulk_update",
            r#"{"account_attributes":[{"id":"a1","name":"Acme"}]}"#,
            None,
        ),
        (
            "accounts.update_owners",
            r#"{"account_ids":["a1"],"owner_id":"u1"}"#,
            None,
        ),
        ("accounts.stages", "{}", None),
        (
            "sequences.remove_contacts",
            r#"{"emailer_campaign_ids":["s1"],"contact_ids":["c1"],"mode":"remove"}"#,
            None,
        ),
        ("sequences.email_accounts", "{}", None),
        ("deals.view", "{}", Some("o1")),
        ("deals.stages", "{}", None),
        (
            "calls.create",
            r#"{"contact_id":"c1","status":"completed","start_time":"2025-07-01T09:00:00Z"}"#,
            None,
        ),
        ("calls.search", r#"{"per_page":10}"#, None),
        ("calls.update", r#"{"duration":60}"#, Some("call1")),
        ("users.profile", r#"{"include_credit_usage":true}"#, None),
        ("users.auth_health", "{}", None),
        (
            "sequences.emails",
            r#"{"emailer_campaign_ids":["s1"],"per_page":100}"#,
            None,
        ),
        ("sequences.email_stats", "{}", Some("m1")),
        ("sequences.send_now", "{}", Some("m1")),
        ("sequences.activate", "{}", Some("s1")),
        ("sequences.deactivate", "{}", Some("s1")),
        ("sequences.archive", "{}", Some("s1")),
        ("tasks.view", "{}", Some("t1")),
        ("tasks.update", r#"{"priority":"low"}"#, Some("t1")),
        ("tasks.complete", r#"{"note":"done"}"#, Some("t1")),
        ("tasks.skip", "{}", Some("t1")),
        (
            "tasks.bulk_create",
            r#"{"user_id":"u1","contact_ids":["c1","c2"],"type":"call","status":"scheduled","due_at":"2025-07-01T09:00:00Z"}"#,
            None,
        ),
        ("deals.contact_deals", "{}", Some("c1")),
        ("contacts.notes", r#"{"contact_id":"c1","limit":100}"#, None),
        ("contacts.fields", r#"{"source":"custom"}"#, None),
        (
            "contacts.create_field",
            r#"{"label":"Renewal","modality":"account","type":"date"}"#,
            None,
        ),
        (
            "contacts.update_fields",
            r#"{"fields":[{"id":"contact.f1","label":"Owner"}]}"#,
            None,
        ),
        (
            "calls.conversations",
            r#"{"conversation_type":"phone_call","num_fetch_result":10}"#,
            None,
        ),
        ("calls.conversation", "{}", Some("conv_1")),
        ("people.webhook_result", "{}", Some("1039995589705121900")),
        (
            "contacts.bulk_update",
            r#"{"contact_ids":["c1","c2"],"title":"VP"}"#,
            None,
        ),
        (
            "accounts.bulk_update",
            r#"{"account_ids":["a1"],"owner_id":"u1"}"#,
            None,
        ),
        ("users.credit_usage", "{}", None),
        ("sequences.schedules", "{}", None),
        (
            "sequences.email_content",
            r#"{"ids":["m1"],"body_format":"html"}"#,
            None,
        ),
        ("sequences.email_status", r#"{"id":"m1"}"#, None),
        ("sequences.activity", r#"{"contact_id":"c1"}"#, None),
        (
            "contacts.create_list",
            r#"{"name":"Q3","modality":"contacts"}"#,
            None,
        ),
        ("contacts.update_list", r#"{"name":"Q4"}"#, Some("l1")),
        (
            "contacts.add_to_lists",
            r#"{"entity_ids":["c1"],"label_names":["Q3"],"modality":"contacts"}"#,
            None,
        ),
        (
            "contacts.remove_from_lists",
            r#"{"entity_ids":["a1"],"label_names":["Q3"],"modality":"accounts"}"#,
            None,
        ),
    ];
    for (id, json, path) in ok {
        assert_eq!(check(id, json, path), Ok(()), "{id} {json}");
    }
    // Every action has at least one passing example above.
    for a in catalog() {
        assert!(ok.iter().any(|(id, _, _)| *id == a.id.as_str()), "{}", a.id);
    }
}

#[test]
fn the_new_actions_refuse_what_apollo_refuses() {
    assert_eq!(
        message("contacts.notes", "{}", None),
        "Say whose notes to list: a 'contact_id', 'account_id', 'opportunity_id', 'conversation_id' or 'calendar_event_id' (Apollo needs at least one)."
    );
    assert_eq!(
        message(
            "tasks.bulk_create",
            r#"{"user_id":"u1","type":"call","status":"scheduled","due_at":"2025-07-01T09:00:00Z"}"#,
            None
        ),
        "A task needs 'user_id', 'contact_ids', 'type', 'status' and 'due_at': 'contact_ids' is missing."
    );
    let many: Vec<String> = (0..101).map(|i| format!("\"c{i}\"")).collect();
    assert!(
        message(
            "tasks.bulk_create",
            &format!(
                r#"{{"user_id":"u1","contact_ids":[{}],"type":"call","status":"scheduled","due_at":"2025-07-01T09:00:00Z"}}"#,
                many.join(",")
            ),
            None
        )
        .contains("at most 100")
    );
    assert_eq!(
        message(
            "contacts.create_field",
            r#"{"label":"X","modality":"lead","type":"string"}"#,
            None
        ),
        "'modality' cannot be 'lead'; use one of: contact, account, opportunity."
    );
    assert!(
        message(
            "contacts.update_fields",
            r#"{"fields":[{"label":"X"}]}"#,
            None
        )
        .starts_with("fields[0] needs an 'id'")
    );
    assert_eq!(
        message("people.webhook_result", "{}", Some("abc")),
        "'request_id' must be the number Apollo gave the enrichment call (digits only)."
    );
    assert!(
        message(
            "calls.conversations",
            r#"{"conversation_type":"zoom"}"#,
            None
        )
        .contains("video_conference")
    );
}

#[test]
fn paging_limits() {
    assert_eq!(
        message("people.search", r#"{"per_page":500}"#, None),
        "'per_page' is 500; it must be between 1 and 100 (Apollo returns at most 100 results per page)."
    );
    assert!(check("people.search", r#"{"per_page":0}"#, None).is_err());
    assert!(check("contacts.search", r#"{"page":501}"#, None).is_err());
    assert!(check("users.list", r#"{"page":"0"}"#, None).is_err());
    assert!(check("deals.list", r#"{"per_page":"ten"}"#, None).is_err());
    // Paging means nothing to a create; it is not checked there.
    assert!(check("contacts.create", r#"{"per_page":500}"#, None).is_ok());
}

#[test]
fn bulk_enrichment_takes_one_to_ten_identified_people() {
    let eleven = [r#"{"email":"a"}"#; 11].join(",");
    assert_eq!(
        message(
            "people.bulk_enrich",
            &format!(r#"{{"details":[{eleven}]}}"#),
            None
        ),
        "'details' has 11 people; bulk enrichment takes at most 10 per call, so split them into calls of 10."
    );
    assert!(check("people.bulk_enrich", r#"{"details":[]}"#, None).is_err());
    assert!(check("people.bulk_enrich", "{}", None).is_err());
    assert!(check("people.bulk_enrich", r#"{"details":"a@b.c"}"#, None).is_err());
    assert!(check("people.bulk_enrich", r#"{"details":["a@b.c"]}"#, None).is_err());
    assert!(
        message(
            "people.bulk_enrich",
            r#"{"details":[{"email":"a"},{"first_name":"B"}]}"#,
            None
        )
        .starts_with("details[1]: Say who to enrich")
    );
    // A query-string bulk call reads the same way.
    let args = read_args(Some("details[][email]=a&details[][email]=b"), None, b"").unwrap();
    assert!(validate(by_id("people.bulk_enrich").unwrap(), &args, None).is_ok());
}

#[test]
fn enrichment_needs_an_identifier() {
    for json in [
        "{}",
        r#"{"first_name":"A","last_name":"B"}"#,
        r#"{"first_name":"A","domain":"b.c"}"#,
        r#"{"email":""}"#,
        r#"{"email":null}"#,
        r#"{"organization_name":"Acme"}"#,
    ] {
        assert!(check("people.enrich", json, None).is_err(), "{json}");
    }
    for json in [
        r#"{"name":"Ada Lovelace"}"#,
        r#"{"hashed_email":"abc"}"#,
        r#"{"first_name":"A","last_name":"B","organization_name":"Acme"}"#,
    ] {
        assert!(check("people.enrich", json, None).is_ok(), "{json}");
    }
}

#[test]
fn phone_reveal_and_waterfall_need_a_webhook() {
    assert_eq!(
        message(
            "people.enrich",
            r#"{"id":"p","reveal_phone_number":"true"}"#,
            None
        ),
        "'webhook_url' is required with 'reveal_phone_number': Apollo delivers those results later, by POST to that URL."
    );
    assert!(
        check(
            "people.enrich",
            r#"{"id":"p","run_waterfall_email":true}"#,
            None
        )
        .is_err()
    );
    assert!(
        check(
            "people.bulk_enrich",
            r#"{"details":[{"id":"p"}],"run_waterfall_phone":1}"#,
            None
        )
        .is_err()
    );
    assert!(
        check(
            "people.enrich",
            r#"{"id":"p","reveal_personal_emails":true}"#,
            None
        )
        .is_ok()
    );
    assert!(
        check(
            "people.enrich",
            r#"{"id":"p","reveal_phone_number":false}"#,
            None
        )
        .is_ok()
    );
    for url in [
        "ftp://x",
        "hooks.example.com",
        "https://",
        "https:///x",
        "javascript:alert(1)",
        "https://a b",
        "https://user@evil",
    ] {
        let json = format!(r#"{{"id":"p","reveal_phone_number":true,"webhook_url":"{url}"}}"#);
        assert!(check("people.enrich", &json, None).is_err(), "{url}");
    }
    assert!(
        check(
            "people.enrich",
            r#"{"id":"p","reveal_phone_number":true,"webhook_url":"HTTP://h:8080/x?y=1"}"#,
            None
        )
        .is_ok()
    );
}

#[test]
fn record_actions_need_a_good_path_id() {
    assert_eq!(
        message("contacts.update", "{}", None),
        "'contact_id' is required: the id of the record to change."
    );
    assert!(check("deals.update", "{}", Some("a/b")).is_err());
    assert!(check("accounts.update", "{}", Some("")).is_err());
}

#[test]
fn sequences_refuse_a_mismatched_id_and_need_contacts_and_sender() {
    assert_eq!(
        message(
            "sequences.add_contacts",
            r#"{"emailer_campaign_id":"s2","contact_ids":["c"],"send_email_from_email_account_id":"e"}"#,
            Some("s1")
        ),
        "'emailer_campaign_id' (s2) is not the sequence in the path (s1); send the same id, or leave it out."
    );
    assert!(
        check(
            "sequences.add_contacts",
            r#"{"send_email_from_email_account_id":"e"}"#,
            Some("s1")
        )
        .is_err()
    );
    assert!(
        check(
            "sequences.add_contacts",
            r#"{"contact_ids":["c"]}"#,
            Some("s1")
        )
        .is_err()
    );
    assert!(
        check(
            "sequences.add_contacts",
            r#"{"contact_ids":["c"],"send_email_from_email_account_id":"e","status":"done"}"#,
            Some("s1")
        )
        .is_err()
    );
}

#[test]
fn tasks_need_their_fields() {
    assert_eq!(
        message(
            "tasks.create",
            r#"{"user_id":"u","contact_id":"c","status":"scheduled"}"#,
            None
        ),
        "A task needs 'user_id', 'contact_id', 'type', 'status' and 'due_at': 'type' and 'due_at' are missing."
    );
    let base = |t: &str, s: &str, d: &str| {
        format!(r#"{{"user_id":"u","contact_id":"c","type":"{t}","status":"{s}","due_at":"{d}"}}"#)
    };
    assert!(
        check(
            "tasks.create",
            &base("email", "scheduled", "2025-07-01"),
            None
        )
        .is_err()
    );
    assert!(check("tasks.create", &base("call", "open", "2025-07-01"), None).is_err());
    for bad in [
        "tomorrow",
        "2025-13-01",
        "2025-07-01T25:00",
        "2025-07-01T09:00:00+5",
        "07/01/2025",
        "2025-07-01T09",
        "2025-07-01T09:00.5",
    ] {
        assert!(
            check("tasks.create", &base("call", "scheduled", bad), None).is_err(),
            "{bad}"
        );
    }
    for good in [
        "2025-07-01",
        "2025-07-01T09:00",
        "2025-07-01T09:00:00.123Z",
        "2025-07-01T09:00:00+02:00",
        "2025-07-01T09:00:00-0500",
    ] {
        assert!(
            check("tasks.create", &base("call", "scheduled", good), None).is_ok(),
            "{good}"
        );
    }
}

#[test]
fn creates_need_their_names() {
    assert_eq!(
        message("accounts.create", r#"{"phone":"1"}"#, None),
        "An account needs a 'name' or a 'domain' (or both)."
    );
    assert_eq!(
        message("deals.create", "{}", None),
        "A deal needs a 'name'."
    );
    assert!(check("deals.create", r#"{"name":"x","amount":"5,000"}"#, None).is_err());
    assert!(check("deals.create", r#"{"name":"x","amount":-5}"#, None).is_err());
    assert!(check("deals.update", r#"{"closed_date":"31/12/2025"}"#, Some("o")).is_err());
    assert!(check("organizations.enrich", r#"{"website":""}"#, None).is_err());
}

#[test]
fn sort_fields_are_enumerated() {
    assert_eq!(
        message("accounts.search", r#"{"sort_by_field":"name"}"#, None),
        "'sort_by_field' cannot be 'name'; use one of: account_last_activity_date, account_created_at, account_updated_at."
    );
    assert!(
        check(
            "contacts.search",
            r#"{"sort_by_field":"account_created_at"}"#,
            None
        )
        .is_err()
    );
    assert!(check("tasks.search", r#"{"sort_by_field":["task_due_at"]}"#, None).is_err());
    assert!(check("deals.list", r#"{"sort_by_field":"amount"}"#, None).is_ok());
}

#[test]
fn domain_lists_are_capped() {
    let domains: Vec<String> = (0..1001).map(|i| format!("\"d{i}.com\"")).collect();
    let json = format!(
        r#"{{"q_organization_domains_list":[{}]}}"#,
        domains.join(",")
    );
    assert!(check("people.search", &json, None).is_err());
    assert!(check("organizations.search", &json, None).is_err());
}

#[test]
fn the_new_actions_say_what_apollo_would_refuse() {
    for (id, json, path, needle) in [
        (
            "organizations.bulk_enrich",
            "{}",
            None,
            "'domains' is required",
        ),
        (
            "organizations.bulk_enrich",
            r#"{"domains":["a","b","c","d","e","f","g","h","i","j","k"]}"#,
            None,
            "at most 10",
        ),
        (
            "organizations.bulk_enrich",
            r#"{"domains":["a.com",["b.com","c.com"]]}"#,
            None,
            "nested lists, objects and null are not domains",
        ),
        (
            "organizations.bulk_enrich",
            r#"{"domains":{"x":"a.com"}}"#,
            None,
            "nested lists, objects and null are not domains",
        ),
        (
            "organizations.bulk_enrich",
            r#"{"domains":["a.com",null]}"#,
            None,
            "nested lists, objects and null are not domains",
        ),
        (
            "organizations.news",
            "{}",
            None,
            "'organization_ids' is required",
        ),
        ("contacts.bulk_create", "{}", None, "'contacts' is required"),
        (
            "contacts.bulk_create",
            r#"{"contacts":[]}"#,
            None,
            "is empty",
        ),
        (
            "contacts.bulk_create",
            r#"{"contacts":[1]}"#,
            None,
            "contacts[0] must be an object",
        ),
        (
            "accounts.bulk_create",
            r#"{"accounts":[{"phone":"1"}]}"#,
            None,
            "accounts[0] needs a 'name'",
        ),
        (
            "contacts.bulk_update",
            r#"{"contact_attributes":[{"title":"x"}]}"#,
            None,
            "needs an 'id'",
        ),
        (
            "accounts.bulk_update",
            r#"{"account_attributes":[{"id":"../x"}]}"#,
            None,
            "needs an 'id'",
        ),
        (
            "contacts.update_stages",
            r#"{"contact_ids":["c1"]}"#,
            None,
            "'contact_stage_id' is required",
        ),
        (
            "accounts.update_owners",
            r#"{"owner_id":"u"}"#,
            None,
            "'account_ids' is required",
        ),
        (
            "sequences.remove_contacts",
            r#"{"emailer_campaign_ids":["s"],"contact_ids":["c"]}"#,
            None,
            "'mode' is required",
        ),
        (
            "sequences.remove_contacts",
            r#"{"emailer_campaign_ids":["s"],"contact_ids":["c"],"mode":"delete"}"#,
            None,
            "'mode' cannot be 'delete'",
        ),
        (
            "calls.create",
            r#"{"status":"dialling"}"#,
            None,
            "'status' cannot be",
        ),
        (
            "calls.update",
            r#"{"start_time":"yesterday"}"#,
            Some("c1"),
            "'start_time' must be",
        ),
        ("calls.update", "{}", None, "'call_id' is required"),
        (
            "organizations.job_postings",
            r#"{"per_page":101}"#,
            Some("o1"),
            "at most 100",
        ),
    ] {
        let err = message(id, json, path);
        assert!(err.contains(needle), "{id} {json}: {err}");
    }
    let many: Vec<String> = (0..101).map(|i| format!("{{\"name\":\"n{i}\"}}")).collect();
    let err = message(
        "accounts.bulk_create",
        &format!("{{\"accounts\":[{}]}}", many.join(",")),
        None,
    );
    assert!(err.contains("at most 100"), "{err}");
}
