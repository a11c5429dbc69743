//! Signing checkpoints in the background and keeping them outside the database.
//!
//! Every `checkpoint_interval_seconds`, and once more at shutdown after the audit queue has
//! drained, the signer extends its copy of the tree's compact range with the entries written
//! since, and if the log grew signs a checkpoint (`tree::sign_next`), keeps it in the
//! database and hands it to every sink: a directory (one new file per checkpoint, never
//! rewritten) and a witness (an HTTP POST of the signed note). A sink that fails keeps its
//! checkpoints queued and is retried with a growing pause; it never holds a call up, because
//! the calls' guarantee is the database record written before they are forwarded. Sink health
//! is on `/metrics`.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::export::shown_endpoint;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use time::OffsetDateTime;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::checkpoint::{Checkpoint, CheckpointKey};
use super::merkle::Frontier;
use super::tree::{LogTree, leaf, sign_next};
use crate::store::Store;
use crate::store::proof::StoredCheckpoint;

/// `[audit] checkpoint_key_file`, `checkpoint_dir`, `checkpoint_interval_seconds`,
/// `witness_url`.
#[derive(Debug, Clone)]
pub struct CheckpointConfig {
    pub key: Arc<CheckpointKey>,
    pub dir: Option<PathBuf>,
    pub interval: Duration,
    pub witness_url: Option<String>,
}

/// Five minutes: a rewrite of the database can hide at most that much from a verifier, and
/// a year of checkpoints is about a hundred thousand small files.
const DEFAULT_INTERVAL: u64 = 300;
/// Checkpoints queued for a sink that is down; older ones are dropped past this (and the
/// gap is then visible to `verify --checkpoints` as a broken checkpoint chain).
const MAX_QUEUED: usize = 10_000;
const MAX_BACKOFF: Duration = Duration::from_secs(60);

impl CheckpointConfig {
    pub(crate) fn from_file(
        key_file: Option<PathBuf>,
        dir: Option<PathBuf>,
        interval: Option<u64>,
        witness_url: Option<String>,
        problems: &mut Vec<String>,
    ) -> Option<Self> {
        let Some(key_file) = key_file else {
            if dir.is_some() || witness_url.is_some() || interval.is_some() {
                problems.push(
                    "audit.checkpoint_dir, witness_url and checkpoint_interval_seconds need \
                     audit.checkpoint_key_file (make one with `bollard audit keygen --out FILE`)"
                        .into(),
                );
            }
            return None;
        };
        let key = match std::fs::read_to_string(&key_file) {
            Ok(text) => match CheckpointKey::parse(&text) {
                Ok(k) => k,
                Err(e) => {
                    problems.push(format!(
                        "audit.checkpoint_key_file {}: {e}",
                        key_file.display()
                    ));
                    return None;
                }
            },
            Err(e) => {
                problems.push(format!(
                    "cannot read audit.checkpoint_key_file {}: {e}",
                    key_file.display()
                ));
                return None;
            }
        };
        if interval == Some(0) {
            problems.push("audit.checkpoint_interval_seconds must be at least 1".into());
        }
        if let Some(u) = &witness_url
            && !(u.starts_with("https://") || u.starts_with("http://"))
        {
            problems.push(format!("audit.witness_url '{u}' is not an http(s) URL"));
        }
        Some(Self {
            key: Arc::new(key),
            dir,
            interval: Duration::from_secs(interval.unwrap_or(DEFAULT_INTERVAL).max(1)),
            witness_url,
        })
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SinkLabels {
    /// `directory` or `witness`.
    sink: &'static str,
}

/// The sinks' health on `/metrics`, and as a sentence for the console.
#[derive(Debug, Clone, Default)]
pub struct SinkMetrics {
    up: Family<SinkLabels, Gauge>,
    queued: Family<SinkLabels, Gauge>,
    failures: Family<SinkLabels, Counter>,
    delivered: Family<SinkLabels, Counter>,
    size: Gauge,
    health: Arc<std::sync::Mutex<Health>>,
}

#[derive(Debug, Default)]
struct Health {
    /// The newest checkpoint signed here: its size and when.
    latest: Option<(i64, OffsetDateTime)>,
    /// Per sink: whether its last try worked, and how many checkpoints wait for it.
    sinks: std::collections::BTreeMap<&'static str, (bool, usize)>,
}

impl SinkMetrics {
    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// One sentence on the checkpoints and their sinks; `None` when this process signs none.
    pub fn sentence(&self) -> Option<String> {
        let h = self.health();
        if h.latest.is_none() && h.sinks.is_empty() {
            return None;
        }
        let mut out = match h.latest {
            Some((size, at)) => format!(
                "The newest signed checkpoint covers the first {size} entries ({} UTC).",
                at.replace_nanosecond(0)
                    .unwrap_or(at)
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default()
            ),
            None => "No checkpoint has been signed since this process started.".to_owned(),
        };
        for (sink, (up, queued)) in &h.sinks {
            let name = match *sink {
                "directory" => "The checkpoint directory",
                _ => "The witness",
            };
            out.push(' ');
            out.push_str(&if *up {
                format!("{name} has every checkpoint.")
            } else {
                format!(
                    "{name} is failing: {queued} checkpoint{} wait{} and {} retried (see the log).",
                    if *queued == 1 { "" } else { "s" },
                    if *queued == 1 { "s" } else { "" },
                    if *queued == 1 { "is" } else { "are" }
                )
            });
        }
        Some(out)
    }
}

impl SinkMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "bollard_checkpoint_sink_up",
            "1 if the checkpoint sink took the last checkpoint offered to it, 0 if it failed.",
            m.up.clone(),
        );
        registry.register(
            "bollard_checkpoint_sink_queued",
            "Signed checkpoints waiting for a sink that failed (retried with a growing pause).",
            m.queued.clone(),
        );
        registry.register(
            "bollard_checkpoint_sink_failures",
            "Attempts to hand a checkpoint to a sink that failed.",
            m.failures.clone(),
        );
        registry.register(
            "bollard_checkpoint_sink_delivered",
            "Checkpoints a sink took.",
            m.delivered.clone(),
        );
        registry.register(
            "bollard_checkpoint_tree_size",
            "Entries covered by the newest signed checkpoint.",
            m.size.clone(),
        );
        m
    }
}

#[derive(Debug)]
enum Sink {
    Directory(PathBuf),
    Witness {
        url: String,
        client: reqwest::Client,
    },
}

impl Sink {
    fn label(&self) -> &'static str {
        match self {
            Sink::Directory(_) => "directory",
            Sink::Witness { .. } => "witness",
        }
    }

    async fn deliver(&self, cp: &StoredCheckpoint) -> Result<(), String> {
        match self {
            Sink::Directory(dir) => write_file(dir, cp).await,
            Sink::Witness { url, client } => {
                let r = client
                    .post(url)
                    .header("content-type", "text/plain; charset=utf-8")
                    .body(cp.note.clone())
                    .send()
                    .await
                    .map_err(|e| {
                        format!(
                            "the witness at {} did not answer: {}",
                            shown_endpoint(url),
                            e.without_url()
                        )
                    })?;
                if r.status().is_success() {
                    Ok(())
                } else {
                    Err(format!(
                        "the witness at {} answered {}",
                        shown_endpoint(url),
                        r.status()
                    ))
                }
            }
        }
    }
}

/// Writes `bytes` to a file that must not exist yet, and syncs it.
async fn write_new(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut f = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .await?;
    f.write_all(bytes).await?;
    f.sync_all().await
}

/// Why today's log does not extend the checkpoint `latest` (kept by this log's signers, so
/// read without its key, which may have been changed since): `None` when its entries still
/// hash to the root it signed, or when it is older than a prune (the consistency proofs
/// kept at the prune stand for it) or cannot be read (`audit verify` says so).
fn not_extended(log: &LogTree, latest: &StoredCheckpoint) -> Option<String> {
    let text = latest.note.rfind("\n\n").map(|i| &latest.note[..=i])?;
    let cp = Checkpoint::parse_text(text).ok()?;
    if cp.size < log.base.size {
        return None;
    }
    let size = cp.size;
    match log.tree().root(size) {
        Ok(root) if root == cp.root => None,
        Ok(_) => Some(format!(
            "the audit log no longer extends its latest signed checkpoint (of {size} entries): \
             entries up to {size} were changed, removed or reordered after it was signed"
        )),
        Err(_) => Some(format!(
            "the audit log holds fewer entries than its latest signed checkpoint ({size}): \
             entries were removed after it was signed"
        )),
    }
}

/// The file a checkpoint is kept in: sorted by name is sorted by size.
pub fn file_name(size: i64) -> String {
    format!("checkpoint-{size:020}.txt")
}

/// Writes the checkpoint to a new file. An existing file of that name with the same text is
/// a retry that had succeeded; one with other text is never overwritten.
///
/// The text goes to a hidden temporary file first, synced, and is then linked to its name,
/// which fails if the name is taken: a write cut short (a full disk, a crash) leaves at most
/// a hidden file, never a partial checkpoint under the real name, which every retry would
/// then have found "different" and the queue stalled behind (found in review).
async fn write_file(dir: &std::path::Path, cp: &StoredCheckpoint) -> Result<(), String> {
    let name = file_name(cp.size);
    let path = dir.join(&name);
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let tmp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let written = async {
        write_new(&tmp, cp.note.as_bytes()).await?;
        match tokio::fs::hard_link(&tmp, &path).await {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                // A file system without hard links (FAT, some network and bucket mounts):
                // the name is taken with `create_new` and written, as before.
                tracing::debug!(error = %e, "no hard link in the checkpoint directory; writing in place");
                write_new(&path, cp.note.as_bytes()).await
            }
            linked => linked,
        }
    }
    .await;
    let _ = tokio::fs::remove_file(&tmp).await;
    match written {
        Ok(()) => {
            // The new name is kept once the directory is on disk too.
            if let Ok(d) = tokio::fs::File::open(dir).await {
                let _ = d.sync_all().await;
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            match tokio::fs::read_to_string(&path).await {
                Ok(t) if t == cp.note => Ok(()),
                Ok(_) => Err(format!(
                    "{} already holds a different checkpoint; it is left as it is",
                    path.display()
                )),
                Err(e) => Err(format!("cannot read {}: {e}", path.display())),
            }
        }
        Err(e) => Err(format!("cannot write {}: {e}", path.display())),
    }
}

#[derive(Debug)]
struct Outbox {
    sink: Sink,
    queue: VecDeque<StoredCheckpoint>,
    next_try: Instant,
    backoff: Duration,
    /// Whether the last try worked (true before the first).
    ok: bool,
}

/// The background signer.
#[derive(Debug)]
pub struct Signer {
    store: Arc<dyn Store>,
    config: CheckpointConfig,
    frontier: Frontier,
    outboxes: Vec<Outbox>,
    metrics: SinkMetrics,
    /// The newest checkpoint handed to the sinks: every one kept after it, whichever
    /// replica signed it, goes to this process's sinks too.
    seen: i64,
}

impl Signer {
    pub async fn new(
        store: Arc<dyn Store>,
        config: CheckpointConfig,
        metrics: SinkMetrics,
    ) -> anyhow::Result<Self> {
        // The latest checkpoint is read before the log, so one another replica signs
        // meanwhile is not larger than the log read.
        let latest = store.proofs().latest_checkpoint().await?;
        let log = LogTree::load(&*store).await?;
        // The newest checkpoint is offered again below; first, today's log must still hash to
        // the root it signed. A log rewritten while no gateway ran (entries and head together,
        // which the chain alone cannot see) would otherwise get a genuine checkpoint over the
        // forgery, linked to the real one before it, which holders of later checkpoints alone
        // would take as the truth (found in review). The gateway does not start so: it says
        // where to look, as it does for a log with an entry missing.
        if let Some(problem) = latest.as_ref().and_then(|l| not_extended(&log, l)) {
            anyhow::bail!(
                "{problem}; no checkpoint is signed over it. `bollard audit verify --checkpoints \
                 DIR --public-key FILE` names the entries"
            );
        }
        let mut frontier = log.base.clone();
        log.leaves.iter().for_each(|l| frontier.push(*l));
        let mut sinks = Vec::new();
        if let Some(d) = &config.dir {
            sinks.push(Sink::Directory(d.clone()));
        }
        if let Some(url) = &config.witness_url {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?;
            sinks.push(Sink::Witness {
                url: url.clone(),
                client,
            });
        }
        // The newest checkpoint is offered again: a process that stopped between keeping
        // and delivering it left the sinks without it (the directory takes a repeat quietly).
        let seen = latest.as_ref().map_or(0, |l| l.size);
        let outboxes = sinks
            .into_iter()
            .map(|sink| Outbox {
                sink,
                queue: latest.iter().cloned().collect(),
                next_try: Instant::now(),
                backoff: Duration::from_secs(1),
                ok: true,
            })
            .collect();
        Ok(Self {
            store,
            config,
            frontier,
            outboxes,
            metrics,
            seen,
        })
    }

    /// Extends the tree with the entries written since, and signs a checkpoint if it grew.
    pub async fn sign(&mut self) -> anyhow::Result<Option<StoredCheckpoint>> {
        loop {
            let after = i64::try_from(self.frontier.size).unwrap_or(i64::MAX);
            let page = self.store.proofs().audit_hashes(after, 10_000).await?;
            if page.is_empty() {
                break;
            }
            for (seq, hash) in page {
                let want = i64::try_from(self.frontier.size).unwrap_or(i64::MAX) + 1;
                if seq != want {
                    anyhow::bail!("entry {want} is missing from the log; no checkpoint is signed");
                }
                self.frontier.push(leaf(&hash));
            }
        }
        let cp = sign_next(
            &*self.store,
            &self.config.key,
            self.frontier.size,
            self.frontier.root(),
            OffsetDateTime::now_utc(),
        )
        .await?;
        let kept = self
            .store
            .proofs()
            .checkpoints_after(self.seen, 1000)
            .await?;
        for k in &kept {
            self.seen = k.size;
            self.metrics.size.set(k.size);
            self.metrics.health().latest = Some((k.size, k.created_at));
            for o in &mut self.outboxes {
                if o.queue.len() >= MAX_QUEUED {
                    o.queue.pop_front();
                }
                o.queue.push_back(k.clone());
                o.next_try = Instant::now();
            }
        }
        Ok(cp)
    }

    /// Hands queued checkpoints to the sinks due for a try, oldest first.
    pub async fn deliver(&mut self) {
        let now = Instant::now();
        for o in &mut self.outboxes {
            let label = SinkLabels {
                sink: o.sink.label(),
            };
            if o.next_try > now {
                continue;
            }
            while let Some(cp) = o.queue.front() {
                match o.sink.deliver(cp).await {
                    Ok(()) => {
                        o.queue.pop_front();
                        o.backoff = Duration::from_secs(1);
                        o.ok = true;
                        self.metrics.up.get_or_create(&label).set(1);
                        self.metrics.delivered.get_or_create(&label).inc();
                    }
                    Err(e) => {
                        tracing::warn!(sink = label.sink, error = %e, "a checkpoint sink failed; it will be retried");
                        o.ok = false;
                        self.metrics.up.get_or_create(&label).set(0);
                        self.metrics.failures.get_or_create(&label).inc();
                        o.next_try = Instant::now() + o.backoff;
                        o.backoff = (o.backoff * 2).min(MAX_BACKOFF);
                        break;
                    }
                }
            }
            self.metrics
                .queued
                .get_or_create(&label)
                .set(i64::try_from(o.queue.len()).unwrap_or(i64::MAX));
            self.metrics
                .health()
                .sinks
                .insert(label.sink, (o.ok, o.queue.len()));
        }
    }

    async fn sign_logged(&mut self) {
        if let Err(e) = self.sign().await {
            tracing::error!(error = %e, "signing an audit checkpoint failed");
        }
    }
}

/// Starts the signer; it stops when `stop` fires, after a last checkpoint and a last try of
/// every sink (at most a few seconds).
pub async fn start(
    store: Arc<dyn Store>,
    config: CheckpointConfig,
    metrics: SinkMetrics,
    stop: CancellationToken,
) -> anyhow::Result<JoinHandle<()>> {
    let interval = config.interval;
    let mut signer = Signer::new(store, config, metrics).await?;
    Ok(tokio::spawn(async move {
        let mut next_sign = Instant::now() + interval;
        let tick = interval.min(Duration::from_millis(500));
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(tick) => {}
            }
            if Instant::now() >= next_sign {
                signer.sign_logged().await;
                next_sign = Instant::now() + interval;
            }
            signer.deliver().await;
        }
        signer.sign_logged().await;
        for o in &mut signer.outboxes {
            o.next_try = Instant::now();
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), signer.deliver()).await;
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(
        key: Option<PathBuf>,
        dir: Option<&str>,
        every: Option<u64>,
        witness: Option<&str>,
    ) -> (Option<CheckpointConfig>, Vec<String>) {
        let mut problems = Vec::new();
        let c = CheckpointConfig::from_file(
            key,
            dir.map(PathBuf::from),
            every,
            witness.map(str::to_owned),
            &mut problems,
        );
        (c, problems)
    }

    /// A checkpoint file is complete or absent under its name: written beside it and linked
    /// into place, so a retry of the same note succeeds, another note is never written over
    /// it, and nothing is left behind but the checkpoint.
    #[tokio::test]
    async fn a_checkpoint_file_appears_whole_and_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let cp = |note: &str| StoredCheckpoint {
            size: 7,
            note: note.into(),
            created_at: OffsetDateTime::UNIX_EPOCH,
        };
        write_file(dir.path(), &cp("the note\n")).await.unwrap();
        write_file(dir.path(), &cp("the note\n"))
            .await
            .expect("a retry");
        let e = write_file(dir.path(), &cp("another\n")).await.unwrap_err();
        assert!(e.contains("already holds a different checkpoint"), "{e}");
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec![file_name(7)]);
        assert_eq!(
            std::fs::read_to_string(dir.path().join(file_name(7))).unwrap(),
            "the note\n"
        );
    }

    #[test]
    fn checkpoint_settings_need_a_readable_key_and_say_what_is_wrong() {
        let folder = tempfile::tempdir().unwrap();
        let key = folder.path().join("k");
        std::fs::write(
            &key,
            CheckpointKey::generate("b/audit").unwrap().to_file_text(),
        )
        .unwrap();

        let (c, p) = load(Some(key.clone()), Some("/tmp/cps"), None, None);
        let c = c.unwrap();
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(c.interval, Duration::from_secs(300));
        assert_eq!(c.key.name(), "b/audit");

        let (c, p) = load(None, None, None, None);
        assert!(c.is_none() && p.is_empty(), "off unless asked for");
        let (_, p) = load(None, Some("/tmp/cps"), None, None);
        assert!(p[0].contains("need audit.checkpoint_key_file"), "{p:?}");
        let (_, p) = load(Some(folder.path().join("missing")), None, None, None);
        assert!(
            p[0].starts_with("cannot read audit.checkpoint_key_file"),
            "{p:?}"
        );
        let not_a_key = folder.path().join("nak");
        std::fs::write(&not_a_key, "hello").unwrap();
        let (_, p) = load(Some(not_a_key), None, None, None);
        assert!(p[0].contains("not a checkpoint signing key"), "{p:?}");
        let (_, p) = load(Some(key), None, Some(0), Some("ftp://w"));
        assert_eq!(p.len(), 2, "{p:?}");
    }
}
