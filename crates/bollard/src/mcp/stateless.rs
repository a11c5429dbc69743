//! The 2026-07-28 revision of MCP: no handshake and no session. Every POST is one JSON-RPC
//! request that carries its protocol version and client capabilities in `params._meta`, mirrors
//! its method (and tool name) in `Mcp-Method` / `Mcp-Name` headers, and is answered on its own,
//! so any replica can answer any request (no sticky sessions).
//!
//! Written here rather than with rmcp: the rmcp release the gateway builds on (1.8) predates
//! this revision (rmcp 3.x speaks it, behind breaking changes to the sessions era's API). The
//! module only parses, validates and answers; tools come from [`tools`] and calls go through
//! [`Gate::call`], as in the sessions era.
//!
//! Invariants: every byte is validated before use and a failed check answers with the error
//! code the revision assigns (and is recorded); nothing is remembered between requests.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use rmcp::model::ErrorCode;
use serde_json::{Map, Value, json};
use tracing::Instrument;

use super::{Caller, LayerRefusal, Shape, Telemetry, approval_wait, tools};
use crate::audit::sentence::Door;
use crate::error::Refusal;
use crate::gate::{Call, Gate, Target};

/// The revision this module speaks.
pub(super) const VERSION: &str = "2026-07-28";
/// The handshake-era revisions the sessions era serves, for `supportedVersions` and for telling
/// the eras apart.
pub(super) const LEGACY: [&str; 4] = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
const META_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
const META_SERVER: &str = "io.modelcontextprotocol/serverInfo";

const HEADER_VERSION: &str = "mcp-protocol-version";
const HEADER_METHOD: &str = "mcp-method";
const HEADER_NAME: &str = "mcp-name";

/// Error codes of the revision (basic/index, "Error Codes").
const HEADER_MISMATCH: i32 = -32020;
const UNSUPPORTED_VERSION: i32 = -32022;

/// How long a client may reuse a tool list. Short, because a grant change must reach the model
/// soon and this era has no session to notify; a call to a tool the agent lost meanwhile gets
/// "Unknown tool" (-32602), which the caching section names as the client's cue to re-fetch, and
/// every result carries the list's current version in `_meta` ([`tools::TOOLS_VERSION_META`]).
const TOOLS_TTL_MS: u64 = 30_000;
/// Discovery does not depend on the agent and changes only with a new Bollard.
const DISCOVER_TTL_MS: u64 = 3_600_000;

/// Whether a POST belongs to this era: its `MCP-Protocol-Version` header names a version that
/// is not a handshake-era one, its body declares a protocol version in `_meta`, or it is
/// `server/discover`. Anything else (an `initialize`, a request in a session) is the sessions
/// era's.
pub(super) fn claims(headers: &HeaderMap, body: &[u8]) -> bool {
    if let Some(v) = headers.get(HEADER_VERSION) {
        return v.to_str().map_or(true, |v| !LEGACY.contains(&v.trim()));
    }
    #[derive(Debug, serde::Deserialize)]
    struct Probe<'a> {
        #[serde(borrow, default)]
        method: Option<std::borrow::Cow<'a, str>>,
        #[serde(default)]
        params: Option<ProbeParams>,
    }
    #[derive(Debug, serde::Deserialize)]
    struct ProbeParams {
        #[serde(rename = "_meta", default)]
        meta: Option<Map<String, Value>>,
    }
    let Ok(p) = serde_json::from_slice::<Probe<'_>>(body) else {
        return false;
    };
    p.method.as_deref() == Some("server/discover")
        || p.params
            .and_then(|p| p.meta)
            .is_some_and(|m| m.contains_key(META_VERSION))
}

/// A request of this era that failed a check: the status, the code and the sentence.
#[derive(Debug)]
struct Rejection {
    status: StatusCode,
    code: i32,
    refusal: Box<Refusal>,
    /// Extra `data` the revision defines for the error (the supported versions).
    data: Option<Map<String, Value>>,
}

impl Rejection {
    fn new(status: StatusCode, code: i32, message: String) -> Self {
        Self {
            status,
            code,
            refusal: Box::new(Refusal::Malformed(message)),
            data: None,
        }
    }
    fn params(message: String) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::INVALID_PARAMS.0,
            message,
        )
    }
    fn mismatch(message: String) -> Self {
        Self::new(StatusCode::BAD_REQUEST, HEADER_MISMATCH, message)
    }
}

/// Answers one request of this era.
pub(super) async fn handle(
    gate: &Gate,
    caller: &Caller,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let msg: Option<Value> = serde_json::from_slice(body).ok();
    let id = msg
        .as_ref()
        .and_then(|m| m.get("id"))
        .cloned()
        .unwrap_or(Value::Null);
    let method = msg
        .as_ref()
        .and_then(|m| m.get("method"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    match answer(gate, caller, headers, msg.as_ref(), &method).await {
        Ok(resp) => resp,
        Err(r) => {
            let what = if method.is_empty() {
                "POST".into()
            } else {
                method
            };
            let shape = Shape::Rpc {
                status: r.status,
                id,
                code: r.code,
                data: r.data,
            };
            LayerRefusal::rpc(caller, what, shape, *r.refusal)
                .record(gate)
                .await
        }
    }
}

async fn answer(
    gate: &Gate,
    caller: &Caller,
    headers: &HeaderMap,
    msg: Option<&Value>,
    method: &str,
) -> Result<Response, Rejection> {
    let Some(msg) = msg else {
        return Err(Rejection::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::PARSE_ERROR.0,
            "The body must be one JSON-RPC request in JSON.".into(),
        ));
    };
    let Some(obj) = msg.as_object() else {
        return Err(Rejection::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::INVALID_REQUEST.0,
            "JSON-RPC batches are not part of MCP: send one request per POST.".into(),
        ));
    };
    if method.is_empty() || obj.get("jsonrpc") != Some(&json!("2.0")) {
        return Err(Rejection::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::INVALID_REQUEST.0,
            "The body must be a JSON-RPC 2.0 request with a method.".into(),
        ));
    }
    let Some(rpc_id) = obj.get("id") else {
        // The revision defines no client notifications over HTTP; one that arrives anyway is
        // accepted and dropped, as the transport's rules for notifications say (202, no body).
        return Ok(StatusCode::ACCEPTED.into_response());
    };
    if !(rpc_id.is_string() || rpc_id.is_i64() || rpc_id.is_u64()) {
        return Err(Rejection::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::INVALID_REQUEST.0,
            "The request id must be a string or an integer.".into(),
        ));
    }
    let params = match obj.get("params") {
        None => Map::new(),
        Some(Value::Object(p)) => p.clone(),
        Some(_) => return Err(Rejection::params("params must be an object.".into())),
    };
    let meta = check_meta(&params)?;
    check_headers(headers, method, &params)?;

    let live = gate
        .authenticate(Some(&caller.key))
        .map_err(|r| Rejection {
            status: StatusCode::UNAUTHORIZED,
            code: ErrorCode::INVALID_REQUEST.0,
            refusal: Box::new(r),
            data: None,
        })?;
    let result = match method {
        "server/discover" => discover(),
        "tools/list" => {
            if params.get("cursor").is_some_and(|c| !c.is_null()) {
                // Bollard never hands out a cursor (the list is one page), so any is invalid.
                return Err(Rejection::params(tools::NOT_OUR_CURSOR.into()));
            }
            json!({
                "tools": tools::for_agent(&live),
                "ttlMs": TOOLS_TTL_MS,
                // The list depends on the agent's grants: no shared cache may hold it.
                "cacheScope": "private",
                "_meta": {META_SERVER: server_info(), tools::TOOLS_VERSION_META: tools::version(&live)},
            })
        }
        "tools/call" => return call(gate, caller, &live, rpc_id, &params, meta).await,
        _ => {
            // 404 with -32601 is how the transport (protocol version header) says "not here",
            // distinguishable from a legacy server's bare 404 by the JSON-RPC body.
            return Err(Rejection::new(
                StatusCode::NOT_FOUND,
                ErrorCode::METHOD_NOT_FOUND.0,
                format!(
                    "Bollard does not serve '{}' in MCP {VERSION}: it offers server/discover, tools/list and tools/call.",
                    method.chars().take(40).collect::<String>()
                ),
            ));
        }
    };
    Ok(result_response(rpc_id, result))
}

/// The per-request metadata the revision requires (basic/index, "Per-request protocol
/// fields"): a missing field is -32602; a version this module does not speak is -32022 with the
/// supported versions.
fn check_meta(params: &Map<String, Value>) -> Result<&Map<String, Value>, Rejection> {
    let Some(Value::Object(meta)) = params.get("_meta") else {
        return Err(Rejection::params(format!(
            "params._meta is required in MCP {VERSION}: send {META_VERSION} and {META_CAPABILITIES} with every request."
        )));
    };
    let Some(version) = meta.get(META_VERSION).and_then(Value::as_str) else {
        return Err(Rejection::params(format!(
            "params._meta.{META_VERSION} is required and must be a string."
        )));
    };
    if !meta.get(META_CAPABILITIES).is_some_and(Value::is_object) {
        return Err(Rejection::params(format!(
            "params._meta.{META_CAPABILITIES} is required and must be an object."
        )));
    }
    if version != VERSION {
        let mut r = Rejection::new(
            StatusCode::BAD_REQUEST,
            UNSUPPORTED_VERSION,
            format!(
                "Unsupported protocol version: Bollard speaks {VERSION} without a session, and {} with initialize.",
                LEGACY[..2].join(" and ")
            ),
        );
        let mut data = Map::new();
        data.insert("supported".into(), json!(supported()));
        data.insert(
            "requested".into(),
            json!(version.chars().take(40).collect::<String>()),
        );
        r.data = Some(data);
        return Err(r);
    }
    Ok(meta)
}

/// The headers that mirror the body (streamable HTTP, "Request Metadata" and "Server
/// Validation"): all required, all equal to the body's values, or -32020. A gateway that routed
/// or limited on a header and executed the body would otherwise act on two different requests.
fn check_headers(
    headers: &HeaderMap,
    method: &str,
    params: &Map<String, Value>,
) -> Result<(), Rejection> {
    let header = |name: &str| -> Result<Option<&str>, Rejection> {
        let mut all = headers.get_all(name).iter();
        let (Some(v), None) = (all.next(), all.next()) else {
            return match headers.contains_key(name) {
                // Twice: a router may read one and the server the other, the very split the
                // check exists to prevent.
                true => Err(Rejection::mismatch(format!(
                    "Header mismatch: {name} was sent more than once."
                ))),
                false => Ok(None),
            };
        };
        v.to_str().map(Some).map_err(|_| {
            Rejection::mismatch(format!(
                "Header mismatch: {name} holds characters a header may not carry."
            ))
        })
    };
    let required = |name: &str| -> Result<&str, Rejection> {
        header(name)?.ok_or_else(|| {
            Rejection::mismatch(format!(
                "Header mismatch: the {name} header is required in MCP {VERSION}."
            ))
        })
    };
    let version = required(HEADER_VERSION)?;
    let body_version = params
        .get("_meta")
        .and_then(|m| m.get(META_VERSION))
        .and_then(Value::as_str)
        .unwrap_or_default();
    if version != body_version {
        return Err(Rejection::mismatch(format!(
            "Header mismatch: MCP-Protocol-Version '{}' does not match the body's {META_VERSION} '{}'.",
            clip(version),
            clip(body_version)
        )));
    }
    let m = required(HEADER_METHOD)?;
    if m != method {
        return Err(Rejection::mismatch(format!(
            "Header mismatch: Mcp-Method '{}' does not match the body's method '{}'.",
            clip(m),
            clip(method)
        )));
    }
    if method == "tools/call" {
        let raw = required(HEADER_NAME)?;
        let name = decode_header_value(raw).ok_or_else(|| {
            Rejection::mismatch(
                "Header mismatch: Mcp-Name is not a valid =?base64?...?= value.".into(),
            )
        })?;
        let body_name = params
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if name != body_name {
            return Err(Rejection::mismatch(format!(
                "Header mismatch: Mcp-Name '{}' does not match the body's name '{}'.",
                clip(&name),
                clip(body_name)
            )));
        }
    }
    Ok(())
}

/// A header value as the transport's "Value Encoding" writes it: plain, or `=?base64?...?=`
/// holding UTF-8.
fn decode_header_value(raw: &str) -> Option<String> {
    match raw
        .strip_prefix("=?base64?")
        .and_then(|r| r.strip_suffix("?="))
    {
        Some(encoded) => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()
            .and_then(|b| String::from_utf8(b).ok()),
        None => Some(raw.to_owned()),
    }
}

fn clip(s: &str) -> String {
    s.chars()
        .take(60)
        .collect::<String>()
        .escape_debug()
        .to_string()
}

fn supported() -> Vec<&'static str> {
    let mut v = vec![VERSION];
    v.extend(&LEGACY[..2]);
    v
}

fn server_info() -> Value {
    json!({"name": "bollard", "title": "Bollard: Apollo.io, governed", "version": env!("CARGO_PKG_VERSION")})
}

/// `server/discover` (server/discover): the same for every agent, so publicly cacheable.
fn discover() -> Value {
    json!({
        "supportedVersions": supported(),
        // No `listChanged`: this era has no session to notify; the tool list's short TTL and
        // version stand in for it.
        "capabilities": {"tools": {}},
        "instructions": tools::INSTRUCTIONS,
        "ttlMs": DISCOVER_TTL_MS,
        "cacheScope": "public",
        "_meta": {META_SERVER: server_info()},
    })
}

/// `tools/call`: through the gate, whatever the tool. A tool this agent cannot see (unknown,
/// or switched off by its grants) is a protocol error, "Unknown tool" (server/tools, "Error
/// Handling"), after the gate has recorded the attempt; every other refusal is a tool result
/// with `isError`, as in the sessions era.
async fn call(
    gate: &Gate,
    caller: &Caller,
    live: &crate::directory::LiveAgent,
    rpc_id: &Value,
    params: &Map<String, Value>,
    meta: &Map<String, Value>,
) -> Result<Response, Rejection> {
    let Some(name) = params.get("name").and_then(Value::as_str) else {
        return Err(Rejection::params(
            "params.name is required: the name of the tool to call.".into(),
        ));
    };
    let arguments = match params.get("arguments") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(a)) => a.clone(),
        Some(_) => {
            return Err(Rejection::params(
                "The arguments of tools/call must be a JSON object whose fields follow the tool's input schema.".into(),
            ));
        }
    };
    // A retry of an ask-first call (MRTR): the state is checked before anything else, and the
    // retry may wait a little for the person's decision.
    let asked = match params.get("requestState") {
        None | Some(Value::Null) => None,
        Some(v) => Some(approval_wait::verified(gate, live, v).ok_or_else(|| {
            Rejection::params(
                "params.requestState was not issued by Bollard for this agent, or has expired; send the call again without it.".into(),
            )
        })?),
    };
    let accepted = approval_wait::accepted(params);
    if let Some(state) = &asked
        && accepted
    {
        approval_wait::wait_for_decision(gate, state).await;
    }
    let listed = bollard_policy::by_tool(name).is_some_and(|a| live.agent.grants.allows(a));
    let span = Telemetry {
        method: "tools/call",
        tool: name,
        protocol_version: VERSION,
        rpc_id,
        meta: Some(meta),
    }
    .span();
    let reply = gate
        .call(Call {
            door: Door::Mcp,
            request_id: caller.request_id.clone(),
            source: caller.source,
            key: Some(caller.key.clone()),
            target: Target::Tool {
                name: name.to_owned(),
                arguments,
            },
        })
        .instrument(span)
        .await;
    let request_id = reply.request_id.clone();
    if !listed && let Err(refused) = &reply.result {
        let sentence = refused.reason();
        let data = refused.body(reply.action, &request_id);
        let body = json!({"jsonrpc": "2.0", "id": rpc_id, "error": {
            "code": ErrorCode::INVALID_PARAMS.0,
            "message": format!("Unknown tool: {}. {sentence}", clip(name)),
            "data": data,
        }});
        // A JSON-RPC error the gate already recorded; HTTP 200, as for any answered request.
        return Ok((StatusCode::OK, axum::Json(body)).into_response());
    }
    // Ask first: a client that can open a URL for its user is offered the approval page and
    // a retry (2026-07-28 basic/patterns/mrtr and client/elicitation, "URL Mode"); one that
    // declined, or cannot, gets the tool error every client gets.
    let declined = asked.is_some() && !accepted;
    if !declined
        && let Err(refused) = &reply.result
        && let Refusal::ApprovalPending(p) = &refused.refusal
        && let Some(offer) = approval_wait::offer(gate, live, meta, p, refused.reason())
    {
        let mut r = offer;
        r["_meta"] = json!({
            META_SERVER: server_info(),
            tools::TOOLS_VERSION_META: tools::version(live),
            crate::rest::REQUEST_ID_HEADER: reply.request_id,
        });
        let body = json!({"jsonrpc": "2.0", "id": rpc_id, "result": r});
        return Ok((StatusCode::OK, axum::Json(body)).into_response());
    }
    let mut result = serde_json::to_value(tools::to_result(reply)).unwrap_or(Value::Null);
    if let Some(m) = result.get_mut("_meta").and_then(Value::as_object_mut) {
        m.insert(META_SERVER.into(), server_info());
        m.insert(
            tools::TOOLS_VERSION_META.into(),
            Value::String(tools::version(live)),
        );
    }
    Ok(result_response(rpc_id, result))
}

/// A complete result (`resultType` is required on every result since this revision).
fn result_response(id: &Value, mut result: Value) -> Response {
    if let Some(r) = result.as_object_mut() {
        r.insert("resultType".into(), json!("complete"));
        r.entry("_meta")
            .or_insert_with(|| json!({META_SERVER: server_info()}));
    }
    let body = json!({"jsonrpc": "2.0", "id": id, "result": result});
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        axum::Json(body),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            if let Ok(v) = v.parse() {
                h.insert(*k, v);
            }
        }
        h
    }

    #[test]
    fn claims_modern_requests_and_leaves_the_handshake_to_sessions() {
        let none = HeaderMap::new();
        assert!(claims(
            &none,
            br#"{"jsonrpc":"2.0","id":1,"method":"server/discover"}"#
        ));
        assert!(claims(
            &none,
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#
        ));
        assert!(!claims(
            &none,
            br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#
        ));
        assert!(!claims(
            &headers(&[("mcp-protocol-version", "2025-11-25")]),
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#
        ));
        assert!(claims(
            &headers(&[("mcp-protocol-version", "1900-01-01")]),
            br#"{}"#
        ));
    }

    #[test]
    fn mcp_name_is_compared_after_decoding() {
        assert_eq!(decode_header_value("plain").as_deref(), Some("plain"));
        assert_eq!(
            decode_header_value("=?base64?SGVsbG8sIOS4lueVjA==?=").as_deref(),
            Some("Hello, 世界")
        );
        assert_eq!(decode_header_value("=?base64?***?="), None);
        let params: Map<String, Value> = serde_json::from_value(json!({
            "name": "apollo_people_match",
            "_meta": {META_VERSION: VERSION, META_CAPABILITIES: {}}
        }))
        .unwrap_or_default();
        let ok = headers(&[
            ("mcp-protocol-version", VERSION),
            ("mcp-method", "tools/call"),
            ("mcp-name", "=?base64?YXBvbGxvX3Blb3BsZV9tYXRjaA==?="),
        ]);
        assert!(check_headers(&ok, "tools/call", &params).is_ok());
        let other = headers(&[
            ("mcp-protocol-version", VERSION),
            ("mcp-method", "tools/call"),
            ("mcp-name", "apollo_contacts_create"),
        ]);
        let err = check_headers(&other, "tools/call", &params).err();
        assert_eq!(err.map(|e| e.code), Some(HEADER_MISMATCH));
    }
}
