//! What both backends share besides the trait: the row shapes (`sqlx::FromRow`, generic over
//! the database), their conversion to the store's types, ids, timestamps and error sentences.
//! Timestamps are stored as unix nanoseconds in a 64-bit integer: the unit the audit chain
//! hashes, so an entry read back hashes exactly as it did when it was written.

use bollard_policy::Grants;
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

use super::{
    AdminKey, Agent, AuditEntry, KeyHash, Limits, NewAuditEntry, StoreError, StoreResult,
    StoredRule,
};

/// The settings row that holds the installation secret.
pub(super) const SECRET_SETTING: &str = "installation_secret";

pub(super) fn nanos(t: OffsetDateTime) -> StoreResult<i64> {
    i64::try_from(t.unix_timestamp_nanos()).map_err(|_| {
        StoreError::OutOfRange(format!(
            "The time {t} is outside the years 1678 to 2261, the times Bollard can keep."
        ))
    })
}

pub(super) fn opt_nanos(t: Option<OffsetDateTime>) -> StoreResult<Option<i64>> {
    t.map(nanos).transpose()
}

pub(super) fn from_nanos(n: i64) -> StoreResult<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(n))
        .map_err(|_| StoreError::Corrupt(format!("the stored time {n} is out of range")))
}

fn opt_from_nanos(n: Option<i64>) -> StoreResult<Option<OffsetDateTime>> {
    n.map(from_nanos).transpose()
}

/// The form a name is compared in: unique and found ignoring case (Unicode lower case, folded
/// here rather than by the database so both backends agree on every alphabet).
pub(super) fn name_key(name: &str) -> String {
    name.to_lowercase()
}

/// The SQL (the same for both databases) that keeps admin changes only (`Some(true)`), calls
/// only (`Some(false)`), or both.
pub(super) fn admin_clause(admin: Option<bool>) -> &'static str {
    match admin {
        Some(true) => " AND kind = 'admin'",
        Some(false) => " AND kind <> 'admin'",
        None => "",
    }
}

pub(super) fn new_agent_id() -> String {
    format!("agt_{}", uuid::Uuid::now_v7().simple())
}

pub(super) fn new_admin_key_id() -> String {
    format!("adm_{}", uuid::Uuid::now_v7().simple())
}

pub(super) fn new_secret() -> Vec<u8> {
    use rand::RngCore;
    let mut secret = vec![0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    secret
}

pub(super) fn to_json<T: Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Corrupt(format!("a value could not be encoded: {e}")))
}

fn from_json<T: DeserializeOwned>(what: &str, id: &str, text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| {
        StoreError::Corrupt(format!("the {what} of agent {id} could not be read: {e}"))
    })
}

/// Counts and limits are `u64` in the interface and `i64` in both databases; a limit past
/// `i64::MAX` is as good as none.
pub(super) fn clamp_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(super) fn count_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

pub(super) fn name_taken(name: &str) -> StoreError {
    StoreError::Conflict(format!(
        "An agent named '{name}' already exists; choose another name."
    ))
}

pub(super) fn no_agent(id: &str) -> StoreError {
    StoreError::NotFound(format!("No agent has the id '{id}'."))
}

pub(super) fn rule_taken(agent_id: &str, name: &str) -> StoreError {
    StoreError::Conflict(format!(
        "Agent {agent_id} already has a rule named '{name}'; remove it first, or choose another name."
    ))
}

pub(super) fn no_rule(agent_id: &str, name: &str) -> StoreError {
    StoreError::NotFound(format!(
        "Agent {agent_id} has no rule named '{name}'. `bollard rule list {agent_id}` shows its rules."
    ))
}

pub(super) const AGENT_COLUMNS: &str =
    "id, name, description, key_prefix, created_at, expires_at, revoked_at, grants, limits";

#[derive(sqlx::FromRow)]
pub(super) struct AgentRow {
    id: String,
    name: String,
    description: String,
    key_prefix: String,
    created_at: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    grants: String,
    limits: String,
}

impl AgentRow {
    pub(super) fn into_agent(self) -> StoreResult<Agent> {
        let grants: Grants = from_json("grants", &self.id, &self.grants)?;
        let limits: Limits = from_json("limits", &self.id, &self.limits)?;
        Ok(Agent {
            created_at: from_nanos(self.created_at)?,
            expires_at: opt_from_nanos(self.expires_at)?,
            revoked_at: opt_from_nanos(self.revoked_at)?,
            id: self.id,
            name: self.name,
            description: self.description,
            key_prefix: self.key_prefix,
            grants,
            limits,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct AgentKeyRow {
    key_hash: Vec<u8>,
    #[sqlx(flatten)]
    agent: AgentRow,
}

impl AgentKeyRow {
    pub(super) fn into_pair(self) -> StoreResult<(KeyHash, Agent)> {
        Ok((key_hash(self.key_hash)?, self.agent.into_agent()?))
    }
}

fn key_hash(bytes: Vec<u8>) -> StoreResult<KeyHash> {
    KeyHash::try_from(bytes.as_slice()).map_err(|_| {
        StoreError::Corrupt(format!(
            "a stored key hash has {} bytes, not 32",
            bytes.len()
        ))
    })
}

#[derive(sqlx::FromRow)]
pub(super) struct RuleRow {
    name: String,
    cedar: String,
    created_at: i64,
}

impl RuleRow {
    pub(super) fn into_rule(self) -> StoreResult<StoredRule> {
        Ok(StoredRule {
            name: self.name,
            cedar: self.cedar,
            created_at: from_nanos(self.created_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct AdminKeyRow {
    id: String,
    name: String,
    key_prefix: String,
    created_at: i64,
    revoked_at: Option<i64>,
}

pub(super) const ADMIN_KEY_COLUMNS: &str = "id, name, key_prefix, created_at, revoked_at";

pub(super) fn no_admin_key(id: &str) -> StoreError {
    StoreError::NotFound(format!(
        "No admin key has the id '{id}'. `bollard admin-key list` shows them."
    ))
}

impl AdminKeyRow {
    pub(super) fn into_admin_key(self) -> StoreResult<AdminKey> {
        Ok(AdminKey {
            id: self.id,
            name: self.name,
            key_prefix: self.key_prefix,
            created_at: from_nanos(self.created_at)?,
            revoked_at: self.revoked_at.map(from_nanos).transpose()?,
        })
    }
}

pub(super) const AUDIT_COLUMNS: &str =
    "seq, at, request_id, kind, agent_id, action, decision, content, prev_hash, hash";

#[derive(sqlx::FromRow)]
pub(super) struct AuditRow {
    seq: i64,
    at: i64,
    request_id: super::content::StoredId,
    kind: String,
    agent_id: Option<super::content::StoredId>,
    action: Option<String>,
    decision: String,
    content: super::content::Stored,
    prev_hash: super::content::StoredHash,
    hash: super::content::StoredHash,
}

impl AuditRow {
    pub(super) fn into_entry(self) -> StoreResult<AuditEntry> {
        use super::content::{AGENT_ID, REQUEST_ID, Row, unpack};
        let request_id = self.request_id.text(REQUEST_ID)?;
        let agent_id = self.agent_id.map(|a| a.text(AGENT_ID)).transpose()?;
        let row = Row {
            request_id: &request_id,
            agent_id: agent_id.as_deref(),
            at: self.at,
        };
        let content = unpack(&self.content.0, row)?;
        Ok(AuditEntry {
            seq: self.seq,
            at: from_nanos(self.at)?,
            request_id,
            kind: self.kind,
            agent_id,
            action: self.action,
            decision: self.decision,
            content,
            prev_hash: self.prev_hash.0,
            hash: self.hash.0,
        })
    }
}

/// `limit` 0 means "no limit" for `query_audit` and `audit_range`.
pub(super) fn sql_limit(limit: u32) -> i64 {
    if limit == 0 {
        i64::MAX
    } else {
        i64::from(limit)
    }
}

/// Continues the chain from its head: each entry with its seq, hashes and `at` in nanoseconds.
pub(super) fn chain(
    head_seq: i64,
    head_hash: String,
    entries: Vec<NewAuditEntry>,
) -> StoreResult<Vec<(AuditEntry, i64)>> {
    let mut prev = head_hash;
    let mut out = Vec::with_capacity(entries.len());
    for (seq, e) in (head_seq + 1..).zip(entries) {
        let hash = super::chain_hash(&prev, seq, &e);
        let at = nanos(e.at)?;
        let entry = AuditEntry {
            seq,
            at: e.at,
            request_id: e.request_id,
            kind: e.kind,
            agent_id: e.agent_id,
            action: e.action,
            decision: e.decision,
            content: e.content,
            prev_hash: std::mem::replace(&mut prev, hash.clone()),
            hash,
        };
        out.push((entry, at));
    }
    Ok(out)
}

/// A held reservation's periods, as `reservations.periods` stores them (JSON).
pub(super) fn held_periods(periods: &[super::BudgetCheck]) -> StoreResult<String> {
    let held: Vec<super::HeldPeriod> = periods
        .iter()
        .map(|p| super::HeldPeriod {
            period: p.period.to_owned(),
            start: p.start,
        })
        .collect();
    to_json(&held)
}

fn read_held_periods(request_id: &str, text: &str) -> StoreResult<Vec<super::HeldPeriod>> {
    serde_json::from_str(text).map_err(|e| {
        StoreError::Corrupt(format!(
            "the credit reservation of call {request_id} could not be read: {e}"
        ))
    })
}

/// A row of `reservations`, as the sweep takes it.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct HoldRow {
    pub request_id: String,
    pub agent_id: String,
    pub instance: String,
    pub periods: String,
    pub reserved_milli: i64,
}

impl HoldRow {
    pub(super) fn into_held(self) -> StoreResult<super::HeldReservation> {
        let periods = read_held_periods(&self.request_id, &self.periods)?
            .into_iter()
            .map(|p| {
                let period = match p.period.as_str() {
                    "day" => "day",
                    "month" => "month",
                    other => {
                        return Err(StoreError::Corrupt(format!(
                            "the credit reservation of call {} names an unknown period '{other}'",
                            self.request_id
                        )));
                    }
                };
                Ok(super::BudgetCheck {
                    period,
                    start: p.start,
                    limit_milli: 0,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(super::HeldReservation {
            request_id: self.request_id,
            agent_id: self.agent_id,
            instance: self.instance,
            periods,
            reserved_milli: self.reserved_milli,
        })
    }
}
