//! What Bollard itself refuses, and how each refusal looks to an agent: Apollo's error shape
//! (`{"error": ...}`) so existing clients show the sentence, plus a `bollard` object for
//! programs. One exhaustive match maps every refusal to its status and code, so a new kind of
//! refusal cannot silently become a 500.

use serde_json::{Value, json};

/// Why a call was not answered by Apollo. The `String`s are sentences for the agent.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Denied(String),
    #[error("{0}")]
    BudgetExhausted(String),
    #[error("{0}")]
    TooLarge(String),
    /// A protocol message Bollard cannot read as its door's protocol (an MCP batch, a request
    /// without the metadata its revision requires).
    #[error("{0}")]
    Malformed(String),
    /// Something the caller named that does not exist for this caller: an MCP session that
    /// ended or that another agent opened (the same answer, so that ids cannot be probed).
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after_secs: u64,
    },
    /// Apollo could not be reached or answered nothing usable.
    #[error("{0}")]
    UpstreamUnavailable(String),
    #[error("{0}")]
    UpstreamTimeout(String),
    #[error("{0}")]
    AuditUnavailable(String),
    /// Our own fault; the sentence never carries internal detail.
    #[error("{0}")]
    Internal(String),
}

impl Refusal {
    /// The HTTP status and the `error_code` of `interfaces.md`.
    pub fn status_and_code(&self) -> (u16, &'static str) {
        match self {
            Refusal::Unauthenticated(_) => (401, "BOLLARD_UNAUTHENTICATED"),
            Refusal::Denied(_) => (403, "BOLLARD_DENIED"),
            // 403, not 402: Apollo itself uses 403 for what the plan does not allow, and
            // clients already handle it as "not permitted, do not retry".
            Refusal::BudgetExhausted(_) => (403, "BOLLARD_BUDGET_EXHAUSTED"),
            Refusal::TooLarge(_) => (413, "BOLLARD_TOO_LARGE"),
            Refusal::Malformed(_) => (400, "BOLLARD_MALFORMED"),
            Refusal::NotFound(_) => (404, "BOLLARD_NOT_FOUND"),
            Refusal::Invalid(_) => (422, "BOLLARD_INVALID"),
            Refusal::RateLimited { .. } => (429, "BOLLARD_RATE_LIMITED"),
            Refusal::UpstreamUnavailable(_) => (502, "BOLLARD_UPSTREAM"),
            Refusal::UpstreamTimeout(_) => (504, "BOLLARD_UPSTREAM"),
            Refusal::AuditUnavailable(_) => (503, "BOLLARD_AUDIT_UNAVAILABLE"),
            Refusal::Internal(_) => (500, "BOLLARD_INTERNAL"),
        }
    }

    pub fn decision(&self) -> &'static str {
        match self {
            Refusal::UpstreamUnavailable(_) | Refusal::UpstreamTimeout(_) => "allowed",
            _ => "denied",
        }
    }

    /// The body an agent receives.
    pub fn body(
        &self,
        action: Option<&str>,
        request_id: &str,
        reason: &str,
        rule_ids: &[String],
    ) -> Value {
        let (_, code) = self.status_and_code();
        json!({
            "error": self.to_string(),
            "error_code": code,
            "bollard": {
                "decision": self.decision(),
                "action": action,
                "request_id": request_id,
                "reason": reason,
                "rule_ids": rule_ids,
            }
        })
    }
}
