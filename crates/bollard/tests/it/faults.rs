//! The fault suite of #19: Apollo's edge losing answers after the work was done, SIGKILL and
//! SIGTERM under load. What Apollo charged never exceeds Bollard's ledger, a budget is never
//! overspent, a crash leaves nothing reserved once the next process has started, and a stop
//! answers every call it read. `scripts/faults` maps each item of the issue to its tests;
//! the `#[ignore]` tests here are its `--long` loops.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apollo_sandbox::{PlanLimits, Sandbox, SandboxConfig};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{Options, ServeOptions, Served, TestApp};

/// A TCP proxy standing for Apollo's edge. It forwards every request, so Apollo does the
/// work (and charges for it), and loses one in `one_in` of the answers to requests whose
/// path holds `losing`: the connection is closed as the answer starts to come back.
pub struct LossyProxy {
    /// `http://127.0.0.1:PORT`, Apollo's base URL for a gateway behind the proxy.
    pub base_url: String,
    /// Answers lost so far.
    pub lost: Arc<AtomicUsize>,
    upstream: Arc<Mutex<Option<SocketAddr>>>,
}

impl LossyProxy {
    pub async fn start(upstream: SocketAddr, losing: &'static str, one_in: usize) -> LossyProxy {
        let proxy = Self::bind(losing, one_in).await;
        proxy.forward_to(upstream);
        proxy
    }

    /// The proxy's address first, for a gateway that must know it before its sandbox (and so
    /// the proxy's upstream) exists; [`LossyProxy::forward_to`] names the upstream.
    pub async fn bind(losing: &'static str, one_in: usize) -> LossyProxy {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let lost = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(AtomicUsize::new(0));
        let upstream: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
        let (counted, to) = (lost.clone(), upstream.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Some(addr) = *to.lock().unwrap() else {
                    continue;
                };
                let Ok(server) = TcpStream::connect(addr).await else {
                    continue;
                };
                let (lost, seen) = (counted.clone(), seen.clone());
                tokio::spawn(relay(client, server, losing, one_in, lost, seen));
            }
        });
        LossyProxy {
            base_url,
            lost,
            upstream,
        }
    }

    pub fn forward_to(&self, upstream: SocketAddr) {
        *self.upstream.lock().unwrap() = Some(upstream);
    }

    pub fn lost(&self) -> usize {
        self.lost.load(Ordering::SeqCst)
    }
}

/// One connection through the proxy. Requests are not pipelined (an HTTP/1 client waits for
/// each answer), so an answer starts at the start of a read and answers the last request.
async fn relay(
    client: TcpStream,
    server: TcpStream,
    losing: &'static str,
    one_in: usize,
    lost: Arc<AtomicUsize>,
    seen: Arc<AtomicUsize>,
) {
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    let last_path = Arc::new(Mutex::new(String::new()));
    let path = last_path.clone();
    let requests = tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match from_client.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let head = String::from_utf8_lossy(&buf[..n.min(512)]).into_owned();
            let mut words = head.split(' ');
            if let (Some(method), Some(target)) = (words.next(), words.next())
                && ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method)
            {
                *path.lock().unwrap() = target.to_owned();
            }
            if to_server.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    });
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from_server.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if buf.starts_with(b"HTTP/1.1 ") && last_path.lock().unwrap().contains(losing) {
            let nth = seen.fetch_add(1, Ordering::SeqCst);
            if nth.is_multiple_of(one_in) {
                // Apollo did the work; its answer never reaches the gateway.
                lost.fetch_add(1, Ordering::SeqCst);
                break;
            }
        }
        if to_client.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    requests.abort();
}

/// A sandbox with no rate limits of its own (the load would meet them) and a small latency,
/// so that calls are in flight when a process dies.
async fn busy_sandbox(seed: u64) -> Sandbox {
    let mut config = SandboxConfig::new(seed);
    config.limits = PlanLimits::unlimited();
    let sandbox = Sandbox::spawn(config, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    sandbox.faults().set_latency(Duration::from_millis(20));
    sandbox
}

/// Credits Apollo has charged the team so far.
fn charged(sandbox: &Sandbox) -> f64 {
    sandbox.credits().total()
}

/// Ids of people to enrich, found through the gateway (a search is free).
async fn people(base: &str, key: &str) -> Vec<String> {
    let found: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/api/v1/mixed_people/api_search"))
        .header("x-api-key", key)
        .json(&json!({"per_page": 25}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<String> = found["people"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["id"].as_str().map(str::to_owned))
        .collect();
    assert!(!ids.is_empty(), "{found}");
    ids
}

/// What one enriching client saw.
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    calls: usize,
    /// 502s: the answer was lost between Apollo and Bollard.
    lost: usize,
}

/// `workers` clients enriching people at once, each until a call is refused (4xx: the budget
/// is spent) or the gateway cannot be reached (the process died).
fn enrich_load(
    base: &str,
    key: &str,
    ids: &[String],
    workers: usize,
) -> Vec<tokio::task::JoinHandle<Seen>> {
    let client = reqwest::Client::new();
    (0..workers)
        .map(|w| {
            let (client, key, ids) = (client.clone(), key.to_owned(), ids.to_vec());
            let url = format!("{base}/api/v1/people/match");
            tokio::spawn(async move {
                let mut seen = Seen::default();
                for i in 0.. {
                    let id = &ids[(w * 7 + i) % ids.len()];
                    let Ok(r) = client
                        .post(&url)
                        .header("x-api-key", &key)
                        .json(&json!({"id": id}))
                        .send()
                        .await
                    else {
                        break;
                    };
                    seen.calls += 1;
                    match r.status().as_u16() {
                        502 => seen.lost += 1,
                        400..=499 => break,
                        _ => {}
                    }
                }
                seen
            })
        })
        .collect()
}

async fn joined(load: Vec<tokio::task::JoinHandle<Seen>>) -> Seen {
    let mut total = Seen::default();
    for l in load {
        let s = l.await.unwrap();
        total.calls += s.calls;
        total.lost += s.lost;
    }
    total
}

/// The agent's daily credits: (spent, reserved).
async fn day_credits(store: &dyn bollard::store::Store, clock_ahead: time::Duration) -> (f64, f64) {
    let agent = bollard::ops::find_agent(store, "Agent").await.unwrap();
    let usage =
        bollard::ops::agent_usage(store, &agent, time::OffsetDateTime::now_utc() + clock_ahead)
            .await
            .unwrap();
    let day = usage.credits.iter().find(|c| c.period == "day").unwrap();
    (day.spent, day.reserved)
}

/// One SIGKILL, measured.
#[derive(Debug, Default, Clone, Copy)]
struct Round {
    /// Credits reserved by calls in flight just before the SIGKILL.
    reserved_at_kill: f64,
    /// Credits still reserved once the next process had started (its sweep done).
    reserved_after_restart: f64,
    /// Credits Apollo charged during the round, and Bollard's ledger at its end.
    charged: f64,
    spent: f64,
    budget: f64,
    calls: usize,
    /// Answers the proxy lost (Apollo did the work).
    lost: usize,
}

/// `bollard serve` behind a lossy Apollo, an agent with a daily budget of `budget` credits,
/// eight clients enriching at once, a SIGKILL while reservations are held, the next start (a
/// minute later as its clock sees it, so the dead process's reservations are swept at once),
/// then the load again until the budget refuses every client.
async fn sigkill_round(sandbox: &Sandbox, proxy: &LossyProxy, budget: u64) -> Round {
    let before = charged(sandbox);
    let lost_before = proxy.lost();
    let mut served = Served::launch(
        sandbox,
        ServeOptions {
            grants: &["people=read"],
            rust_log: "error",
            apollo_base: Some(proxy.base_url.clone()),
            credits_per_day: Some(budget),
            ..ServeOptions::default()
        },
    )
    .await;
    let ids = people(&served.base, &served.key).await;
    let store = bollard::store::open(&served.url).await.unwrap();
    let load = enrich_load(&served.base, &served.key, &ids, 8);
    // Mid-load: a quarter of the budget spent and calls holding reservations.
    let mut reserved_at_kill = 0.0;
    for _ in 0..500 {
        let (spent, reserved) = day_credits(&*store, time::Duration::ZERO).await;
        reserved_at_kill = reserved;
        if spent >= budget as f64 / 4.0 && reserved > 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    served.child.start_kill().unwrap();
    let _ = served.child.wait().await;
    let first = joined(load).await;

    let ahead = time::Duration::seconds(60);
    let (app, stop) = crate::helpers::start_a_minute_later(
        &served.url,
        proxy.base_url.clone(),
        sandbox.master_key(),
    )
    .await;
    let (_, reserved_after_restart) = day_credits(&*store, ahead).await;
    let second = joined(enrich_load(
        &format!("http://{}", app.agent_addr),
        &served.key,
        &ids,
        8,
    ))
    .await;
    stop.cancel();
    let _ = app.done.await;
    let (spent, _) = day_credits(&*store, ahead).await;
    Round {
        reserved_at_kill,
        reserved_after_restart,
        charged: charged(sandbox) - before,
        spent,
        budget: budget as f64,
        calls: first.calls + second.calls,
        lost: proxy.lost() - lost_before,
    }
}

/// #19 item 3 at Apollo's edge: every enrichment's answer is lost after Apollo did the work
/// and charged for it. Bollard keeps each call's reservation as spent, so its ledger never
/// falls below what Apollo charged and the agent cannot spend past its budget by losing
/// answers.
#[tokio::test]
async fn an_answer_lost_at_apollos_edge_after_the_work_stays_counted_as_spent() {
    let proxy = LossyProxy::bind("/people/match", 1).await;
    let t = TestApp::spawn_with(Options {
        apollo_base_url: Some(proxy.base_url.clone()),
        ..Options::default()
    })
    .await;
    proxy.forward_to(t.sandbox.addr());
    let key = t.agent("Agent", &["people=read"]).await;
    t.daily_budget("Agent", 5).await;
    let base = t.agent_url("");
    let ids = people(&base, &key).await;
    let mut statuses = Vec::new();
    for id in ids.iter().take(12) {
        let a = t
            .post("/api/v1/people/match", &key, json!({"id": id}))
            .await;
        statuses.push(a.status);
    }
    let lost = statuses.iter().filter(|s| **s == 502).count();
    let refused = statuses.iter().filter(|s| **s == 403).count();
    let (spent, reserved) = day_credits(&*t.store, time::Duration::ZERO).await;
    let apollo = charged(&t.sandbox);
    assert_eq!(proxy.lost(), lost, "{statuses:?}");
    assert!(lost >= 1, "{statuses:?}");
    assert!(
        apollo <= spent,
        "Apollo charged {apollo} credits, Bollard's ledger says {spent}: {statuses:?}"
    );
    assert!(
        spent <= 5.0,
        "spent {spent} of a 5-credit budget: {statuses:?}"
    );
    assert_eq!(reserved, 0.0);
    assert_eq!(
        refused,
        12 - lost,
        "the budget refused the rest: {statuses:?}"
    );
    t.stop().await;
}

/// #19 items 3 and 4, and the issue's measure of done: a SIGKILL under load with a lossy
/// Apollo leaves 0 credits reserved once the next process has started, and Apollo never
/// charges more than the budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_under_load_with_a_lossy_apollo_leaves_nothing_reserved_and_no_overspend() {
    let sandbox = busy_sandbox(22).await;
    let proxy = LossyProxy::start(sandbox.addr(), "/people/match", 2).await;
    let r = sigkill_round(&sandbox, &proxy, 30).await;
    assert_eq!(r.reserved_after_restart, 0.0, "{r:?}");
    assert!(r.lost > 0, "{r:?}");
    assert!(
        r.charged <= r.spent,
        "Apollo charged beyond Bollard's ledger: {r:?}"
    );
    assert!(r.charged <= r.budget, "overspent: {r:?}");
    sandbox.shutdown().await;
}

/// The `--long` form of the SIGKILL test (`scripts/faults --long`): twenty rounds, summed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "about a minute; run by scripts/faults --long"]
async fn twenty_sigkills_under_load_with_a_lossy_apollo() {
    let sandbox = busy_sandbox(23).await;
    let proxy = LossyProxy::start(sandbox.addr(), "/people/match", 2).await;
    let mut rounds = Vec::new();
    for _ in 0..20 {
        rounds.push(sigkill_round(&sandbox, &proxy, 30).await);
    }
    let held: f64 = rounds.iter().map(|r| r.reserved_at_kill).sum();
    let reserved: f64 = rounds.iter().map(|r| r.reserved_after_restart).sum();
    let overspend: f64 = rounds.iter().map(|r| (r.charged - r.budget).max(0.0)).sum();
    let uncounted: f64 = rounds.iter().map(|r| (r.charged - r.spent).max(0.0)).sum();
    println!(
        "faults: SIGKILL x{}: {} calls, {} answers lost by Apollo's edge; credits reserved at the kills {held}, left reserved after restart {reserved}; overspend {overspend}; charged by Apollo beyond Bollard's ledger {uncounted}",
        rounds.len(),
        rounds.iter().map(|r| r.calls).sum::<usize>(),
        rounds.iter().map(|r| r.lost).sum::<usize>(),
    );
    assert_eq!(reserved, 0.0, "{rounds:?}");
    assert_eq!(overspend, 0.0, "{rounds:?}");
    assert_eq!(uncounted, 0.0, "{rounds:?}");
    sandbox.shutdown().await;
}

/// #19 item 11: a start refused because a newer Bollard migrated the database says why once,
/// naming the newer Bollard, and exits with an error.
#[tokio::test]
async fn a_start_refused_by_a_newer_schema_says_so_once() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("newer.db");
    let url = format!("sqlite://{}", path.display());
    drop(bollard::store::open(&url).await.unwrap());
    let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99990101000000, 'from the future', 1, x'00', 0)",
    )
    .execute(&mut c)
    .await
    .unwrap();
    c.close().await.unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_bollard"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .env("BOLLARD_DATABASE_URL", &url)
        .env("APOLLO_API_KEY", "sbx_master_unused")
        .env("RUST_LOG", "info")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(20), out)
        .await
        .expect("the refused start ends")
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{said}");
    assert_eq!(said.matches("made by a newer Bollard").count(), 1, "{said}");
}

/// How one call on a raw keep-alive connection ended.
enum Exchange {
    /// An answer; whether it said `Connection: close`.
    Answered { close: bool },
    /// The connection failed after the request was written and before a whole answer came.
    Failed,
}

/// Writes one call and reads its whole answer (by `content-length`, or to the last chunk).
async fn exchange(s: &mut TcpStream, request: &[u8]) -> Exchange {
    if s.write_all(request).await.is_err() {
        return Exchange::Failed;
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
            let body = &got[end + 4..];
            let header = |name: &str| {
                head.lines()
                    .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
            };
            let complete = match header("content-length:") {
                Some(n) => body.len() >= n.parse::<usize>().unwrap(),
                None => body.ends_with(b"0\r\n\r\n"),
            };
            if complete {
                let close = header("connection:").is_some_and(|v| v == "close");
                return Exchange::Answered { close };
            }
        }
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return Exchange::Failed,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// What clients on keep-alive connections saw across a SIGTERM.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stop {
    pub answers: usize,
    /// Calls written on a connection that had already carried an answer, then lost: the
    /// keep-alive race. The client cannot tell whether they were carried out.
    pub lost_on_a_kept_connection: usize,
    /// Calls written on a fresh connection that the stop reset before reading them.
    pub reset_on_a_fresh_connection: usize,
    /// Decision records on disk after the stop: calls Bollard read and decided.
    pub decided: usize,
}

/// Six clients looping calls on keep-alive connections to `bollard serve`, with short pauses
/// between calls (a connection idle now and then is when closing it at once would race),
/// then a SIGTERM; each client runs until a connection is refused.
pub async fn sigterm_under_keep_alive_load(seed: u64) -> Stop {
    let sandbox = Sandbox::spawn(
        SandboxConfig::new(seed),
        SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await
    .unwrap();
    sandbox.faults().set_latency(Duration::from_millis(5));
    let served = Served::start(&sandbox, &["people=read"], "error").await;
    let addr = served.base.trim_start_matches("http://").to_owned();
    let body = r#"{"per_page":1}"#;
    let request = format!(
        "POST /api/v1/mixed_people/api_search HTTP/1.1\r\nhost: x\r\nx-api-key: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        served.key,
        body.len()
    );
    let clients: Vec<_> = (0..6u64)
        .map(|i| {
            let (addr, request) = (addr.clone(), request.clone());
            tokio::spawn(async move {
                let mut stop = Stop::default();
                while let Ok(mut s) = TcpStream::connect(&addr).await {
                    let mut answered_here = 0;
                    loop {
                        match exchange(&mut s, request.as_bytes()).await {
                            Exchange::Answered { close } => {
                                stop.answers += 1;
                                answered_here += 1;
                                if close {
                                    break;
                                }
                            }
                            Exchange::Failed if answered_here > 0 => {
                                stop.lost_on_a_kept_connection += 1;
                                break;
                            }
                            Exchange::Failed => {
                                stop.reset_on_a_fresh_connection += 1;
                                break;
                            }
                        }
                        tokio::time::sleep(Duration::from_millis(3 + 4 * i)).await;
                    }
                }
                stop
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let url = served.url.clone();
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        crate::helpers::terminate(served.child),
    )
    .await
    .expect("the stop ends");
    assert!(out.status.success(), "{out:?}");
    let mut total = Stop::default();
    for c in clients {
        let s = tokio::time::timeout(Duration::from_secs(10), c)
            .await
            .expect("the clients stop once the listener is closed")
            .unwrap();
        total.answers += s.answers;
        total.lost_on_a_kept_connection += s.lost_on_a_kept_connection;
        total.reset_on_a_fresh_connection += s.reset_on_a_fresh_connection;
    }
    let store = bollard::store::open(&url).await.unwrap();
    total.decided = store
        .audit_range(0, 0)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "decision")
        .count();
    sandbox.shutdown().await;
    total
}

/// The `--long` form of the SIGTERM test (`scripts/faults --long`): ten stops, summed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "about half a minute; run by scripts/faults --long"]
async fn ten_sigterms_on_busy_keep_alive_connections() {
    let mut total = Stop::default();
    for seed in 0..10 {
        let s = sigterm_under_keep_alive_load(100 + seed).await;
        total.answers += s.answers;
        total.decided += s.decided;
        total.lost_on_a_kept_connection += s.lost_on_a_kept_connection;
        total.reset_on_a_fresh_connection += s.reset_on_a_fresh_connection;
    }
    println!(
        "faults: SIGTERM x10: {} calls answered, {} decided; calls dropped on kept connections {}; fresh connections reset unread {}",
        total.answers,
        total.decided,
        total.lost_on_a_kept_connection,
        total.reset_on_a_fresh_connection
    );
    assert_eq!(total.decided, total.answers, "{total:?}");
    assert_eq!(total.lost_on_a_kept_connection, 0, "{total:?}");
}
