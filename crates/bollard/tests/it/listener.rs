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

/// #19 item 10: at a SIGTERM, clients busy on keep-alive connections get an answer for every
/// call Bollard read, and no call written on a kept connection is lost: for the grace period
/// each answer says `Connection: close`, so the client's next call goes to a new connection,
/// which is refused once the listener has closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_on_busy_keep_alive_connections_answers_every_call_it_read() {
    let s = crate::faults::sigterm_under_keep_alive_load(11).await;
    assert!(s.answers > 50, "{s:?}");
    assert_eq!(s.decided, s.answers, "every call read was answered: {s:?}");
    assert_eq!(s.lost_on_a_kept_connection, 0, "{s:?}");
}
