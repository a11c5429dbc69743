//! `bollard audit`, `audit verify` and `audit export`.

use clap::{Args, Subcommand};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Cli, CliResult, Failure, open_store, outln};
use crate::audit::verify::verify;
use crate::ops;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: Option<AuditCommand>,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Newest first, at most this many calls.
    #[arg(long, default_value_t = 50)]
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
    /// Check the hash chain; exits 1 and names the first bad entry if it is broken.
    Verify {
        /// Print JSON, for programs.
        #[arg(long)]
        json: bool,
    },
    /// Every entry as JSON Lines on stdout, oldest first.
    Export {
        #[arg(long, value_name = "DURATION|TIME")]
        since: Option<String>,
    },
}

pub async fn audit(cli: &Cli, a: &AuditArgs) -> CliResult {
    let store = open_store(cli).await?;
    let now = OffsetDateTime::now_utc();
    match &a.command {
        Some(AuditCommand::Verify { json }) => {
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
                outln!("\nMore: bollard audit --cursor {c}");
            }
            Ok(())
        }
    }
}
