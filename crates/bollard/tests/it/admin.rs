//! The admin API and the console over HTTP, against the real app: every route, its
//! authentication failures and its bad input, and the console's session, CSRF and headers.

use bollard::admin::ROUTES;
use bollard::ops;
use serde_json::{Value, json};

use crate::helpers::TestApp;

mod approvals_console;
mod changes;
mod console;
mod hostile;
mod queries;

/// An admin's view of the app: the admin listener, with or without a key.
struct Admin<'a> {
    t: &'a TestApp,
    key: String,
}

#[derive(Debug)]
struct Res {
    status: u16,
    body: Value,
    text: String,
    headers: reqwest::header::HeaderMap,
}

impl Res {
    fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }
    fn code(&self) -> &str {
        self.body["error_code"].as_str().unwrap_or("")
    }
}

async fn admin(t: &TestApp) -> Admin<'_> {
    let (_, key) = ops::create_admin_key(&*t.store, &crate::helpers::tester(), "tests")
        .await
        .expect("admin key");
    Admin {
        t,
        key: key.expose().to_owned(),
    }
}

fn admin_url(t: &TestApp, path: &str) -> String {
    format!("http://{}{}", t.app.admin_addr, path)
}

async fn send_raw(
    t: &TestApp,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> Res {
    let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = t.client.request(m, admin_url(t, path));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("admin listener answers");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    Res {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
        headers,
    }
}

impl Admin<'_> {
    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> Res {
        send_raw(
            self.t,
            method,
            &format!("/admin/api/v1{path}"),
            Some(&self.key),
            body,
        )
        .await
    }
    async fn get(&self, path: &str) -> Res {
        self.send("GET", path, None).await
    }
    async fn post(&self, path: &str, body: Value) -> Res {
        self.send("POST", path, Some(body)).await
    }
    async fn put(&self, path: &str, body: Value) -> Res {
        self.send("PUT", path, Some(body)).await
    }
    async fn create(&self, name: &str) -> (String, String) {
        let r = self.post("/agents", json!({"name": name})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        (
            r.body["agent"]["id"].as_str().unwrap().to_owned(),
            r.body["key"].as_str().unwrap().to_owned(),
        )
    }
}

fn assert_sentence(r: &Res, status: u16, code: &str) {
    assert_eq!((r.status, r.code()), (status, code), "{}", r.text);
    let e = r.error();
    assert!(
        e.len() > 15 && e.ends_with('.'),
        "errors are sentences: {e}"
    );
}

#[tokio::test]
async fn every_route_refuses_no_key_an_agent_key_and_a_wrong_key() {
    let t = TestApp::spawn().await;
    let agent_key = t.agent("Sales Agent", &["people=read"]).await;
    let _ = admin(&t).await;
    for r in ROUTES {
        let path = r
            .path
            .replace("{agent}", "Sales%20Agent")
            .replace("{name}", "x");
        let m = r.method.to_uppercase();
        let body = (m != "GET" && m != "DELETE").then(|| json!({}));
        let none = send_raw(&t, &m, &path, None, body.clone()).await;
        assert_sentence(&none, 401, "BOLLARD_UNAUTHENTICATED");
        assert!(none.error().contains("admin key"), "{}", none.error());
        assert_eq!(
            none.headers["www-authenticate"],
            "Bearer realm=\"bollard-admin\""
        );
        let agent = send_raw(&t, &m, &path, Some(&agent_key), body.clone()).await;
        assert_sentence(&agent, 401, "BOLLARD_UNAUTHENTICATED");
        assert!(agent.error().contains("agent key"), "{}", agent.error());
        let wrong = send_raw(&t, &m, &path, Some("bol_admin_0000000000"), body).await;
        assert_sentence(&wrong, 401, "BOLLARD_UNAUTHENTICATED");
        assert!(wrong.error().contains("not known"), "{}", wrong.error());
    }
    // A key in another scheme is not a bearer token.
    let r = t
        .client
        .get(admin_url(&t, "/admin/api/v1/agents"))
        .header("authorization", "Basic Ym9sX2FkbWluOg==")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    t.stop().await;
}

#[tokio::test]
async fn the_catalog_has_nine_groups_two_switches_and_every_action() {
    let t = TestApp::spawn().await;
    let a = admin(&t).await;
    let r = a.get("/catalog").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body,
        bollard::governed::document(),
        "the same as bollard catalog --json"
    );
    assert_eq!(r.body["groups"].as_array().unwrap().len(), 9);
    assert_eq!(r.body["actions"].as_array().unwrap().len(), 75);
    assert!(!r.body["outside"].as_array().unwrap().is_empty());
    assert_eq!(r.body["switches"][0]["id"], "reveal");
    let users = r.body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"] == "users")
        .unwrap();
    assert_eq!(
        users["levels"],
        json!(["off", "read", "full"]),
        "no Write for a group without writes"
    );
    assert_eq!(users["title"], "Teammates and usage");
    t.stop().await;
}

#[tokio::test]
async fn agents_are_created_shown_changed_and_revoked() {
    let t = TestApp::spawn().await;
    let a = admin(&t).await;
    let r = a
        .post(
            "/agents",
            json!({"name": "Sales Agent", "description": "Finds prospects", "expires_in": "30d"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let key = r.body["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("bol_agent_"));
    assert_eq!(r.body["agent"]["status"], "active");
    assert!(r.body["agent"]["expires_at"].is_string());
    let id = r.body["agent"]["id"].as_str().unwrap().to_owned();

    // The key is never shown again.
    let list = a.get("/agents").await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["agents"].as_array().unwrap().len(), 1);
    assert!(!list.text.contains(&key));
    let one = a.get("/agents/Sales%20Agent").await;
    assert_eq!(one.status, 200, "{}", one.text);
    assert_eq!(one.body["id"], id.as_str());
    assert!(!one.text.contains(&key));
    assert_eq!(
        one.body["summary"][0],
        "Sales Agent can use 0 of the 75 actions."
    );
    assert_eq!(one.body["rules"], json!([]));

    let r = a
        .send(
            "PATCH",
            &format!("/agents/{id}"),
            Some(json!({"name": "Prospector", "expires_at": null})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["name"], "Prospector");
    assert!(r.body["expires_at"].is_null());
    let r = a
        .send(
            "PATCH",
            "/agents/Prospector",
            Some(json!({"expires_at": "2031-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["expires_at"], "2031-01-01T00:00:00Z");
    // Held to what a duration may be (100 years), and refused before anything is recorded
    // (found in review: 9999-12-31 left a change and its "did not take effect" on the record).
    let before = a.get("/audit?kind=admin").await.body["calls"]
        .as_array()
        .map(Vec::len);
    for far in ["2250-01-01T00:00:00Z", "9999-12-31T23:59:59Z"] {
        let r = a
            .send(
                "PATCH",
                "/agents/Prospector",
                Some(json!({"expires_at": far})),
            )
            .await;
        assert_eq!(r.status, 422, "{far}: {}", r.text);
        assert!(r.text.contains("more than 100 years ahead"), "{}", r.text);
    }
    let after = a.get("/audit?kind=admin").await.body["calls"]
        .as_array()
        .map(Vec::len);
    assert_eq!(before, after, "a refused expiry is not on the record");

    // Bad input, each with a sentence.
    assert_sentence(
        &a.post("/agents", json!({"name": "prospector"})).await,
        409,
        "BOLLARD_CONFLICT",
    );
    assert_sentence(
        &a.post("/agents", json!({"name": ""})).await,
        422,
        "BOLLARD_INVALID",
    );
    assert_sentence(
        &a.post("/agents", json!({"name": "agt_x"})).await,
        422,
        "BOLLARD_INVALID",
    );
    assert_sentence(
        &a.post("/agents", json!({"name": "X", "expires_in": "soon"}))
            .await,
        422,
        "BOLLARD_INVALID",
    );
    let r = a.post("/agents", json!({"nmae": "X"})).await;
    assert_sentence(&r, 422, "BOLLARD_INVALID");
    assert!(
        r.error().contains("nmae"),
        "names the unknown field: {}",
        r.error()
    );
    assert_sentence(
        &a.post("/agents", json!({"name": 7})).await,
        422,
        "BOLLARD_INVALID",
    );
    let r = t
        .client
        .post(admin_url(&t, "/admin/api/v1/agents"))
        .bearer_auth(&a.key)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = t
        .client
        .post(admin_url(&t, "/admin/api/v1/agents"))
        .bearer_auth(&a.key)
        .body("name=X")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_sentence(
        &a.send("PATCH", "/agents/Prospector", Some(json!({}))).await,
        422,
        "BOLLARD_INVALID",
    );
    assert_sentence(
        &a.send(
            "PATCH",
            "/agents/Prospector",
            Some(json!({"expires_at": "tomorrow"})),
        )
        .await,
        422,
        "BOLLARD_INVALID",
    );
    assert_sentence(&a.get("/agents/Nobody").await, 404, "BOLLARD_NOT_FOUND");
    assert_sentence(
        &a.send("PATCH", "/agents/Nobody", Some(json!({"name": "Y"})))
            .await,
        404,
        "BOLLARD_NOT_FOUND",
    );
    assert_sentence(
        &a.send("DELETE", "/agents/Nobody", None).await,
        404,
        "BOLLARD_NOT_FOUND",
    );

    // Revoking stops the key at once.
    a.put(
        &format!("/agents/{id}/grants"),
        json!({"set": ["people=read"]}),
    )
    .await;
    let ok = t
        .post(
            "/api/v1/mixed_people/api_search",
            &key,
            json!({"per_page": 1}),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let r = a.send("DELETE", &format!("/agents/{id}"), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "revoked");
    let refused = t
        .post(
            "/api/v1/mixed_people/api_search",
            &key,
            json!({"per_page": 1}),
        )
        .await;
    assert_eq!(
        refused.status, 401,
        "revoked at once, without waiting for the poller"
    );
    t.stop().await;
}

#[tokio::test]
async fn grants_are_replaced_or_changed_by_words_and_apply_at_once() {
    let t = TestApp::spawn().await;
    let a = admin(&t).await;
    let (id, key) = a.create("Sales Agent").await;
    let path = format!("/agents/{id}/grants");
    let g = a.get(&path).await;
    assert_eq!(
        g.body,
        json!({"levels": {}, "reveal": false, "waterfall": false, "overrides": {}})
    );

    let search = || {
        t.post(
            "/api/v1/mixed_people/api_search",
            &key,
            json!({"per_page": 1}),
        )
    };
    assert_eq!(search().await.status, 403);
    let r = a
        .put(&path, json!({"levels": {"people": "read", "contacts": "full"}, "reveal": false, "overrides": {"people.bulk_enrich": false}}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["levels"]["people"], "read");
    assert_eq!(
        search().await.status,
        200,
        "the grant applies to the next call"
    );

    let r = a
        .put(&path, json!({"set": ["people=off", "sequences=write"]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["levels"],
        json!({"contacts": "full", "sequences": "write"})
    );
    assert_eq!(a.get(&path).await.body, r.body);
    assert_eq!(search().await.status, 403);

    for bad in [
        json!({"levels": {"people": "everything"}}),
        json!({"levels": {"peoples": "read"}}),
        json!({"levels": {"users": "write"}}),
        json!({"overrides": {"people.nothing": true}}),
        json!({"reveals": true}),
        json!({"set": ["people=all"]}),
        json!({"set": "people=read"}),
        json!({"set": []}),
        json!({"set": ["people=read"], "reveal": true}),
        json!(["people=read"]),
    ] {
        let r = a.put(&path, bad.clone()).await;
        assert_sentence(&r, 422, "BOLLARD_INVALID");
    }
    assert_sentence(
        &a.put("/agents/Nobody/grants", json!({"set": ["people=read"]}))
            .await,
        404,
        "BOLLARD_NOT_FOUND",
    );
    assert_sentence(
        &a.get("/agents/Nobody/grants").await,
        404,
        "BOLLARD_NOT_FOUND",
    );
    t.stop().await;
}

#[tokio::test]
async fn rotating_a_key_returns_it_once_and_stops_the_old_one() {
    let t = TestApp::spawn().await;
    let a = admin(&t).await;
    let (id, old) = a.create("Sales Agent").await;
    a.put(
        &format!("/agents/{id}/grants"),
        json!({"set": ["people=read"]}),
    )
    .await;
    let r = a.post(&format!("/agents/{id}/keys"), json!({})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let new = r.body["key"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(
        t.post("/api/v1/mixed_people/api_search", &old, json!({}))
            .await
            .status,
        401
    );
    assert_eq!(
        t.post("/api/v1/mixed_people/api_search", &new, json!({}))
            .await
            .status,
        200
    );
    a.send("DELETE", &format!("/agents/{id}"), None).await;
    assert_sentence(
        &a.post(&format!("/agents/{id}/keys"), json!({})).await,
        422,
        "BOLLARD_INVALID",
    );
    assert_sentence(
        &a.post("/agents/Nobody/keys", json!({})).await,
        404,
        "BOLLARD_NOT_FOUND",
    );
    t.stop().await;
}

#[tokio::test]
async fn rules_are_added_listed_enforced_and_removed() {
    let t = TestApp::spawn().await;
    let a = admin(&t).await;
    let (id, key) = a.create("Sales Agent").await;
    a.put(
        &format!("/agents/{id}/grants"),
        json!({"set": ["people=read"]}),
    )
    .await;
    let rules = format!("/agents/{id}/rules");
    let cedar = "forbid(principal, action, resource) when { context.per_page > 25 };";
    let r = a
        .post(&rules, json!({"name": "at-most-25", "cedar": cedar}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["name"], "at-most-25");
    let list = a.get(&rules).await;
    assert_eq!(list.body["rules"][0]["cedar"], cedar);
    let big = t
        .post(
            "/api/v1/mixed_people/api_search",
            &key,
            json!({"per_page": 50}),
        )
        .await;
    assert_eq!(big.status, 403, "the rule applies at once: {}", big.text);

    // A second rule of the same name is a conflict.
    let dup = a
        .post(&rules, json!({"name": "at-most-25", "cedar": cedar}))
        .await;
    assert_sentence(&dup, 409, "BOLLARD_CONFLICT");
    assert!(dup.error().contains("at-most-25"), "{}", dup.error());
    assert_sentence(
        &a.post(&rules, json!({"name": "bad name!", "cedar": cedar}))
            .await,
        422,
        "BOLLARD_INVALID",
    );
    assert_sentence(
        &a.post(
            &rules,
            json!({"name": "broken", "cedar": "forbid(principal"}),
        )
        .await,
        422,
        "BOLLARD_INVALID",
    );
    assert_sentence(
        &a.post(&rules, json!({"name": "x"})).await,
        422,
        "BOLLARD_INVALID",
    );
    assert_sentence(
        &a.post("/agents/Nobody/rules", json!({"name": "x", "cedar": cedar}))
            .await,
        404,
        "BOLLARD_NOT_FOUND",
    );

    let r = a.send("DELETE", &format!("{rules}/at-most-25"), None).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(a.get(&rules).await.body["rules"], json!([]));
    assert_eq!(
        t.post(
            "/api/v1/mixed_people/api_search",
            &key,
            json!({"per_page": 50})
        )
        .await
        .status,
        200
    );
    assert_sentence(
        &a.send("DELETE", &format!("{rules}/at-most-25"), None).await,
        404,
        "BOLLARD_NOT_FOUND",
    );
    t.stop().await;
}

#[tokio::test]
async fn limits_are_read_and_replaced() {
    let t = TestApp::spawn().await;
    let a = admin(&t).await;
    let (id, _) = a.create("Sales Agent").await;
    let path = format!("/agents/{id}/limits");
    assert_eq!(a.get(&path).await.body, json!({}));
    let r = a
        .put(&path, json!({"per_minute": 60, "credits_per_day": 50}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({"per_minute": 60, "credits_per_day": 50}));
    assert_eq!(a.get(&path).await.body, r.body);
    let r = a
        .put(
            &path,
            json!({"per_minute": 10, "actions": {"people.search": {"per_minute": 2}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["credits_per_day"], Value::Null, "PUT replaces");

    assert_sentence(
        &a.put(&path, json!({"per_minit": 10})).await,
        422,
        "BOLLARD_INVALID",
    );
    assert_sentence(
        &a.put(&path, json!({"per_minute": -1})).await,
        422,
        "BOLLARD_INVALID",
    );
    assert_sentence(
        &a.put(&path, json!({"team_share_percent": 0})).await,
        422,
        "BOLLARD_INVALID",
    );
    assert_sentence(
        &a.put(&path, json!({"actions": {"people.nothing": {}}}))
            .await,
        422,
        "BOLLARD_INVALID",
    );
    assert_sentence(
        &a.get("/agents/Nobody/limits").await,
        404,
        "BOLLARD_NOT_FOUND",
    );
    t.stop().await;
}

#[tokio::test]
async fn usage_shows_each_limit_and_budget_in_use() {
    let t = TestApp::spawn().await;
    let a = admin(&t).await;
    let key = t.agent("Researcher", &["people=read"]).await;
    let path = "/agents/Researcher/limits";
    let r = a
        .put(path, json!({"per_minute": 60, "credits_per_day": 50}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    t.sync().await;
    for _ in 0..3 {
        let s = t
            .post("/api/v1/mixed_people/api_search", &key, json!({}))
            .await;
        assert_eq!(s.status, 200, "{}", s.text);
    }
    let u = a.get("/agents/Researcher/usage").await;
    assert_eq!(u.status, 200, "{}", u.text);
    assert_eq!(u.body["requests"][0]["used"], 3);
    assert_eq!(u.body["requests"][0]["limit"], 60);
    assert_eq!(u.body["credits"][0]["limit"], 50.0);
    let lines = u.body["lines"].to_string();
    assert!(lines.contains("3 of 60 requests this minute"), "{lines}");
    assert!(lines.contains("0 of 50 credits today"), "{lines}");
    assert_sentence(
        &a.get("/agents/Nobody/usage").await,
        404,
        "BOLLARD_NOT_FOUND",
    );
    t.stop().await;
}

#[tokio::test]
async fn a_revoked_admin_key_stops_working_at_once() {
    let t = TestApp::spawn().await;
    let a = admin(&t).await;
    assert_eq!(a.get("/agents").await.status, 200);
    let keys = ops::list_admin_keys(&*t.store).await.unwrap();
    assert_eq!(keys.len(), 1);
    let revoked =
        ops::revoke_admin_key(&*t.store, &crate::helpers::tester(), "tests", t.clock.now())
            .await
            .unwrap();
    assert!(revoked.revoked_at.is_some());
    let r = a.get("/agents").await;
    assert_sentence(&r, 401, "BOLLARD_UNAUTHENTICATED");
    assert!(!r.text.contains(&a.key));
    // By name, a revoked key is no longer found.
    assert!(
        ops::revoke_admin_key(&*t.store, &crate::helpers::tester(), "tests", t.clock.now())
            .await
            .is_err()
    );
    t.stop().await;
}

#[tokio::test]
async fn a_rule_that_cannot_be_evaluated_without_arguments_is_pointed_out() {
    let t = TestApp::spawn().await;
    t.agent("Sales Agent", &["people=read"]).await;
    let unguarded = "forbid (principal, action, resource) when { context.args.per_page > 25 };";
    ops::add_rule(
        &*t.store,
        &crate::helpers::tester(),
        "Sales Agent",
        "unguarded",
        unguarded,
    )
    .await
    .unwrap();
    let w = ops::rule_warnings(&*t.store, "Sales Agent", "unguarded")
        .await
        .unwrap();
    assert_eq!(w.len(), 1);
    assert!(w[0].contains("Search the people database"), "{}", w[0]);
    assert!(w[0].contains("context.args has per_page"), "{}", w[0]);
    ops::remove_rule(
        &*t.store,
        &crate::helpers::tester(),
        "Sales Agent",
        "unguarded",
    )
    .await
    .unwrap();
    let guarded = "forbid (principal, action, resource) when { context.args has per_page && context.args.per_page > 25 };";
    ops::add_rule(
        &*t.store,
        &crate::helpers::tester(),
        "Sales Agent",
        "guarded",
        guarded,
    )
    .await
    .unwrap();
    assert!(
        ops::rule_warnings(&*t.store, "Sales Agent", "guarded")
            .await
            .unwrap()
            .is_empty()
    );
    t.stop().await;
}
