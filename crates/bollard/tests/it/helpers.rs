//! `TestApp`: the sandbox and the gateway on port 0 with a temporary SQLite database, and a
//! method for each thing a test does.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use apollo_sandbox::{JournalEntry, Sandbox, SandboxConfig};
use bollard::app::{self, App};
use bollard::clock::Clock;
use bollard::config::{ApolloKeyKind, Config};
use bollard::keys::Secret;
use bollard::ops;
use bollard::store::{self, AuditFilter, Limits, Store};
use serde_json::Value;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

pub const WEBHOOK_PREFIX: &str = "http://127.0.0.1:9/hooks/";

pub struct TestApp {
    pub sandbox: Sandbox,
    pub app: App,
    pub store: Arc<dyn Store>,
    pub clock: Clock,
    pub client: reqwest::Client,
    pub token: CancellationToken,
    pub db_path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Answer {
    pub fn error(&self) -> &str {
        self.body.get("error").and_then(Value::as_str).unwrap_or("")
    }
    pub fn code(&self) -> &str {
        self.body
            .get("error_code")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
    /// The request id Bollard answered with (`x-bollard-request-id`).
    pub fn request_id(&self) -> &str {
        self.headers
            .get("x-bollard-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub key_kind: Option<ApolloKeyKind>,
    pub sandbox_scoped_key: bool,
    /// An Apollo key of our own choosing (say, a wrong one).
    pub apollo_key: Option<String>,
    /// Bounds on the agent listener's connections.
    pub listener: Option<bollard::config::ListenerConfig>,
    /// Signed checkpoints of the audit log, and their sinks.
    pub checkpoints: Option<bollard::audit::sink::CheckpointConfig>,
    /// Entries streamed to a file, syslog or HTTP.
    pub export: Option<bollard::audit::export::ExportConfig>,
    /// `[approvals]` (ask first): the webhook and the expiry.
    pub approvals: Option<bollard::approval::ApprovalsConfig>,
    /// What the sandbox's plan charges (the price table's defaults unless set).
    pub sandbox_prices: Option<apollo_sandbox::Prices>,
    /// `[mcp] allowed_origins`.
    pub mcp_allowed_origins: Vec<String>,
    /// The webhook relay: `public_url` set to the app's own agent address, these prefixes,
    /// this relay configuration and the sandbox's delivery delay.
    pub relay: Option<RelayOptions>,
    /// Apollo's address, when not the sandbox's own (a proxy in front of it).
    pub apollo_base_url: Option<String>,
    /// How often the server reconciles with Apollo's `credit_usage_stats`; off unless set, so
    /// that no test sees a call it did not make.
    pub reconcile_every: Option<std::time::Duration>,
}

#[derive(Debug, Clone)]
pub struct RelayOptions {
    pub webhook_prefixes: Vec<String>,
    pub config: bollard::relay::RelayConfig,
    pub sandbox_webhook_delay: std::time::Duration,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(Options::default()).await
    }

    pub async fn spawn_with(opts: Options) -> TestApp {
        let mut sandbox_config = SandboxConfig::new(7);
        if let Some(p) = opts.sandbox_prices {
            sandbox_config.prices = p;
        }
        if let Some(r) = &opts.relay {
            sandbox_config.webhook_delay = r.sandbox_webhook_delay;
        }
        let sandbox = Sandbox::spawn(sandbox_config, SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("sandbox starts");
        let dir = tempfile::tempdir().expect("tempdir");
        let db_path = dir.path().join("bollard.db");
        let url = format!("sqlite://{}", db_path.display());
        let store = store::open(&url).await.expect("store opens");
        let mut config = Config {
            database_url: url,
            ..Config::default()
        };
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.admin_listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.apollo.base_url = opts
            .apollo_base_url
            .clone()
            .unwrap_or_else(|| sandbox.base_url());
        let key = if opts.sandbox_scoped_key {
            sandbox.scoped_key()
        } else {
            sandbox.master_key()
        };
        config.apollo.api_key = Some(Secret::new(opts.apollo_key.as_deref().unwrap_or(key)));
        if let Some(k) = opts.key_kind {
            config.apollo.key_kind = k;
        }
        config.webhook_prefixes = vec![WEBHOOK_PREFIX.into()];
        if let Some(l) = opts.listener.clone() {
            config.agent_listener = l;
        }
        config.audit.checkpoints = opts.checkpoints.clone();
        config.audit.export = opts.export.clone();
        if let Some(a) = opts.approvals.clone() {
            config.approvals = a;
        }
        config.mcp_origins =
            bollard::mcp::Origins::new(&opts.mcp_allowed_origins).expect("allowed origins");
        config.reconcile_every = opts.reconcile_every;
        let clock = Clock::manual(OffsetDateTime::now_utc());
        let token = CancellationToken::new();
        let app = match &opts.relay {
            None => app::start(config, Some(store.clone()), clock.clone(), token.clone())
                .await
                .expect("app starts"),
            Some(r) => {
                config.webhook_prefixes = r.webhook_prefixes.clone();
                config.webhook_relay = r.config.clone();
                // `public_url` names the port before the app binds it: a free port is picked,
                // and picked again should another test take it first.
                let mut attempt = 0;
                loop {
                    let listen = std::net::TcpListener::bind("127.0.0.1:0")
                        .and_then(|l| l.local_addr())
                        .expect("a free port");
                    config.listen = listen;
                    config.public_url = Some(format!("http://{listen}"));
                    match app::start(
                        config.clone(),
                        Some(store.clone()),
                        clock.clone(),
                        token.clone(),
                    )
                    .await
                    {
                        Ok(app) => break app,
                        Err(e) if attempt < 5 => {
                            attempt += 1;
                            eprintln!("retrying on another port: {e:#}");
                        }
                        Err(e) => panic!("the app starts: {e:#}"),
                    }
                }
            }
        };
        TestApp {
            sandbox,
            app,
            store,
            clock,
            client: reqwest::Client::new(),
            token,
            db_path,
            _dir: dir,
        }
    }

    pub fn agent_url(&self, path: &str) -> String {
        format!("http://{}{}", self.app.agent_addr, path)
    }

    /// Creates an agent with these grants and returns its key.
    pub async fn agent(&self, name: &str, grants: &[&str]) -> String {
        let created = ops::create_agent(
            &*self.store,
            &crate::helpers::tester(),
            name,
            "",
            None,
            self.clock.now(),
        )
        .await
        .expect("agent created");
        if !grants.is_empty() {
            let g: Vec<String> = grants.iter().map(|s| (*s).to_owned()).collect();
            ops::grant(&*self.store, &crate::helpers::tester(), name, &g)
                .await
                .expect("grants apply");
        }
        self.sync().await;
        created.key.expose().to_owned()
    }

    /// Applies more grants to an existing agent.
    pub async fn agent_grants(&self, name: &str, grants: &[&str]) {
        let g: Vec<String> = grants.iter().map(|s| (*s).to_owned()).collect();
        ops::grant(&*self.store, &tester(), name, &g)
            .await
            .expect("grants apply");
        self.sync().await;
    }

    pub async fn limits(&self, name: &str, limits: Limits) {
        let a = ops::find_agent(&*self.store, name).await.expect("agent");
        ops::put_limits(&*self.store, &crate::helpers::tester(), &a, limits)
            .await
            .expect("limits");
        self.sync().await;
    }

    /// Gives the agent a daily credit budget and no other limit.
    pub async fn daily_budget(&self, name: &str, credits: u64) {
        let limits = Limits {
            credits_per_day: Some(credits),
            ..Limits::default()
        };
        self.limits(name, limits).await;
    }

    /// Makes the gateway see store changes now instead of within half a second.
    pub async fn sync(&self) {
        self.app
            .gate
            .directory()
            .refresh(false)
            .await
            .expect("refresh");
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.client.request(m, self.agent_url(path));
        if let Some(k) = key {
            req = req.header("x-api-key", k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("gateway answers");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
            text,
        }
    }

    /// Sends a request line exactly as written (no client-side path normalisation).
    pub async fn raw_request(&self, method: &str, raw_path: &str, key: &str) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(self.app.agent_addr)
            .await
            .expect("connect");
        let req = format!(
            "{method} {raw_path} HTTP/1.1\r\nhost: x\r\nx-api-key: {key}\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
        );
        s.write_all(req.as_bytes()).await.expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read");
        let status = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
        (status, out)
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> Answer {
        self.send("POST", path, Some(key), Some(body)).await
    }

    pub fn journal(&self) -> Vec<JournalEntry> {
        self.sandbox.journal()
    }

    /// Runs one statement on the database file through a connection of its own, as another
    /// process would (to break the store under the gateway, or to repair it).
    pub async fn raw_sql(&self, sql: &str) {
        use sqlx::Connection;
        let mut c =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}", self.db_path.display()))
                .await
                .expect("open the database file");
        sqlx::query(sql).execute(&mut c).await.expect(sql);
        c.close().await.ok();
    }

    /// Rewrites entry `seq`'s content behind the store's back, as someone holding the file
    /// would: read (decompressed), edited, written back as JSON text, which the store reads
    /// as well as its own compressed form.
    pub async fn tamper_content(&self, seq: i64, edit: impl FnOnce(String) -> String) {
        use sqlx::Connection;
        let entry = self.store.audit_range(seq - 1, 1).await.unwrap().remove(0);
        assert_eq!(entry.seq, seq);
        let mut c =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}", self.db_path.display()))
                .await
                .expect("open the database file");
        sqlx::query("UPDATE audit SET content = ? WHERE seq = ?")
            .bind(edit(entry.content))
            .bind(seq)
            .execute(&mut c)
            .await
            .unwrap();
        c.close().await.ok();
    }

    /// Waits until the audit writer has written everything queued so far.
    pub async fn flush_audit(&self) {
        self.app.gate.audit().flush().await.expect("audit flush");
    }

    pub async fn audit_lines(&self) -> Vec<ops::AuditLine> {
        self.flush_audit().await;
        ops::audit_lines(
            &*self.store,
            &AuditFilter {
                // The calls: the admin entries of the test's own set-up are not its subject.
                admin: Some(false),
                limit: 1000,
                ..Default::default()
            },
        )
        .await
        .expect("audit lines")
        .0
    }

    pub async fn last_sentence(&self) -> String {
        self.audit_lines()
            .await
            .first()
            .map(|l| l.record.sentence.clone())
            .unwrap_or_default()
    }

    /// Stops the gateway and the sandbox. The database's folder is handed back, so a test
    /// that reads the store after the stop keeps the file it reads.
    pub async fn stop(self) -> tempfile::TempDir {
        // Its idle keep-alive connections close first, so the listener's grace period at the
        // stop (which waits for open connections) ends at once.
        drop(self.client);
        self.token.cancel();
        let _ = self.app.done.await;
        self.sandbox.shutdown().await;
        self._dir
    }
}

/// `bollard serve` as a child process against a sandbox, with one agent in a fresh SQLite
/// database: for what only the real binary shows (its logs, a SIGKILL).
pub struct Served {
    pub child: tokio::process::Child,
    pub base: String,
    pub key: String,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Served {
    /// Stops the process as an operator would (SIGTERM) and hands back what it printed,
    /// stdout then stderr: `serve` writes its waiting log lines as it ends.
    pub async fn stop_and_logs(self) -> String {
        let out = terminate(self.child).await;
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// Kills the process (SIGKILL) and hands back its database's URL and folder, to read
    /// what it left on disk.
    pub async fn kill_keeping_db(self) -> (String, tempfile::TempDir) {
        let mut child = self.child;
        child.start_kill().expect("kill");
        let _ = child.wait().await;
        (self.url, self._dir)
    }

    pub async fn start(sandbox: &Sandbox, agent_grants: &[&str], rust_log: &str) -> Served {
        Self::start_with(sandbox, agent_grants, rust_log, &[]).await
    }

    /// `start`, with global flags before `serve` (say `--log-format json`).
    pub async fn start_with(
        sandbox: &Sandbox,
        agent_grants: &[&str],
        rust_log: &str,
        global: &[&str],
    ) -> Served {
        Self::launch(
            sandbox,
            ServeOptions {
                grants: agent_grants,
                rust_log,
                global,
                ..ServeOptions::default()
            },
        )
        .await
    }

    pub async fn launch(sandbox: &Sandbox, opts: ServeOptions<'_>) -> Served {
        let ServeOptions {
            grants: agent_grants,
            rust_log,
            global,
            apollo_base,
            credits_per_day,
        } = opts;
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("served.db").display());
        let key = {
            let store = store::open(&url).await.expect("store opens");
            let c = ops::create_agent(
                &*store,
                &crate::helpers::tester(),
                "Agent",
                "",
                None,
                OffsetDateTime::now_utc(),
            )
            .await
            .expect("agent created");
            let g: Vec<String> = agent_grants.iter().map(|s| (*s).to_owned()).collect();
            ops::grant(&*store, &crate::helpers::tester(), "Agent", &g)
                .await
                .expect("grants apply");
            if credits_per_day.is_some() {
                let limits = Limits {
                    credits_per_day,
                    ..Limits::default()
                };
                ops::put_limits(&*store, &crate::helpers::tester(), &c.agent, limits)
                    .await
                    .expect("limits");
            }
            c.key.expose().to_owned()
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_bollard"))
            .args(global)
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--admin-listen",
                "127.0.0.1:0",
            ])
            .env("BOLLARD_DATABASE_URL", &url)
            .env("APOLLO_API_KEY", sandbox.master_key())
            .env(
                "APOLLO_BASE_URL",
                apollo_base.unwrap_or_else(|| sandbox.base_url()),
            )
            .env("RUST_LOG", rust_log)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("bollard serve starts");
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if client.get(format!("{base}/healthz")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Served {
            child,
            base,
            key,
            url,
            _dir: dir,
        }
    }
}

/// The next start of a process on the database at `url`, as its clock sees it a minute
/// later, so that the process that held it before (SIGKILLed) has missed its heartbeats and
/// its reservations are swept at once. `app::start` returns after the start-up sweep.
pub async fn start_a_minute_later(
    url: &str,
    apollo_base: String,
    apollo_key: &str,
) -> (App, CancellationToken) {
    let mut config = Config {
        database_url: url.to_owned(),
        ..Config::default()
    };
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.admin_listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.apollo.base_url = apollo_base;
    config.apollo.api_key = Some(Secret::new(apollo_key));
    let clock = Clock::manual(OffsetDateTime::now_utc() + time::Duration::seconds(60));
    let stop = CancellationToken::new();
    let app = app::start(config, None, clock, stop.clone())
        .await
        .expect("the next start");
    (app, stop)
}

/// How to start `bollard serve` for a test.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions<'a> {
    pub grants: &'a [&'a str],
    /// Keep it at "error" under load: nobody reads the piped logs while the process runs.
    pub rust_log: &'a str,
    /// Global flags before `serve` (say `--log-format json`).
    pub global: &'a [&'a str],
    /// Apollo's address, when not the sandbox's own (a proxy in front of it).
    pub apollo_base: Option<String>,
    /// The agent's daily credit budget.
    pub credits_per_day: Option<u64>,
}

/// Stops the child as systemd does, with SIGTERM, and collects what it wrote.
pub async fn terminate(child: tokio::process::Child) -> std::process::Output {
    if let Some(pid) = child.id() {
        let _ = tokio::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await;
    }
    child.wait_with_output().await.expect("the child ends")
}

/// A reconciliation as the server records it: Apollo counts 24,435 credits this cycle,
/// Bollard 29,852 this month (the long run), compared on 2026-12-04 at 09:15 UTC.
pub fn a_reconciliation() -> bollard::store::prices::Reconciliation {
    bollard::store::prices::Reconciliation {
        bucket: 1,
        at: time::macros::datetime!(2026-12-04 09:15 UTC),
        cycle_start: "2026-12-01".into(),
        cycle_end: "2026-12-31".into(),
        apollo_milli: 24_435_000,
        bollard_milli: 29_852_000,
    }
}

/// Who the tests' own changes are recorded as.
pub fn tester() -> bollard::audit::change::Actor {
    bollard::audit::change::Actor::command_line("test-host")
}

/// A webhook receiver on port 0 (`/hooks/{anything}`): what it was sent, after failing the
/// first `fail_first` requests with 503. For the approvals' notifier and the webhook relay.
pub struct Receiver {
    /// `http://127.0.0.1:PORT/hooks/`.
    pub prefix: String,
    pub got: Arc<Mutex<Vec<Value>>>,
    /// Requests received, failed ones included.
    pub tries: Arc<Mutex<usize>>,
}

impl Receiver {
    /// One hook's address under the prefix.
    pub fn url(&self) -> String {
        format!("{}hook", self.prefix)
    }

    pub async fn start(fail_first: usize) -> Receiver {
        let got: Arc<Mutex<Vec<Value>>> = Arc::default();
        let tries: Arc<Mutex<usize>> = Arc::default();
        let (g, n) = (got.clone(), tries.clone());
        let app = axum::Router::new().route(
            "/hooks/{who}",
            axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
                let (g, n) = (g.clone(), n.clone());
                async move {
                    let seen = {
                        let mut n = n.lock().unwrap();
                        *n += 1;
                        *n
                    };
                    if seen <= fail_first {
                        return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                    }
                    g.lock().unwrap().push(v);
                    axum::http::StatusCode::OK
                }
            }),
        );
        let l = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await });
        Receiver {
            prefix: format!("http://{addr}/hooks/"),
            got,
            tries,
        }
    }

    pub fn got(&self) -> Vec<Value> {
        self.got.lock().unwrap().clone()
    }

    pub async fn wait_for(&self, n: usize) -> Vec<Value> {
        for _ in 0..400 {
            if self.got().len() >= n {
                return self.got();
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!(
            "the agent's receiver got {} deliveries, not {n}",
            self.got().len()
        );
    }
}

/// The target directory, where tests keep what they install once (venvs, npm prefixes).
pub fn target_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target")
        })
}

/// What setting up a pinned Python virtual environment came to.
#[derive(Debug)]
pub enum Venv {
    /// The venv's `bin` directory, every package at its pinned version.
    Ready(std::path::PathBuf),
    /// No python3 on this machine.
    NoPython,
    /// pip failed; its complaint.
    PipFailed(String),
}

/// A virtual environment `target/NAME` with `packages` (`name==version` each) installed, made
/// once and reused while every pin still holds.
pub async fn pinned_venv(name: &str, packages: &[&str]) -> Venv {
    use tokio::process::Command;
    if Command::new("python3")
        .arg("--version")
        .output()
        .await
        .is_err()
    {
        return Venv::NoPython;
    }
    let dir = target_dir().join(name);
    let bin = dir.join("bin");
    let check = packages
        .iter()
        .map(|c| {
            let (name, version) = c.split_once("==").unwrap_or((c, ""));
            format!("m.version('{name}') == '{version}'")
        })
        .collect::<Vec<_>>()
        .join(" and ");
    let installed = Command::new(bin.join("python"))
        .args([
            "-c",
            &format!("import importlib.metadata as m; assert {check}"),
        ])
        .output()
        .await
        .is_ok_and(|o| o.status.success());
    if !installed {
        let venv = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&dir)
            .output()
            .await
            .expect("python3 -m venv runs");
        assert!(
            venv.status.success(),
            "python3 -m venv: {}",
            String::from_utf8_lossy(&venv.stderr)
        );
        let pip = Command::new(bin.join("pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(packages)
            .output()
            .await
            .expect("pip runs");
        if !pip.status.success() {
            return Venv::PipFailed(String::from_utf8_lossy(&pip.stderr).into_owned());
        }
    }
    Venv::Ready(bin)
}
