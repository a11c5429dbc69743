//! `/metrics` on the admin listener, in Prometheus's format, and not on the agent listener.

use serde_json::json;

use crate::helpers::TestApp;

fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no series {series} in:\n{text}"))
}

#[tokio::test]
async fn metrics_count_calls_latency_credits_and_audit_batches_on_the_admin_listener() {
    let app = TestApp::spawn().await;
    let key = app
        .agent("Research Agent", &["people=read", "organizations=read"])
        .await;
    app.limits(
        "Research Agent",
        bollard::store::Limits {
            credits_per_day: Some(100),
            ..Default::default()
        },
    )
    .await;
    let search = app
        .post("/api/v1/mixed_people/api_search", &key, json!({}))
        .await;
    assert_eq!(search.status, 200);
    let denied = app
        .post("/api/v1/contacts", &key, json!({"first_name": "A"}))
        .await;
    assert_eq!(denied.status, 403);
    let companies = app
        .post(
            "/api/v1/mixed_companies/search",
            &key,
            json!({"per_page": 2}),
        )
        .await;
    assert_eq!(companies.status, 200, "{}", companies.text);
    app.sandbox.faults().fail_next(1, 503);
    let failed = app
        .post("/api/v1/mixed_people/api_search", &key, json!({}))
        .await;
    assert_eq!(failed.status, 503);
    app.flush_audit().await;

    let on_agent_port = app
        .client
        .get(app.agent_url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_ne!(
        on_agent_port.status().as_u16(),
        200,
        "metrics are not for agents"
    );

    let scraped = app
        .client
        .get(format!("http://{}/metrics", app.app.admin_addr))
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status().as_u16(), 200);
    assert!(
        scraped.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = scraped.text().await.unwrap();
    let search_calls =
        r#"bollard_calls_total{agent="Research Agent",action="people.search",decision="allowed"}"#;
    assert_eq!(value(&text, search_calls), 2.0, "{text}");
    let denied =
        r#"bollard_calls_total{agent="Research Agent",action="contacts.create",decision="denied"}"#;
    assert_eq!(value(&text, denied), 1.0, "{text}");
    assert_eq!(
        value(
            &text,
            r#"bollard_call_duration_seconds_count{action="people.search",outcome="answered"}"#
        ),
        2.0,
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            r#"bollard_upstream_duration_seconds_count{action="people.search"}"#
        ),
        2.0
    );
    assert!(
        value(
            &text,
            r#"bollard_credits_reserved_total{agent="Research Agent"}"#
        ) > 0.0,
        "{text}"
    );
    assert!(
        value(
            &text,
            r#"bollard_credits_spent_total{agent="Research Agent"}"#
        ) > 0.0,
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            r#"bollard_upstream_errors_total{action="people.search",error="server_error"}"#
        ),
        1.0
    );
    assert!(
        value(&text, "bollard_audit_batch_records_count") >= 1.0,
        "{text}"
    );
    assert_eq!(value(&text, "bollard_audit_queue_depth"), 0.0);
    assert!(
        text.trim_end().ends_with("# EOF"),
        "OpenMetrics ends with # EOF"
    );
    app.stop().await;
}
