//! `bollard doctor` through the real binary against the sandbox: one sentence a check, and
//! exit 1 when any fails.

use std::net::SocketAddr;
use std::process::Output;

use apollo_sandbox::{Sandbox, SandboxConfig};

use crate::cli::Bin;

async fn sandbox() -> Sandbox {
    Sandbox::spawn(
        SandboxConfig::new(11),
        SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await
    .expect("sandbox starts")
}

async fn doctor(bin: &Bin, sandbox: &Sandbox, key: &str, env: &[(&str, &str)]) -> Output {
    let mut c = bin.command();
    c.args(["doctor"])
        .env("APOLLO_API_KEY", key)
        .env("APOLLO_BASE_URL", sandbox.base_url())
        .env("BOLLARD_LISTEN", "127.0.0.1:0")
        .env("BOLLARD_ADMIN_LISTEN", "127.0.0.1:0")
        .env(
            "BOLLARD_WEBHOOK_PREFIXES",
            "https://hooks.example.com/apollo/",
        );
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().await.expect("bollard doctor runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test]
async fn a_good_setup_passes_every_check_with_a_sentence_each() {
    let sandbox = sandbox().await;
    let bin = Bin::new();
    bin.ok(&["agent", "create", "Sales Agent"]).await;
    let out = doctor(&bin, &sandbox, sandbox.master_key(), &[]).await;
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    for expected in [
        "ok    The configuration",
        "migrations are current.",
        "accepts the key.",
        "The Apollo key is a master key, as configured",
        "The agent listener can listen on 127.0.0.1:0.",
        "The admin listener can listen on 127.0.0.1:0.",
        "A webhook_url must start with https://hooks.example.com/apollo/.",
    ] {
        assert!(t.contains(expected), "missing '{expected}' in:\n{t}");
    }
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        7,
        "{t}"
    );
    let asked: Vec<String> = sandbox.journal().iter().map(|e| e.path.clone()).collect();
    assert!(asked.contains(&"/v1/auth/health".to_owned()), "{asked:?}");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn tells_a_scoped_key_from_a_master_key() {
    let sandbox = sandbox().await;
    let bin = Bin::new();
    let out = doctor(&bin, &sandbox, sandbox.scoped_key(), &[]).await;
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains(
            "FAIL  The Apollo key is a scoped key, but Bollard is configured for a master key"
        ),
        "{t}"
    );
    let out = doctor(
        &bin,
        &sandbox,
        sandbox.scoped_key(),
        &[("APOLLO_KEY_KIND", "scoped")],
    )
    .await;
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("The Apollo key is a scoped key, as configured"),
        "{t}"
    );
    assert!(
        t.contains("does not exist yet"),
        "doctor creates nothing: {t}"
    );
    assert!(!bin.dir.path().join("cli.db").exists());
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_wrong_key_a_taken_port_and_no_key_fail() {
    let sandbox = sandbox().await;
    let bin = Bin::new();
    let out = doctor(&bin, &sandbox, "not-the-key", &[]).await;
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("does not accept the key"), "{t}");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let addr = taken.local_addr().expect("addr").to_string();
    let out = doctor(
        &bin,
        &sandbox,
        sandbox.master_key(),
        &[("BOLLARD_LISTEN", &addr)],
    )
    .await;
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains(&format!("FAIL  The agent listener cannot listen on {addr}")),
        "{t}"
    );

    let out = bin.run(&["doctor"]).await;
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("FAIL  No Apollo key"), "{t}");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_config_file_with_a_wrong_type_names_the_key_and_the_line() {
    let sandbox = sandbox().await;
    let bin = Bin::new();
    std::fs::write(
        bin.dir.path().join("bollard.toml"),
        "listen = \"127.0.0.1:0\"\n\n[apollo]\ntimeout_seconds = \"thirty\"\n",
    )
    .expect("config");
    let out = doctor(&bin, &sandbox, sandbox.master_key(), &[]).await;
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("line 4"), "{t}");
    assert!(t.contains("apollo.timeout_seconds"), "{t}");
    sandbox.shutdown().await;
}

/// Found in review: a PostgreSQL URL with its scheme mistyped was printed whole, password and
/// all, in the failing database check (only a correctly spelt `postgres://` was masked).
#[tokio::test]
async fn a_database_url_is_never_shown_with_its_password_however_it_is_spelt() {
    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    let bin = Bin::new();
    for (url, json) in [
        ("postgre://u:s3cretpw@127.0.0.1:9/db", false),
        ("postgre://u:s3cretpw@127.0.0.1:9/db", true),
        ("pg://u:s3cretpw@127.0.0.1:9/db", false),
        ("postgres:/u:s3cretpw@127.0.0.1:9/db", false),
        (" postgres://u:s3cretpw@127.0.0.1:9/db", false),
        ("POSTGRES://u:s3cretpw@127.0.0.1:9/db", false),
    ] {
        let mut c = bin.command();
        c.args(["doctor"]);
        if json {
            c.arg("--json");
        }
        let out = c
            .env("BOLLARD_DATABASE_URL", url)
            .env("APOLLO_BASE_URL", &base)
            .env("APOLLO_API_KEY", sandbox.master_key())
            .output()
            .await
            .expect("bollard doctor runs");
        let t = text(&out);
        assert_eq!(out.status.code(), Some(1), "{url}: {t}");
        assert!(!t.contains("s3cretpw"), "{url} (json: {json}): {t}");
    }
    sandbox.shutdown().await;
}
