//! Configuration: a TOML file, overridden by environment variables, overridden by flags,
//! parsed once into typed values. Unknown keys are errors, and every problem is reported at
//! once. The process environment is read only by the caller (the CLI), which passes it in,
//! so tests never touch the real environment.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard_policy::PriceTable;
use serde::Deserialize;

use crate::keys::Secret;

/// Which Apollo key Bollard holds. A scoped key cannot reach master-only endpoints, so
/// Bollard refuses those calls itself, with a sentence, instead of letting Apollo 403.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApolloKeyKind {
    Master,
    Scoped,
}

#[derive(Debug, Clone)]
pub struct ApolloConfig {
    pub api_key: Option<Secret>,
    pub base_url: String,
    pub key_kind: ApolloKeyKind,
    pub timeout: Duration,
    pub connect_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// Keep emails, phones, names and LinkedIn URLs in clear in the audit arguments.
    pub keep_personal_data: bool,
    /// Records waiting for the batch writer; a full queue makes callers wait.
    pub queue_capacity: usize,
    /// The most records one disk write carries.
    pub max_batch: usize,
    /// Signed checkpoints of the log and where they are sent (`audit::sink`).
    pub checkpoints: Option<crate::audit::sink::CheckpointConfig>,
    /// Entries streamed to a file, syslog or HTTP (`audit::export`).
    pub export: Option<crate::audit::export::ExportConfig>,
}

/// Bounds on the agent listener's connections, against clients that hold them open
/// (slowloris) or open too many.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    /// A request's headers must arrive within this time of the connection waiting for them.
    pub header_read_timeout: Duration,
    /// A connection with no request in flight and no bytes either way for this long is closed.
    pub idle_timeout: Duration,
    /// Open connections one source address may hold; more are closed on accept.
    pub max_connections_per_source: usize,
    /// At a stop (SIGTERM, Ctrl-C), how long calls in flight may take to finish before the
    /// listener closes anyway: shorter than a supervisor's grace period (systemd's 90 s,
    /// Kubernetes' 30 s), so Bollard ends on its own terms. A call still waiting on Apollo then
    /// keeps its reservation as spent, settled and recorded by the next start's sweep.
    pub shutdown_deadline: Duration,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            // Generous: several agents behind one NAT address may each run many calls at once;
            // the timeouts above are what stop a slow client from holding these.
            max_connections_per_source: 256,
            shutdown_deadline: Duration::from_secs(20),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub listen: SocketAddr,
    pub admin_listen: SocketAddr,
    pub apollo: ApolloConfig,
    /// `webhook_url` values an agent may send must be under one of these (scheme, host, port
    /// and whole path segments; see `gate::webhook`).
    pub webhook_prefixes: Vec<String>,
    pub body_limit: usize,
    pub audit: AuditConfig,
    pub prices: PriceTable,
    pub agent_listener: ListenerConfig,
    /// `[approvals]`: ask first (`approval.rs`).
    pub approvals: crate::approval::ApprovalsConfig,
    /// Where agents and assistants reach Bollard (`https://bollard.example.com`): the OAuth
    /// issuer and resource. OAuth for hosted assistants is off without it.
    pub public_url: Option<String>,
    pub oauth: crate::oauth::OAuthConfig,
    /// `[webhook_relay]`: Apollo's webhook deliveries come through Bollard when `public_url`
    /// is set (`relay.rs`).
    pub webhook_relay: crate::relay::RelayConfig,
    /// How often the server compares its credit ledger with Apollo's `credit_usage_stats`
    /// (`[reconciliation] interval_seconds`; 0 turns it off). Only with a master key.
    pub reconcile_every: Option<Duration>,
    /// Web origins a browser-based assistant may call `/mcp` from (`[mcp] allowed_origins`);
    /// loopback origins and requests without an Origin are always accepted.
    pub mcp_origins: crate::mcp::Origins,
    /// How often the agents' directory checks the store for changes made elsewhere (besides
    /// PostgreSQL's notifications). Not a file setting: tests lengthen it to prove the
    /// notifications alone suffice.
    pub directory_poll: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "sqlite://bollard.db".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin_listen: SocketAddr::from(([127, 0, 0, 1], 8081)),
            apollo: ApolloConfig {
                api_key: None,
                base_url: "https://api.apollo.io".into(),
                key_kind: ApolloKeyKind::Master,
                timeout: Duration::from_secs(30),
                connect_timeout: Duration::from_secs(5),
            },
            webhook_prefixes: Vec::new(),
            body_limit: 1024 * 1024,
            audit: AuditConfig {
                keep_personal_data: false,
                queue_capacity: 8192,
                max_batch: 512,
                checkpoints: None,
                export: None,
            },
            prices: PriceTable::default(),
            agent_listener: ListenerConfig::default(),
            approvals: crate::approval::ApprovalsConfig::default(),
            public_url: None,
            oauth: crate::oauth::OAuthConfig::default(),
            webhook_relay: crate::relay::RelayConfig::default(),
            reconcile_every: Some(Duration::from_secs(900)),
            mcp_origins: crate::mcp::Origins::default(),
            directory_poll: Duration::from_millis(500),
        }
    }
}

/// The file's shape. Every table denies unknown keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database_url: Option<String>,
    listen: Option<String>,
    admin_listen: Option<String>,
    webhook_prefixes: Option<Vec<String>>,
    body_limit_bytes: Option<usize>,
    #[serde(default)]
    apollo: FileApollo,
    #[serde(default)]
    audit: FileAudit,
    prices: Option<PriceTable>,
    #[serde(default)]
    agent_listener: FileListener,
    public_url: Option<String>,
    #[serde(default)]
    oauth: crate::oauth::FileOAuth,
    #[serde(default)]
    approvals: crate::approval::FileApprovals,
    #[serde(default)]
    mcp: FileMcp,
    #[serde(default)]
    webhook_relay: crate::relay::FileRelay,
    #[serde(default)]
    reconciliation: FileReconciliation,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileReconciliation {
    interval_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileMcp {
    allowed_origins: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileListener {
    header_read_timeout_seconds: Option<u64>,
    idle_timeout_seconds: Option<u64>,
    max_connections_per_source: Option<usize>,
    shutdown_deadline_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileApollo {
    api_key_file: Option<PathBuf>,
    base_url: Option<String>,
    key_kind: Option<ApolloKeyKind>,
    timeout_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAudit {
    keep_personal_data: Option<bool>,
    queue_capacity: Option<usize>,
    max_batch: Option<usize>,
    checkpoint_key_file: Option<PathBuf>,
    checkpoint_dir: Option<PathBuf>,
    checkpoint_interval_seconds: Option<u64>,
    witness_url: Option<String>,
    export: Option<crate::audit::export::FileExport>,
}

/// Flags given on the command line; they win over everything.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub database_url: Option<String>,
    pub listen: Option<String>,
    pub admin_listen: Option<String>,
}

/// The team's Apollo key, trimmed, if it can be sent in an HTTP header. One that cannot (a
/// control character inside it, such as a line break pasted into a secret) is a problem at
/// start-up, named by where it came from and never shown: sent, every call would fail before
/// leaving Bollard.
fn sendable_key(key: &str, from: &str, problems: &mut Vec<String>) -> Option<Secret> {
    let key = key.trim();
    if reqwest::header::HeaderValue::from_str(key).is_ok() {
        Some(Secret::new(key))
    } else {
        problems.push(format!(
            "the Apollo key in {from} holds a character an HTTP header cannot carry (a control \
             character such as a line break inside it), so it cannot be sent to Apollo; set it \
             again as Apollo shows it"
        ));
        None
    }
}

/// Whether two listeners could not both bind: the same port (not 0, which picks a free one
/// each) on the same address, or on one that is every address of its family (0.0.0.0 takes
/// every IPv4 address; `::` takes every address, IPv4 included, as Linux binds it).
pub(crate) fn overlap(a: std::net::SocketAddr, b: std::net::SocketAddr) -> bool {
    let covers = |x: std::net::IpAddr, y: std::net::IpAddr| {
        x == y || (x.is_unspecified() && (x.is_ipv6() || y.is_ipv4()))
    };
    a.port() == b.port() && a.port() != 0 && (covers(a.ip(), b.ip()) || covers(b.ip(), a.ip()))
}

#[derive(Debug, thiserror::Error)]
#[error("the configuration has {} problem(s):\n  - {}", .0.len(), .0.join("\n  - "))]
pub struct ConfigError(pub Vec<String>);

impl Config {
    /// Loads `file` (or `bollard.toml` in `cwd` when present), then `env`, then `flags`.
    pub fn load(
        file: Option<&Path>,
        cwd: &Path,
        env: &HashMap<String, String>,
        flags: &Overrides,
    ) -> Result<Config, ConfigError> {
        let mut problems = Vec::new();
        let default_file = cwd.join("bollard.toml");
        let path = match file {
            Some(p) => Some(p.to_path_buf()),
            None if default_file.exists() => Some(default_file),
            None => None,
        };
        let raw = match &path {
            Some(p) => match std::fs::read_to_string(p) {
                Ok(text) => match toml::from_str::<FileConfig>(&text) {
                    Ok(raw) => raw,
                    Err(e) => {
                        problems.push(toml_problem(p, &text, &e));
                        FileConfig::default()
                    }
                },
                Err(e) => {
                    problems.push(format!("cannot read {}: {e}", p.display()));
                    FileConfig::default()
                }
            },
            None => FileConfig::default(),
        };
        let mut c = Config::default();
        let pick = |file: Option<String>, env_key: &str, flag: &Option<String>| {
            flag.clone().or_else(|| env.get(env_key).cloned()).or(file)
        };
        if let Some(v) = pick(
            raw.database_url,
            "BOLLARD_DATABASE_URL",
            &flags.database_url,
        ) {
            c.database_url = v;
        }
        for (slot, file_v, env_key, flag, what) in [
            (
                &mut c.listen,
                raw.listen,
                "BOLLARD_LISTEN",
                &flags.listen,
                "listen",
            ),
            (
                &mut c.admin_listen,
                raw.admin_listen,
                "BOLLARD_ADMIN_LISTEN",
                &flags.admin_listen,
                "admin_listen",
            ),
        ] {
            if let Some(v) = pick(file_v, env_key, flag) {
                match v.parse() {
                    Ok(addr) => *slot = addr,
                    Err(_) => problems.push(format!(
                        "{what} is '{v}', which is not an address like 127.0.0.1:8080"
                    )),
                }
            }
        }
        if overlap(c.listen, c.admin_listen) {
            problems.push(format!(
                "listen ({}) and admin_listen ({}) take the same port: the agents' listener and the admin listener each need one of their own",
                c.listen, c.admin_listen
            ));
        }
        if let Some(v) = raw.webhook_prefixes {
            c.webhook_prefixes = v;
        }
        if let Some(v) = env.get("BOLLARD_WEBHOOK_PREFIXES") {
            c.webhook_prefixes = v
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect();
        }
        for p in &c.webhook_prefixes {
            if !(p.starts_with("https://") || p.starts_with("http://"))
                || p.matches('/').count() < 3
                || crate::gate::webhook::parse(p).is_err()
            {
                problems.push(format!(
                    "webhook prefix '{p}' must be an http(s) URL ending its host with '/', like https://hooks.example.com/"
                ));
            }
        }
        let l = &raw.agent_listener;
        for (v, slot) in [
            (
                l.header_read_timeout_seconds,
                &mut c.agent_listener.header_read_timeout,
            ),
            (l.idle_timeout_seconds, &mut c.agent_listener.idle_timeout),
            (
                l.shutdown_deadline_seconds,
                &mut c.agent_listener.shutdown_deadline,
            ),
        ] {
            match v {
                Some(0) => problems.push(
                    "agent_listener timeouts must be at least 1 second; 0 would close every connection".into(),
                ),
                Some(n) => *slot = Duration::from_secs(n),
                None => {}
            }
        }
        match l.max_connections_per_source {
            Some(0) => {
                problems.push("agent_listener.max_connections_per_source must be at least 1".into())
            }
            Some(n) => c.agent_listener.max_connections_per_source = n,
            None => {}
        }
        if let Some(v) = raw.body_limit_bytes {
            c.body_limit = v;
        }
        // Apollo.
        if let Some(v) = pick(raw.apollo.base_url, "APOLLO_BASE_URL", &None) {
            c.apollo.base_url = v.trim_end_matches('/').to_owned();
        }
        if !(c.apollo.base_url.starts_with("https://") || c.apollo.base_url.starts_with("http://"))
        {
            problems.push(format!(
                "APOLLO_BASE_URL is '{}', which is not an http(s) URL",
                c.apollo.base_url
            ));
        }
        match env.get("APOLLO_KEY_KIND").map(String::as_str) {
            Some("master") => c.apollo.key_kind = ApolloKeyKind::Master,
            Some("scoped") => c.apollo.key_kind = ApolloKeyKind::Scoped,
            Some(other) => problems.push(format!(
                "APOLLO_KEY_KIND is '{other}'; it must be 'master' or 'scoped'"
            )),
            None => {
                if let Some(k) = raw.apollo.key_kind {
                    c.apollo.key_kind = k;
                }
            }
        }
        if let Some(s) = raw.apollo.timeout_seconds {
            c.apollo.timeout = Duration::from_secs(s.clamp(1, 600));
        }
        let key_file = env
            .get("APOLLO_API_KEY_FILE")
            .map(PathBuf::from)
            .or(raw.apollo.api_key_file);
        if let Some(k) = env.get("APOLLO_API_KEY").filter(|k| !k.trim().is_empty()) {
            c.apollo.api_key = sendable_key(k, "APOLLO_API_KEY", &mut problems);
        } else if let Some(f) = key_file {
            match std::fs::read_to_string(&f) {
                Ok(k) if !k.trim().is_empty() => {
                    let from = format!("the Apollo key file {}", f.display());
                    c.apollo.api_key = sendable_key(&k, &from, &mut problems);
                }
                Ok(_) => problems.push(format!("the Apollo key file {} is empty", f.display())),
                Err(e) => problems.push(format!(
                    "cannot read the Apollo key file {}: {e}",
                    f.display()
                )),
            }
        }
        // OAuth for hosted assistants (issue 13).
        (c.public_url, c.oauth) = crate::oauth::configure(
            pick(raw.public_url, "BOLLARD_PUBLIC_URL", &None),
            raw.oauth,
            &mut problems,
        );
        // Audit.
        if let Some(v) = raw.audit.keep_personal_data {
            c.audit.keep_personal_data = v;
        }
        if let Some(v) = raw.audit.queue_capacity {
            c.audit.queue_capacity = v.max(1);
        }
        if let Some(v) = raw.audit.max_batch {
            c.audit.max_batch = v.max(1);
        }
        c.audit.checkpoints = crate::audit::sink::CheckpointConfig::from_file(
            raw.audit.checkpoint_key_file,
            raw.audit.checkpoint_dir,
            raw.audit.checkpoint_interval_seconds,
            raw.audit.witness_url,
            &mut problems,
        );
        c.audit.export = raw.audit.export.and_then(|e| e.into_config(&mut problems));
        if let Some(p) = raw.prices {
            c.prices = p;
        }
        c.approvals = raw.approvals.resolve(&mut problems);
        raw.webhook_relay.apply(&mut c.webhook_relay, &mut problems);
        match raw.reconciliation.interval_seconds {
            Some(0) => c.reconcile_every = None,
            Some(s) if s < 60 => problems.push(format!(
                "[reconciliation] interval_seconds is {s}; use 0 (off) or at least 60, so Apollo's usage endpoint is not asked too often"
            )),
            Some(s) => c.reconcile_every = Some(Duration::from_secs(s)),
            None => {}
        }
        if let Some(list) = raw.mcp.allowed_origins {
            match crate::mcp::Origins::new(&list) {
                Ok(o) => c.mcp_origins = o,
                Err(e) => problems.push(format!("mcp.allowed_origins: {e}")),
            }
        }
        if problems.is_empty() {
            Ok(c)
        } else {
            Err(ConfigError(problems))
        }
    }
}

/// "bollard.toml line 4, apollo.timeout_seconds: invalid type: ..." : the line and the
/// dotted key the error points at, so a wrong type or a typo is found without a parser's
/// caret diagram.
fn toml_problem(path: &Path, text: &str, e: &toml::de::Error) -> String {
    let Some(span) = e.span() else {
        return format!("{}: {}", path.display(), e.message());
    };
    let before = text.get(..span.start).unwrap_or(text);
    let line_no = before.matches('\n').count() + 1;
    let line = text.lines().nth(line_no - 1).unwrap_or("");
    let table = before
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && l.ends_with(']'))
        .map(|l| l.trim_matches(['[', ']']).trim().to_owned());
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_owned())
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    let at = match (table, key) {
        (Some(t), Some(k)) => format!(", {t}.{k}"),
        (None, Some(k)) => format!(", {k}"),
        (_, None) => String::new(),
    };
    format!(
        "{} line {line_no}{at}: {}",
        path.display(),
        e.message().trim_end()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn the_two_listeners_need_ports_of_their_own() {
        let load = |listen: &str, admin: &str| {
            Config::load(
                None,
                Path::new("/nonexistent"),
                &env(&[("BOLLARD_LISTEN", listen), ("BOLLARD_ADMIN_LISTEN", admin)]),
                &Overrides::default(),
            )
        };
        for (listen, admin) in [
            ("127.0.0.1:8080", "127.0.0.1:8080"),
            ("0.0.0.0:8080", "127.0.0.1:8080"),
            ("127.0.0.1:9000", "[::]:9000"),
            ("[::]:9000", "[::1]:9000"),
        ] {
            let e = load(listen, admin).unwrap_err().to_string();
            assert!(e.contains("take the same port"), "{listen} {admin}: {e}");
        }
        for (listen, admin) in [
            ("127.0.0.1:0", "127.0.0.1:0"),
            ("127.0.0.1:8080", "127.0.0.2:8080"),
            ("127.0.0.1:8080", "127.0.0.1:8081"),
            ("0.0.0.0:8080", "[::1]:8080"),
        ] {
            assert!(load(listen, admin).is_ok(), "{listen} {admin}");
        }
    }

    #[test]
    fn flags_beat_env_beat_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("bollard.toml"),
            "database_url = \"sqlite://file.db\"\nlisten = \"127.0.0.1:1\"\n",
        )
        .unwrap();
        let c = Config::load(
            None,
            dir.path(),
            &env(&[
                ("BOLLARD_DATABASE_URL", "sqlite://env.db"),
                ("BOLLARD_LISTEN", "127.0.0.1:2"),
            ]),
            &Overrides {
                listen: Some("127.0.0.1:3".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(c.database_url, "sqlite://env.db");
        assert_eq!(c.listen.port(), 3);
    }

    #[test]
    fn reports_every_problem_at_once_and_rejects_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("b.toml");
        std::fs::write(&f, "colour = \"blue\"\n").unwrap();
        let err = Config::load(
            Some(&f),
            dir.path(),
            &env(&[("BOLLARD_LISTEN", "nowhere"), ("APOLLO_KEY_KIND", "gold")]),
            &Overrides::default(),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("unknown field `colour`"), "{text}");
        assert!(text.contains("APOLLO_KEY_KIND is 'gold'"), "{text}");
        assert!(text.contains("listen is 'nowhere'"), "{text}");
        assert_eq!(err.0.len(), 3, "{text}");
    }

    #[test]
    fn a_wrong_type_or_bad_toml_names_the_key_and_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("b.toml");
        let load = |text: &str| {
            std::fs::write(&f, text).unwrap();
            Config::load(Some(&f), dir.path(), &env(&[]), &Overrides::default())
                .unwrap_err()
                .to_string()
        };
        let wrong_type =
            load("listen = \"127.0.0.1:1\"\n\n[apollo]\ntimeout_seconds = \"thirty\"\n");
        assert!(
            wrong_type.contains("b.toml line 4, apollo.timeout_seconds: invalid type: string \"thirty\", expected u64"),
            "{wrong_type}"
        );
        let bad_toml = load("database_url = \"sqlite://x.db\"\nlisten = 127.0.0.1:1\n");
        assert!(bad_toml.contains("b.toml line 2, listen:"), "{bad_toml}");
        let unknown = load("[audit]\nkeep_personal = true\n");
        assert!(
            unknown.contains("b.toml line 2, audit.keep_personal: unknown field `keep_personal`"),
            "{unknown}"
        );
    }

    #[test]
    fn reads_the_webhook_relay_table_and_refuses_a_zero() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("b.toml");
        let load = |text: &str| {
            std::fs::write(&f, text).unwrap();
            Config::load(Some(&f), dir.path(), &env(&[]), &Overrides::default())
        };
        let c = load("[webhook_relay]\nexpires_after_seconds = 600\n").unwrap();
        assert_eq!(c.webhook_relay.expires_after, Duration::from_secs(600));
        assert_eq!(c.webhook_relay.keep_undelivered, Duration::from_secs(3600));
        let c = load("[reconciliation]\ninterval_seconds = 0\n").unwrap();
        assert_eq!(c.reconcile_every, None);
        let err = load("[reconciliation]\ninterval_seconds = 5\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("use 0 (off) or at least 60"), "{err}");
        let err = load("[webhook_relay]\nkeep_undelivered_seconds = 0\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("[webhook_relay] keep_undelivered_seconds must be at least 1 second"),
            "{err}"
        );
    }

    #[test]
    fn an_apollo_key_no_header_can_carry_is_a_problem_that_does_not_show_it() {
        let dir = tempfile::tempdir().unwrap();
        let load = |vars: &[(&str, &str)]| {
            Config::load(None, dir.path(), &env(vars), &Overrides::default())
        };
        let text = load(&[("APOLLO_API_KEY", "sk-live\n123")])
            .unwrap_err()
            .0
            .join("; ");
        assert!(
            text.contains(
                "the Apollo key in APOLLO_API_KEY holds a character an HTTP header cannot carry"
            ),
            "{text}"
        );
        assert!(!text.contains("sk-live"), "{text}");
        let file = dir.path().join("apollo.key");
        let from_file = [("APOLLO_API_KEY_FILE", file.to_str().unwrap())];
        std::fs::write(&file, "sk-live\u{1}123\n").unwrap();
        let text = load(&from_file).unwrap_err().0.join("; ");
        assert!(
            text.contains("the Apollo key in the Apollo key file"),
            "{text}"
        );
        assert!(!text.contains("sk-live"), "{text}");
        // A key file's own last line break is not part of the key.
        std::fs::write(&file, "sk-live-123\n").unwrap();
        let c = load(&from_file).unwrap();
        assert_eq!(c.apollo.api_key.unwrap().expose(), "sk-live-123");
    }

    #[test]
    fn the_apollo_key_never_prints() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::load(
            None,
            dir.path(),
            &env(&[("APOLLO_API_KEY", "sk-live-123")]),
            &Overrides::default(),
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("sk-live-123"));
        assert_eq!(c.apollo.api_key.unwrap().expose(), "sk-live-123");
    }
}
