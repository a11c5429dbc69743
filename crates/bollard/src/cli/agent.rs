//! `bollard agent`, `grant`, `rule`, `limit` and `admin-key`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use time::OffsetDateTime;

use super::{Cli, CliResult, Failure, open_or_create_store, open_store, out, outln};
use crate::ops::{self, LimitsPatch};
use crate::store::Agent;

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Create an agent and print its key (shown this once).
    Create {
        /// The agent's name, as sentences and the console show it (e.g. "Sales Agent").
        name: String,
        /// What the agent is for, in a sentence.
        #[arg(long, default_value = "")]
        description: String,
        /// Let the key expire, e.g. 30d, 12h.
        #[arg(long, value_name = "DURATION")]
        expires_in: Option<String>,
        /// Print JSON, for programs.
        #[arg(long)]
        json: bool,
    },
    /// List agents.
    List {
        /// Print JSON, for programs.
        #[arg(long)]
        json: bool,
    },
    /// Show an agent: its access in plain English, limits and use.
    Show {
        /// The agent's name or id.
        agent: String,
        /// Print JSON, for programs.
        #[arg(long)]
        json: bool,
    },
    /// Revoke an agent: its key stops working at once.
    Revoke {
        /// The agent's name or id.
        agent: String,
        /// Print JSON, for programs.
        #[arg(long)]
        json: bool,
    },
    /// Give an agent a new key; the old one stops working.
    RotateKey {
        /// The agent's name or id.
        agent: String,
        /// Print JSON, for programs.
        #[arg(long)]
        json: bool,
    },
    /// Rename an agent, change its description, or move or remove its key's expiry (an
    /// expired agent's key works again once its expiry is moved past now).
    #[command(group = clap::ArgGroup::new("change").required(true).multiple(true))]
    Update {
        /// The agent's name or id.
        agent: String,
        /// A new name.
        #[arg(long, group = "change")]
        name: Option<String>,
        /// A new description, in a sentence.
        #[arg(long, group = "change")]
        description: Option<String>,
        /// Let the key expire this long from now, e.g. 30d, 12h.
        #[arg(
            long,
            value_name = "DURATION",
            group = "change",
            conflicts_with = "no_expiry"
        )]
        expires_in: Option<String>,
        /// Let the key never expire.
        #[arg(long, group = "change")]
        no_expiry: bool,
        /// Print JSON, for programs.
        #[arg(long)]
        json: bool,
    },
    /// List the hosted assistants connected by OAuth as this agent.
    Connections {
        /// The agent's name or id.
        agent: String,
        /// Print JSON, for programs.
        #[arg(long)]
        json: bool,
    },
    /// End one connection: its tokens stop working.
    Disconnect {
        /// The agent's name or id.
        agent: String,
        /// The connection's id (con_...) or name.
        connection: String,
        /// Print JSON, for programs.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct GrantArgs {
    /// The agent's name or id.
    pub agent: String,
    /// CAP=LEVEL (people, organizations or companies, contacts, accounts, sequences, tasks,
    /// deals, users or teammates: off|read|write|full; reveal, waterfall: off|full) or
    /// ACTION_ID=on|off|default. Ask first: LEVEL:ask (sequences=full:ask), ACTION_ID=ask or
    /// reveal=full:ask, and a person approves each such call.
    #[arg(required = true)]
    pub assignments: Vec<String>,
    /// Print JSON, for programs.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum RuleCommand {
    /// Add a Cedar rule, usually a `forbid`, e.g. forbid(principal, action, resource) when { context.per_page > 25 };
    Add {
        /// The agent's name or id.
        agent: String,
        /// The rule's name: 1 to 64 letters, digits, '-' or '_' (e.g. only-q4).
        #[arg(long)]
        name: String,
        /// A file holding one Cedar policy ("-" for standard input).
        #[arg(long, value_name = "FILE")]
        cedar: PathBuf,
    },
    /// List an agent's rules.
    List {
        /// The agent's name or id.
        agent: String,
        /// Print JSON, for programs.
        #[arg(long)]
        json: bool,
    },
    /// Remove a rule by name.
    Remove {
        /// The agent's name or id.
        agent: String,
        /// The rule's name.
        name: String,
    },
}

/// One `limit` flag's value: a number sets the limit, `none` removes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitValue {
    Set(u64),
    None,
}

impl LimitValue {
    /// As the patch wants it: `Some(n)` sets, `None` clears.
    fn patch(self) -> Option<u64> {
        match self {
            LimitValue::Set(n) => Some(n),
            LimitValue::None => None,
        }
    }
}

/// Parses a number, or `none` (also `off`) to remove the limit. A parser that returns the
/// flag's own type: clap cannot tell `Option<Option<u64>>` from an optional flag value.
fn limit_value(s: &str) -> Result<LimitValue, String> {
    if s.eq_ignore_ascii_case("none") || s.eq_ignore_ascii_case("off") {
        return Ok(LimitValue::None);
    }
    s.parse::<u64>()
        .map(LimitValue::Set)
        .map_err(|_| format!("'{s}' is not a whole number (or 'none' to remove the limit)"))
}

#[derive(Debug, Args)]
#[command(
    after_help = "Each flag takes a number, or 'none' to remove that limit; flags not given keep their value.\nWith no credit budget (neither --credits-per-day nor --credits-per-month), actions that spend credits are refused.\n\nExamples:\n  bollard limit \"Sales Agent\" --per-minute 60 --credits-per-day 50\n  bollard limit \"Sales Agent\" --credits-per-day none\n  bollard limit \"Sales Agent\" --action people.enrich --per-hour 20"
)]
pub struct LimitArgs {
    /// The agent's name or id.
    pub agent: String,
    /// Apply --per-minute/--per-hour/--per-day to this one action (e.g. people.enrich)
    /// instead of to all the agent's calls.
    #[arg(long, value_name = "ACTION_ID")]
    pub action: Option<String>,
    /// Calls a minute ('none' removes the limit).
    #[arg(long, value_parser = limit_value, value_name = "N|none")]
    pub per_minute: Option<LimitValue>,
    /// Calls an hour ('none' removes the limit).
    #[arg(long, value_parser = limit_value, value_name = "N|none")]
    pub per_hour: Option<LimitValue>,
    /// Calls a day ('none' removes the limit).
    #[arg(long, value_parser = limit_value, value_name = "N|none")]
    pub per_day: Option<LimitValue>,
    /// Credits a day, UTC ('none' removes the budget).
    #[arg(long, value_parser = limit_value, value_name = "N|none")]
    pub credits_per_day: Option<LimitValue>,
    /// Credits a calendar month, UTC ('none' removes the budget).
    #[arg(long, value_parser = limit_value, value_name = "N|none")]
    pub credits_per_month: Option<LimitValue>,
    /// The percentage of Apollo's team-wide rate window this agent may use, 1 to 100
    /// ('none' removes the share).
    #[arg(long, value_parser = limit_value, value_name = "PERCENT|none")]
    pub team_share: Option<LimitValue>,
    /// Print JSON, for programs.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum AdminKeyCommand {
    /// Create an admin key for the admin API and console (shown this once).
    Create {
        /// Who holds the key; admin changes and the console show this name.
        #[arg(long, default_value = "admin")]
        name: String,
        /// Print JSON, for programs (the key is in it, shown this once).
        #[arg(long)]
        json: bool,
    },
    /// List admin keys (never the keys themselves).
    List {
        /// Print JSON, for programs.
        #[arg(long)]
        json: bool,
    },
    /// Revoke an admin key by id or name: it stops working at once, console sessions included.
    Revoke {
        /// The admin key's id or name.
        key: String,
    },
}

/// Prints what holds a key shown this once (`json` when asked for, else `text`). The key must
/// reach whoever ran the command: when standard output closed before it was printed (`bollard
/// agent create X | head -c 10`), the command fails with `lost`, saying what to do, instead of
/// ending quietly as a listing does (found in review: a rotated agent's old key was dead and
/// its new one lost, with exit 0).
pub(super) fn show_once(json: Option<serde_json::Value>, text: String, lost: String) -> CliResult {
    let shown = match json {
        Some(v) => print_json(&v),
        None => super::write_out(format_args!("{text}\n")),
    };
    match shown {
        Err(super::Failure::StdoutClosed) => Err(super::Failure::Message(lost)),
        other => other,
    }
}

/// Refuses, before anything is made, to show `what` (a key, a link), shown only once, where
/// nobody can read it: standard output sent to /dev/null, or closed before the command started
/// (`>&-`, which Rust's runtime quietly points at /dev/null), where every write succeeds and
/// it would be lost with exit 0. A closed pipe is caught as it is printed (`show_once`).
pub(super) fn secret_can_be_shown(what: &str) -> CliResult {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let null = |m: &std::fs::Metadata, n: &std::fs::Metadata| {
            m.file_type().is_char_device() && m.rdev() == n.rdev()
        };
        if let (Ok(out), Ok(dev_null)) = (
            std::fs::metadata("/proc/self/fd/1").or_else(|_| std::fs::metadata("/dev/stdout")),
            std::fs::metadata("/dev/null"),
        ) && null(&out, &dev_null)
        {
            return Err(Failure::Message(format!(
                "standard output is /dev/null or closed, so {what}, which is shown only once, would be lost; nothing was changed. Run the command with its output to a terminal, a file or a pipe."
            )));
        }
    }
    Ok(())
}

fn print_json(v: &impl serde::Serialize) -> CliResult {
    outln!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn status(a: &Agent, now: OffsetDateTime) -> String {
    if let Some(r) = a.revoked_at {
        format!("revoked {}", r.date())
    } else if let Some(e) = a.expires_at {
        if e <= now {
            format!("expired {}", e.date())
        } else {
            format!("active, expires {}", e.date())
        }
    } else {
        "active".into()
    }
}

/// An agent in a few lines; `access` is `ops::access_summary`.
pub fn describe(a: &Agent, access: &[String], now: OffsetDateTime) -> String {
    let mut s = format!(
        "{}  ({})\n  key:     {}…  ({})\n  created: {}\n",
        a.name,
        a.id,
        a.key_prefix,
        status(a, now),
        a.created_at.date()
    );
    if !a.description.is_empty() {
        s.push_str(&format!("  about:   {}\n", a.description));
    }
    s.push_str("  access:\n");
    for line in access {
        s.push_str(&format!("    - {line}\n"));
    }
    let l = &a.limits;
    let fmt = |v: Option<u64>| v.map_or("no limit".to_owned(), |n| n.to_string());
    s.push_str(&format!(
        "  limits:  {} a minute, {} an hour, {} a day\n  credits: {} a day, {} a month{}\n",
        fmt(l.per_minute),
        fmt(l.per_hour),
        fmt(l.per_day),
        l.credits_per_day
            .map_or("no budget".to_owned(), |n| n.to_string()),
        l.credits_per_month
            .map_or("no budget".to_owned(), |n| n.to_string()),
        if l.credits_per_day.is_none() && l.credits_per_month.is_none() {
            " (actions that spend credits are refused)"
        } else {
            ""
        }
    ));
    if let Some(p) = l.team_share_percent {
        s.push_str(&format!("  share:   {p}% of Apollo's team rate window\n"));
    }
    s
}

pub async fn agent(cli: &Cli, cmd: &AgentCommand) -> CliResult {
    let store = match cmd {
        AgentCommand::Create { .. } => {
            secret_can_be_shown("the key")?;
            open_or_create_store(cli).await?
        }
        AgentCommand::RotateKey { .. } => {
            secret_can_be_shown("the key")?;
            open_store(cli).await?
        }
        _ => open_store(cli).await?,
    };
    let store = &*store;
    let now = OffsetDateTime::now_utc();
    match cmd {
        AgentCommand::Create {
            name,
            description,
            expires_in,
            json,
        } => {
            let expires = expires_in.as_deref().map(ops::parse_duration).transpose()?;
            let created = ops::create_agent(
                store,
                &super::command_line(),
                name,
                description,
                expires,
                now,
            )
            .await?;
            show_once(
                json.then(
                    || serde_json::json!({"agent": created.agent, "key": created.key.expose()}),
                ),
                format!(
                    "Created {} ({}).\nIts key, shown this once (store it now):\n\n  {}\n\nIt can do nothing yet; grant access with, for example:\n  bollard grant \"{}\" people=read contacts=full",
                    created.agent.name,
                    created.agent.id,
                    created.key.expose(),
                    created.agent.name
                ),
                format!(
                    "{} was created, but standard output closed before its key was printed, so nobody has the key: give it a new one with `bollard agent rotate-key {}`.",
                    created.agent.name, created.agent.id
                ),
            )?;
        }
        AgentCommand::List { json } => {
            let agents = store.list_agents().await?;
            if *json {
                print_json(&agents)?;
            } else if agents.is_empty() {
                outln!("No agents yet. Create one with: bollard agent create \"Sales Agent\"");
            } else {
                for a in agents {
                    outln!("{:<28} {:<38} {}", a.name, a.id, status(&a, now));
                }
            }
        }
        AgentCommand::Show { agent, json } => {
            let a = ops::find_agent(store, agent).await?;
            let usage = ops::agent_usage(store, &a, now).await?;
            let access = ops::agent_summary(store, &a).await?;
            if *json {
                let connections = store.oauth().list_connections(Some(&a.id)).await?;
                print_json(
                    &serde_json::json!({"agent": a, "usage": usage, "summary": access, "connections": connections}),
                )?;
            } else {
                out!("{}", describe(&a, &access, now));
                outln!("  use:");
                for line in usage.lines(now) {
                    outln!("    - {line}");
                }
                let connected = super::connect::show_lines(store, &a.id).await?;
                if !connected.is_empty() {
                    outln!("  connected assistants (OAuth):");
                    for line in connected {
                        outln!("  {line}");
                    }
                }
            }
        }
        AgentCommand::Revoke { agent, json } => {
            let a = ops::revoke_agent(store, &super::command_line(), agent, now).await?;
            if *json {
                print_json(&a)?;
            } else {
                outln!("{} is revoked; its key no longer works.", a.name);
            }
        }
        AgentCommand::Update {
            agent,
            name,
            description,
            expires_in,
            no_expiry,
            json,
        } => {
            let expires_at = match (expires_in, no_expiry) {
                (Some(d), _) => Some(Some(now + ops::parse_duration(d)?)),
                (None, true) => Some(None),
                (None, false) => None,
            };
            let patch = crate::store::AgentPatch {
                name: name.clone(),
                description: description.clone(),
                expires_at,
            };
            let a = ops::update_agent(store, &super::command_line(), agent, patch, now).await?;
            if *json {
                print_json(&a)?;
            } else {
                let access = ops::agent_summary(store, &a).await?;
                out!("{}", describe(&a, &access, now));
            }
        }
        AgentCommand::Connections { agent, json } => {
            super::connect::connections(store, agent, *json).await?;
        }
        AgentCommand::Disconnect {
            agent,
            connection,
            json,
        } => super::connect::disconnect(store, agent, connection, *json).await?,
        AgentCommand::RotateKey { agent, json } => {
            let c = ops::rotate_key(store, &super::command_line(), agent, now).await?;
            show_once(
                json.then(|| serde_json::json!({"agent": c.agent, "key": c.key.expose()})),
                format!(
                    "{} has a new key; the old one no longer works. Shown this once:\n\n  {}",
                    c.agent.name,
                    c.key.expose()
                ),
                format!(
                    "{} has a new key and the old one no longer works, but standard output closed before the new key was printed, so nobody has it: run `bollard agent rotate-key {}` again.",
                    c.agent.name, c.agent.id
                ),
            )?;
        }
    }
    Ok(())
}

pub async fn grant(cli: &Cli, a: &GrantArgs) -> CliResult {
    let store = open_store(cli).await?;
    let agent = ops::grant(&*store, &super::command_line(), &a.agent, &a.assignments).await?;
    if a.json {
        return print_json(&agent.grants);
    }
    outln!("{} can now:", agent.name);
    for line in ops::agent_summary(&*store, &agent).await? {
        outln!("  - {line}");
    }
    Ok(())
}

pub async fn rule(cli: &Cli, cmd: &RuleCommand) -> CliResult {
    let store = open_store(cli).await?;
    match cmd {
        RuleCommand::Add { agent, name, cedar } => {
            let text = if cedar.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(cedar).map_err(|e| {
                    Failure::Message(format!("cannot read {}: {e}", cedar.display()))
                })?
            };
            let r = ops::add_rule(&*store, &super::command_line(), agent, name, &text).await?;
            outln!("Added the rule '{}'. It applies to the next call.", r.name);
            for w in ops::rule_warnings(&*store, agent, &r.name).await? {
                eprintln!("Note: {w}");
            }
        }
        RuleCommand::List { agent, json } => {
            let rules = ops::list_rules(&*store, agent).await?;
            if *json {
                return print_json(&rules);
            }
            if rules.is_empty() {
                outln!("No rules.");
            }
            for r in rules {
                outln!(
                    "# {} (added {})\n{}\n",
                    r.name,
                    r.created_at.date(),
                    r.cedar.trim()
                );
            }
        }
        RuleCommand::Remove { agent, name } => {
            ops::remove_rule(&*store, &super::command_line(), agent, name).await?;
            outln!("Removed the rule '{name}'.");
        }
    }
    Ok(())
}

pub async fn limit(cli: &Cli, a: &LimitArgs) -> CliResult {
    let store = open_store(cli).await?;
    let share = match a.team_share.map(LimitValue::patch) {
        Some(Some(p)) => Some(Some(
            u8::try_from(p)
                .ok()
                .filter(|p| (1..=100).contains(p))
                .ok_or_else(|| Failure::Message("a team share is 1 to 100".into()))?,
        )),
        Some(None) => Some(None),
        None => None,
    };
    let patch_of = |v: Option<LimitValue>| v.map(LimitValue::patch);
    let (per_minute, per_hour, per_day) = (
        patch_of(a.per_minute),
        patch_of(a.per_hour),
        patch_of(a.per_day),
    );
    let budgets = LimitsPatch {
        credits_per_day: patch_of(a.credits_per_day),
        credits_per_month: patch_of(a.credits_per_month),
        team_share_percent: share,
        ..LimitsPatch::default()
    };
    let patch = match &a.action {
        None => LimitsPatch {
            per_minute,
            per_hour,
            per_day,
            ..budgets
        },
        Some(action) => LimitsPatch {
            actions: vec![ops::ActionLimitsPatch {
                action: action.clone(),
                per_minute,
                per_hour,
                per_day,
            }],
            ..budgets
        },
    };
    let agent = ops::set_limits(&*store, &super::command_line(), &a.agent, patch).await?;
    if a.json {
        return print_json(&agent.limits);
    }
    let access = ops::agent_summary(&*store, &agent).await?;
    out!("{}", describe(&agent, &access, OffsetDateTime::now_utc()));
    Ok(())
}

pub async fn admin_key(cli: &Cli, cmd: &AdminKeyCommand) -> CliResult {
    let store = match cmd {
        AdminKeyCommand::Create { .. } => {
            secret_can_be_shown("the key")?;
            open_or_create_store(cli).await?
        }
        _ => open_store(cli).await?,
    };
    match cmd {
        AdminKeyCommand::Create { name, json } => {
            let (k, secret) = ops::create_admin_key(&*store, &super::command_line(), name).await?;
            show_once(
                json.then(|| serde_json::json!({"admin_key": k, "key": secret.expose()})),
                format!(
                    "Created the admin key '{}' ({}). Shown this once:\n\n  {}\n\nUse it as Authorization: Bearer <key> on the admin API, or to sign in to the console.",
                    k.name,
                    k.id,
                    secret.expose()
                ),
                format!(
                    "The admin key '{}' ({}) was created, but standard output closed before it was printed, so nobody has it: revoke it with `bollard admin-key revoke {}` and create another.",
                    k.name, k.id, k.id
                ),
            )?;
        }
        AdminKeyCommand::List { json } => {
            let keys = ops::list_admin_keys(&*store).await?;
            if *json {
                return print_json(&keys);
            }
            if keys.is_empty() {
                outln!(
                    "No admin keys yet. Create one with: bollard admin-key create --name \"Your name\""
                );
            }
            for k in keys {
                let state = k
                    .revoked_at
                    .map_or("active".to_owned(), |r| format!("revoked {}", r.date()));
                outln!("{:<24} {:<40} {}…  {state}", k.name, k.id, k.key_prefix);
            }
        }
        AdminKeyCommand::Revoke { key } => {
            let k = ops::revoke_admin_key(
                &*store,
                &super::command_line(),
                key,
                OffsetDateTime::now_utc(),
            )
            .await?;
            outln!(
                "The admin key '{}' ({}) is revoked; it and its console sessions no longer work.",
                k.name,
                k.id
            );
        }
    }
    Ok(())
}
