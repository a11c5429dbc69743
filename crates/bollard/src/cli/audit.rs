//! `bollard audit`, `audit verify` and `audit export`.

use clap::{Args, Subcommand};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Cli, CliResult, Failure, open_store, outln};
use crate::audit::verify::verify;
use crate::ops;

/// Calls a page of `bollard audit` shows unless told.
const PAGE: u32 = 50;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: Option<AuditCommand>,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Newest first, at most this many calls.
    #[arg(long, default_value_t = PAGE)]
    pub limit: u32,
    /// Continue from the cursor a previous page printed.
    #[arg(long)]
    pub cursor: Option<i64>,
    /// Print JSON, for programs.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args, Clone, Default)]
pub struct FilterArgs {
    /// Calls, admin changes (who changed the configuration), or both.
    #[arg(long, value_parser = ["calls", "admin", "all"], default_value = "all")]
    pub kind: String,
    /// An agent's name or id.
    #[arg(long)]
    pub agent: Option<String>,
    /// An action id, e.g. people.enrich.
    #[arg(long)]
    pub action: Option<String>,
    /// allowed, denied, or pending (waiting for a person's approval).
    #[arg(long, value_parser = ["allowed", "denied", "pending"])]
    pub decision: Option<String>,
    /// A duration back from now (e.g. 2h, 7d) or an RFC 3339 time.
    #[arg(long, value_name = "DURATION|TIME")]
    pub since: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain; exits 1 and names the first bad entry if it is broken. With
    /// --checkpoints, also prove that today's log extends every signed checkpoint there.
    Verify {
        /// Print JSON, for programs.
        #[arg(long)]
        json: bool,
        /// A directory of signed checkpoints kept outside the database (checkpoint_dir).
        #[arg(long, value_name = "DIR", requires = "public_key")]
        checkpoints: Option<std::path::PathBuf>,
        /// The public key file `bollard audit keygen` wrote (FILE.pub).
        #[arg(long, value_name = "FILE", requires = "checkpoints")]
        public_key: Option<std::path::PathBuf>,
    },
    /// Every entry as JSON Lines on stdout, oldest first.
    Export {
        #[arg(long, value_name = "DURATION|TIME")]
        since: Option<String>,
    },
    /// Make an Ed25519 key for signing checkpoints; prints its public key.
    Keygen(super::proof::KeygenArgs),
    /// The signed checkpoints kept in the database.
    #[command(subcommand)]
    Checkpoints(super::proof::CheckpointsCommand),
    /// Print the inclusion proof of a call's entries against the latest checkpoint.
    Prove(super::proof::ProveArgs),
    /// Print the proof that one checkpoint's log is a prefix of a later one's (RFC 9162).
    Consistency(super::proof::ConsistencyArgs),
    /// Remove old entries and their personal-data hashes, keeping the log provable.
    Prune(super::proof::PruneArgs),
    /// List the calls that touched an email address, phone number or name (by its keyed
    /// hash; the lookup is recorded).
    Find(super::proof::FindArgs),
}

pub async fn audit(cli: &Cli, a: &AuditArgs) -> CliResult {
    if let Some(AuditCommand::Keygen(k)) = &a.command {
        return super::proof::keygen(k);
    }
    let store = open_store(cli).await?;
    let now = OffsetDateTime::now_utc();
    match &a.command {
        Some(AuditCommand::Keygen(k)) => super::proof::keygen(k),
        Some(AuditCommand::Checkpoints(c)) => super::proof::checkpoints(&*store, c).await,
        Some(AuditCommand::Prove(p)) => super::proof::prove(&*store, p).await,
        Some(AuditCommand::Prune(p)) => super::proof::prune(&*store, p).await,
        Some(AuditCommand::Consistency(c)) => super::proof::consistency(&*store, c).await,
        Some(AuditCommand::Find(f)) => super::proof::find(&*store, f).await,
        Some(AuditCommand::Verify {
            json,
            checkpoints: Some(dir),
            public_key: Some(key),
        }) => super::proof::verify_with(&*store, dir, key, *json).await,
        Some(AuditCommand::Verify { json, .. }) => {
            let report = verify(&*store).await?;
            if *json {
                outln!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                outln!("{}", report.sentence());
            }
            if report.ok {
                Ok(())
            } else {
                Err(Failure::Message("the audit chain is broken".into()))
            }
        }
        Some(AuditCommand::Export { since }) => {
            let since = since
                .as_deref()
                .map(|s| ops::query::parse_since(s, now))
                .transpose()?;
            let mut after = 0;
            loop {
                let page = store.audit_range(after, 1000).await?;
                let Some(last) = page.last() else { break };
                after = last.seq;
                for e in &page {
                    if since.is_some_and(|s| e.at < s) {
                        continue;
                    }
                    let content: serde_json::Value = serde_json::from_str(&e.content)?;
                    let line = serde_json::json!({
                        "seq": e.seq, "prev_hash": e.prev_hash, "hash": e.hash, "record": content
                    });
                    outln!("{line}");
                }
            }
            Ok(())
        }
        None => {
            let query = ops::query::AuditQuery {
                kind: Some(a.filter.kind.clone()),
                agent: a.filter.agent.clone(),
                action: a.filter.action.clone(),
                decision: a.filter.decision.clone(),
                since: a.filter.since.clone(),
                limit: Some(a.limit.to_string()),
                cursor: a.cursor.map(|c| c.to_string()),
            };
            let filter = ops::query::audit_filter(&*store, &query, now).await?;
            let (lines, next) = ops::audit_lines(&*store, &filter).await?;
            if a.json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"calls": lines, "next_cursor": next})
                    )?
                );
                return Ok(());
            }
            if lines.is_empty() {
                outln!(
                    "No calls recorded{}.",
                    if a.filter.agent.is_some()
                        || a.filter.action.is_some()
                        || a.filter.decision.is_some()
                        || a.filter.since.is_some()
                    {
                        " that match"
                    } else {
                        " yet"
                    }
                );
            }
            for l in &lines {
                let at = l
                    .record
                    .at
                    .replace_nanosecond(0)
                    .unwrap_or(l.record.at)
                    .format(&Rfc3339)
                    .unwrap_or_default();
                let tail = if l.outcome_missing {
                    " (no outcome recorded)"
                } else {
                    ""
                };
                outln!("{at}  {}{tail}", l.record.sentence);
            }
            if let Some(c) = next.filter(|_| lines.len() as u32 >= filter.limit) {
                outln!("\nMore: {}", next_page(cli, a, filter.since, c));
            }
            Ok(())
        }
    }
}

/// The command that prints the next page: this one's filters (a `--since` given as a duration
/// as the time it meant, so the pages meet), its limit, the database it read (unless the URL
/// is PostgreSQL's, which may hold a password) and the cursor. The hint dropped the filters,
/// so the next page listed everything (found in review).
fn next_page(cli: &Cli, a: &AuditArgs, since: Option<OffsetDateTime>, cursor: i64) -> String {
    let mut words: Vec<String> = vec!["bollard".into()];
    if let Some(config) = &cli.config {
        words.extend(["--config".into(), config.display().to_string()]);
    }
    if let Some(url) = cli
        .database_url
        .as_ref()
        .filter(|u| u.starts_with("sqlite:"))
    {
        words.extend(["--database-url".into(), url.clone()]);
    }
    words.push("audit".into());
    let f = &a.filter;
    if f.kind != "all" {
        words.extend(["--kind".into(), f.kind.clone()]);
    }
    for (flag, value) in [
        ("--agent", &f.agent),
        ("--action", &f.action),
        ("--decision", &f.decision),
    ] {
        if let Some(v) = value {
            words.extend([flag.into(), v.clone()]);
        }
    }
    if let Some(t) = since.and_then(|t| t.format(&Rfc3339).ok()) {
        words.extend(["--since".into(), t]);
    }
    if a.limit != PAGE {
        words.extend(["--limit".into(), a.limit.to_string()]);
    }
    words.extend(["--cursor".into(), cursor.to_string()]);
    words
        .iter()
        .map(|w| shlex::try_quote(w).map_or_else(|_| w.replace('\0', ""), |q| q.into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}
