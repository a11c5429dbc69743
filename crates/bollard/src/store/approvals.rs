//! Ask first (#15): requests for a person's approval of one exact call. A trait of its own
//! beside [`super::Store`] (reached through `Store::approvals`), implemented for SQLite
//! (`sqlite/approvals.rs`) and PostgreSQL (`postgres/approvals.rs`) with the same SQL.
//!
//! Invariants, held by the database rather than by one process, so they hold across replicas:
//! - at most one pending request per agent and call hash (a partial unique index); a retry
//!   while it waits gets the same request;
//! - an approval is used at most once: `use_approval` is one conditional `UPDATE` from
//!   `approved` to `used`, and only the statement that changed the row forwards the call;
//! - deciding, expiring and using are conditional on the state they leave, so each happens
//!   once; an expiry is recorded in the same transaction that marks it, so each expiry is
//!   recorded exactly once whichever replica (or sweep) finds it;
//! - a use is taken back (`release_approval`) only by the call that took it, when that call
//!   was refused before anything was sent, so the approval stays usable;
//! - the clear arguments (personal data included) are kept only sealed, and only while the
//!   request waits for a decision: every change of state erases them.

use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::codec::{from_nanos, nanos};
use super::{NewAuditEntry, StoreError, StoreResult};

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalState {
    Pending,
    Approved,
    Denied,
    Used,
    Expired,
}

impl ApprovalState {
    pub const ALL: [ApprovalState; 5] = [
        ApprovalState::Pending,
        ApprovalState::Approved,
        ApprovalState::Denied,
        ApprovalState::Used,
        ApprovalState::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalState::Pending => "pending",
            ApprovalState::Approved => "approved",
            ApprovalState::Denied => "denied",
            ApprovalState::Used => "used",
            ApprovalState::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

/// One request for approval, as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Approval {
    /// `apr_...`
    pub id: String,
    pub agent_id: String,
    pub agent_name: String,
    pub action: String,
    /// SHA-256 (hex) of the agent, the action, the record id and the canonical arguments.
    pub call_hash: String,
    pub state: ApprovalState,
    /// The call that asked.
    pub request_id: String,
    /// "rest" or "mcp".
    pub channel: String,
    /// What the call does, in words, personal data masked.
    pub sentence: String,
    /// Why it needs approval: the clause of the decision ("'Sequences' is Full use with a
    /// person's approval for this agent").
    pub why: String,
    pub rule_ids: Vec<String>,
    /// The arguments as the audit log stores them: secrets removed, personal data hashed.
    pub arguments: Value,
    /// The most Apollo credits the call can spend.
    pub max_credits: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub decided_at: Option<OffsetDateTime>,
    pub decided_by: Option<String>,
    pub note: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub used_at: Option<OffsetDateTime>,
    /// The request id of the call that used the approval.
    pub used_by: Option<String>,
    /// The webhook notification: "none", "pending", "sent" or "failed".
    pub notify_state: String,
    pub notify_attempts: u32,
    pub notify_error: Option<String>,
    /// The arguments with personal data in clear, sealed (`approval::seal`) so that an
    /// approver can ask to see them; `None` once the request is decided or expired, or when
    /// the arguments hold no personal data. Never shown as it is stored.
    #[serde(skip)]
    pub sealed_arguments: Option<String>,
}

/// What the gate knows when it asks.
#[derive(Debug, Clone)]
pub struct NewApproval {
    pub id: String,
    pub agent_id: String,
    pub agent_name: String,
    pub action: String,
    pub call_hash: String,
    pub request_id: String,
    pub channel: String,
    pub sentence: String,
    pub why: String,
    pub rule_ids: Vec<String>,
    pub arguments: Value,
    pub max_credits: u64,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// "none" when no webhook is configured, else "pending".
    pub notify_state: &'static str,
    /// See [`Approval::sealed_arguments`].
    pub sealed_arguments: Option<String>,
}

/// The audit entries that record a batch of expiries, written in the transaction that marks
/// them expired.
pub type ExpiryRecords<'a> = &'a (dyn Fn(&[Approval]) -> Vec<NewAuditEntry> + Send + Sync);

pub fn new_approval_id() -> String {
    format!("apr_{}", uuid::Uuid::now_v7().simple())
}

#[async_trait]
pub trait ApprovalStore: Send + Sync + std::fmt::Debug {
    /// The pending request for this call (same agent and hash) if there is one, else `new`,
    /// inserted. The flag says whether it was created.
    async fn request_approval(&self, new: &NewApproval) -> StoreResult<(Approval, bool)>;
    /// Uses the approved, unexpired approval of this call, once: the one conditional
    /// `UPDATE` that turns it from approved to used. `None` when there is none to use.
    async fn use_approval(
        &self,
        agent_id: &str,
        call_hash: &str,
        request_id: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<Approval>>;
    /// Takes back the use of approval `id` by the call `request_id`, which was refused before
    /// anything was sent (a budget, a limit, the audit log): the approval is usable again until
    /// it expires. False when that call does not hold it.
    async fn release_approval(&self, id: &str, request_id: &str) -> StoreResult<bool>;
    /// The newest request for this call, whatever its state.
    async fn latest_approval(
        &self,
        agent_id: &str,
        call_hash: &str,
    ) -> StoreResult<Option<Approval>>;
    /// The newest approved, unexpired approval of this agent for `action` whose call hash is
    /// not `except_hash`: the call that was approved when the agent sends a different one.
    async fn approved_other_call(
        &self,
        agent_id: &str,
        action: &str,
        except_hash: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<Approval>>;
    async fn get_approval(&self, id: &str) -> StoreResult<Option<Approval>>;
    /// Newest first, at most `limit`; only `state` when given.
    async fn list_approvals(
        &self,
        state: Option<ApprovalState>,
        limit: u32,
    ) -> StoreResult<Vec<Approval>>;
    /// Approves or denies a pending, unexpired request. `None` when it is not pending (any
    /// more) or has expired: the caller reads it again to say why.
    async fn decide_approval(
        &self,
        id: &str,
        approve: bool,
        by: &str,
        note: Option<&str>,
        now: OffsetDateTime,
    ) -> StoreResult<Option<Approval>>;
    /// Marks pending and approved requests whose time is up as expired and, in the same
    /// transaction, appends `record`'s entries for them to the audit log: each expiry is
    /// marked and recorded once, by one replica, or neither. Returns them.
    async fn expire_approvals(
        &self,
        now: OffsetDateTime,
        record: ExpiryRecords<'_>,
    ) -> StoreResult<Vec<Approval>>;
    /// Notes a delivery attempt of the webhook notification.
    async fn note_notification(
        &self,
        id: &str,
        delivered: bool,
        attempts: u32,
        error: Option<&str>,
    ) -> StoreResult<()>;
    /// How many requests are pending now (for the console's badge and the metrics).
    async fn pending_approvals(&self, now: OffsetDateTime) -> StoreResult<u64>;
}

// --- what both backends share: the SQL (written with $N; SQLite reads it as ?N) and the row ---

pub(super) const COLUMNS: &str = "id, agent_id, agent_name, action, call_hash, state, request_id, \
     channel, sentence, why, rule_ids, arguments, max_credits, created_at, expires_at, decided_at, \
     decided_by, note, used_at, used_by, notify_state, notify_attempts, notify_error, \
     sealed_arguments";

pub(super) fn insert_sql() -> String {
    format!(
        "INSERT INTO approvals ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8, $9, \
         $10, $11, $12, $13, $14, NULL, NULL, NULL, NULL, NULL, $15, 0, NULL, $16) \
         ON CONFLICT DO NOTHING RETURNING {COLUMNS}"
    )
}

pub(super) fn pending_sql() -> String {
    format!(
        "SELECT {COLUMNS} FROM approvals WHERE agent_id = $1 AND call_hash = $2 AND state = 'pending'"
    )
}

pub(super) fn use_sql() -> String {
    format!(
        "UPDATE approvals SET state = 'used', used_at = $1, used_by = $2, sealed_arguments = NULL \
         WHERE id = (SELECT id FROM approvals WHERE agent_id = $3 AND call_hash = $4 \
         AND state = 'approved' AND expires_at > $1 ORDER BY created_at LIMIT 1) \
         AND state = 'approved' AND expires_at > $1 RETURNING {COLUMNS}"
    )
}

/// Only the call that used it gives it back, and only while it is still marked used by it.
pub(super) const RELEASE_SQL: &str = "UPDATE approvals SET state = 'approved', used_at = NULL, \
     used_by = NULL WHERE id = $1 AND state = 'used' AND used_by = $2";

pub(super) fn latest_sql() -> String {
    format!(
        "SELECT {COLUMNS} FROM approvals WHERE agent_id = $1 AND call_hash = $2 \
         ORDER BY created_at DESC, id DESC LIMIT 1"
    )
}

pub(super) fn other_call_sql() -> String {
    format!(
        "SELECT {COLUMNS} FROM approvals WHERE agent_id = $1 AND action = $2 AND call_hash <> $3 \
         AND state = 'approved' AND expires_at > $4 ORDER BY created_at DESC, id DESC LIMIT 1"
    )
}

pub(super) fn get_sql() -> String {
    format!("SELECT {COLUMNS} FROM approvals WHERE id = $1")
}

pub(super) fn list_sql(with_state: bool) -> String {
    let filter = if with_state { "WHERE state = $2" } else { "" };
    format!("SELECT {COLUMNS} FROM approvals {filter} ORDER BY created_at DESC, id DESC LIMIT $1")
}

pub(super) fn decide_sql() -> String {
    format!(
        "UPDATE approvals SET state = $2, decided_at = $3, decided_by = $4, note = $5, \
         sealed_arguments = NULL \
         WHERE id = $1 AND state = 'pending' AND expires_at > $3 RETURNING {COLUMNS}"
    )
}

pub(super) fn expire_sql() -> String {
    format!(
        "UPDATE approvals SET state = 'expired', sealed_arguments = NULL \
         WHERE state IN ('pending', 'approved') AND expires_at <= $1 RETURNING {COLUMNS}"
    )
}

pub(super) const NOTIFY_SQL: &str = "UPDATE approvals SET notify_state = $2, notify_attempts = $3, \
     notify_error = $4 WHERE id = $1";

pub(super) const PENDING_COUNT_SQL: &str =
    "SELECT COUNT(*) FROM approvals WHERE state = 'pending' AND expires_at > $1";

/// The PostgreSQL text as SQLite reads it: `$N` becomes `?N` (the same numbered parameter).
pub(super) fn for_sqlite(sql: &str) -> String {
    sql.replace('$', "?")
}

/// One row, as both databases return it.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct ApprovalRow {
    id: String,
    agent_id: String,
    agent_name: String,
    action: String,
    call_hash: String,
    state: String,
    request_id: String,
    channel: String,
    sentence: String,
    why: String,
    rule_ids: String,
    arguments: String,
    max_credits: i64,
    created_at: i64,
    expires_at: i64,
    decided_at: Option<i64>,
    decided_by: Option<String>,
    note: Option<String>,
    used_at: Option<i64>,
    used_by: Option<String>,
    notify_state: String,
    notify_attempts: i64,
    notify_error: Option<String>,
    sealed_arguments: Option<String>,
}

impl ApprovalRow {
    pub(super) fn into_approval(self) -> StoreResult<Approval> {
        let state = ApprovalState::parse(&self.state).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "approval {} has the unknown state '{}'",
                self.id, self.state
            ))
        })?;
        let json = |what: &str, s: &str| {
            serde_json::from_str::<Value>(s)
                .map_err(|e| StoreError::Corrupt(format!("approval {}'s {what}: {e}", self.id)))
        };
        let arguments = json("arguments", &self.arguments)?;
        let rule_ids = serde_json::from_value(json("rule ids", &self.rule_ids)?)
            .map_err(|e| StoreError::Corrupt(format!("approval {}'s rule ids: {e}", self.id)))?;
        let opt = |n: Option<i64>| n.map(from_nanos).transpose();
        Ok(Approval {
            state,
            arguments,
            rule_ids,
            max_credits: u64::try_from(self.max_credits).unwrap_or(0),
            created_at: from_nanos(self.created_at)?,
            expires_at: from_nanos(self.expires_at)?,
            decided_at: opt(self.decided_at)?,
            used_at: opt(self.used_at)?,
            notify_attempts: u32::try_from(self.notify_attempts).unwrap_or(u32::MAX),
            id: self.id,
            agent_id: self.agent_id,
            agent_name: self.agent_name,
            action: self.action,
            call_hash: self.call_hash,
            request_id: self.request_id,
            channel: self.channel,
            sentence: self.sentence,
            why: self.why,
            decided_by: self.decided_by,
            note: self.note,
            used_by: self.used_by,
            notify_state: self.notify_state,
            notify_error: self.notify_error,
            sealed_arguments: self.sealed_arguments,
        })
    }
}

pub(super) fn rows(rows: Vec<ApprovalRow>) -> StoreResult<Vec<Approval>> {
    rows.into_iter().map(ApprovalRow::into_approval).collect()
}

/// The values an insert binds, in order ($1 to $15), converted once for both backends.
#[derive(Debug)]
pub(super) struct InsertValues {
    pub rule_ids: String,
    pub arguments: String,
    pub max_credits: i64,
    pub created_at: i64,
    pub expires_at: i64,
}

impl InsertValues {
    pub(super) fn of(new: &NewApproval) -> StoreResult<Self> {
        Ok(Self {
            rule_ids: serde_json::to_string(&new.rule_ids).unwrap_or_else(|_| "[]".into()),
            arguments: serde_json::to_string(&new.arguments).unwrap_or_else(|_| "{}".into()),
            max_credits: i64::try_from(new.max_credits).unwrap_or(i64::MAX),
            created_at: nanos(new.created_at)?,
            expires_at: nanos(new.expires_at)?,
        })
    }
}

/// The state a decision leaves.
pub(super) fn decided_state(approve: bool) -> &'static str {
    if approve {
        ApprovalState::Approved.as_str()
    } else {
        ApprovalState::Denied.as_str()
    }
}
