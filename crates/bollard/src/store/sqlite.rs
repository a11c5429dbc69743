//! The SQLite backend: one machine, zero setup. WAL mode (readers never wait for the writer),
//! `synchronous=FULL` (a committed audit record survives a power cut, and the gate forwards a
//! call only after its record is committed), a 5 s busy timeout and foreign keys on.
//!
//! Writes go through one dedicated connection behind a `tokio::sync::Mutex`, and each write
//! transaction starts with `BEGIN IMMEDIATE`. Why both:
//! - The mutex queues this process's writers fairly, in memory. A pool of writers would
//!   instead contend for SQLite's single write lock through the busy handler, which sleeps
//!   and retries with backoff: under a burst (a hundred calls reserving credits at once)
//!   that is slow, unfair, and can run past the busy timeout.
//! - `BEGIN IMMEDIATE` takes the write lock when the transaction starts, not at its first
//!   write. A deferred transaction that reads and then writes can find another process (the
//!   CLI beside a running server) holding the lock and fail at once with SQLITE_BUSY, which
//!   no busy timeout can retry; an immediate one waits for it under the busy timeout.
//!
//! Reads use a separate pool, concurrent with the writer under WAL. An in-memory database
//! (`sqlite::memory:`) exists only inside one connection, so there every read goes through
//! the writer's connection too.

use std::ops::{Deref, DerefMut};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use bollard_policy::Grants;
use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, QueryBuilder, Sqlite, SqliteConnection, SqlitePool};
use time::OffsetDateTime;
use tokio::sync::{Mutex, MutexGuard};

use super::codec::{
    self, ADMIN_KEY_COLUMNS, AGENT_COLUMNS, AUDIT_COLUMNS, AdminKeyRow, AgentKeyRow, AgentRow,
    AuditRow, RuleRow,
};
use super::{
    AdminKey, Agent, AgentPatch, AuditEntry, AuditFilter, BudgetCheck, BudgetUsage, KeyHash,
    Limits, NewAgent, NewAuditEntry, RateTake, Reserve, Store, StoreError, StoreResult, StoredRule,
    WindowCheck,
};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

const READERS: u32 = 8;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// SQLite's limit on bound parameters is 32766; an audit row binds 10.
const AUDIT_ROWS_PER_INSERT: usize = 1000;

#[derive(Debug)]
pub struct SqliteStore {
    /// `None` for an in-memory database: see the module doc.
    readers: Option<SqlitePool>,
    writer: Mutex<SqliteConnection>,
}

/// A connection to read with: from the pool, or the writer's for an in-memory database.
enum Reader<'a> {
    Pool(PoolConnection<Sqlite>),
    Writer(MutexGuard<'a, SqliteConnection>),
}

impl Deref for Reader<'_> {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        match self {
            Reader::Pool(c) => c,
            Reader::Writer(c) => c,
        }
    }
}

impl DerefMut for Reader<'_> {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        match self {
            Reader::Pool(c) => c,
            Reader::Writer(c) => c,
        }
    }
}

/// Takes Bollard's own `synchronous=full|normal` parameter out of the URL (sqlx does not know
/// it). `full` (the default) syncs the log on every commit, so a record survives a power cut;
/// `normal` survives a crash of Bollard but not of the machine, and writes several times faster.
fn split_synchronous(url: &str) -> StoreResult<(String, SqliteSynchronous)> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), SqliteSynchronous::Full));
    };
    let mut sync = SqliteSynchronous::Full;
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("synchronous", v)) if v.eq_ignore_ascii_case("full") => {
                sync = SqliteSynchronous::Full
            }
            Some(("synchronous", v)) if v.eq_ignore_ascii_case("normal") => {
                sync = SqliteSynchronous::Normal
            }
            Some(("synchronous", _)) => return Err(StoreError::BadUrl),
            _ => rest.push(pair),
        }
    }
    let url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    Ok((url, sync))
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `sqlite://PATH` and runs its migrations.
    pub async fn open(url: &str) -> StoreResult<Self> {
        let (url, synchronous) = split_synchronous(url)?;
        let url = url.as_str();
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|_| StoreError::BadUrl)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let mut writer = options.connect().await?;
        // `run` with `&mut SqliteConnection` makes this future not `Send` (sqlx's "Acquire is
        // not general enough"); `run_direct` is the same migration without the `Acquire` step.
        MIGRATOR.run_direct(&mut writer).await?;
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let readers = if in_memory {
            None
        } else {
            Some(
                SqlitePoolOptions::new()
                    .max_connections(READERS)
                    .connect_with(options)
                    .await?,
            )
        };
        Ok(Self {
            readers,
            writer: Mutex::new(writer),
        })
    }

    async fn reader(&self) -> StoreResult<Reader<'_>> {
        Ok(match &self.readers {
            Some(pool) => Reader::Pool(pool.acquire().await?),
            None => Reader::Writer(self.writer.lock().await),
        })
    }

    /// Runs one admin change on an agent (an `UPDATE ... RETURNING` built by the caller) and
    /// bumps `config_version` in the same transaction.
    async fn change_agent<'q>(
        &self,
        id: &str,
        update: sqlx::query::QueryAs<'q, Sqlite, AgentRow, sqlx::sqlite::SqliteArguments<'q>>,
        name: Option<&str>,
    ) -> StoreResult<Agent> {
        let mut w = self.writer.lock().await;
        let mut tx = w.begin_with("BEGIN IMMEDIATE").await?;
        let row = update
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| name_conflict(e, name))?;
        let row = row.ok_or_else(|| codec::no_agent(id))?;
        bump_config_version(&mut tx).await?;
        tx.commit().await?;
        row.into_agent()
    }

    async fn agent_exists(&self, id: &str) -> StoreResult<bool> {
        let mut r = self.reader().await?;
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM agents WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut *r)
            .await?;
        Ok(found.is_some())
    }
}

async fn bump_config_version(conn: &mut SqliteConnection) -> StoreResult<()> {
    sqlx::query("UPDATE config_version SET version = version + 1 WHERE id = 1")
        .execute(conn)
        .await?;
    Ok(())
}

/// A unique violation on the folded name is the friendly Conflict; anything else is passed on.
fn name_conflict(e: sqlx::Error, name: Option<&str>) -> StoreError {
    if let (Some(name), sqlx::Error::Database(db)) = (name, &e)
        && db.is_unique_violation()
        && db.message().contains("agents.name_key")
    {
        return codec::name_taken(name);
    }
    StoreError::Database(e)
}

fn agent_select(filter: &str) -> String {
    format!("SELECT {AGENT_COLUMNS} FROM agents {filter}")
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_agent(&self, new: NewAgent) -> StoreResult<Agent> {
        let id = new.id.clone();
        let sql = format!(
            "INSERT INTO agents (id, name, name_key, description, key_hash, key_prefix, created_at, \
             expires_at, revoked_at, grants, limits) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?) \
             RETURNING {AGENT_COLUMNS}"
        );
        let query = sqlx::query_as::<_, AgentRow>(&sql)
            .bind(&id)
            .bind(&new.name)
            .bind(codec::name_key(&new.name))
            .bind(&new.description)
            .bind(new.key_hash.as_slice())
            .bind(&new.key_prefix)
            .bind(codec::nanos(OffsetDateTime::now_utc())?)
            .bind(codec::opt_nanos(new.expires_at)?)
            .bind(codec::to_json(&Grants::default())?)
            .bind(codec::to_json(&Limits::default())?);
        self.change_agent(&id, query, Some(&new.name)).await
    }

    async fn list_agents(&self) -> StoreResult<Vec<Agent>> {
        let mut r = self.reader().await?;
        let rows: Vec<AgentRow> = sqlx::query_as(&agent_select("ORDER BY created_at, id"))
            .fetch_all(&mut *r)
            .await?;
        rows.into_iter().map(AgentRow::into_agent).collect()
    }

    async fn find_agent(&self, id_or_name: &str) -> StoreResult<Option<Agent>> {
        let mut r = self.reader().await?;
        // An id match wins over a name match, should an agent be named like another's id.
        let row: Option<AgentRow> = sqlx::query_as(&agent_select(
            "WHERE id = ?1 OR name_key = ?2 ORDER BY id = ?1 DESC LIMIT 1",
        ))
        .bind(id_or_name)
        .bind(codec::name_key(id_or_name))
        .fetch_optional(&mut *r)
        .await?;
        row.map(AgentRow::into_agent).transpose()
    }

    async fn agent_keys(&self) -> StoreResult<Vec<(KeyHash, Agent)>> {
        let mut r = self.reader().await?;
        let rows: Vec<AgentKeyRow> = sqlx::query_as(&format!(
            "SELECT key_hash, {AGENT_COLUMNS} FROM agents ORDER BY created_at, id"
        ))
        .fetch_all(&mut *r)
        .await?;
        rows.into_iter().map(AgentKeyRow::into_pair).collect()
    }

    async fn update_agent(&self, id: &str, patch: AgentPatch) -> StoreResult<Agent> {
        let sql = format!(
            "UPDATE agents SET name = COALESCE(?, name), name_key = COALESCE(?, name_key), \
             description = COALESCE(?, description), \
             expires_at = CASE WHEN ? THEN ? ELSE expires_at END \
             WHERE id = ? RETURNING {AGENT_COLUMNS}"
        );
        let (set_expiry, expiry) = match patch.expires_at {
            Some(at) => (true, codec::opt_nanos(at)?),
            None => (false, None),
        };
        let query = sqlx::query_as::<_, AgentRow>(&sql)
            .bind(patch.name.as_deref())
            .bind(patch.name.as_deref().map(codec::name_key))
            .bind(patch.description.as_deref())
            .bind(set_expiry)
            .bind(expiry)
            .bind(id);
        self.change_agent(id, query, patch.name.as_deref()).await
    }

    async fn revoke_agent(&self, id: &str, at: OffsetDateTime) -> StoreResult<Agent> {
        // A second revocation keeps the first one's time.
        let sql = format!(
            "UPDATE agents SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? RETURNING {AGENT_COLUMNS}"
        );
        let query = sqlx::query_as::<_, AgentRow>(&sql)
            .bind(codec::nanos(at)?)
            .bind(id);
        self.change_agent(id, query, None).await
    }

    async fn rotate_agent_key(
        &self,
        id: &str,
        key_hash: KeyHash,
        key_prefix: &str,
    ) -> StoreResult<Agent> {
        let sql = format!(
            "UPDATE agents SET key_hash = ?, key_prefix = ? WHERE id = ? RETURNING {AGENT_COLUMNS}"
        );
        let query = sqlx::query_as::<_, AgentRow>(&sql)
            .bind(key_hash.to_vec())
            .bind(key_prefix)
            .bind(id);
        self.change_agent(id, query, None).await
    }

    async fn set_grants(&self, id: &str, grants: &Grants) -> StoreResult<Agent> {
        let sql = format!("UPDATE agents SET grants = ? WHERE id = ? RETURNING {AGENT_COLUMNS}");
        let query = sqlx::query_as::<_, AgentRow>(&sql)
            .bind(codec::to_json(grants)?)
            .bind(id);
        self.change_agent(id, query, None).await
    }

    async fn set_limits(&self, id: &str, limits: &Limits) -> StoreResult<Agent> {
        let sql = format!("UPDATE agents SET limits = ? WHERE id = ? RETURNING {AGENT_COLUMNS}");
        let query = sqlx::query_as::<_, AgentRow>(&sql)
            .bind(codec::to_json(limits)?)
            .bind(id);
        self.change_agent(id, query, None).await
    }

    async fn add_rule(&self, agent_id: &str, name: &str, cedar: &str) -> StoreResult<StoredRule> {
        let mut w = self.writer.lock().await;
        let mut tx = w.begin_with("BEGIN IMMEDIATE").await?;
        let row: RuleRow = sqlx::query_as(
            "INSERT INTO rules (agent_id, name, cedar, created_at) VALUES (?, ?, ?, ?) \
             RETURNING name, cedar, created_at",
        )
        .bind(agent_id)
        .bind(name)
        .bind(cedar)
        .bind(codec::nanos(OffsetDateTime::now_utc())?)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => codec::no_agent(agent_id),
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                codec::rule_taken(agent_id, name)
            }
            _ => StoreError::Database(e),
        })?;
        bump_config_version(&mut tx).await?;
        tx.commit().await?;
        row.into_rule()
    }

    async fn list_rules(&self, agent_id: &str) -> StoreResult<Vec<StoredRule>> {
        if !self.agent_exists(agent_id).await? {
            return Err(codec::no_agent(agent_id));
        }
        let mut r = self.reader().await?;
        let rows: Vec<RuleRow> = sqlx::query_as(
            "SELECT name, cedar, created_at FROM rules WHERE agent_id = ? ORDER BY created_at, name",
        )
        .bind(agent_id)
        .fetch_all(&mut *r)
        .await?;
        rows.into_iter().map(RuleRow::into_rule).collect()
    }

    async fn remove_rule(&self, agent_id: &str, name: &str) -> StoreResult<()> {
        let removed = {
            let mut w = self.writer.lock().await;
            let mut tx = w.begin_with("BEGIN IMMEDIATE").await?;
            let done = sqlx::query("DELETE FROM rules WHERE agent_id = ? AND name = ?")
                .bind(agent_id)
                .bind(name)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() > 0 {
                bump_config_version(&mut tx).await?;
                tx.commit().await?;
            }
            done.rows_affected() > 0
        };
        match removed {
            true => Ok(()),
            false if self.agent_exists(agent_id).await? => Err(codec::no_rule(agent_id, name)),
            false => Err(codec::no_agent(agent_id)),
        }
    }

    async fn config_version(&self) -> StoreResult<i64> {
        let mut r = self.reader().await?;
        Ok(
            sqlx::query_scalar("SELECT version FROM config_version WHERE id = 1")
                .fetch_one(&mut *r)
                .await?,
        )
    }

    async fn create_admin_key(
        &self,
        name: &str,
        key_hash: KeyHash,
        key_prefix: &str,
    ) -> StoreResult<AdminKey> {
        let mut w = self.writer.lock().await;
        let mut tx = w.begin_with("BEGIN IMMEDIATE").await?;
        let row: AdminKeyRow = sqlx::query_as(
            "INSERT INTO admin_keys (id, name, key_hash, key_prefix, created_at) VALUES (?, ?, ?, ?, ?) \
             RETURNING id, name, key_prefix, created_at, revoked_at",
        )
        .bind(codec::new_admin_key_id())
        .bind(name)
        .bind(key_hash.to_vec())
        .bind(key_prefix)
        .bind(codec::nanos(OffsetDateTime::now_utc())?)
        .fetch_one(&mut *tx)
        .await?;
        bump_config_version(&mut tx).await?;
        tx.commit().await?;
        row.into_admin_key()
    }

    async fn admin_key_by_hash(&self, key_hash: &KeyHash) -> StoreResult<Option<AdminKey>> {
        let mut r = self.reader().await?;
        let row: Option<AdminKeyRow> = sqlx::query_as(
            "SELECT id, name, key_prefix, created_at, revoked_at FROM admin_keys WHERE key_hash = ? AND revoked_at IS NULL",
        )
        .bind(key_hash.as_slice())
        .fetch_optional(&mut *r)
        .await?;
        row.map(AdminKeyRow::into_admin_key).transpose()
    }

    async fn admin_key_by_id(&self, id: &str) -> StoreResult<Option<AdminKey>> {
        let mut r = self.reader().await?;
        let row: Option<AdminKeyRow> = sqlx::query_as(&format!(
            "SELECT {ADMIN_KEY_COLUMNS} FROM admin_keys WHERE id = ? AND revoked_at IS NULL"
        ))
        .bind(id)
        .fetch_optional(&mut *r)
        .await?;
        row.map(AdminKeyRow::into_admin_key).transpose()
    }

    async fn list_admin_keys(&self) -> StoreResult<Vec<AdminKey>> {
        let mut r = self.reader().await?;
        let rows: Vec<AdminKeyRow> = sqlx::query_as(&format!(
            "SELECT {ADMIN_KEY_COLUMNS} FROM admin_keys ORDER BY created_at, id"
        ))
        .fetch_all(&mut *r)
        .await?;
        rows.into_iter().map(AdminKeyRow::into_admin_key).collect()
    }

    async fn revoke_admin_key(&self, id: &str, at: OffsetDateTime) -> StoreResult<AdminKey> {
        let mut w = self.writer.lock().await;
        let mut tx = w.begin_with("BEGIN IMMEDIATE").await?;
        let row: Option<AdminKeyRow> = sqlx::query_as(&format!(
            "UPDATE admin_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? RETURNING {ADMIN_KEY_COLUMNS}"
        ))
        .bind(codec::nanos(at)?)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let row = row.ok_or_else(|| codec::no_admin_key(id))?;
        bump_config_version(&mut tx).await?;
        tx.commit().await?;
        row.into_admin_key()
    }

    async fn installation_secret(&self) -> StoreResult<Vec<u8>> {
        let read = "SELECT value FROM settings WHERE name = ?";
        {
            let mut r = self.reader().await?;
            let found: Option<Vec<u8>> = sqlx::query_scalar(read)
                .bind(codec::SECRET_SETTING)
                .fetch_optional(&mut *r)
                .await?;
            if let Some(secret) = found {
                return Ok(secret);
            }
        }
        // Insert-if-absent, then read: whoever inserted first, every caller gets that one.
        let mut w = self.writer.lock().await;
        let mut tx = w.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
        )
        .bind(codec::SECRET_SETTING)
        .bind(codec::new_secret())
        .execute(&mut *tx)
        .await?;
        let secret: Vec<u8> = sqlx::query_scalar(read)
            .bind(codec::SECRET_SETTING)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(secret)
    }

    async fn append_audit(&self, entries: &[NewAuditEntry]) -> StoreResult<Vec<AuditEntry>> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let mut w = self.writer.lock().await;
        // The immediate transaction holds SQLite's write lock, so the head cannot move under
        // us, even from another process.
        let mut tx = w.begin_with("BEGIN IMMEDIATE").await?;
        let (head_seq, head_hash): (i64, String) =
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_one(&mut *tx)
                .await?;
        let chained = codec::chain(head_seq, head_hash, entries)?;
        for chunk in chained.chunks(AUDIT_ROWS_PER_INSERT) {
            let mut insert =
                QueryBuilder::<Sqlite>::new(format!("INSERT INTO audit ({AUDIT_COLUMNS}) "));
            insert.push_values(chunk, |mut b, (e, at)| {
                b.push_bind(e.seq)
                    .push_bind(*at)
                    .push_bind(&e.request_id)
                    .push_bind(&e.kind)
                    .push_bind(&e.agent_id)
                    .push_bind(&e.action)
                    .push_bind(&e.decision)
                    .push_bind(&e.content)
                    .push_bind(&e.prev_hash)
                    .push_bind(&e.hash);
            });
            insert.build().execute(&mut *tx).await?;
        }
        if let Some((last, _)) = chained.last() {
            sqlx::query("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1")
                .bind(last.seq)
                .bind(&last.hash)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(chained.into_iter().map(|(e, _)| e).collect())
    }

    async fn query_audit(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditEntry>> {
        let mut q =
            QueryBuilder::<Sqlite>::new(format!("SELECT {AUDIT_COLUMNS} FROM audit WHERE 1 = 1"));
        if let Some(v) = &filter.agent_id {
            q.push(" AND agent_id = ").push_bind(v);
        }
        if let Some(v) = &filter.action {
            q.push(" AND action = ").push_bind(v);
        }
        if let Some(v) = &filter.decision {
            q.push(" AND decision = ").push_bind(v);
        }
        if let Some(v) = &filter.kind {
            q.push(" AND kind = ").push_bind(v);
        }
        q.push(codec::admin_clause(filter.admin));
        if let Some(v) = &filter.request_id {
            q.push(" AND request_id = ").push_bind(v);
        }
        if let Some(v) = filter.since {
            q.push(" AND at >= ").push_bind(codec::nanos(v)?);
        }
        if let Some(v) = filter.before_seq {
            q.push(" AND seq < ").push_bind(v);
        }
        q.push(" ORDER BY seq DESC LIMIT ")
            .push_bind(codec::sql_limit(filter.limit));
        let mut r = self.reader().await?;
        let rows: Vec<AuditRow> = q.build_query_as().fetch_all(&mut *r).await?;
        rows.into_iter().map(AuditRow::into_entry).collect()
    }

    async fn audit_range(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        let mut r = self.reader().await?;
        let rows: Vec<AuditRow> = sqlx::query_as(&format!(
            "SELECT {AUDIT_COLUMNS} FROM audit WHERE seq > ? ORDER BY seq LIMIT ?"
        ))
        .bind(after_seq)
        .bind(codec::sql_limit(limit))
        .fetch_all(&mut *r)
        .await?;
        rows.into_iter().map(AuditRow::into_entry).collect()
    }

    async fn audit_head(&self) -> StoreResult<(i64, String)> {
        let mut r = self.reader().await?;
        Ok(
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_one(&mut *r)
                .await?,
        )
    }

    async fn take_rate(
        &self,
        agent_id: &str,
        scope: &str,
        windows: &[WindowCheck],
    ) -> StoreResult<RateTake> {
        let mut w = self.writer.lock().await;
        let mut tx = w.begin_with("BEGIN IMMEDIATE").await?;
        let mut counts = Vec::with_capacity(windows.len());
        for (index, win) in windows.iter().enumerate() {
            // Windows that ended are of no more use; dropping them keeps the table small.
            sqlx::query("DELETE FROM rate_windows WHERE agent_id = ? AND scope = ? AND window_name = ? AND start < ?")
                .bind(agent_id)
                .bind(scope)
                .bind(win.window)
                .bind(win.start)
                .execute(&mut *tx)
                .await?;
            let limit = codec::clamp_i64(win.limit);
            let taken: Option<i64> = sqlx::query_scalar(
                "INSERT INTO rate_windows (agent_id, scope, window_name, start, taken) VALUES (?, ?, ?, ?, 1) \
                 ON CONFLICT (agent_id, scope, window_name, start) \
                 DO UPDATE SET taken = rate_windows.taken + 1 WHERE rate_windows.taken < ? \
                 RETURNING taken",
            )
            .bind(agent_id)
            .bind(scope)
            .bind(win.window)
            .bind(win.start)
            .bind(limit)
            .fetch_optional(&mut *tx)
            .await?;
            match taken {
                Some(n) if n <= limit => counts.push(codec::count_u64(n)),
                // A fresh row over the limit: only a limit of 0 does that.
                Some(n) => {
                    tx.rollback().await?;
                    return Ok(RateTake::Full {
                        index,
                        count: codec::count_u64(n - 1),
                    });
                }
                None => {
                    let n: i64 = sqlx::query_scalar(
                        "SELECT taken FROM rate_windows WHERE agent_id = ? AND scope = ? AND window_name = ? AND start = ?",
                    )
                    .bind(agent_id)
                    .bind(scope)
                    .bind(win.window)
                    .bind(win.start)
                    .fetch_one(&mut *tx)
                    .await?;
                    tx.rollback().await?;
                    return Ok(RateTake::Full {
                        index,
                        count: codec::count_u64(n),
                    });
                }
            }
        }
        tx.commit().await?;
        Ok(RateTake::Taken(counts))
    }

    async fn rate_counts(
        &self,
        agent_id: &str,
        scope: &str,
        windows: &[WindowCheck],
    ) -> StoreResult<Vec<u64>> {
        let mut r = self.reader().await?;
        let mut counts = Vec::with_capacity(windows.len());
        for win in windows {
            let n: Option<i64> = sqlx::query_scalar(
                "SELECT taken FROM rate_windows WHERE agent_id = ? AND scope = ? AND window_name = ? AND start = ?",
            )
            .bind(agent_id)
            .bind(scope)
            .bind(win.window)
            .bind(win.start)
            .fetch_optional(&mut *r)
            .await?;
            counts.push(codec::count_u64(n.unwrap_or(0)));
        }
        Ok(counts)
    }

    async fn reserve_credits(
        &self,
        agent_id: &str,
        amount_milli: i64,
        periods: &[BudgetCheck],
    ) -> StoreResult<Reserve> {
        let amount = amount_milli.max(0);
        let mut w = self.writer.lock().await;
        let mut tx = w.begin_with("BEGIN IMMEDIATE").await?;
        let mut committed = Vec::with_capacity(periods.len());
        for (index, p) in periods.iter().enumerate() {
            let after: Option<i64> = sqlx::query_scalar(
                "INSERT INTO budgets (agent_id, period, start, spent_milli, reserved_milli) VALUES (?, ?, ?, 0, ?) \
                 ON CONFLICT (agent_id, period, start) \
                 DO UPDATE SET reserved_milli = budgets.reserved_milli + excluded.reserved_milli \
                 WHERE budgets.spent_milli + budgets.reserved_milli + excluded.reserved_milli <= ? \
                 RETURNING spent_milli + reserved_milli",
            )
            .bind(agent_id)
            .bind(p.period)
            .bind(p.start)
            .bind(amount)
            .bind(p.limit_milli)
            .fetch_optional(&mut *tx)
            .await?;
            match after {
                Some(n) if n <= p.limit_milli => committed.push(n),
                // A fresh row over the limit: the amount alone is more than the budget.
                Some(n) => {
                    tx.rollback().await?;
                    return Ok(Reserve::Short {
                        index,
                        committed_milli: n - amount,
                    });
                }
                None => {
                    let n: i64 = sqlx::query_scalar(
                        "SELECT spent_milli + reserved_milli FROM budgets WHERE agent_id = ? AND period = ? AND start = ?",
                    )
                    .bind(agent_id)
                    .bind(p.period)
                    .bind(p.start)
                    .fetch_one(&mut *tx)
                    .await?;
                    tx.rollback().await?;
                    return Ok(Reserve::Short {
                        index,
                        committed_milli: n,
                    });
                }
            }
        }
        tx.commit().await?;
        Ok(Reserve::Reserved(committed))
    }

    async fn settle_credits(
        &self,
        agent_id: &str,
        periods: &[BudgetCheck],
        reserved_milli: i64,
        spent_milli: i64,
    ) -> StoreResult<()> {
        let mut w = self.writer.lock().await;
        let mut tx = w.begin_with("BEGIN IMMEDIATE").await?;
        for p in periods {
            sqlx::query(
                "INSERT INTO budgets (agent_id, period, start, spent_milli, reserved_milli) VALUES (?, ?, ?, ?, 0) \
                 ON CONFLICT (agent_id, period, start) \
                 DO UPDATE SET reserved_milli = MAX(budgets.reserved_milli - ?, 0), \
                 spent_milli = budgets.spent_milli + excluded.spent_milli",
            )
            .bind(agent_id)
            .bind(p.period)
            .bind(p.start)
            .bind(spent_milli.max(0))
            .bind(reserved_milli.max(0))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn budget_usage(
        &self,
        agent_id: &str,
        periods: &[BudgetCheck],
    ) -> StoreResult<Vec<BudgetUsage>> {
        let mut r = self.reader().await?;
        let mut usage = Vec::with_capacity(periods.len());
        for p in periods {
            let row: Option<(i64, i64)> = sqlx::query_as(
                "SELECT spent_milli, reserved_milli FROM budgets WHERE agent_id = ? AND period = ? AND start = ?",
            )
            .bind(agent_id)
            .bind(p.period)
            .bind(p.start)
            .fetch_optional(&mut *r)
            .await?;
            let (spent_milli, reserved_milli) = row.unwrap_or((0, 0));
            usage.push(BudgetUsage {
                period: p.period.to_owned(),
                start: p.start,
                spent_milli,
                reserved_milli,
            });
        }
        Ok(usage)
    }

    async fn ping(&self) -> StoreResult<()> {
        let mut r = self.reader().await?;
        sqlx::query("SELECT 1").execute(&mut *r).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The durability and concurrency settings hold on every connection, readers included.
    #[tokio::test]
    async fn opens_in_wal_mode_with_full_sync_busy_timeout_and_foreign_keys() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("bollard.db").display());
        let store = SqliteStore::open(&url).await.unwrap();
        let mut r = store.reader().await.unwrap();
        let mut w = store.writer.lock().await;
        for conn in [&mut *r, &mut *w] {
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            assert_eq!((mode.as_str(), sync, busy, fk), ("wal", 2, 5000, 1));
        }
    }
}
