//! The tool table both MCP eras share: one tool per catalog action, named as Apollo's own MCP
//! server names it, shaped for one agent (only what its grants let it use), and the gate's reply
//! turned into a tool result.
//!
//! Invariant: a tool list is a pure function of the agent's grants and credit budgets (and the
//! catalog this build carries), so its [`version`], a digest of those, changes exactly when the
//! list may. The stateless era's cache
//! hint and the sessions era's list-changed notification both rest on that.

use std::sync::{Arc, LazyLock};

use bollard_policy::{Action, Kind, catalog};
use rmcp::model::{CallToolResult, Content, Meta, Tool, ToolAnnotations};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::directory::LiveAgent;
use crate::gate::Reply;
use crate::rest::REQUEST_ID_HEADER;

/// Said once, in the server's instructions, instead of at the end of every description (a
/// model reads the tool list on every turn; twenty copies of one sentence cost tokens and
/// bury what differs between tools).
pub(super) const INSTRUCTIONS: &str = "Apollo.io through Bollard. The tools listed are the Apollo actions this agent may use. Bollard checks every call against this agent's grants, rules, limits and credit budget; a refused call comes back as an error that says why, and nothing reaches Apollo: tell the user rather than retrying. The one exception is BOLLARD_APPROVAL_PENDING: a person must approve that exact call; tell the user, and send the same call again, unchanged, once they say it is approved. Some tools spend the team's Apollo credits; each description says how many.";

/// `_meta` key under which every list and every call result carries the version of the agent's
/// tool list, so that a client holding a cached list can tell it is stale.
pub(super) const TOOLS_VERSION_META: &str = "dev.bollard/toolsVersion";

/// Arguments only an agent holding these grants may send; without them the policy refuses the
/// call, so advertising them would only invite refusals.
const REVEAL_ONLY: [&str; 2] = ["reveal_personal_emails", "reveal_phone_number"];
const WATERFALL_ONLY: [&str; 2] = ["run_waterfall_email", "run_waterfall_phone"];
/// Apollo uses `webhook_url` only to deliver revealed phone numbers and waterfall results.
const WEBHOOK: &str = "webhook_url";

/// Every catalog action as a tool, built once; an agent's list is a reshaped filter of it.
static TOOLS: LazyLock<Vec<(&'static Action, Tool)>> =
    LazyLock::new(|| catalog().iter().map(|a| (a, tool(a))).collect());

fn tool(action: &'static Action) -> Tool {
    let schema = match action.input_schema() {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let annotations = ToolAnnotations::with_title(action.title)
        .read_only(action.read_only())
        .open_world(true);
    // The catalog says which writes overwrite what is there (updates, stage and owner
    // changes, sequence switches) and which change nothing more when repeated; creating
    // twice makes a duplicate, sending an email twice sends two.
    let annotations = match action.kind {
        Kind::Read => annotations,
        Kind::Write => annotations
            .destructive(action.overwrites())
            .idempotent(action.idempotent()),
    };
    Tool::new(action.mcp_tool, action.description, Arc::new(schema))
        .with_title(action.title)
        .with_annotations(annotations)
}

/// The tool a name stands for, whoever asks (rmcp's lookup for argument validation).
pub(super) fn by_name(name: &str) -> Option<Tool> {
    TOOLS
        .iter()
        .find(|(a, _)| a.mcp_tool == name)
        .map(|(_, t)| t.clone())
}

/// The tools this agent's grants allow now, in catalog order (deterministic, as the 2026-07-28
/// revision asks of `tools/list` so that clients and prompt caches can reuse it), each
/// advertising only the arguments the agent may send and saying where its budget stands.
pub(super) fn for_agent(live: &LiveAgent) -> Vec<Tool> {
    let grants = &live.agent.grants;
    let limits = &live.agent.limits;
    TOOLS
        .iter()
        .filter(|(a, _)| grants.allows(a))
        .map(|(a, t)| {
            let mut t = t.clone();
            let mut hidden: Vec<&str> = Vec::new();
            if !grants.reveal {
                hidden.extend(REVEAL_ONLY);
            }
            if !grants.waterfall {
                hidden.extend(WATERFALL_ONLY);
            }
            if !grants.reveal && !grants.waterfall {
                hidden.push(WEBHOOK);
            }
            if !hidden.is_empty() {
                let mut schema = (*t.input_schema).clone();
                hide(&mut schema, &hidden);
                t.input_schema = Arc::new(schema);
            }
            if a.spends_credits() {
                let budget = match (limits.credits_per_day, limits.credits_per_month) {
                    (None, None) => " Budget: this agent has no credit budget, so Bollard refuses calls that would spend credits until an admin sets one.".to_owned(),
                    (Some(d), None) => format!(" Budget: this agent may spend {d} credits a day."),
                    (None, Some(m)) => format!(" Budget: this agent may spend {m} credits a month."),
                    (Some(d), Some(m)) => format!(" Budget: this agent may spend {d} credits a day and {m} a month."),
                };
                let mut d = t.description.as_deref().unwrap_or_default().to_owned();
                d.push_str(&budget);
                t.description = Some(d.into());
            }
            t
        })
        .collect()
}

/// Removes properties (and their `required` entries) from an object schema.
fn hide(schema: &mut Map<String, Value>, names: &[&str]) {
    if let Some(Value::Object(props)) = schema.get_mut("properties") {
        props.retain(|k, _| !names.contains(&k.as_str()));
    }
    if let Some(Value::Array(req)) = schema.get_mut("required") {
        req.retain(|r| r.as_str().is_none_or(|r| !names.contains(&r)));
    }
}

/// The version of an agent's tool list: a digest of everything [`for_agent`] reads (the
/// grants, the credit budgets, and this build's catalog), so it changes exactly when the list
/// may, and costs a few hundred bytes of hashing rather than the list's serialization.
pub(super) fn version(live: &LiveAgent) -> String {
    let a = &live.agent;
    let inputs = (
        env!("CARGO_PKG_VERSION"),
        &a.grants,
        a.limits.credits_per_day,
        a.limits.credits_per_month,
    );
    let bytes = serde_json::to_vec(&inputs).unwrap_or_default();
    let digest = Sha256::digest(&bytes);
    hex::encode(digest.get(..8).unwrap_or_default())
}

/// The gate's reply as a tool result: Apollo's JSON as text and structured content; a
/// refusal or an Apollo error as `isError: true` with a sentence.
pub(super) fn to_result(reply: Reply) -> CallToolResult {
    let request_id = reply.request_id;
    let mut result = match reply.result {
        Ok(a) if (200..300).contains(&a.status) => {
            let mut r =
                CallToolResult::success(vec![Content::text(String::from_utf8_lossy(&a.body))]);
            // structuredContent must be an object for the 2025 revisions; Apollo's answers are.
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
            let mut r = CallToolResult::error(vec![Content::text(refused.reason())]);
            r.structured_content = Some(refused.body(reply.action, &request_id));
            r
        }
    };
    result.meta = Some(request_meta(&request_id));
    result
}

/// Said to a `tools/list` with a cursor, in either era: Bollard never hands one out.
pub(super) const NOT_OUR_CURSOR: &str =
    "This cursor was not issued by Bollard: tools/list is a single page; send it without a cursor.";

/// The request id, as REST sends it in `x-bollard-request-id`: the same id is in the audit.
pub(super) fn request_meta(request_id: &str) -> Meta {
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
    fn descriptions_carry_no_shared_boilerplate() {
        let descriptions: Vec<&str> = TOOLS
            .iter()
            .filter_map(|(_, t)| t.description.as_deref())
            .collect();
        assert!(descriptions.iter().all(|d| !d.contains("Bollard")));
    }

    #[test]
    fn hide_removes_properties_and_their_required_entries() {
        let mut schema = json!({"type": "object",
            "properties": {"a": {}, "reveal_phone_number": {}},
            "required": ["a", "reveal_phone_number"]});
        let Value::Object(m) = &mut schema else {
            unreachable!()
        };
        hide(m, &REVEAL_ONLY);
        assert_eq!(
            schema,
            json!({"type": "object", "properties": {"a": {}}, "required": ["a"]})
        );
    }
}
