//! The floor under a governed call (issue 16): Bollard's own HTTP stack with no gate in it.
//! The same listener (hyper, axum, the connection limits), the same runtime and allocator and
//! the same Apollo client (`Upstream`, reqwest with its pool) pass every request straight through:
//! no key check, no decision, no audit record, no answer scan, no log line.
//! `scripts/bench-vs-nginx` runs it beside Bollard, so the difference between the two is
//! what governing a call costs, and this row is what the stack costs before any of it.
//!
//!   APOLLO_API_KEY=... cargo run --release -p bollard --example passthrough -- \
//!       127.0.0.1:8080 http://127.0.0.1:4010
//!
//! A measuring tool, not a product: it forwards anything with the key from the environment.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use bollard::config::{ApolloConfig, ApolloKeyKind, ListenerConfig};
use bollard::keys::Secret;
use bollard::upstream::{Outgoing, Upstream};
use tokio_util::sync::CancellationToken;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// On the runtime `bollard serve` runs on: one worker fewer than the cores (`cli::runtime`).
fn main() -> Result<(), Box<dyn std::error::Error>> {
    bollard::cli::runtime::build()?.block_on(serve())
}

async fn serve() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(base_url)) = (args.next(), args.next()) else {
        return Err(
            "usage: passthrough LISTEN_ADDR APOLLO_BASE_URL (key in APOLLO_API_KEY)".into(),
        );
    };
    let key = std::env::var("APOLLO_API_KEY").map_err(|_| "APOLLO_API_KEY is not set")?;
    let upstream = Upstream::new(&ApolloConfig {
        api_key: Some(Secret::new(key)),
        base_url,
        key_kind: ApolloKeyKind::Master,
        timeout: Duration::from_secs(30),
        connect_timeout: Duration::from_secs(5),
    })?;
    let listen: SocketAddr = listen.parse()?;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let router = Router::new().fallback(pass).with_state(upstream);
    bollard::listener::serve(
        listener,
        router,
        ListenerConfig::default(),
        CancellationToken::new(),
    )
    .await;
    Ok(())
}

async fn pass(State(upstream): State<Upstream>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 1 << 20).await else {
        return status(StatusCode::PAYLOAD_TOO_LARGE);
    };
    let out = Outgoing {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().map(str::to_owned),
        json_body: (!body.is_empty()).then(|| body.to_vec()),
    };
    match upstream.send(out).await {
        Ok(answer) => {
            let mut r = Response::new(Body::from(answer.body));
            *r.status_mut() =
                StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
            r.headers_mut().extend(answer.headers);
            r
        }
        Err(_) => status(StatusCode::BAD_GATEWAY),
    }
}

fn status(code: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = code;
    r
}
