//! `bollard mcp`: a stdio MCP server for desktop assistants that forwards `tools/list` and
//! `tools/call` to a gateway's `/mcp` with the agent's key, and passes the gateway's
//! list-changed notifications back. The Apollo key stays on the gateway; the assistant's
//! machine holds only the agent key. stdout is the protocol, so every log line goes to stderr.

use std::sync::{Arc, Mutex};

use clap::Args;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientInfo, Content, ErrorData, Implementation,
    InitializeResult, ListToolsResult, PaginatedRequestParams, ServerCapabilities,
};
use rmcp::service::{NotificationContext, RequestContext, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, stdio};
use rmcp::{ClientHandler, Peer, RoleClient, RoleServer, ServerHandler, ServiceError, ServiceExt};

use super::{CliResult, Failure};

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

/// The gateway side: a client of `/mcp` that hands list-changed notifications to the
/// assistant once it is connected.
#[derive(Clone, Default)]
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

/// The assistant side: an MCP server on stdio whose tools are the gateway's.
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

pub async fn mcp(a: &McpArgs) -> CliResult {
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
    tracing::info!(url = %a.url, "connected to the Bollard gateway; serving MCP on stdio");

    let bridge = Bridge {
        upstream: upstream.peer().clone(),
        url: a.url.clone(),
    };
    let downstream = bridge.serve(stdio()).await.map_err(|e| {
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
