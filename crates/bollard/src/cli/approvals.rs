//! `bollard approvals`: the requests of "ask first" calls, and approving or denying them
//! from the command line (recorded as "the command line on HOST", like every CLI change).

use clap::Subcommand;
use time::OffsetDateTime;

use super::{Cli, CliResult, Failure, open_store, outln};
use crate::approval::utc_time;
use crate::ops;
use crate::store::approvals::{Approval, ApprovalState};

#[derive(Debug, Subcommand)]
pub enum ApprovalsCommand {
    /// List requests, newest first: pending ones by default.
    List {
        /// Which requests: pending, approved, denied, used, expired or all.
        #[arg(long, default_value = "pending", value_name = "STATE")]
        state: String,
        /// The most requests to show.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print JSON, for programs.
        #[arg(long)]
        json: bool,
    },
    /// Show one request: what the call does, why it asks, its arguments (personal data hashed).
    Show {
        /// The request's id (apr_...).
        id: String,
        /// Show the arguments with personal data in clear, while the request waits. The reveal
        /// is recorded in the audit log under your name ("the command line on HOST").
        #[arg(long)]
        reveal: bool,
        /// Print JSON, for programs.
        #[arg(long)]
        json: bool,
    },
    /// Approve a pending request: the agent's next identical call runs, once.
    Approve {
        /// The request's id (apr_...), as the agent's refusal and `approvals list` show it.
        id: String,
        /// A note for the record (and the agent's sentence, should it be denied).
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
        /// Print JSON, for programs.
        #[arg(long)]
        json: bool,
    },
    /// Deny a pending request: the same call is refused until the request would have expired.
    Deny {
        /// The request's id (apr_...), as the agent's refusal and `approvals list` show it.
        id: String,
        /// A note for the record, which the agent reads in its refusal.
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
        /// Print JSON, for programs.
        #[arg(long)]
        json: bool,
    },
}

pub async fn approvals(cli: &Cli, cmd: &ApprovalsCommand) -> CliResult {
    let store = open_store(cli).await?;
    let now = OffsetDateTime::now_utc();
    match cmd {
        ApprovalsCommand::List { state, limit, json } => {
            ops::approvals::expire_due(&*store, now).await;
            let filter = (!state.eq_ignore_ascii_case("all")).then_some(state.as_str());
            let list = ops::approvals::list(&*store, filter, *limit).await?;
            if *json {
                outln!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(());
            }
            if list.is_empty() {
                outln!(
                    "No {} requests.",
                    filter.map_or("approval".to_owned(), |s| s.to_ascii_lowercase())
                );
                return Ok(());
            }
            for a in &list {
                for line in lines(a, now) {
                    outln!("{line}");
                }
            }
        }
        ApprovalsCommand::Show { id, reveal, json } => {
            let (a, clear) = if *reveal {
                let secret = store.installation_secret().await?;
                let sealer = crate::approval::seal::Sealer::new(&secret).ok_or_else(|| {
                    Failure::Message("the installation secret cannot key the seal".into())
                })?;
                let (a, clear) =
                    ops::approvals::reveal(&*store, &super::command_line(), id, &sealer, now)
                        .await?;
                (a, Some(clear))
            } else {
                ops::approvals::expire_due(&*store, now).await;
                (ops::approvals::get(&*store, id).await?, None)
            };
            if *json {
                let mut v = serde_json::to_value(&a)?;
                v["revealable"] = serde_json::Value::Bool(a.sealed_arguments.is_some());
                if let Some(c) = &clear {
                    v["arguments_revealed"] = c.clone();
                }
                outln!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(());
            }
            for line in lines(&a, now) {
                outln!("{line}");
            }
            match &clear {
                Some(c) => {
                    outln!("  Arguments, personal data revealed (this reveal is recorded):");
                    outln!("{}", indent(&serde_json::to_string_pretty(c)?));
                }
                None => {
                    outln!("  Arguments, personal data hashed as the audit log keeps them:");
                    outln!("{}", indent(&serde_json::to_string_pretty(&a.arguments)?));
                    if a.sealed_arguments.is_some() {
                        outln!(
                            "  To see the personal data in clear (recorded): bollard approvals show {} --reveal",
                            a.id
                        );
                    }
                }
            }
        }
        ApprovalsCommand::Approve { id, note, json }
        | ApprovalsCommand::Deny { id, note, json } => {
            let approve = matches!(cmd, ApprovalsCommand::Approve { .. });
            let a = ops::approvals::decide(
                &*store,
                &super::command_line(),
                id,
                approve,
                note.as_deref(),
                now,
            )
            .await?;
            if *json {
                outln!("{}", serde_json::to_string_pretty(&a)?);
                return Ok(());
            }
            if approve {
                outln!(
                    "Approved {}: {}'s next identical call to {} runs once, until {}.",
                    a.id,
                    a.agent_name,
                    a.sentence,
                    utc_time(a.expires_at, now)
                );
            } else {
                outln!(
                    "Denied {}: {}'s call to {} is refused until {}.",
                    a.id,
                    a.agent_name,
                    a.sentence,
                    utc_time(a.expires_at, now)
                );
            }
        }
    }
    Ok(())
}

/// A request in a few lines: who asks what, why, what it can spend, and where it stands.
pub fn lines(a: &Approval, now: OffsetDateTime) -> Vec<String> {
    let state = match a.state {
        ApprovalState::Pending => format!("pending, expires {}", utc_time(a.expires_at, now)),
        ApprovalState::Approved => format!(
            "approved by {}, usable until {}",
            a.decided_by.as_deref().unwrap_or("?"),
            utc_time(a.expires_at, now)
        ),
        ApprovalState::Denied => format!("denied by {}", a.decided_by.as_deref().unwrap_or("?")),
        ApprovalState::Used => format!(
            "approved by {}, used by the call {}",
            a.decided_by.as_deref().unwrap_or("?"),
            a.used_by.as_deref().unwrap_or("?")
        ),
        ApprovalState::Expired => format!("expired {}", utc_time(a.expires_at, now)),
    };
    let mut out = vec![
        format!("{}  {} ({state})", a.id, a.action),
        format!("  {} asks to {}.", a.agent_name, a.sentence),
        format!("  Why: {}.", a.why),
    ];
    if a.max_credits > 0 {
        out.push(format!("  Can spend up to {} credits.", a.max_credits));
    }
    if let Some(n) = &a.note {
        out.push(format!("  Note: {n}"));
    }
    if a.notify_state == "failed" {
        out.push(format!(
            "  The notification failed: {}.",
            a.notify_error.as_deref().unwrap_or("unknown error")
        ));
    }
    out
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
