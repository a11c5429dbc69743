//! Organization search and enrichment.

use serde_json::{Value, json};

use crate::helpers::TestSandbox;

#[tokio::test]
async fn organization_search_has_apollo_envelope_and_costs_a_credit_per_page() {
    let s = TestSandbox::spawn().await;
    let answer = s
        .post(
            "/api/v1/mixed_companies/search",
            json!({"per_page": 5, "organization_locations": ["california"]}),
        )
        .await;
    assert_eq!(answer.status, 200);
    let body = answer.json();
    for key in [
        "breadcrumbs",
        "partial_results_only",
        "has_join",
        "disable_eu_prospecting",
        "partial_results_limit",
        "pagination",
        "num_fetch_result",
        "accounts",
        "organizations",
    ] {
        assert!(body.get(key).is_some(), "{key} missing");
    }
    assert_eq!(
        body["breadcrumbs"][0]["signal_field_name"],
        "organization_locations"
    );
    let orgs = body["organizations"].as_array().expect("organizations");
    assert_eq!(orgs.len(), 5);
    for org in orgs {
        assert_eq!(org["state"], "California");
        for key in [
            "id",
            "name",
            "website_url",
            "linkedin_url",
            "primary_domain",
            "primary_phone",
            "founded_year",
            "logo_url",
            "industry",
            "estimated_num_employees",
        ] {
            assert!(org.get(key).is_some(), "{key} missing");
        }
    }
    assert_eq!(s.sandbox.credits().organization_search, 1.0);
    s.get("/v1/mixed_companies/search?q_organization_name=zzzz-no-match")
        .await;
    assert_eq!(
        s.sandbox.credits().organization_search,
        1.0,
        "an empty page costs nothing"
    );
}

#[tokio::test]
async fn organization_search_filters_by_employees_and_revenue() {
    let s = TestSandbox::spawn().await;
    let body = s
        .get("/api/v1/mixed_companies/search?organization_num_employees_ranges[]=1,50&revenue_range[max]=5000000&per_page=100")
        .await
        .json();
    let orgs = body["organizations"].as_array().expect("organizations");
    assert!(!orgs.is_empty());
    for org in orgs {
        assert!(org["estimated_num_employees"].as_u64().unwrap_or(u64::MAX) <= 50);
        assert!(org["organization_revenue"].as_u64().unwrap_or(u64::MAX) <= 5_000_000);
    }
}

#[tokio::test]
async fn organization_enrich_by_domain_with_get_or_post() {
    let s = TestSandbox::spawn().await;
    let org = s
        .post("/api/v1/mixed_companies/search", json!({"per_page": 1}))
        .await
        .json()["organizations"][0]
        .clone();
    let domain = org["primary_domain"].as_str().expect("domain");
    let by_get = s
        .get(&format!("/api/v1/organizations/enrich?domain={domain}"))
        .await;
    assert_eq!(by_get.status, 200);
    let enriched = by_get.json()["organization"].clone();
    assert_eq!(enriched["id"], org["id"]);
    for key in [
        "industry",
        "keywords",
        "estimated_num_employees",
        "annual_revenue",
        "total_funding",
        "technology_names",
    ] {
        assert!(enriched.get(key).is_some(), "{key} missing");
    }
    let by_post = s
        .post(
            "/v1/organizations/enrich",
            json!({"domain": format!("www.{domain}")}),
        )
        .await
        .json();
    assert_eq!(by_post["organization"]["id"], org["id"]);
    let credits = s.sandbox.credits();
    assert_eq!(credits.organization_enrich, 2.0);
}

#[tokio::test]
async fn organization_enrich_without_identifiers_is_422_and_unknown_is_null() {
    let s = TestSandbox::spawn().await;
    let none = s.get("/api/v1/organizations/enrich").await;
    assert_eq!(none.status, 422);
    assert!(none.json()["error"].is_string());
    let unknown = s
        .get("/api/v1/organizations/enrich?domain=unknown.example")
        .await;
    assert_eq!(unknown.status, 200);
    assert_eq!(unknown.json()["organization"], Value::Null);
    assert_eq!(s.sandbox.credits().total(), 0.0);
}
