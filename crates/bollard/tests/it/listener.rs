//! The agent listener's bounds, with a raw TCP client: a partial request and a silent
//! connection are closed, one source cannot hold more than its share of connections, and a
//! slow Apollo is not mistaken for an idle client.

use std::time::{Duration, Instant};

use bollard::config::ListenerConfig;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Options, TestApp};

async fn spawn(header: u64, idle: u64, per_source: usize) -> TestApp {
    TestApp::spawn_with(Options {
        listener: Some(ListenerConfig {
            header_read_timeout: Duration::from_secs(header),
            idle_timeout: Duration::from_secs(idle),
            max_connections_per_source: per_source,
            ..ListenerConfig::default()
        }),
        ..Options::default()
    })
    .await
}

/// Reads until the server closes the connection; how long that took. Fails after `limit`.
async fn closed_within(s: &mut TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(limit, s.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("the server kept the connection open for {limit:?}"),
        }
    }
}

#[tokio::test]
async fn a_partial_request_is_disconnected_after_the_header_timeout() {
    let t = spawn(1, 30, 64).await;
    let mut s = TcpStream::connect(t.app.agent_addr).await.expect("connect");
    s.write_all(b"POST /api/v1/contacts/search HTTP/1.1\r\nHost: x\r\nx-api-")
        .await
        .expect("write");
    let took = closed_within(&mut s, Duration::from_secs(10)).await;
    assert!(took >= Duration::from_millis(900), "{took:?}");
    // The gateway still serves others.
    let a = t.send("GET", "/healthz", None, None).await;
    assert_eq!(a.status, 200);
    t.stop().await;
}

#[tokio::test]
async fn a_silent_or_idle_keep_alive_connection_is_disconnected() {
    let t = spawn(30, 1, 64).await;
    let mut silent = TcpStream::connect(t.app.agent_addr).await.expect("connect");
    let took = closed_within(&mut silent, Duration::from_secs(10)).await;
    assert!(took >= Duration::from_millis(900), "{took:?}");
    // After a complete exchange, a keep-alive connection left idle is closed too.
    let mut kept = TcpStream::connect(t.app.agent_addr).await.expect("connect");
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 1024];
    let n = kept.read(&mut buf).await.expect("an answer");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    closed_within(&mut kept, Duration::from_secs(10)).await;
    t.stop().await;
}

#[tokio::test]
async fn one_source_cannot_hold_more_than_its_share_of_connections() {
    let t = spawn(30, 30, 2).await;
    let _a = TcpStream::connect(t.app.agent_addr).await.expect("connect");
    let b = TcpStream::connect(t.app.agent_addr).await.expect("connect");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = TcpStream::connect(t.app.agent_addr).await.expect("connect");
    let took = closed_within(&mut third, Duration::from_secs(5)).await;
    assert!(took < Duration::from_secs(2), "{took:?}");
    // Closing one makes room again.
    drop(b);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fourth = TcpStream::connect(t.app.agent_addr).await.expect("connect");
    fourth
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nconnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut out = String::new();
    fourth.read_to_string(&mut out).await.expect("read");
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    t.stop().await;
}

#[tokio::test]
async fn a_slow_apollo_is_not_an_idle_client() {
    let t = spawn(1, 1, 64).await;
    let key = t.agent("Reader", &["contacts=read"]).await;
    t.sandbox.faults().set_latency(Duration::from_millis(2500));
    let a = t.post("/api/v1/contacts/search", &key, json!({})).await;
    assert_eq!(a.status, 200, "{}", a.text);
    t.stop().await;
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

/// What one looping client saw.
#[derive(Debug, Default)]
struct Tally {
    answers: usize,
    /// Calls written on a connection that had already carried an answer, then lost: the
    /// keep-alive race. The client cannot tell whether they were carried out.
    lost_on_a_kept_connection: usize,
    /// Calls written on a fresh connection that the stop reset before reading it.
    reset_on_a_fresh_connection: usize,
}

/// #19 item 10: at a SIGTERM, clients busy on keep-alive connections get an answer for every
/// call Bollard read, and no call written on a kept connection is lost: for the grace period
/// each answer says `Connection: close`, so the client's next call goes to a new connection,
/// which is refused once the listener has closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_on_busy_keep_alive_connections_answers_every_call_it_read() {
    let sandbox = apollo_sandbox::Sandbox::spawn(
        apollo_sandbox::SandboxConfig::new(11),
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await
    .unwrap();
    sandbox.faults().set_latency(Duration::from_millis(5));
    let served = crate::helpers::Served::start(&sandbox, &["people=read"], "warn").await;
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
                let mut tally = Tally::default();
                // Until a connection is refused: the listener has closed.
                while let Ok(mut s) = TcpStream::connect(&addr).await {
                    let mut answered_here = 0;
                    loop {
                        match exchange(&mut s, request.as_bytes()).await {
                            Exchange::Answered { close } => {
                                tally.answers += 1;
                                answered_here += 1;
                                if close {
                                    break;
                                }
                            }
                            Exchange::Failed if answered_here > 0 => {
                                tally.lost_on_a_kept_connection += 1;
                                break;
                            }
                            Exchange::Failed => {
                                tally.reset_on_a_fresh_connection += 1;
                                break;
                            }
                        }
                        // A client that thinks between calls leaves its connection idle now
                        // and then, which is when closing it at once would race.
                        tokio::time::sleep(Duration::from_millis(3 + 4 * i)).await;
                    }
                }
                tally
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
    let mut total = Tally::default();
    for c in clients {
        let t = tokio::time::timeout(Duration::from_secs(10), c)
            .await
            .expect("the clients stop once the listener is closed")
            .unwrap();
        total.answers += t.answers;
        total.lost_on_a_kept_connection += t.lost_on_a_kept_connection;
        total.reset_on_a_fresh_connection += t.reset_on_a_fresh_connection;
    }
    let store = bollard::store::open(&url).await.unwrap();
    let decided = store
        .audit_range(0, 0)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "decision")
        .count();
    assert!(total.answers > 50, "{total:?}");
    assert_eq!(
        decided, total.answers,
        "every call Bollard read and decided was answered: {total:?}"
    );
    assert_eq!(total.lost_on_a_kept_connection, 0, "{total:?}");
    sandbox.shutdown().await;
}
