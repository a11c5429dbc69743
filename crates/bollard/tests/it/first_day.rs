//! What a new operator's mistakes meet, through the real binary (found in a review of the
//! command line as a new user types it): a mistyped database path, a path in a missing
//! directory, `sqlite:` with no path, two listeners on one port, the next page of a filtered
//! `bollard audit`, keys for an expired agent, and a key printed where nobody can read it.

use std::process::{Output, Stdio};

use serde_json::Value;

use crate::cli::Bin;

/// Runs the binary with `env` set besides the database.
async fn with_env(bin: &Bin, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = bin.command();
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().await.expect("bollard runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A command on a SQLite path with no database refuses, names the path and makes nothing;
/// `agent create` and `admin-key create`, the README's first steps, make it.
#[tokio::test]
async fn a_command_on_a_mistyped_path_makes_no_database() {
    let bin = Bin::new();
    let file = bin.dir.path().join("cli.db");
    for args in [
        &["audit", "verify"][..],
        &["audit"],
        &["audit", "export"],
        &["agent", "list"],
        &["agent", "show", "Sales Agent"],
        &["grant", "Sales Agent", "people=read"],
        &["limit", "Sales Agent", "--per-minute", "5"],
        &["usage"],
        &["approvals", "list"],
        &["admin-key", "list"],
        &[
            "check",
            "Sales Agent",
            "POST",
            "/api/v1/mixed_people/api_search",
        ],
    ] {
        let out = bin.run(args).await;
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains(&format!("there is no database at {}", file.display())),
            "{args:?}: {err}"
        );
        assert!(err.contains("check the path"), "{args:?}: {err}");
        assert!(!file.exists(), "{args:?} made {}", file.display());
    }
    bin.ok(&["agent", "create", "Sales Agent"]).await;
    assert!(file.exists());
    let verified = bin.ok(&["audit", "verify"]).await;
    assert!(verified.contains("intact"), "{verified}");
    let other = Bin::new();
    other.ok(&["admin-key", "create", "--name", "Dana"]).await;
    assert!(other.dir.path().join("cli.db").exists());
}

/// `sqlite:` with no path opened a private temporary database, deleted on close: an audit
/// log that vanishes. A path in a directory that does not exist failed with SQLite's
/// "unable to open database file", and `doctor` said the first command would create it.
#[tokio::test]
async fn a_database_url_that_cannot_hold_a_database_is_refused_by_name() {
    let bin = Bin::new();
    for url in ["sqlite:", "sqlite://", "sqlite://?synchronous=normal"] {
        let out = with_env(
            &bin,
            &["agent", "create", "Sales Agent"],
            &[("BOLLARD_DATABASE_URL", url)],
        )
        .await;
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{url}: {err}");
        assert!(
            err.contains("the database URL is not understood"),
            "{url}: {err}"
        );
        let doctor = with_env(
            &bin,
            &["doctor", "--skip-listeners", "--json"],
            &[("BOLLARD_DATABASE_URL", url)],
        )
        .await;
        let checks: Value = serde_json::from_slice(&doctor.stdout).unwrap();
        let db = checks
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == "database")
            .unwrap();
        assert_eq!(db["status"], "fail", "{url}: {checks}");
    }

    let missing = bin.dir.path().join("no-such-dir");
    let url = format!("sqlite://{}/bollard.db", missing.display());
    let out = with_env(
        &bin,
        &["agent", "create", "Sales Agent"],
        &[("BOLLARD_DATABASE_URL", &url)],
    )
    .await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "the directory {} does not exist",
            missing.display()
        )),
        "{err}"
    );
    let doctor = with_env(
        &bin,
        &["doctor", "--skip-listeners"],
        &[("BOLLARD_DATABASE_URL", &url)],
    )
    .await;
    let said = String::from_utf8_lossy(&doctor.stdout);
    assert_eq!(doctor.status.code(), Some(1), "{said}");
    assert!(
        said.contains(&format!(
            "FAIL  The database {}/bollard.db cannot be created: the directory {} does not exist.",
            missing.display(),
            missing.display()
        )),
        "{said}"
    );
    assert!(!missing.exists());
}

/// Both listeners on one port could never start; `doctor` passed each alone and `serve`
/// failed on the second bind. Now the configuration says so, for `doctor`, `serve` and `demo`.
#[tokio::test]
async fn two_listeners_on_one_port_are_a_configuration_problem() {
    let bin = Bin::new();
    bin.ok(&["agent", "create", "Sales Agent"]).await;
    let doctor = with_env(
        &bin,
        &["doctor"],
        &[
            ("BOLLARD_LISTEN", "127.0.0.1:18080"),
            ("BOLLARD_ADMIN_LISTEN", "0.0.0.0:18080"),
        ],
    )
    .await;
    let said = String::from_utf8_lossy(&doctor.stdout);
    assert_eq!(doctor.status.code(), Some(1), "{said}");
    assert!(
        said.contains(
            "listen (127.0.0.1:18080) and admin_listen (0.0.0.0:18080) take the same port"
        ),
        "{said}"
    );
    let serve = with_env(
        &bin,
        &[
            "serve",
            "--listen",
            "127.0.0.1:18080",
            "--admin-listen",
            "127.0.0.1:18080",
        ],
        &[("APOLLO_API_KEY", "k")],
    )
    .await;
    assert_eq!(serve.status.code(), Some(1));
    assert!(
        stderr(&serve).contains("take the same port"),
        "{}",
        stderr(&serve)
    );
    let demo = bin
        .run(&[
            "demo",
            "--listen",
            "127.0.0.1:18080",
            "--admin-listen",
            "127.0.0.1:18080",
        ])
        .await;
    assert_eq!(demo.status.code(), Some(1));
    assert!(
        stderr(&demo).contains("each listener needs its own"),
        "{}",
        stderr(&demo)
    );
    // The demo has its own database: one given to it was quietly ignored.
    let demo = bin
        .run(&["demo", "--database-url", "sqlite://mine.db"])
        .await;
    assert_eq!(demo.status.code(), Some(1));
    assert!(
        stderr(&demo).contains("takes no --config or --database-url"),
        "{}",
        stderr(&demo)
    );
}

/// The "More:" line of a filtered page dropped the filters, so the next page listed
/// everything. It now repeats them (a duration as the time it meant) and runs as printed.
#[tokio::test]
async fn the_next_page_of_a_filtered_audit_keeps_its_filters() {
    let bin = Bin::new();
    bin.ok(&["agent", "create", "Sales Agent"]).await;
    bin.ok(&["agent", "create", "Other"]).await;
    for cap in ["people", "companies", "contacts", "accounts", "deals"] {
        bin.ok(&["grant", "Sales Agent", &format!("{cap}=read")])
            .await;
        bin.ok(&["grant", "Other", &format!("{cap}=read")]).await;
    }
    let first = bin
        .ok(&[
            "audit",
            "--kind",
            "admin",
            "--agent",
            "Sales Agent",
            "--since",
            "1h",
            "--limit",
            "2",
        ])
        .await;
    let more = first
        .lines()
        .find_map(|l| l.strip_prefix("More: "))
        .unwrap_or_else(|| panic!("no More line: {first}"));
    let words = shlex::split(more).unwrap();
    assert_eq!(words[0], "bollard", "{more}");
    for expected in [
        "--kind admin",
        "--agent 'Sales Agent'",
        "--limit 2",
        "--cursor ",
        "--since 20",
    ] {
        assert!(more.contains(expected), "{expected}: {more}");
    }
    let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
    let second = bin.ok(&args).await;
    let entries: Vec<&str> = second.lines().filter(|l| l.starts_with("20")).collect();
    assert_eq!(entries.len(), 2, "{second}");
    for line in entries {
        assert!(line.contains("Sales Agent"), "{line}");
        assert!(!line.contains("Other"), "{line}");
        assert!(!first.contains(line), "the same page twice: {line}");
    }
}

/// A key or connect link made for an agent past its expiry would not work, and the admin
/// learnt so only from the agent's 401. They are refused with the remedy, which `agent
/// update` (new) gives: an expiry moved or removed from the command line.
#[tokio::test]
async fn an_expired_agent_gets_no_key_until_its_expiry_is_moved() {
    let bin = Bin::new();
    bin.ok(&["agent", "create", "Sales Agent", "--expires-in", "1s"])
        .await;
    std::fs::write(
        bin.dir.path().join("bollard.toml"),
        "public_url = \"https://bollard.example.com\"\n",
    )
    .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    for args in [
        &["agent", "rotate-key", "Sales Agent"][..],
        &["connect-link", "Sales Agent"],
    ] {
        let out = bin.run(args).await;
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("Sales Agent expired on "), "{args:?}: {err}");
        assert!(
            err.contains("move its expiry first: `bollard agent update agt_"),
            "{args:?}: {err}"
        );
        assert!(!String::from_utf8_lossy(&out.stdout).contains("bol_"));
    }
    let none = bin.run(&["agent", "update", "Sales Agent"]).await;
    assert_eq!(none.status.code(), Some(2), "{}", stderr(&none));
    let moved = bin
        .ok(&["agent", "update", "Sales Agent", "--expires-in", "30d"])
        .await;
    assert!(moved.contains("active, expires"), "{moved}");
    let rotated = bin.ok(&["agent", "rotate-key", "Sales Agent"]).await;
    assert!(rotated.contains("bol_"), "{rotated}");
    let a = bin
        .json(&[
            "agent",
            "update",
            "Sales Agent",
            "--no-expiry",
            "--name",
            "Field Agent",
            "--description",
            "Finds people.",
            "--json",
        ])
        .await;
    assert_eq!(a["expires_at"], Value::Null, "{a}");
    assert_eq!(a["name"], "Field Agent", "{a}");
    assert_eq!(a["description"], "Finds people.", "{a}");
    let log = bin.ok(&["audit", "--kind", "admin"]).await;
    assert!(log.contains("set Sales Agent to expire at "), "{log}");
    assert!(
        log.contains("renamed the agent Sales Agent to Field Agent"),
        "{log}"
    );
    let clash = bin
        .run(&[
            "agent",
            "update",
            "Field Agent",
            "--expires-in",
            "2d",
            "--no-expiry",
        ])
        .await;
    assert_eq!(clash.status.code(), Some(2), "{}", stderr(&clash));
}

/// A key shown once into /dev/null, or with standard output closed before the command
/// started (`>&-`, which Rust's runtime points at /dev/null), was lost with exit 0. The
/// command now refuses before making anything.
#[tokio::test]
async fn a_key_is_not_made_where_nobody_can_read_it() {
    let bin = Bin::new();
    bin.ok(&["agent", "create", "Kept"]).await;
    let prefix = |v: &Value| v[0]["key_prefix"].as_str().unwrap_or_default().to_owned();
    let before = prefix(&bin.json(&["agent", "list", "--json"]).await);
    let exe = env!("CARGO_BIN_EXE_bollard");
    for (how, args) in [
        ("null", &["agent", "create", "Lost"][..]),
        ("null", &["agent", "rotate-key", "Kept"]),
        ("null", &["admin-key", "create", "--name", "Dana"]),
        ("closed", &["agent", "create", "Lost"]),
        ("closed", &["agent", "rotate-key", "Kept", "--json"]),
    ] {
        let out = if how == "null" {
            // Not `output()`: tokio's sets standard output to a pipe whatever was asked.
            bin.command()
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
                .wait_with_output()
                .await
                .unwrap()
        } else {
            tokio::process::Command::new("sh")
                .args(["-c", r#"exec "$0" "$@" >&-"#, exe])
                .args(args)
                .env("BOLLARD_DATABASE_URL", &bin.url)
                .current_dir(bin.dir.path())
                .output()
                .await
                .unwrap()
        };
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{how} {args:?}: {err}");
        assert!(
            err.contains("standard output is /dev/null or closed")
                && err.contains("nothing was changed"),
            "{how} {args:?}: {err}"
        );
    }
    let agents = bin.json(&["agent", "list", "--json"]).await;
    assert_eq!(agents.as_array().map(Vec::len), Some(1), "{agents}");
    assert_eq!(prefix(&agents), before, "the key was rotated: {agents}");
    let keys = bin.json(&["admin-key", "list", "--json"]).await;
    assert_eq!(keys.as_array().map(Vec::len), Some(0), "{keys}");
}

/// A rule that reads one way and compiles another ("Trojan Source": a direction override that
/// turns `unless` around on screen, a zero-width character inside a string) is refused; line
/// breaks and tabs are how rules are written.
#[tokio::test]
async fn a_rule_with_an_invisible_or_direction_changing_character_is_refused() {
    let bin = Bin::new();
    bin.ok(&["agent", "create", "Sales Agent"]).await;
    for (n, cedar) in [
        "forbid (principal, action, resource)\nunless { context.sequence_id == \"q4\u{202E}\" };",
        "forbid (principal, action, resource)\nunless { context.sequence_id == \"q4\u{200B}\" };",
        "forbid (principal, action, resource)\n// allow everything\rpermit (principal, action, resource);",
    ]
    .iter()
    .enumerate()
    {
        let file = bin.dir.path().join(format!("trojan{n}.cedar"));
        std::fs::write(&file, cedar).unwrap();
        let out = bin
            .run(&[
                "rule",
                "add",
                "Sales Agent",
                "--name",
                "q4",
                "--cedar",
                &file.display().to_string(),
            ])
            .await;
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains("invisible or direction-changing character") && err.contains("on line 2"),
            "{err}"
        );
    }
    bin.add_rule(
        "Sales Agent",
        "q4",
        "forbid (principal, action, resource)\n\tunless { context.sequence_id == \"Zoë's q4\" };\r\n",
    )
    .await;
}
