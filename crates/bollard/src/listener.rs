//! The agent listener's accept loop, with the bounds `axum::serve` does not offer: a
//! header-read timeout (a partial request is closed, not held: slowloris), an idle timeout
//! (a connection with no request in flight and no bytes either way is closed), and a cap on
//! the connections one source address may hold open. Anyone who can reach the port gets
//! here before any key is checked, so none of this may depend on the caller being known.
//!
//! Shutdown stops accepting, then, for a short grace period, keeps serving the connections
//! already open while every answer says `Connection: close`, and only then asks every
//! connection to finish its request in flight and waits for them (see [`GRACE_CAP`]).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::config::ListenerConfig;

/// The longest grace period at a stop (#19 item 10). Closing an idle keep-alive connection at
/// once races its client: a request written just then meets a reset, and the client cannot
/// tell whether it was carried out (3 of 132 calls at a SIGTERM under load). For the grace
/// period (a quarter of the shutdown deadline, at most this) open connections are still read
/// and answered, each answer with `Connection: close`, so a busy client learns from an answer
/// that the connection ends and sends its next call elsewhere.
///
/// What is left of the race: a connection idle for the whole grace period whose client sends
/// just as it is closed. That client gets a reset for a request Bollard never read (so never
/// decided or forwarded), the same as a connection refused, and can safely send it again.
pub const GRACE_CAP: Duration = Duration::from_secs(2);

/// Serves `router` on `listener` until `shutdown` fires, then drains connections.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    config: ListenerConfig,
    shutdown: CancellationToken,
) {
    let graceful = GracefulShutdown::new();
    let counts = SourceCounts::default();
    let closing = Arc::new(AtomicBool::new(false));
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(slot) = counts.take(peer.ip(), config.max_connections_per_source) else {
            tracing::debug!(source = %peer.ip(), "too many connections from one source; closed");
            drop(stream);
            continue;
        };
        // Answers are small and complete; without NODELAY a response written in two pieces
        // waits for the client's delayed ACK (about 40 ms).
        let _ = stream.set_nodelay(true);
        let busy = Arc::new(AtomicUsize::new(0));
        let io = TokioIo::new(Watched::new(stream, config.idle_timeout, busy.clone()));
        let router = router.clone();
        let closing = closing.clone();
        let service = TowerToHyperService::new(tower::service_fn(
            move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                let in_flight = InFlight::new(busy.clone());
                let router = router.clone();
                let closing = closing.clone();
                async move {
                    let mut answer = router.oneshot(req.map(axum::body::Body::new)).await;
                    drop(in_flight);
                    // Read after the call, so a call that was in flight when the stop began
                    // closes its connection too. HTTP/2 ignores the header; its GOAWAY at the
                    // end of the grace period says which streams were served.
                    if closing.load(Ordering::SeqCst)
                        && let Ok(a) = &mut answer
                    {
                        a.headers_mut().insert(
                            hyper::header::CONNECTION,
                            hyper::header::HeaderValue::from_static("close"),
                        );
                    }
                    answer
                }
            },
        ));
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(config.header_read_timeout);
        let conn = builder
            .serve_connection_with_upgrades(io, service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "an agent connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    let stop_began = Instant::now();
    closing.store(true, Ordering::SeqCst);
    // The grace period ends early once every connection has closed, as each busy one does
    // after its next answer.
    let grace = (config.shutdown_deadline / 4).min(GRACE_CAP);
    while graceful.count() > 0 && stop_began.elapsed() < grace {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Calls in flight get until the deadline (#19 item 10); past it the listener closes, and
    // what they had reserved is settled by the sweep of the next start (see `recovery`).
    let left = config
        .shutdown_deadline
        .saturating_sub(stop_began.elapsed());
    if tokio::time::timeout(left, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            deadline_seconds = config.shutdown_deadline.as_secs(),
            "calls were still in flight at the shutdown deadline; stopping without them (their reservations stay counted as spent)"
        );
    }
}

/// Open connections per source address.
#[derive(Debug, Clone, Default)]
struct SourceCounts(Arc<Mutex<HashMap<IpAddr, usize>>>);

/// One open connection of a source; counted down when dropped.
#[derive(Debug)]
struct Slot {
    counts: SourceCounts,
    ip: IpAddr,
}

impl SourceCounts {
    fn take(&self, ip: IpAddr, max: usize) -> Option<Slot> {
        let mut m = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let n = m.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Slot {
            counts: self.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut m = self.counts.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = m.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

/// A request being answered on a connection; the idle timeout does not run meanwhile (a
/// slow Apollo is not an idle client).
#[derive(Debug)]
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn new(busy: Arc<AtomicUsize>) -> Self {
        busy.fetch_add(1, Ordering::SeqCst);
        Self(busy)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A TCP stream that fails its reads once it has been idle (no request in flight, no bytes
/// either way) for `idle`, which makes hyper close the connection.
#[derive(Debug)]
struct Watched {
    io: TcpStream,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
    busy: Arc<AtomicUsize>,
}

impl Watched {
    fn new(io: TcpStream, idle: Duration, busy: Arc<AtomicUsize>) -> Self {
        Self {
            io,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
            busy,
        }
    }

    fn touch(&mut self) {
        let at = Instant::now() + self.idle;
        self.deadline.as_mut().reset(at);
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(r) => {
                this.touch();
                Poll::Ready(r)
            }
            Poll::Pending if this.busy.load(Ordering::SeqCst) > 0 => {
                this.touch();
                Poll::Pending
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the connection was idle too long",
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.touch();
        }
        r
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
