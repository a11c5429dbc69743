//! The HTTP server: an accept loop over hyper, and the phases of one request in order.
//!
//! Plain hyper rather than a router framework, for two reasons: a fault can drop the
//! connection without answering (a service error makes hyper close it), and the phases
//! below run in Apollo's order with no per-route layers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use serde_json::Value;

use crate::args::Args;
use crate::endpoint::{Endpoint, resolve};
use crate::error::{ApiError, Body};
use crate::fault::Fault;
use crate::journal::{JournalEntry, KeyUsed, redact_query};
use crate::ratelimit::Usage;
use crate::route::{self, Reply};
use crate::state::State;

/// How long shutdown waits for open connections to finish their request.
const DRAIN: Duration = Duration::from_secs(5);

/// Returned by the service to make hyper close the connection without an answer.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by fault injection")]
struct DropConnection;

/// Serves until `shutdown` fires, then stops accepting and drains open connections.
pub async fn run(state: Arc<State>, listener: TcpListener, shutdown: CancellationToken) {
    let connections = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(err) => {
                // Usually out of file descriptors: back off instead of spinning.
                tracing::warn!(error = %err, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let service = service_fn(move |req| handle(state.clone(), req));
            let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                () = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    drop(listener);
    connections.close();
    let _ = tokio::time::timeout(DRAIN, connections.wait()).await;
    state.webhooks.close().await;
}

type HttpResponse = Response<Full<Bytes>>;

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<HttpResponse, DropConnection> {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let header_key = req
        .headers()
        .get("x-api-key")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned());
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = match Limited::new(req.into_body(), state.config.body_limit)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(err) => {
            let too_large = err
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some();
            if !too_large {
                // The client went away mid-body: nobody is left to answer.
                return Err(DropConnection);
            }
            return Ok(error_response(&ApiError::TooLarge, None));
        }
    };
    let parsed = Args::from_request(&query, content_type.as_deref(), &body);
    if path.starts_with("/__sandbox/") {
        return Ok(admin(&state, &method, &path, header_key.as_deref(), parsed));
    }
    let (mut args, parse_error) = match parsed {
        Ok(args) => (args, None),
        Err(err) => (Args::default(), Some(err)),
    };
    let arg_key = args
        .remove("api_key")
        .and_then(|v| v.as_str().map(str::to_owned));
    let api_key_argument = arg_key.is_some();
    let key = state.key_used(header_key.as_deref().or(arg_key.as_deref()));
    let mut entry = JournalEntry {
        method,
        path,
        query: redact_query(&query),
        args: Value::Null,
        key,
        api_key_argument,
        status: 0,
        at: state.config.clock.now(),
    };
    let outcome = answer(&state, &entry, &args, parse_error, key).await;
    entry.args = args.into_value();
    let response = match outcome {
        Some(response) => {
            entry.status = response.status().as_u16();
            Some(response)
        }
        None => None,
    };
    tracing::info!(
        method = %entry.method,
        path = %entry.path,
        status = entry.status,
        key = ?entry.key,
        ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    state.journal.push(entry);
    response.ok_or(DropConnection)
}

/// The phases of an Apollo call, in order. `None` means drop the connection.
async fn answer(
    state: &State,
    entry: &JournalEntry,
    args: &Args,
    parse_error: Option<crate::args::ArgsError>,
    key: KeyUsed,
) -> Option<HttpResponse> {
    let resolved = resolve(&entry.method, &entry.path);
    // Faults stand for Apollo's infrastructure failing, so they come before anything
    // Apollo's application would check.
    let (latency, fault) = state.faults.take();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let now = state.config.clock.now();
    match fault {
        Fault::None => {}
        Fault::Drop => return None,
        Fault::Fail(status) => return Some(error_response(&ApiError::Injected(status), None)),
        Fault::RateLimit => {
            let endpoint = resolved
                .as_ref()
                .map_or(Endpoint::PeopleSearch, |r| r.endpoint);
            let exceeded = state.limiter.forced(endpoint, now);
            let error = ApiError::RateLimited {
                message: exceeded.message(endpoint),
                retry_after: exceeded.retry_after,
            };
            return Some(error_response(&error, Some(exceeded.usage)));
        }
    }
    // Apollo's key check, which integrations call before anything else: it answers 200 and
    // says whether the key is good instead of refusing a bad one, and counts against no
    // endpoint's rate limit.
    if entry.method == "GET"
        && matches!(
            entry.path.as_str(),
            "/v1/auth/health" | "/api/v1/auth/health"
        )
    {
        let logged_in = matches!(key, KeyUsed::Master | KeyUsed::Scoped);
        let body = serde_json::json!({"healthy": true, "is_logged_in": logged_in});
        return Some(json_response(200, body.to_string(), None));
    }
    // Rails routes before the controller authenticates: an unknown path is 404 for anyone.
    let Some(resolved) = resolved else {
        return Some(error_response(&ApiError::NotFound, None));
    };
    // A body Rails cannot parse fails in middleware, before authentication.
    if let Some(err) = parse_error {
        return Some(error_response(&err.into(), None));
    }
    if matches!(key, KeyUsed::Missing | KeyUsed::Unknown) {
        return Some(error_response(&ApiError::Unauthorized, None));
    }
    let endpoint = resolved.endpoint;
    if key == KeyUsed::Scoped && endpoint.master_only() {
        let usage = state.limiter.peek(endpoint, now);
        let error = ApiError::Inaccessible {
            route: endpoint.route_name(),
        };
        return Some(error_response(&error, Some(usage)));
    }
    let usage = match state.limiter.hit(endpoint, now) {
        Ok(usage) => usage,
        Err(exceeded) => {
            let error = ApiError::RateLimited {
                message: exceeded.message(endpoint),
                retry_after: exceeded.retry_after,
            };
            return Some(error_response(&error, Some(exceeded.usage)));
        }
    };
    Some(match route::dispatch(state, &resolved, args) {
        Ok(Reply::Json(value)) => json_response(200, value.to_string(), Some(usage)),
        Ok(Reply::Raw(text)) => json_response(200, text, Some(usage)),
        Err(error) => error_response(&error, Some(usage)),
    })
}

fn admin(
    state: &State,
    method: &str,
    path: &str,
    header_key: Option<&str>,
    parsed: Result<Args, crate::args::ArgsError>,
) -> HttpResponse {
    let mut args = match parsed {
        Ok(args) => args,
        Err(err) => return error_response(&err.into(), None),
    };
    let arg_key = args
        .remove("api_key")
        .and_then(|v| v.as_str().map(str::to_owned));
    if state.key_used(header_key.or(arg_key.as_deref())) != KeyUsed::Master {
        return error_response(&ApiError::Unauthorized, None);
    }
    match route::admin(state, method, path, &args) {
        Some(Ok(value)) => json_response(200, value.to_string(), None),
        Some(Err(error)) => error_response(&error, None),
        None => error_response(&ApiError::NotFound, None),
    }
}

fn error_response(error: &ApiError, usage: Option<Usage>) -> HttpResponse {
    let (status, body) = error.status_and_body();
    let mut response = match body {
        Body::Json(value) => json_response(status, value.to_string(), usage),
        Body::Text(text) => with_headers(status, text, "text/plain; charset=utf-8", usage),
    };
    if let ApiError::RateLimited { retry_after, .. } = error {
        response
            .headers_mut()
            .insert("retry-after", HeaderValue::from(*retry_after));
    }
    response
}

fn json_response(status: u16, body: String, usage: Option<Usage>) -> HttpResponse {
    with_headers(status, body, "application/json; charset=utf-8", usage)
}

fn with_headers(
    status: u16,
    body: String,
    content_type: &'static str,
    usage: Option<Usage>,
) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(usage) = usage {
        for (name, value) in usage.headers() {
            headers.insert(name, HeaderValue::from(value));
        }
    }
    response
}
