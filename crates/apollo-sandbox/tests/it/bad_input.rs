//! Bad input gets Apollo's error, never a panic or a hang.

use serde_json::json;

use crate::helpers::TestSandbox;

#[tokio::test]
async fn malformed_json_is_400_with_a_sentence() {
    let s = TestSandbox::spawn().await;
    let answer = s
        .post_raw(
            "/api/v1/mixed_people/api_search",
            "application/json",
            "{\"person_titles\": [",
        )
        .await;
    assert_eq!(answer.status, 400);
    assert!(
        answer.json()["error"]
            .as_str()
            .unwrap_or("")
            .starts_with("The request body is not valid JSON")
    );
    // The sandbox is still fine afterwards.
    assert_eq!(
        s.post("/api/v1/mixed_people/api_search", json!({}))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn wrong_types_are_422() {
    let s = TestSandbox::spawn().await;
    for body in [
        json!({"page": "abc"}),
        json!({"per_page": [1]}),
        json!({"person_titles": [{"nested": true}]}),
        json!({"revenue_range": "lots"}),
        json!({"include_similar_titles": "perhaps"}),
    ] {
        let answer = s
            .post("/api/v1/mixed_people/api_search", body.clone())
            .await;
        assert_eq!(answer.status, 422, "{body}");
        assert!(answer.json()["error"].is_string());
    }
}

#[tokio::test]
async fn absurd_page_numbers_are_422_and_zero_is_page_one() {
    let s = TestSandbox::spawn().await;
    let answer = s
        .post("/api/v1/mixed_people/api_search", json!({"page": 501}))
        .await;
    assert_eq!(answer.status, 422);
    assert!(
        answer.json()["error"]
            .as_str()
            .unwrap_or("")
            .contains("at most 500")
    );
    let huge = s
        .post(
            "/api/v1/mixed_companies/search",
            json!({"page": "99999999999999999999999"}),
        )
        .await;
    assert_eq!(huge.status, 422);
    let zero = s
        .post("/api/v1/mixed_people/api_search", json!({"page": 0}))
        .await
        .json();
    assert_eq!(zero["pagination"]["page"], 1);
}

#[tokio::test]
async fn huge_bodies_are_413() {
    let s = TestSandbox::spawn_with(|c| c.body_limit = 64 * 1024).await;
    let body = format!("{{\"q_keywords\": \"{}\"}}", "a".repeat(100 * 1024));
    let answer = s
        .post_raw("/api/v1/mixed_people/api_search", "application/json", body)
        .await;
    assert_eq!(answer.status, 413);
}

#[tokio::test]
async fn form_bodies_and_query_strings_merge_with_the_query_winning_like_rails() {
    let s = TestSandbox::spawn().await;
    let answer = s
        .post_raw(
            "/api/v1/mixed_people/api_search?per_page=3",
            "application/x-www-form-urlencoded",
            "per_page=7&page=2",
        )
        .await
        .json();
    assert_eq!(answer["pagination"]["per_page"], 3);
    assert_eq!(answer["pagination"]["page"], 2);
}

#[tokio::test]
async fn a_non_object_json_body_is_ignored_not_fatal() {
    let s = TestSandbox::spawn().await;
    let answer = s
        .post_raw("/api/v1/contacts/search", "application/json", "[1, 2, 3]")
        .await;
    assert_eq!(answer.status, 200);
}
