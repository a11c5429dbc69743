//! Every console page, drawn with an agent, a rule and call arguments whose names are markup:
//! what someone typed must come out as text, never as tags or attributes. The console's
//! templates escape by default; this is the proof, page by page.

use bollard::ops;
use bollard::store::{AgentPatch, Limits};
use serde_json::json;

use super::admin_url;
use super::console::{form, no_redirects, sign_in};
use crate::helpers::TestApp;

/// A name that breaks out of text (`<script>`), of a quoted attribute (`">`) and of an
/// entity (`&amp;` must stay the five characters typed), under 80 characters.
const NAME: &str = "<script>alert(1)</script>\"><img src=x onerror=alert(1)> &amp; 'q'";
const DESCRIPTION: &str = "</span><svg onload=alert(2)> & \"quoted\"";
const RULE_NAME: &str = "<b onmouseover=alert(3)>rule</b>";
const ARGUMENT: &str = "<script>alert(4)</script>";

/// Pieces of markup that appear only if something was not escaped.
const RAW: [&str; 8] = [
    "<script>alert",
    "</script>\"",
    "\"><img",
    "<img src=x",
    "<svg onload",
    "</span><svg",
    "<b onmouseover",
    "<script>alert(4)",
];

/// One page as the browser received it.
#[derive(Debug)]
struct Seen {
    what: String,
    status: u16,
    html: String,
}

async fn seen(what: String, req: reqwest::RequestBuilder) -> Seen {
    let r = req.send().await.unwrap();
    Seen {
        what,
        status: r.status().as_u16(),
        html: r.text().await.unwrap(),
    }
}

/// Asserts a page shows none of the hostile markup raw, and that it does show `expect`
/// escaped (so the check cannot pass by a page leaving the value out).
fn assert_escaped(p: &Seen, expect: &[&str]) {
    assert!(
        p.status < 500,
        "{}: answered {}\n{}",
        p.what,
        p.status,
        p.html
    );
    for raw in RAW {
        assert!(
            !p.html.contains(raw),
            "{} shows {raw:?} unescaped:\n{}",
            p.what,
            p.html
        );
    }
    for e in expect {
        assert!(
            p.html.contains(e),
            "{} should show {e:?}:\n{}",
            p.what,
            p.html
        );
    }
}

/// The hostile name as the page must write it in text and in attribute values (up to its
/// single quotes, which need no escape inside the double-quoted attributes the pages use).
const NAME_ESCAPED: &str =
    "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(1)&gt; &amp;amp; ";

#[tokio::test]
async fn hostile_names_rules_and_arguments_are_escaped_on_every_console_page() {
    let t = TestApp::spawn().await;
    let admin = super::admin(&t).await;
    let key = t.agent(NAME, &["people=read", "contacts=full"]).await;
    let agent = ops::update_agent(
        &*t.store,
        &crate::helpers::tester(),
        NAME,
        AgentPatch {
            description: Some(DESCRIPTION.into()),
            ..AgentPatch::default()
        },
        t.clock.now(),
    )
    .await
    .unwrap();
    t.limits(
        NAME,
        Limits {
            per_minute: Some(100),
            credits_per_day: Some(10),
            ..Limits::default()
        },
    )
    .await;
    // A call whose argument is markup: its sentence carries it into the audit pages.
    let r = t
        .post(
            "/api/v1/mixed_people/api_search",
            &key,
            json!({"person_titles": [ARGUMENT], "q_keywords": NAME}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // A refused one too, so the log has a denial and more than one page.
    let r = t
        .post(
            "/api/v1/emailer_campaigns/search",
            &key,
            json!({"q_name": ARGUMENT}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    t.flush_audit().await;

    let (session, csrf) = sign_in(&t, &admin.key).await;
    let c = no_redirects();
    let get = |what: &str, path: String| {
        let req = c.get(admin_url(&t, &path)).header("cookie", &session);
        seen(format!("{what} (GET {path})"), req)
    };
    let post = |what: &str, path: String, fields: Vec<(&str, &str)>| {
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend(fields);
        let req = c
            .post(admin_url(&t, &path))
            .header("cookie", &session)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&all));
        seen(format!("{what} (POST {path})"), req)
    };
    let id = agent.id.clone();
    let cedar = format!(
        "forbid(principal, action, resource) when {{ context.args has q_keywords && context.args.q_keywords == \"{ARGUMENT}\" }};"
    );

    // A rule through the console's form: its Cedar text holds markup.
    let added = post(
        "a rule with markup in its Cedar",
        format!("/agents/{id}/rules"),
        vec![("name", "no-scripts"), ("cedar", &cedar)],
    )
    .await;
    assert_eq!(added.status, 303, "{}", added.html);
    // A rule name the form refuses comes back in the re-drawn form and in the error.
    let refused = post(
        "a rule name the form refuses",
        format!("/agents/{id}/rules"),
        vec![("name", RULE_NAME), ("cedar", &cedar)],
    )
    .await;
    assert_eq!(refused.status, 422);
    assert_escaped(
        &refused,
        &[NAME_ESCAPED, "&lt;b onmouseover=alert(3)&gt;rule&lt;/b&gt;"],
    );
    // A rule name the form would refuse, stored anyway (an older version, a hand-edited
    // database): the page must not rely on the form's check to stay safe.
    t.store
        .add_rule(
            &id,
            RULE_NAME,
            "forbid(principal, action, resource) when { context.per_page > 99 };",
        )
        .await
        .unwrap();

    let mut pages = vec![
        refused,
        get("the agents list", "/agents".into()).await,
        get("the agent's page", format!("/agents/{id}")).await,
        get(
            "the agent's page after a change",
            format!("/agents/{id}?done=access"),
        )
        .await,
        get("the audit log", "/audit".into()).await,
        get("the audit log for the agent", format!("/audit?agent={id}")).await,
        get(
            "the audit log with a markup filter",
            "/audit?agent=%3Cscript%3Ealert(1)%3C%2Fscript%3E&since=%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E"
                .into(),
        )
        .await,
        get("the audit log's first page", "/audit?limit=1".into()).await,
        get(
            "the audit log's older page",
            "/audit?limit=1&cursor=2&agent=%3Cscript%3E".into(),
        )
        .await,
        get("the dry run", format!("/check?agent={id}")).await,
        get(
            "the dry run for a markup agent",
            "/check?agent=%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E".into(),
        )
        .await,
        get(
            "a missing agent",
            "/agents/%3Cscript%3Ealert(1)%3C%2Fscript%3E".into(),
        )
        .await,
        get(
            "a missing page",
            "/%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E".into(),
        )
        .await,
        post(
            "the dry run's answer",
            "/check".into(),
            vec![
                ("agent", &id),
                ("action", "people.search"),
                ("body", &json!({"person_titles": [ARGUMENT]}).to_string()),
            ],
        )
        .await,
        post(
            "the dry run's refusal of a markup record id",
            "/check".into(),
            vec![
                ("agent", &id),
                ("action", "contacts.update"),
                ("record_id", NAME),
                ("body", ARGUMENT),
            ],
        )
        .await,
        post(
            "the dry run with a markup action",
            "/check".into(),
            vec![("agent", NAME), ("action", NAME), ("body", "")],
        )
        .await,
        post(
            "an agent whose name is taken",
            "/agents".into(),
            vec![("name", NAME), ("description", DESCRIPTION)],
        )
        .await,
        post(
            "limits that are not numbers",
            format!("/agents/{id}/limits"),
            vec![("per_minute", NAME)],
        )
        .await,
        post(
            "a grid with a markup level",
            format!("/agents/{id}/grants"),
            vec![("level.people", NAME)],
        )
        .await,
        post(
            "a new agent's key",
            "/agents".into(),
            vec![("name", RULE_NAME), ("description", DESCRIPTION)],
        )
        .await,
        post("the key shown once", format!("/agents/{id}/rotate"), vec![]).await,
    ];
    let revoked = post("revoking", format!("/agents/{id}/revoke"), vec![]).await;
    assert_eq!(revoked.status, 303, "{}", revoked.html);
    pages.push(
        get(
            "a revoked agent's page",
            format!("/agents/{id}?done=revoked"),
        )
        .await,
    );
    // Before signing in: the sign-in page, and its refusal of a form without its token.
    pages.push(
        seen(
            "the sign-in page with a markup next".into(),
            c.get(admin_url(
                &t,
                "/sign-in?next=/%22%3E%3Cscript%3Ealert(1)%3C/script%3E",
            )),
        )
        .await,
    );
    pages.push(
        seen(
            "the sign-in page's refusal".into(),
            c.post(admin_url(&t, "/sign-in"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form(&[
                    ("key", NAME),
                    ("next", "/\"><script>alert(1)</script>"),
                ])),
        )
        .await,
    );

    // Pages that name the agent must show its name, escaped.
    let names_agent = [
        "the agents list",
        "the agent's page",
        "the audit log",
        "the dry run (",
        "the dry run's answer",
        "the key shown once",
        "limits that are not numbers",
        "a revoked agent's page",
    ];
    for p in &pages {
        let expect: Vec<&str> = if names_agent.iter().any(|w| p.what.starts_with(w)) {
            vec![NAME_ESCAPED]
        } else {
            vec![]
        };
        assert_escaped(p, &expect);
    }
    let find = |what: &str| {
        pages
            .iter()
            .find(|p| p.what.starts_with(what))
            .map(|p| p.html.as_str())
            .unwrap_or_default()
    };
    let agent_page = find("the agent's page (");
    for shown in [
        "&lt;/span&gt;&lt;svg onload=alert(2)&gt; &amp; &quot;quoted&quot;",
        "&lt;b onmouseover=alert(3)&gt;rule&lt;/b&gt;",
        "context.args.q_keywords == &quot;&lt;script&gt;alert(4)&lt;/script&gt;&quot;",
        // The stored rule's remove form: its name in the path is percent-encoded.
        "/rules/%3Cb%20onmouseover%3Dalert%283%29%3Erule%3C%2Fb%3E/remove",
    ] {
        assert!(agent_page.contains(shown), "agent page shows {shown:?}");
    }
    assert!(
        find("the audit log (").contains("&lt;script&gt;alert(4)&lt;/script&gt;"),
        "the call's argument is in its sentence, escaped"
    );
    assert!(
        find("the dry run's answer").contains("&lt;script&gt;alert(4)&lt;/script&gt;"),
        "the dry run's sentence names the argument, escaped"
    );
    assert!(
        find("the sign-in page")
            .contains("value=\"/&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\""),
        "the sign-in form keeps next, escaped"
    );
    // The live feed carries the same sentences raw, as JSON data: it must never be taken
    // for a page (the script writes them with textContent).
    let feed = c
        .get(admin_url(&t, "/audit/feed"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(feed.headers()["content-type"], "application/json");
    assert_eq!(feed.headers()["x-content-type-options"], "nosniff");
    let calls: serde_json::Value = feed.json().await.unwrap();
    assert!(calls["calls"].to_string().contains(ARGUMENT), "{calls}");
    t.stop().await;
}

/// Found in review: the live audit feed brings the newest 100 calls and keeps those after the
/// page's newest line; with more than 100 since (a laptop asleep, a burst) the rest never
/// appeared and nothing said so. The feed now says when it may have left calls out.
#[tokio::test]
async fn the_live_feed_says_when_more_calls_came_than_it_brings() {
    let t = TestApp::spawn().await;
    let a = super::admin(&t).await;
    let key = t.agent("Sales Agent", &["people=read"]).await;
    let (session, _) = sign_in(&t, &a.key).await;
    let c = no_redirects();
    let feed = |after: i64| {
        let c = c.clone();
        let session = session.clone();
        let url = admin_url(&t, &format!("/audit/feed?after={after}"));
        async move {
            let r = c.get(url).header("cookie", &session).send().await.unwrap();
            r.json::<serde_json::Value>().await.unwrap()
        }
    };
    t.post("/api/v1/mixed_people/api_search", &key, json!({}))
        .await;
    t.flush_audit().await;
    let first = feed(0).await;
    let top = first["calls"][0]["seq"].as_i64().unwrap();
    assert_eq!(first["missed"], false, "{first}");
    for _ in 0..3 {
        t.post("/api/v1/mixed_people/api_search", &key, json!({}))
            .await;
    }
    t.flush_audit().await;
    let few = feed(top).await;
    assert_eq!(few["missed"], false, "{few}");
    assert_eq!(few["calls"].as_array().map(Vec::len), Some(3), "{few}");
    for _ in 0..110 {
        t.post("/api/v1/mixed_people/api_search", &key, json!({}))
            .await;
    }
    t.flush_audit().await;
    let many = feed(top).await;
    assert_eq!(many["missed"], true, "more than one poll brings");
    assert_eq!(many["calls"].as_array().map(Vec::len), Some(100));
}

/// Found in review: the approval routes answered 422 to a body that is not JSON (every other
/// route: 400), a body over the limit was 400 "could not be read" (or axum's plain text), not
/// 413 in the API's shape.
#[tokio::test]
async fn bodies_that_cannot_be_read_are_answered_alike_on_every_route() {
    let t = TestApp::spawn().await;
    let a = super::admin(&t).await;
    t.agent("Sales Agent", &["people=read"]).await;
    let raw = |method: &'static str, path: &'static str, body: Vec<u8>| {
        let url = admin_url(&t, path);
        let key = a.key.clone();
        let client = t.client.clone();
        async move {
            let r = client
                .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url)
                .bearer_auth(key)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            (status, body)
        }
    };
    let big = vec![b' '; 3 * 1024 * 1024];
    for (method, path) in [
        ("PUT", "/admin/api/v1/agents/Sales%20Agent/grants"),
        ("POST", "/admin/api/v1/approvals/apr_nothing/approve"),
        ("POST", "/admin/api/v1/approvals/apr_nothing/deny"),
    ] {
        let (status, body) = raw(method, path, b"{bad".to_vec()).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error_code"], "BOLLARD_BAD_REQUEST", "{path}: {body}");
        let (status, body) = raw(method, path, big.clone()).await;
        assert_eq!(status, 413, "{path}: {body}");
        assert_eq!(body["error_code"], "BOLLARD_TOO_LARGE", "{path}: {body}");
        assert!(
            body["error"].as_str().unwrap_or_default().contains("2 MB"),
            "{path}: {body}"
        );
    }
    let (status, body) = raw(
        "POST",
        "/admin/api/v1/approvals/apr_nothing/approve",
        br#"{"notes": "typo"}"#.to_vec(),
    )
    .await;
    assert_eq!(status, 422, "{body}");
}
