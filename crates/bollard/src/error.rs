//! What Bollard itself refuses, and how each refusal looks to an agent: Apollo's error shape
//! (`{"error": ...}`) so existing clients show the sentence, plus a `bollard` object for
//! programs. A refusal holds its facts (which setting, which rule, which limit and its
//! numbers); its words are rendered from them twice, once for the agent
//! ([`Refusal::message`]) and once for the record's "because ..." ([`Refusal::clause`]).
//! One exhaustive match maps every refusal to its status and code, so a new kind of refusal
//! cannot silently become a 500, and [`Refused::into_response`] is the one place a refusal
//! becomes an HTTP answer, for REST and MCP alike.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bollard_policy::{Action, ActionId, Decision};
use serde_json::{Value, json};
use time::Date;

/// Why a call was not answered by Apollo.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    Unauthenticated(Unauthenticated),
    Denied(Denial),
    BudgetExhausted(Box<BudgetShort>),
    /// The body or the arguments are over the limit.
    TooLarge(TooLarge),
    /// A protocol message Bollard cannot read as its door's protocol (an MCP batch, a request
    /// without the metadata its revision requires): the sentence says what is wrong.
    Malformed(String),
    /// Something the caller named that does not exist for this caller: an MCP session that
    /// ended or that another agent opened (the same answer, so that ids cannot be probed).
    NotFound(String),
    /// Apollo's constraints, broken: the sentence of `bollard_policy::validate`, or of
    /// reading the arguments, which name the argument and the rule.
    Invalid(String),
    RateLimited(Box<RateLimited>),
    /// Too many calls without a valid key from one source address in a minute.
    KeyFlood {
        retry_after_secs: u64,
    },
    /// Apollo could not be reached or answered nothing usable (the upstream error's words).
    UpstreamUnavailable(String),
    UpstreamTimeout(String),
    /// The record could not be written (or the limits could not be checked), so nothing
    /// was forwarded.
    AuditUnavailable(Unrecorded),
    /// Our own fault; the sentence never carries internal detail.
    Internal(String),
    /// Ask first: the call waits for a person's approval (`approval.rs` holds the facts).
    ApprovalPending(Box<crate::approval::Pending>),
}

/// Why the caller is not a known, current agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unauthenticated {
    /// No key, or a key Bollard does not know.
    MissingOrUnknown,
    Revoked {
        agent: String,
        on: Date,
    },
    Expired {
        agent: String,
        on: Date,
    },
    /// An OAuth access token (issue 13) that is not valid here and now.
    Token(TokenProblem),
}

/// Why an OAuth access token is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenProblem {
    /// Not a token this installation signed.
    Unknown,
    Expired,
    /// Signed here, but for another resource (RFC 8707).
    WrongAudience {
        audience: String,
    },
    /// Its connection was revoked (or its client blocked).
    Revoked,
}

impl TokenProblem {
    fn clause(&self) -> String {
        match self {
            TokenProblem::Unknown => "the access token is not one this Bollard issued".into(),
            TokenProblem::Expired => "the access token had expired".into(),
            TokenProblem::WrongAudience { audience } => {
                format!("the access token was issued for {audience}, not for this server")
            }
            TokenProblem::Revoked => "the access token's connection was revoked".into(),
        }
    }

    fn advice(&self) -> &'static str {
        match self {
            TokenProblem::Unknown | TokenProblem::WrongAudience { .. } => {
                "Connect the assistant to this server again."
            }
            TokenProblem::Expired => "Get a new one with the refresh token.",
            TokenProblem::Revoked => "Ask an admin, then connect the assistant again.",
        }
    }
}

/// A refusal by policy or by a gateway setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// The agent's grants and rules say no.
    Policy(Box<Decision>),
    /// A method and path (or tool) outside the catalog.
    NotGoverned { method: String, path: String },
    /// The agent's stored policy cannot be compiled (the compiler's sentence).
    PolicyUnusable(String),
    /// The team's key is scoped and the action needs a master key.
    ScopedKey { agent: String, action: ActionId },
    /// A bulk write some of whose records the agent's rules refuse as single writes; the
    /// clause names them (see `bollard_policy::bulk`).
    Records {
        agent: String,
        action: ActionId,
        clause: String,
    },
    /// A `webhook_url` outside the allowed prefixes.
    WebhookNotAllowed {
        agent: String,
        prefixes: Vec<String>,
    },
    /// A person denied the approval this exact call asked for.
    ApprovalDenied(Box<crate::approval::Denied>),
    /// An MCP request from a web page whose origin may not call (DNS-rebinding protection);
    /// the origin as sent, clipped.
    Origin { origin: String },
}

/// The credit budget cannot cover the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BudgetShort {
    /// The action spends credits and the agent has no budget at all.
    NoBudget {
        agent: String,
        action: ActionId,
        max: u64,
    },
    /// What is left of a period's budget is less than the call could cost.
    Short {
        agent: String,
        action: ActionId,
        max: u64,
        /// Credits left, and the period's limit, as printed ("2", "2.5").
        left: String,
        limit: String,
        /// "daily" or "monthly".
        label: &'static str,
        /// "at midnight UTC (in 3 hours)", "on 1 January".
        resets: String,
    },
}

/// What was too large, and the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TooLarge {
    /// A request body over the limit (KiB), REST or MCP.
    Body { limit_kib: usize },
    /// A tool's arguments over the limit.
    ToolArguments {
        tool: String,
        size_kib: usize,
        limit_kib: usize,
    },
}

/// The agent's own rate window is full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimited {
    pub agent: String,
    /// "calls per minute", "share of Apollo's team limit for ...": what is counted.
    pub what: String,
    pub limit: u64,
    /// "minute", "hour", "day".
    pub window: &'static str,
    pub retry_after_secs: u64,
}

/// What could not be written or read, so that nothing was forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unrecorded {
    /// The audit record of the decision.
    AuditRecord,
    /// The limits' store.
    LimitStore,
    /// The approvals' store (ask first).
    ApprovalStore,
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
            Refusal::RateLimited(_) | Refusal::KeyFlood { .. } => (429, "BOLLARD_RATE_LIMITED"),
            Refusal::UpstreamUnavailable(_) => (502, "BOLLARD_UPSTREAM"),
            Refusal::UpstreamTimeout(_) => (504, "BOLLARD_UPSTREAM"),
            Refusal::AuditUnavailable(_) => (503, "BOLLARD_AUDIT_UNAVAILABLE"),
            Refusal::Internal(_) => (500, "BOLLARD_INTERNAL"),
            // 403 like a denial: not permitted yet. The code tells a program it may retry
            // once a person has approved.
            Refusal::ApprovalPending(_) => (403, "BOLLARD_APPROVAL_PENDING"),
        }
    }

    pub fn decision(&self) -> &'static str {
        match self {
            Refusal::UpstreamUnavailable(_) | Refusal::UpstreamTimeout(_) => "allowed",
            Refusal::Unauthenticated(_)
            | Refusal::Denied(_)
            | Refusal::BudgetExhausted(_)
            | Refusal::TooLarge(_)
            | Refusal::Malformed(_)
            | Refusal::NotFound(_)
            | Refusal::Invalid(_)
            | Refusal::RateLimited(_)
            | Refusal::KeyFlood { .. }
            | Refusal::AuditUnavailable(_)
            | Refusal::Internal(_) => "denied",
            Refusal::ApprovalPending(_) => "pending",
        }
    }

    /// The sentence the agent reads (the `error` of the body, the MCP tool error's text).
    pub fn message(&self) -> String {
        match self {
            Refusal::Unauthenticated(u) => match u {
                Unauthenticated::MissingOrUnknown => "The agent key is missing or unknown. Send your Bollard agent key in the X-Api-Key header or as Authorization: Bearer <key>.".to_owned(),
                Unauthenticated::Revoked { agent, on } => format!(
                    "This agent key belongs to {agent}, which was revoked on {on}. Ask an admin for a new agent."
                ),
                Unauthenticated::Expired { agent, on } => format!(
                    "This agent key for {agent} expired on {on}. Ask an admin to rotate it."
                ),
                Unauthenticated::Token(p) => {
                    let mut c = p.clause();
                    if let Some(f) = c.get_mut(0..1) {
                        f.make_ascii_uppercase();
                    }
                    format!("{c}. {}", p.advice())
                }
            },
            Refusal::Denied(d) => match d {
                Denial::Policy(decision) => decision.reason(),
                Denial::NotGoverned { .. } | Denial::PolicyUnusable(_) => {
                    format!("{}.", d.clause())
                }
                Denial::Origin { .. } => format!(
                    "Bollard's MCP endpoint refused this request: {}. Assistants that are not web pages send no Origin; an admin can allow a web assistant's origin with [mcp] allowed_origins.",
                    d.clause()
                ),
                Denial::ScopedKey { agent, action } => format!(
                    "{agent} may not {}: {}. An admin must configure a master key (APOLLO_KEY_KIND=master) first.",
                    action.action().title_lower(),
                    d.clause()
                ),
                Denial::WebhookNotAllowed { agent, .. } => format!(
                    "{agent} may not send Apollo's results to that webhook_url: {}.",
                    d.clause()
                ),
                Denial::Records { agent, action, .. } => format!(
                    "{agent} may not {}: {}. Nothing was sent; send the call again without the refused records.",
                    action.action().title_lower(),
                    d.clause()
                ),
                Denial::ApprovalDenied(denied) => denied.message(),
            },
            Refusal::BudgetExhausted(b) => {
                let (agent, action) = match &**b {
                    BudgetShort::NoBudget { agent, action, .. }
                    | BudgetShort::Short { agent, action, .. } => (agent, action),
                };
                let tail = match &**b {
                    BudgetShort::NoBudget { .. } => format!(
                        " An admin can set one with: bollard limit \"{agent}\" --credits-per-day N"
                    ),
                    BudgetShort::Short { resets, .. } => format!(" The budget resets {resets}."),
                };
                format!(
                    "{agent} may not {}: {}.{tail}",
                    action.action().title_lower(),
                    b.clause()
                )
            }
            Refusal::RateLimited(r) => format!("{}.", r.clause()),
            Refusal::KeyFlood { retry_after_secs } => format!(
                "Too many calls without a valid agent key from this address; try again in {retry_after_secs} s with a valid key."
            ),
            Refusal::TooLarge(t) => match t {
                TooLarge::Body { limit_kib } => format!(
                    "The request body is larger than Bollard accepts ({}); Apollo's own calls are far smaller.",
                    size_words(*limit_kib)
                ),
                TooLarge::ToolArguments {
                    tool,
                    size_kib,
                    limit_kib,
                } => format!(
                    "The arguments of {tool} are {size_kib} KiB; Bollard accepts at most {limit_kib} KiB per call. Send fewer records per call."
                ),
            },
            Refusal::AuditUnavailable(u) => match u {
                Unrecorded::AuditRecord => "Bollard could not write the audit record for this call, so nothing was sent to Apollo. Try again shortly.".to_owned(),
                Unrecorded::LimitStore => "Bollard could not check this agent's limits because its database is unavailable, so nothing was sent to Apollo.".to_owned(),
                Unrecorded::ApprovalStore => "Bollard could not check this call's approval because its database is unavailable, so nothing was sent to Apollo. Try again shortly.".to_owned(),
            },
            Refusal::ApprovalPending(p) => p.message(),
            Refusal::Invalid(s)
            | Refusal::Malformed(s)
            | Refusal::NotFound(s)
            | Refusal::UpstreamUnavailable(s)
            | Refusal::UpstreamTimeout(s)
            | Refusal::Internal(s) => s.clone(),
        }
    }

    /// The clause the record's sentence puts after "because": the facts, without the
    /// agent's name or advice.
    pub fn clause(&self) -> String {
        match self {
            Refusal::Unauthenticated(u) => match u {
                Unauthenticated::MissingOrUnknown => {
                    "the agent key is missing or unknown".to_owned()
                }
                Unauthenticated::Revoked { agent, on } => {
                    format!("the agent key belongs to {agent}, which was revoked on {on}")
                }
                Unauthenticated::Expired { agent, on } => {
                    format!("the agent key for {agent} expired on {on}")
                }
                Unauthenticated::Token(p) => p.clause(),
            },
            Refusal::Denied(d) => d.clause(),
            Refusal::BudgetExhausted(b) => b.clause(),
            Refusal::RateLimited(r) => r.clause(),
            Refusal::KeyFlood { .. } => {
                "too many calls without a valid agent key came from this address this minute"
                    .to_owned()
            }
            Refusal::ApprovalPending(p) => p.clause(),
            Refusal::TooLarge(_)
            | Refusal::Malformed(_)
            | Refusal::NotFound(_)
            | Refusal::Invalid(_)
            | Refusal::UpstreamUnavailable(_)
            | Refusal::UpstreamTimeout(_)
            | Refusal::AuditUnavailable(_)
            | Refusal::Internal(_) => lower_start(self.message().trim_end_matches('.')),
        }
    }

    /// The body an agent receives.
    pub fn body(&self, action: Option<&Action>, request_id: &str, rule_ids: &[String]) -> Value {
        let (_, code) = self.status_and_code();
        let message = self.message();
        let mut body = json!({
            "error": message,
            "error_code": code,
            "bollard": {
                "decision": self.decision(),
                "action": action.map(|a| a.id.as_str()),
                "request_id": request_id,
                "reason": message,
                "rule_ids": rule_ids,
            }
        });
        if let (Some(id), Some(b)) = (self.approval_id(), body.get_mut("bollard")) {
            b["approval_id"] = Value::String(id.to_owned());
        }
        body
    }

    /// The approval request a refusal names (ask first), for `bollard.approval_id`.
    pub fn approval_id(&self) -> Option<&str> {
        match self {
            Refusal::ApprovalPending(p) => Some(&p.approval_id),
            Refusal::Denied(Denial::ApprovalDenied(d)) => Some(&d.approval_id),
            Refusal::Unauthenticated(_)
            | Refusal::Denied(_)
            | Refusal::BudgetExhausted(_)
            | Refusal::TooLarge(_)
            | Refusal::Malformed(_)
            | Refusal::NotFound(_)
            | Refusal::Invalid(_)
            | Refusal::RateLimited(_)
            | Refusal::KeyFlood { .. }
            | Refusal::UpstreamUnavailable(_)
            | Refusal::UpstreamTimeout(_)
            | Refusal::AuditUnavailable(_)
            | Refusal::Internal(_) => None,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for Refusal {}

impl Denial {
    fn clause(&self) -> String {
        match self {
            Denial::Policy(d) => d.clause(),
            Denial::NotGoverned { method, path } => format!(
                "{method} {} is not an Apollo action that Bollard governs, so it is refused",
                path.chars().take(100).collect::<String>()
            ),
            Denial::PolicyUnusable(s) => lower_start(s.trim_end_matches('.')),
            Denial::Origin { origin } => format!(
                "it came from a web page at {origin}, which is not an origin allowed to call it"
            ),
            Denial::ScopedKey { .. } => {
                "Bollard holds a scoped Apollo key, which cannot reach this endpoint".to_owned()
            }
            Denial::Records { clause, .. } => clause.clone(),
            Denial::WebhookNotAllowed { prefixes, .. } => {
                let allowed = if prefixes.is_empty() {
                    "no webhook prefixes are configured".to_owned()
                } else {
                    format!("allowed prefixes: {}", prefixes.join(", "))
                };
                format!("the webhook_url is not under a prefix the admin allowed ({allowed})")
            }
            Denial::ApprovalDenied(d) => d.clause(),
        }
    }
}

impl BudgetShort {
    fn clause(&self) -> String {
        match self {
            BudgetShort::NoBudget { agent, max, .. } => format!(
                "it spends Apollo credits (up to {max} for this call) and {agent} has no credit budget"
            ),
            BudgetShort::Short {
                max,
                left,
                limit,
                label,
                ..
            } => format!(
                "this call could cost up to {max} credit{}, and only {left} of its {limit} {label} credits are left",
                if *max == 1 { "" } else { "s" }
            ),
        }
    }
}

impl RateLimited {
    fn clause(&self) -> String {
        format!(
            "{} has used all {} of its {} this {}; try again in {}",
            self.agent,
            self.limit,
            self.what,
            self.window,
            in_words(self.retry_after_secs)
        )
    }
}

/// "30 seconds", "12 minutes", "3 hours", "2 days".
pub fn in_words(secs: u64) -> String {
    match secs {
        s if s < 90 => format!("{s} second{}", if s == 1 { "" } else { "s" }),
        s if s < 5400 => format!("{} minutes", (s + 30) / 60),
        s if s < 172_800 => format!("{} hours", (s + 1800) / 3600),
        s => format!("{} days", (s + 43_200) / 86_400),
    }
}

fn size_words(kib: usize) -> String {
    if kib >= 1024 && kib.is_multiple_of(1024) {
        format!("{} MiB", kib / 1024)
    } else {
        format!("{kib} KiB")
    }
}

/// "The key is unknown" reads "because the key is unknown"; names keep their case.
fn lower_start(s: &str) -> String {
    if s.starts_with("The ") || s.starts_with("This ") {
        let mut c = s.chars();
        c.next()
            .map(|f| f.to_lowercase().chain(c).collect())
            .unwrap_or_default()
    } else {
        s.to_owned()
    }
}

/// A refusal with the rule or setting ids that decided it.
#[derive(Debug, Clone)]
pub struct Refused {
    pub refusal: Refusal,
    pub rule_ids: Vec<String>,
    /// The approval this call used and gave back, because the call was refused before
    /// anything was sent (ask first): the sentence says it stays usable.
    pub kept: Option<Box<crate::approval::Kept>>,
}

impl Refused {
    pub fn new(refusal: Refusal) -> Self {
        Self {
            refusal,
            rule_ids: Vec::new(),
            kept: None,
        }
    }

    /// A refusal decided by a gateway setting rather than the agent's policy.
    pub fn by_setting(refusal: Refusal, setting: &str) -> Self {
        Self {
            refusal,
            rule_ids: vec![format!("setting:{setting}")],
            kept: None,
        }
    }

    pub fn from_decision(d: &Decision) -> Self {
        Self {
            refusal: Refusal::Denied(Denial::Policy(Box::new(d.clone()))),
            rule_ids: d.rule_ids.clone(),
            kept: None,
        }
    }

    /// The sentence of the refusal, as the agent reads it.
    pub fn reason(&self) -> String {
        match &self.kept {
            None => self.refusal.message(),
            Some(k) => format!("{} {}", self.refusal.message(), k.message()),
        }
    }

    /// The clause the record's sentence puts after "because".
    pub fn clause(&self) -> String {
        match &self.kept {
            None => self.refusal.clause(),
            Some(k) => format!("{} ({})", self.refusal.clause(), k.clause()),
        }
    }

    pub fn body(&self, action: Option<&Action>, request_id: &str) -> Value {
        let mut body = self.refusal.body(action, request_id, &self.rule_ids);
        if let Some(k) = &self.kept {
            let reason = Value::String(self.reason());
            body["error"] = reason.clone();
            if let Some(b) = body.get_mut("bollard") {
                b["reason"] = reason;
                b["approval_id"] = Value::String(k.approval_id.clone());
                b["approval_kept"] = Value::Bool(true);
            }
        }
        body
    }

    /// The one place a refusal becomes an HTTP answer, for both doors: the status, Apollo's
    /// error shape, `WWW-Authenticate` on a 401 (RFC 9110 section 15.5.2 requires it) and
    /// `Retry-After` on a 429. The caller adds the request id header.
    pub fn into_response(&self, action: Option<&Action>, request_id: &str) -> Response {
        let (status, _) = self.refusal.status_and_code();
        let mut r: Response = (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            axum::Json(self.body(action, request_id)),
        )
            .into_response();
        self.set_headers(&mut r);
        r
    }

    /// The headers a refusal's answer carries whatever its body's shape (Apollo's, or an MCP
    /// JSON-RPC error): `WWW-Authenticate` on a 401, `Retry-After` on a 429.
    pub fn set_headers(&self, r: &mut Response) {
        match &self.refusal {
            // RFC 6750 section 3.1: a token that was presented and refused is
            // `invalid_token`; `oauth::challenge_layer` adds `resource_metadata`.
            Refusal::Unauthenticated(Unauthenticated::Token(_)) => {
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            Refusal::Unauthenticated(_) => {
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Refusal::RateLimited(l) => {
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(l.retry_after_secs));
            }
            Refusal::KeyFlood { retry_after_secs } => {
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            Refusal::Denied(_)
            | Refusal::BudgetExhausted(_)
            | Refusal::TooLarge(_)
            | Refusal::Malformed(_)
            | Refusal::NotFound(_)
            | Refusal::Invalid(_)
            | Refusal::UpstreamUnavailable(_)
            | Refusal::UpstreamTimeout(_)
            | Refusal::AuditUnavailable(_)
            | Refusal::Internal(_)
            | Refusal::ApprovalPending(_) => {}
        }
    }
}
