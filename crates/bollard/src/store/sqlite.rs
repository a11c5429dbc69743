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
//! Transactions on the writer are plain `BEGIN IMMEDIATE`/`COMMIT`/`ROLLBACK` statements, not
//! sqlx's `Transaction`: sqlx counts transactions itself, and when SQLite rolls one back on its
//! own (a commit that finds the disk full does), the `ROLLBACK` sqlx sends on drop fails, its
//! count stays at one and every later `BEGIN` is refused until a restart. Here SQLite is the
//! only judge: a transaction not seen to end is rolled back before the connection is used
//! again, so a write works as soon as space is back.
//!
//! Reads use a separate pool, concurrent with the writer under WAL. An in-memory database
//! (`sqlite::memory:`) exists only inside one connection, so there every read goes through
//! the writer's connection too.
//!
//! Audit batches, on every call's path, are written by a connection of their own on a thread
//! of its own (`audit_thread`), still one writer at a time under the same mutex. No commit
//! checkpoints the write-ahead log: a thread of its own does (`checkpoint`), so no call waits
//! for one.

use std::ops::{Deref, DerefMut};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bollard_policy::Grants;
use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, QueryBuilder, Sqlite, SqliteConnection, SqlitePool};
use time::OffsetDateTime;
use tokio::sync::{Mutex, MutexGuard, OwnedMutexGuard};

use super::codec::{
    self, ADMIN_KEY_COLUMNS, AGENT_COLUMNS, AUDIT_COLUMNS, AdminKeyRow, AgentKeyRow, AgentRow,
    AuditRow, HoldRow, RuleRow,
};
use super::{
    AdminKey, Agent, AgentPatch, AuditEntry, AuditFilter, BudgetCheck, BudgetUsage,
    HeldReservation, Hold, Instance, KeyHash, Limits, NewAgent, NewAuditEntry, RateTake, Reserve,
    SchemaState, Store, StoreError, StoreResult, StoredRule, WindowCheck, content,
};

mod audit_thread;
mod checkpoint;
#[path = "oauth_sqlite.rs"]
mod oauth_sqlite;
mod proof;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

const READERS: u32 = 8;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// SQLite's limit on bound parameters is 32766; an audit row binds 10.
const AUDIT_ROWS_PER_INSERT: usize = 1000;
/// The audit columns as read: an entry's `prev_hash` is stored empty since issue 16 and read
/// from where it is already kept, the previous entry's `hash` (or, for the first entry after
/// a prune, the prune's `last_hash`). A missing link reads as empty, which `verify` reports.
const AUDIT_SELECT: &str = "seq, at, request_id, kind, agent_id, action, decision, content, \
    CASE WHEN length(prev_hash) > 0 THEN prev_hash ELSE COALESCE(\
      (SELECT p.hash FROM audit AS p WHERE p.seq = audit.seq - 1), \
      (SELECT x.last_hash FROM audit_prune AS x WHERE x.cut = audit.seq - 1), x'') END AS prev_hash, \
    hash";

#[derive(Debug)]
pub struct SqliteStore {
    /// `None` for an in-memory database: see the module doc.
    readers: Option<SqlitePool>,
    /// Shared with each transaction's drop, which rolls a failed one back at once.
    writer: Arc<Mutex<Writer>>,
    /// `None` for an in-memory database, whose audit batches go through `writer`.
    audit: Option<audit_thread::AuditThread>,
}

/// The one write connection, and whether a transaction may still be open on it.
#[derive(Debug)]
pub(super) struct Writer {
    conn: SqliteConnection,
    /// Set before `BEGIN`, cleared once a `COMMIT` or `ROLLBACK` succeeds: a write that failed
    /// or whose future was dropped leaves it set, and the next user rolls back first.
    open: bool,
}

impl Writer {
    /// Ends whatever transaction a failed or cancelled write left behind. The usual error is
    /// "no transaction is active" (SQLite already rolled it back). Should a real one remain
    /// open, the next `BEGIN` fails ("within a transaction"), sets `open` again, and the user
    /// after that rolls back once more: the connection can fail, never wedge.
    async fn heal(&mut self) {
        if self.open {
            if let Err(e) = sqlx::query("ROLLBACK").execute(&mut self.conn).await {
                tracing::debug!(error = %e, "rolling back a failed write");
            }
            self.open = false;
        }
    }
}

/// A write transaction: holds the writer until it commits or is dropped. Dropped without a
/// commit (an error, a cancelled future), it is rolled back at once by a task of its own, or
/// by the writer's next user should that come first.
pub(super) struct WriteTx<'a> {
    writer: MutexGuard<'a, Writer>,
    mutex: Arc<Mutex<Writer>>,
}

impl Drop for WriteTx<'_> {
    fn drop(&mut self) {
        // Now rather than at the next write: an open transaction holds SQLite's write lock,
        // which other processes (the CLI beside a server) would wait on until then.
        if self.writer.open
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let mutex = self.mutex.clone();
            runtime.spawn(async move { mutex.lock().await.heal().await });
        }
    }
}

impl std::fmt::Debug for WriteTx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteTx").finish_non_exhaustive()
    }
}

impl WriteTx<'_> {
    pub(super) async fn commit(mut self) -> StoreResult<()> {
        sqlx::query("COMMIT").execute(&mut self.writer.conn).await?;
        self.committed();
        Ok(())
    }

    /// Notes a `COMMIT` that ran (here or at the end of a caller's statement list): nothing
    /// is left to roll back.
    fn committed(mut self) {
        self.writer.open = false;
    }

    async fn rollback(mut self) -> StoreResult<()> {
        sqlx::query("ROLLBACK")
            .execute(&mut self.writer.conn)
            .await?;
        self.writer.open = false;
        Ok(())
    }
}

impl Deref for WriteTx<'_> {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        &self.writer.conn
    }
}

impl DerefMut for WriteTx<'_> {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.writer.conn
    }
}

/// A connection to read with: from the pool, or the writer's for an in-memory database.
pub(super) enum Reader<'a> {
    Pool(PoolConnection<Sqlite>),
    Writer(MutexGuard<'a, Writer>),
}

impl Deref for Reader<'_> {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        match self {
            Reader::Pool(c) => c,
            Reader::Writer(w) => &w.conn,
        }
    }
}

impl DerefMut for Reader<'_> {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        match self {
            Reader::Pool(c) => c,
            Reader::Writer(w) => &mut w.conn,
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

/// The migration versions applied to the database at `url`, read without creating or
/// changing anything: `None` when the file does not exist. For `bollard doctor`.
pub(super) async fn applied_migrations(
    url: &str,
) -> StoreResult<(Option<Vec<i64>>, Vec<(i64, String)>)> {
    let known = known(&MIGRATOR);
    let (url, _) = split_synchronous(url)?;
    let options = SqliteConnectOptions::from_str(&url).map_err(|_| StoreError::BadUrl)?;
    if let Some(file) = file_of(&url, &options)?
        && !file.exists()
    {
        check_file(&file, true)?;
        return Ok((None, known));
    }
    let mut conn = options
        .read_only(true)
        .busy_timeout(BUSY_TIMEOUT)
        .connect()
        .await?;
    let has_table: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_one(&mut conn)
    .await?;
    let applied = if has_table > 0 {
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(&mut conn)
            .await?
    } else {
        Vec::new()
    };
    Ok((Some(applied), known))
}

/// The migrations this build carries: version and description.
pub(super) fn known(migrator: &Migrator) -> Vec<(i64, String)> {
    migrator
        .iter()
        .map(|m| (m.version, m.description.to_string()))
        .collect()
}

/// The file a SQLite URL names, `None` for a database in memory (or a `file:` URI). An empty
/// path is refused: SQLite would open a private temporary file deleted when it closes, an
/// audit log that vanishes (`sqlite:` was taken for one; found in review).
fn file_of(url: &str, options: &SqliteConnectOptions) -> StoreResult<Option<std::path::PathBuf>> {
    if url.contains(":memory:") || url.contains("mode=memory") {
        return Ok(None);
    }
    let file = options.get_filename();
    if file.as_os_str().is_empty() {
        return Err(StoreError::BadUrl);
    }
    // A `file:` URI is SQLite's to read (sqlx opens with SQLITE_OPEN_URI), not a path to test
    // here: SQLite itself refuses a missing one when it is not to be created.
    if file.to_string_lossy().starts_with("file:") {
        return Ok(None);
    }
    Ok(Some(file.to_path_buf()))
}

/// Refuses, in a sentence naming the path, a file that cannot be opened as asked: missing
/// when `create` is false (a mistyped path made an empty database that `audit verify` called
/// intact), or in a directory that does not exist (SQLite says only "unable to open database
/// file").
fn check_file(file: &std::path::Path, create: bool) -> StoreResult<()> {
    if file.exists() {
        return Ok(());
    }
    if !create {
        return Err(StoreError::Missing(format!(
            "there is no database at {}: check the path (--database-url, BOLLARD_DATABASE_URL or \
             database_url in bollard.toml), or create it with `bollard agent create` or \
             `bollard serve`",
            file.display()
        )));
    }
    match file.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) if !dir.is_dir() => Err(StoreError::Missing(format!(
            "the database {} cannot be created: the directory {} does not exist",
            file.display(),
            dir.display()
        ))),
        _ => Ok(()),
    }
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `sqlite://PATH` and runs its migrations.
    pub async fn open(url: &str) -> StoreResult<Self> {
        Self::open_with(url, true).await
    }

    /// Opens the database at `sqlite://PATH`, creating it if missing only when `create` (the
    /// commands that read or change what is there refuse a missing file), and runs its
    /// migrations.
    pub async fn open_with(url: &str, create: bool) -> StoreResult<Self> {
        let (url, synchronous) = split_synchronous(url)?;
        let url = url.as_str();
        let options = SqliteConnectOptions::from_str(url).map_err(|_| StoreError::BadUrl)?;
        if let Some(file) = file_of(url, &options)? {
            check_file(&file, create)?;
        }
        let options = options
            .create_if_missing(create)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            // A commit never checkpoints: the checkpointer thread does (`checkpoint`).
            .pragma("wal_autocheckpoint", "0")
            // What is deleted (pruned audit entries with their personal-data hashes, sealed
            // approval arguments) is overwritten in its page, not left there until reused.
            // Only deletes pay for it, and the audit thread never deletes.
            .pragma("secure_delete", "ON");
        let mut writer = connect_writer(&options).await?;
        migrate(&mut writer).await?;
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let writer = Arc::new(Mutex::new(Writer {
            conn: writer,
            open: false,
        }));
        let (readers, audit) = if in_memory {
            (None, None)
        } else {
            let audit = audit_thread::AuditThread::start(
                options.get_filename(),
                synchronous,
                BUSY_TIMEOUT,
                Arc::downgrade(&writer),
            )?;
            let readers = SqlitePoolOptions::new()
                .max_connections(READERS)
                .connect_with(options)
                .await?;
            (Some(readers), Some(audit))
        };
        Ok(Self {
            readers,
            audit,
            writer,
        })
    }

    /// The writer, with any transaction a failed write left open rolled back.
    async fn writer(&self) -> MutexGuard<'_, Writer> {
        let mut w = self.writer.lock().await;
        w.heal().await;
        w
    }

    /// The writer as [`writer`](Self::writer) gives it, owned: for the audit thread, which
    /// gives it back when its transaction has ended.
    async fn owned_writer(&self) -> OwnedMutexGuard<Writer> {
        let mut w = self.writer.clone().lock_owned().await;
        w.heal().await;
        w
    }

    /// Starts a write transaction (`BEGIN IMMEDIATE`: see the module doc).
    pub(super) async fn begin(&self) -> StoreResult<WriteTx<'_>> {
        let mut tx = self.opening().await;
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut tx.writer.conn)
            .await?;
        Ok(tx)
    }

    /// The writer, marked as in a transaction before the caller sends its `BEGIN`, so a
    /// `BEGIN` that fails or is cancelled is rolled back too.
    async fn opening(&self) -> WriteTx<'_> {
        let mut writer = self.writer().await;
        writer.open = true;
        WriteTx {
            writer,
            mutex: self.writer.clone(),
        }
    }

    pub(super) async fn reader(&self) -> StoreResult<Reader<'_>> {
        Ok(match &self.readers {
            Some(pool) => Reader::Pool(pool.acquire().await?),
            None => Reader::Writer(self.writer().await),
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
        self.change_agent_if(id, update, name, None).await
    }

    /// [`change_agent`](Self::change_agent), made only if the agent still holds `read`: read
    /// inside the same immediate transaction, so no other process can change it in between.
    async fn change_agent_if<'q>(
        &self,
        id: &str,
        update: sqlx::query::QueryAs<'q, Sqlite, AgentRow, sqlx::sqlite::SqliteArguments<'q>>,
        name: Option<&str>,
        read: Option<super::Read<'_>>,
    ) -> StoreResult<Agent> {
        let mut tx = self.begin().await?;
        if let Some(read) = read {
            let sql = format!("SELECT {AGENT_COLUMNS} FROM agents WHERE id = ?");
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
        let mut r = self.reader().await?;
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM agents WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut *r)
            .await?;
        Ok(found.is_some())
    }
}

/// Runs the migrations. Two processes opening a fresh file race: each reads which migrations
/// are applied, and the one that applies a migration second finds its tables already made and
/// fails. Each migration commits with its own row in `_sqlx_migrations`, so the loser only
/// has to read the list again: every retry starts past what the winner committed, and one
/// attempt per migration is enough for the slowest loser to find nothing left to do.
/// Opens the writing connection. Switching a fresh file to WAL needs the file to itself, and
/// SQLite answers "database is locked" at once (no busy handler runs for it) while another
/// process is doing the same; that process is done within milliseconds, so wait and retry.
async fn connect_writer(options: &SqliteConnectOptions) -> StoreResult<SqliteConnection> {
    let mut tries = 0;
    loop {
        match options.connect().await {
            Err(sqlx::Error::Database(e)) if is_busy(&*e) && tries < 40 => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            }
            other => return Ok(other?),
        }
    }
}

fn is_busy(e: &dyn sqlx::error::DatabaseError) -> bool {
    matches!(e.code().as_deref(), Some("5" | "6"))
}

async fn migrate(writer: &mut SqliteConnection) -> StoreResult<()> {
    // `run` with `&mut SqliteConnection` makes this future not `Send` (sqlx's "Acquire is not
    // general enough"); `run_direct` is the same migration without the `Acquire` step.
    let mut result = MIGRATOR.run_direct(&mut *writer).await;
    for _ in 0..MIGRATOR.iter().count() {
        match &result {
            // A newer schema will not become older by trying again.
            Ok(()) | Err(sqlx::migrate::MigrateError::VersionMissing(_)) => break,
            Err(e) => tracing::debug!(error = %e, "migrating raced another process; again"),
        }
        // The other process's migration commits within milliseconds.
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        result = MIGRATOR.run_direct(&mut *writer).await;
    }
    Ok(result?)
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
    fn oauth(&self) -> &dyn super::oauth::OAuthStore {
        self
    }

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

    async fn set_grants(&self, id: &str, read: &Grants, grants: &Grants) -> StoreResult<Agent> {
        let sql = format!("UPDATE agents SET grants = ? WHERE id = ? RETURNING {AGENT_COLUMNS}");
        let query = sqlx::query_as::<_, AgentRow>(&sql)
            .bind(codec::to_json(grants)?)
            .bind(id);
        self.change_agent_if(id, query, None, Some(super::Read::Grants(read)))
            .await
    }

    async fn set_limits(&self, id: &str, read: &Limits, limits: &Limits) -> StoreResult<Agent> {
        let sql = format!("UPDATE agents SET limits = ? WHERE id = ? RETURNING {AGENT_COLUMNS}");
        let query = sqlx::query_as::<_, AgentRow>(&sql)
            .bind(codec::to_json(limits)?)
            .bind(id);
        self.change_agent_if(id, query, None, Some(super::Read::Limits(read)))
            .await
    }

    async fn add_rule(&self, agent_id: &str, name: &str, cedar: &str) -> StoreResult<StoredRule> {
        let mut tx = self.begin().await?;
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
            let mut tx = self.begin().await?;
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
        let mut tx = self.begin().await?;
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
        let mut tx = self.begin().await?;
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
        let mut tx = self.begin().await?;
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
        if let Some(audit) = &self.audit {
            return audit
                .append(self.owned_writer().await, entries.to_vec())
                .await;
        }
        // In memory, on the writer's connection. The immediate transaction holds SQLite's write
        // lock, so the head cannot move under us, even from another process. Each statement is
        // a round trip to the connection's thread and back (two thread wake-ups), so the batch
        // takes two, not five (issue 16): `BEGIN` with the head's read, then the rows, the
        // head's move and `COMMIT` together.
        let mut tx = self.opening().await;
        let head: (i64, String) = sqlx::query_as(BEGIN_AND_HEAD)
            .fetch_one(&mut tx.writer.conn)
            .await?;
        // On an error the transaction is still open; dropping `tx` rolls it back.
        let appended = append_after(&mut tx, head, entries, Then::Commit).await?;
        tx.committed();
        Ok(appended)
    }

    async fn append_audit_owned(&self, entries: Vec<NewAuditEntry>) -> StoreResult<()> {
        match &self.audit {
            Some(audit) if !entries.is_empty() => audit
                .append(self.owned_writer().await, entries)
                .await
                .map(drop),
            _ => self.append_audit(&entries).await.map(drop),
        }
    }

    async fn query_audit(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditEntry>> {
        let mut q =
            QueryBuilder::<Sqlite>::new(format!("SELECT {AUDIT_SELECT} FROM audit WHERE 1 = 1"));
        if let Some(v) = &filter.agent_id {
            // Its 16 bytes, or its text as entries written before issue 16 keep it.
            q.push(" AND agent_id IN (")
                .push_bind(content::id_value(content::AGENT_ID, v))
                .push(", ")
                .push_bind(v)
                .push(")");
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
            q.push(" AND request_id IN (")
                .push_bind(content::id_value(content::REQUEST_ID, v))
                .push(", ")
                .push_bind(v)
                .push(")");
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
            "SELECT {AUDIT_SELECT} FROM audit WHERE seq > ? ORDER BY seq LIMIT ?"
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
        let mut tx = self.begin().await?;
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
        hold: Option<&Hold<'_>>,
    ) -> StoreResult<Reserve> {
        let amount = amount_milli.max(0);
        let mut tx = self.begin().await?;
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
        if let Some(h) = hold.filter(|_| amount > 0) {
            sqlx::query(
                "INSERT INTO reservations (request_id, agent_id, instance, periods, reserved_milli, created_at) \
                 VALUES (?, ?, ?, ?, ?, ?)",
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
        let mut tx = self.begin().await?;
        if let Some(id) = request_id.filter(|_| reserved_milli > 0) {
            let held = sqlx::query("DELETE FROM reservations WHERE request_id = ?")
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
        Ok(true)
    }

    async fn release_spent(
        &self,
        agent_id: &str,
        periods: &[BudgetCheck],
        milli: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
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
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO instances (id, host, started_at, seen_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
        )
        .bind(&instance.id)
        .bind(&instance.host)
        .bind(codec::nanos(instance.started_at)?)
        .bind(codec::nanos(now)?)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn retire_instance(&self, id: &str) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM instances WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn dead_reservations(
        &self,
        alive_since: OffsetDateTime,
    ) -> StoreResult<Vec<HeldReservation>> {
        let alive_since = codec::nanos(alive_since)?;
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM instances WHERE seen_at < ?")
            .bind(alive_since)
            .execute(&mut *tx)
            .await?;
        let rows: Vec<HoldRow> = sqlx::query_as(
            "SELECT request_id, agent_id, instance, periods, reserved_milli FROM reservations \
             WHERE instance NOT IN (SELECT id FROM instances) ORDER BY created_at",
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.into_iter().map(HoldRow::into_held).collect()
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

    fn proofs(&self) -> &dyn super::proof::ProofStore {
        self
    }

    fn approvals(&self) -> &dyn super::approvals::ApprovalStore {
        self
    }

    async fn readiness(&self) -> StoreResult<SchemaState> {
        let found = {
            let mut r = self.reader().await?;
            let has_table: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master \
                 WHERE type = 'table' AND name = '_sqlx_migrations')",
            )
            .fetch_one(&mut *r)
            .await?;
            if has_table {
                sqlx::query_scalar(super::APPLIED_SCHEMA_VERSION)
                    .fetch_one(&mut *r)
                    .await?
            } else {
                None
            }
        };
        let state = SchemaState::of(found, &MIGRATOR);
        if state != SchemaState::Current {
            return Ok(state);
        }
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The durability and concurrency settings hold on every connection, readers included.
    #[tokio::test]
    async fn opens_in_wal_mode_with_full_sync_busy_timeout_and_foreign_keys() {
        let (_dir, _, store) = file_store().await;
        let mut r = store.reader().await.unwrap();
        let mut w = store.writer.lock().await;
        for conn in [&mut *r, &mut w.conn] {
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
            let autocheckpoint: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            assert_eq!(
                (mode.as_str(), sync, busy, fk, autocheckpoint),
                ("wal", 2, 5000, 1, 0)
            );
        }
        drop((r, w));
        assert_eq!(audit_pragmas(&store).await, ["wal", "2", "5000", "1", "0"]);
    }

    /// `synchronous=normal` holds on the audit thread's connection too, and so does the
    /// default `full` when the URL has other parameters.
    #[tokio::test]
    async fn the_audit_connection_syncs_as_the_url_says() {
        let dir = tempfile::tempdir().unwrap();
        for (query, sync) in [("?synchronous=normal", "1"), ("?mode=rwc", "2")] {
            let path = dir.path().join(format!("b{sync}.db"));
            let store = SqliteStore::open(&format!("sqlite://{}{query}", path.display()))
                .await
                .unwrap();
            assert_eq!(audit_pragmas(&store).await, ["wal", sync, "5000", "1", "0"]);
        }
    }

    async fn audit_pragmas(store: &SqliteStore) -> Vec<String> {
        let audit = store.audit.as_ref().expect("a file has an audit thread");
        let mut out = Vec::new();
        for pragma in [
            "journal_mode",
            "synchronous",
            "busy_timeout",
            "foreign_keys",
            "wal_autocheckpoint",
        ] {
            out.push(
                audit
                    .sql(&format!("PRAGMA {pragma}"))
                    .await
                    .unwrap_or_default(),
            );
        }
        out
    }

    fn entries(n: usize, size: usize) -> Vec<NewAuditEntry> {
        (0..n)
            .map(|i| NewAuditEntry {
                at: OffsetDateTime::UNIX_EPOCH,
                request_id: format!("req_{i}"),
                kind: "decision".into(),
                agent_id: None,
                action: None,
                decision: "denied".into(),
                content: "x".repeat(size),
            })
            .collect()
    }

    /// Since issue 16, SQLite keeps Bollard's ids as 16 bytes, leaves an entry's link to the
    /// one before to that entry's hash, and swaps the row's values out of the compressed
    /// content. Entries written before (text ids, a stored link, JSON text) still read, chain
    /// on to new ones and are found by the same filters.
    #[tokio::test]
    async fn entries_written_before_the_compact_form_read_chain_and_filter_with_new_ones() {
        let (_dir, _, store) = file_store().await;
        let agent = "agt_01a2410bf3c67339a702547ae06d563f";
        let entry = |i: u32, at: OffsetDateTime| {
            crate::audit::Record {
                agent_id: Some(agent.into()),
                agent_name: Some("Research Bot".into()),
                method: Some("POST".into()),
                path: Some("/api/v1/mixed_people/api_search".into()),
                action: Some("people.search".into()),
                decision: "allowed".into(),
                reason: "granted".into(),
                sentence: format!("Research Bot searched people, call {i}."),
                arguments: serde_json::json!({"page": i}),
                ..crate::audit::Record::blank(
                    "decision",
                    format!("req_01a2410c2d317730ac3ccffbca5711{i:02x}"),
                    at,
                    "rest",
                )
            }
            .to_entry()
        };
        // Two entries as an earlier build wrote them.
        let t0 = OffsetDateTime::from_unix_timestamp_nanos(1_796_387_646_769_267_873).unwrap();
        let mut prev = super::super::GENESIS_HASH.to_owned();
        for (seq, i) in [(1i64, 1u32), (2, 2)] {
            let e = entry(i, t0);
            let hash = super::super::chain_hash(&prev, seq, &e);
            let mut w = store.writer.lock().await;
            sqlx::query(
                "INSERT INTO audit (seq, at, request_id, kind, agent_id, action, decision, content, prev_hash, hash) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(seq)
            .bind(codec::nanos(e.at).unwrap())
            .bind(&e.request_id)
            .bind(&e.kind)
            .bind(&e.agent_id)
            .bind(&e.action)
            .bind(&e.decision)
            .bind(&e.content)
            .bind(&prev)
            .bind(&hash)
            .execute(&mut w.conn)
            .await
            .unwrap();
            sqlx::query("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1")
                .bind(seq)
                .bind(&hash)
                .execute(&mut w.conn)
                .await
                .unwrap();
            prev = hash;
        }
        let t1 = t0 + time::Duration::seconds(1);
        let new: Vec<_> = [3, 4].map(|i| entry(i, t1)).into();
        store.append_audit(&new).await.unwrap();

        let all = store.audit_range(0, 0).await.unwrap();
        assert_eq!(all.len(), 4);
        for (i, e) in all.iter().enumerate() {
            let want = entry(i as u32 + 1, if i < 2 { t0 } else { t1 });
            assert_eq!(
                (&e.request_id, &e.agent_id, &e.content),
                (&want.request_id, &want.agent_id, &want.content)
            );
            if i > 0 {
                assert_eq!(e.prev_hash, all[i - 1].hash, "entry {}'s link", e.seq);
            }
        }
        let report = crate::audit::verify::verify(&store).await.unwrap();
        assert!(report.ok, "{}", report.sentence());

        let by_agent = AuditFilter {
            agent_id: Some(agent.into()),
            ..Default::default()
        };
        assert_eq!(store.query_audit(&by_agent).await.unwrap().len(), 4);
        for e in [&all[0], &all[3]] {
            let by_request = AuditFilter {
                request_id: Some(e.request_id.clone()),
                ..Default::default()
            };
            let found = store.query_audit(&by_request).await.unwrap();
            assert_eq!(found.len(), 1);
            assert_eq!(found[0].seq, e.seq);
        }

        // What the file holds for the new entries: 16-byte ids, no link, a short content.
        let mut r = store.reader().await.unwrap();
        let raw: Vec<(String, i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT typeof(request_id), length(request_id), length(agent_id), length(prev_hash), \
             length(content) FROM audit ORDER BY seq",
        )
        .fetch_all(&mut *r)
        .await
        .unwrap();
        assert_eq!(&raw[0].0, "text");
        for (kind, request, agent, link, content) in &raw[2..] {
            assert_eq!(
                (kind.as_str(), *request, *agent, *link),
                ("blob", 16, 16, 0)
            );
            // 97 bytes when this was written, of a 470-byte record.
            assert!(*content < 120, "{content} bytes of content");
        }
    }

    /// A full disk fails the write, and the next write after space returns succeeds: the failed
    /// transaction never wedges the writer. Two ways SQLite fails a write: a statement that runs
    /// out of pages rolls back only itself (simulated by capping the file at its size), while a
    /// commit that cannot write its log rolls back the whole transaction, so the `ROLLBACK` that
    /// follows finds none (simulated by a trigger raising `ROLLBACK`). The second wedged sqlx's
    /// transaction count for good ("begin_with at non-zero transaction depth").
    ///
    /// Both ways an audit batch is written: by the audit thread (a file) and by the writer
    /// (in memory).
    #[tokio::test]
    async fn writes_work_again_after_a_full_disk_fails_a_commit() {
        let (_dir, _, file) = file_store().await;
        let memory = SqliteStore::open("sqlite::memory:").await.unwrap();
        for store in [file, memory] {
            full_disk_then_space(&store).await;
        }
    }

    async fn full_disk_then_space(store: &SqliteStore) {
        store.append_audit(&entries(1, 10)).await.unwrap();

        audit_sql(store, "PRAGMA max_page_count = 1").await;
        assert!(store.append_audit(&entries(200, 4000)).await.is_err());
        audit_sql(store, "PRAGMA max_page_count = 1073741823").await;
        store.append_audit(&entries(1, 10)).await.unwrap();

        audit_sql(
            store,
            "CREATE TEMP TRIGGER full BEFORE INSERT ON main.audit \
             BEGIN SELECT RAISE(ROLLBACK, 'database or disk is full'); END",
        )
        .await;
        assert!(store.append_audit(&entries(1, 10)).await.is_err());
        assert!(store.append_audit(&entries(1, 10)).await.is_err());
        audit_sql(store, "DROP TRIGGER temp.full").await;
        store.append_audit(&entries(1, 10)).await.unwrap();
        create_agent(store, "after").await;
        assert_eq!(store.audit_head().await.unwrap().0, 3);
    }

    /// A batch's rows and the head's move are one transaction, on the audit thread (prepared
    /// statements) and in memory (one statement list, issue 16): when the head cannot move,
    /// the rows inserted before it are rolled back with it, the head stays, and the next
    /// batch chains on from there.
    #[tokio::test]
    async fn a_batch_whose_head_cannot_move_leaves_no_row_behind() {
        let (_dir, _, file) = file_store().await;
        let memory = SqliteStore::open("sqlite::memory:").await.unwrap();
        for store in [file, memory] {
            stuck_head_then_free(&store).await;
        }
    }

    async fn stuck_head_then_free(store: &SqliteStore) {
        store.append_audit(&entries(3, 10)).await.unwrap();
        audit_sql(
            store,
            "CREATE TEMP TRIGGER stuck BEFORE UPDATE ON main.audit_head \
             BEGIN SELECT RAISE(ABORT, 'stuck'); END",
        )
        .await;
        assert!(store.append_audit(&entries(2, 10)).await.is_err());
        audit_sql(store, "DROP TRIGGER temp.stuck").await;
        async fn rows(store: &SqliteStore) -> usize {
            store
                .query_audit(&AuditFilter::default())
                .await
                .unwrap()
                .len()
        }
        assert_eq!(rows(store).await, 3);
        assert_eq!(store.audit_head().await.unwrap().0, 3);
        let next = store.append_audit(&entries(1, 10)).await.unwrap();
        assert_eq!(next.first().map(|e| e.seq), Some(4));
        assert_eq!(rows(store).await, 4);
    }

    /// A caller that stops waiting does not cut a batch in half: the audit thread ends the
    /// transaction (here, commits it) and only then gives the writer back, so a write that
    /// queued behind it neither fails on SQLite's lock nor lands in the middle.
    #[tokio::test]
    async fn an_append_given_up_on_is_still_written_whole_before_the_next_write() {
        let (_dir, _, store) = file_store().await;
        let given_up =
            tokio::time::timeout(Duration::ZERO, store.append_audit(&entries(500, 2000))).await;
        assert!(given_up.is_err(), "the batch was still being written");
        // Half a megabyte of records takes milliseconds to chain, pack and insert; the writer
        // is still the thread's.
        assert!(
            store.writer.try_lock().is_err(),
            "the writer was given back early"
        );
        create_agent(&store, "next").await;
        assert_eq!(store.audit_head().await.unwrap().0, 500);
        let next = store.append_audit(&entries(1, 10)).await.unwrap();
        assert_eq!(next.first().map(|e| e.seq), Some(501));
        let all = store.audit_range(0, 0).await.unwrap();
        assert_eq!(all.len(), 501);
        for pair in all.windows(2) {
            if let [before, after] = pair {
                assert_eq!(after.prev_hash, before.hash, "entry {}'s link", after.seq);
            }
        }
    }

    /// The most pages the log has held: its file is written from its beginning again after
    /// a checkpoint, never shortened, so its length is its high-water mark.
    fn log_high_water(dir: &tempfile::TempDir) -> u64 {
        let wal = std::fs::metadata(dir.path().join("bollard.db-wal")).map_or(0, |m| m.len());
        // A 32-byte header, then frames of a 24-byte header and a 4 KiB page.
        wal.saturating_sub(32) / (24 + 4096)
    }

    /// No commit checkpoints (issue 16: one batch in hundreds waited milliseconds for it), so
    /// the checkpointer must: under batches written back to back, with never a pause for a
    /// checkpoint beside them to finish, the log still starts again from its beginning
    /// instead of growing for as long as the writes go on (a checkpoint beside the writers
    /// alone let it reach 550 MB in ten seconds).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_log_is_checkpointed_and_started_again_under_steady_writes() {
        let (dir, _, store) = file_store().await;
        let batches = 12 * checkpoint::NUDGE_EVERY as usize;
        for _ in 0..batches {
            store.append_audit(&entries(2, 100)).await.unwrap();
        }
        let most = log_high_water(&dir);
        // Each batch adds at least its table's and its head's pages: the log of every batch
        // since the start would be twice `batches` pages or more. Started again each time,
        // it holds what `NUDGE_EVERY` batches and a checkpoint's time add (about 1,000 here).
        assert!(
            most < batches as u64,
            "the log reached {most} pages over {batches} batches"
        );
        assert_eq!(store.audit_head().await.unwrap().0, 2 * batches as i64);
    }

    /// Two processes opening one fresh file at once both come up with the full schema.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_stores_migrating_a_fresh_file_at_once_both_open() {
        for _ in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("bollard.db").display());
            let (a, b) = tokio::join!(
                tokio::spawn(SqliteStore::open_owned(url.clone())),
                tokio::spawn(SqliteStore::open_owned(url.clone()))
            );
            for store in [a.unwrap().unwrap(), b.unwrap().unwrap()] {
                assert_eq!(store.readiness().await.unwrap(), SchemaState::Current);
            }
        }
    }

    /// A schema migrated by a later release is named as such, not as a failed migration.
    #[tokio::test]
    async fn a_schema_from_a_newer_bollard_says_so() {
        let (_dir, url, store) = file_store().await;
        writer_sql(
            &store,
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
             execution_time) VALUES (99990101000000, 'from the future', 1, x'00', 0)",
        )
        .await;
        drop(store);
        let err = SqliteStore::open(&url).await.unwrap_err();
        assert!(
            matches!(err, StoreError::SchemaNewer(99990101000000)),
            "{err}"
        );
        assert!(err.to_string().contains("made by a newer Bollard"), "{err}");
    }

    impl SqliteStore {
        async fn open_owned(url: String) -> StoreResult<Self> {
            Self::open(&url).await
        }
    }

    /// A store in a fresh file (kept while the directory lives), and its URL.
    async fn file_store() -> (tempfile::TempDir, String, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("bollard.db").display());
        let store = SqliteStore::open(&url).await.unwrap();
        (dir, url, store)
    }

    /// A prune removes what it prunes from the file itself (`secure_delete`), not only from
    /// the table: SQLite otherwise leaves a deleted row's bytes in the page until it is
    /// reused, and the README promises the personal-data hashes go with the entries (found
    /// in review).
    #[tokio::test]
    async fn a_prune_leaves_no_pruned_bytes_in_the_file() {
        let (dir, _, store) = file_store().await;
        let id = |i: u32| format!("req_5ec2e7de1e7ed0000000000000abc{i:03x}");
        let raw = |i: u32| hex::decode(&id(i)[4..]).unwrap();
        let entries: Vec<NewAuditEntry> = (1..=4)
            .map(|i| NewAuditEntry {
                at: OffsetDateTime::UNIX_EPOCH,
                request_id: id(i),
                kind: "decision".into(),
                agent_id: None,
                action: Some("people.search".into()),
                decision: "allowed".into(),
                content: format!("{{\"email\": \"hmac:{i:016}\"}}"),
            })
            .collect();
        let written = store.append_audit(&entries).await.unwrap();
        let state = crate::store::proof::PruneState {
            cut: 2,
            last_hash: written[1].hash.clone(),
            frontier: vec![written[1].hash.clone()],
            pruned_at: OffsetDateTime::UNIX_EPOCH,
        };
        assert_eq!(store.proofs().prune(&state, &[]).await.unwrap(), 2);
        writer_sql(&store, "PRAGMA wal_checkpoint(TRUNCATE)").await;
        let mut bytes = std::fs::read(dir.path().join("bollard.db")).unwrap();
        bytes.extend(std::fs::read(dir.path().join("bollard.db-wal")).unwrap_or_default());
        let holds = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
        for i in [3, 4] {
            assert!(holds(&raw(i)), "entry {i} is kept, and the search finds it");
        }
        for i in [1, 2] {
            assert!(
                !holds(&raw(i)),
                "entry {i}'s request id is still in the file"
            );
        }
    }

    /// A write through the writer's connection (sqlx), beside the audit batches.
    async fn create_agent(store: &SqliteStore, name: &str) {
        store
            .create_agent(NewAgent {
                id: crate::store::new_agent_id(),
                name: name.into(),
                description: String::new(),
                key_hash: [7; 32],
                key_prefix: "bk_x".into(),
                expires_at: None,
            })
            .await
            .unwrap();
    }

    /// Runs `sql` on the connection that appends audit batches: the audit thread's, or the
    /// writer's for an in-memory database.
    async fn audit_sql(store: &SqliteStore, sql: &str) {
        match &store.audit {
            Some(audit) => drop(audit.sql(sql).await),
            None => writer_sql(store, sql).await,
        }
    }

    /// Runs `sql` on the writer's connection, after rolling back what a failed write left
    /// open, as every write does.
    async fn writer_sql(store: &SqliteStore, sql: &str) {
        let mut w = store.writer().await;
        sqlx::query(sql).execute(&mut w.conn).await.unwrap();
    }
}

/// Chains `entries` onto the log inside the caller's write transaction (which holds SQLite's
/// write lock, so the head cannot move), for `append_audit` and for changes that must be
/// recorded in the same transaction as they are made (an approval's expiry).
pub(super) async fn append_in(
    tx: &mut SqliteConnection,
    entries: &[NewAuditEntry],
) -> StoreResult<Vec<AuditEntry>> {
    let head: (i64, String) = sqlx::query_as(AUDIT_HEAD).fetch_one(&mut *tx).await?;
    append_after(tx, head, entries, Then::Stay).await
}

/// The log's head: its last sequence number and hash.
const AUDIT_HEAD: &str = "SELECT seq, hash FROM audit_head WHERE id = 1";
/// The same, first taking SQLite's write lock.
const BEGIN_AND_HEAD: &str = "BEGIN IMMEDIATE; SELECT seq, hash FROM audit_head WHERE id = 1";

/// How SQLite keeps an audit row's ids and hashes (issue 16), for both ways a batch is
/// written: ids Bollard made as their 16 bytes, the hash as its 32, and the link to the
/// previous entry left empty, as it is read from that entry's hash (`AUDIT_SELECT`), but for
/// the first entry's genesis link, which is kept.
pub(super) struct StoredKeys<'a> {
    pub(super) request_id: content::IdValue<'a>,
    pub(super) agent_id: Option<content::IdValue<'a>>,
    pub(super) prev_hash: Vec<u8>,
    pub(super) hash: Vec<u8>,
}

impl<'a> StoredKeys<'a> {
    pub(super) fn of(e: &'a AuditEntry) -> Self {
        Self {
            request_id: content::id_value(content::REQUEST_ID, &e.request_id),
            agent_id: e
                .agent_id
                .as_deref()
                .map(|a| content::id_value(content::AGENT_ID, a)),
            prev_hash: if e.seq > 1 {
                Vec::new()
            } else {
                content::hash_bytes(&e.prev_hash)
            },
            hash: content::hash_bytes(&e.hash),
        }
    }
}

/// What follows the rows in the same statement list: nothing, or the transaction's `COMMIT`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Then {
    Stay,
    Commit,
}

/// Chains `entries` after `head` (read in this transaction) and writes them and the new head
/// in one statement list (one round trip to SQLite's thread), committing too with
/// [`Then::Commit`]. A statement that fails stops the list, leaving the transaction open for
/// the caller to roll back. The `COMMIT` rides on the last insert, so `entries` must not be
/// empty then (`append_audit` starts no transaction for none).
async fn append_after(
    tx: &mut SqliteConnection,
    (head_seq, head_hash): (i64, String),
    entries: &[NewAuditEntry],
    then: Then,
) -> StoreResult<Vec<AuditEntry>> {
    let chained = codec::chain(head_seq, head_hash, entries.to_vec())?;
    let packed = content::packed_chunks(&chained, content::pack, AUDIT_ROWS_PER_INSERT)?;
    let mut chunks = chained.chunks(AUDIT_ROWS_PER_INSERT).zip(packed).peekable();
    while let Some((chunk, packed)) = chunks.next() {
        let mut insert =
            QueryBuilder::<Sqlite>::new(format!("INSERT INTO audit ({AUDIT_COLUMNS}) "));
        insert.push_values(chunk.iter().zip(packed), |mut b, ((e, at), content)| {
            let keys = StoredKeys::of(e);
            b.push_bind(e.seq)
                .push_bind(*at)
                .push_bind(keys.request_id)
                .push_bind(&e.kind)
                .push_bind(keys.agent_id)
                .push_bind(&e.action)
                .push_bind(&e.decision)
                .push_bind(content)
                .push_bind(keys.prev_hash)
                .push_bind(keys.hash);
        });
        if chunks.peek().is_none()
            && let Some((last, _)) = chunk.last()
        {
            // Arguments bind in order across the statements of one query.
            insert
                .push("; UPDATE audit_head SET seq = ")
                .push_bind(last.seq)
                .push(", hash = ")
                .push_bind(&last.hash)
                .push(" WHERE id = 1");
            if then == Then::Commit {
                insert.push("; COMMIT");
            }
        }
        insert.build().execute(&mut *tx).await?;
    }
    Ok(chained.into_iter().map(|(e, _)| e).collect())
}

mod approvals;
