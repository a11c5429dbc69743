//! People search, enrichment and bulk enrichment.

use serde_json::{Value, json};

use crate::helpers::TestSandbox;

const SEARCH: &str = "/api/v1/mixed_people/api_search";

#[tokio::test]
async fn people_search_returns_partial_people_and_exact_pagination() {
    let s = TestSandbox::spawn().await;
    let answer = s.post(SEARCH, json!({"page": 3, "per_page": 25})).await;
    assert_eq!(answer.status, 200);
    let body = answer.json();
    assert_eq!(body["total_entries"], 10_000);
    assert_eq!(
        body["pagination"],
        json!({"page": 3, "per_page": 25, "total_entries": 10_000, "total_pages": 400})
    );
    let people = body["people"].as_array().expect("people");
    assert_eq!(people.len(), 25);
    let person = &people[0];
    for key in [
        "id",
        "first_name",
        "last_name_obfuscated",
        "title",
        "last_refreshed_at",
        "has_email",
        "has_direct_phone",
        "organization",
    ] {
        assert!(person.get(key).is_some(), "{key} missing");
    }
    for hidden in [
        "last_name",
        "email",
        "phone_numbers",
        "personal_emails",
        "linkedin_url",
    ] {
        assert!(person.get(hidden).is_none(), "{hidden} must be hidden");
    }
    assert!(
        person["last_name_obfuscated"]
            .as_str()
            .unwrap_or("")
            .contains("***")
    );
    assert_eq!(s.sandbox.credits().total(), 0.0, "people search is free");
}

#[tokio::test]
async fn per_page_over_100_is_capped_and_pages_past_the_end_are_empty() {
    let s = TestSandbox::spawn().await;
    let body = s.post(SEARCH, json!({"per_page": 1000})).await.json();
    assert_eq!(body["people"].as_array().map(Vec::len), Some(100));
    let body = s
        .post(SEARCH, json!({"per_page": "100", "page": "101"}))
        .await
        .json();
    assert_eq!(body["people"], json!([]));
    assert_eq!(body["total_entries"], 10_000);
}

#[tokio::test]
async fn filters_from_the_query_string_and_the_body_give_the_same_answer() {
    let s = TestSandbox::spawn().await;
    let by_body = s
        .post(SEARCH, json!({"person_titles": ["VP Sales"], "person_seniorities": ["vp"], "person_locations": ["United States"], "per_page": 100}))
        .await
        .json();
    let by_query = s
        .post(
            &format!("{SEARCH}?person_titles[]=VP+Sales&person_seniorities[]=vp&person_locations[]=United%20States&per_page=100"),
            json!({}),
        )
        .await
        .json();
    assert_eq!(by_body, by_query);
    let total = by_body["total_entries"].as_u64().unwrap_or(0);
    assert!(
        total > 0 && total < 1_000,
        "filters narrow the set: {total}"
    );
    for person in by_body["people"].as_array().expect("people") {
        let title = person["title"].as_str().unwrap_or("");
        assert!(
            title.contains("Sales") && (title.contains("VP") || title.contains("Vice President")),
            "{title}"
        );
    }
}

#[tokio::test]
async fn organization_filters_narrow_people_to_that_company() {
    let s = TestSandbox::spawn().await;
    let org = s
        .post("/api/v1/mixed_companies/search", json!({"per_page": 1}))
        .await
        .json()["organizations"][0]
        .clone();
    let domain = org["primary_domain"].as_str().expect("domain");
    let by_domain = s
        .post(
            SEARCH,
            json!({"q_organization_domains_list": [domain], "per_page": 100}),
        )
        .await
        .json();
    let by_id = s
        .post(
            SEARCH,
            json!({"organization_ids": [org["id"]], "per_page": 100}),
        )
        .await
        .json();
    assert_eq!(by_domain, by_id);
    assert!(by_domain["total_entries"].as_u64().unwrap_or(0) > 0);
    for person in by_domain["people"].as_array().expect("people") {
        assert_eq!(person["organization"]["name"], org["name"]);
    }
    let none = s
        .post(
            SEARCH,
            json!({"q_organization_domains_list": ["no-such-domain.example"]}),
        )
        .await
        .json();
    assert_eq!(none["total_entries"], 0);
}

#[tokio::test]
async fn unknown_filters_are_ignored_and_the_old_search_is_deprecated() {
    let s = TestSandbox::spawn().await;
    let body = s
        .post(SEARCH, json!({"favourite_colour": "blue"}))
        .await
        .json();
    assert_eq!(body["total_entries"], 10_000);
    let old = s.post("/api/v1/mixed_people/search", json!({})).await;
    assert_eq!(old.status, 422);
    assert!(
        old.json()["error"]
            .as_str()
            .unwrap_or("")
            .contains("deprecated for API callers")
    );
}

async fn full_person(s: &TestSandbox) -> Value {
    let id = s.some_person().await["id"].clone();
    let answer = s.post("/api/v1/people/match", json!({"id": id})).await;
    assert_eq!(answer.status, 200);
    answer.json()["person"].clone()
}

#[tokio::test]
async fn people_match_finds_by_id_email_linkedin_and_name_with_company() {
    let s = TestSandbox::spawn().await;
    let person = full_person(&s).await;
    assert!(person["last_name"].is_string());
    assert!(
        person.get("personal_emails").is_none(),
        "not revealed unless asked"
    );
    assert!(person.get("phone_numbers").is_none());
    assert_eq!(person["revealed_for_current_team"], false);
    let id = person["id"].clone();
    let by_linkedin = s
        .post(
            "/api/v1/people/match",
            json!({"linkedin_url": person["linkedin_url"]}),
        )
        .await
        .json();
    assert_eq!(by_linkedin["person"]["id"], id);
    let by_name = s
        .post(
            "/v1/people/match",
            json!({"first_name": person["first_name"], "last_name": person["last_name"], "organization_name": person["organization"]["name"]}),
        )
        .await
        .json();
    assert_eq!(by_name["person"]["id"], id);
    if let Some(email) = person["email"].as_str() {
        let by_email = s
            .post(&format!("/api/v1/people/match?email={email}"), json!({}))
            .await
            .json();
        assert_eq!(by_email["person"]["id"], id);
    }
}

#[tokio::test]
async fn people_match_without_a_match_is_200_with_null_and_costs_nothing() {
    let s = TestSandbox::spawn().await;
    let answer = s
        .post(
            "/api/v1/people/match",
            json!({"email": "nobody@nowhere.example"}),
        )
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["person"], Value::Null);
    assert_eq!(s.sandbox.credits().total(), 0.0);
    let none = s.post("/api/v1/people/match", json!({})).await;
    assert_eq!(none.status, 422, "no identifier at all");
}

#[tokio::test]
async fn personal_emails_are_revealed_only_when_asked_and_then_stay_revealed_for_the_team() {
    let s = TestSandbox::spawn().await;
    // Find someone with personal emails.
    let mut id = Value::Null;
    for page in 1..=5 {
        let people = s
            .post(SEARCH, json!({"page": page, "per_page": 20}))
            .await
            .json()["people"]
            .clone();
        for p in people.as_array().expect("people") {
            let full = s
                .post(
                    "/api/v1/people/match",
                    json!({"id": p["id"], "reveal_personal_emails": "true"}),
                )
                .await
                .json();
            if full["person"]["personal_emails"]
                .as_array()
                .is_some_and(|e| !e.is_empty())
            {
                id = p["id"].clone();
                break;
            }
        }
        if !id.is_null() {
            break;
        }
    }
    assert!(!id.is_null(), "someone has personal emails");
    // A later call that does not ask still gets them: Apollo returns what the team revealed.
    let later = s
        .post("/api/v1/people/match", json!({"id": id}))
        .await
        .json();
    assert!(
        later["person"]["personal_emails"]
            .as_array()
            .is_some_and(|e| !e.is_empty())
    );
    assert_eq!(later["person"]["revealed_for_current_team"], true);
}

#[tokio::test]
async fn phone_reveal_requires_a_webhook_url_and_a_loopback_one() {
    let s = TestSandbox::spawn().await;
    let id = s.some_person().await["id"].clone();
    let missing = s
        .post(
            "/api/v1/people/match",
            json!({"id": id, "reveal_phone_number": true}),
        )
        .await;
    assert_eq!(missing.status, 422);
    assert_eq!(
        missing.json(),
        json!({"error": "Please add a valid 'webhook_url' parameter when using 'reveal_phone_number'"})
    );
    let outside = s
        .post("/api/v1/people/match", json!({"id": id, "reveal_phone_number": true, "webhook_url": "https://example.com/hook"}))
        .await;
    assert_eq!(outside.status, 422);
    assert!(
        outside.json()["error"]
            .as_str()
            .unwrap_or("")
            .contains("only delivers webhooks to this machine")
    );
    let waterfall = s
        .post(
            "/api/v1/people/match",
            json!({"id": id, "run_waterfall_email": "true"}),
        )
        .await;
    assert_eq!(waterfall.status, 422);
    assert_eq!(
        s.sandbox.credits().total(),
        0.0,
        "refused calls cost nothing"
    );
}

#[tokio::test]
async fn bulk_match_reports_matches_missing_records_and_credits() {
    let s = TestSandbox::spawn().await;
    let a = s.some_person().await["id"].clone();
    let details = json!([{"id": a}, {"email": "nobody@nowhere.example"}, {"id": a}]);
    let answer = s
        .post("/api/v1/people/bulk_match", json!({"details": details}))
        .await;
    assert_eq!(answer.status, 200);
    let body = answer.json();
    assert_eq!(body["status"], "success");
    assert_eq!(body["error_code"], Value::Null);
    assert_eq!(body["total_requested_enrichments"], 3);
    assert_eq!(body["unique_enriched_records"], 1);
    assert_eq!(body["missing_records"], 1);
    assert_eq!(body["credits_consumed"], 2.0);
    assert_eq!(body["matches"][0]["id"], a);
    assert_eq!(body["matches"][1], Value::Null);
    assert!(body["request_id"].is_string());
}

#[tokio::test]
async fn bulk_match_reads_details_from_the_query_string() {
    let s = TestSandbox::spawn().await;
    let id = s.some_person().await["id"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let answer = s
        .post(
            &format!("/api/v1/people/bulk_match?details[][id]={id}"),
            json!({}),
        )
        .await;
    assert_eq!(answer.json()["matches"][0]["id"], id.as_str());
}

#[tokio::test]
async fn bulk_match_refuses_missing_details_and_more_than_ten() {
    let s = TestSandbox::spawn().await;
    let missing = s.post("/api/v1/people/bulk_match", json!({})).await;
    assert_eq!(missing.status, 400);
    assert_eq!(
        missing.json(),
        json!({"status": "failed", "error_code": "INVALID_REQUEST", "error_message": "invalid request, missing details"})
    );
    let eleven: Vec<Value> = (0..11)
        .map(|i| json!({"email": format!("p{i}@x.example")}))
        .collect();
    let too_many = s
        .post("/api/v1/people/bulk_match", json!({"details": eleven}))
        .await;
    assert_eq!(too_many.status, 400);
    assert_eq!(
        too_many.json(),
        json!({"status": "failed", "error_code": "RECORD_LIMIT_EXCEEDED", "error_message": "cannot enrich more than 10 in a single request"})
    );
}
