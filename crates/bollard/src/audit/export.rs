//! Streaming entries to where security teams look (`[audit.export]`): JSON lines to a file
//! that rotates, syslog over TCP (RFC 5424 messages with RFC 6587 octet-counting framing), and
//! an HTTP endpoint that takes batches. Each line carries the entry's `seq`, `hash` and
//! `prev_hash`, so a receiver can check it against the chain and the signed checkpoints.
//!
//! The exporter reads committed entries from the store (every half second), so it never
//! slows a call, and each sink keeps its own place: one that fails is retried from where it
//! stopped, with a growing pause, while the others go on. It starts at the log's head when
//! the process starts; entries written while no Bollard ran are in `bollard audit export
//! --since`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::store::{AuditEntry, Store};

/// `[audit.export]`.
#[derive(Debug, Clone, Default)]
pub struct ExportConfig {
    pub file: Option<PathBuf>,
    pub file_max_bytes: u64,
    pub file_keep: u32,
    pub syslog_tcp: Option<String>,
    pub http_url: Option<String>,
    pub http_batch: usize,
}

impl ExportConfig {
    pub fn is_empty(&self) -> bool {
        self.file.is_none() && self.syslog_tcp.is_none() && self.http_url.is_none()
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExportLabels {
    /// `file`, `syslog` or `http`.
    sink: &'static str,
}

/// Export health on `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct ExportMetrics {
    position: Family<ExportLabels, Gauge>,
    failures: Family<ExportLabels, Counter>,
}

impl ExportMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "bollard_audit_export_position",
            "The last audit entry (seq) an export sink took.",
            m.position.clone(),
        );
        registry.register(
            "bollard_audit_export_failures",
            "Attempts to hand entries to an export sink that failed (retried from the same entry).",
            m.failures.clone(),
        );
        m
    }
}

/// One line as every sink carries it.
pub fn line(e: &AuditEntry) -> Value {
    let record: Value = serde_json::from_str(&e.content).unwrap_or(Value::Null);
    json!({
        "seq": e.seq,
        "at": e.at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "hash": e.hash,
        "prev_hash": e.prev_hash,
        "record": record,
    })
}

/// RFC 5424 section 6: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG`, facility 13
/// ("log audit"), severity 6 (informational) or 5 (notice) for a denied call; framed by
/// octet counting (RFC 6587 section 3.4.1): the length, a space, the message.
pub fn syslog_frame(e: &AuditEntry, host: &str) -> Vec<u8> {
    let severity = if e.decision == "denied" { 5 } else { 6 };
    let at =
        e.at.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| "-".into());
    // HOSTNAME and APP-NAME are PRINTUSASCII without spaces (RFC 5424 section 6.2).
    let host: String = host
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(255)
        .collect();
    let host = if host.is_empty() {
        "-".to_owned()
    } else {
        host
    };
    let msg = format!(
        "<{}>1 {at} {host} bollard - audit - {}",
        13 * 8 + severity,
        line(e)
    );
    let mut out = format!("{} ", msg.len()).into_bytes();
    out.extend_from_slice(msg.as_bytes());
    out
}

#[derive(Debug)]
enum Kind {
    File {
        path: PathBuf,
        max_bytes: u64,
        keep: u32,
    },
    Syslog {
        addr: String,
        host: String,
        conn: Option<tokio::net::TcpStream>,
    },
    Http {
        url: String,
        batch: usize,
        client: reqwest::Client,
    },
}

#[derive(Debug)]
struct Sink {
    kind: Kind,
    /// The last entry this sink took.
    pos: i64,
    next_try: Instant,
    backoff: Duration,
}

impl Sink {
    fn label(&self) -> &'static str {
        match self.kind {
            Kind::File { .. } => "file",
            Kind::Syslog { .. } => "syslog",
            Kind::Http { .. } => "http",
        }
    }

    /// Hands over `entries` (all after `pos`); returns how many were taken.
    async fn send(&mut self, entries: &[AuditEntry]) -> Result<usize, String> {
        match &mut self.kind {
            Kind::File {
                path,
                max_bytes,
                keep,
            } => {
                let open = |path: PathBuf| async move {
                    tokio::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&path)
                        .await
                        .map_err(|e| format!("cannot open {}: {e}", path.display()))
                };
                let mut size = tokio::fs::metadata(&*path).await.map_or(0, |m| m.len());
                let mut f = open(path.clone()).await?;
                for e in entries {
                    let mut text = line(e).to_string();
                    text.push('\n');
                    // A file never grows past the limit, unless one line is larger.
                    if size > 0 && size + text.len() as u64 > *max_bytes {
                        f.flush().await.map_err(|e| e.to_string())?;
                        rotate(path, *keep).await?;
                        f = open(path.clone()).await?;
                        size = 0;
                    }
                    f.write_all(text.as_bytes())
                        .await
                        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                    size += text.len() as u64;
                }
                f.flush().await.map_err(|e| e.to_string())?;
                Ok(entries.len())
            }
            Kind::Syslog { addr, host, conn } => {
                let mut c = match conn.take() {
                    Some(c) => c,
                    None => tokio::time::timeout(
                        Duration::from_secs(5),
                        tokio::net::TcpStream::connect(addr.as_str()),
                    )
                    .await
                    .map_err(|_| format!("the syslog server at {addr} did not answer"))?
                    .map_err(|e| format!("cannot reach the syslog server at {addr}: {e}"))?,
                };
                let mut bytes = Vec::new();
                for e in entries {
                    bytes.extend(syslog_frame(e, host));
                }
                c.write_all(&bytes)
                    .await
                    .map_err(|e| format!("the syslog server at {addr} failed: {e}"))?;
                *conn = Some(c);
                Ok(entries.len())
            }
            Kind::Http { url, batch, client } => {
                let take = entries.len().min(*batch);
                let body: Vec<Value> = entries.iter().take(take).map(line).collect();
                let r = client
                    .post(url.as_str())
                    .json(&body)
                    .send()
                    .await
                    .map_err(|e| {
                        format!(
                            "the export endpoint at {} did not answer: {}",
                            shown_endpoint(url),
                            e.without_url()
                        )
                    })?;
                if r.status().is_success() {
                    Ok(take)
                } else {
                    Err(format!(
                        "the export endpoint at {} answered {}",
                        shown_endpoint(url),
                        r.status()
                    ))
                }
            }
        }
    }
}

/// An endpoint's URL as a log line or an error may show it: scheme, host and port only. A
/// SIEM's collector or a witness is often addressed with its token in the URL (userinfo, a
/// secret path, `?token=`), and these lines are logged at every failure (found in review).
pub(crate) fn shown_endpoint(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => {
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            let rest = if u.path() == "/" && u.query().is_none() {
                ""
            } else {
                "/…"
            };
            format!(
                "{}://{}{port}{rest}",
                u.scheme(),
                u.host_str().unwrap_or("")
            )
        }
        Err(_) => "(an address that is not a URL)".to_owned(),
    }
}

/// `file` becomes `file.1`, `file.1` becomes `file.2`, ..., and the oldest past `keep` goes.
async fn rotate(path: &std::path::Path, keep: u32) -> Result<(), String> {
    let numbered = |n: u32| {
        let mut p = path.as_os_str().to_owned();
        p.push(format!(".{n}"));
        PathBuf::from(p)
    };
    let _ = tokio::fs::remove_file(numbered(keep.max(1))).await;
    for n in (1..keep.max(1)).rev() {
        let _ = tokio::fs::rename(numbered(n), numbered(n + 1)).await;
    }
    tokio::fs::rename(path, numbered(1))
        .await
        .map_err(|e| format!("cannot rotate {}: {e}", path.display()))
}

/// Starts the exporter from the log's head; it stops when `stop` fires, after a last pass.
pub async fn start(
    store: Arc<dyn Store>,
    config: ExportConfig,
    metrics: ExportMetrics,
    stop: CancellationToken,
) -> anyhow::Result<JoinHandle<()>> {
    let (head, _) = store.audit_head().await?;
    let mut sinks = Vec::new();
    let mut add = |kind| {
        sinks.push(Sink {
            kind,
            pos: head,
            next_try: Instant::now(),
            backoff: Duration::from_millis(500),
        });
    };
    if let Some(path) = &config.file {
        add(Kind::File {
            path: path.clone(),
            max_bytes: config.file_max_bytes,
            keep: config.file_keep,
        });
    }
    if let Some(addr) = &config.syslog_tcp {
        add(Kind::Syslog {
            addr: addr.clone(),
            host: crate::recovery::host_name(),
            conn: None,
        });
    }
    if let Some(url) = &config.http_url {
        add(Kind::Http {
            url: url.clone(),
            batch: config.http_batch.max(1),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
        });
    }
    Ok(tokio::spawn(async move {
        loop {
            let stopping = tokio::select! {
                () = stop.cancelled() => true,
                () = tokio::time::sleep(Duration::from_millis(500)) => false,
            };
            pass(&*store, &mut sinks, &metrics, stopping).await;
            if stopping {
                break;
            }
        }
    }))
}

async fn pass(store: &dyn Store, sinks: &mut [Sink], metrics: &ExportMetrics, last: bool) {
    let now = Instant::now();
    for s in sinks.iter_mut().filter(|s| last || s.next_try <= now) {
        let label = ExportLabels { sink: s.label() };
        loop {
            let entries = match store.audit_range(s.pos, 1000).await {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(error = %e, "the audit export cannot read the log");
                    return;
                }
            };
            if entries.is_empty() {
                break;
            }
            match s.send(&entries).await {
                Ok(n) => {
                    if let Some(e) = entries.get(n.saturating_sub(1)).filter(|_| n > 0) {
                        s.pos = e.seq;
                    }
                    s.backoff = Duration::from_millis(500);
                    metrics.position.get_or_create(&label).set(s.pos);
                }
                Err(e) => {
                    tracing::warn!(sink = label.sink, error = %e, "an audit export sink failed; it will be retried");
                    metrics.failures.get_or_create(&label).inc();
                    s.next_try = Instant::now() + s.backoff;
                    s.backoff = (s.backoff * 2).min(Duration::from_secs(30));
                    break;
                }
            }
        }
    }
}

/// `[audit.export]` as the file has it.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileExport {
    file: Option<PathBuf>,
    file_max_bytes: Option<u64>,
    file_keep: Option<u32>,
    syslog_tcp: Option<String>,
    http_url: Option<String>,
    http_batch: Option<usize>,
}

impl FileExport {
    pub(crate) fn into_config(self, problems: &mut Vec<String>) -> Option<ExportConfig> {
        if let Some(u) = &self.http_url
            && !(u.starts_with("https://") || u.starts_with("http://"))
        {
            problems.push(format!("audit.export.http_url '{u}' is not an http(s) URL"));
        }
        if let Some(a) = &self.syslog_tcp
            && !a
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
        {
            problems.push(format!(
                "audit.export.syslog_tcp '{a}' is not HOST:PORT, like siem.example.com:6514"
            ));
        }
        if self.file_max_bytes == Some(0) || self.file_keep == Some(0) || self.http_batch == Some(0)
        {
            problems.push(
                "audit.export.file_max_bytes, file_keep and http_batch must be at least 1".into(),
            );
        }
        let c = ExportConfig {
            file: self.file,
            // 100 MiB a file and five old files: about half a million entries.
            file_max_bytes: self.file_max_bytes.unwrap_or(100 * 1024 * 1024),
            file_keep: self.file_keep.unwrap_or(5),
            syslog_tcp: self.syslog_tcp,
            http_url: self.http_url,
            http_batch: self.http_batch.unwrap_or(100),
        };
        (!c.is_empty()).then_some(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found in review: a failing SIEM endpoint or witness was logged with its whole URL, and
    /// reqwest's error repeats it, so a token in the userinfo, the path or the query went to
    /// the log at every failure.
    #[tokio::test]
    async fn a_failing_endpoint_is_named_without_its_credentials() {
        assert_eq!(
            shown_endpoint("https://user:pw@siem.example.com:8443/services/collector?token=abc"),
            "https://siem.example.com:8443/…"
        );
        assert_eq!(
            shown_endpoint("https://witness.example"),
            "https://witness.example"
        );
        assert_eq!(
            shown_endpoint("not a url s3cret"),
            "(an address that is not a URL)"
        );
        // Nothing listens on port 1: the request fails, and its sentence keeps no secret.
        let url = "http://collector:s3cret-pw@127.0.0.1:1/hec/s3cret-path?token=s3cret-q";
        let mut sink = Sink {
            kind: Kind::Http {
                url: url.into(),
                batch: 10,
                client: reqwest::Client::new(),
            },
            pos: 0,
            next_try: Instant::now(),
            backoff: Duration::from_millis(500),
        };
        let entry = AuditEntry {
            seq: 1,
            at: time::OffsetDateTime::UNIX_EPOCH,
            request_id: "req_1".into(),
            kind: "decision".into(),
            agent_id: None,
            action: None,
            decision: "allowed".into(),
            content: "{}".into(),
            prev_hash: String::new(),
            hash: String::new(),
        };
        let e = sink.send(&[entry]).await.unwrap_err();
        assert!(
            e.starts_with("the export endpoint at http://127.0.0.1:1/… did not answer"),
            "{e}"
        );
        assert!(!e.contains("s3cret"), "{e}");
    }

    #[test]
    fn export_settings_are_checked_and_default_sensibly() {
        let parse = |t: &str| {
            let f: FileExport = toml::from_str(t).unwrap();
            let mut problems = Vec::new();
            (f.into_config(&mut problems), problems)
        };
        let (c, p) = parse("file = \"/var/log/bollard/audit.jsonl\"");
        let c = c.unwrap();
        assert!(p.is_empty());
        assert_eq!(
            (c.file_max_bytes, c.file_keep, c.http_batch),
            (100 * 1024 * 1024, 5, 100)
        );
        assert!(parse("").0.is_none(), "nothing to export, no exporter");
        let (_, p) =
            parse("syslog_tcp = \"siem.example.com\"\nhttp_url = \"ftp://x\"\nhttp_batch = 0");
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(
            toml::from_str::<FileExport>("syslog = \"x:1\"").is_err(),
            "unknown keys are errors"
        );
    }

    #[test]
    fn a_syslog_frame_is_octet_counted_rfc_5424() {
        let e = AuditEntry {
            seq: 7,
            at: time::macros::datetime!(2026-12-03 10:00 UTC),
            request_id: "r".into(),
            kind: "decision".into(),
            agent_id: None,
            action: None,
            decision: "denied".into(),
            content: "{}".into(),
            prev_hash: "p".into(),
            hash: "h".into(),
        };
        let f = String::from_utf8(syslog_frame(&e, "host one")).unwrap();
        let (len, msg) = f.split_once(' ').unwrap();
        assert_eq!(len.parse::<usize>().unwrap(), msg.len());
        assert!(
            msg.starts_with("<109>1 2026-12-03T10:00:00Z hostone bollard - audit - {"),
            "{msg}"
        );
    }
}
