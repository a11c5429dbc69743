//! The 2026-07-28 revision at `/mcp`, over raw HTTP: discovery, per-request `_meta`, the
//! headers that mirror the body, the tool list's cache hints, "Unknown tool", every refusal on
//! record, and two replicas answering one client in turn.

use std::net::SocketAddr;

use bollard::app::{self, App};
use bollard::clock::Clock;
use bollard::config::Config;
use bollard::keys::Secret;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::helpers::{TestApp, WEBHOOK_PREFIX};

const VERSION: &str = "2026-07-28";

/// A request of the revision, with the `_meta` it requires.
fn rpc(id: u64, method: &str, params: Value) -> Value {
    let mut params = match params {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    params.insert(
        "_meta".into(),
        json!({
            "io.modelcontextprotocol/protocolVersion": VERSION,
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "raw-test", "version": "0"},
        }),
    );
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

#[derive(Debug)]
struct Answer {
    status: u16,
    request_id: String,
    body: Value,
}

impl Answer {
    fn code(&self) -> i64 {
        self.body["error"]["code"].as_i64().unwrap_or(0)
    }
    fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }
}

/// Posts `body` to `addr`'s `/mcp` with the headers the revision mirrors from it; `tweak`
/// changes them before sending.
async fn post(
    addr: SocketAddr,
    key: &str,
    body: &Value,
    tweak: impl FnOnce(&mut HeaderMap),
) -> Answer {
    let mut h = HeaderMap::new();
    let mut set = |name: &'static str, value: &str| {
        h.insert(name, HeaderValue::from_str(value).expect("header value"));
    };
    set("authorization", &format!("Bearer {key}"));
    set("accept", "application/json, text/event-stream");
    set("mcp-protocol-version", VERSION);
    if let Some(m) = body["method"].as_str() {
        set("mcp-method", m);
    }
    if let Some(n) = body.pointer("/params/name").and_then(Value::as_str) {
        set("mcp-name", n);
    }
    tweak(&mut h);
    let resp = reqwest::Client::new()
        .post(format!("http://{addr}/mcp"))
        .headers(h)
        .json(body)
        .send()
        .await
        .expect("the gateway answers");
    let status = resp.status().as_u16();
    let request_id = resp
        .headers()
        .get("x-bollard-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = resp.text().await.expect("body");
    Answer {
        status,
        request_id,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

fn set(h: &mut HeaderMap, name: &'static str, value: &'static str) {
    h.insert(name, HeaderValue::from_static(value));
}

async fn send(t: &TestApp, key: &str, body: &Value) -> Answer {
    post(t.app.agent_addr, key, body, |_| {}).await
}

/// The audit record with this request id.
async fn record(t: &TestApp, request_id: &str) -> bollard::audit::Record {
    t.audit_lines()
        .await
        .into_iter()
        .map(|l| l.record)
        .find(|r| r.request_id == request_id)
        .unwrap_or_else(|| panic!("no audit record for {request_id}"))
}

#[tokio::test]
async fn discovery_names_both_eras_and_is_cacheable() {
    let t = TestApp::spawn().await;
    let key = t.agent("Sales Bot", &["people=read"]).await;
    let a = send(&t, &key, &rpc(1, "server/discover", json!({}))).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let r = &a.body["result"];
    assert_eq!(r["resultType"], "complete");
    assert_eq!(r["supportedVersions"][0], VERSION);
    assert!(
        r["supportedVersions"]
            .as_array()
            .is_some_and(|v| v.contains(&json!("2025-11-25"))),
        "{r}"
    );
    assert!(r["capabilities"]["tools"].is_object());
    assert_eq!(r["cacheScope"], "public");
    assert!(r["ttlMs"].as_u64().is_some());
    assert_eq!(
        r["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "bollard"
    );
    // No session is minted.
    let raw = reqwest::Client::new()
        .post(t.agent_url("/mcp"))
        .header("authorization", format!("Bearer {key}"))
        .header("mcp-protocol-version", VERSION)
        .header("mcp-method", "server/discover")
        .json(&rpc(2, "server/discover", json!({})))
        .send()
        .await
        .expect("answer");
    assert!(raw.headers().get("mcp-session-id").is_none());

    // Every request authenticates.
    let a = send(&t, "bol_agent_wrong", &rpc(3, "server/discover", json!({}))).await;
    assert_eq!(a.status, 401);
    t.stop().await;
}

#[tokio::test]
async fn requests_without_their_meta_or_with_mismatched_headers_are_refused_and_recorded() {
    let t = TestApp::spawn().await;
    let key = t.agent("Sales Bot", &["people=read"]).await;
    let addr = t.app.agent_addr;

    // No _meta: -32602, 400.
    let bare = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}});
    let a = send(&t, &key, &bare).await;
    assert_eq!((a.status, a.code()), (400, -32602), "{:?}", a.body);
    assert!(a.message().contains("_meta"), "{}", a.message());
    let rec = record(&t, &a.request_id).await;
    assert_eq!(
        (rec.decision.as_str(), rec.channel.as_str(), rec.status),
        ("denied", "mcp", Some(400))
    );
    assert_eq!(rec.agent_name.as_deref(), Some("Sales Bot"));
    assert_eq!(
        a.body["error"]["data"]["bollard"]["request_id"],
        json!(a.request_id)
    );

    // Mcp-Method says one thing, the body another: -32020.
    let list = rpc(2, "tools/list", json!({}));
    let a = post(addr, &key, &list, |h| {
        set(h, "mcp-method", "server/discover")
    })
    .await;
    assert_eq!((a.status, a.code()), (400, -32020), "{:?}", a.body);
    record(&t, &a.request_id).await;

    // Mcp-Name says one tool, the body calls another: -32020, and nothing is called.
    let before = t.journal().len();
    let call = rpc(
        3,
        "tools/call",
        json!({"name": "apollo_mixed_people_api_search", "arguments": {"person_titles": ["cto"]}}),
    );
    let a = post(addr, &key, &call, |h| {
        set(h, "mcp-name", "apollo_users_search")
    })
    .await;
    assert_eq!((a.status, a.code()), (400, -32020), "{:?}", a.body);
    assert!(a.message().contains("Mcp-Name"), "{}", a.message());
    record(&t, &a.request_id).await;
    assert_eq!(t.journal().len(), before);

    // The same name, base64-encoded as the transport allows: accepted.
    let a = post(addr, &key, &call, |h| {
        set(
            h,
            "mcp-name",
            "=?base64?YXBvbGxvX21peGVkX3Blb3BsZV9hcGlfc2VhcmNo?=",
        )
    })
    .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["result"]["isError"], json!(false), "{:?}", a.body);

    // A version the body and header agree on but Bollard does not speak: -32022 with the list.
    let mut old = rpc(4, "tools/list", json!({}));
    old["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("2099-01-01");
    let a = post(addr, &key, &old, |h| {
        set(h, "mcp-protocol-version", "2099-01-01")
    })
    .await;
    assert_eq!((a.status, a.code()), (400, -32022), "{:?}", a.body);
    assert_eq!(a.body["error"]["data"]["supported"][0], VERSION);
    assert_eq!(a.body["error"]["data"]["requested"], "2099-01-01");

    // Header and _meta versions differ: -32020.
    let a = post(addr, &key, &list, |h| {
        set(h, "mcp-protocol-version", "2099-01-01")
    })
    .await;
    assert_eq!((a.status, a.code()), (400, -32020), "{:?}", a.body);

    // A mirrored header sent twice (one for a router, one for the server): -32020.
    let a = post(addr, &key, &list, |h| {
        h.append("mcp-method", HeaderValue::from_static("server/discover"));
    })
    .await;
    assert_eq!((a.status, a.code()), (400, -32020), "{:?}", a.body);

    // A required header missing: -32020.
    let a = post(addr, &key, &list, |h| {
        h.remove("mcp-method");
    })
    .await;
    assert_eq!((a.status, a.code()), (400, -32020), "{:?}", a.body);

    // A method the gateway does not serve: 404 with -32601 (not a bare 404).
    let a = send(&t, &key, &rpc(5, "resources/list", json!({}))).await;
    assert_eq!((a.status, a.code()), (404, -32601), "{:?}", a.body);

    // A batch: -32600, recorded.
    let batch = json!([list]);
    let a = post(addr, &key, &batch, |h| set(h, "mcp-method", "tools/list")).await;
    assert_eq!((a.status, a.code()), (400, -32600), "{:?}", a.body);
    record(&t, &a.request_id).await;
    t.stop().await;
}

#[tokio::test]
async fn tools_list_is_the_agents_own_with_a_private_short_lived_cache_hint() {
    let t = TestApp::spawn().await;
    let key = t.agent("Sales Bot", &["people=read"]).await;
    let a = send(&t, &key, &rpc(1, "tools/list", json!({}))).await;
    let r = &a.body["result"];
    assert_eq!(r["resultType"], "complete");
    assert_eq!(r["cacheScope"], "private");
    let ttl = r["ttlMs"].as_u64().expect("ttlMs");
    assert!(ttl > 0 && ttl <= 60_000, "{ttl}");
    let names: Vec<&str> = r["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(names.contains(&"apollo_people_match"), "{names:?}");
    assert!(!names.contains(&"apollo_contacts_create"), "{names:?}");
    let v1 = r["_meta"]["dev.bollard/toolsVersion"].clone();
    assert!(v1.is_string());

    // A grant change shows at once, under a new version.
    bollard::ops::grant(
        &*t.store,
        &crate::helpers::tester(),
        "Sales Bot",
        &["contacts=full".into()],
    )
    .await
    .expect("grant");
    t.sync().await;
    let a = send(&t, &key, &rpc(2, "tools/list", json!({}))).await;
    let r = &a.body["result"];
    assert_ne!(r["_meta"]["dev.bollard/toolsVersion"], v1);
    assert!(
        r["tools"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["name"] == "apollo_contacts_create"))
    );
    t.stop().await;
}

#[tokio::test]
async fn calls_go_through_the_gate_and_unlisted_tools_are_unknown() {
    let t = TestApp::spawn().await;
    let key = t.agent("Sales Bot", &["people=read"]).await;
    let before = t.journal().len();
    let traceparent = "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01";
    let mut call = rpc(
        1,
        "tools/call",
        json!({"name": "apollo_mixed_people_api_search", "arguments": {"person_titles": ["cto"]}}),
    );
    call["params"]["_meta"]["traceparent"] = json!(traceparent);
    let a = send(&t, &key, &call).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let r = &a.body["result"];
    assert_eq!(r["resultType"], "complete");
    assert_eq!(r["isError"], json!(false));
    assert!(r["structuredContent"]["people"].is_array(), "{r}");
    assert_eq!(r["_meta"]["x-bollard-request-id"], json!(a.request_id));
    assert!(r["_meta"]["dev.bollard/toolsVersion"].is_string());
    assert_eq!(t.journal().len() - before, 1);
    let rec = record(&t, &a.request_id).await;
    assert_eq!(
        (rec.channel.as_str(), rec.decision.as_str()),
        ("mcp", "allowed")
    );

    // A catalog tool this agent's grants do not list: "Unknown tool", with the gate's reason,
    // and the attempt on record.
    let denied = rpc(
        2,
        "tools/call",
        json!({"name": "apollo_contacts_create", "arguments": {"first_name": "Ada"}}),
    );
    let a = send(&t, &key, &denied).await;
    assert_eq!(a.code(), -32602, "{:?}", a.body);
    assert!(a.message().starts_with("Unknown tool"), "{}", a.message());
    assert!(a.message().contains("Sales Bot"), "{}", a.message());
    let rec = record(&t, &a.request_id).await;
    assert_eq!(rec.decision, "denied");
    assert_eq!(rec.action.as_deref(), Some("contacts.create"));

    let unknown = rpc(3, "tools/call", json!({"name": "apollo_launch_rockets"}));
    let a = send(&t, &key, &unknown).await;
    assert_eq!(a.code(), -32602, "{:?}", a.body);
    record(&t, &a.request_id).await;

    // A listed tool the policy refuses for its arguments: a tool error, as in the sessions era.
    let bad = rpc(
        4,
        "tools/call",
        json!({"name": "apollo_mixed_people_api_search", "arguments": {"per_page": 1000}}),
    );
    let a = send(&t, &key, &bad).await;
    assert_eq!(a.body["result"]["isError"], json!(true), "{:?}", a.body);
    assert_eq!(
        a.body["result"]["structuredContent"]["error_code"],
        "BOLLARD_INVALID"
    );
    assert_eq!(
        t.journal().len() - before,
        1,
        "only the allowed call reached Apollo"
    );
    t.stop().await;
}

/// A second gateway on the first one's database and sandbox, as a second replica.
pub(crate) async fn replica(t: &TestApp, token: &CancellationToken) -> App {
    let mut config = Config {
        database_url: format!("sqlite://{}", t.db_path.display()),
        ..Config::default()
    };
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.admin_listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.apollo.base_url = t.sandbox.base_url();
    config.apollo.api_key = Some(Secret::new(t.sandbox.master_key()));
    config.webhook_prefixes = vec![WEBHOOK_PREFIX.into()];
    app::start(config, None, Clock::system(), token.clone())
        .await
        .expect("the second replica starts")
}

#[tokio::test]
async fn two_replicas_answer_one_client_in_turn_without_sticky_sessions() {
    let t = TestApp::spawn().await;
    let key = t.agent("Sales Bot", &["people=read"]).await;
    let token = CancellationToken::new();
    let b = replica(&t, &token).await;
    let replicas = [t.app.agent_addr, b.agent_addr];

    // Round robin: discovery on A, the list on B, a call on A, a call on B.
    let a = post(
        replicas[0],
        &key,
        &rpc(1, "server/discover", json!({})),
        |_| {},
    )
    .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let a = post(replicas[1], &key, &rpc(2, "tools/list", json!({})), |_| {}).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let version = a.body["result"]["_meta"]["dev.bollard/toolsVersion"].clone();
    let before = t.journal().len();
    for (i, addr) in replicas.iter().enumerate() {
        let call = rpc(
            3 + i as u64,
            "tools/call",
            json!({"name": "apollo_mixed_people_api_search", "arguments": {"person_titles": ["cto"]}}),
        );
        let a = post(*addr, &key, &call, |_| {}).await;
        assert_eq!(a.body["result"]["isError"], json!(false), "{:?}", a.body);
        // Both replicas agree on the list's version.
        assert_eq!(
            a.body["result"]["_meta"]["dev.bollard/toolsVersion"],
            version
        );
    }
    assert_eq!(t.journal().len() - before, 2);
    token.cancel();
    let _ = b.done.await;
    t.stop().await;
}

/// A request of the revision whose client declares `capabilities`.
fn rpc_declaring(id: u64, params: Value, capabilities: Value) -> Value {
    let mut r = rpc(id, "tools/call", params);
    r["params"]["_meta"]["io.modelcontextprotocol/clientCapabilities"] = capabilities;
    r
}

#[tokio::test]
async fn an_ask_first_call_offers_a_client_with_url_elicitation_the_approval_page_and_a_waiting_retry()
 {
    use crate::helpers::Options;
    let t = TestApp::spawn_with(Options {
        approvals: Some(bollard::approval::ApprovalsConfig {
            console_url: Some("https://bollard.example.com".into()),
            ..bollard::approval::ApprovalsConfig::default()
        }),
        ..Options::default()
    })
    .await;
    let key = t.agent("Sales Agent", &["sequences=full:ask"]).await;
    let other_key = t.agent("Other Agent", &["sequences=full:ask"]).await;
    let sent = |t: &TestApp| {
        t.journal()
            .iter()
            .filter(|e| e.path.ends_with("/add_contact_ids"))
            .count()
    };
    let call = |ids: &[&str]| {
        json!({"name": "apollo_emailer_campaigns_add_contact_ids", "arguments": {
            "sequence_id": "seq_1", "contact_ids": ids, "send_email_from_email_account_id": "ea_1"}})
    };
    let url_mode = json!({"elicitation": {"url": {}}});

    // A client without URL-mode elicitation gets the tool error every client gets.
    let plain = send(
        &t,
        &key,
        &rpc_declaring(1, call(&["c_1"]), json!({"elicitation": {"form": {}}})),
    )
    .await;
    assert_eq!(
        plain.body["result"]["resultType"], "complete",
        "{:?}",
        plain.body
    );
    assert_eq!(plain.body["result"]["isError"], true);
    let id = plain.body["result"]["structuredContent"]["bollard"]["approval_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // One that declares it is offered the request's page and a state to echo.
    let asked = send(
        &t,
        &key,
        &rpc_declaring(2, call(&["c_1"]), url_mode.clone()),
    )
    .await;
    let r = &asked.body["result"];
    assert_eq!(r["resultType"], "input_required", "{:?}", asked.body);
    let input = &r["inputRequests"]["bollard_approval"];
    assert_eq!(input["method"], "elicitation/create");
    assert_eq!(input["params"]["mode"], "url");
    assert_eq!(
        input["params"]["url"],
        format!("https://bollard.example.com/approvals#{id}"),
        "the same request, reused"
    );
    assert!(
        input["params"]["message"]
            .as_str()
            .unwrap()
            .contains("A person must approve this call before it runs"),
        "{input}"
    );
    let state = r["requestState"].as_str().unwrap().to_owned();
    assert!(!state.contains(&id), "the state is sealed");
    assert_eq!(sent(&t), 0);

    let retry = |rpc_id: u64, state: &str, action: &str| {
        let mut p = call(&["c_1"]);
        p["requestState"] = json!(state);
        p["inputResponses"] = json!({"bollard_approval": {"action": action}});
        rpc_declaring(rpc_id, p, json!({"elicitation": {"url": {}}}))
    };
    // State that Bollard did not seal for this agent is refused before anything runs.
    let forged = send(&t, &key, &retry(3, "v1.AAAA", "accept")).await;
    assert_eq!(forged.code(), -32602, "{:?}", forged.body);
    let stolen = send(&t, &other_key, &retry(4, &state, "accept")).await;
    assert_eq!(stolen.code(), -32602, "{:?}", stolen.body);

    // The retry waits for the person's decision, then runs the call once.
    let approver = {
        let store = t.store.clone();
        let id = id.clone();
        let now = t.clock.now();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(800)).await;
            bollard::ops::approvals::decide(
                &*store,
                &crate::helpers::tester(),
                &id,
                true,
                None,
                now,
            )
            .await
            .unwrap();
        })
    };
    let started = std::time::Instant::now();
    let ran = send(&t, &key, &retry(5, &state, "accept")).await;
    approver.await.unwrap();
    assert!(started.elapsed() >= std::time::Duration::from_millis(700));
    assert_eq!(
        ran.body["result"]["resultType"], "complete",
        "{:?}",
        ran.body
    );
    // Forwarded (the sandbox has no sequence seq_1, so Apollo's own answer is an error).
    assert_eq!(
        ran.body["result"]["structuredContent"]["bollard"]["decision"], "allowed",
        "{:?}",
        ran.body
    );
    assert_eq!(sent(&t), 1);

    // A user who declines to open the page gets the tool error, not another offer.
    let asked = send(&t, &key, &rpc_declaring(6, call(&["c_2"]), url_mode)).await;
    let state = asked.body["result"]["requestState"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut p = call(&["c_2"]);
    p["requestState"] = json!(state);
    p["inputResponses"] = json!({"bollard_approval": {"action": "decline"}});
    let declined = send(
        &t,
        &key,
        &rpc_declaring(7, p, json!({"elicitation": {"url": {}}})),
    )
    .await;
    assert_eq!(declined.body["result"]["resultType"], "complete");
    assert_eq!(declined.body["result"]["isError"], true);
    assert_eq!(
        declined.body["result"]["structuredContent"]["error_code"],
        "BOLLARD_APPROVAL_PENDING"
    );
    assert_eq!(sent(&t), 1);
}
