//! Keys, scopes, path prefixes and the journal.

use apollo_sandbox::KeyUsed;
use serde_json::json;

use crate::helpers::TestSandbox;

#[tokio::test]
async fn missing_or_wrong_key_gets_plain_text_401() {
    let s = TestSandbox::spawn().await;
    for key in [None, Some("not-a-key")] {
        let answer = s
            .call(
                "POST",
                "/api/v1/mixed_people/api_search",
                key,
                Some(json!({})),
            )
            .await;
        assert_eq!(answer.status, 401);
        assert_eq!(answer.text, "Invalid access credentials.");
        assert!(
            answer
                .header("content-type")
                .unwrap_or("")
                .starts_with("text/plain")
        );
        assert!(answer.header("x-rate-limit-minute").is_none());
    }
}

#[tokio::test]
async fn header_name_is_case_insensitive_and_api_key_argument_is_accepted() {
    let s = TestSandbox::spawn().await;
    let response = s
        .client
        .post(s.url("/api/v1/mixed_people/api_search"))
        .header("X-Api-Key", s.master())
        .json(&json!({}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 200);
    let by_query = s
        .call(
            "GET",
            &format!("/v1/mixed_people/api_search?api_key={}", s.master()),
            None,
            None,
        )
        .await;
    assert_eq!(by_query.status, 200);
    let by_body = s
        .call(
            "POST",
            "/v1/mixed_people/api_search",
            None,
            Some(json!({"api_key": s.scoped()})),
        )
        .await;
    assert_eq!(by_body.status, 200);
    let journal = s.sandbox.journal();
    assert_eq!(journal[1].key, KeyUsed::Master);
    assert!(journal[1].api_key_argument);
    assert_eq!(
        journal[1].query, "",
        "the key is removed from the recorded query"
    );
    assert_eq!(journal[2].key, KeyUsed::Scoped);
    assert!(
        journal[2].args.get("api_key").is_none(),
        "the key is removed from the recorded args"
    );
}

#[tokio::test]
async fn scoped_key_is_refused_on_master_only_endpoints_with_api_inaccessible() {
    let s = TestSandbox::spawn().await;
    let cases = [
        (
            "POST",
            "/api/v1/emailer_campaigns/search",
            "api/v1/emailer_campaigns/search",
        ),
        ("POST", "/api/v1/tasks", "api/v1/tasks/create"),
        ("POST", "/api/v1/tasks/search", "api/v1/tasks/search"),
        (
            "POST",
            "/api/v1/opportunities",
            "api/v1/opportunities/create",
        ),
        (
            "GET",
            "/api/v1/opportunities/search",
            "api/v1/opportunities/search",
        ),
        ("GET", "/v1/users/search", "api/v1/users/search"),
        (
            "POST",
            "/api/v1/usage_stats/api_usage_stats",
            "api/v1/usage_stats/api_usage_stats",
        ),
        (
            "GET",
            "/api/v1/email_accounts",
            "api/v1/email_accounts/index",
        ),
        (
            "POST",
            "/api/v1/emailer_campaigns/remove_or_stop_contact_ids",
            "api/v1/emailer_campaigns/remove_or_stop_contact_ids",
        ),
        (
            "GET",
            "/api/v1/opportunity_stages",
            "api/v1/opportunity_stages/index",
        ),
        ("POST", "/api/v1/phone_calls", "api/v1/phone_calls/create"),
        (
            "GET",
            "/v1/typed_custom_fields",
            "api/v1/typed_custom_fields/index",
        ),
        (
            "GET",
            "/api/v1/emailer_messages/abc123/activities",
            "api/v1/emailer_messages/activities",
        ),
    ];
    for (method, path, route) in cases {
        let key = s.scoped();
        let answer = s.call(method, path, Some(&key), Some(json!({}))).await;
        assert_eq!(answer.status, 403, "{path}");
        assert_eq!(
            answer.json(),
            json!({"error": format!("{route} is not accessible with this api_key"), "error_code": "API_INACCESSIBLE"})
        );
        assert!(
            answer.header("x-minute-usage").is_some(),
            "rate headers on 403 too"
        );
    }
    let fixtures = s.sandbox.fixtures();
    let path = format!(
        "/api/v1/emailer_campaigns/{}/add_contact_ids",
        fixtures.sequence_ids[0]
    );
    assert_eq!(s.scoped_post(&path, json!({})).await.status, 403);
    let path = format!("/api/v1/opportunities/{}", fixtures.account_ids[0]);
    let key = s.scoped();
    assert_eq!(
        s.call("PATCH", &path, Some(&key), Some(json!({})))
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn scoped_key_reaches_people_organizations_contacts_and_accounts() {
    let s = TestSandbox::spawn().await;
    for path in [
        "/api/v1/mixed_people/api_search",
        "/api/v1/mixed_companies/search",
        "/api/v1/contacts/search",
        "/api/v1/accounts/search",
    ] {
        assert_eq!(s.scoped_post(path, json!({})).await.status, 200, "{path}");
    }
}

#[tokio::test]
async fn both_prefixes_and_the_loose_verbs_are_served() {
    let s = TestSandbox::spawn().await;
    for prefix in ["/api/v1", "/v1"] {
        for method in ["GET", "POST"] {
            for path in [
                "mixed_people/api_search",
                "contacts/search",
                "users/search",
                "opportunities/search",
            ] {
                let key = s.master();
                let answer = s
                    .call(method, &format!("{prefix}/{path}"), Some(&key), None)
                    .await;
                assert_eq!(answer.status, 200, "{method} {prefix}/{path}");
            }
        }
    }
    assert_eq!(
        s.get("/api/v1/people/match").await.status,
        404,
        "people/match is POST only"
    );
    assert_eq!(s.get("/api/v2/contacts/search").await.status, 404);
    assert_eq!(
        s.get("/api/v2/contacts/search").await.json(),
        json!({"status": 404, "error": "Not Found"})
    );
}

#[tokio::test]
async fn unknown_paths_are_404_even_without_a_key() {
    let s = TestSandbox::spawn().await;
    let answer = s.call("GET", "/api/v1/nothing/here", None, None).await;
    assert_eq!(answer.status, 404);
}

#[tokio::test]
async fn journal_records_what_arrived_and_can_be_cleared() {
    let s = TestSandbox::spawn().await;
    s.call(
        "POST",
        "/api/v1/mixed_people/api_search?person_titles[]=cto",
        None,
        Some(json!({"page": 2})),
    )
    .await;
    let journal = s.sandbox.journal();
    assert_eq!(journal.len(), 1);
    let entry = &journal[0];
    assert_eq!(
        (entry.method.as_str(), entry.path.as_str(), entry.status),
        ("POST", "/api/v1/mixed_people/api_search", 401)
    );
    assert_eq!(entry.args, json!({"person_titles": ["cto"], "page": 2}));
    assert_eq!(entry.key, KeyUsed::Missing);
    s.sandbox.clear_journal();
    assert!(s.sandbox.journal().is_empty());
}

#[tokio::test]
async fn control_surface_needs_the_master_key() {
    let s = TestSandbox::spawn().await;
    let key = s.scoped();
    assert_eq!(
        s.call("GET", "/__sandbox/journal", Some(&key), None)
            .await
            .status,
        401
    );
    s.post("/api/v1/contacts/search", json!({})).await;
    let journal = s.get("/__sandbox/journal").await.json();
    assert_eq!(
        journal.as_array().map(Vec::len),
        Some(1),
        "control calls are not journaled"
    );
    assert_eq!(journal[0]["path"], "/api/v1/contacts/search");
    assert_eq!(journal[0]["key"], "master");
    assert_eq!(
        s.call("DELETE", "/__sandbox/journal", Some(&s.master()), None)
            .await
            .status,
        200
    );
    assert!(s.sandbox.journal().is_empty());
    let fixtures = s.get("/__sandbox/fixtures").await.json();
    assert_eq!(fixtures["sequence_ids"].as_array().map(Vec::len), Some(6));
}

#[tokio::test]
async fn auth_health_says_whether_the_key_is_logged_in() {
    let s = TestSandbox::spawn().await;
    let (master, scoped) = (s.master(), s.scoped());
    for path in ["/v1/auth/health", "/api/v1/auth/health"] {
        for (key, logged_in) in [
            (Some(master.as_str()), true),
            (Some(scoped.as_str()), true),
            (Some("not-a-key"), false),
            (None, false),
        ] {
            let answer = s.call("GET", path, key, None).await;
            assert_eq!(answer.status, 200, "{path} {key:?}");
            assert_eq!(
                answer.json(),
                json!({"healthy": true, "is_logged_in": logged_in}),
                "{path} {key:?}"
            );
        }
    }
}
