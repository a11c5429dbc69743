//! The command line through the real binary, as an operator types it: `limit`, `grant` with
//! the console's words, summaries that read rules, admin keys, and output into a closed pipe.

use std::process::{Output, Stdio};

use serde_json::Value;

/// A fresh SQLite database and the binary pointed at it.
pub struct Bin {
    pub url: String,
    pub dir: tempfile::TempDir,
}

impl Bin {
    pub fn new() -> Bin {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("cli.db").display());
        Bin { url, dir }
    }

    pub fn command(&self) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_bollard"));
        c.env("BOLLARD_DATABASE_URL", &self.url)
            .env_remove("APOLLO_API_KEY")
            .env_remove("APOLLO_API_KEY_FILE")
            .current_dir(self.dir.path())
            .kill_on_drop(true);
        c
    }

    pub async fn run(&self, args: &[&str]) -> Output {
        self.command()
            .args(args)
            .output()
            .await
            .expect("bollard runs")
    }

    /// Runs and expects success; returns stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(
            out.status.success(),
            "bollard {args:?} failed ({:?}): {}{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `bollard rule add AGENT --name NAME --cedar FILE`, with `cedar` written to FILE.
    pub async fn add_rule(&self, agent: &str, name: &str, cedar: &str) -> String {
        let file = format!("{name}.cedar");
        std::fs::write(self.dir.path().join(&file), cedar).expect("rule file");
        self.ok(&["rule", "add", agent, "--name", name, "--cedar", &file])
            .await
    }

    pub async fn json(&self, args: &[&str]) -> Value {
        let text = self.ok(args).await;
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
    }
}

#[tokio::test]
async fn limit_sets_every_flag_and_none_clears_it() {
    let bin = Bin::new();
    bin.ok(&["agent", "create", "Sales Agent"]).await;
    let set = bin
        .json(&[
            "limit",
            "Sales Agent",
            "--per-minute",
            "60",
            "--per-hour",
            "600",
            "--per-day",
            "5000",
            "--credits-per-day",
            "50",
            "--credits-per-month",
            "900",
            "--team-share",
            "40",
            "--json",
        ])
        .await;
    assert_eq!(set["per_minute"], 60, "{set}");
    assert_eq!(set["per_hour"], 600);
    assert_eq!(set["per_day"], 5000);
    assert_eq!(set["credits_per_day"], 50);
    assert_eq!(set["credits_per_month"], 900);
    assert_eq!(set["team_share_percent"], 40);

    let cleared = bin
        .json(&[
            "limit",
            "Sales Agent",
            "--credits-per-day",
            "none",
            "--json",
        ])
        .await;
    assert_eq!(cleared["credits_per_day"], Value::Null, "{cleared}");
    assert_eq!(
        cleared["credits_per_month"], 900,
        "other flags keep their value"
    );

    let per_action = bin
        .json(&[
            "limit",
            "Sales Agent",
            "--action",
            "people.enrich",
            "--per-hour",
            "20",
            "--json",
        ])
        .await;
    assert_eq!(per_action["per_minute"], 60, "{per_action}");

    let text = bin
        .ok(&["limit", "Sales Agent", "--credits-per-day", "50"])
        .await;
    assert!(text.contains("credits: 50 a day, 900 a month"), "{text}");
}

#[tokio::test]
async fn limit_refuses_a_bad_value_as_a_usage_error() {
    let bin = Bin::new();
    bin.ok(&["agent", "create", "Sales Agent"]).await;
    let out = bin
        .run(&["limit", "Sales Agent", "--credits-per-day", "fifty"])
        .await;
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("'fifty' is not a whole number"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let out = bin
        .run(&["limit", "Sales Agent", "--team-share", "150"])
        .await;
    assert_eq!(out.status.code(), Some(1));
    let help = bin.ok(&["limit", "--help"]).await;
    assert!(help.contains("'none' removes the budget"), "{help}");
}

/// The runtime's size: `TOKIO_WORKER_THREADS` is honoured, and a bad value is a usage error
/// that says which setting and what it takes, before anything runs.
#[tokio::test]
async fn the_worker_thread_setting_is_honoured_and_a_bad_one_refused() {
    let bin = Bin::new();
    let out = bin
        .command()
        .env("TOKIO_WORKER_THREADS", "3")
        .args(["agent", "create", "Sales Agent"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    for bad in ["0", "many"] {
        let out = bin
            .command()
            .env("TOKIO_WORKER_THREADS", bad)
            .args(["agent", "list"])
            .output()
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("TOKIO_WORKER_THREADS") && err.contains("at least 1"),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        assert!(out.stdout.is_empty());
    }
}

#[tokio::test]
async fn grant_takes_the_console_labels_for_capabilities() {
    let bin = Bin::new();
    bin.ok(&["agent", "create", "Researcher"]).await;
    let grants = bin
        .json(&[
            "grant",
            "Researcher",
            "companies=read",
            "teammates=full",
            "--json",
        ])
        .await;
    assert_eq!(grants["levels"]["organizations"], "read", "{grants}");
    assert_eq!(grants["levels"]["users"], "full", "{grants}");
    let out = bin.run(&["grant", "Researcher", "firms=read"]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("organizations (or companies)"), "{err}");
}

/// Found in review: nine `grant`s run at once each read the agent, and each wrote what it read
/// plus its own change, so all but the last were lost while the audit log recorded every one;
/// `reveal=off` could lose to a parallel `deals=read` and leave reveal on. Now every change
/// lands, and the limits the same.
#[tokio::test]
async fn grants_and_limits_run_at_once_all_take_effect() {
    let bin = Bin::new();
    bin.ok(&["agent", "create", "G"]).await;
    bin.ok(&["grant", "G", "reveal=full"]).await;
    let words = [
        "people=read",
        "contacts=read",
        "accounts=read",
        "sequences=read",
        "tasks=read",
        "deals=read",
        "users=read",
        "calls=read",
        "reveal=off",
    ];
    let runs: Vec<_> = words
        .iter()
        .map(|w| bin.command().args(["grant", "G", w]).output())
        .collect();
    for (w, out) in words.iter().zip(futures::future::join_all(runs).await) {
        let out = out.expect("bollard runs");
        assert!(
            out.status.success(),
            "grant {w}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let g = bin.json(&["agent", "show", "G", "--json"]).await;
    for w in &words[..8] {
        let (group, level) = w.split_once('=').unwrap();
        assert_eq!(g["agent"]["grants"]["levels"][group], level, "{w}: {g}");
    }
    assert_eq!(
        g["agent"]["grants"]["reveal"], false,
        "reveal=off was lost: {g}"
    );

    let flags = [
        ["--per-minute", "1"],
        ["--per-hour", "2"],
        ["--per-day", "3"],
        ["--credits-per-day", "4"],
        ["--credits-per-month", "5"],
        ["--team-share", "6"],
    ];
    let runs: Vec<_> = flags
        .iter()
        .map(|f| bin.command().args(["limit", "G"]).args(f).output())
        .collect();
    for out in futures::future::join_all(runs).await {
        let out = out.expect("bollard runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let g = bin.json(&["agent", "show", "G", "--json"]).await;
    let l = &g["agent"]["limits"];
    let got = [
        &l["per_minute"],
        &l["per_hour"],
        &l["per_day"],
        &l["credits_per_day"],
        &l["credits_per_month"],
        &l["team_share_percent"],
    ];
    assert_eq!(got.map(|v| v.as_u64()), [1, 2, 3, 4, 5, 6].map(Some), "{g}");
}

/// Found in review: `bollard check` answered ALLOWED for a revoked agent (and for one past its
/// expiry), whose every call the gate refuses.
#[tokio::test]
async fn check_says_a_revoked_agents_call_would_be_refused() {
    let bin = Bin::new();
    bin.ok(&["agent", "create", "Gone"]).await;
    bin.ok(&["grant", "Gone", "people=read"]).await;
    let args = [
        "check",
        "Gone",
        "POST",
        "/api/v1/mixed_people/api_search",
        "--body",
        "{}",
        "--json",
    ];
    assert_eq!(bin.json(&args).await["decision"], "allowed");
    bin.ok(&["agent", "revoke", "Gone"]).await;
    let v = bin.json(&args).await;
    assert_eq!(v["decision"], "denied", "{v}");
    assert_eq!(v["status"], 401, "{v}");
    assert!(
        v["sentence"]
            .as_str()
            .unwrap_or_default()
            .contains("revoked"),
        "{v}"
    );
}

#[tokio::test]
async fn agent_show_counts_what_a_permit_rule_allows() {
    let bin = Bin::new();
    bin.ok(&["agent", "create", "Sales Agent"]).await;
    bin.ok(&["grant", "Sales Agent", "people=read"]).await;
    bin.add_rule(
        "Sales Agent",
        "enrich-companies",
        r#"permit(principal, action == Action::"organizations.enrich", resource);"#,
    )
    .await;
    let shown = bin.ok(&["agent", "show", "Sales Agent"]).await;
    assert!(
        shown.contains(
            "Companies (Off): may enrich a company (the rule 'enrich-companies' permits it); may not search companies, view a company, enrich companies in bulk, list a company's job postings or search news about companies."
        ),
        "{shown}"
    );
    assert!(shown.contains("can use 6 of the 75 actions"), "{shown}");
    let json = bin.json(&["agent", "show", "Sales Agent", "--json"]).await;
    assert!(
        json["summary"].to_string().contains("enrich-companies"),
        "{json}"
    );
}

#[tokio::test]
async fn admin_key_create_prints_json_with_the_key_once() {
    let bin = Bin::new();
    let v = bin
        .json(&["admin-key", "create", "--name", "Dana", "--json"])
        .await;
    assert_eq!(v["admin_key"]["name"], "Dana", "{v}");
    assert!(
        v["key"]
            .as_str()
            .is_some_and(|k| k.starts_with("bol_admin_")),
        "{v}"
    );
    let listed = bin.json(&["admin-key", "list", "--json"]).await;
    assert!(
        !listed
            .to_string()
            .contains(v["key"].as_str().unwrap_or("?"))
    );
}

/// Runs with standard output closed by its reader before anything is written, as
/// `bollard audit | head` leaves it once `head` has its lines.
async fn into_closed_pipe(bin: &Bin, args: &[&str]) -> Output {
    let mut child = bin
        .command()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bollard starts");
    drop(child.stdout.take());
    child.wait_with_output().await.expect("bollard ends")
}

/// Found in review: a key shown once and printed into a closed pipe was lost with exit 0
/// (for `rotate-key`, with the old key already dead). Now the command fails and says what to
/// do; a listing into a closed pipe still ends quietly (below).
#[tokio::test]
async fn a_key_that_could_not_be_printed_fails_the_command_and_says_what_to_do() {
    let bin = Bin::new();
    bin.ok(&["agent", "create", "Kept"]).await;
    for (args, remedy) in [
        (
            &["agent", "create", "Lost"][..],
            "bollard agent rotate-key agt_",
        ),
        (
            &["agent", "create", "Lost too", "--json"],
            "bollard agent rotate-key agt_",
        ),
        (
            &["agent", "rotate-key", "Kept"],
            "bollard agent rotate-key agt_",
        ),
        (
            &["admin-key", "create", "--name", "Dana"],
            "bollard admin-key revoke ",
        ),
    ] {
        let out = into_closed_pipe(&bin, args).await;
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "bollard {args:?}: {err}");
        assert!(err.contains("nobody has"), "{args:?}: {err}");
        assert!(err.contains(remedy), "{args:?}: {err}");
        assert!(
            !err.contains("bol_"),
            "{args:?} shows a key on stderr: {err}"
        );
    }
}

/// Found in review: agent names took zero-width and bidi characters (a second "Sales Agent"
/// that looks the same, a name that turns its audit line around), and admin-key names and
/// descriptions took anything, escape sequences and line breaks included, which then reached
/// the operator's terminal through `admin-key list`, `agent show` and `bollard audit`.
#[tokio::test]
async fn names_and_descriptions_with_hidden_characters_are_refused() {
    let bin = Bin::new();
    bin.ok(&["agent", "create", "Sales Agent"]).await;
    for name in [
        "Sales\u{200B}Agent",
        "Sales Agent\u{200B}",
        "\u{200B}",
        "\u{202E}evil",
        "Dana\u{1b}[2J",
    ] {
        let out = bin.run(&["agent", "create", name]).await;
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name:?}: {err}");
        assert!(err.contains("printable characters"), "{name:?}: {err}");
        let out = bin.run(&["admin-key", "create", "--name", name]).await;
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "admin key {name:?}: {err}");
    }
    let out = bin
        .run(&[
            "agent",
            "create",
            "Described",
            "--description",
            "one\nfake line",
        ])
        .await;
    assert_eq!(out.status.code(), Some(1));
    let out = bin
        .run(&["admin-key", "create", "--name", &"x".repeat(81)])
        .await;
    assert_eq!(out.status.code(), Some(1));
    // What people write still works.
    bin.ok(&[
        "agent",
        "create",
        "Zoë's Agent — EMEA",
        "--description",
        "Outbound, Q4",
    ])
    .await;
    bin.ok(&["admin-key", "create", "--name", "Dana Ölçer"])
        .await;
    let list = bin.ok(&["agent", "list"]).await;
    assert!(list.contains("Zoë's Agent — EMEA"), "{list}");
}

#[tokio::test]
async fn printing_into_a_closed_pipe_ends_quietly() {
    let app = crate::helpers::TestApp::spawn().await;
    let key = app.agent("Sales Agent", &["people=read"]).await;
    for _ in 0..3 {
        app.post(
            "/api/v1/mixed_people/api_search",
            &key,
            serde_json::json!({}),
        )
        .await;
    }
    app.flush_audit().await;
    let bin = Bin {
        url: format!("sqlite://{}", app.db_path.display()),
        dir: tempfile::tempdir().expect("tempdir"),
    };
    for args in [
        &["audit"][..],
        &["audit", "export"],
        &["audit", "verify"],
        &["agent", "list"],
        &["agent", "show", "Sales Agent"],
        &["completions", "bash"],
    ] {
        let out = into_closed_pipe(&bin, args).await;
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "bollard {args:?}: {err}");
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{args:?}: {err}"
        );
    }
    app.stop().await;
}

/// A team key pasted with a line break inside it cannot be sent in a header: `serve` and
/// `doctor` refuse to start on it and say so, without showing the key.
#[tokio::test]
async fn an_apollo_key_no_header_can_carry_stops_serve_and_doctor_without_showing_it() {
    let bin = Bin::new();
    for command in ["serve", "doctor"] {
        // A `serve` that started anyway would run until killed: the timeout says so.
        let run = bin
            .command()
            .env("APOLLO_API_KEY", "sk-live\n123")
            .arg(command)
            .output();
        let out = tokio::time::timeout(std::time::Duration::from_secs(30), run)
            .await
            .unwrap_or_else(|_| panic!("{command} started with the key"))
            .expect("bollard runs");
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{command}: {said}");
        assert!(
            said.contains(
                "the Apollo key in APOLLO_API_KEY holds a character an HTTP header cannot carry"
            ),
            "{command}: {said}"
        );
        assert!(!said.contains("sk-live"), "{command}: {said}");
    }
}
