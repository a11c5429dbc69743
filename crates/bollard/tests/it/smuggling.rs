//! Every way to slip `reveal_phone_number` or `reveal_personal_emails` past the policy:
//! each is denied (or refused as ambiguous), and nothing reaches the sandbox.

use crate::helpers::{TestApp, WEBHOOK_PREFIX};

struct Attempt {
    what: &'static str,
    path: &'static str,
    query: String,
    content_type: &'static str,
    body: String,
}

fn attempts() -> Vec<Attempt> {
    let hook = format!("{WEBHOOK_PREFIX}p");
    let ident = r#""first_name": "Ada", "last_name": "Lovelace", "domain": "example.com""#;
    let json = |extra: &str| format!(r#"{{{ident}, "webhook_url": "{hook}", {extra}}}"#);
    let mut v = Vec::new();
    let mut add = |what, path, query: String, ct, body: String| {
        v.push(Attempt {
            what,
            path,
            query,
            content_type: ct,
            body,
        });
    };
    let m = "/api/v1/people/match";
    let ct = "application/json";
    add(
        "body true",
        m,
        String::new(),
        ct,
        json(r#""reveal_phone_number": true"#),
    );
    add(
        "body \"true\"",
        m,
        String::new(),
        ct,
        json(r#""reveal_phone_number": "true""#),
    );
    add(
        "body \"TRUE\"",
        m,
        String::new(),
        ct,
        json(r#""reveal_phone_number": "TRUE""#),
    );
    add(
        "body \"1\"",
        m,
        String::new(),
        ct,
        json(r#""reveal_phone_number": "1""#),
    );
    add(
        "body 1",
        m,
        String::new(),
        ct,
        json(r#""reveal_phone_number": 1"#),
    );
    add(
        "body [\"true\"]",
        m,
        String::new(),
        ct,
        json(r#""reveal_phone_number": ["true"]"#),
    );
    add(
        "body emails",
        m,
        String::new(),
        ct,
        json(r#""reveal_personal_emails": true"#),
    );
    add(
        "body mixed-case key",
        m,
        String::new(),
        ct,
        json(r#""Reveal_Phone_Number": true"#),
    );
    add(
        "query true",
        m,
        "reveal_phone_number=true".into(),
        ct,
        json(r#""x": 1"#),
    );
    add(
        "query True, body false",
        m,
        "reveal_phone_number=True".into(),
        ct,
        json(r#""reveal_phone_number": false"#),
    );
    add(
        "query false then true",
        m,
        "reveal_phone_number=false&reveal_phone_number=true".into(),
        ct,
        json(r#""x": 1"#),
    );
    add(
        "query array",
        m,
        "reveal_phone_number[]=true".into(),
        ct,
        json(r#""x": 1"#),
    );
    add(
        "query percent-encoded key",
        m,
        "reveal%5Fphone%5Fnumber=true".into(),
        ct,
        json(r#""x": 1"#),
    );
    add(
        "query emails, yes",
        m,
        "reveal_personal_emails=yes".into(),
        ct,
        json(r#""x": 1"#),
    );
    add(
        "duplicate JSON keys",
        m,
        String::new(),
        ct,
        json(r#""reveal_phone_number": false, "reveal_phone_number": true"#),
    );
    add(
        "form body",
        m,
        String::new(),
        "application/x-www-form-urlencoded",
        format!(
            "first_name=Ada&last_name=L&domain=example.com&webhook_url={hook}&reveal_phone_number=true"
        ),
    );
    add(
        "no content type",
        m,
        String::new(),
        "",
        json(r#""reveal_phone_number": true"#),
    );
    add(
        "text/plain body",
        m,
        String::new(),
        "text/plain",
        json(r#""reveal_phone_number": true"#),
    );
    add(
        "bulk flag",
        "/api/v1/people/bulk_match",
        String::new(),
        ct,
        format!(
            r#"{{"details": [{{"email": "a@example.com"}}], "webhook_url": "{hook}", "reveal_phone_number": "true"}}"#
        ),
    );
    add(
        "bulk flag in a detail",
        "/api/v1/people/bulk_match",
        String::new(),
        ct,
        format!(
            r#"{{"details": [{{"email": "a@example.com", "reveal_personal_emails": true}}], "webhook_url": "{hook}"}}"#
        ),
    );
    add(
        "legacy prefix",
        "/v1/people/match",
        "reveal_phone_number=t".into(),
        ct,
        json(r#""x": 1"#),
    );
    v
}

#[tokio::test]
async fn no_spelling_position_or_repetition_slips_a_reveal_flag_past_the_policy() {
    let t = TestApp::spawn().await;
    let key = t.agent("Sales Agent", &["people=read"]).await;
    t.daily_budget("Sales Agent", 1000).await;
    for a in attempts() {
        let url = if a.query.is_empty() {
            t.agent_url(a.path)
        } else {
            format!("{}?{}", t.agent_url(a.path), a.query)
        };
        let mut req = t
            .client
            .post(url)
            .header("x-api-key", &key)
            .body(a.body.clone());
        if !a.content_type.is_empty() {
            req = req.header("content-type", a.content_type);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        assert!(
            status == 403 || status == 422,
            "{}: expected a refusal, got {status}: {text}",
            a.what
        );
        assert!(t.journal().is_empty(), "{}: reached the sandbox", a.what);
    }
    // And the same agent's plain enrichment does go through.
    let r = t
        .post(
            "/api/v1/people/match",
            &key,
            serde_json::json!({"first_name": "Ada", "last_name": "Lovelace", "domain": "example.com", "reveal_phone_number": false}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    t.stop().await;
}
