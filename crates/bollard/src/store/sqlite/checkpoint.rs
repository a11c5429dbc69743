//! Write-ahead log checkpoints off the write path (issue 16).
//!
//! SQLite's default is an automatic checkpoint by whichever connection commits the
//! transaction that takes the log past 1,000 pages: that commit copies the log's pages into
//! the database file and syncs both before it returns. On the audit connection that made one
//! batch in about 150 wait milliseconds for it, and every call in that batch with it
//! (p99 at one connection was ten times p90). On sqlx's writer connection it was worse: its
//! commit holds the store's writer mutex, so the audit thread queued behind the whole
//! checkpoint.
//!
//! So both writing connections turn automatic checkpoints off (`wal_autocheckpoint = 0`),
//! and this thread, on a connection of its own that writes nothing else, runs them: when the
//! audit thread says another [`NUDGE_EVERY`] batches were committed, and at least every
//! [`AT_MOST`] otherwise (which covers the other writer's commits). Each is two steps:
//! - **The bulk, beside the writers.** A `PASSIVE` checkpoint (the mode the automatic ones
//!   used) copies what it can without waiting for readers or writers and never takes the
//!   write lock (sqlite.org/c3ref/wal_checkpoint_v2.html), so batches go on being committed
//!   while it runs.
//! - **The rest, between writes.** The log starts again from its beginning only at a write
//!   that finds all of it copied. Under steady load frames are always being added while a
//!   checkpoint runs, so a checkpoint beside the writers alone never finishes one, and the
//!   log grew without end (550 MB in ten seconds of the benchmark; sqlite.org/wal.html calls
//!   this checkpoint starvation, under "Avoiding Excessively Large WAL Files"). So when
//!   frames were added meanwhile, a second `PASSIVE` copies them while holding the store's
//!   writer mutex: no write of this process comes between it and the next, which starts the
//!   log again. That wait is the few pages added since the bulk and their syncs, not the
//!   whole checkpoint.
//!
//! The connection syncs as the writer does: a checkpoint syncs the log before it copies and
//! the database file after (with `synchronous=normal` that is when a commit becomes durable).

use std::path::Path;
use std::sync::Weak;
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::time::Duration;

use sqlx::sqlite::SqliteSynchronous;
use tokio::sync::Mutex;

use super::{Writer, audit_thread};
use crate::store::StoreResult;

/// The audit thread nudges the checkpointer after this many committed batches: a batch writes
/// six or seven pages of the log (the table's last pages, one of each of its three indexes,
/// the head's), so about 1,000 pages, SQLite's own default.
pub(super) const NUDGE_EVERY: u32 = 150;

/// The longest the checkpointer waits between checkpoints without a nudge.
const AT_MOST: Duration = Duration::from_secs(1);

/// The audit thread's side: counts committed batches and nudges the checkpointer every
/// [`NUDGE_EVERY`]. Dropping it (with the audit thread) ends the checkpointer after one last
/// checkpoint.
#[derive(Debug)]
pub(super) struct Nudge {
    tx: SyncSender<()>,
    since: u32,
}

impl Nudge {
    /// One more batch committed. Never blocks: a nudge already waiting is enough.
    pub(super) fn committed(&mut self) {
        self.since += 1;
        if self.since >= NUDGE_EVERY {
            self.since = 0;
            // Full: a nudge is already waiting. Disconnected: the checkpointer is gone, and
            // the log is checkpointed when the last connection closes.
            let _ = self.tx.try_send(());
        }
    }
}

/// Opens the checkpointer's connection to the database file at `path`, syncing as the writer
/// does (`synchronous`), and starts its thread.
pub(super) fn start(
    path: &Path,
    synchronous: SqliteSynchronous,
    writer: Weak<Mutex<Writer>>,
) -> StoreResult<Nudge> {
    let conn = audit_thread::connect(path, synchronous)?;
    let (tx, rx) = mpsc::sync_channel(1);
    audit_thread::spawn("bollard-checkpoint", move || run(&conn, &rx, &writer))?;
    Ok(Nudge { tx, since: 0 })
}

fn run(conn: &rusqlite::Connection, nudges: &mpsc::Receiver<()>, writer: &Weak<Mutex<Writer>>) {
    // The log as the last checkpoint between writes left it: until a write changes it, there
    // is nothing to finish.
    let mut finished = None;
    loop {
        let last = match nudges.recv_timeout(AT_MOST) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => true,
        };
        // What it reports copied is of the log as it was when it began; writes went on.
        let bulk = checkpoint(conn);
        if bulk.is_some_and(|(log, _)| log > 0)
            && bulk != finished
            // Gone with the store: nothing of this process writes any more.
            && let Some(writer) = writer.upgrade()
        {
            // A std thread, never inside the runtime, so it may block on the mutex.
            let _no_writes = writer.blocking_lock();
            finished = checkpoint(conn);
        }
        if last {
            return;
        }
    }
}

/// One `PASSIVE` checkpoint: the log's size and how much of it is copied, in pages. A failure
/// is not the caller's: the pages stay in the log, which readers read as before, and the next
/// checkpoint copies them.
fn checkpoint(conn: &rusqlite::Connection) -> Option<(i64, i64)> {
    let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
    });
    match done {
        Ok(d) => Some(d),
        Err(e) => {
            tracing::debug!(error = %e, "a checkpoint failed; the next one retries");
            None
        }
    }
}
