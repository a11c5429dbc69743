//! The audit log's own connection, on a thread of its own (issue 16).
//!
//! Every allowed call waits for its decision record to be committed before it is forwarded,
//! so the time an append takes is on every call's path. Through sqlx, an append was two round
//! trips to the connection's worker thread (`BEGIN` with the head's read, then the rows, the
//! head's move and `COMMIT`), each two thread wake-ups, with its SQL built and bound afresh for
//! every batch size. Measured with batches of one record, 40% of the time went to those
//! hand-offs. Here one thread owns a connection and runs the whole batch synchronously with
//! prepared statements (rusqlite, over the same SQLite library sqlx links): one hand-off to
//! the thread and one back.
//!
//! The thread writes only while its caller holds the store's writer mutex, and gives the
//! mutex back itself once its transaction has ended, so a write by sqlx's connection never
//! finds this one holding SQLite's write lock (see the store's module doc for why writers
//! queue on the mutex, not in SQLite's busy handler). A caller that stops waiting does not
//! cut a batch in half: the thread ends the transaction, committed or rolled back, either way.
//!
//! An in-memory database exists only inside sqlx's one connection, so it has no such thread
//! and appends through sqlx.

use std::path::Path;
use std::sync::{LazyLock, Weak, mpsc};
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{OpenFlags, ToSql};
use sqlx::sqlite::SqliteSynchronous;
use tokio::sync::{Mutex, OwnedMutexGuard, oneshot};

use super::codec::{self, AUDIT_COLUMNS};
use super::{AUDIT_HEAD, StoredKeys, Writer, checkpoint, content};
use crate::store::{AuditEntry, NewAuditEntry, StoreError, StoreResult};

/// The INSERT of one row, prepared once: binding a row to a cached statement costs less than
/// building and preparing a multi-row statement for each batch size.
static INSERT_ROW: LazyLock<String> = LazyLock::new(|| {
    format!("INSERT INTO audit ({AUDIT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")
});
const MOVE_HEAD: &str = "UPDATE audit_head SET seq = ?1, hash = ?2 WHERE id = 1";

/// The sending side of the thread. Dropping it (with the store) ends the thread once the
/// batch in hand, if any, is done.
#[derive(Debug)]
pub(super) struct AuditThread {
    jobs: mpsc::Sender<Job>,
}

enum Job {
    Append {
        entries: Vec<NewAuditEntry>,
        /// The store's writer, held until the transaction has ended.
        writer: OwnedMutexGuard<Writer>,
        done: oneshot::Sender<StoreResult<Vec<AuditEntry>>>,
    },
    /// Tests only: SQL on this connection (a temporary trigger, a page cap, a pragma's
    /// reading), answered with the first column of its first row, if it has one, as text.
    #[cfg(test)]
    Sql(String, oneshot::Sender<Option<String>>),
}

impl AuditThread {
    /// Opens a second connection to the database file at `path` (created and migrated by
    /// now) with the writer's settings, and starts its thread.
    pub(super) fn start(
        path: &Path,
        synchronous: SqliteSynchronous,
        busy_timeout: Duration,
        writer: Weak<Mutex<Writer>>,
    ) -> StoreResult<Self> {
        let conn = connect(path, synchronous)?;
        conn.busy_timeout(busy_timeout)?;
        // `journal_mode` is kept in the file (WAL since the writer opened it).
        conn.execute_batch("PRAGMA foreign_keys = ON;")?;
        let nudge = checkpoint::start(path, synchronous, writer)?;
        let (jobs, rx) = mpsc::channel();
        spawn("bollard-audit", move || run(conn, rx, nudge))?;
        Ok(Self { jobs })
    }

    /// Appends `entries` to the chain in one transaction on the thread, holding `writer`
    /// until it has ended.
    pub(super) async fn append(
        &self,
        writer: OwnedMutexGuard<Writer>,
        entries: Vec<NewAuditEntry>,
    ) -> StoreResult<Vec<AuditEntry>> {
        let (done, answer) = oneshot::channel();
        self.jobs
            .send(Job::Append {
                entries,
                writer,
                done,
            })
            .map_err(|_| StoreError::Database(sqlx::Error::WorkerCrashed))?;
        answer
            .await
            .map_err(|_| StoreError::Database(sqlx::Error::WorkerCrashed))?
    }

    #[cfg(test)]
    pub(super) async fn sql(&self, sql: &str) -> Option<String> {
        let (done, answer) = oneshot::channel();
        self.jobs.send(Job::Sql(sql.into(), done)).unwrap();
        answer.await.unwrap()
    }
}

/// A connection of the store's own threads (this one's and the checkpointer's) to the
/// database file at `path`: it syncs as the writer does, whichever way it is (Bollard's URL
/// gives only full or normal), and never checkpoints on commit (see `checkpoint`).
pub(super) fn connect(
    path: &Path,
    synchronous: SqliteSynchronous,
) -> StoreResult<rusqlite::Connection> {
    let conn = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let sync = match synchronous {
        SqliteSynchronous::Off => "OFF",
        SqliteSynchronous::Normal => "NORMAL",
        SqliteSynchronous::Full => "FULL",
        SqliteSynchronous::Extra => "EXTRA",
    };
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {sync}; PRAGMA wal_autocheckpoint = 0;"
    ))?;
    Ok(conn)
}

/// Starts one of the store's own threads; one that cannot start is the database failing.
pub(super) fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> StoreResult<()> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map(drop)
        .map_err(|e| StoreError::Database(sqlx::Error::Io(e)))
}

fn run(conn: rusqlite::Connection, jobs: mpsc::Receiver<Job>, mut nudge: checkpoint::Nudge) {
    while let Ok(job) = jobs.recv() {
        match job {
            Job::Append {
                entries,
                writer,
                done,
            } => {
                let result = append(&conn, entries);
                if !conn.is_autocommit() {
                    // A statement failed inside the transaction. Should SQLite have rolled it
                    // back already (a commit that found the disk full), there is none open and
                    // `is_autocommit` said so.
                    if let Err(e) = conn.execute_batch("ROLLBACK") {
                        tracing::debug!(error = %e, "rolling back a failed audit batch");
                    }
                }
                drop(writer);
                if result.is_ok() {
                    nudge.committed();
                }
                let _ = done.send(result);
            }
            #[cfg(test)]
            Job::Sql(sql, done) => {
                use rusqlite::types::Value;
                let mut statement = conn.prepare(&sql).unwrap();
                let first =
                    statement
                        .query_row([], |r| r.get::<_, Value>(0))
                        .ok()
                        .map(|v| match v {
                            Value::Integer(i) => i.to_string(),
                            Value::Text(t) => t,
                            other => format!("{other:?}"),
                        });
                let _ = done.send(first);
            }
        }
    }
}

/// One batch: the head read under SQLite's write lock (`BEGIN IMMEDIATE`, so not even another
/// process can move it), the rows chained on, the head moved, committed.
fn append(
    conn: &rusqlite::Connection,
    entries: Vec<NewAuditEntry>,
) -> StoreResult<Vec<AuditEntry>> {
    conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
    let (head_seq, head_hash) = conn
        .prepare_cached(AUDIT_HEAD)?
        .query_row([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
    let chained = codec::chain(head_seq, head_hash, entries)?;
    let packed = content::packed_chunks(&chained, content::pack, chained.len().max(1))?;
    let mut insert = conn.prepare_cached(&INSERT_ROW)?;
    for ((e, at), content) in chained.iter().zip(packed.into_iter().flatten()) {
        let keys = StoredKeys::of(e);
        insert.execute(rusqlite::params![
            e.seq,
            at,
            keys.request_id,
            e.kind,
            keys.agent_id,
            e.action,
            e.decision,
            content,
            keys.prev_hash,
            keys.hash,
        ])?;
    }
    if let Some((last, _)) = chained.last() {
        conn.prepare_cached(MOVE_HEAD)?
            .execute(rusqlite::params![last.seq, last.hash])?;
    }
    conn.prepare_cached("COMMIT")?.execute([])?;
    Ok(chained.into_iter().map(|(e, _)| e).collect())
}

impl ToSql for content::IdValue<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            content::IdValue::Bytes(b) => ValueRef::Blob(b),
            content::IdValue::Text(t) => ValueRef::Text(t.as_bytes()),
        }))
    }
}
