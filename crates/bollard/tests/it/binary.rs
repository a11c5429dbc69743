//! The real binary, as an operator runs it: what it logs and what `bollard usage` says.

use std::net::SocketAddr;

use apollo_sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};

use crate::helpers::{Served, terminate};

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
    let logs = served.stop_and_logs().await;
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

/// At the default level, each call is one line that names its request id, agent, action and
/// decision on its own (the call's span is at `debug`, issue 16); the lines are written in
/// batches while serving, and what waits is written when the server stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_call_is_one_line_naming_its_request_agent_action_and_decision() {
    let sandbox = Sandbox::spawn(SandboxConfig::new(5), SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let served = Served::start(&sandbox, &["people=read"], "info").await;
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for (path, status) in [
        ("/api/v1/mixed_people/api_search", 200),
        ("/api/v1/contacts", 403),
    ] {
        let r = client
            .post(format!("{}{path}", served.base))
            .header("x-api-key", &served.key)
            .json(&json!({"first_name": "A"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status);
        ids.push(
            r.headers()["x-bollard-request-id"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
    }
    let logs = served.stop_and_logs().await;
    let line = |id: &str| {
        let mut lines = logs.lines().filter(|l| l.contains(id));
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("no line for {id}: {logs}"));
        assert!(lines.next().is_none(), "one line for {id}: {logs}");
        line.to_owned()
    };
    let allowed = line(&ids[0]);
    for field in [
        "door=\"rest\"",
        "action=\"people.search\"",
        "decision=\"allowed\"",
        "status=200",
        "elapsed_ms=",
    ] {
        assert!(allowed.contains(field), "{field} in {allowed}");
    }
    let denied = line(&ids[1]);
    for field in [
        "action=\"contacts.create\"",
        "decision=\"denied\"",
        "status=403",
    ] {
        assert!(denied.contains(field), "{field} in {denied}");
    }
    assert!(allowed.contains("agent=") && denied.contains("agent="));
    sandbox.shutdown().await;
}

/// #19 item 6: `bollard usage` sets Apollo's own count of today's calls, per endpoint, beside
/// the calls Bollard sent; a call made with the team key outside Bollard shows as the gap.
/// When Apollo cannot be asked, one line says so and the command still succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_sets_apollos_calls_per_endpoint_beside_the_calls_bollard_forwarded() {
    let sandbox = Sandbox::spawn(SandboxConfig::new(9), SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let served = Served::launch(
        &sandbox,
        crate::helpers::ServeOptions {
            grants: &["people=read"],
            rust_log: "error",
            credits_per_day: Some(100),
            ..Default::default()
        },
    )
    .await;
    let http = reqwest::Client::new();
    let call = |path: &str, key: &str, base: &str, body: Value| {
        http.post(format!("{base}{path}"))
            .header("x-api-key", key)
            .json(&body)
            .send()
    };
    let mut id = String::new();
    for _ in 0..2 {
        let found: Value = call(
            "/api/v1/mixed_people/api_search",
            &served.key,
            &served.base,
            json!({"per_page": 1}),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        id = found["people"][0]["id"].as_str().unwrap().to_owned();
    }
    for _ in 0..3 {
        let r = call(
            "/api/v1/people/match",
            &served.key,
            &served.base,
            json!({"id": id}),
        )
        .await
        .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }
    // One more, with the team key straight at Apollo: Apollo counts it, Bollard never saw it.
    call(
        "/api/v1/people/match",
        sandbox.master_key(),
        &sandbox.base_url(),
        json!({"id": id}),
    )
    .await
    .unwrap();
    let (url, _dir) = served.kill_keeping_db().await;
    let usage = |base: String, json: bool| {
        let mut c = bollard();
        c.args(["usage", "--database-url", &url])
            .env("APOLLO_API_KEY", sandbox.master_key())
            .env("APOLLO_BASE_URL", base);
        if json {
            c.arg("--json");
        }
        async move {
            let out = c.output().await.unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            (
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }
    };
    let (out, _) = usage(sandbox.base_url(), true).await;
    let v: Value = serde_json::from_str(&out).unwrap();
    let today = v["api_usage_today"].as_array().unwrap();
    let row = |endpoint: &str| {
        today
            .iter()
            .find(|r| r["endpoint"] == endpoint)
            .unwrap_or_else(|| panic!("no {endpoint} in {today:?}"))
            .clone()
    };
    assert_eq!(
        row("api/v1/people#match"),
        json!({"endpoint": "api/v1/people#match", "bollard_sent": 3, "apollo_counted": 4})
    );
    assert_eq!(
        row("api/v1/mixed_people#api_search"),
        json!({"endpoint": "api/v1/mixed_people#api_search", "bollard_sent": 2, "apollo_counted": 2})
    );
    let matches = |text: &str| -> Vec<String> {
        text.lines()
            .find(|l| l.contains("api/v1/people#match"))
            .unwrap_or_else(|| panic!("{text}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    let (text, _) = usage(sandbox.base_url(), false).await;
    assert_eq!(matches(&text), ["api/v1/people#match", "3", "4"], "{text}");
    // Apollo out of reach: Bollard's side alone, and one line that says why.
    let gone = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (text, said) = usage(format!("http://{gone}"), false).await;
    assert!(
        text.contains("(Apollo's count could not be read)"),
        "{text}"
    );
    assert_eq!(matches(&text), ["api/v1/people#match", "3", "-"], "{text}");
    assert_eq!(
        said.matches("Showing the calls Bollard sent today only.")
            .count(),
        1,
        "{said}"
    );
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
        .settle_credits(&agent.agent.id, &ledger, 0, 3000, None)
        .await
        .unwrap();
    // Apollo once billed bulk enrichment at 3 times the price table.
    store
        .learn_price("people.bulk_enrich", 3000, time::OffsetDateTime::now_utc())
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
    // What the server found at its last reconciliation with Apollo.
    store
        .record_reconciliation(&crate::helpers::a_reconciliation())
        .await
        .unwrap();
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
    assert_eq!(v["last_reconciliation"]["drift"], -5417.0, "{v}");
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
    assert!(
        text.contains(
            "The server's last reconciliation (2026-12-04 09:15 UTC) compared the credit ledger with Apollo's credit_usage_stats (cycle 2026-12-01 to 2026-12-31): Apollo counts 24,435 credits consumed, Bollard 29,852 credits this month; Bollard counts 5,417 credits more"
        ),
        "{text}"
    );
    assert_eq!(v["learned_prices"][0]["factor"], 3.0, "{v}");
    assert!(
        text.contains(
            "Apollo has billed 'Enrich people in bulk' at up to 3x the price table's price"
        ),
        "{text}"
    );
    assert!(text.contains("bollard usage --forget-prices"), "{text}");
    for expected in [
        "Forgot 1 learned price: its calls reserve at the price table's price again.",
        "No learned prices: calls already reserve at the price table's prices.",
    ] {
        let out = bollard()
            .args(["usage", "--forget-prices", "--database-url", &url])
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), expected);
    }
    sandbox.shutdown().await;
}

#[tokio::test]
async fn check_runs_the_limits_phase_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("check.db").display());
    let store = bollard::store::open(&url).await.unwrap();
    let now = time::OffsetDateTime::now_utc();
    bollard::ops::create_agent(
        &*store,
        &crate::helpers::tester(),
        "Sales Agent",
        "",
        None,
        now,
    )
    .await
    .unwrap();
    bollard::ops::grant(
        &*store,
        &crate::helpers::tester(),
        "Sales Agent",
        &["people=read".into()],
    )
    .await
    .unwrap();
    let check = |body: &'static str| {
        let url = url.clone();
        async move {
            bollard()
                .args(["check", "Sales Agent", "POST", "/api/v1/people/match"])
                .args(["--body", body, "--json", "--database-url", &url])
                .output()
                .await
                .unwrap()
        }
    };
    // No budget: a call would be refused by the limits phase, and the dry run says so.
    let out = check(r#"{"email": "a@acme.com"}"#).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["decision"], "denied", "{v}");
    assert_eq!(v["status"], 403, "{v}");
    assert!(
        v["sentence"]
            .as_str()
            .unwrap()
            .contains("it would be denied, because it spends Apollo credits (up to 1 for this call) and Sales Agent has no credit budget"),
        "{v}"
    );

    // With a budget of 3, of which 1 is spent: allowed, and what it could use of what is left.
    let agent = bollard::ops::query::live_agent(&*store, "Sales Agent")
        .await
        .unwrap();
    let limits = bollard::store::Limits {
        credits_per_day: Some(3),
        ..bollard::store::Limits::default()
    };
    store
        .set_limits(&agent.agent.id, &agent.agent.limits, &limits)
        .await
        .unwrap();
    let periods = bollard::limits::budget_periods(&limits, now);
    store
        .settle_credits(&agent.agent.id, &periods, 0, 1000, None)
        .await
        .unwrap();
    let out = check(r#"{"email": "a@acme.com"}"#).await;
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["decision"], "allowed", "{v}");
    assert!(
        v["sentence"]
            .as_str()
            .unwrap()
            .ends_with("It could use up to 1 of the 2 credits left today."),
        "{v}"
    );
    // Nothing was reserved by either dry run.
    let usage = store.budget_usage(&agent.agent.id, &periods).await.unwrap();
    assert!(
        usage
            .iter()
            .all(|u| u.reserved_milli == 0 && u.spent_milli == 1000),
        "{usage:?}"
    );
    // The day's budget used up: refused with the numbers, as a call would be.
    store
        .settle_credits(&agent.agent.id, &periods, 0, 2000, None)
        .await
        .unwrap();
    let out = check(r#"{"email": "a@acme.com"}"#).await;
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["decision"], "denied", "{v}");
    assert!(
        v["reason"]
            .as_str()
            .unwrap()
            .contains("only 0 of its 3 daily credits are left"),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_logs_name_the_action_and_request_never_arguments_or_urls() {
    let sandbox = Sandbox::spawn(SandboxConfig::new(7), SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let served = Served::start(&sandbox, &["deals=read", "people=read"], "debug").await;
    let client = reqwest::Client::new();
    let get = format!(
        "{}/api/v1/opportunities/search?q_opportunity_name=jane.doe%40acme.com&per_page=5",
        served.base
    );
    let mut request_ids = Vec::new();
    // Apollo drops the connection, then answers 502, then answers: every failure path.
    sandbox.faults().drop_next(1);
    for _ in 0..3 {
        let r = client
            .get(&get)
            .header("x-api-key", &served.key)
            .send()
            .await
            .unwrap();
        request_ids.extend(
            r.headers()
                .get("x-bollard-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        );
        sandbox.faults().fail_next(1, 502);
    }
    let _ = client
        .post(format!("{}/api/v1/mixed_people/api_search", served.base))
        .header("x-api-key", &served.key)
        .json(&json!({"q_keywords": "bob@example.org +1 415 555 0100"}))
        .send()
        .await
        .unwrap();
    let logs = served.stop_and_logs().await;
    assert!(logs.contains("Apollo call failed"), "{logs}");
    assert!(logs.contains("deals.list"), "the action is named: {logs}");
    for id in &request_ids {
        assert!(logs.contains(id.as_str()), "request id {id} is in the log");
    }
    for clear in [
        "jane.doe",
        "acme.com",
        "q_opportunity_name",
        "per_page=",
        "opportunities/search?",
        "bob@example.org",
        "555 0100",
    ] {
        assert!(
            !logs.contains(clear),
            "'{clear}' is in the server log: {logs}"
        );
    }
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_only_json_lines_and_plain_logs_carry_no_colour_codes() {
    let sandbox = Sandbox::spawn(SandboxConfig::new(8), SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    for format in ["json", "pretty"] {
        let served = Served::start_with(
            &sandbox,
            &["people=read"],
            "info",
            &["--log-format", format],
        )
        .await;
        let answer = reqwest::Client::new()
            .post(format!("{}/api/v1/mixed_people/api_search", served.base))
            .header("x-api-key", &served.key)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 200);
        let out = terminate(served.child).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains('\u{1b}'),
            "{format}: colour codes in a pipe: {stderr}"
        );
        assert!(
            stderr.contains("Stopped; the audit log is flushed."),
            "{format}: {stderr}"
        );
        if format == "json" {
            for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
                assert!(
                    serde_json::from_str::<Value>(line).is_ok(),
                    "not a JSON line: {line}"
                );
            }
        }
    }
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
