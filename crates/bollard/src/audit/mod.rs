//! The audit record: one per call, allowed or denied, REST or MCP, in plain English.
//!
//! A call writes a `decision` entry, durably, before anything is forwarded, and an `outcome`
//! entry when Apollo has answered; a denied call writes one `decision` entry. Entries are
//! chained by hash (`store::chain_hash`), so an edited, removed or reordered entry is found by
//! `verify`. Arguments are stored without secrets and, by default, with personal data reduced
//! to a keyed hash. A change to the configuration writes one `admin` entry into the same
//! chain (`change.rs`), so the calls and the changes that allowed them read as one story.

pub mod change;
pub mod checkpoint;
pub mod export;
pub mod merkle;
pub mod pii;
pub mod sentence;
pub mod sink;
pub mod tree;
pub mod verify;
pub mod writer;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::store::NewAuditEntry;

/// The content of one audit entry: what the hash covers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// "decision" or "outcome" for a call; "admin" for a change to the configuration.
    pub kind: String,
    pub request_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub agent_id: Option<String>,
    pub agent_name: Option<String>,
    /// "rest" or "mcp".
    pub channel: String,
    pub source: Option<String>,
    pub method: Option<String>,
    pub path: Option<String>,
    pub action: Option<String>,
    /// "allowed" or "denied".
    pub decision: String,
    pub reason: String,
    pub rule_ids: Vec<String>,
    pub sentence: String,
    pub arguments: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits_reserved: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits_used: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Value>,
    /// For an `admin` entry: who changed what, before and after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<change::Change>,
    /// Ask first: the approval request a call waits for (`{"id", "state": "pending"}`) or
    /// the approval it used (`"state": "used"`, with who approved it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Value>,
    /// For a call made with an OAuth access token: the connection's name (issue 13).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
}

impl Record {
    pub fn to_entry(&self) -> NewAuditEntry {
        NewAuditEntry {
            at: self.at,
            request_id: self.request_id.clone(),
            kind: self.kind.clone(),
            agent_id: self.agent_id.clone(),
            action: self.action.clone(),
            decision: self.decision.clone(),
            // Serializing a struct of plain fields cannot fail.
            content: serde_json::to_string(self).unwrap_or_default(),
        }
    }

    /// As [`Record::to_entry`], for a record that is not needed after: its fields move.
    pub fn into_entry(self) -> NewAuditEntry {
        // Serializing a struct of plain fields cannot fail.
        let content = serde_json::to_string(&self).unwrap_or_default();
        NewAuditEntry {
            at: self.at,
            request_id: self.request_id,
            kind: self.kind,
            agent_id: self.agent_id,
            action: self.action,
            decision: self.decision,
            content,
        }
    }
}

impl Record {
    /// A record with only its kind, request id, time and channel, saying "denied" with no
    /// arguments until its maker fills in the rest.
    pub fn blank(kind: &str, request_id: String, at: OffsetDateTime, channel: &str) -> Record {
        Record {
            kind: kind.into(),
            request_id,
            at,
            agent_id: None,
            agent_name: None,
            channel: channel.into(),
            source: None,
            method: None,
            path: None,
            action: None,
            decision: "denied".into(),
            reason: String::new(),
            rule_ids: Vec::new(),
            sentence: String::new(),
            arguments: Value::Object(serde_json::Map::new()),
            status: None,
            latency_ms: None,
            credits_reserved: None,
            credits_used: None,
            result: None,
            limits: None,
            change: None,
            approval: None,
            connection: None,
        }
    }
}
