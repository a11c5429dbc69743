//! Ask first over MCP 2026-07-28: wait-and-retry with a multi round-trip request (MRTR).
//!
//! A call that waits for a person's approval is, for a client that declares URL-mode
//! elicitation, answered with an `InputRequiredResult` (basic/patterns/mrtr) whose one input
//! request is a URL-mode `elicitation/create` (client/elicitation, "URL Mode Elicitation
//! Requests") pointing at the request in the console, and a `requestState`. The spec's URL-mode
//! flow is exactly this: the interaction happens out of band, "the client is not directly
//! informed of the outcome", and on the retry the server "determines from the echoed
//! `requestState` (or its own stored state) whether the out-of-band interaction has completed,
//! and either returns the final result or responds with another `InputRequiredResult`"; the
//! server "may need to block until the request is fulfilled". So a retry that accepted waits
//! up to [`WAIT`] for the decision, then runs the call through the gate as any retry does.
//!
//! Nothing here decides anything: the gate alone uses the approval, bound to the call's hash,
//! once. The state only says which request to wait for. It is still sealed (AEAD, bound to the
//! agent) and carries an expiry, because the MRTR section says state that influences business
//! logic MUST be integrity-protected and SHOULD carry the principal and a TTL; the single use
//! it says state cannot guarantee is the store's conditional UPDATE.
//!
//! Offered only when `approvals.console_url` is set (the URL must reach the console) and the
//! client declared `elicitation.url`: the MRTR section forbids input requests a client did not
//! declare. Every other client gets the tool error with the same sentence.

use std::time::Duration;

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::approval::Pending;
use crate::approval::notify::Notifier;
use crate::directory::LiveAgent;
use crate::gate::Gate;
use crate::store::approvals::ApprovalState;

/// The longest a retry waits for the person's decision before answering "still waiting"
/// (another `InputRequiredResult`). Short enough for any HTTP client's timeout.
pub const WAIT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(250);
/// The one input request's key.
const KEY: &str = "bollard_approval";

/// What a verified `requestState` says.
#[derive(Debug)]
pub struct AskedState {
    pub approval_id: String,
}

/// The associated data that binds a state to its agent.
fn bound_to(live: &LiveAgent) -> String {
    format!("mrtr-state:{}", live.agent.id)
}

/// The `InputRequiredResult` for a call that waits for approval, if this client can take it.
pub fn offer(
    gate: &Gate,
    live: &LiveAgent,
    meta: &Map<String, Value>,
    pending: &Pending,
    message: String,
) -> Option<Value> {
    let url_mode = meta
        .get("io.modelcontextprotocol/clientCapabilities")
        .and_then(|c| c.get("elicitation"))
        .and_then(|e| e.get("url"))
        .is_some_and(Value::is_object);
    if !url_mode {
        return None;
    }
    let console = gate.settings().approvals.console_url.as_deref();
    let url = Notifier::link(console, &pending.approval_id)?;
    // No longer than the request itself can wait.
    let expires = gate.clock().now() + gate.settings().approvals.expires_after;
    let state = json!({"approval_id": pending.approval_id, "exp": expires.unix_timestamp()});
    let sealed = gate.pii().sealer()?.seal(&bound_to(live), &state)?;
    Some(json!({
        "resultType": "input_required",
        "inputRequests": {
            KEY: {
                "method": "elicitation/create",
                "params": {
                    "mode": "url",
                    "url": url,
                    "message": format!("{message} An approver can review it at this link; retry the call after opening it and Bollard waits up to {} s for the decision.", WAIT.as_secs()),
                }
            }
        },
        "requestState": sealed,
    }))
}

/// The state of a retry, if Bollard sealed it for this agent and it has not expired.
pub fn verified(gate: &Gate, live: &LiveAgent, state: &Value) -> Option<AskedState> {
    let opened = gate
        .pii()
        .sealer()?
        .open(&bound_to(live), state.as_str()?)?;
    let exp = OffsetDateTime::from_unix_timestamp(opened.get("exp")?.as_i64()?).ok()?;
    if exp <= gate.clock().now() {
        return None;
    }
    Some(AskedState {
        approval_id: opened.get("approval_id")?.as_str()?.to_owned(),
    })
}

/// Whether the retry says the user accepted the URL (opened it, or let it be opened). A retry
/// without the response is taken as accepted: the client may retry at once when it has
/// nothing to ask (MRTR, client requirements).
pub fn accepted(params: &Map<String, Value>) -> bool {
    params
        .get("inputResponses")
        .and_then(|r| r.get(KEY))
        .and_then(|r| r.get("action"))
        .and_then(Value::as_str)
        .is_none_or(|a| a == "accept")
}

/// Waits up to [`WAIT`] while the request is still pending; returns at once when it is
/// decided, expired, unknown, or the store cannot tell.
pub async fn wait_for_decision(gate: &Gate, state: &AskedState) {
    let until = tokio::time::Instant::now() + WAIT;
    loop {
        match gate
            .store()
            .approvals()
            .get_approval(&state.approval_id)
            .await
        {
            Ok(Some(a))
                if a.state == ApprovalState::Pending && a.expires_at > gate.clock().now() => {}
            Ok(_) | Err(_) => return,
        }
        if tokio::time::Instant::now() + POLL > until {
            return;
        }
        tokio::time::sleep(POLL).await;
    }
}
