//! `bollard mcp`: a stdio MCP server for desktop assistants that forwards to a gateway's `/mcp`
//! with the agent's key. The Apollo key stays on the gateway; the assistant's machine holds only
//! the agent key. stdout is the protocol, so every log line goes to stderr.
//!
//! Both protocol eras, chosen by how the assistant opens, as the 2026-07-28 revision's stdio
//! transport describes a dual-era server (basic/versioning, backward compatibility):
//! - a `server/discover` probe, or any request carrying the revision's `_meta`, selects the
//!   stateless era: each request is posted to the gateway as it came, with the transport's
//!   headers, and the answer is written back (nothing is kept between requests);
//! - an `initialize` selects the sessions era: the bridge holds one gateway session (rmcp on
//!   both sides) and passes its list-changed notifications on. A client whose probe failed may
//!   still fall back to `initialize` at any point before it.

use std::sync::{Arc, Mutex};

use base64::Engine;
use clap::Args;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientInfo, Content, ErrorData, Implementation,
    InitializeResult, ListToolsResult, PaginatedRequestParams, ServerCapabilities,
};
use rmcp::service::{NotificationContext, RequestContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, Peer, RoleClient, RoleServer, ServerHandler, ServiceError, ServiceExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use super::{CliResult, Failure};

/// The revision the stateless era speaks, as the gateway does.
const MODERN: &str = "2026-07-28";
const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";

/// The longest line (one JSON-RPC message) read from the assistant.
const LINE_LIMIT: usize = 4 * 1024 * 1024;

#[derive(Debug, Args)]
pub struct McpArgs {
    /// The gateway's MCP endpoint, for example http://127.0.0.1:8080/mcp.
    #[arg(long, env = "BOLLARD_MCP_URL")]
    pub url: String,
    /// The agent's Bollard key (not the Apollo key). Prefer BOLLARD_AGENT_KEY, which does not
    /// show in the process list.
    #[arg(long, env = "BOLLARD_AGENT_KEY", hide_env_values = true)]
    pub key: String,
}

pub async fn mcp(a: &McpArgs) -> CliResult {
    let http = reqwest::Client::new();
    check_key(&http, a).await?;
    let mut stdin = BufReader::new(tokio::io::stdin());
    let (out_tx, out_rx) = mpsc::channel::<String>(64);
    let writer = tokio::spawn(write_stdout(out_rx));
    let mut line = Vec::new();
    loop {
        let text = match next_line(&mut stdin, &mut line)
            .await
            .map_err(|e| Failure::Message(format!("cannot read the assistant's messages: {e}")))?
        {
            Line::End => break,
            Line::TooLong => {
                let id = id_near_start(&line);
                let said = format!(
                    "The message is longer than {} MiB, the most the bridge reads; send less at once.",
                    LINE_LIMIT / (1024 * 1024)
                );
                let _ = out_tx.send(rpc_error(&id, -32600, &said)).await;
                continue;
            }
            Line::Read => line.trim_ascii(),
        };
        if text.is_empty() {
            continue;
        }
        // Bytes that are not UTF-8 JSON are answered, not the end of the bridge (found in
        // review: a line cut inside a character ended it).
        let msg: Value = match serde_json::from_slice(text) {
            Ok(v) => v,
            Err(_) => {
                let _ = out_tx
                    .send(rpc_error(&Value::Null, -32700, "The message is not JSON."))
                    .await;
                continue;
            }
        };
        if msg.get("method").and_then(Value::as_str) == Some("initialize") {
            drop(out_tx);
            let _ = writer.await;
            let text = String::from_utf8_lossy(text).into_owned();
            return legacy(a, text, stdin).await;
        }
        // A request: forwarded on its own task, so a slow call does not hold up the next.
        if msg.get("id").is_some() && msg.get("method").is_some() {
            let (http, url, key, tx) = (http.clone(), a.url.clone(), a.key.clone(), out_tx.clone());
            tokio::spawn(async move {
                let answer = forward(&http, &url, &key, &msg).await;
                let _ = tx.send(answer).await;
            });
        }
        // Notifications (`notifications/cancelled`) and stray responses have no HTTP
        // counterpart in the stateless era: the request they concern runs to its end.
    }
    drop(out_tx);
    let _ = writer.await;
    Ok(())
}

/// What [`next_line`] read.
#[derive(Debug, PartialEq)]
enum Line {
    /// A whole message, in the buffer (its newline removed).
    Read,
    /// A message over [`LINE_LIMIT`]: its start is in the buffer, the rest was read and
    /// dropped up to its newline, so the next message starts clean.
    TooLong,
    /// Standard input closed.
    End,
}

/// Reads one newline-ended message into `buf`, at most [`LINE_LIMIT`] bytes of it. A longer
/// one was cut at the limit and its two halves answered as two bad messages, neither with the
/// request's id, so the assistant waited for an answer that never came (found in review).
async fn next_line<R: AsyncBufRead + Unpin>(
    input: &mut R,
    buf: &mut Vec<u8>,
) -> std::io::Result<Line> {
    buf.clear();
    let n = (&mut *input)
        .take(LINE_LIMIT as u64 + 1)
        .read_until(b'\n', buf)
        .await?;
    if n == 0 {
        return Ok(Line::End);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        return Ok(Line::Read);
    }
    if buf.len() <= LINE_LIMIT {
        return Ok(Line::Read); // the last message, without a newline
    }
    // Drop the rest of the line without holding it.
    loop {
        let chunk = input.fill_buf().await?;
        if chunk.is_empty() {
            break;
        }
        match chunk.iter().position(|b| *b == b'\n') {
            Some(at) => {
                input.consume(at + 1);
                break;
            }
            None => {
                let len = chunk.len();
                input.consume(len);
            }
        }
    }
    Ok(Line::TooLong)
}

/// The request id of a message cut short, if its top-level `"id"` comes before its
/// `params` (as clients write it): the value after the first `"id":` in the first few
/// kilobytes, read as one JSON value. `null` when there is none, as JSON-RPC has it for an
/// id that cannot be told.
fn id_near_start(head: &[u8]) -> Value {
    let head = &head[..head.len().min(4096)];
    let Some(at) = head.windows(4).position(|w| w == b"\"id\"") else {
        return Value::Null;
    };
    let rest = &head[at + 4..];
    let rest = rest.trim_ascii_start();
    let Some(rest) = rest.strip_prefix(b":") else {
        return Value::Null;
    };
    // One value, the rest left unread (no check that the input ends there).
    let mut de = serde_json::Deserializer::from_slice(rest);
    serde::Deserialize::deserialize(&mut de)
        .ok()
        .filter(|v: &Value| v.is_number() || v.is_string())
        .unwrap_or(Value::Null)
}

/// Refuses to start with a key the gateway does not take, so the assistant's log says why
/// instead of showing a server that answers nothing.
async fn check_key(http: &reqwest::Client, a: &McpArgs) -> CliResult {
    let probe = json!({"jsonrpc": "2.0", "id": 0, "method": "server/discover", "params": {
        "_meta": {META_VERSION: MODERN, "io.modelcontextprotocol/clientCapabilities": {},
                  "io.modelcontextprotocol/clientInfo": client_info()}}});
    let resp = post(http, &a.url, &a.key, &probe).await.map_err(|e| {
        Failure::Message(format!(
            "cannot reach the Bollard gateway at {}: {e}. Check the URL (it ends in /mcp).",
            a.url
        ))
    })?;
    if resp.status() == reqwest::StatusCode::UNAUTHORIZED {
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        let why = body
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("the key is missing or unknown");
        return Err(Failure::Message(format!(
            "the gateway at {} refused the agent key: {why}",
            a.url
        )));
    }
    tracing::info!(url = %a.url, "connected to the Bollard gateway; serving MCP on stdio");
    Ok(())
}

fn client_info() -> Value {
    json!({"name": "bollard-mcp-bridge", "version": env!("CARGO_PKG_VERSION")})
}

/// Posts one message to the gateway with the stateless transport's headers, mirrored from the
/// body as the gateway will check them.
async fn post(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    msg: &Value,
) -> reqwest::Result<reqwest::Response> {
    let mut req = http
        .post(url)
        .bearer_auth(key)
        .header("accept", "application/json, text/event-stream")
        .json(msg);
    if let Some(v) = msg
        .pointer("/params/_meta")
        .and_then(|m| m.get(META_VERSION))
        .and_then(Value::as_str)
    {
        req = req.header("mcp-protocol-version", header_value(v));
    }
    if let Some(m) = msg.get("method").and_then(Value::as_str) {
        req = req.header("mcp-method", header_value(m));
        if let Some(name) = msg.pointer("/params/name").and_then(Value::as_str) {
            req = req.header("mcp-name", header_value(name));
        }
    }
    req.send().await
}

/// A value as a header may carry it: plain when it is visible ASCII without surrounding space
/// and does not look encoded, else `=?base64?...?=` (streamable HTTP, "Value Encoding").
fn header_value(v: &str) -> String {
    let plain = !v.is_empty()
        && v.bytes().all(|b| (0x20..0x7f).contains(&b))
        && v.trim() == v
        && !(v.starts_with("=?base64?") && v.ends_with("?="));
    if plain {
        v.to_owned()
    } else {
        format!(
            "=?base64?{}?=",
            base64::engine::general_purpose::STANDARD.encode(v)
        )
    }
}

/// The gateway's answer to one request, as one line for the assistant. An answer that is not
/// JSON-RPC (a 401 or 413 in Bollard's own shape) becomes a JSON-RPC error with its sentence.
async fn forward(http: &reqwest::Client, url: &str, key: &str, msg: &Value) -> String {
    let id = msg.get("id").cloned().unwrap_or(Value::Null);
    let resp = match post(http, url, key, msg).await {
        Ok(r) => r,
        Err(e) => {
            return rpc_error(
                &id,
                -32603,
                &format!(
                    "The Bollard gateway at {url} did not answer, so the request may not have reached it: {e}"
                ),
            );
        }
    };
    let is_sse = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    let answer: Option<Value> = if is_sse {
        text.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
            .find(|m| m.get("id") == Some(&id))
    } else {
        serde_json::from_str(&text).ok()
    };
    match answer {
        Some(v) if v.get("jsonrpc").is_some() => v.to_string(),
        Some(v) => {
            let why = v
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("the gateway refused the request");
            rpc_error(&id, -32603, why)
        }
        None => rpc_error(
            &id,
            -32603,
            &format!("The Bollard gateway answered {status} without a JSON-RPC message."),
        ),
    }
}

fn rpc_error(id: &Value, code: i32, message: &str) -> String {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}).to_string()
}

async fn write_stdout(mut rx: mpsc::Receiver<String>) {
    let mut out = tokio::io::stdout();
    while let Some(line) = rx.recv().await {
        let ok = out.write_all(line.as_bytes()).await.is_ok()
            && out.write_all(b"\n").await.is_ok()
            && out.flush().await.is_ok();
        if !ok {
            return;
        }
    }
}

/// The gateway side of the sessions era: a client of `/mcp` that hands list-changed
/// notifications to the assistant once it is connected.
#[derive(Debug, Clone, Default)]
struct Upstream {
    downstream: Arc<Mutex<Option<Peer<RoleServer>>>>,
}

impl ClientHandler for Upstream {
    fn get_info(&self) -> ClientInfo {
        let mut info = ClientInfo::default();
        info.client_info = Implementation::new("bollard-mcp-bridge", env!("CARGO_PKG_VERSION"));
        info
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        let peer = self
            .downstream
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(peer) = peer
            && let Err(e) = peer.notify_tool_list_changed().await
        {
            tracing::warn!(error = %e, "could not pass the list-changed notification to the assistant");
        }
    }
}

/// The assistant side of the sessions era: an MCP server on stdio whose tools are the gateway's.
#[derive(Debug)]
struct Bridge {
    upstream: Peer<RoleClient>,
    url: String,
}

impl Bridge {
    /// A gateway that cannot be reached is the bridge's failure to report, in words.
    fn unreachable(&self, e: ServiceError) -> ErrorData {
        match e {
            ServiceError::McpError(e) => e,
            other => ErrorData::internal_error(
                format!(
                    "The Bollard gateway at {} did not answer: {other}",
                    self.url
                ),
                None,
            ),
        }
    }
}

impl ServerHandler for Bridge {
    fn get_info(&self) -> InitializeResult {
        // The gateway's own answer (capabilities, instructions) when there is one.
        match self.upstream.peer_info() {
            Some(info) => InitializeResult::clone(&info),
            None => InitializeResult::new(
                ServerCapabilities::builder()
                    .enable_tools()
                    .enable_tool_list_changed()
                    .build(),
            ),
        }
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        self.upstream
            .list_tools(request)
            .await
            .map_err(|e| self.unreachable(e))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        match self.upstream.call_tool(request).await {
            Ok(r) => Ok(r),
            Err(ServiceError::McpError(e)) => Err(e),
            // A tool error, not a protocol one, so the model reads why the call failed.
            Err(e) => Ok(CallToolResult::error(vec![Content::text(format!(
                "The Bollard gateway at {} did not answer, so the call may not have reached Apollo: {e}",
                self.url
            ))])),
        }
    }
}

/// The sessions era from its `initialize` on: rmcp serves the assistant on stdio (fed the
/// `initialize` already read, then the rest of stdin) and holds one gateway session.
async fn legacy(
    a: &McpArgs,
    initialize: String,
    mut stdin: BufReader<tokio::io::Stdin>,
) -> CliResult {
    let upstream_handler = Upstream::default();
    let downstream_slot = upstream_handler.downstream.clone();
    let config =
        StreamableHttpClientTransportConfig::with_uri(a.url.as_str()).auth_header(a.key.clone());
    let upstream: RunningService<RoleClient, Upstream> = upstream_handler
        .serve(StreamableHttpClientTransport::from_config(config))
        .await
        .map_err(|e| {
            Failure::Message(format!(
                "cannot open an MCP session at {}: {e}. Check the URL (it ends in /mcp) and that the agent key is valid.",
                a.url
            ))
        })?;

    let (mut feed, input) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        if feed.write_all(initialize.as_bytes()).await.is_ok()
            && feed.write_all(b"\n").await.is_ok()
        {
            let _ = tokio::io::copy(&mut stdin, &mut feed).await;
        }
    });
    let bridge = Bridge {
        upstream: upstream.peer().clone(),
        url: a.url.clone(),
    };
    let downstream = bridge
        .serve((input, tokio::io::stdout()))
        .await
        .map_err(|e| {
            Failure::Message(format!(
                "the assistant did not start an MCP session on stdin: {e}"
            ))
        })?;
    *downstream_slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(downstream.peer().clone());
    // Runs until the assistant closes stdin; then the gateway session is closed too.
    let _ = downstream.waiting().await;
    let _ = upstream.cancel().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_message_over_the_limit_is_answered_by_id_and_the_next_one_is_read_whole() {
        let long = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":\"r-7\",\"method\":\"tools/call\",\"params\":{{\"x\":\"{}é\"}}}}\n",
            "a".repeat(LINE_LIMIT - 2)
        );
        let input = format!("{long}{{\"id\": 8}}\nlast");
        let mut r = BufReader::new(input.as_bytes());
        let mut buf = Vec::new();
        assert_eq!(next_line(&mut r, &mut buf).await.unwrap(), Line::TooLong);
        assert_eq!(id_near_start(&buf), json!("r-7"));
        assert_eq!(next_line(&mut r, &mut buf).await.unwrap(), Line::Read);
        assert_eq!(buf, b"{\"id\": 8}");
        assert_eq!(id_near_start(&buf), json!(8));
        assert_eq!(next_line(&mut r, &mut buf).await.unwrap(), Line::Read);
        assert_eq!(buf, b"last");
        assert_eq!(next_line(&mut r, &mut buf).await.unwrap(), Line::End);
        assert_eq!(id_near_start(b"{\"method\": \"x\""), Value::Null);
        assert_eq!(id_near_start(b"{\"id\": {\"a\": 1}}"), Value::Null);
    }

    #[test]
    fn header_values_are_encoded_when_a_header_cannot_carry_them() {
        assert_eq!(header_value("tools/call"), "tools/call");
        assert_eq!(
            header_value("Hello, 世界"),
            "=?base64?SGVsbG8sIOS4lueVjA==?="
        );
        assert_eq!(header_value(" padded "), "=?base64?IHBhZGRlZCA=?=");
        assert_eq!(
            header_value("=?base64?literal?="),
            "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?="
        );
    }
}
