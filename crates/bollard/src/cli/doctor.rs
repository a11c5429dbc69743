//! `bollard doctor`: checks what a first `serve` depends on, one sentence a check, and
//! exits 1 if any fails. It reads and asks; it never creates, migrates or changes anything.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use serde::Serialize;
use serde_json::Value;

use super::{Cli, CliResult, Failure, load_config, outln};
use crate::admin::error::sentence;
use crate::config::{ApolloKeyKind, Config, Overrides};
use crate::store::{self, SchemaStatus, StoreError};
use crate::upstream::{Outgoing, Upstream};

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Skip the listener check, e.g. on a machine where the gateway is already serving
    /// under another user.
    #[arg(long)]
    pub skip_listeners: bool,
    /// Print JSON, for programs.
    #[arg(long)]
    pub json: bool,
}

/// How one check came out. Only `Fail` makes the exit code 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub check: &'static str,
    pub status: Status,
    pub sentence: String,
}

fn check(check: &'static str, status: Status, sentence: impl Into<String>) -> Check {
    Check {
        check,
        status,
        sentence: sentence.into(),
    }
}

pub async fn doctor(cli: &Cli, a: &DoctorArgs) -> CliResult {
    let mut checks = Vec::new();
    match load_config(cli, Overrides::default()) {
        Ok(config) => {
            checks.push(check(
                "configuration",
                Status::Ok,
                match &cli.config {
                    Some(p) => format!("The configuration in {} is valid.", p.display()),
                    None => "The configuration (bollard.toml if present, the environment and flags) is valid.".to_owned(),
                },
            ));
            checks.push(database(&config.database_url).await);
            checks.extend(apollo(&config).await);
            if !a.skip_listeners {
                checks.push(listener("agent listener", config.listen).await);
                checks.push(listener("admin listener", config.admin_listen).await);
            }
            checks.push(webhooks(&config));
        }
        Err(Failure::Message(m)) => {
            checks.push(check("configuration", Status::Fail, m));
        }
        Err(Failure::StdoutClosed) => return Err(Failure::StdoutClosed),
    }
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&checks)?);
    } else {
        for c in &checks {
            let mark = match c.status {
                Status::Ok => "ok  ",
                Status::Warn => "warn",
                Status::Fail => "FAIL",
            };
            outln!("{mark}  {}", c.sentence);
        }
    }
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    match failed {
        0 => Ok(()),
        n => Err(Failure::Message(format!(
            "{n} check{} failed",
            if n == 1 { "" } else { "s" }
        ))),
    }
}

/// The database URL as it may be printed: no query (it may hold a password) and, unless it
/// is SQLite's, nothing before an `@`. Any scheme, not only a correctly spelt `postgres://`:
/// `postgre://user:password@host` is the URL of someone who typed a password into it (found
/// in review: it was printed whole).
fn shown_url(url: &str) -> String {
    let url = url.split('?').next().unwrap_or(url);
    if url.trim_start().to_ascii_lowercase().starts_with("sqlite:") {
        return url.to_owned();
    }
    match url.rsplit_once('@') {
        Some((before, host)) => {
            let scheme = before.split_once(':').map_or("", |(scheme, _)| scheme);
            format!("{scheme}://{host}")
        }
        None => url.to_owned(),
    }
}

async fn database(url: &str) -> Check {
    let shown = shown_url(url);
    match store::schema_status(url).await {
        Err(StoreError::Missing(why)) => check("database", Status::Fail, sentence(why)),
        Err(e) => check(
            "database",
            Status::Fail,
            format!("The database {shown} cannot be read: {e}."),
        ),
        Ok(SchemaStatus { exists: false, .. }) => check(
            "database",
            Status::Ok,
            format!(
                "The database {shown} does not exist yet; `bollard serve` or `bollard agent create` creates it."
            ),
        ),
        Ok(s) if !s.unknown.is_empty() => check(
            "database",
            Status::Fail,
            format!(
                "The database {shown} has migrations this bollard does not know ({}): a newer Bollard migrated it, so run that version.",
                s.unknown
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        Ok(s) if !s.pending.is_empty() => check(
            "database",
            Status::Warn,
            format!(
                "The database {shown} is reachable and lacks {} migration{} ({}); `bollard serve` applies them when it starts.",
                s.pending.len(),
                if s.pending.len() == 1 { "" } else { "s" },
                s.pending.join(", ")
            ),
        ),
        Ok(s) => check(
            "database",
            Status::Ok,
            format!(
                "The database {shown} is reachable and its {} migrations are current.",
                s.applied
            ),
        ),
    }
}

/// The key against Apollo's `auth/health`, then its kind by what `api_usage_stats` (a
/// master-only endpoint) answers: 200 for a master key, 403 `API_INACCESSIBLE` for a scoped one.
async fn apollo(config: &Config) -> Vec<Check> {
    let base = &config.apollo.base_url;
    if config.apollo.api_key.is_none() {
        return vec![check(
            "apollo key",
            Status::Fail,
            "No Apollo key: set APOLLO_API_KEY or APOLLO_API_KEY_FILE (or [apollo] api_key_file) to the team's key.",
        )];
    }
    let mut apollo_config = config.apollo.clone();
    apollo_config.timeout = apollo_config.timeout.min(Duration::from_secs(10));
    let upstream = match Upstream::new(&apollo_config) {
        Ok(u) => u,
        Err(e) => {
            return vec![check(
                "apollo key",
                Status::Fail,
                format!("Bollard cannot build its HTTP client for Apollo: {e}."),
            )];
        }
    };
    let health = upstream
        .send(Outgoing {
            method: "GET",
            path: "/v1/auth/health",
            query: None,
            json_body: None,
        })
        .await;
    let key = match health {
        Err(e) => check(
            "apollo key",
            Status::Fail,
            format!("Apollo at {base} did not answer the key check: {e}"),
        ),
        Ok(ans) => {
            let body: Value = serde_json::from_slice(&ans.body).unwrap_or(Value::Null);
            match (
                ans.status,
                body.get("is_logged_in").and_then(Value::as_bool),
            ) {
                (200, Some(true)) => check(
                    "apollo key",
                    Status::Ok,
                    format!("Apollo at {base} accepts the key."),
                ),
                (200, Some(false)) | (401, _) => check(
                    "apollo key",
                    Status::Fail,
                    format!(
                        "Apollo at {base} does not accept the key: check that APOLLO_API_KEY holds all of the team's key, and that the key is not deleted."
                    ),
                ),
                (status, _) => check(
                    "apollo key",
                    Status::Fail,
                    format!(
                        "Apollo at {base} answered {status} to the key check (GET /v1/auth/health), not whether the key is good."
                    ),
                ),
            }
        }
    };
    if key.status == Status::Fail {
        return vec![key];
    }
    let stats = upstream
        .send(Outgoing {
            method: "POST",
            path: "/api/v1/usage_stats/api_usage_stats",
            query: None,
            json_body: Some(b"{}".to_vec()),
        })
        .await;
    let found = match &stats {
        Ok(ans) if ans.status == 200 => Some(ApolloKeyKind::Master),
        Ok(ans) if ans.status == 403 => {
            let body: Value = serde_json::from_slice(&ans.body).unwrap_or(Value::Null);
            (body.get("error_code").and_then(Value::as_str) == Some("API_INACCESSIBLE"))
                .then_some(ApolloKeyKind::Scoped)
        }
        _ => None,
    };
    let kind = match (found, config.apollo.key_kind) {
        (Some(ApolloKeyKind::Master), ApolloKeyKind::Master) => check(
            "apollo key kind",
            Status::Ok,
            "The Apollo key is a master key, as configured: every action in the catalog can reach Apollo.",
        ),
        (Some(ApolloKeyKind::Scoped), ApolloKeyKind::Scoped) => check(
            "apollo key kind",
            Status::Ok,
            "The Apollo key is a scoped key, as configured: Bollard refuses master-only actions (sequences, tasks, deals, users) itself.",
        ),
        (Some(ApolloKeyKind::Scoped), ApolloKeyKind::Master) => check(
            "apollo key kind",
            Status::Fail,
            "The Apollo key is a scoped key, but Bollard is configured for a master key: set APOLLO_KEY_KIND=scoped (or [apollo] key_kind = \"scoped\"), or agents granted master-only actions get Apollo's 403.",
        ),
        (Some(ApolloKeyKind::Master), ApolloKeyKind::Scoped) => check(
            "apollo key kind",
            Status::Warn,
            "The Apollo key is a master key, but Bollard is configured for a scoped one, so it refuses master-only actions itself; set APOLLO_KEY_KIND=master to allow them.",
        ),
        (None, _) => check(
            "apollo key kind",
            Status::Warn,
            match &stats {
                Ok(ans) => format!(
                    "Apollo answered {} to api_usage_stats, so whether the key is a master or a scoped key is unknown.",
                    ans.status
                ),
                Err(e) => format!("Whether the key is a master or a scoped key is unknown: {e}"),
            },
        ),
    };
    vec![key, kind]
}

async fn listener(what: &'static str, addr: SocketAddr) -> Check {
    match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => {
            drop(l);
            check(
                what,
                Status::Ok,
                format!("The {what} can listen on {addr}."),
            )
        }
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && serving(addr).await => check(
            what,
            Status::Ok,
            format!(
                "The {what} address {addr} is in use by a running Bollard (its /healthz answers)."
            ),
        ),
        Err(e) => check(
            what,
            Status::Fail,
            format!("The {what} cannot listen on {addr}: {e}."),
        ),
    }
}

/// Whether a Bollard already serves at `addr`: both listeners answer `/healthz` with "ok".
async fn serving(addr: SocketAddr) -> bool {
    let Ok(client) = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
    else {
        return false;
    };
    match client.get(format!("http://{addr}/healthz")).send().await {
        Ok(r) if r.status().is_success() => r.text().await.is_ok_and(|t| t.trim() == "ok"),
        _ => false,
    }
}

fn webhooks(config: &Config) -> Check {
    let prefixes = &config.webhook_prefixes;
    if prefixes.is_empty() {
        return check(
            "webhook prefixes",
            Status::Warn,
            "No webhook prefixes: phone reveals (Apollo sends the numbers to a webhook_url) are refused; set BOLLARD_WEBHOOK_PREFIXES or webhook_prefixes to allow your receivers.",
        );
    }
    let clear: Vec<&str> = prefixes
        .iter()
        .filter(|p| p.starts_with("http://") && !loopback(p))
        .map(String::as_str)
        .collect();
    if clear.is_empty() {
        check(
            "webhook prefixes",
            Status::Ok,
            format!("A webhook_url must start with {}.", prefixes.join(" or ")),
        )
    } else {
        check(
            "webhook prefixes",
            Status::Warn,
            format!(
                "A webhook_url must start with {}; {} would carry phone numbers unencrypted (use https).",
                prefixes.join(" or "),
                clear.join(" and ")
            ),
        )
    }
}

/// Plain HTTP to this machine never crosses a network.
fn loopback(prefix: &str) -> bool {
    [
        "http://127.",
        "http://localhost/",
        "http://localhost:",
        "http://[::1]",
    ]
    .iter()
    .any(|p| prefix.starts_with(p))
}
