//! Two real Apollo clients pointed at Bollard, every method or tool called once: the PyPI
//! client `qodev-apollo-api` and the third-party MCP server `mcparmory-apollo` (run over
//! stdio with its `BASE_URL` at Bollard). Neither gets a "not an Apollo action that Bollard
//! governs" refusal for a path Apollo documents; the paths they call that Apollo does not
//! document are exactly `governed::UNDOCUMENTED`, refused naming method and path; and what
//! was allowed reached the sandbox.
//!
//! Both are installed once, pinned, in a virtual environment under the target directory.
//! Without python3, or when PyPI cannot be reached, the tests say so loudly and pass; any
//! other failure to install fails them.

use std::path::PathBuf;

use serde_json::{Value, json};
use tokio::sync::OnceCell;

use crate::helpers::{TestApp, Venv};

/// The versions under test: the newest on PyPI when these tests were written.
const CLIENTS: [&str; 2] = ["qodev-apollo-api==0.7.0", "mcparmory-apollo==1.0.4"];

const NOT_GOVERNED: &str = "is not an Apollo action that Bollard governs";

const EVERYTHING: &[&str] = &[
    "people=full",
    "organizations=full",
    "contacts=full",
    "accounts=full",
    "sequences=full",
    "tasks=full",
    "deals=full",
    "users=full",
    "calls=full",
];

static VENV: OnceCell<Option<PathBuf>> = OnceCell::const_new();

/// Whether pip's complaint is that it could not reach the registry at all.
fn unreachable(stderr: &str) -> bool {
    [
        "NewConnectionError",
        "Failed to establish a new connection",
        "Temporary failure in name resolution",
        "Network is unreachable",
        "Connection refused",
        "ProxyError",
    ]
    .iter()
    .any(|s| stderr.contains(s))
}

/// The venv's `bin` directory with both clients installed, or `None` (said loudly) when
/// python3 is absent or PyPI unreachable.
async fn venv() -> Option<PathBuf> {
    VENV.get_or_init(|| async {
        match crate::helpers::pinned_venv("clients-py", &CLIENTS).await {
            Venv::Ready(bin) => Some(bin),
            Venv::NoPython => {
                eprintln!("SKIPPED: python3 is not installed, so the real Apollo clients did not run against Bollard");
                None
            }
            Venv::PipFailed(stderr) if unreachable(&stderr) => {
                eprintln!(
                    "SKIPPED: PyPI is unreachable, so the real Apollo clients ({}) did not run against Bollard:\n{stderr}",
                    CLIENTS.join(", ")
                );
                None
            }
            Venv::PipFailed(stderr) => panic!("pip install {CLIENTS:?}: {stderr}"),
        }
    })
    .await
    .clone()
}

/// The paths `UNDOCUMENTED` names for `client`, as `METHOD /api/v1/path` with `{id}` kept.
fn undocumented(client: &str) -> Vec<String> {
    bollard::governed::UNDOCUMENTED
        .iter()
        .filter(|(_, _, c)| *c == client)
        .map(|(m, p, _)| format!("{m} {p}"))
        .collect()
}

/// `GET /api/v1/notes/abc` matches `GET /api/v1/notes/{id}`.
fn matches_template(refused: &str, template: &str) -> bool {
    let (a, b): (Vec<&str>, Vec<&str>) =
        (refused.split('/').collect(), template.split('/').collect());
    a.len() == b.len() && a.iter().zip(&b).all(|(x, t)| x == t || *t == "{id}")
}

/// "GET /api/v1/notes/abc" out of Bollard's refusal sentence.
fn refused_route(error: &str) -> Option<String> {
    let at = error.find(NOT_GOVERNED)?;
    let before = error.get(..at)?.trim_end();
    let start = before
        .rfind(['"', '\'', '(', '{', ':'])
        .map_or(0, |i| i + 1);
    let route = before.get(start..)?.trim();
    route
        .split_once(' ')
        .filter(|(m, p)| m.chars().all(|c| c.is_ascii_uppercase()) && p.starts_with("/api/v1/"))
        .map(|_| route.to_owned())
}

#[tokio::test]
async fn the_pypi_client_meets_no_refusal_for_a_documented_path() {
    let Some(bin) = venv().await else { return };
    let t = TestApp::spawn().await;
    let key = t.agent("Client Agent", EVERYTHING).await;
    t.daily_budget("Client Agent", 1000).await;
    let f = t.sandbox.fixtures();
    let tasks = t.post("/api/v1/tasks/search", &key, json!({})).await;
    let fixtures = json!({"contact": f.contact_ids[0], "account": f.account_ids[0],
        "user": f.user_ids[0], "task": tasks.body["tasks"][0]["id"]});
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/qodev_client.py");
    let before = t.journal().len();
    let run = tokio::process::Command::new(bin.join("python"))
        .arg(script)
        .args([&t.agent_url(""), &key, &fixtures.to_string()])
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), run)
        .await
        .expect("the client finishes within two minutes")
        .expect("the client runs");
    assert!(
        out.status.success(),
        "the client failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<Value> = serde_json::from_slice(&out.stdout).expect("the client prints JSON");
    let expected = undocumented("qodev-apollo-api");
    let mut refused_routes = Vec::new();
    let mut ok = 0;
    for r in &results {
        let method = r["method"].as_str().unwrap_or_default();
        let error = r["error"].as_str().unwrap_or_default();
        if r["ok"] == true {
            ok += 1;
            continue;
        }
        if error.contains(NOT_GOVERNED) {
            let route = refused_route(error).unwrap_or_else(|| {
                panic!("{method}: the refusal names no method and path: {error}")
            });
            assert!(
                expected.iter().any(|e| {
                    let (em, ep) = e.split_once(' ').unwrap_or_default();
                    let (rm, rp) = route.split_once(' ').unwrap_or_default();
                    em == rm && matches_template(rp, ep)
                }),
                "{method} was refused as not governed, but {route} is not a path Bollard leaves out on purpose: {error}"
            );
            refused_routes.push(route);
        }
    }
    // Every undocumented path the client calls was met, and refused naming it.
    for e in &expected {
        let (em, ep) = e.split_once(' ').unwrap_or_default();
        assert!(
            refused_routes.iter().any(|r| {
                let (rm, rp) = r.split_once(' ').unwrap_or_default();
                em == rm && matches_template(rp, ep)
            }),
            "{e} is listed as called by qodev-apollo-api but was not: {results:#?}"
        );
    }
    // What was allowed reached Apollo: each successful method at least one call, and the
    // paths the first landing refused are among them.
    let journal = t.journal();
    let reached: Vec<String> = journal[before..]
        .iter()
        .map(|e| format!("{} {}", e.method, e.path))
        .collect();
    assert!(
        reached.len() >= ok,
        "{ok} methods succeeded but {} calls reached Apollo",
        reached.len()
    );
    for want in [
        "POST /api/v1/emailer_messages/search",
        "POST /api/v1/conversations/search",
        "GET /api/v1/conversations/",
        "GET /api/v1/tasks/",
        "POST /api/v1/tasks/",
        "POST /api/v1/emailer_messages/",
        "GET /api/v1/organizations/",
    ] {
        assert!(
            reached.iter().any(|r| r.starts_with(want)),
            "nothing reached Apollo at {want}: {reached:#?}\n{results:#?}"
        );
    }
    let failed: Vec<&Value> = results
        .iter()
        .filter(|r| {
            r["ok"] != true
                && !r["error"]
                    .as_str()
                    .unwrap_or_default()
                    .contains(NOT_GOVERNED)
        })
        .collect();
    // The client's own mistakes Bollard refuses as Apollo would, by name: it sends a task's
    // contacts as `contact_ids` where Apollo's reference takes one `contact_id`.
    for r in &failed {
        let method = r["method"].as_str().unwrap_or_default();
        let error = r["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("BOLLARD_INVALID") || error.contains("\"error\""),
            "{method} failed without a reason from Bollard or Apollo: {r}"
        );
    }
    eprintln!(
        "qodev-apollo-api: {} methods, {ok} answered, {} refused as undocumented, {} refused for their arguments",
        results.len(),
        refused_routes.len(),
        failed.len()
    );
    t.stop().await;
}

#[tokio::test]
async fn the_third_party_mcp_server_meets_no_refusal_for_a_documented_path() {
    let Some(bin) = venv().await else { return };
    let t = TestApp::spawn().await;
    let key = t.agent("MCP Server Agent", EVERYTHING).await;
    t.daily_budget("MCP Server Agent", 1000).await;
    let f = t.sandbox.fixtures();
    let first = |v: &Value, key: &str| v[key][0]["id"].as_str().unwrap_or_default().to_owned();
    let orgs = t
        .post(
            "/api/v1/mixed_companies/search",
            &key,
            json!({"per_page": 1}),
        )
        .await;
    let deals = t
        .post("/api/v1/opportunities/search", &key, json!({}))
        .await;
    let call = t
        .post(
            "/api/v1/phone_calls",
            &key,
            json!({"contact_id": f.contact_ids[0], "status": "completed"}),
        )
        .await;
    let emails = t
        .send("GET", "/api/v1/emailer_messages/search", Some(&key), None)
        .await;
    let fixtures = json!({"contact": f.contact_ids[0], "account": f.account_ids[0],
        "organization": first(&orgs.body, "organizations"), "deal": first(&deals.body, "opportunities"),
        "call": call.body["phone_call"]["id"], "message": first(&emails.body, "emailer_messages"),
        "user": f.user_ids[0], "sequence": f.sequence_ids[0], "inactive_sequence": f.sequence_ids[3],
        "contact_stage": f.contact_stage_ids[1], "email_account": f.email_account_ids[0]});
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/mcparmory_client.py");
    let before = t.journal().len();
    let run = tokio::process::Command::new(bin.join("python"))
        .arg(script)
        .arg(bin.join("mcparmory-apollo"))
        .args([&t.agent_url(""), &key, &fixtures.to_string()])
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(180), run)
        .await
        .expect("the MCP server and client finish within three minutes")
        .expect("the client runs");
    assert!(
        out.status.success(),
        "the MCP client failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<Value> = serde_json::from_slice(&out.stdout).expect("the client prints JSON");
    assert!(
        results.len() >= 45,
        "the server lists its tools: {results:#?}"
    );
    let expected = undocumented("mcparmory-apollo");
    for r in &results {
        let text = r["text"].as_str().unwrap_or_default();
        if text.contains(NOT_GOVERNED) {
            let route = refused_route(text).unwrap_or_default();
            assert!(
                expected.iter().any(|e| {
                    let (em, ep) = e.split_once(' ').unwrap_or_default();
                    let (rm, rp) = route.split_once(' ').unwrap_or_default();
                    em == rm && matches_template(rp, ep)
                }),
                "{} was refused as not governed: {text}",
                r["tool"]
            );
        }
    }
    let answered: Vec<&Value> = results.iter().filter(|r| r["error"] != true).collect();
    let reached = t.journal().len() - before;
    assert!(
        reached >= answered.len(),
        "{} tools answered but {reached} calls reached Apollo",
        answered.len()
    );
    let failed: Vec<String> = results
        .iter()
        .filter(|r| r["error"] == true)
        .map(|r| format!("{}: {}", r["tool"], r["text"]))
        .collect();
    // What failed was refused with a reason (Bollard's, Apollo's or the server's own
    // argument check), never a crash or a silence.
    for r in results.iter().filter(|r| r["error"] == true) {
        let text = r["text"].as_str().unwrap_or_default();
        assert!(
            text.contains("\nStatus: 4") || text.contains("validation error"),
            "{}: {text}",
            r["tool"]
        );
    }
    eprintln!(
        "mcparmory-apollo: {} tools, {} answered, {} refused for their arguments or by Apollo:\n{}",
        results.len(),
        answered.len(),
        failed.len(),
        failed.join("\n")
    );
    t.stop().await;
}
