//! `bollard bench`: the same load straight at the sandbox and through the gateway, in one
//! run, on this machine. Two measurements: latency at a fixed rate (open loop, so a slow
//! answer does not slow the sender) and the most calls per second a fixed number of
//! concurrent agents get through (closed loop). The gateway runs with its durable audit on.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use apollo_sandbox::{PlanLimits, Sandbox, SandboxConfig};
use clap::Args;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use super::{CliResult, Failure, outln};
use crate::app;
use crate::clock::Clock;
use crate::config::Config;
use crate::keys::Secret;
use crate::{ops, store};

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Seconds each measurement runs.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Calls per second for the latency measurement.
    #[arg(long, default_value_t = 1000)]
    pub rate: u64,
    /// Calls per second for the MCP-against-REST comparison (modest: it measures the
    /// added latency, not capacity).
    #[arg(long, default_value_t = 200)]
    pub mcp_rate: u64,
    /// Concurrent agents for the throughput measurement.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Database for the gateway (default: a fresh SQLite file in a temporary folder).
    #[arg(long)]
    pub bench_database_url: Option<String>,
}

#[derive(Debug, Clone)]
struct Target {
    url: String,
    key: String,
    door: BenchDoor,
}

/// How a target is called.
#[derive(Debug, Clone)]
enum BenchDoor {
    Rest,
    /// MCP 2025-11-25, in this session.
    McpSession(String),
    /// MCP 2026-07-28: every call stands alone.
    McpStateless,
}

#[derive(Debug, Default)]
struct Run {
    latencies_us: Vec<u64>,
    errors: u64,
    elapsed: Duration,
}

impl Run {
    fn pct(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us.get(i).copied().unwrap_or(0) as f64 / 1000.0
    }
    fn rps(&self) -> f64 {
        self.latencies_us.len() as f64 / self.elapsed.as_secs_f64()
    }
}

const BODY: &str =
    r#"{"person_titles": ["vp sales"], "person_seniorities": ["vp"], "per_page": 10}"#;

/// The same people search as [`BODY`], as an MCP `tools/call`.
const TOOL_ARGS: &str =
    r#"{"person_titles": ["vp sales"], "person_seniorities": ["vp"], "per_page": 10}"#;

/// JSON-RPC ids must differ between calls in flight on one session.
static NEXT_ID: AtomicU64 = AtomicU64::new(10);

async fn one(client: &reqwest::Client, t: &Target) -> Result<Duration, ()> {
    match &t.door {
        BenchDoor::Rest => {}
        BenchDoor::McpSession(session) => return one_mcp(client, t, Some(session)).await,
        BenchDoor::McpStateless => return one_mcp(client, t, None).await,
    }
    let started = Instant::now();
    let r = client
        .post(&t.url)
        .header("x-api-key", &t.key)
        .header("content-type", "application/json")
        .body(BODY)
        .send()
        .await
        .map_err(|_| ())?;
    let ok = r.status().is_success();
    let _ = r.bytes().await.map_err(|_| ())?;
    if ok { Ok(started.elapsed()) } else { Err(()) }
}

/// One `tools/call` over streamable HTTP, read to the end of its answer, as an MCP client
/// does: in `session`, or without one in the 2026-07-28 revision (its `_meta` and headers).
/// Raw HTTP rather than an SDK's client, so only the gateway's side is measured.
async fn one_mcp(
    client: &reqwest::Client,
    t: &Target,
    session: Option<&str>,
) -> Result<Duration, ()> {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let meta = match session {
        Some(_) => "",
        None => {
            r#","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}"#
        }
    };
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"apollo_mixed_people_api_search","arguments":{TOOL_ARGS}{meta}}}}}"#
    );
    let started = Instant::now();
    let r = mcp_post(client, t, session, body).await.map_err(|_| ())?;
    let ok = r.status().is_success();
    let text = r.text().await.map_err(|_| ())?;
    if ok && text.contains("\"result\"") && !text.contains("\"isError\":true") {
        Ok(started.elapsed())
    } else {
        Err(())
    }
}

/// Posts a JSON-RPC message: in `session`, or with the stateless revision's headers.
async fn mcp_post(
    client: &reqwest::Client,
    t: &Target,
    session: Option<&str>,
    body: String,
) -> Result<reqwest::Response, reqwest::Error> {
    let mut req = client
        .post(&t.url)
        .bearer_auth(&t.key)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(body);
    match (session, &t.door) {
        (Some(s), _) => req = req.header("mcp-session-id", s),
        (None, BenchDoor::McpStateless) => {
            req = req
                .header("mcp-protocol-version", "2026-07-28")
                .header("mcp-method", "tools/call")
                .header("mcp-name", "apollo_mixed_people_api_search");
        }
        (None, _) => {}
    }
    req.send().await
}

/// Opens an MCP session (initialize, then initialized) and returns its id.
async fn mcp_session(client: &reqwest::Client, t: &Target) -> Result<String, Failure> {
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bollard-bench","version":"0"}}}"#;
    let r = mcp_post(client, t, None, init.to_owned()).await?;
    let session = r
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| {
            Failure::Message(format!(
                "the gateway opened no MCP session (HTTP {})",
                r.status()
            ))
        })?;
    let _ = r.bytes().await?;
    let done = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    mcp_post(client, t, Some(&session), done.to_owned()).await?;
    Ok(session)
}

async fn fixed_rate(client: &reqwest::Client, t: &Target, rate: u64, secs: u64) -> Run {
    let lat = Arc::new(Mutex::new(Vec::with_capacity((rate * secs) as usize)));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let total = rate * secs;
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = started + Duration::from_secs_f64(i as f64 / rate as f64);
        tokio::time::sleep_until(due.into()).await;
        let (c, t, lat, errors) = (client.clone(), t.clone(), lat.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            match one(&c, &t).await {
                Ok(d) => lat
                    .lock()
                    .map(|mut v| v.push(d.as_micros() as u64))
                    .unwrap_or(()),
                Err(()) => {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let mut latencies_us = std::mem::take(&mut *lat.lock().unwrap_or_else(|p| p.into_inner()));
    latencies_us.sort_unstable();
    Run {
        latencies_us,
        errors: errors.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
    }
}

async fn closed_loop(client: &reqwest::Client, t: &Target, concurrency: usize, secs: u64) -> Run {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (c, t) = (client.clone(), t.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            while Instant::now() < deadline {
                match one(&c, &t).await {
                    Ok(d) => lat.push(d.as_micros() as u64),
                    Err(()) => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let mut run = Run::default();
    for t in tasks {
        if let Ok((l, e)) = t.await {
            run.latencies_us.extend(l);
            run.errors += e;
        }
    }
    run.elapsed = started.elapsed();
    run.latencies_us.sort_unstable();
    run
}

fn line(label: &str, r: &Run) -> String {
    format!(
        "  {label:<22} {:>9.0} calls/s   p50 {:>7.3} ms   p99 {:>7.3} ms   errors {}",
        r.rps(),
        r.pct(0.50),
        r.pct(0.99),
        r.errors
    )
}

/// "audit: 10000 records in 7274 disk writes (1.4 records per write, 0.31 ms each)".
fn audit_line(app: &app::App, batches0: u64, records0: u64, busy0: u64) -> String {
    let s = app.gate.audit().stats();
    let batches = s.batches.load(Ordering::Relaxed) - batches0;
    let records = s.records.load(Ordering::Relaxed) - records0;
    let busy = s.busy_micros.load(Ordering::Relaxed) - busy0;
    format!(
        "  audit: {records} records in {batches} disk writes ({:.1} records per write, {:.2} ms each)",
        records as f64 / batches.max(1) as f64,
        busy as f64 / 1000.0 / batches.max(1) as f64
    )
}

pub async fn bench(a: &BenchArgs) -> CliResult {
    let mut sc = SandboxConfig::new(42);
    sc.limits = PlanLimits::unlimited();
    sc.journal_capacity = 1000;
    let sandbox = Sandbox::spawn(sc, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .map_err(|e| Failure::Message(format!("starting the sandbox: {e}")))?;
    let dir = std::env::temp_dir().join(format!("bollard-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let database_url = a
        .bench_database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.join("bench.db").display()));
    let mut config = Config {
        database_url: database_url.clone(),
        ..Config::default()
    };
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.admin_listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.apollo.base_url = sandbox.base_url();
    config.apollo.api_key = Some(Secret::new(sandbox.master_key()));
    let store = store::open(&database_url)
        .await
        .map_err(|e| Failure::Message(e.to_string()))?;
    let name = format!(
        "Bench Agent {}",
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    );
    let created = ops::create_agent(
        &*store,
        &super::command_line(),
        &name,
        "",
        None,
        OffsetDateTime::now_utc(),
    )
    .await?;
    ops::grant(
        &*store,
        &super::command_line(),
        &name,
        &["people=read".to_owned()],
    )
    .await?;
    let token = CancellationToken::new();
    let app = app::start(config, Some(store), Clock::system(), token.clone())
        .await
        .map_err(|e| Failure::Message(format!("{e:#}")))?;
    let direct = Target {
        url: format!("{}/api/v1/mixed_people/api_search", sandbox.base_url()),
        key: sandbox.master_key().to_owned(),
        door: BenchDoor::Rest,
    };
    let gated = Target {
        url: format!("http://{}/api/v1/mixed_people/api_search", app.agent_addr),
        key: created.key.expose().to_owned(),
        door: BenchDoor::Rest,
    };
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()
        .map_err(|e| Failure::Message(e.to_string()))?;
    // Warm both paths (connections, caches) before measuring.
    let _ = closed_loop(&client, &direct, 8, 1).await;
    let _ = closed_loop(&client, &gated, 8, 1).await;

    outln!(
        "People searches (POST /api/v1/mixed_people/api_search), {} s each, {} cores, gateway database {}.\n",
        a.seconds,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        if database_url.starts_with("sqlite") {
            "SQLite (WAL, synchronous=FULL)"
        } else {
            "PostgreSQL"
        }
    );
    outln!("Latency at {} calls/s:", a.rate);
    let d = fixed_rate(&client, &direct, a.rate, a.seconds).await;
    outln!("{}", line("sandbox directly", &d));
    let before = app.gate.audit().stats().batches.load(Ordering::Relaxed);
    let before_r = app.gate.audit().stats().records.load(Ordering::Relaxed);
    let before_busy = app.gate.audit().stats().busy_micros.load(Ordering::Relaxed);
    let g = fixed_rate(&client, &gated, a.rate, a.seconds).await;
    outln!("{}", line("through Bollard", &g));
    outln!(
        "  {:<22} p50 +{:.3} ms   p99 +{:.3} ms",
        "Bollard adds",
        g.pct(0.5) - d.pct(0.5),
        g.pct(0.99) - d.pct(0.99)
    );
    outln!("{}\n", audit_line(&app, before, before_r, before_busy));

    // The MCP door against the REST door, the same search through the same gate, in both
    // protocol eras.
    let mut session = Target {
        url: format!("http://{}/mcp", app.agent_addr),
        key: created.key.expose().to_owned(),
        door: BenchDoor::Rest,
    };
    session.door = BenchDoor::McpSession(mcp_session(&client, &session).await?);
    let stateless = Target {
        door: BenchDoor::McpStateless,
        ..session.clone()
    };
    let _ = closed_loop(&client, &session, 8, 1).await;
    let _ = closed_loop(&client, &stateless, 8, 1).await;
    outln!(
        "The same search as an MCP tools/call, at {} calls/s:",
        a.mcp_rate
    );
    let rest = fixed_rate(&client, &gated, a.mcp_rate, a.seconds).await;
    outln!("{}", line("REST through Bollard", &rest));
    for (label, target) in [("MCP 2025-11-25", &session), ("MCP 2026-07-28", &stateless)] {
        let m = fixed_rate(&client, target, a.mcp_rate, a.seconds).await;
        outln!("{}", line(label, &m));
        outln!(
            "  {:<22} p50 {:+.3} ms   p99 {:+.3} ms   (target: at most +1 ms at p50)",
            format!("{label} adds"),
            m.pct(0.5) - rest.pct(0.5),
            m.pct(0.99) - rest.pct(0.99)
        );
    }
    outln!();

    outln!("Throughput with {} concurrent agents:", a.concurrency);
    let d = closed_loop(&client, &direct, a.concurrency, a.seconds).await;
    outln!("{}", line("sandbox directly", &d));
    let before = app.gate.audit().stats().batches.load(Ordering::Relaxed);
    let before_r = app.gate.audit().stats().records.load(Ordering::Relaxed);
    let before_busy = app.gate.audit().stats().busy_micros.load(Ordering::Relaxed);
    let g = closed_loop(&client, &gated, a.concurrency, a.seconds).await;
    outln!("{}", line("through Bollard", &g));
    outln!("{}", audit_line(&app, before, before_r, before_busy));
    token.cancel();
    let _ = app.done.await;
    sandbox.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
