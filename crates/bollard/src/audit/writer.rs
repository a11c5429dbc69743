//! The batch writer (group commit). Callers put records on a bounded queue; one task takes
//! everything waiting (up to `max_batch`), appends it to the chain in one transaction, and
//! then tells each caller. A caller that must not go on before its record is on disk waits
//! for that answer; a full queue makes callers wait (back-pressure), it never drops. On
//! shutdown the queue is closed to new records and drained.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Record;
use crate::metrics::Metrics;
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("the audit log is closed")]
    Closed,
    #[error("the audit log could not be written")]
    WriteFailed,
}

/// What a caller puts on the queue. Records travel boxed: a `Record` is several hundred
/// bytes, and every future that holds one (the caller's, the queue's send) would otherwise
/// carry, and move, a copy of its own (issue 16: `memmove` was 5% of a call's CPU).
enum Job {
    /// A record nobody waits for.
    Queued(Box<Record>),
    /// A record its caller waits for, and gets back, once it is on disk (`Err` if the write
    /// failed).
    Durable(Box<Record>, oneshot::Sender<Result<Box<Record>, ()>>),
    /// Answered once everything queued before it is written.
    Flush(oneshot::Sender<bool>),
}

impl Job {
    /// Whether someone waits for this job's answer.
    fn waited_for(&self) -> bool {
        !matches!(self, Job::Queued(_))
    }
}

/// Counters for `/metrics` and the benchmark: how many disk writes, carrying how many records.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub batches: AtomicU64,
    pub records: AtomicU64,
    pub failures: AtomicU64,
    /// Time spent in the store's append, in microseconds: with `batches`, the cost of a write.
    pub busy_micros: AtomicU64,
}

#[derive(Clone)]
pub struct AuditWriter {
    tx: mpsc::Sender<Job>,
    stats: Arc<WriterStats>,
    /// Every call's facts pass through here as records, so the writer feeds `/metrics`.
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for AuditWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditWriter")
            .field("stats", &self.stats)
            .finish()
    }
}

impl AuditWriter {
    /// Starts the writer task. It stops, after draining, when `shutdown` fires.
    pub fn start(
        store: Arc<dyn Store>,
        capacity: usize,
        max_batch: usize,
        shutdown: CancellationToken,
        metrics: Arc<Metrics>,
    ) -> (AuditWriter, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let stats = Arc::new(WriterStats::default());
        let task = tokio::spawn(run(
            store,
            rx,
            max_batch.max(1),
            shutdown,
            stats.clone(),
            metrics.clone(),
        ));
        (AuditWriter { tx, stats, metrics }, task)
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Records waiting for the writer now.
    pub fn queue_depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// The registry's text, as `/metrics` serves it.
    pub fn encode_metrics(&self) -> String {
        self.metrics.encode(self.queue_depth())
    }

    /// Writes the record and returns it once it is committed to the store (the gate goes on
    /// to make the call's outcome record of it, without a copy).
    pub async fn write_durable(&self, record: Box<Record>) -> Result<Box<Record>, AuditError> {
        let (done, wait) = oneshot::channel();
        // Observed by the writer once written (`commit`): a call whose record failed was
        // never made.
        self.tx
            .send(Job::Durable(record, done))
            .await
            .map_err(|_| AuditError::Closed)?;
        match wait.await {
            Ok(Ok(record)) => Ok(record),
            Ok(Err(())) => Err(AuditError::WriteFailed),
            Err(_) => Err(AuditError::Closed),
        }
    }

    /// Queues the record (waiting for room, never dropping it) without waiting for the disk.
    pub async fn write(&self, record: Box<Record>) -> Result<(), AuditError> {
        self.metrics.observe_record(&record);
        self.tx
            .send(Job::Queued(record))
            .await
            .map_err(|_| AuditError::Closed)
    }

    /// Returns once every record queued before this call is written (or failed).
    pub async fn flush(&self) -> Result<(), AuditError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Job::Flush(done))
            .await
            .map_err(|_| AuditError::Closed)?;
        wait.await.map_err(|_| AuditError::Closed).map(|_| ())
    }

    pub fn stats(&self) -> &WriterStats {
        &self.stats
    }
}

async fn run(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<Job>,
    max_batch: usize,
    shutdown: CancellationToken,
    stats: Arc<WriterStats>,
    metrics: Arc<Metrics>,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(max_batch);
    loop {
        let n = tokio::select! {
            // Drain what is queued before honouring shutdown.
            biased;
            n = rx.recv_many(&mut batch, max_batch) => n,
            () = shutdown.cancelled() => {
                rx.close();
                while rx.recv_many(&mut batch, max_batch).await > 0 {
                    commit(&*store, &mut batch, &stats, &metrics).await;
                }
                return;
            }
        };
        if n == 0 {
            return;
        }
        linger(&mut rx, &mut batch, max_batch).await;
        commit(&*store, &mut batch, &stats, &metrics).await;
    }
}

/// How long a batch that nobody waits for (outcomes only) waits for company.
const LINGER: std::time::Duration = std::time::Duration::from_millis(2);

/// A batch of outcomes alone waits up to [`LINGER`] for a record someone waits for (the next
/// call's decision, a flush), so that both share one transaction and one sync to disk:
/// one at a time, each call's outcome otherwise took a disk write of its own, which the next
/// call's decision then queued behind (issue 16). A batch with a waiter goes at once. The
/// outcomes are not more at risk than before: nobody was told they were written.
async fn linger(rx: &mut mpsc::Receiver<Job>, batch: &mut Vec<Job>, max_batch: usize) {
    let deadline = tokio::time::Instant::now() + LINGER;
    while batch.len() < max_batch && !batch.iter().any(Job::waited_for) {
        let room = max_batch - batch.len();
        match tokio::time::timeout_at(deadline, rx.recv_many(batch, room)).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

async fn commit(store: &dyn Store, batch: &mut Vec<Job>, stats: &WriterStats, metrics: &Metrics) {
    // A queued record is not needed once it is an entry, so its fields move; a durable one
    // goes back to its caller, so its entry is a copy. What waits for an answer is kept
    // aside; `batch` keeps its room for the next batch.
    let mut entries = Vec::with_capacity(batch.len());
    let mut waiting = Vec::new();
    for job in batch.drain(..) {
        match job {
            Job::Queued(record) => entries.push(record.into_entry()),
            Job::Durable(record, done) => {
                entries.push(record.to_entry());
                waiting.push(Job::Durable(record, done));
            }
            Job::Flush(done) => waiting.push(Job::Flush(done)),
        }
    }
    let n = entries.len();
    let started = std::time::Instant::now();
    let ok = if n == 0 {
        true
    } else {
        match store.append_audit_owned(entries).await {
            Ok(()) => {
                stats.batches.fetch_add(1, Ordering::Relaxed);
                stats.records.fetch_add(n as u64, Ordering::Relaxed);
                true
            }
            Err(e) => {
                stats.failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, records = n, "writing audit records failed");
                false
            }
        }
    };
    stats
        .busy_micros
        .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
    if n > 0 {
        metrics.observe_batch(n, ok);
    }
    for job in waiting {
        match job {
            // Became entries above; nobody waits for them.
            Job::Queued(_) => {}
            Job::Durable(record, done) => {
                // A durable record is observed here, once written; `write` observed the
                // others when they were queued.
                let answer = if ok {
                    metrics.observe_record(&record);
                    Ok(record)
                } else {
                    Err(())
                };
                let _ = done.send(answer);
            }
            Job::Flush(done) => {
                let _ = done.send(ok);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    fn record(i: usize) -> Box<Record> {
        Box::new(Record::blank(
            "decision",
            format!("req_{i}"),
            time::OffsetDateTime::UNIX_EPOCH,
            "rest",
        ))
    }

    /// One call at a time (issue 16): its outcome, which nobody waits for, waits for the next
    /// call's decision and shares its disk write; alone, it is still written within the
    /// linger.
    #[tokio::test]
    async fn an_outcome_shares_the_next_decisions_write_and_alone_is_written_soon() {
        let store = Arc::new(SqliteStore::open("sqlite::memory:").await.expect("store"));
        let (writer, _task) = AuditWriter::start(
            store.clone(),
            1000,
            100,
            CancellationToken::new(),
            Arc::new(Metrics::new()),
        );
        writer.write(record(1)).await.expect("queued");
        // Let the writer take the outcome alone before the decision comes.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert_eq!(writer.queue_depth(), 0);
        // The record comes back to its caller once written (the gate makes the outcome of it).
        let back = writer.write_durable(record(2)).await.expect("written");
        assert_eq!(back.request_id, "req_2");
        assert_eq!(store.audit_head().await.expect("head").0, 2);
        assert_eq!(writer.stats().batches.load(Ordering::Relaxed), 1);

        writer.write(record(3)).await.expect("queued");
        tokio::time::sleep(LINGER * 10).await;
        assert_eq!(store.audit_head().await.expect("head").0, 3);
        assert_eq!(writer.stats().batches.load(Ordering::Relaxed), 2);
    }

    // A current-thread runtime: the writer task does not run until this test awaits it, so
    // all the records are still queued when shutdown fires.
    #[tokio::test]
    async fn shutdown_writes_every_record_still_queued() {
        let store = Arc::new(SqliteStore::open("sqlite::memory:").await.expect("store"));
        let stop = CancellationToken::new();
        let (writer, task) = AuditWriter::start(
            store.clone(),
            1000,
            1,
            stop.clone(),
            Arc::new(Metrics::new()),
        );
        for i in 0..100 {
            writer.write(record(i)).await.expect("queued");
        }
        stop.cancel();
        task.await.expect("the writer stops");
        assert_eq!(store.audit_head().await.expect("head").0, 100);
        assert!(matches!(
            writer.write(record(0)).await,
            Err(AuditError::Closed)
        ));
    }
}
