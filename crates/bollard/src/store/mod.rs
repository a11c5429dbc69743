//! The store interface: agents, keys, grants, rules, limits, admin keys, the audit chain,
//! rate windows and credit budgets. One trait, one backend per database (`sqlite.rs`,
//! `postgres.rs`), versioned migrations, and one conformance suite (`conformance.rs`) run
//! against both.
//!
//! Designed for several gateway replicas sharing one database: every counter (rate windows,
//! credit budgets) is changed by a single conditional statement inside a transaction, so two
//! replicas can never both take the last unit; the audit chain's head is locked for the length
//! of one batch, so replicas append to one verifiable chain; `config_version` is bumped by
//! every change an admin makes, and replicas poll it to refresh their caches.

use std::collections::BTreeMap;

use async_trait::async_trait;
use bollard_policy::Grants;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub mod approvals;
mod codec;
mod content;
pub mod mcp_sessions;
pub mod oauth;
pub mod postgres;
pub mod prices;
pub mod proof;
pub mod relays;
pub mod sqlite;

#[cfg(test)]
mod conformance;

/// A SHA-256 digest of a secret key. Keys themselves are never stored.
pub type KeyHash = [u8; 32];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The URL is not echoed: it may hold a password.
    #[error("the database URL is not understood: use sqlite://PATH or postgres://...")]
    BadUrl,
    /// A SQLite file that is not there and is not to be made, or cannot be: the sentence
    /// names the path and what to do.
    #[error("{0}")]
    Missing(String),
    #[error("the database failed: {0}")]
    Database(#[from] sqlx::Error),
    /// From the audit log's own SQLite connection (`sqlite::audit_thread`).
    #[error("the database failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("a database migration failed: {0}")]
    Migrate(sqlx::migrate::MigrateError),
    #[error(
        "the database was made by a newer Bollard (it has schema version {0}, which this \
         Bollard does not know): run that Bollard or a later one"
    )]
    SchemaNewer(i64),
    #[error("a stored value could not be read: {0}")]
    Corrupt(String),
    /// A value given to be stored that the store cannot hold (a time outside the years it
    /// keeps): the input is wrong, not the database (it was reported as `Corrupt`).
    #[error("{0}")]
    OutOfRange(String),
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        match e {
            // An applied migration this binary does not carry: a later release ran here.
            sqlx::migrate::MigrateError::VersionMissing(v) => StoreError::SchemaNewer(v),
            other => StoreError::Migrate(other),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Per-agent request and credit limits. `None` means "no limit" for requests and
/// "no budget" for credits: an action that spends credits needs a budget.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_minute: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_hour: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_day: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits_per_day: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits_per_month: Option<u64>,
    /// Request limits for single actions, by action id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub actions: BTreeMap<String, RateLimits>,
    /// The share (percent, 1..=100) of Apollo's team-wide rate window this agent may use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_share_percent: Option<u8>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_minute: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_hour: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_day: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Agent {
    pub id: String,
    pub name: String,
    pub description: String,
    /// The first characters of the current key, safe to show ("bol_agent_3f9a").
    pub key_prefix: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    pub grants: Grants,
    pub limits: Limits,
}

#[derive(Debug, Clone)]
pub struct NewAgent {
    /// Chosen by the caller (`new_agent_id`), so the record of the change can name the agent
    /// before the agent exists.
    pub id: String,
    pub name: String,
    pub description: String,
    pub key_hash: KeyHash,
    pub key_prefix: String,
    pub expires_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Default)]
pub struct AgentPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    /// `Some(None)` removes the expiry.
    pub expires_at: Option<Option<OffsetDateTime>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredRule {
    pub name: String,
    pub cedar: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AdminKey {
    pub id: String,
    pub name: String,
    pub key_prefix: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// One entry of the append-only audit chain. A call writes a `decision` entry before it is
/// forwarded and an `outcome` entry after Apollo answers; both share the request id.
/// `content` is the canonical JSON the hash covers; the other fields are indexed copies for
/// filtering, and `audit verify` checks they agree with `content`.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: OffsetDateTime,
    pub request_id: String,
    pub kind: String,
    pub agent_id: Option<String>,
    pub action: Option<String>,
    pub decision: String,
    pub content: String,
    pub prev_hash: String,
    pub hash: String,
}

/// An entry to append; the store assigns `seq`, `prev_hash` and `hash` inside the
/// transaction that holds the chain's head.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEntry {
    pub at: OffsetDateTime,
    pub request_id: String,
    pub kind: String,
    pub agent_id: Option<String>,
    pub action: Option<String>,
    pub decision: String,
    pub content: String,
}

/// The hash of an entry: SHA-256 over the previous hash and the entry's fields, each
/// length-prefixed so no two different entries hash alike. Shared by both backends and by
/// `audit verify`.
pub fn chain_hash(prev_hash: &str, seq: i64, e: &NewAuditEntry) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let at = e.at.unix_timestamp_nanos().to_string();
    let fields: [&str; 8] = [
        prev_hash,
        &seq.to_string(),
        &at,
        &e.request_id,
        &e.kind,
        e.agent_id.as_deref().unwrap_or(""),
        e.action.as_deref().unwrap_or(""),
        &e.decision,
    ];
    for f in fields.iter().chain(std::iter::once(&e.content.as_str())) {
        h.update((f.len() as u64).to_be_bytes());
        h.update(f.as_bytes());
    }
    hex::encode(h.finalize())
}

/// An audit entry's content as SQLite holds it (compressed, or older JSON text), as text,
/// with the values its row holds (`at` in Unix nanoseconds): for tools that read the
/// database file without a store.
pub fn audit_content_text(
    stored: &[u8],
    request_id: &str,
    agent_id: Option<&str>,
    at: i64,
) -> StoreResult<String> {
    let row = content::Row {
        request_id,
        agent_id,
        at,
    };
    content::unpack(stored, row)
}

/// A chain hash as SQLite holds it (32 bytes, or older hex text), as hex.
pub fn audit_hash_text(stored: &[u8]) -> String {
    if stored.len() == 32 {
        hex::encode(stored)
    } else {
        String::from_utf8_lossy(stored).into_owned()
    }
}

/// A fresh agent id, `agt_` and a time-ordered UUID.
pub fn new_agent_id() -> String {
    codec::new_agent_id()
}

/// The hash the first entry of a chain points back to.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub agent_id: Option<String>,
    pub action: Option<String>,
    pub decision: Option<String>,
    pub kind: Option<String>,
    /// `Some(true)`: only admin changes; `Some(false)`: only calls; `None`: both.
    pub admin: Option<bool>,
    pub request_id: Option<String>,
    pub since: Option<OffsetDateTime>,
    /// Entries with `seq` below this (newest-first paging).
    pub before_seq: Option<i64>,
    /// At most this many entries; 0 means no limit.
    pub limit: u32,
}

/// One fixed window to count a request against: the caller computes the window start
/// (so tests control the clock) and the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowCheck {
    /// "minute", "hour", "day".
    pub window: &'static str,
    /// Unix seconds at which this window started.
    pub start: i64,
    pub limit: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateTake {
    /// Counted in every window; the counts after this request, in the order given.
    Taken(Vec<u64>),
    /// Not counted anywhere: the window at this index was full.
    Full { index: usize, count: u64 },
}

/// A credit budget period: "day" or "month", its start (unix seconds) and its limit in
/// milli-credits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetCheck {
    pub period: &'static str,
    pub start: i64,
    pub limit_milli: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reserve {
    /// Reserved in every period; spent-or-reserved milli-credits after it, in order given.
    Reserved(Vec<i64>),
    /// Nothing reserved: the period at this index could not cover it; what was already
    /// spent or reserved there.
    Short { index: usize, committed_milli: i64 },
}

/// Who holds a credit reservation: the call, and the process that forwards it.
#[derive(Debug, Clone, Copy)]
pub struct Hold<'a> {
    pub request_id: &'a str,
    pub instance: &'a str,
    pub at: OffsetDateTime,
}

/// A running Bollard process, as `instances` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub id: String,
    pub host: String,
    pub started_at: OffsetDateTime,
}

/// A credit reservation held in a call's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldReservation {
    pub request_id: String,
    pub agent_id: String,
    pub instance: String,
    /// The periods it was reserved in (`limit_milli` is not kept: 0).
    pub periods: Vec<BudgetCheck>,
    pub reserved_milli: i64,
}

/// A period of a held reservation, as `reservations.periods` stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct HeldPeriod {
    pub period: String,
    pub start: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BudgetUsage {
    pub period: String,
    pub start: i64,
    pub spent_milli: i64,
    pub reserved_milli: i64,
}

/// `Store::release_spent` for one period, in SQL both databases read (`$n` placeholders,
/// and no `MAX`/`GREATEST`, which differ).
const RELEASE_SPENT: &str = "UPDATE budgets SET spent_milli = \
     CASE WHEN spent_milli > $1 THEN spent_milli - $1 ELSE 0 END \
     WHERE agent_id = $2 AND period = $3 AND start = $4";

/// What a change to an agent was made from: the store makes the change only if the agent
/// still holds it ([`Store::set_grants`]).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Read<'a> {
    Grants(&'a Grants),
    Limits(&'a Limits),
}

impl Read<'_> {
    /// `Conflict` unless the agent as stored holds what the change was made from.
    pub(crate) fn check(self, stored: &Agent) -> StoreResult<()> {
        let holds = match self {
            Read::Grants(g) => stored.grants == *g,
            Read::Limits(l) => stored.limits == *l,
        };
        if holds {
            Ok(())
        } else {
            Err(StoreError::Conflict(format!(
                "Another change to {} was made at the same moment, so this one was not; make it again on what is there now.",
                stored.name
            )))
        }
    }
}

#[async_trait]
pub trait Store:
    Send + Sync + std::fmt::Debug + prices::PriceLedger + mcp_sessions::McpSessions + relays::RelayStore
{
    // --- agents -------------------------------------------------------------------------
    /// Names are unique (case-insensitive): a second agent with the same name is a Conflict.
    async fn create_agent(&self, new: NewAgent) -> StoreResult<Agent>;
    async fn list_agents(&self) -> StoreResult<Vec<Agent>>;
    /// By exact id, or by name (case-insensitive).
    async fn find_agent(&self, id_or_name: &str) -> StoreResult<Option<Agent>>;
    /// Every agent with its key hash, for the gateway's in-memory key table. Revoked and
    /// expired agents are included, so the gateway can say why it refuses their keys.
    async fn agent_keys(&self) -> StoreResult<Vec<(KeyHash, Agent)>>;
    async fn update_agent(&self, id: &str, patch: AgentPatch) -> StoreResult<Agent>;
    /// Revoking twice keeps the first revocation's time.
    async fn revoke_agent(&self, id: &str, at: OffsetDateTime) -> StoreResult<Agent>;
    async fn rotate_agent_key(
        &self,
        id: &str,
        key_hash: KeyHash,
        key_prefix: &str,
    ) -> StoreResult<Agent>;
    /// Sets the grants if the agent still holds `read` (what the change was made from), else
    /// `Conflict`: two changes made at once from the same reading would otherwise each write
    /// what they read, and the second would silently undo the first, while the audit log
    /// recorded both (found in review: `reveal=off` lost to a parallel `deals=read`).
    async fn set_grants(&self, id: &str, read: &Grants, grants: &Grants) -> StoreResult<Agent>;
    /// The same for the limits.
    async fn set_limits(&self, id: &str, read: &Limits, limits: &Limits) -> StoreResult<Agent>;

    // --- rules --------------------------------------------------------------------------
    /// Rule names are unique per agent.
    async fn add_rule(&self, agent_id: &str, name: &str, cedar: &str) -> StoreResult<StoredRule>;
    async fn list_rules(&self, agent_id: &str) -> StoreResult<Vec<StoredRule>>;
    async fn remove_rule(&self, agent_id: &str, name: &str) -> StoreResult<()>;

    /// A number that grows with every change to agents, keys, grants, rules or limits.
    async fn config_version(&self) -> StoreResult<i64>;

    // --- admin keys ---------------------------------------------------------------------
    async fn create_admin_key(
        &self,
        name: &str,
        key_hash: KeyHash,
        key_prefix: &str,
    ) -> StoreResult<AdminKey>;
    /// The key with this hash, unless it is revoked.
    async fn admin_key_by_hash(&self, key_hash: &KeyHash) -> StoreResult<Option<AdminKey>>;
    /// The key with this id, unless it is revoked (a console session checks its key so).
    async fn admin_key_by_id(&self, id: &str) -> StoreResult<Option<AdminKey>>;
    /// Every admin key, revoked ones included, oldest first.
    async fn list_admin_keys(&self) -> StoreResult<Vec<AdminKey>>;
    /// Revokes the key with this id; revoking twice keeps the first time.
    async fn revoke_admin_key(&self, id: &str, at: OffsetDateTime) -> StoreResult<AdminKey>;

    // --- installation settings ----------------------------------------------------------
    /// A per-installation random secret (32 bytes) used to hash personal data in the audit
    /// log. Created on first use; every replica gets the same one.
    async fn installation_secret(&self) -> StoreResult<Vec<u8>>;

    // --- audit --------------------------------------------------------------------------
    /// Appends the entries in one transaction, in order, continuing the chain.
    async fn append_audit(&self, entries: &[NewAuditEntry]) -> StoreResult<Vec<AuditEntry>>;
    /// The same for the audit writer, which has no use for the entries afterwards: a store
    /// may take them as they are instead of copying them (issue 16: two copies of each
    /// record's text, besides its fields, for SQLite's audit thread and its chain).
    async fn append_audit_owned(&self, entries: Vec<NewAuditEntry>) -> StoreResult<()> {
        self.append_audit(&entries).await.map(drop)
    }
    /// Newest first.
    async fn query_audit(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditEntry>>;
    /// Oldest first, entries with `seq > after_seq`, at most `limit` (0: no limit): for
    /// verify and export.
    async fn audit_range(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<AuditEntry>>;
    /// The chain's head as the store recorded it: (seq, hash) of the last entry.
    async fn audit_head(&self) -> StoreResult<(i64, String)>;

    // --- limits -------------------------------------------------------------------------
    /// Counts one request in every window, atomically: either all are counted or none.
    async fn take_rate(
        &self,
        agent_id: &str,
        scope: &str,
        windows: &[WindowCheck],
    ) -> StoreResult<RateTake>;
    /// Current counts for display, in the order given (0 for a window never touched).
    async fn rate_counts(
        &self,
        agent_id: &str,
        scope: &str,
        windows: &[WindowCheck],
    ) -> StoreResult<Vec<u64>>;
    /// Reserves `amount_milli` (a negative amount counts as 0) in every period, atomically:
    /// all or none.
    /// With a `hold`, a reservation of more than zero is also written down as the call's
    /// (in the same transaction), so that it can be found if its process dies.
    async fn reserve_credits(
        &self,
        agent_id: &str,
        amount_milli: i64,
        periods: &[BudgetCheck],
        hold: Option<&Hold<'_>>,
    ) -> StoreResult<Reserve>;
    /// Turns a reservation into spending: releases `reserved_milli` and adds `spent_milli`.
    /// Neither count goes below zero; a period never reserved in is created. With the
    /// `request_id` of a held reservation, it is settled once: if it is no longer held
    /// (settled already, by the sweep or another replica), nothing changes and the answer
    /// is false.
    async fn settle_credits(
        &self,
        agent_id: &str,
        periods: &[BudgetCheck],
        reserved_milli: i64,
        spent_milli: i64,
        request_id: Option<&str>,
    ) -> StoreResult<bool>;
    /// Takes back `milli` of spending counted in these periods, for a charge that proved not
    /// to have happened (a phone reveal that found no number, #19 item 5). Never below zero;
    /// a period with no row is left alone.
    async fn release_spent(
        &self,
        agent_id: &str,
        periods: &[BudgetCheck],
        milli: i64,
    ) -> StoreResult<()>;
    /// Says this process is alive (creates or refreshes its row in `instances`).
    async fn heartbeat(&self, instance: &Instance, now: OffsetDateTime) -> StoreResult<()>;
    /// Removes this process's row: it stopped cleanly, and anything it still holds is left
    /// for the next sweep at once.
    async fn retire_instance(&self, id: &str) -> StoreResult<()>;
    /// Forgets the processes not seen alive since `alive_since`, and lists the reservations
    /// still held in the name of a process that is gone (oldest first), for the sweep to
    /// settle (`settle_credits` with the request id, so each is settled once).
    async fn dead_reservations(
        &self,
        alive_since: OffsetDateTime,
    ) -> StoreResult<Vec<HeldReservation>>;
    async fn budget_usage(
        &self,
        agent_id: &str,
        periods: &[BudgetCheck],
    ) -> StoreResult<Vec<BudgetUsage>>;

    /// Readiness: the schema's version against this binary's, and then, only when it is the
    /// current one, a write as the audit writer's would be (the audit head rewritten unchanged),
    /// so a full disk or a stalled lock holder shows as an error.
    async fn readiness(&self) -> StoreResult<SchemaState>;

    /// Requests for a person's approval ("ask first"): a store of their own, in the same
    /// database (`approvals.rs`).
    fn approvals(&self) -> &dyn approvals::ApprovalStore;
    /// The OAuth tables (issue 13): clients, codes, connections, refresh tokens, links.
    fn oauth(&self) -> &dyn oauth::OAuthStore;

    /// A message each time another process commits an admin change, when the database can
    /// say so (PostgreSQL's `LISTEN/NOTIFY`); `None` where only polling `config_version` can
    /// tell (SQLite). Lost notifications are covered by the poll.
    async fn config_notifications(&self) -> Option<tokio::sync::mpsc::Receiver<()>> {
        None
    }

    /// Checkpoints, prunes and the entries' hashes, for proving the log (`proof.rs`).
    fn proofs(&self) -> &dyn proof::ProofStore;
}

/// The database's schema, measured against the migrations this binary carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaState {
    Current,
    /// No migration was ever applied: not a Bollard database, or one emptied under us.
    Missing,
    /// Migrated by a later Bollard: this binary cannot know what its tables mean.
    Newer {
        found: i64,
        known: i64,
    },
    Older {
        found: i64,
        known: i64,
    },
}

/// The highest migration applied, the same question to both databases.
pub(crate) const APPLIED_SCHEMA_VERSION: &str =
    "SELECT MAX(version) FROM _sqlx_migrations WHERE success";

impl SchemaState {
    /// Compares the highest applied migration with the highest the migrator knows.
    pub(crate) fn of(found: Option<i64>, migrator: &sqlx::migrate::Migrator) -> Self {
        let known = migrator.iter().map(|m| m.version).max().unwrap_or(0);
        match found {
            None => Self::Missing,
            Some(found) if found > known => Self::Newer { found, known },
            Some(found) if found < known => Self::Older { found, known },
            Some(_) => Self::Current,
        }
    }
}

/// Opens the store a URL names and runs its migrations.
/// Where a database stands against this build's migrations, read without changing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaStatus {
    /// False for a SQLite file that does not exist yet (the first `serve` creates it).
    pub exists: bool,
    /// How many of this build's migrations the database has.
    pub applied: usize,
    /// This build's migrations the database lacks (`serve` applies them at start).
    pub pending: Vec<String>,
    /// Versions the database has that this build does not know: a newer Bollard migrated it.
    pub unknown: Vec<i64>,
}

/// Reads the database's migration state without creating, migrating or writing anything.
pub async fn schema_status(url: &str) -> StoreResult<SchemaStatus> {
    let (applied, known) = if url.starts_with("sqlite:") {
        sqlite::applied_migrations(url).await?
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        postgres::applied_migrations(url).await?
    } else {
        return Err(StoreError::BadUrl);
    };
    let exists = applied.is_some();
    let applied = applied.unwrap_or_default();
    let pending = known
        .iter()
        .filter(|(v, _)| !applied.contains(v))
        .map(|(v, d)| format!("{v} {d}"))
        .collect();
    let unknown = applied
        .iter()
        .filter(|v| !known.iter().any(|(k, _)| k == *v))
        .copied()
        .collect();
    Ok(SchemaStatus {
        exists,
        applied: known.iter().filter(|(v, _)| applied.contains(v)).count(),
        pending,
        unknown,
    })
}

/// Opens the store a URL names, creating a SQLite file that is not there yet, and runs its
/// migrations.
pub async fn open(url: &str) -> StoreResult<std::sync::Arc<dyn Store>> {
    open_as(url, true).await
}

/// As [`open`], but a SQLite file that is not there is refused rather than made: for the
/// commands that read or change what a database holds, where a missing file is a mistyped
/// path (PostgreSQL's databases are never created by Bollard).
pub async fn open_existing(url: &str) -> StoreResult<std::sync::Arc<dyn Store>> {
    open_as(url, false).await
}

async fn open_as(url: &str, create: bool) -> StoreResult<std::sync::Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(std::sync::Arc::new(
            sqlite::SqliteStore::open_with(url, create).await?,
        ))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(std::sync::Arc::new(postgres::PgStore::open(url).await?))
    } else {
        Err(StoreError::BadUrl)
    }
}
