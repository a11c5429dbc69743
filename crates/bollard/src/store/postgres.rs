//! The PostgreSQL backend: several gateway replicas share one database.
//!
//! Everything replicas could race on is settled inside PostgreSQL, under READ COMMITTED:
//! - a rate window or budget is changed by one `INSERT ... ON CONFLICT ... DO UPDATE ...
//!   WHERE <still under the limit> RETURNING`, which locks the row and re-checks the
//!   condition against its latest version, so two replicas can never both take the last
//!   unit; all of a request's windows (or periods) change in one transaction, rolled back
//!   when any is full, so a refused request counts nowhere;
//! - an audit batch locks the chain's head row (`SELECT ... FOR UPDATE`) until it commits,
//!   so replicas take turns and form one chain. A replica that stalls while holding it (a
//!   paused process, a lost network) must not stop the others (#19 item 2): every session
//!   runs with `idle_in_transaction_session_timeout`, so PostgreSQL ends a holder that has
//!   gone quiet mid-transaction and its lock is released, and with `lock_timeout`, so a
//!   waiter gives up (its calls get 503, nothing forwarded) rather than hang. One chain with a
//!   bounded lock was kept over a chain per replica: a verifier still checks one sequence,
//!   and the lock is held for the length of one batch insert, well under a millisecond;
//! - every admin change bumps the single `config_version` row in its own transaction.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use bollard_policy::Grants;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::{PgPool, Postgres, QueryBuilder};
use time::OffsetDateTime;

use super::codec::{
    self, ADMIN_KEY_COLUMNS, AGENT_COLUMNS, AUDIT_COLUMNS, AdminKeyRow, AgentKeyRow, AgentRow,
    AuditRow, HoldRow, RuleRow,
};
use super::{
    AdminKey, Agent, AgentPatch, AuditEntry, AuditFilter, BudgetCheck, BudgetUsage,
    HeldReservation, Hold, Instance, KeyHash, Limits, NewAgent, NewAuditEntry, RateTake, Reserve,
    SchemaState, Store, StoreError, StoreResult, StoredRule, WindowCheck,
};

#[path = "oauth_pg.rs"]
mod oauth_pg;
mod proof;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Enough for a replica's concurrent calls (each holds a connection only for the length of
/// one short transaction) while leaving room under PostgreSQL's default of 100 connections
/// for several replicas.
const POOL_SIZE: u32 = 16;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// A session quiet this long inside a transaction is ended by PostgreSQL, releasing its locks:
/// no transaction of Bollard's waits on anything but the database between its statements.
const STALLED_HOLDER: Duration = Duration::from_secs(5);
/// The longest a statement waits for a lock (the audit head, a budget row) before it fails:
/// longer than `STALLED_HOLDER`, so a waiter outlasts a holder that stalled.
const LOCK_WAIT: Duration = Duration::from_secs(8);
/// PostgreSQL's limit on bound parameters is 65535; an audit row binds 10.
const AUDIT_ROWS_PER_INSERT: usize = 1000;

const AGENT_NAME_CONSTRAINT: &str = "agents_name_key_unique";

#[derive(Debug)]
pub struct PgStore {
    pool: PgPool,
}

/// The migration versions applied to the database at `url`, read without changing
/// anything, and the ones this build carries. For `bollard doctor`.
pub(super) async fn applied_migrations(
    url: &str,
) -> StoreResult<(Option<Vec<i64>>, Vec<(i64, String)>)> {
    use sqlx::{ConnectOptions, Connection};
    let mut conn = PgConnectOptions::from_str(url)
        .map_err(|_| StoreError::BadUrl)?
        .connect()
        .await?;
    let has_table: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(&mut conn)
        .await?;
    let applied = if has_table {
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(&mut conn)
            .await?
    } else {
        Vec::new()
    };
    let _ = conn.close().await;
    Ok((Some(applied), super::sqlite::known(&MIGRATOR)))
}

/// The session settings every connection of Bollard's runs with (see the module doc).
pub(super) fn bounded(options: PgConnectOptions) -> PgConnectOptions {
    options.options([
        (
            "idle_in_transaction_session_timeout",
            format!("{}ms", STALLED_HOLDER.as_millis()),
        ),
        ("lock_timeout", format!("{}ms", LOCK_WAIT.as_millis())),
    ])
}

impl PgStore {
    pub(super) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Connects to `postgres://...` and runs the migrations (under the migrator's advisory
    /// lock, so replicas starting together migrate once).
    pub async fn open(url: &str) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url).map_err(|_| StoreError::BadUrl)?;
        // Migrations run without the lock bound: a replica starting beside another waits for
        // the other's migration under the migrator's advisory lock, however long it takes.
        {
            let migrating = PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options.clone())
                .await?;
            MIGRATOR.run(&migrating).await?;
            migrating.close().await;
        }
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(bounded(options))
            .await?;
        Ok(Self { pool })
    }

    /// Runs one admin change on an agent (an `UPDATE ... RETURNING` built by the caller) and
    /// bumps `config_version` in the same transaction.
    async fn change_agent<'q>(
        &self,
        id: &str,
        update: sqlx::query::QueryAs<'q, Postgres, AgentRow, PgArguments>,
        name: Option<&str>,
    ) -> StoreResult<Agent> {
        self.change_agent_if(id, update, name, None).await
    }

    /// [`change_agent`](Self::change_agent), made only if the agent still holds `read`: its
    /// row is read and locked (`FOR UPDATE`) in the same transaction, so no other replica can
    /// change it in between.
    async fn change_agent_if<'q>(
        &self,
        id: &str,
        update: sqlx::query::QueryAs<'q, Postgres, AgentRow, PgArguments>,
        name: Option<&str>,
        read: Option<super::Read<'_>>,
    ) -> StoreResult<Agent> {
        let mut tx = self.pool.begin().await?;
        if let Some(read) = read {
            let sql = format!("SELECT {AGENT_COLUMNS} FROM agents WHERE id = $1 FOR UPDATE");
            let stored: Option<AgentRow> = sqlx::query_as(&sql)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            read.check(&stored.ok_or_else(|| codec::no_agent(id))?.into_agent()?)?;
        }
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
        let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM agents WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }
}

/// The channel on which every admin change is announced (delivered when its transaction
/// commits, so a listener never reads a version that is not there yet).
const CONFIG_CHANNEL: &str = "bollard_config";

async fn bump_config_version(conn: &mut PgConnection) -> StoreResult<()> {
    sqlx::query("UPDATE config_version SET version = version + 1 WHERE id = 1")
        .execute(&mut *conn)
        .await?;
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(CONFIG_CHANNEL)
        .execute(conn)
        .await?;
    Ok(())
}

/// A unique violation on the folded name is the friendly Conflict; anything else is passed on.
fn name_conflict(e: sqlx::Error, name: Option<&str>) -> StoreError {
    if let (Some(name), sqlx::Error::Database(db)) = (name, &e)
        && db.constraint() == Some(AGENT_NAME_CONSTRAINT)
    {
        return codec::name_taken(name);
    }
    StoreError::Database(e)
}

fn agent_select(filter: &str) -> String {
    format!("SELECT {AGENT_COLUMNS} FROM agents {filter}")
}

#[async_trait]
impl Store for PgStore {
    fn oauth(&self) -> &dyn super::oauth::OAuthStore {
        self
    }

    async fn create_agent(&self, new: NewAgent) -> StoreResult<Agent> {
        let id = new.id.clone();
        let sql = format!(
            "INSERT INTO agents (id, name, name_key, description, key_hash, key_prefix, created_at, \
             expires_at, revoked_at, grants, limits) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9, $10) \
             RETURNING {AGENT_COLUMNS}"
        );
        let query = sqlx::query_as::<_, AgentRow>(&sql)
            .bind(id.clone())
            .bind(new.name.clone())
            .bind(codec::name_key(&new.name))
            .bind(new.description)
            .bind(new.key_hash.to_vec())
            .bind(new.key_prefix)
            .bind(codec::nanos(OffsetDateTime::now_utc())?)
            .bind(codec::opt_nanos(new.expires_at)?)
            .bind(codec::to_json(&Grants::default())?)
            .bind(codec::to_json(&Limits::default())?);
        self.change_agent(&id, query, Some(&new.name)).await
    }

    async fn list_agents(&self) -> StoreResult<Vec<Agent>> {
        let rows: Vec<AgentRow> = sqlx::query_as(&agent_select("ORDER BY created_at, id"))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(AgentRow::into_agent).collect()
    }

    async fn find_agent(&self, id_or_name: &str) -> StoreResult<Option<Agent>> {
        // An id match wins over a name match, should an agent be named like another's id.
        let row: Option<AgentRow> = sqlx::query_as(&agent_select(
            "WHERE id = $1 OR name_key = $2 ORDER BY (id = $1) DESC LIMIT 1",
        ))
        .bind(id_or_name)
        .bind(codec::name_key(id_or_name))
        .fetch_optional(&self.pool)
        .await?;
        row.map(AgentRow::into_agent).transpose()
    }

    async fn agent_keys(&self) -> StoreResult<Vec<(KeyHash, Agent)>> {
        let rows: Vec<AgentKeyRow> = sqlx::query_as(&format!(
            "SELECT key_hash, {AGENT_COLUMNS} FROM agents ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(AgentKeyRow::into_pair).collect()
    }

    async fn update_agent(&self, id: &str, patch: AgentPatch) -> StoreResult<Agent> {
        let sql = format!(
            "UPDATE agents SET name = COALESCE($1, name), name_key = COALESCE($2, name_key), \
             description = COALESCE($3, description), \
             expires_at = CASE WHEN $4 THEN $5 ELSE expires_at END \
             WHERE id = $6 RETURNING {AGENT_COLUMNS}"
        );
        let (set_expiry, expiry) = match patch.expires_at {
            Some(at) => (true, codec::opt_nanos(at)?),
            None => (false, None),
        };
        let query = sqlx::query_as::<_, AgentRow>(&sql)
            .bind(patch.name.clone())
            .bind(patch.name.as_deref().map(codec::name_key))
            .bind(patch.description)
            .bind(set_expiry)
            .bind(expiry)
            .bind(id.to_owned());
        self.change_agent(id, query, patch.name.as_deref()).await
    }

    async fn revoke_agent(&self, id: &str, at: OffsetDateTime) -> StoreResult<Agent> {
        // A second revocation keeps the first one's time.
        let sql = format!(
            "UPDATE agents SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 RETURNING {AGENT_COLUMNS}"
        );
        let query = sqlx::query_as::<_, AgentRow>(&sql)
            .bind(codec::nanos(at)?)
            .bind(id.to_owned());
        self.change_agent(id, query, None).await
    }

    async fn rotate_agent_key(
        &self,
        id: &str,
        key_hash: KeyHash,
        key_prefix: &str,
    ) -> StoreResult<Agent> {
        let sql = format!(
            "UPDATE agents SET key_hash = $1, key_prefix = $2 WHERE id = $3 RETURNING {AGENT_COLUMNS}"
        );
        let query = sqlx::query_as::<_, AgentRow>(&sql)
            .bind(key_hash.to_vec())
            .bind(key_prefix.to_owned())
            .bind(id.to_owned());
        self.change_agent(id, query, None).await
    }

    async fn set_grants(&self, id: &str, read: &Grants, grants: &Grants) -> StoreResult<Agent> {
        let sql = format!("UPDATE agents SET grants = $1 WHERE id = $2 RETURNING {AGENT_COLUMNS}");
        let query = sqlx::query_as::<_, AgentRow>(&sql)
            .bind(codec::to_json(grants)?)
            .bind(id.to_owned());
        self.change_agent_if(id, query, None, Some(super::Read::Grants(read)))
            .await
    }

    async fn set_limits(&self, id: &str, read: &Limits, limits: &Limits) -> StoreResult<Agent> {
        let sql = format!("UPDATE agents SET limits = $1 WHERE id = $2 RETURNING {AGENT_COLUMNS}");
        let query = sqlx::query_as::<_, AgentRow>(&sql)
            .bind(codec::to_json(limits)?)
            .bind(id.to_owned());
        self.change_agent_if(id, query, None, Some(super::Read::Limits(read)))
            .await
    }

    async fn add_rule(&self, agent_id: &str, name: &str, cedar: &str) -> StoreResult<StoredRule> {
        let mut tx = self.pool.begin().await?;
        let row: RuleRow = sqlx::query_as(
            "INSERT INTO rules (agent_id, name, cedar, created_at) VALUES ($1, $2, $3, $4) \
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
        let rows: Vec<RuleRow> = sqlx::query_as(
            "SELECT name, cedar, created_at FROM rules WHERE agent_id = $1 ORDER BY created_at, name",
        )
        .bind(agent_id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(RuleRow::into_rule).collect()
    }

    async fn remove_rule(&self, agent_id: &str, name: &str) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("DELETE FROM rules WHERE agent_id = $1 AND name = $2")
            .bind(agent_id)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() > 0 {
            bump_config_version(&mut tx).await?;
            tx.commit().await?;
            return Ok(());
        }
        tx.rollback().await?;
        if self.agent_exists(agent_id).await? {
            Err(codec::no_rule(agent_id, name))
        } else {
            Err(codec::no_agent(agent_id))
        }
    }

    async fn config_version(&self) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT version FROM config_version WHERE id = 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn create_admin_key(
        &self,
        name: &str,
        key_hash: KeyHash,
        key_prefix: &str,
    ) -> StoreResult<AdminKey> {
        let mut tx = self.pool.begin().await?;
        let row: AdminKeyRow = sqlx::query_as(
            "INSERT INTO admin_keys (id, name, key_hash, key_prefix, created_at) VALUES ($1, $2, $3, $4, $5) \
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
        let row: Option<AdminKeyRow> = sqlx::query_as(
            "SELECT id, name, key_prefix, created_at, revoked_at FROM admin_keys WHERE key_hash = $1 AND revoked_at IS NULL",
        )
        .bind(key_hash.as_slice())
        .fetch_optional(&self.pool)
        .await?;
        row.map(AdminKeyRow::into_admin_key).transpose()
    }

    async fn admin_key_by_id(&self, id: &str) -> StoreResult<Option<AdminKey>> {
        let row: Option<AdminKeyRow> = sqlx::query_as(&format!(
            "SELECT {ADMIN_KEY_COLUMNS} FROM admin_keys WHERE id = $1 AND revoked_at IS NULL"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(AdminKeyRow::into_admin_key).transpose()
    }

    async fn list_admin_keys(&self) -> StoreResult<Vec<AdminKey>> {
        let rows: Vec<AdminKeyRow> = sqlx::query_as(&format!(
            "SELECT {ADMIN_KEY_COLUMNS} FROM admin_keys ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(AdminKeyRow::into_admin_key).collect()
    }

    async fn revoke_admin_key(&self, id: &str, at: OffsetDateTime) -> StoreResult<AdminKey> {
        let mut tx = self.pool.begin().await?;
        let row: Option<AdminKeyRow> = sqlx::query_as(&format!(
            "UPDATE admin_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 RETURNING {ADMIN_KEY_COLUMNS}"
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
        let read = "SELECT value FROM settings WHERE name = $1";
        let found: Option<Vec<u8>> = sqlx::query_scalar(read)
            .bind(codec::SECRET_SETTING)
            .fetch_optional(&self.pool)
            .await?;
        if let Some(secret) = found {
            return Ok(secret);
        }
        // Insert-if-absent, then read: whichever replica inserted first, all get that one.
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(codec::SECRET_SETTING)
        .bind(codec::new_secret())
        .execute(&self.pool)
        .await?;
        Ok(sqlx::query_scalar(read)
            .bind(codec::SECRET_SETTING)
            .fetch_one(&self.pool)
            .await?)
    }

    async fn append_audit(&self, entries: &[NewAuditEntry]) -> StoreResult<Vec<AuditEntry>> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.pool.begin().await?;
        let appended = append_in(&mut tx, entries).await?;
        tx.commit().await?;
        Ok(appended)
    }

    async fn query_audit(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditEntry>> {
        let mut q =
            QueryBuilder::<Postgres>::new(format!("SELECT {AUDIT_COLUMNS} FROM audit WHERE TRUE"));
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
        let rows: Vec<AuditRow> = q.build_query_as().fetch_all(&self.pool).await?;
        rows.into_iter().map(AuditRow::into_entry).collect()
    }

    async fn audit_range(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        let rows: Vec<AuditRow> = sqlx::query_as(&format!(
            "SELECT {AUDIT_COLUMNS} FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2"
        ))
        .bind(after_seq)
        .bind(codec::sql_limit(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(AuditRow::into_entry).collect()
    }

    async fn audit_head(&self) -> StoreResult<(i64, String)> {
        Ok(
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn take_rate(
        &self,
        agent_id: &str,
        scope: &str,
        windows: &[WindowCheck],
    ) -> StoreResult<RateTake> {
        let mut tx = self.pool.begin().await?;
        let mut counts = Vec::with_capacity(windows.len());
        for (index, win) in windows.iter().enumerate() {
            // Windows that ended are of no more use; dropping them keeps the table small.
            sqlx::query(
                "DELETE FROM rate_windows WHERE agent_id = $1 AND scope = $2 AND window_name = $3 AND start < $4",
            )
            .bind(agent_id)
            .bind(scope)
            .bind(win.window)
            .bind(win.start)
            .execute(&mut *tx)
            .await?;
            let limit = codec::clamp_i64(win.limit);
            let taken: Option<i64> = sqlx::query_scalar(
                "INSERT INTO rate_windows (agent_id, scope, window_name, start, taken) VALUES ($1, $2, $3, $4, 1) \
                 ON CONFLICT (agent_id, scope, window_name, start) \
                 DO UPDATE SET taken = rate_windows.taken + 1 WHERE rate_windows.taken < $5 \
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
                    // The upsert left the row locked, so this is the count that refused us.
                    let n: i64 = sqlx::query_scalar(
                        "SELECT taken FROM rate_windows \
                         WHERE agent_id = $1 AND scope = $2 AND window_name = $3 AND start = $4",
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
        let mut counts = Vec::with_capacity(windows.len());
        for win in windows {
            let n: Option<i64> = sqlx::query_scalar(
                "SELECT taken FROM rate_windows WHERE agent_id = $1 AND scope = $2 AND window_name = $3 AND start = $4",
            )
            .bind(agent_id)
            .bind(scope)
            .bind(win.window)
            .bind(win.start)
            .fetch_optional(&self.pool)
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
        hold: Option<&Hold<'_>>,
    ) -> StoreResult<Reserve> {
        let amount = amount_milli.max(0);
        let mut tx = self.pool.begin().await?;
        let mut committed = Vec::with_capacity(periods.len());
        for (index, p) in periods.iter().enumerate() {
            let after: Option<i64> = sqlx::query_scalar(
                "INSERT INTO budgets (agent_id, period, start, spent_milli, reserved_milli) VALUES ($1, $2, $3, 0, $4) \
                 ON CONFLICT (agent_id, period, start) \
                 DO UPDATE SET reserved_milli = budgets.reserved_milli + EXCLUDED.reserved_milli \
                 WHERE budgets.spent_milli + budgets.reserved_milli + EXCLUDED.reserved_milli <= $5 \
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
                        "SELECT spent_milli + reserved_milli FROM budgets \
                         WHERE agent_id = $1 AND period = $2 AND start = $3",
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
        if let Some(h) = hold.filter(|_| amount > 0) {
            sqlx::query(
                "INSERT INTO reservations (request_id, agent_id, instance, periods, reserved_milli, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(h.request_id)
            .bind(agent_id)
            .bind(h.instance)
            .bind(codec::held_periods(periods)?)
            .bind(amount)
            .bind(codec::nanos(h.at)?)
            .execute(&mut *tx)
            .await?;
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
        request_id: Option<&str>,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        if let Some(id) = request_id.filter(|_| reserved_milli > 0) {
            let held = sqlx::query("DELETE FROM reservations WHERE request_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if held == 0 {
                // Settled already (by the sweep, or another replica's).
                tx.rollback().await?;
                return Ok(false);
            }
        }
        for p in periods {
            sqlx::query(
                "INSERT INTO budgets (agent_id, period, start, spent_milli, reserved_milli) VALUES ($1, $2, $3, $4, 0) \
                 ON CONFLICT (agent_id, period, start) \
                 DO UPDATE SET reserved_milli = GREATEST(budgets.reserved_milli - $5, 0), \
                 spent_milli = budgets.spent_milli + EXCLUDED.spent_milli",
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
        Ok(true)
    }

    async fn release_spent(
        &self,
        agent_id: &str,
        periods: &[BudgetCheck],
        milli: i64,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        for p in periods {
            sqlx::query(super::RELEASE_SPENT)
                .bind(milli.max(0))
                .bind(agent_id)
                .bind(p.period)
                .bind(p.start)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn heartbeat(&self, instance: &Instance, now: OffsetDateTime) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO instances (id, host, started_at, seen_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id) DO UPDATE SET seen_at = EXCLUDED.seen_at",
        )
        .bind(&instance.id)
        .bind(&instance.host)
        .bind(codec::nanos(instance.started_at)?)
        .bind(codec::nanos(now)?)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn retire_instance(&self, id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM instances WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn dead_reservations(
        &self,
        alive_since: OffsetDateTime,
    ) -> StoreResult<Vec<HeldReservation>> {
        let alive_since = codec::nanos(alive_since)?;
        sqlx::query("DELETE FROM instances WHERE seen_at < $1")
            .bind(alive_since)
            .execute(&self.pool)
            .await?;
        let rows: Vec<HoldRow> = sqlx::query_as(
            "SELECT request_id, agent_id, instance, periods, reserved_milli FROM reservations \
             WHERE instance NOT IN (SELECT id FROM instances) ORDER BY created_at",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(HoldRow::into_held).collect()
    }

    async fn budget_usage(
        &self,
        agent_id: &str,
        periods: &[BudgetCheck],
    ) -> StoreResult<Vec<BudgetUsage>> {
        let mut usage = Vec::with_capacity(periods.len());
        for p in periods {
            let row: Option<(i64, i64)> = sqlx::query_as(
                "SELECT spent_milli, reserved_milli FROM budgets WHERE agent_id = $1 AND period = $2 AND start = $3",
            )
            .bind(agent_id)
            .bind(p.period)
            .bind(p.start)
            .fetch_optional(&self.pool)
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

    fn proofs(&self) -> &dyn super::proof::ProofStore {
        self
    }

    fn approvals(&self) -> &dyn super::approvals::ApprovalStore {
        self
    }

    async fn config_notifications(&self) -> Option<tokio::sync::mpsc::Receiver<()>> {
        let mut listener = match sqlx::postgres::PgListener::connect_with(&self.pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for admin changes; polling only");
                return None;
            }
        };
        if let Err(e) = listener.listen(CONFIG_CHANNEL).await {
            tracing::warn!(error = %e, "cannot listen for admin changes; polling only");
            return None;
        }
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tokio::spawn(async move {
            loop {
                match listener.recv().await {
                    // Full: a refresh is already due, which will read this change too.
                    Ok(_) => {
                        if let Err(tokio::sync::mpsc::error::TrySendError::Closed(())) =
                            tx.try_send(())
                        {
                            return;
                        }
                    }
                    // `recv` reconnects by itself; what was missed meanwhile the poll finds.
                    Err(sqlx::Error::PoolClosed) => return,
                    Err(e) => {
                        tracing::warn!(error = %e, "listening for admin changes failed; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Some(rx)
    }

    async fn readiness(&self) -> StoreResult<SchemaState> {
        let has_table: bool =
            sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
                .fetch_one(&self.pool)
                .await?;
        let found: Option<i64> = if has_table {
            sqlx::query_scalar(super::APPLIED_SCHEMA_VERSION)
                .fetch_one(&self.pool)
                .await?
        } else {
            None
        };
        let state = SchemaState::of(found, &MIGRATOR);
        if state != SchemaState::Current {
            return Ok(state);
        }
        let mut tx = self.pool.begin().await?;
        // The writers' row: a replica stalled while holding it stalls every writer, so a
        // bounded wait for it is the honest probe.
        sqlx::query("SET LOCAL lock_timeout = '1s'")
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(state)
    }
}

/// Chains `entries` onto the log inside the caller's transaction, for `append_audit` and for
/// changes that must be recorded in the same transaction as they are made (an approval's
/// expiry). The head's row lock is held until the caller commits: another replica's batch
/// waits there and then continues from this one.
pub(super) async fn append_in(
    tx: &mut PgConnection,
    entries: &[NewAuditEntry],
) -> StoreResult<Vec<AuditEntry>> {
    let (head_seq, head_hash): (i64, String) =
        sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE")
            .fetch_one(&mut *tx)
            .await?;
    let chained = codec::chain(head_seq, head_hash, entries.to_vec())?;
    let packed =
        super::content::packed_chunks(&chained, super::content::pack_text, AUDIT_ROWS_PER_INSERT)?;
    for (chunk, packed) in chained.chunks(AUDIT_ROWS_PER_INSERT).zip(packed) {
        let mut insert =
            QueryBuilder::<Postgres>::new(format!("INSERT INTO audit ({AUDIT_COLUMNS}) "));
        insert.push_values(chunk.iter().zip(packed), |mut b, ((e, at), content)| {
            b.push_bind(e.seq)
                .push_bind(*at)
                .push_bind(&e.request_id)
                .push_bind(&e.kind)
                .push_bind(&e.agent_id)
                .push_bind(&e.action)
                .push_bind(&e.decision)
                .push_bind(content)
                .push_bind(&e.prev_hash)
                .push_bind(&e.hash);
        });
        insert.build().execute(&mut *tx).await?;
    }
    if let Some((last, _)) = chained.last() {
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
            .bind(last.seq)
            .bind(&last.hash)
            .execute(&mut *tx)
            .await?;
    }
    Ok(chained.into_iter().map(|(e, _)| e).collect())
}

mod approvals;
