//! Fixed windows, headers and 429s, driven by the manual clock.

use std::time::Duration;

use apollo_sandbox::PlanLimits;
use serde_json::json;

use crate::helpers::TestSandbox;

#[tokio::test]
async fn every_answer_after_authentication_carries_the_nine_headers() {
    let s = TestSandbox::spawn().await;
    let ok = s.post("/api/v1/contacts/search", json!({})).await;
    let error = s
        .post("/api/v1/accounts/search", json!({"sort_by_field": "x"}))
        .await;
    for answer in [ok, error] {
        for (name, value) in [
            ("x-rate-limit-minute", "200"),
            ("x-minute-usage", "1"),
            ("x-minute-requests-left", "199"),
            ("x-rate-limit-hourly", "400"),
            ("x-hourly-usage", "1"),
            ("x-hourly-requests-left", "399"),
            ("x-rate-limit-24-hour", "2000"),
            ("x-24-hour-usage", "1"),
            ("x-24-hour-requests-left", "1999"),
        ] {
            assert_eq!(answer.header(name), Some(value), "{name}");
        }
    }
}

#[tokio::test]
async fn the_minute_window_refuses_with_429_and_reopens_when_the_clock_moves() {
    let s = TestSandbox::spawn_with(|c| {
        c.limits = PlanLimits {
            per_minute: 2,
            per_hour: 5,
            per_day: 10,
        }
    })
    .await;
    for _ in 0..2 {
        assert_eq!(
            s.post("/api/v1/contacts/search", json!({})).await.status,
            200
        );
    }
    let refused = s.post("/api/v1/contacts/search", json!({})).await;
    assert_eq!(refused.status, 429);
    assert_eq!(
        refused.json(),
        json!({"message": "The maximum number of api calls allowed for api/v1/contacts/search is 2 times per minute. Please upgrade your plan from https://app.apollo.io/#/settings/plans/upgrade."})
    );
    assert_eq!(
        refused.header("retry-after"),
        Some("30"),
        "the clock is 30 s into its minute"
    );
    assert_eq!(refused.header("x-minute-requests-left"), Some("0"));
    // Other endpoints have their own windows.
    assert_eq!(
        s.post("/api/v1/accounts/search", json!({})).await.status,
        200
    );
    s.clock.advance(Duration::from_secs(30));
    let reopened = s.post("/api/v1/contacts/search", json!({})).await;
    assert_eq!(reopened.status, 200);
    assert_eq!(reopened.header("x-minute-usage"), Some("1"));
    assert_eq!(reopened.header("x-hourly-usage"), Some("3"));
}

#[tokio::test]
async fn the_hour_window_outlasts_the_minute() {
    let s = TestSandbox::spawn_with(|c| {
        c.limits = PlanLimits {
            per_minute: 10,
            per_hour: 3,
            per_day: 100,
        }
    })
    .await;
    for _ in 0..3 {
        s.post("/api/v1/contacts/search", json!({})).await;
        s.clock.advance(Duration::from_secs(60));
    }
    let refused = s.post("/api/v1/contacts/search", json!({})).await;
    assert_eq!(refused.status, 429);
    assert!(
        refused.json()["message"]
            .as_str()
            .unwrap_or("")
            .contains("3 times per hour")
    );
    let retry: u64 = refused
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(retry > 60 && retry <= 3600, "{retry}");
    s.clock.advance(Duration::from_secs(retry));
    assert_eq!(
        s.post("/api/v1/contacts/search", json!({})).await.status,
        200
    );
}

#[tokio::test]
async fn bulk_enrichment_gets_a_tenth_of_the_limits() {
    let s = TestSandbox::spawn_with(|c| {
        c.limits = PlanLimits {
            per_minute: 20,
            per_hour: 100,
            per_day: 1000,
        }
    })
    .await;
    let answer = s
        .post(
            "/api/v1/people/bulk_match",
            json!({"details": [{"email": "a@b.example"}]}),
        )
        .await;
    assert_eq!(answer.header("x-rate-limit-minute"), Some("2"));
    s.post(
        "/api/v1/people/bulk_match",
        json!({"details": [{"email": "a@b.example"}]}),
    )
    .await;
    assert_eq!(
        s.post(
            "/api/v1/people/bulk_match",
            json!({"details": [{"email": "a@b.example"}]})
        )
        .await
        .status,
        429
    );
}

#[tokio::test]
async fn keys_share_the_team_window() {
    let s = TestSandbox::spawn_with(|c| {
        c.limits = PlanLimits {
            per_minute: 2,
            per_hour: 50,
            per_day: 50,
        }
    })
    .await;
    s.post("/api/v1/contacts/search", json!({})).await;
    s.scoped_post("/api/v1/contacts/search", json!({})).await;
    assert_eq!(
        s.scoped_post("/api/v1/contacts/search", json!({}))
            .await
            .status,
        429
    );
}

#[tokio::test]
async fn the_clock_can_be_moved_over_http() {
    let s = TestSandbox::spawn_with(|c| {
        c.limits = PlanLimits {
            per_minute: 1,
            per_hour: 50,
            per_day: 50,
        }
    })
    .await;
    s.post("/api/v1/contacts/search", json!({})).await;
    assert_eq!(
        s.post("/api/v1/contacts/search", json!({})).await.status,
        429
    );
    let moved = s
        .post("/__sandbox/clock", json!({"advance_seconds": 60}))
        .await;
    assert_eq!(moved.json()["now"], "2025-03-10T12:01:30Z");
    assert_eq!(
        s.post("/api/v1/contacts/search", json!({})).await.status,
        200
    );
}
