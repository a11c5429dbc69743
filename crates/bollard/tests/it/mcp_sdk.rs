//! The official Python MCP SDK (2.x) against Bollard, in its default mode (probe
//! `server/discover`, then the stateless 2026-07-28 revision) and in legacy mode (the
//! `initialize` handshake), over HTTP and through the stdio bridge `bollard mcp`.
//!
//! The TypeScript SDK's client (`@modelcontextprotocol/sdk` 1.x, the sessions era only) runs
//! the same checks over HTTP and through the bridge.
//!
//! Each SDK is installed once under the target directory (a Python virtual environment, an npm
//! prefix). Without python3 or node the tests say so and pass; any other failure to set up
//! fails them.

use std::path::PathBuf;

use serde_json::Value;
use tokio::sync::OnceCell;

use crate::helpers::{TestApp, Venv, target_dir};

/// The SDK version under test: the newest 2.x on PyPI when these tests were written.
const SDK: &str = "mcp==2.3.0";

/// The TypeScript SDK version under test: the newest `@modelcontextprotocol/sdk` on npm.
const NODE_SDK: &str = "@modelcontextprotocol/sdk@1.32.2";

static VENV: OnceCell<Option<PathBuf>> = OnceCell::const_new();
static NODE: OnceCell<Option<PathBuf>> = OnceCell::const_new();

/// The venv's python with the SDK installed, or `None` when python3 is absent.
pub(crate) async fn python() -> Option<PathBuf> {
    VENV.get_or_init(|| async {
        match crate::helpers::pinned_venv("mcp-py", &[SDK]).await {
            Venv::Ready(bin) => Some(bin.join("python")),
            Venv::NoPython => {
                eprintln!(
                    "SKIPPED: python3 is not installed, so the Python MCP SDK tests did not run"
                );
                None
            }
            Venv::PipFailed(stderr) => panic!("pip install {SDK}: {stderr}"),
        }
    })
    .await
    .clone()
}

/// Runs the client script and returns what it printed.
async fn run_client(mode: &str, transport: &str, t: &TestApp, key: &str) -> Option<Value> {
    let py = python().await?;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/mcp_client.py");
    let url = t.agent_url("/mcp");
    let target = match transport {
        "http" => url.clone(),
        _ => env!("CARGO_BIN_EXE_bollard").to_owned(),
    };
    let run = tokio::process::Command::new(py)
        .arg(script)
        .args([mode, transport, &target, key, &url])
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), run)
        .await
        .expect("the Python client finishes within a minute")
        .expect("the Python client runs");
    assert!(
        out.status.success(),
        "the Python client failed ({mode}, {transport}):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("the client prints JSON"))
}

/// The npm prefix holding the TypeScript SDK and the client script, or `None` without node.
async fn node_dir() -> Option<PathBuf> {
    NODE.get_or_init(|| async {
        let found = tokio::process::Command::new("node")
            .arg("--version")
            .output()
            .await;
        if found.is_err() {
            eprintln!(
                "SKIPPED: node is not installed, so the TypeScript MCP SDK tests did not run"
            );
            return None;
        }
        let dir = target_dir().join("mcp-node");
        let installed = dir.join("node_modules/@modelcontextprotocol/sdk/package.json");
        let version = std::fs::read_to_string(&installed).unwrap_or_default();
        if !version.contains(&format!(
            "\"version\": \"{}\"",
            NODE_SDK.rsplit_once('@').map_or("", |(_, v)| v)
        )) {
            std::fs::create_dir_all(&dir).expect("the npm prefix");
            std::fs::write(dir.join("package.json"), "{\"private\": true}\n")
                .expect("package.json");
            // An install cut short (a registry hiccup) leaves a package without its
            // package.json that npm then calls "up to date": start clean each try, and try
            // three times before failing with what npm said.
            let mut said = String::new();
            for _ in 0..3 {
                let _ = std::fs::remove_dir_all(dir.join("node_modules"));
                let _ = std::fs::remove_file(dir.join("package-lock.json"));
                let npm = tokio::process::Command::new("npm")
                    .args([
                        "install",
                        "--no-audit",
                        "--no-fund",
                        "--loglevel=error",
                        NODE_SDK,
                    ])
                    .current_dir(&dir)
                    .output()
                    .await
                    .expect("npm runs");
                if npm.status.success() && installed.exists() {
                    break;
                }
                said = format!(
                    "{}{}",
                    String::from_utf8_lossy(&npm.stdout),
                    String::from_utf8_lossy(&npm.stderr)
                );
            }
            assert!(
                installed.exists(),
                "npm install {NODE_SDK} failed three times: {said}"
            );
        }
        // ES modules resolve packages from the script's own folder, so the script runs there.
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/mcp_client.mjs");
        std::fs::copy(script, dir.join("mcp_client.mjs")).expect("the client script");
        Some(dir)
    })
    .await
    .clone()
}

async fn run_node_client(transport: &str, t: &TestApp, key: &str) -> Option<Value> {
    let dir = node_dir().await?;
    let url = t.agent_url("/mcp");
    let target = match transport {
        "http" => url.clone(),
        _ => env!("CARGO_BIN_EXE_bollard").to_owned(),
    };
    let run = tokio::process::Command::new("node")
        .arg(dir.join("mcp_client.mjs"))
        .args([transport, &target, key, &url])
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), run)
        .await
        .expect("the Node client finishes within a minute")
        .expect("the Node client runs");
    assert!(
        out.status.success(),
        "the Node client failed ({transport}):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("the client prints JSON"))
}

/// What every mode and transport must show: only the granted tools, reveal flags hidden,
/// the allowed call answered, the denied one refused with Bollard's reason, no SDK warnings.
async fn assert_governed(t: &TestApp, out: &Value, version: &str) {
    assert_eq!(out["protocol_version"], version, "{out}");
    let tools: Vec<&str> = out["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(tools.contains(&"apollo_mixed_people_api_search"), "{out}");
    assert!(!tools.contains(&"apollo_contacts_create"), "{out}");
    let enrich = &out["schemas"]["apollo_people_match"];
    assert!(
        enrich
            .as_array()
            .is_some_and(|p| p.contains(&"email".into())),
        "{out}"
    );
    assert!(
        !enrich
            .as_array()
            .is_some_and(|p| p.contains(&"reveal_phone_number".into())),
        "reveal flags are not advertised without the reveal grant: {out}"
    );
    assert_eq!(out["allowed"]["is_error"], false, "{out}");
    assert_eq!(out["allowed"]["has_people"], true, "{out}");
    assert_eq!(out["denied"]["is_error"], true, "{out}");
    assert!(
        out["denied"]["text"]
            .as_str()
            .unwrap_or("")
            .contains("Desk Bot"),
        "the refusal names the agent: {out}"
    );
    assert_eq!(
        out["warnings"],
        serde_json::json!([]),
        "the SDK warned: {out}"
    );
    let lines = t.audit_lines().await;
    let mcp: Vec<_> = lines.iter().filter(|l| l.record.channel == "mcp").collect();
    assert!(mcp.iter().any(|l| l.record.decision == "allowed"));
    assert!(
        mcp.iter()
            .any(|l| l.record.action.as_deref() == Some("contacts.create")
                && l.record.decision == "denied")
    );
}

/// One agent with `people=read`, one client run, and the checks every run must pass.
async fn sdk_case(mode: &str, transport: &str, version: &str) {
    let t = TestApp::spawn().await;
    let key = t.agent("Desk Bot", &["people=read"]).await;
    if let Some(out) = run_client(mode, transport, &t, &key).await {
        assert_governed(&t, &out, version).await;
    }
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_default_mode_over_http_speaks_the_stateless_revision() {
    sdk_case("auto", "http", "2026-07-28").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_legacy_mode_over_http_opens_a_session() {
    sdk_case("legacy", "http", "2025-11-25").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_default_mode_through_the_stdio_bridge() {
    sdk_case("auto", "stdio", "2026-07-28").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_legacy_mode_through_the_stdio_bridge() {
    sdk_case("legacy", "stdio", "2025-11-25").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_sdk_over_http_and_its_session_ends_cleanly() {
    let t = TestApp::spawn().await;
    let key = t.agent("Desk Bot", &["people=read"]).await;
    if let Some(out) = run_node_client("http", &t, &key).await {
        assert_governed(&t, &out, "2025-11-25").await;
    }
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_sdk_through_the_stdio_bridge() {
    let t = TestApp::spawn().await;
    let key = t.agent("Desk Bot", &["people=read"]).await;
    if let Some(out) = run_node_client("stdio", &t, &key).await {
        assert_governed(&t, &out, "2025-11-25").await;
    }
    t.stop().await;
}
