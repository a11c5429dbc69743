//! The real binary, as an operator runs it: what it logs and what `bollard usage` says.

use std::net::SocketAddr;

use apollo_sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};

use crate::helpers::Served;

fn bollard() -> tokio::process::Command {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_bollard"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_log_line_holds_the_apollo_key_or_an_agent_key() {
    let sandbox = Sandbox::spawn(SandboxConfig::new(5), SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    // As chatty as it gets, including the HTTP client's and server's own logs.
    let served = Served::start(&sandbox, &["people=read"], "trace").await;
    let (base, key) = (served.base.clone(), served.key.clone());
    let client = reqwest::Client::new();
    let search = format!("{base}/api/v1/mixed_people/api_search");
    let ok = client
        .post(&search)
        .header("x-api-key", &key)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    sandbox.faults().fail_next(1, 502);
    let _ = client
        .post(&search)
        .header("x-api-key", &key)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let _ = client
        .post(format!("{base}/api/v1/contacts"))
        .header("authorization", format!("Bearer {key}"))
        .json(&json!({"first_name": "A"}))
        .send()
        .await
        .unwrap();
    let _ = client
        .post(&search)
        .header("x-api-key", "bol_agent_wrong")
        .send()
        .await
        .unwrap();
    let mut child = served.child;
    child.start_kill().unwrap();
    let out = child.wait_with_output().await.unwrap();
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        logs.contains("call"),
        "the calls were logged: {}",
        logs.len()
    );
    assert!(
        !logs.contains(sandbox.master_key()),
        "the Apollo key is in the log"
    );
    assert!(!logs.contains(&key), "an agent key is in the log");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_sets_bollards_ledger_beside_apollos() {
    let sandbox = Sandbox::spawn(SandboxConfig::new(6), SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("usage.db").display());
    let store = bollard::store::open(&url).await.unwrap();
    let agent = bollard::ops::create_agent(
        &*store,
        &crate::helpers::tester(),
        "Researcher",
        "",
        None,
        time::OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    let ledger = [bollard::store::BudgetCheck {
        period: "month",
        start: bollard::limits::month_start(time::OffsetDateTime::now_utc()),
        limit_milli: 1_000_000,
    }];
    // Bollard's ledger says 3 credits this month; Apollo's says what the sandbox charged.
    store
        .settle_credits(&agent.agent.id, &ledger, 0, 3000)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let found: Value = http
        .post(format!(
            "{}/api/v1/mixed_people/api_search",
            sandbox.base_url()
        ))
        .header("x-api-key", sandbox.master_key())
        .json(&json!({"per_page": 1}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = found["people"][0]["id"].as_str().unwrap();
    for _ in 0..5 {
        http.post(format!("{}/api/v1/people/match", sandbox.base_url()))
            .header("x-api-key", sandbox.master_key())
            .json(&json!({"id": id}))
            .send()
            .await
            .unwrap();
    }
    let out = bollard()
        .args(["usage", "--json", "--database-url", &url])
        .env("APOLLO_API_KEY", sandbox.master_key())
        .env("APOLLO_BASE_URL", sandbox.base_url())
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["bollard"]["total_this_month"], 3.0);
    assert_eq!(v["drift"], 2.0, "Apollo charged 5, Bollard saw 3: {v}");
    let text = bollard()
        .args(["usage", "--database-url", &url])
        .env("APOLLO_API_KEY", sandbox.master_key())
        .env("APOLLO_BASE_URL", sandbox.base_url())
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("Drift: Apollo counts 2 more credits than Bollard"),
        "{text}"
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_from_the_command_line_is_on_the_record_as_an_admin_change() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("changes.db").display());
    let run = |args: &[&str]| {
        let mut c = bollard();
        c.args(args).args(["--database-url", &url]);
        async move {
            let out = c.output().await.unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
    };
    let made = run(&["agent", "create", "Sales Agent"]).await;
    let key = made
        .split_whitespace()
        .find(|w| w.starts_with("bol_agent_"))
        .unwrap()
        .to_owned();
    run(&["grant", "Sales Agent", "contacts=read"]).await;
    run(&["grant", "Sales Agent", "contacts=full"]).await;
    run(&["agent", "rotate-key", "Sales Agent"]).await;

    let changes = run(&["audit", "--kind", "admin"]).await;
    assert!(
        changes.contains("changed Sales Agent's Contacts from Read to Full use."),
        "{changes}"
    );
    assert!(
        changes.contains("The command line on ")
            && changes.contains("created the agent Sales Agent."),
        "{changes}"
    );
    let random = &key[key.len() - 12..];
    let json = run(&["audit", "--kind", "admin", "--json"]).await;
    assert!(!json.contains(random), "a key in an admin entry: {json}");
    let calls = run(&["audit", "--kind", "calls"]).await;
    assert!(!calls.contains("Sales Agent"), "{calls}");
    let verified = run(&["audit", "verify"]).await;
    assert!(!verified.is_empty());
}
