//! `bollard agent`, `grant`, `rule`, `limit` and `admin-key`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use time::OffsetDateTime;

use super::{Cli, CliResult, Failure, open_store};
use crate::ops::{self, LimitsPatch};
use crate::store::Agent;

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Create an agent and print its key (shown this once).
    Create {
        name: String,
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
        agent: String,
        /// Print JSON, for programs.
        #[arg(long)]
        json: bool,
    },
    /// Revoke an agent: its key stops working at once.
    Revoke {
        agent: String,
        /// Print JSON, for programs.
        #[arg(long)]
        json: bool,
    },
    /// Give an agent a new key; the old one stops working.
    RotateKey {
        agent: String,
        /// Print JSON, for programs.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct GrantArgs {
    /// The agent's name or id.
    pub agent: String,
    /// CAP=LEVEL (people organizations contacts accounts sequences tasks deals users:
    /// off|read|write|full; reveal, waterfall: off|full) or ACTION_ID=on|off.
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
        agent: String,
        #[arg(long)]
        name: String,
        /// A file holding one Cedar policy ("-" for standard input).
        #[arg(long, value_name = "FILE")]
        cedar: PathBuf,
    },
    /// List an agent's rules.
    List {
        agent: String,
        /// Print JSON, for programs.
        #[arg(long)]
        json: bool,
    },
    /// Remove a rule by name.
    Remove { agent: String, name: String },
}

/// A limit value: a number, or "none" to clear it.
fn limit_value(s: &str) -> Result<Option<u64>, String> {
    if s.eq_ignore_ascii_case("none") || s.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    s.parse::<u64>()
        .map(Some)
        .map_err(|_| format!("'{s}' is not a whole number (or 'none' to remove the limit)"))
}

#[derive(Debug, Args)]
pub struct LimitArgs {
    pub agent: String,
    /// Apply --per-minute/--per-hour/--per-day to this one action (e.g. people.enrich)
    /// instead of to all the agent's calls.
    #[arg(long, value_name = "ACTION_ID")]
    pub action: Option<String>,
    #[arg(long, value_parser = limit_value, value_name = "N|none")]
    pub per_minute: Option<Option<u64>>,
    #[arg(long, value_parser = limit_value, value_name = "N|none")]
    pub per_hour: Option<Option<u64>>,
    #[arg(long, value_parser = limit_value, value_name = "N|none")]
    pub per_day: Option<Option<u64>>,
    #[arg(long, value_parser = limit_value, value_name = "N|none")]
    pub credits_per_day: Option<Option<u64>>,
    #[arg(long, value_parser = limit_value, value_name = "N|none")]
    pub credits_per_month: Option<Option<u64>>,
    /// The percentage of Apollo's team-wide rate window this agent may use.
    #[arg(long, value_parser = limit_value, value_name = "PERCENT|none")]
    pub team_share: Option<Option<u64>>,
    /// Print JSON, for programs.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum AdminKeyCommand {
    /// Create an admin key for the admin API and console (shown this once).
    Create {
        #[arg(long, default_value = "admin")]
        name: String,
    },
    /// List admin keys (never the keys themselves).
    List {
        /// Print JSON, for programs.
        #[arg(long)]
        json: bool,
    },
    /// Revoke an admin key by id or name: it stops working at once, console sessions included.
    Revoke { key: String },
}

fn print_json(v: &impl serde::Serialize) -> CliResult {
    println!("{}", serde_json::to_string_pretty(v)?);
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

pub fn describe(a: &Agent, now: OffsetDateTime) -> String {
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
    for line in a.grants.summary(&a.name) {
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
    let store = open_store(cli).await?;
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
            if *json {
                print_json(
                    &serde_json::json!({"agent": created.agent, "key": created.key.expose()}),
                )?;
            } else {
                println!(
                    "Created {} ({}).\nIts key, shown this once (store it now):\n\n  {}\n\nIt can do nothing yet; grant access with, for example:\n  bollard grant \"{}\" people=read contacts=full",
                    created.agent.name,
                    created.agent.id,
                    created.key.expose(),
                    created.agent.name
                );
            }
        }
        AgentCommand::List { json } => {
            let agents = store.list_agents().await?;
            if *json {
                print_json(&agents)?;
            } else if agents.is_empty() {
                println!("No agents yet. Create one with: bollard agent create \"Sales Agent\"");
            } else {
                for a in agents {
                    println!("{:<28} {:<38} {}", a.name, a.id, status(&a, now));
                }
            }
        }
        AgentCommand::Show { agent, json } => {
            let a = ops::find_agent(store, agent).await?;
            let usage = ops::agent_usage(store, &a, now).await?;
            if *json {
                print_json(&serde_json::json!({"agent": a, "usage": usage}))?;
            } else {
                print!("{}", describe(&a, now));
                println!("  use:");
                for line in usage.lines(now) {
                    println!("    - {line}");
                }
            }
        }
        AgentCommand::Revoke { agent, json } => {
            let a = ops::revoke_agent(store, &super::command_line(), agent, now).await?;
            if *json {
                print_json(&a)?;
            } else {
                println!("{} is revoked; its key no longer works.", a.name);
            }
        }
        AgentCommand::RotateKey { agent, json } => {
            let c = ops::rotate_key(store, &super::command_line(), agent).await?;
            if *json {
                print_json(&serde_json::json!({"agent": c.agent, "key": c.key.expose()}))?;
            } else {
                println!(
                    "{} has a new key; the old one no longer works. Shown this once:\n\n  {}",
                    c.agent.name,
                    c.key.expose()
                );
            }
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
    println!("{} can now:", agent.name);
    for line in agent.grants.summary(&agent.name) {
        println!("  - {line}");
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
                std::fs::read_to_string(cedar)
                    .map_err(|e| Failure(format!("cannot read {}: {e}", cedar.display())))?
            };
            let r = ops::add_rule(&*store, &super::command_line(), agent, name, &text).await?;
            println!("Added the rule '{}'. It applies to the next call.", r.name);
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
                println!("No rules.");
            }
            for r in rules {
                println!(
                    "# {} (added {})\n{}\n",
                    r.name,
                    r.created_at.date(),
                    r.cedar.trim()
                );
            }
        }
        RuleCommand::Remove { agent, name } => {
            ops::remove_rule(&*store, &super::command_line(), agent, name).await?;
            println!("Removed the rule '{name}'.");
        }
    }
    Ok(())
}

pub async fn limit(cli: &Cli, a: &LimitArgs) -> CliResult {
    let store = open_store(cli).await?;
    let share = match a.team_share {
        Some(Some(p)) => Some(Some(
            u8::try_from(p).map_err(|_| Failure("a team share is 1 to 100".into()))?,
        )),
        Some(None) => Some(None),
        None => None,
    };
    let (per_minute, per_hour, per_day) = (a.per_minute, a.per_hour, a.per_day);
    let patch = match &a.action {
        None => LimitsPatch {
            per_minute,
            per_hour,
            per_day,
            credits_per_day: a.credits_per_day,
            credits_per_month: a.credits_per_month,
            team_share_percent: share,
            ..LimitsPatch::default()
        },
        Some(action) => LimitsPatch {
            actions: vec![ops::ActionLimitsPatch {
                action: action.clone(),
                per_minute,
                per_hour,
                per_day,
            }],
            credits_per_day: a.credits_per_day,
            credits_per_month: a.credits_per_month,
            team_share_percent: share,
            ..LimitsPatch::default()
        },
    };
    let agent = ops::set_limits(&*store, &super::command_line(), &a.agent, patch).await?;
    if a.json {
        return print_json(&agent.limits);
    }
    print!("{}", describe(&agent, OffsetDateTime::now_utc()));
    Ok(())
}

pub async fn admin_key(cli: &Cli, cmd: &AdminKeyCommand) -> CliResult {
    let store = open_store(cli).await?;
    match cmd {
        AdminKeyCommand::Create { name } => {
            let (k, secret) = ops::create_admin_key(&*store, &super::command_line(), name).await?;
            println!(
                "Created the admin key '{}' ({}). Shown this once:\n\n  {}\n\nUse it as Authorization: Bearer <key> on the admin API, or to sign in to the console.",
                k.name,
                k.id,
                secret.expose()
            );
        }
        AdminKeyCommand::List { json } => {
            let keys = ops::list_admin_keys(&*store).await?;
            if *json {
                return print_json(&keys);
            }
            if keys.is_empty() {
                println!(
                    "No admin keys yet. Create one with: bollard admin-key create --name \"Your name\""
                );
            }
            for k in keys {
                let state = k
                    .revoked_at
                    .map_or("active".to_owned(), |r| format!("revoked {}", r.date()));
                println!("{:<24} {:<40} {}…  {state}", k.name, k.id, k.key_prefix);
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
            println!(
                "The admin key '{}' ({}) is revoked; it and its console sessions no longer work.",
                k.name, k.id
            );
        }
    }
    Ok(())
}
