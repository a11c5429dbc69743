//! The sessions era's security rules over raw HTTP: a session id is usable only with the key of
//! the agent that opened it, for every verb; every refusal the MCP layer makes is on record with
//! the request id the caller got; tool arguments meet REST's limits; session ids stay out of the
//! log; DELETE answers 204.

use std::net::SocketAddr;

use apollo_sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};

use crate::helpers::{Served, TestApp};

#[derive(Debug)]
struct Answer {
    status: u16,
    request_id: String,
    session: Option<String>,
    body: String,
}

impl Answer {
    /// The JSON-RPC message, whether sent as JSON or as an SSE event.
    fn message(&self) -> Value {
        if let Ok(v) = serde_json::from_str(&self.body) {
            return v;
        }
        self.body
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str(d.trim()).ok())
            .next()
            .unwrap_or(Value::Null)
    }
}

async fn send(
    base: &str,
    verb: &str,
    key: &str,
    session: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let m = reqwest::Method::from_bytes(verb.as_bytes()).expect("verb");
    let mut req = reqwest::Client::new()
        .request(m, format!("{base}/mcp"))
        .header("authorization", format!("Bearer {key}"))
        .header("accept", "application/json, text/event-stream");
    if let Some(s) = session {
        req = req
            .header("mcp-session-id", s)
            .header("mcp-protocol-version", "2025-11-25");
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("the gateway answers");
    let status = resp.status().as_u16();
    let header = |n: &str| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let request_id = header("x-bollard-request-id").unwrap_or_default();
    let session = header("mcp-session-id");
    // The GET stream never ends on its own: only its head matters here.
    let body = if verb == "GET" && status == 200 {
        String::new()
    } else {
        resp.text().await.expect("body")
    };
    Answer {
        status,
        request_id,
        session,
        body,
    }
}

/// Opens a session by hand and returns its id.
async fn open(base: &str, key: &str) -> String {
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}});
    let a = send(base, "POST", key, None, Some(init)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let session = a.session.expect("a session id");
    let done = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let a = send(base, "POST", key, Some(&session), Some(done)).await;
    assert_eq!(a.status, 202);
    session
}

fn list(id: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/list"})
}

/// The audit record with this request id, which must exist and be a denial.
async fn denial(t: &TestApp, request_id: &str) -> bollard::audit::Record {
    assert!(!request_id.is_empty(), "the answer carries a request id");
    let rec = t
        .audit_lines()
        .await
        .into_iter()
        .map(|l| l.record)
        .find(|r| r.request_id == request_id)
        .unwrap_or_else(|| panic!("no audit record for {request_id}"));
    assert_eq!(
        (rec.decision.as_str(), rec.channel.as_str()),
        ("denied", "mcp")
    );
    rec
}

#[tokio::test]
async fn another_agents_session_id_is_not_found_for_every_verb_and_on_record() {
    let t = TestApp::spawn().await;
    let owner = t.agent("Sales Bot", &["people=read"]).await;
    let thief = t.agent("Other Bot", &["people=read"]).await;
    let base = format!("http://{}", t.app.agent_addr);
    let session = open(&base, &owner).await;

    let call = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": "apollo_mixed_people_api_search", "arguments": {}}});
    for (verb, body) in [
        ("POST", Some(list(2))),
        ("POST", Some(call)),
        ("GET", None),
        ("DELETE", None),
    ] {
        let a = send(&base, verb, &thief, Some(&session), body).await;
        assert_eq!(a.status, 404, "{verb}: {}", a.body);
        let rec = denial(&t, &a.request_id).await;
        assert_eq!(rec.agent_name.as_deref(), Some("Other Bot"), "{verb}");
        assert_eq!(rec.status, Some(404));
    }
    // An unknown session reads exactly the same, so ids cannot be probed.
    let a = send(
        &base,
        "POST",
        &thief,
        Some("no-such-session"),
        Some(list(3)),
    )
    .await;
    assert_eq!(a.status, 404);
    denial(&t, &a.request_id).await;

    // The owner's session is untouched: its stream opens and its calls work.
    let a = send(&base, "GET", &owner, Some(&session), None).await;
    assert_eq!(a.status, 200);
    let a = send(&base, "POST", &owner, Some(&session), Some(list(4))).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.message()["result"]["tools"].is_array(), "{}", a.body);

    // DELETE by the owner ends it with 204 (not 202, which clients report as a failure).
    let a = send(&base, "DELETE", &owner, Some(&session), None).await;
    assert_eq!(a.status, 204, "{}", a.body);
    let a = send(&base, "POST", &owner, Some(&session), Some(list(5))).await;
    assert_eq!(a.status, 404);
    denial(&t, &a.request_id).await;
    t.stop().await;
}

#[tokio::test]
async fn mcp_layer_refusals_are_on_record_with_the_request_id_the_caller_got() {
    let t = TestApp::spawn().await;
    let key = t.agent("Sales Bot", &["people=read"]).await;
    let base = format!("http://{}", t.app.agent_addr);

    // Before initialize.
    let a = send(&base, "POST", &key, None, Some(list(1))).await;
    assert_eq!(a.status, 400, "{}", a.body);
    let m = a.message();
    assert!(
        m["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("initialize")
    );
    assert_eq!(
        m["error"]["data"]["bollard"]["request_id"],
        json!(a.request_id)
    );
    let rec = denial(&t, &a.request_id).await;
    assert_eq!(rec.agent_name.as_deref(), Some("Sales Bot"));
    assert!(rec.sentence.contains("tools/list"), "{}", rec.sentence);

    // A batch, in a session and out of one.
    let session = open(&base, &key).await;
    for s in [None, Some(session.as_str())] {
        let a = send(&base, "POST", &key, s, Some(json!([list(2), list(3)]))).await;
        assert_eq!(a.status, 400, "{}", a.body);
        assert_eq!(a.message()["error"]["code"], -32600);
        denial(&t, &a.request_id).await;
    }

    // A GET without a session.
    let a = send(&base, "GET", &key, None, None).await;
    assert_eq!(a.status, 400, "{}", a.body);
    denial(&t, &a.request_id).await;

    // Arguments that are not an object.
    let bad = json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
        "params": {"name": "apollo_mixed_people_api_search", "arguments": "cto"}});
    let a = send(&base, "POST", &key, Some(&session), Some(bad)).await;
    assert_eq!(a.message()["error"]["code"], -32602, "{}", a.body);
    denial(&t, &a.request_id).await;

    // A body over REST's limit: REST's 413 and code.
    let huge = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
        "params": {"name": "x", "arguments": {"q": "x".repeat(2 * 1024 * 1024)}}});
    let a = send(&base, "POST", &key, Some(&session), Some(huge.clone())).await;
    assert_eq!(a.status, 413);
    let body: Value = serde_json::from_str(&a.body).expect("JSON");
    assert_eq!(body["error_code"], "BOLLARD_TOO_LARGE");
    assert_eq!(denial(&t, &a.request_id).await.status, Some(413));
    let rest = t.post("/api/v1/mixed_people/api_search", &key, huge).await;
    assert_eq!((rest.status, rest.code()), (413, "BOLLARD_TOO_LARGE"));
    t.stop().await;
}

#[tokio::test]
async fn tool_arguments_meet_rests_depth_and_count_limits() {
    let t = TestApp::spawn().await;
    let key = t.agent("Sales Bot", &["people=read"]).await;
    let base = format!("http://{}", t.app.agent_addr);
    let session = open(&base, &key).await;
    let before = t.journal().len();

    let mut deep = json!("cto");
    for _ in 0..100 {
        deep = json!([deep]);
    }
    let many: Vec<u32> = vec![1; 20_000];
    for arguments in [
        json!({"person_titles": deep}),
        json!({"organization_ids": many}),
    ] {
        let call = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
            "params": {"name": "apollo_mixed_people_api_search", "arguments": arguments}});
        let a = send(&base, "POST", &key, Some(&session), Some(call.clone())).await;
        let r = &a.message()["result"];
        assert_eq!(r["isError"], json!(true), "{}", a.body);
        assert_eq!(r["structuredContent"]["error_code"], "BOLLARD_INVALID");
        // REST says the same about the same arguments.
        let args = call["params"]["arguments"].clone();
        let rest = t.post("/api/v1/mixed_people/api_search", &key, args).await;
        assert_eq!(rest.status, 422);
        assert_eq!(
            r["structuredContent"]["error"].as_str(),
            Some(rest.error()),
            "the same sentence as REST"
        );
    }
    assert_eq!(t.journal().len(), before, "nothing was forwarded");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_info_log_names_mcp_calls_in_otel_terms_and_never_a_session_id() {
    let sandbox = Sandbox::spawn(SandboxConfig::new(5), SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("sandbox");
    let served = Served::start(&sandbox, &["people=read"], "info").await;
    let (base, key) = (&served.base, &served.key);
    let session = open(base, key).await;
    let search = |id: u64, meta: Value| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
            "name": "apollo_mixed_people_api_search", "arguments": {}, "_meta": meta}})
    };
    let a = send(
        base,
        "POST",
        key,
        Some(&session),
        Some(search(41, json!({}))),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    // Ended as a client ends it; its status is another test's concern.
    let _ = send(base, "DELETE", key, Some(&session), None).await;

    // The same call in the stateless revision, with W3C trace context in _meta.
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let call = search(
        42,
        json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
               "io.modelcontextprotocol/clientCapabilities": {}, "traceparent": traceparent}),
    );
    let resp = reqwest::Client::new()
        .post(format!("{base}/mcp"))
        .header("authorization", format!("Bearer {key}"))
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "apollo_mixed_people_api_search")
        .json(&call)
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status().as_u16(), 200);

    let logs = served.stop_and_logs().await;
    assert!(!logs.contains(&session), "a session id is in the log");
    let logs = without_colours(&logs);
    for field in [
        "mcp.method.name=\"tools/call\"",
        "gen_ai.tool.name=\"apollo_mixed_people_api_search\"",
        "mcp.protocol.version=\"2025-11-25\"",
        "mcp.protocol.version=\"2026-07-28\"",
        "jsonrpc.request.id=\"41\"",
        "jsonrpc.request.id=\"42\"",
        traceparent,
    ] {
        assert!(logs.contains(field), "{field} is not in the log:\n{logs}");
    }
    sandbox.shutdown().await;
}

/// The log as text, without the terminal colour codes the pretty format adds.
fn without_colours(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// DNS-rebinding protection (Streamable HTTP, "Security Warning"): a request whose `Origin`
/// is present and not allowed gets 403 in either era, before its key is looked at, and is on
/// record; no Origin (any non-browser client), a loopback origin and an allowed one pass.
#[tokio::test]
async fn a_web_page_from_an_origin_not_allowed_is_refused_in_both_eras_and_recorded() {
    let (t, key) = web_app().await;
    let base = t.agent_url("");
    let base = base.trim_end_matches('/');
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}});
    let discover = json!({"jsonrpc": "2.0", "id": 2, "method": "server/discover", "params": {
        "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}});
    let post = |origin: Option<&'static str>, body: Value, stateless: bool| {
        let mut req = reqwest::Client::new()
            .post(format!("{base}/mcp"))
            .header("authorization", format!("Bearer {key}"))
            .header("accept", "application/json, text/event-stream")
            .json(&body);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if stateless {
            req = req
                .header("mcp-method", "server/discover")
                .header("mcp-protocol-version", "2026-07-28");
        }
        req.send()
    };
    for origin in [
        "https://evil.example",
        "null",
        "https://assistant.example.com.evil.example",
    ] {
        for (body, stateless) in [(init.clone(), false), (discover.clone(), true)] {
            let r = post(Some(origin), body, stateless).await.unwrap();
            assert_eq!(r.status().as_u16(), 403, "{origin} was let through");
            let request_id = r
                .headers()
                .get("x-bollard-request-id")
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            let text = r.text().await.unwrap();
            assert!(text.contains("[mcp] allowed_origins"), "{text}");
            let rec = denial(&t, &request_id).await;
            assert!(
                rec.sentence.contains(&format!(
                    "it came from a web page at {origin}, which is not an origin allowed"
                )),
                "{}",
                rec.sentence
            );
        }
    }
    for origin in [
        None,
        Some("http://localhost:5173"),
        Some("https://assistant.example.com"),
    ] {
        let r = post(origin, init.clone(), false).await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{origin:?} was refused");
    }
    assert!(t.journal().is_empty(), "nothing reached Apollo");
    t.stop().await;
}

/// #12 item 3: a session of the older revisions, opened on replica A, is served by replica B
/// (round robin, no sticky sessions): B takes it up from the store, still only for its owner;
/// ended on B, it is gone; and the store holds no session id in clear.
#[tokio::test]
async fn a_session_opened_on_one_replica_is_served_by_another_and_still_only_for_its_owner() {
    let t = TestApp::spawn().await;
    let owner = t.agent("Sales Bot", &["people=read"]).await;
    let thief = t.agent("Other Bot", &["people=read"]).await;
    let token = tokio_util::sync::CancellationToken::new();
    let b = crate::mcp_stateless::replica(&t, &token).await;
    let a_base = format!("http://{}", t.app.agent_addr);
    let b_base = format!("http://{}", b.agent_addr);
    let session = open(&a_base, &owner).await;

    // Another agent on B: not found, and recorded, before B ever took the session up.
    let a = send(&b_base, "POST", &thief, Some(&session), Some(list(2))).await;
    assert_eq!(a.status, 404, "{}", a.body);
    b.gate.audit().flush().await.unwrap();
    denial(&t, &a.request_id).await;

    let call = |id: u64| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "apollo_mixed_people_api_search", "arguments": {"per_page": 1}}})
    };
    let before = t.journal().len();
    for (i, base) in [&b_base, &a_base, &b_base].into_iter().enumerate() {
        let a = send(
            base,
            "POST",
            &owner,
            Some(&session),
            Some(list(10 + i as u64)),
        )
        .await;
        assert_eq!(a.status, 200, "{base}: {}", a.body);
        assert!(a.message()["result"]["tools"].is_array(), "{}", a.body);
        let a = send(
            base,
            "POST",
            &owner,
            Some(&session),
            Some(call(20 + i as u64)),
        )
        .await;
        assert_eq!(a.status, 200, "{base}: {}", a.body);
        assert_eq!(a.message()["result"]["isError"], json!(false), "{}", a.body);
    }
    assert_eq!(
        t.journal().len() - before,
        3,
        "each call reached Apollo once"
    );
    // The event stream opens on B too; the thief's does not.
    assert_eq!(
        send(&b_base, "GET", &owner, Some(&session), None)
            .await
            .status,
        200
    );
    assert_eq!(
        send(&b_base, "GET", &thief, Some(&session), None)
            .await
            .status,
        404
    );

    // The store keeps a digest of the id, never the id.
    let db = std::fs::read(&t.db_path).unwrap();
    let wal = std::fs::read(t.db_path.with_extension("db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        assert!(
            !bytes
                .windows(session.len())
                .any(|w| w == session.as_bytes()),
            "a session id is stored in clear"
        );
    }

    // Ended on B by its owner: gone there, and a replica that never saw it cannot take it up.
    assert_eq!(
        send(&b_base, "DELETE", &owner, Some(&session), None)
            .await
            .status,
        204
    );
    let a = send(&b_base, "POST", &owner, Some(&session), Some(list(30))).await;
    assert_eq!(a.status, 404, "{}", a.body);
    // Nor on A, which opened it and still held it (found in review: it went on working
    // there), for any verb.
    let a = send(&a_base, "POST", &owner, Some(&session), Some(call(32))).await;
    assert_eq!(a.status, 404, "{}", a.body);
    let a = send(&a_base, "GET", &owner, Some(&session), None).await;
    assert_eq!(a.status, 404, "{}", a.body);
    assert_eq!(t.journal().len() - before, 3, "nothing more reached Apollo");
    let c = crate::mcp_stateless::replica(&t, &token).await;
    let a = send(
        &format!("http://{}", c.agent_addr),
        "POST",
        &owner,
        Some(&session),
        Some(list(31)),
    )
    .await;
    assert_eq!(a.status, 404, "{}", a.body);
    token.cancel();
    let _ = b.done.await;
    let _ = c.done.await;
    t.stop().await;
}

/// Found in review: rmcp echoed an `initialize` for 2026-07-28 (a revision without sessions),
/// whose requests then went to the sessionless era and failed; and `tools/list` in a session
/// ignored a cursor Bollard never issued. Now the handshake answers with the latest revision
/// this era speaks, as the lifecycle lets a server, and a cursor is -32602.
#[tokio::test]
async fn a_handshake_for_a_revision_without_sessions_gets_the_latest_with_them() {
    let t = TestApp::spawn().await;
    let key = t.agent("Sales Bot", &["people=read"]).await;
    let base = format!("http://{}", t.app.agent_addr);
    for asked in ["2026-07-28", "1999-01-01"] {
        let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": asked, "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}});
        let a = send(&base, "POST", &key, None, Some(init)).await;
        assert_eq!(a.status, 200, "{asked}: {}", a.body);
        assert_eq!(
            a.message()["result"]["protocolVersion"],
            "2025-11-25",
            "{asked}: {}",
            a.body
        );
        let session = a.session.expect("a session id");
        let done = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        assert_eq!(
            send(&base, "POST", &key, Some(&session), Some(done))
                .await
                .status,
            202
        );
        let a = send(&base, "POST", &key, Some(&session), Some(list(2))).await;
        assert_eq!(a.status, 200, "{asked}: {}", a.body);
        assert!(a.message()["result"]["tools"].is_array(), "{}", a.body);
    }
    let session = open(&base, &key).await;
    let paged =
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {"cursor": "page2"}});
    let a = send(&base, "POST", &key, Some(&session), Some(paged)).await;
    assert_eq!(a.message()["error"]["code"], -32602, "{}", a.body);
    assert!(a.body.contains("not issued by Bollard"), "{}", a.body);
    t.stop().await;
}

/// The test app with one allowed web origin, and a key of its agent.
async fn web_app() -> (TestApp, String) {
    let t = TestApp::spawn_with(crate::helpers::Options {
        mcp_allowed_origins: vec!["https://assistant.example.com".into()],
        ..Default::default()
    })
    .await;
    let key = t.agent("Web Agent", &["people=read"]).await;
    (t, key)
}

/// Found in review: `[mcp] allowed_origins` let a browser page's requests past the Origin
/// check, but `/mcp` sent no CORS headers, so the browser refused the preflight (it got 401,
/// recorded as a refusal) and hid every answer, the session id included. A page on an
/// allowed origin now gets its preflight and readable answers; one on another origin gets
/// neither.
#[tokio::test]
async fn a_page_on_an_allowed_origin_gets_cors_and_one_elsewhere_does_not() {
    let (t, key) = web_app().await;
    let url = t.agent_url("/mcp");
    let client = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        client
            .request(reqwest::Method::OPTIONS, &url)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type, mcp-session-id",
            )
            .send()
    };
    let r = preflight("https://assistant.example.com").await.unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let h = r.headers();
    assert_eq!(
        h["access-control-allow-origin"],
        "https://assistant.example.com"
    );
    for wanted in ["authorization", "mcp-session-id", "content-type"] {
        assert!(
            h["access-control-allow-headers"]
                .to_str()
                .unwrap()
                .contains(wanted),
            "{wanted}"
        );
    }
    assert!(
        h["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    let r = preflight("https://evil.example").await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert!(r.headers().get("access-control-allow-origin").is_none());

    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}});
    let r = client
        .post(&url)
        .header("origin", "https://assistant.example.com")
        .header("authorization", format!("Bearer {key}"))
        .header("accept", "application/json, text/event-stream")
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let h = r.headers();
    assert_eq!(
        h["access-control-allow-origin"],
        "https://assistant.example.com"
    );
    assert!(
        h["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("mcp-session-id")
    );
    assert!(h.contains_key("mcp-session-id"));
    // A refusal is readable too, so the page can say why.
    let r = client
        .post(&url)
        .header("origin", "https://assistant.example.com")
        .header("authorization", "Bearer wrong")
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://assistant.example.com"
    );
    // No Origin (not a browser): no CORS headers at all.
    let r = client
        .post(&url)
        .header("authorization", format!("Bearer {key}"))
        .header("accept", "application/json, text/event-stream")
        .json(&init)
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    assert!(t.journal().is_empty(), "nothing reached Apollo");
    t.stop().await;
}
