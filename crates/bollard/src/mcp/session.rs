//! The sessions era of MCP (2025-06-18, 2025-11-25): an `initialize` handshake opens a session
//! that rmcp keeps in this replica's memory, and every later request names it in
//! `Mcp-Session-Id`. Its owner and its `initialize` parameters are also kept in the store, so a
//! replica that has not seen the session takes it up (rmcp replays the handshake) and no
//! sticky sessions are needed.
//!
//! Invariants: a session id is usable only with a key of the agent that opened it, for every
//! verb (POST, the GET event stream, DELETE); anything else is answered exactly as an unknown
//! session is ("not found", so ids cannot be probed) and recorded. Session ids are never logged:
//! they are bearer secrets of a kind (with a key of the owner they are a session).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ErrorCode, Implementation, InitializeRequestParams,
    InitializeResult, ListToolsResult, PaginatedRequestParams, ServerCapabilities, Tool,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::session::{
    SessionManager, SessionState, SessionStore, SessionStoreError,
};
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, Peer, RoleServer, ServerHandler};
use serde_json::Value;
use tokio::sync::watch;
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::Instrument;

use super::{Caller, LayerRefusal, McpDoor, Shape, Telemetry, refusal_response, tools};
use crate::audit::sentence::Door;
use crate::error::Refusal;
use crate::gate::{Call, Gate, Target};
use crate::keys::hash_key;
use crate::store::Store;

const SESSION_HEADER: &str = "mcp-session-id";

/// The most one MCP answer may weigh when it is sent whole (see [`whole`]): far above any
/// page of Apollo results, a bound only against a runaway stream.
const RESPONSE_LIMIT: usize = 64 * 1024 * 1024;

/// Past this many remembered sessions, the ones rmcp has already ended are forgotten.
const OWNERS_PRUNE_AT: usize = 4096;

/// One sentence for a session that does not exist and for one that is not the caller's.
const NO_SUCH_SESSION: &str = "This MCP session does not exist or has ended. Start a new session with initialize, using your own agent key.";

/// How long a session opened on another replica can still be taken up here. A client whose
/// session is older gets "not found" and, as the transport prescribes, opens a new one.
const SHARED_FOR: time::Duration = time::Duration::hours(24);

/// Which agent opened each live session. rmcp knows sessions but not agents; this is the
/// gateway's half, kept beside rmcp's session manager so that it can be pruned against it,
/// and in the store, so that every replica knows the owner of a session any of them opened.
#[derive(Clone)]
pub(super) struct Owners {
    /// Session, its agent, and whether the store holds its row (the write may have failed).
    by_session: Arc<Mutex<HashMap<String, Local>>>,
    manager: Arc<LocalSessionManager>,
    store: Arc<dyn Store>,
}

/// A session id as stored: its SHA-256, in hex.
fn stored_id(session: &str) -> String {
    hex::encode(hash_key(session))
}

/// rmcp's session store over Bollard's: the client's `initialize` parameters, kept so that a
/// replica that has not seen a session replays its handshake and serves it (rmcp's
/// "cross-instance session recovery"). Failures are logged without the id and reported to
/// rmcp as "unknown", which the client sees as a session to open again.
#[derive(Debug, Clone)]
struct SharedSessions {
    store: Arc<dyn Store>,
}

#[async_trait::async_trait]
impl SessionStore for SharedSessions {
    async fn load(&self, session_id: &str) -> Result<Option<SessionState>, SessionStoreError> {
        match self.store.mcp_session(&stored_id(session_id)).await {
            Ok(found) => Ok(found
                .and_then(|s| s.state)
                .and_then(|state| serde_json::from_str(&state).ok())),
            Err(e) => {
                tracing::error!(error = %e, "an MCP session could not be read from the store");
                Ok(None)
            }
        }
    }

    async fn store(&self, session_id: &str, state: &SessionState) -> Result<(), SessionStoreError> {
        let result = match serde_json::to_string(state) {
            Ok(json) => self
                .store
                .set_mcp_session_state(
                    &stored_id(session_id),
                    &json,
                    time::OffsetDateTime::now_utc(),
                )
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "an MCP session could not be shared with other replicas");
        }
        Ok(())
    }

    async fn delete(&self, session_id: &str) -> Result<(), SessionStoreError> {
        if let Err(e) = self.store.delete_mcp_session(&stored_id(session_id)).await {
            tracing::error!(error = %e, "an ended MCP session could not be removed from the store");
        }
        Ok(())
    }
}

impl std::fmt::Debug for Owners {
    // Session ids are never printed, not even in a debug dump.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Owners")
            .field("sessions", &self.lock().len())
            .finish()
    }
}

/// What this replica knows of a session it opened.
#[derive(Debug, Clone)]
struct Local {
    agent_id: String,
    /// Whether its owner row was written to the store.
    shared: bool,
}

impl Owners {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Local>> {
        self.by_session.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The agent that opened `session`, here or on another replica. The store is the truth
    /// and this replica's map a cache: a session ended on another replica (its DELETE went
    /// there, which removed the stored row) ends here too, and a worker of it here is closed
    /// (found in review: it went on working here). Two cases keep the cache's word: a session
    /// whose row was never written (the write failed: it is this replica's alone), and a store
    /// that cannot be read for a moment. A row lasts a day (`SHARED_FOR`); after that the
    /// client gets 404 and opens another session, as the transport prescribes.
    async fn owner(&self, session: &str) -> Option<String> {
        let cached = self.lock().get(session).cloned();
        match self.store.mcp_session(&stored_id(session)).await {
            Ok(Some(found)) => found.agent_id.or(cached.map(|l| l.agent_id)),
            Ok(None) => match cached {
                Some(Local {
                    agent_id,
                    shared: false,
                }) => Some(agent_id),
                _ => {
                    self.lock().remove(session);
                    let id: rmcp::transport::common::server_side_http::SessionId = session.into();
                    if self.manager.has_session(&id).await.unwrap_or(false)
                        && let Err(e) = self.manager.close_session(&id).await
                    {
                        tracing::warn!(error = %e, "an MCP session ended elsewhere could not be closed here");
                    }
                    None
                }
            },
            Err(e) => {
                // A session this replica knows is served from the cache; one it does not is
                // refused (fail closed: an owner that cannot be read is no owner).
                tracing::error!(error = %e, "an MCP session's owner could not be read");
                cached.map(|l| l.agent_id)
            }
        }
    }

    async fn insert(&self, session: String, agent_id: String) {
        let now = time::OffsetDateTime::now_utc();
        let shared = match self
            .store
            .set_mcp_session_owner(&stored_id(&session), &agent_id, now)
            .await
        {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, "an MCP session's owner could not be shared with other replicas");
                false
            }
        };
        if let Err(e) = self.store.prune_mcp_sessions(now - SHARED_FOR).await {
            tracing::warn!(error = %e, "old MCP sessions could not be pruned");
        }
        if self.lock().len() >= OWNERS_PRUNE_AT {
            let live: Vec<String> = self
                .manager
                .sessions
                .read()
                .await
                .keys()
                .map(|k| k.to_string())
                .collect();
            self.lock().retain(|s, _| live.contains(s));
        }
        self.lock().insert(session, Local { agent_id, shared });
    }

    fn remove(&self, session: &str) {
        self.lock().remove(session);
    }
}

/// rmcp's streamable HTTP service for this era, and the owners of its sessions.
pub(super) fn service(
    gate: Gate,
    shutdown: CancellationToken,
) -> (StreamableHttpService<Session, LocalSessionManager>, Owners) {
    let store = gate.store().clone();
    let mut config = StreamableHttpServerConfig::default()
        .with_cancellation_token(shutdown.child_token())
        // rmcp's Host check defends keyless local servers against DNS rebinding. Every request
        // here needs an agent key a browser on another site does not have, and the gateway is
        // reached under whatever name its operator gives it, so the check would only get in
        // the way.
        .disable_allowed_hosts();
    // Sessions are shared through the store, so replicas need no sticky sessions.
    config.session_store = Some(Arc::new(SharedSessions {
        store: store.clone(),
    }));
    let manager = Arc::new(LocalSessionManager::default());
    let owners = Owners {
        by_session: Arc::default(),
        manager: manager.clone(),
        store,
    };
    let service = StreamableHttpService::new(
        move || Ok(Session::new(gate.clone(), shutdown.child_token())),
        manager,
        config,
    );
    (service, owners)
}

/// The agent behind a key that no longer authenticates (revoked or expired since its session
/// began), when it posts to a session it opened: its tool calls then get the gate's own
/// sentence as a tool error, and are recorded. Anything else gets no session.
pub(super) async fn still_owner(
    door: &McpDoor,
    parts: &Parts,
    key: Option<&str>,
) -> Option<String> {
    let session = parts.headers.get(SESSION_HEADER)?.to_str().ok()?;
    let live = key
        .filter(|k| !k.is_empty())
        .and_then(|k| door.gate.directory().by_key(&hash_key(k)))?;
    (parts.method == Method::POST
        && door.owners.owner(session).await == Some(live.agent.id.clone()))
    .then(|| live.agent.id.clone())
}

/// Serves one HTTP request of this era: the session check, the checks rmcp would answer with
/// a bare status, then rmcp.
pub(super) async fn handle(
    door: &McpDoor,
    caller: Caller,
    mut parts: Parts,
    bytes: Bytes,
    next: Next,
) -> Response {
    let session = parts
        .headers
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let msg: Option<Value> = (parts.method == Method::POST)
        .then(|| serde_json::from_slice(&bytes).ok())
        .flatten();
    let rpc_method = msg
        .as_ref()
        .and_then(|m| m.get("method"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let id = msg
        .as_ref()
        .and_then(|m| m.get("id"))
        .cloned()
        .unwrap_or(Value::Null);
    let what = if rpc_method.is_empty() {
        parts.method.as_str().to_owned()
    } else {
        rpc_method
    };
    let refuse = |status: StatusCode, code: ErrorCode, refusal: Refusal| {
        let shape = Shape::Rpc {
            status,
            id: id.clone(),
            code: code.0,
            data: None,
        };
        LayerRefusal::rpc(&caller, what.clone(), shape, refusal)
    };
    // 404 is what the 2025-11-25 transport prescribes for a session the server does not know;
    // a session of another agent is, for this caller, exactly that.
    let not_found = || {
        refuse(
            StatusCode::NOT_FOUND,
            ErrorCode::INVALID_REQUEST,
            Refusal::NotFound(NO_SUCH_SESSION.into()),
        )
    };
    let gate = &door.gate;

    if let Some(session) = &session
        && door.owners.owner(session).await.as_deref() != Some(caller.agent_id.as_str())
    {
        return not_found().record(gate).await;
    }
    if parts.method == Method::POST {
        if let Some(early) = precheck(msg.as_ref(), &bytes, session.is_some()) {
            let (status, code, refusal) = early;
            return refuse(status, code, refusal).record(gate).await;
        }
    } else if session.is_none() {
        return refuse(
            StatusCode::BAD_REQUEST,
            ErrorCode::INVALID_REQUEST,
            Refusal::Malformed(format!(
                "{} {} needs the Mcp-Session-Id header of a session you opened with initialize.",
                parts.method,
                super::PATH
            )),
        )
        .record(gate)
        .await;
    }

    let verb = parts.method.clone();
    let agent_id = caller.agent_id.clone();
    parts.extensions.insert(caller.clone());
    let bytes = handshake_version(msg.as_ref()).unwrap_or(bytes);
    let resp = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;

    if let Some(session) = &session {
        if resp.status() == StatusCode::NOT_FOUND {
            // rmcp ended the session (idle, or the gateway is stopping) after the check above.
            door.owners.remove(session);
            return not_found().record(gate).await;
        }
        if verb == Method::DELETE && resp.status().is_success() {
            door.owners.remove(session);
            // rmcp answers 202, which clients read as a failure (the Python SDK logs "Session
            // termination failed: 202"). The transport leaves the status open; the session is
            // closed by now, so 204, as RFC 9110 has it for an enacted DELETE.
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::NO_CONTENT;
            return r;
        }
    } else if let Some(new) = resp
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
    {
        door.owners.insert(new.to_owned(), agent_id).await;
    }
    if verb == Method::POST && is_event_stream(&resp) {
        return whole(resp, &caller.request_id).await;
    }
    resp
}

/// An `initialize` that asks for a revision this era does not speak, rewritten to ask for the
/// latest it does. The lifecycle lets a server answer so ("Otherwise, the server MUST respond
/// with another protocol version it supports. This SHOULD be the latest version supported by
/// the server": basic/lifecycle, Version Negotiation). rmcp echoes any version it knows,
/// 2026-07-28 included, whose requests carry no session and go to the sessionless era: a
/// session opened at it could not be used (found in review). `None` leaves the body as sent.
fn handshake_version(msg: Option<&Value>) -> Option<Bytes> {
    let msg = msg.filter(|m| m.get("method").and_then(Value::as_str) == Some("initialize"))?;
    let asked = msg.pointer("/params/protocolVersion")?;
    if asked
        .as_str()
        .is_some_and(|v| super::stateless::LEGACY.contains(&v))
    {
        return None;
    }
    let mut msg = msg.clone();
    if let Some(v) = msg.pointer_mut("/params/protocolVersion") {
        *v = Value::from(super::stateless::LEGACY[0]);
    }
    serde_json::to_vec(&msg).ok().map(Bytes::from)
}

/// The malformed requests that rmcp would answer with a bare HTTP status or not at all, as a
/// status, a JSON-RPC error code and a refusal to record: a body that is not JSON, a JSON-RPC
/// batch, a request before `initialize`, and `tools/call` arguments that are not an object.
fn precheck(
    msg: Option<&Value>,
    bytes: &[u8],
    in_session: bool,
) -> Option<(StatusCode, ErrorCode, Refusal)> {
    let bad = StatusCode::BAD_REQUEST;
    let Some(msg) = msg else {
        return Some((
            bad,
            ErrorCode::PARSE_ERROR,
            Refusal::Malformed(format!(
                "The body of a POST to {} must be one JSON-RPC message ({} bytes could not be read as JSON).",
                super::PATH,
                bytes.len()
            )),
        ));
    };
    if msg.is_array() {
        // Batches were removed from MCP in 2025-06-18; rmcp would not answer one usefully.
        return Some((
            bad,
            ErrorCode::INVALID_REQUEST,
            Refusal::Malformed(
                "JSON-RPC batches are not part of MCP since 2025-06-18: send one message per request."
                    .into(),
            ),
        ));
    }
    let method = msg.get("method").and_then(Value::as_str)?;
    if !in_session && method != "initialize" {
        return Some((
            bad,
            ErrorCode::INVALID_REQUEST,
            Refusal::Malformed(format!(
                "'{}' came before initialize: open a session with initialize first, then send its Mcp-Session-Id header with every request.",
                method.chars().take(40).collect::<String>()
            )),
        ));
    }
    if method == "tools/call" {
        let args = msg.pointer("/params/arguments");
        if args.is_some_and(|a| !a.is_object() && !a.is_null()) {
            return Some((
                StatusCode::OK,
                ErrorCode::INVALID_PARAMS,
                Refusal::Malformed(
                    "The arguments of tools/call must be a JSON object whose fields follow the tool's input schema.".into(),
                ),
            ));
        }
    }
    None
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
async fn whole(resp: Response, request_id: &str) -> Response {
    let (parts, body) = resp.into_parts();
    match axum::body::to_bytes(body, RESPONSE_LIMIT).await {
        Ok(bytes) => Response::from_parts(parts, Body::from(bytes)),
        Err(e) => {
            tracing::warn!(error = %e, "an MCP answer could not be buffered");
            let refusal =
                Refusal::Internal("Bollard could not send this MCP answer. Try again.".into());
            refusal_response(&Shape::Http, &refusal, request_id)
        }
    }
}

/// One MCP session: rmcp makes one per `initialize` and drops it when the session ends.
pub(super) struct Session {
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

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("owner", &self.owner())
            .finish_non_exhaustive()
    }
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

    /// The caller of this request, refused if the session belongs to another agent. The HTTP
    /// layer has already refused such requests; this holds if a request ever arrives another
    /// way.
    fn caller(&self, extensions: &rmcp::model::Extensions) -> Result<Caller, ErrorData> {
        let caller = extensions
            .get::<axum::http::request::Parts>()
            .and_then(|p| p.extensions.get::<Caller>())
            .cloned()
            .ok_or_else(|| {
                ErrorData::invalid_request(
                    "This request did not come through Bollard's MCP endpoint.",
                    None,
                )
            })?;
        match self.owner() {
            Some(owner) if owner != caller.agent_id => {
                Err(ErrorData::invalid_request(NO_SUCH_SESSION, None))
            }
            _ => Ok(caller),
        }
    }
}

impl ServerHandler for Session {
    fn get_info(&self) -> InitializeResult {
        InitializeResult::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
        .with_server_info(
            Implementation::new("bollard", env!("CARGO_PKG_VERSION"))
                .with_title("Bollard: Apollo.io, governed"),
        )
        .with_instructions(tools::INSTRUCTIONS)
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        let caller = self.caller(&context.extensions)?;
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
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        // Bollard never hands out a cursor (the list is one page), so any is invalid: "Invalid
        // cursors SHOULD result in an error with code -32602" (server/utilities/pagination),
        // as the sessionless era answers (found in review: the whole list came back).
        if request.is_some_and(|r| r.cursor.is_some()) {
            return Err(ErrorData::invalid_params(tools::NOT_OUR_CURSOR, None));
        }
        let caller = self.caller(&context.extensions)?;
        // Computed from the directory at the time of the request, not at `initialize`.
        let live = self
            .gate
            .authenticate(Some(&caller.key))
            .map_err(|r| ErrorData::invalid_request(r.to_string(), None))?;
        Ok(ListToolsResult {
            tools: tools::for_agent(&live),
            ..Default::default()
        })
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        tools::by_name(name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let caller = self.caller(&context.extensions)?;
        let version = context
            .peer
            .peer_info()
            .map(|i| i.protocol_version.to_string())
            .unwrap_or_default();
        let rpc_id = serde_json::to_value(&context.id).unwrap_or(Value::Null);
        let span = Telemetry {
            method: "tools/call",
            tool: &request.name,
            protocol_version: &version,
            rpc_id: &rpc_id,
            meta: request.meta.as_ref().map(|m| &m.0),
        }
        .span();
        let reply = self
            .gate
            .call(Call {
                door: Door::Mcp,
                request_id: caller.request_id,
                source: caller.source,
                key: Some(caller.key),
                target: Target::Tool {
                    name: request.name.into_owned(),
                    arguments: request.arguments.unwrap_or_default(),
                },
            })
            .instrument(span)
            .await;
        Ok(tools::to_result(reply))
    }
}

/// Tells the session's client when the agent's list of tools changes, until the session ends
/// or the gateway stops. Compares versions of the list rather than forwarding every directory
/// change, so another agent's change does not make this client re-list.
async fn watch_grants(
    gate: Gate,
    agent_id: String,
    mut rx: watch::Receiver<i64>,
    peer: Peer<RoleServer>,
    stop: CancellationToken,
) {
    let current = |gate: &Gate| match gate.directory().by_id(&agent_id) {
        Some(live) if live.agent.revoked_at.is_none() => tools::version(&live),
        _ => String::new(),
    };
    let mut shown = current(&gate);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            changed = rx.changed() => if changed.is_err() { return },
        }
        let now = current(&gate);
        if now != shown {
            shown = now;
            if let Err(e) = peer.notify_tool_list_changed().await {
                tracing::debug!(error = %e, "an MCP session went away");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &[u8], in_session: bool) -> Option<StatusCode> {
        let msg: Option<Value> = serde_json::from_slice(body).ok();
        precheck(msg.as_ref(), body, in_session).map(|(s, _, _)| s)
    }

    #[test]
    fn precheck_refuses_batches_early_calls_and_non_object_arguments() {
        let early = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
        assert_eq!(check(early, false), Some(StatusCode::BAD_REQUEST));
        assert_eq!(check(early, true), None);
        let init = br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#;
        assert_eq!(check(init, false), None);
        let batch = br#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"}]"#;
        assert_eq!(check(batch, true), Some(StatusCode::BAD_REQUEST));
        assert_eq!(check(b"{", true), Some(StatusCode::BAD_REQUEST));
        let bad = br#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"x","arguments":"y"}}"#;
        assert_eq!(check(bad, true), Some(StatusCode::OK));
        let good = br#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"x","arguments":{}}}"#;
        assert_eq!(check(good, true), None);
    }
}
