//! The Apollo-shaped front door: `/api/v1/...` and `/v1/...` exactly as Apollo serves them.
//! Every request on the agent listener that is not health or MCP comes here and goes
//! through the gate, unknown paths included (they are denied and recorded).

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::audit::sentence::Door;
use crate::gate::{Call, Gate, Reply, Target};

pub const REQUEST_ID_HEADER: &str = "x-bollard-request-id";

#[derive(Debug, Clone)]
struct RestState {
    gate: Gate,
    body_limit: usize,
}

pub fn router(gate: Gate, body_limit: usize) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .fallback(handle)
        .with_state(RestState { gate, body_limit })
}

/// The agent's key: Apollo's own `X-Api-Key` header, or `Authorization: Bearer`.
pub fn presented_key(headers: &HeaderMap) -> Option<String> {
    if let Some(k) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(k.trim().to_owned());
    }
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = auth.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

pub fn new_request_id() -> String {
    format!("req_{}", uuid::Uuid::now_v7().simple())
}

async fn handle(
    State(st): State<RestState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, st.body_limit).await.ok();
    let call = Call {
        door: Door::Rest,
        request_id: new_request_id(),
        source: Some(peer.ip()),
        key: presented_key(&parts.headers),
        target: Target::Http {
            method: parts.method.as_str().to_owned(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            content_type: parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            body,
        },
    };
    to_response(st.gate.call(call).await)
}

fn to_response(reply: Reply) -> Response {
    let mut resp = match reply.result {
        Ok(answered) => {
            let mut r = Response::new(Body::from(answered.body));
            *r.status_mut() =
                StatusCode::from_u16(answered.status).unwrap_or(StatusCode::BAD_GATEWAY);
            let h = r.headers_mut();
            for (k, v) in answered.headers {
                h.insert(k, v);
            }
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            r
        }
        Err(refused) => refused.into_response(reply.action, &reply.request_id),
    };
    if let Ok(v) = HeaderValue::try_from(reply.request_id) {
        resp.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    resp
}

async fn ready(State(st): State<RestState>) -> Response {
    match crate::health::check(&**st.gate.store(), st.gate.key_health()).await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why.to_string()).into_response(),
    }
}
