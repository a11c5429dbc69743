//! The MCP front door: `/mcp` on the agent listener, in both protocol eras at once, as the
//! 2026-07-28 revision's "dual-era server" (basic/versioning, backward compatibility):
//!
//! - [`session`]: the 2025-06-18 and 2025-11-25 revisions, an `initialize` handshake and an
//!   `Mcp-Session-Id` (rmcp's streamable HTTP server);
//! - [`stateless`]: the 2026-07-28 revision, every request self-describing (`_meta`), no session.
//!
//! Both share the tool table ([`tools`]) and end in [`Gate::call`] with the key of the HTTP
//! request that carried the call, so a call over MCP is decided, limited, recorded and redacted
//! exactly as the same call over REST.
//!
//! Invariants: no HTTP request reaches either era without a key the directory knows (checked by
//! [`admit`] on every request) and a body within the REST limit; every refusal this layer makes
//! is recorded with the request id the caller receives, and is built by [`refusal_response`].

use std::net::{IpAddr, SocketAddr};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use crate::audit::sentence::Door;
use crate::error::{Denial, Refusal, Refused, TooLarge};
use crate::gate::Gate;
use crate::rest::{REQUEST_ID_HEADER, new_request_id, presented_key};

mod approval_wait;
mod origin;
mod session;
mod stateless;
mod tools;

pub use origin::Origins;

/// Where the MCP server answers on the agent listener.
pub const PATH: &str = "/mcp";

/// What every request to `/mcp` shares.
#[derive(Debug, Clone)]
struct McpDoor {
    gate: Gate,
    owners: session::Owners,
    /// The same bound as REST's, so one door cannot take what the other refuses.
    body_limit: usize,
    /// The web origins a browser page may call from (DNS-rebinding protection).
    origins: Origins,
}

/// Who sent an HTTP request, as [`admit`] established it. rmcp hands the request's
/// `http::request::Parts` to the session handler, and this rides in their extensions.
#[derive(Debug, Clone)]
struct Caller {
    /// The key exactly as presented: the gate authenticates it again on each call, so a key
    /// revoked mid-session is refused with the gate's own sentence.
    key: String,
    agent_id: String,
    source: Option<IpAddr>,
    /// Sent back as `x-bollard-request-id` and used for the audit record of this request.
    request_id: String,
}

/// The `/mcp` router, to merge into the agent listener's router. Sessions end when
/// `shutdown` fires.
pub fn router(
    gate: Gate,
    body_limit: usize,
    origins: Origins,
    shutdown: CancellationToken,
) -> Router {
    let (service, owners) = session::service(gate.clone(), shutdown);
    let door = McpDoor {
        gate,
        owners,
        body_limit,
        origins,
    };
    Router::new()
        .route_service(PATH, service)
        .route_layer(middleware::from_fn_with_state(door, admit))
}

/// CORS for `/mcp`, so a browser-based client on an allowed origin can use it (found in
/// review: `[mcp] allowed_origins` let its requests pass the Origin check, but without CORS
/// headers the browser hid every answer and refused the preflight). A preflight from an
/// origin `Origins::check` accepts is answered here, before the key (a preflight never
/// carries one: Fetch standard, CORS-preflight fetch) and without a record, as it calls
/// nothing; every other answer to such a page names its origin and exposes the headers an MCP
/// client reads (the session id above all: basic/transports, Session Management).
async fn admit(State(door): State<McpDoor>, req: Request, next: Next) -> Response {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .filter(|_| door.origins.check(req.headers()).is_ok())
        .cloned();
    let Some(origin) = origin else {
        return admit_checked(door, req, next).await;
    };
    let preflight = req.method() == axum::http::Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut resp = if preflight {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NO_CONTENT;
        let h = r.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, DELETE"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(
                "authorization, x-api-key, content-type, accept, mcp-protocol-version, mcp-session-id, last-event-id, mcp-method, mcp-name",
            ),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        r
    } else {
        admit_checked(door, req, next).await
    };
    let h = resp.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(
            "mcp-session-id, mcp-protocol-version, x-bollard-request-id, www-authenticate, retry-after",
        ),
    );
    h.append(header::VARY, HeaderValue::from_static("origin"));
    resp
}

/// Authenticates every HTTP request to `/mcp`, bounds its body, and hands it to its era.
async fn admit_checked(door: McpDoor, req: Request, next: Next) -> Response {
    let request_id = new_request_id();
    let key = presented_key(req.headers());
    let source = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip());
    let (parts, body) = req.into_parts();
    let verb = parts.method.as_str().to_owned();
    let refused = |refusal: Refusal| LayerRefusal {
        request_id: request_id.clone(),
        source,
        key: key.clone(),
        what: verb.clone(),
        shape: Shape::Http,
        refusal,
    };
    // Before the key: a page a browser was tricked into running is refused whatever it holds.
    if let Err(origin) = door.origins.check(&parts.headers) {
        return refused(Refusal::Denied(Denial::Origin { origin }))
            .record(&door.gate)
            .await;
    }
    let agent_id = match door.gate.authenticate(key.as_deref()) {
        Ok(live) => live.agent.id.clone(),
        Err(refusal) => match session::still_owner(&door, &parts, key.as_deref()).await {
            Some(agent_id) => agent_id,
            None => return refused(refusal).record(&door.gate).await,
        },
    };
    let Ok(bytes) = axum::body::to_bytes(body, door.body_limit).await else {
        return refused(Refusal::TooLarge(TooLarge::Body {
            limit_kib: door.body_limit / 1024,
        }))
        .record(&door.gate)
        .await;
    };
    let caller = Caller {
        key: key.clone().unwrap_or_default(),
        agent_id,
        source,
        request_id: request_id.clone(),
    };
    let mut resp =
        if parts.method == axum::http::Method::POST && stateless::claims(&parts.headers, &bytes) {
            stateless::handle(&door.gate, &caller, &parts.headers, &bytes).await
        } else {
            session::handle(&door, caller, parts, bytes, next).await
        };
    if let Ok(v) = HeaderValue::try_from(request_id) {
        resp.headers_mut().entry(REQUEST_ID_HEADER).or_insert(v);
    }
    resp
}

/// How a refusal reaches the client.
#[derive(Debug, Clone)]
enum Shape {
    /// Bollard's JSON error body, as REST sends it: for requests that never became JSON-RPC
    /// (no key, a body over the limit).
    Http,
    /// A JSON-RPC error answering request `id`, with Bollard's body as its `data` (under
    /// `bollard` when the protocol fixes other `data` for the code, given in `data`).
    Rpc {
        status: StatusCode,
        id: Value,
        code: i32,
        data: Option<Map<String, Value>>,
    },
}

/// A refusal made by the MCP layer itself, before any tool call reached the gate: recorded,
/// then answered. The one place an MCP refusal becomes a response (tool calls the gate refuses
/// become tool results in [`tools::to_result`]).
#[derive(Debug)]
struct LayerRefusal {
    request_id: String,
    source: Option<IpAddr>,
    key: Option<String>,
    /// What was attempted, for the record's sentence: the HTTP verb, or the JSON-RPC method.
    what: String,
    shape: Shape,
    refusal: Refusal,
}

impl LayerRefusal {
    /// A JSON-RPC error refusing `caller`'s request, which attempted `what`.
    fn rpc(caller: &Caller, what: String, shape: Shape, refusal: Refusal) -> Self {
        Self {
            request_id: caller.request_id.clone(),
            source: caller.source,
            key: Some(caller.key.clone()),
            what,
            shape,
            refusal,
        }
    }

    async fn record(self, gate: &Gate) -> Response {
        let what: String = self.what.chars().take(40).collect();
        gate.record_refusal(
            Door::Mcp,
            &self.request_id,
            self.source,
            self.key.as_deref(),
            (&what, PATH),
            self.refusal.clone(),
        )
        .await;
        refusal_response(&self.shape, &self.refusal, &self.request_id)
    }
}

/// The response for a refusal, in the shape the client expects at that point.
fn refusal_response(shape: &Shape, refusal: &Refusal, request_id: &str) -> Response {
    let refused = Refused::new(refusal.clone());
    let mut r = match shape {
        Shape::Http => refused.into_response(None, request_id),
        Shape::Rpc {
            status,
            id,
            code,
            data,
        } => {
            let body = refused.body(None, request_id);
            let data = match data {
                Some(d) => {
                    let mut d = d.clone();
                    d.insert("bollard".into(), body);
                    Value::Object(d)
                }
                None => body,
            };
            let mut r = (
                *status,
                axum::Json(json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": refusal.message(), "data": data}})),
            )
                .into_response();
            refused.set_headers(&mut r);
            r
        }
    };
    if let Ok(v) = HeaderValue::try_from(request_id) {
        r.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    r
}

/// What the per-call span records about an MCP request, in OpenTelemetry's MCP semantic
/// conventions (gen-ai/mcp): one span around [`Gate::call`], whose own `call` span (request id,
/// agent, action, decision) nests inside it.
#[derive(Debug)]
struct Telemetry<'a> {
    method: &'a str,
    tool: &'a str,
    protocol_version: &'a str,
    rpc_id: &'a Value,
    meta: Option<&'a Map<String, Value>>,
}

impl Telemetry<'_> {
    fn span(&self) -> tracing::Span {
        // W3C trace context rides in `params._meta` (2026-07-28 basic/index, "OpenTelemetry
        // trace context"); a malformed value is dropped rather than recorded.
        let traceparent = self
            .meta
            .and_then(|m| m.get("traceparent"))
            .and_then(Value::as_str)
            .filter(|t| valid_traceparent(t));
        let rpc_id = match self.rpc_id {
            Value::String(s) => s.chars().take(64).collect(),
            Value::Number(n) => n.to_string(),
            _ => String::new(),
        };
        let span = tracing::info_span!(
            "mcp",
            "mcp.method.name" = ?self.method.chars().take(40).collect::<String>(),
            "gen_ai.tool.name" = ?self.tool.chars().take(100).collect::<String>(),
            "mcp.protocol.version" = ?self.protocol_version.chars().take(20).collect::<String>(),
            "jsonrpc.request.id" = ?rpc_id,
            traceparent = tracing::field::Empty,
        );
        if let Some(t) = traceparent {
            span.record("traceparent", t);
        }
        span
    }
}

/// `version-traceid-parentid-flags`, lowercase hex, as W3C Trace Context writes it.
fn valid_traceparent(t: &str) -> bool {
    let parts: Vec<&str> = t.split('-').collect();
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    matches!(parts.as_slice(), [v, id, parent, flags]
        if hex(v, 2) && *v != "ff" && hex(id, 32) && hex(parent, 16) && hex(flags, 2)
            && id.bytes().any(|b| b != b'0') && parent.bytes().any(|b| b != b'0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_is_read_only_in_w3c_form() {
        assert!(valid_traceparent(
            "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"
        ));
        assert!(!valid_traceparent(
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01"
        ));
        assert!(!valid_traceparent("00-xyz-00f067aa0ba902b7-01"));
        assert!(!valid_traceparent(
            "00-0AF7651916CD43DD8448EB211C80319C-00f067aa0ba902b7-01\n"
        ));
    }
}
