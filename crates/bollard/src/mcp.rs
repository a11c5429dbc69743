//! The MCP front door: `/mcp` on the agent listener, streamable HTTP (rmcp). One tool per
//! catalog action, named as Apollo's own MCP server names it. Every `tools/call` goes through
//! [`Gate::call`] with the key of the HTTP request that carried it, so a call over MCP is
//! decided, limited, recorded and redacted exactly as the same call over REST.
//!
//! Invariants: no HTTP request reaches rmcp without a key the directory knows (checked by
//! [`admit`] on every request, not only at `initialize`); a session belongs to the agent that
//! opened it; refusals and Apollo's errors are tool results (`isError: true`) with a sentence a
//! model can act on, never protocol failures.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, LazyLock, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use bollard_policy::{Action, Kind, catalog};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, Content, ErrorCode, Implementation,
    InitializeRequestParams, InitializeResult, ListToolsResult, Meta, PaginatedRequestParams,
    ServerCapabilities, Tool, ToolAnnotations,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, Peer, RoleServer, ServerHandler};
use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::audit::sentence::Door;
use crate::directory::LiveAgent;
use crate::error::Refusal;
use crate::gate::{Call, Gate, Reply, Target};
use crate::keys::hash_key;
use crate::rest::{REQUEST_ID_HEADER, new_request_id, presented_key};

/// Where the MCP server answers on the agent listener.
pub const PATH: &str = "/mcp";

/// The most a single HTTP request to `/mcp` may carry. Apollo's own calls are far smaller;
/// the bound keeps one client from making the gateway buffer without end.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// The most one MCP answer may weigh when it is sent whole (see [`whole`]): far above any
/// page of Apollo results, a bound only against a runaway stream.
const RESPONSE_LIMIT: usize = 64 * 1024 * 1024;

/// Who sent an HTTP request, as [`admit`] established it. rmcp hands the request's
/// `http::request::Parts` to the handler, and this rides in their extensions.
#[derive(Debug, Clone)]
struct Caller {
    /// The key exactly as presented: the gate authenticates it again on each call, so a key
    /// revoked mid-session is refused with the gate's own sentence.
    key: String,
    agent_id: String,
    source: Option<IpAddr>,
}

/// The `/mcp` router, to merge into the agent listener's router. Sessions end when
/// `shutdown` fires.
pub fn router(gate: Gate, shutdown: CancellationToken) -> Router {
    let config = StreamableHttpServerConfig::default()
        .with_cancellation_token(shutdown.child_token())
        // rmcp's Host check defends keyless local servers against DNS rebinding. Every request
        // here needs an agent key a browser on another site does not have, and the gateway is
        // reached under whatever name its operator gives it, so the check would only get in
        // the way.
        .disable_allowed_hosts();
    let factory_gate = gate.clone();
    let service = StreamableHttpService::new(
        move || Ok(Session::new(factory_gate.clone(), shutdown.child_token())),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    Router::new()
        .route_service(PATH, service)
        .route_layer(middleware::from_fn_with_state(gate, admit))
}

/// Authenticates every HTTP request to `/mcp` and bounds its body, before rmcp sees it.
async fn admit(State(gate): State<Gate>, req: Request, next: Next) -> Response {
    let request_id = new_request_id();
    let key = presented_key(req.headers());
    let in_session = req.headers().contains_key("mcp-session-id");
    let agent_id = match gate.authenticate(key.as_deref()) {
        Ok(live) => live.agent.id.clone(),
        Err(refusal) => {
            // A key that was valid when its session began but has since been revoked or has
            // expired may still reach the session, so that its tool calls get the gate's own
            // sentence as a tool error (and are recorded). Anything else gets no session.
            let known = key
                .as_deref()
                .filter(|k| !k.is_empty())
                .and_then(|k| gate.directory().by_key(&hash_key(k)));
            match known {
                Some(live) if in_session && req.method() == axum::http::Method::POST => {
                    live.agent.id.clone()
                }
                _ => {
                    let source = req
                        .extensions()
                        .get::<ConnectInfo<SocketAddr>>()
                        .map(|ConnectInfo(a)| a.ip());
                    gate.record_refusal(
                        Door::Mcp,
                        &request_id,
                        source,
                        key.as_deref(),
                        (req.method().as_str(), PATH),
                        refusal.clone(),
                    )
                    .await;
                    return refusal_response(&refusal, &request_id);
                }
            }
        }
    };
    let source = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip());
    let (mut parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        let refusal = Refusal::TooLarge(format!(
            "The request to {PATH} is larger than Bollard accepts ({} KiB); Apollo's own calls are far smaller.",
            BODY_LIMIT / 1024
        ));
        gate.record_refusal(
            Door::Mcp,
            &request_id,
            source,
            key.as_deref(),
            (parts.method.as_str(), PATH),
            refusal.clone(),
        )
        .await;
        return refusal_response(&refusal, &request_id);
    };
    if parts.method == axum::http::Method::POST
        && let Some(early) = precheck(&bytes, in_session)
    {
        return early;
    }
    let is_post = parts.method == axum::http::Method::POST;
    parts.extensions.insert(Caller {
        key: key.unwrap_or_default(),
        agent_id,
        source,
    });
    let resp = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    if is_post && is_event_stream(&resp) {
        return whole(resp).await;
    }
    resp
}

fn is_event_stream(resp: &Response) -> bool {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"))
}

/// Sends a POST's event stream in one piece. rmcp answers a request with an event stream
/// whose headers go out before the answer is ready; on a socket without TCP_NODELAY the
/// answer, written a moment later, then waits for the client's delayed ACK (about 40 ms on
/// Linux) on every call. A POST's stream ends with its answer (nothing here streams progress),
/// so waiting for the end costs nothing and makes the reply one write, as REST replies are.
/// The long-lived GET stream, which carries list-changed notifications, stays a stream.
async fn whole(resp: Response) -> Response {
    let (parts, body) = resp.into_parts();
    match axum::body::to_bytes(body, RESPONSE_LIMIT).await {
        Ok(bytes) => Response::from_parts(parts, Body::from(bytes)),
        Err(e) => {
            tracing::warn!(error = %e, "an MCP answer could not be buffered");
            let refusal =
                Refusal::Internal("Bollard could not send this MCP answer. Try again.".into());
            refusal_response(&refusal, &new_request_id())
        }
    }
}

/// Answers the malformed requests that rmcp would answer with a bare HTTP status, with a
/// JSON-RPC error a client can show instead: a request before `initialize`, and `tools/call`
/// arguments that are not an object. Anything it cannot read is left to rmcp.
fn precheck(body: &[u8], in_session: bool) -> Option<Response> {
    let msg: Value = serde_json::from_slice(body).ok()?;
    let method = msg.get("method")?.as_str()?;
    let id = msg.get("id")?.clone();
    if !in_session && method != "initialize" {
        return Some(jsonrpc_error(
            StatusCode::BAD_REQUEST,
            id,
            ErrorCode::INVALID_REQUEST,
            format!(
                "'{}' came before initialize: open a session with initialize first, then send its Mcp-Session-Id header with every request.",
                method.chars().take(40).collect::<String>()
            ),
        ));
    }
    if method == "tools/call" {
        let args = msg.pointer("/params/arguments");
        if args.is_some_and(|a| !a.is_object() && !a.is_null()) {
            return Some(jsonrpc_error(
                StatusCode::OK,
                id,
                ErrorCode::INVALID_PARAMS,
                "The arguments of tools/call must be a JSON object whose fields follow the tool's input schema.".into(),
            ));
        }
    }
    None
}

fn jsonrpc_error(status: StatusCode, id: Value, code: ErrorCode, message: String) -> Response {
    let body = json!({"jsonrpc": "2.0", "id": id, "error": {"code": code.0, "message": message}});
    (status, axum::Json(body)).into_response()
}

/// Bollard's JSON error body, as REST sends it, for a request that never reached a session.
fn refusal_response(refusal: &Refusal, request_id: &str) -> Response {
    let (status, _) = refusal.status_and_code();
    let body = refusal.body(None, request_id, &refusal.to_string(), &[]);
    let mut r = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(body),
    )
        .into_response();
    if matches!(refusal, Refusal::Unauthenticated(_)) {
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    if let Ok(v) = HeaderValue::try_from(request_id) {
        r.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    r
}

/// Every catalog action as an MCP tool, built once: the list a session shows is a filter of it.
static TOOLS: LazyLock<Vec<(&'static Action, Tool)>> =
    LazyLock::new(|| catalog().iter().map(|a| (a, tool(a))).collect());

fn tool(action: &'static Action) -> Tool {
    let schema = match action.input_schema() {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let mut description = action.description.to_owned();
    description.push_str(
        " Bollard checks every call against this agent's grants, rules, limits and credit budget; a refused call comes back as an error that says why, and nothing reaches Apollo.",
    );
    let annotations = ToolAnnotations::with_title(action.title)
        .read_only(action.read_only())
        .open_world(true);
    let annotations = match action.kind {
        Kind::Read => annotations,
        Kind::Write => annotations
            .destructive(action.overwrites())
            .idempotent(action.idempotent()),
    };
    Tool::new(action.mcp_tool, description, Arc::new(schema))
        .with_title(action.title)
        .with_annotations(annotations)
}

/// The tools an agent's grants allow now.
fn visible(live: &LiveAgent) -> impl Iterator<Item = &'static (&'static Action, Tool)> {
    TOOLS
        .iter()
        .filter(move |(a, _)| live.agent.grants.allows(a))
}

/// The names an agent would see, for telling a session that its list changed. A revoked or
/// unknown agent sees nothing.
fn visible_names(gate: &Gate, agent_id: &str) -> Vec<&'static str> {
    match gate.directory().by_id(agent_id) {
        Some(live) if live.agent.revoked_at.is_none() => {
            visible(&live).map(|(a, _)| a.mcp_tool).collect()
        }
        _ => Vec::new(),
    }
}

/// One MCP session: rmcp makes one per `initialize` and drops it when the session ends.
struct Session {
    gate: Gate,
    /// The agent that opened the session, set by `initialize`.
    owner: Mutex<Option<String>>,
    /// Subscribed at `initialize`, so a grant change before `initialized` is not missed;
    /// taken by the watcher that `initialized` starts.
    pending_watch: Mutex<Option<watch::Receiver<i64>>>,
    stop: CancellationToken,
    /// Stops this session's watcher when rmcp drops the session.
    _stop_on_drop: DropGuard,
}

impl Session {
    fn new(gate: Gate, stop: CancellationToken) -> Self {
        Self {
            gate,
            owner: Mutex::new(None),
            pending_watch: Mutex::new(None),
            _stop_on_drop: stop.clone().drop_guard(),
            stop,
        }
    }

    fn owner(&self) -> Option<String> {
        self.owner.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The caller of this request, refused if the session belongs to another agent.
    fn caller(&self, extensions: &rmcp::model::Extensions) -> Result<Caller, String> {
        let caller = extensions
            .get::<axum::http::request::Parts>()
            .and_then(|p| p.extensions.get::<Caller>())
            .cloned()
            .ok_or_else(|| {
                "This request did not come through Bollard's MCP endpoint.".to_owned()
            })?;
        match self.owner() {
            Some(owner) if owner != caller.agent_id => Err(
                "This MCP session was opened with another agent's key. Start a new session with your own key.".into(),
            ),
            _ => Ok(caller),
        }
    }
}

impl ServerHandler for Session {
    fn get_info(&self) -> InitializeResult {
        InitializeResult::new(ServerCapabilities::builder().enable_tools().enable_tool_list_changed().build())
            .with_server_info(
                Implementation::new("bollard", env!("CARGO_PKG_VERSION")).with_title("Bollard: Apollo.io, governed"),
            )
            .with_instructions(
                "Apollo.io through Bollard. The tools listed are the Apollo actions this agent may use; some spend the team's Apollo credits (each description says how many). A refused call returns an error explaining why: tell the user rather than retrying.",
            )
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        let caller = self
            .caller(&context.extensions)
            .map_err(|m| ErrorData::invalid_request(m, None))?;
        *self.owner.lock().unwrap_or_else(|p| p.into_inner()) = Some(caller.agent_id);
        *self.pending_watch.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(self.gate.directory().subscribe());
        context.peer.set_peer_info(request);
        Ok(self.get_info())
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let rx = self
            .pending_watch
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let (Some(rx), Some(owner)) = (rx, self.owner()) {
            tokio::spawn(watch_grants(
                self.gate.clone(),
                owner,
                rx,
                context.peer,
                self.stop.clone(),
            ));
        }
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let caller = self
            .caller(&context.extensions)
            .map_err(|m| ErrorData::invalid_request(m, None))?;
        // Computed from the directory at the time of the request, not at `initialize`.
        let live = self.gate.authenticate(Some(&caller.key)).map_err(|r| {
            ErrorData::invalid_request(r.to_string(), Some(r.body(None, "", &r.to_string(), &[])))
        })?;
        Ok(ListToolsResult {
            tools: visible(&live).map(|(_, t)| t.clone()).collect(),
            ..Default::default()
        })
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        TOOLS
            .iter()
            .find(|(a, _)| a.mcp_tool == name)
            .map(|(_, t)| t.clone())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let request_id = new_request_id();
        let caller = match self.caller(&context.extensions) {
            Ok(c) => c,
            Err(m) => return Ok(refused_result(&Refusal::Denied(m), None, &request_id)),
        };
        // The gate checks the arguments' size, so an oversized call is refused and recorded
        // like any other.
        let arguments = request.arguments.unwrap_or_default();
        let reply = self
            .gate
            .call(Call {
                door: Door::Mcp,
                request_id,
                source: caller.source,
                key: Some(caller.key),
                target: Target::Tool {
                    name: request.name.into_owned(),
                    arguments,
                },
            })
            .await;
        Ok(to_result(reply))
    }
}

/// Tells the session's client when the agent's list of tools changes, until the session ends
/// or the gateway stops. Compares lists rather than forwarding every directory change, so
/// another agent's change does not make this client re-list.
async fn watch_grants(
    gate: Gate,
    agent_id: String,
    mut rx: watch::Receiver<i64>,
    peer: Peer<RoleServer>,
    stop: CancellationToken,
) {
    let mut shown = visible_names(&gate, &agent_id);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            changed = rx.changed() => if changed.is_err() { return },
        }
        let now = visible_names(&gate, &agent_id);
        if now != shown {
            shown = now;
            if let Err(e) = peer.notify_tool_list_changed().await {
                tracing::debug!(error = %e, "an MCP session went away");
                return;
            }
        }
    }
}

/// The gate's reply as a tool result: Apollo's JSON as text and structured content; a
/// refusal or an Apollo error as `isError: true` with a sentence.
fn to_result(reply: Reply) -> CallToolResult {
    let request_id = reply.request_id;
    let mut result = match reply.result {
        Ok(a) if (200..300).contains(&a.status) => {
            let mut r =
                CallToolResult::success(vec![Content::text(String::from_utf8_lossy(&a.body))]);
            // structuredContent must be an object; Apollo's answers are.
            r.structured_content = a.json.filter(Value::is_object);
            r
        }
        Ok(a) => {
            let detail = a
                .json
                .as_ref()
                .and_then(|j| j.get("error").or_else(|| j.get("message")))
                .map(|e| match e {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .unwrap_or_else(|| String::from_utf8_lossy(&a.body).chars().take(500).collect());
            let text = format!("Apollo answered {}: {detail}", a.status);
            let mut r = CallToolResult::error(vec![Content::text(text.clone())]);
            r.structured_content = Some(json!({
                "error": text,
                "apollo_status": a.status,
                "apollo": a.json,
                "bollard": {
                    "decision": "allowed",
                    "action": reply.action.map(|a| a.id),
                    "request_id": request_id,
                }
            }));
            r
        }
        Err(refused) => {
            let mut r = CallToolResult::error(vec![Content::text(refused.refusal.to_string())]);
            r.structured_content = Some(refused.body(reply.action, &request_id));
            r
        }
    };
    result.meta = Some(request_meta(&request_id));
    result
}

fn refused_result(refusal: &Refusal, action: Option<&str>, request_id: &str) -> CallToolResult {
    let mut r = CallToolResult::error(vec![Content::text(refusal.to_string())]);
    r.structured_content = Some(refusal.body(action, request_id, &refusal.to_string(), &[]));
    r.meta = Some(request_meta(request_id));
    r
}

/// The request id, as REST sends it in `x-bollard-request-id`: the same id is in the audit.
fn request_meta(request_id: &str) -> Meta {
    let mut m = Map::new();
    m.insert(
        REQUEST_ID_HEADER.into(),
        Value::String(request_id.to_owned()),
    );
    Meta(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_is_a_tool_with_an_object_schema_and_hints() {
        assert_eq!(TOOLS.len(), catalog().len());
        for (a, t) in TOOLS.iter() {
            assert_eq!(t.name, a.mcp_tool);
            assert_eq!(t.input_schema.get("type"), Some(&json!("object")));
            let hints = t.annotations.as_ref().map(|h| h.read_only_hint);
            assert_eq!(hints, Some(Some(a.read_only())), "{}", a.id);
        }
    }

    #[test]
    fn precheck_refuses_calls_before_initialize_and_non_object_arguments() {
        let early = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
        assert!(precheck(early, false).is_some());
        assert!(precheck(early, true).is_none());
        let init = br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#;
        assert!(precheck(init, false).is_none());
        let bad = br#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"x","arguments":"y"}}"#;
        assert!(precheck(bad, true).is_some());
        let good = br#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"x","arguments":{}}}"#;
        assert!(precheck(good, true).is_none());
    }
}
