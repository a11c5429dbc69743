//! The command line: one file per command group. Commands that change agents work on the
//! database directly, through the same `ops` functions the admin API calls; a running
//! gateway picks the change up within a second.

mod agent;
mod approvals;
mod audit;
mod bench;
mod check;
mod connect;
mod doctor;
pub mod log;
mod mcp;
mod proof;
mod run;
pub mod runtime;
mod usage;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{CommandFactory, Parser, Subcommand};

use crate::audit::change::Actor;
use crate::config::{Config, Overrides};
use crate::store::{self, Store};

#[derive(Debug, Parser)]
#[command(
    name = "bollard",
    version,
    about = "A gate between AI agents and Apollo.io: per-agent keys, Off/Read/Full access per action, every call recorded in plain English.",
    after_help = "Start with `bollard demo`: it runs a local Apollo sandbox and the gateway, and prints keys and curl lines to try."
)]
pub struct Cli {
    /// Configuration file (default: ./bollard.toml when present).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://... (overrides BOLLARD_DATABASE_URL).
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value = "pretty")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the Apollo sandbox and the gateway against it, with example agents, and print
    /// everything needed to try it.
    Demo(run::DemoArgs),
    /// Run the gateway.
    Serve(run::ServeArgs),
    /// Run the Apollo sandbox alone (a faithful local Apollo for tests and demos).
    Sandbox(run::SandboxArgs),
    /// Measure the gateway against the sandbox, and the sandbox alone, in one run.
    Bench(run::BenchArgs),
    /// Create, list, show, revoke agents and rotate their keys.
    #[command(subcommand)]
    Agent(agent::AgentCommand),
    /// Set an agent's access: CAP=LEVEL[:ask] (off|read|write|full) and ACTION_ID=on|off|ask.
    Grant(agent::GrantArgs),
    /// Add, list and remove an agent's Cedar rules.
    #[command(subcommand)]
    Rule(agent::RuleCommand),
    /// Set an agent's request limits and credit budgets.
    Limit(agent::LimitArgs),
    /// Dry run: would this call be allowed, why, and what could it cost? Nothing is sent.
    Check(check::CheckArgs),
    /// Read, verify and export the audit log.
    Audit(audit::AuditArgs),
    /// Bollard's credit ledger beside Apollo's own credit_usage_stats.
    Usage(usage::UsageArgs),
    /// Create, list and revoke admin keys for the admin API and console.
    #[command(name = "admin-key", subcommand)]
    AdminKey(agent::AdminKeyCommand),
    /// Serve MCP on stdio for a desktop assistant, forwarding to a gateway's /mcp with an
    /// agent key (the Apollo key stays on the gateway).
    Mcp(mcp::McpArgs),
    /// Check the configuration, the database, the Apollo key and its kind, the listeners'
    /// addresses and the webhook prefixes; one sentence a check, exit 1 if any fails.
    Doctor(doctor::DoctorArgs),
    /// Print what Bollard governs: every Apollo action with its capability, method, path,
    /// price and MCP tool, and the documented endpoints still outside the catalog.
    Catalog {
        /// The same JSON document as GET /admin/api/v1/catalog.
        #[arg(long)]
        json: bool,
    },
    /// Ask first: list the calls waiting for a person's approval, approve or deny them.
    #[command(subcommand)]
    Approvals(approvals::ApprovalsCommand),
    /// Make a single-use, expiring link that lets a person connect a hosted assistant (by
    /// OAuth) as this agent, without an admin key.
    #[command(name = "connect-link")]
    ConnectLink(connect::ConnectLinkArgs),
    /// Print a shell completion script, e.g. `bollard completions bash > /etc/bash_completion.d/bollard`.
    Completions {
        /// bash, zsh or fish (also elvish, powershell).
        shell: clap_complete::Shell,
    },
}

/// How a command ends when it does not succeed.
#[derive(Debug)]
pub enum Failure {
    /// A failed operation: a one-line reason on stderr, exit code 1.
    Message(String),
    /// Whoever read standard output closed it (`bollard audit | head`): the command stops
    /// quietly with success, as Unix tools do, instead of reporting a broken pipe.
    StdoutClosed,
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::Message(e.to_string())
    }
}

/// Writes to standard output. Rust ignores SIGPIPE, so a closed pipe is an error here, and
/// `println!` would panic on it; every command prints through this instead (`out!`).
pub fn write_out(args: std::fmt::Arguments<'_>) -> Result<(), Failure> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_fmt(args)
        .and_then(|()| stdout.flush())
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::BrokenPipe => Failure::StdoutClosed,
            _ => Failure::Message(format!("cannot write to standard output: {e}")),
        })
}

/// `print!` that ends the command quietly when standard output is closed.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::write_out(format_args!($($arg)*))?
    };
}

/// `println!` that ends the command quietly when standard output is closed.
macro_rules! outln {
    () => {
        $crate::cli::write_out(format_args!("\n"))?
    };
    ($($arg:tt)*) => {
        $crate::cli::write_out(format_args!("{}\n", format_args!($($arg)*)))?
    };
}
pub(crate) use {out, outln};

pub type CliResult = Result<(), Failure>;

/// Loads the configuration with the real environment; the one place that reads it.
pub fn load_config(cli: &Cli, overrides: Overrides) -> Result<Config, Failure> {
    let env: HashMap<String, String> = std::env::vars().collect();
    let cwd = std::env::current_dir()?;
    let overrides = Overrides {
        database_url: overrides.database_url.or_else(|| cli.database_url.clone()),
        ..overrides
    };
    Ok(Config::load(cli.config.as_deref(), &cwd, &env, &overrides)?)
}

/// The database a command reads or changes. It must exist: a command run against a mistyped
/// path made an empty database there, and `audit verify` then called its chain intact.
async fn open_store(cli: &Cli) -> Result<Arc<dyn Store>, Failure> {
    opened(cli, false).await
}

/// The database for a command that creates the first thing in it (`agent create`,
/// `admin-key create`), made if it is not there yet: the README's first steps.
async fn open_or_create_store(cli: &Cli) -> Result<Arc<dyn Store>, Failure> {
    opened(cli, true).await
}

async fn opened(cli: &Cli, create: bool) -> Result<Arc<dyn Store>, Failure> {
    let url = load_config(cli, Overrides::default())?.database_url;
    let store = if create {
        store::open(&url).await
    } else {
        store::open_existing(&url).await
    };
    store.map_err(|e| Failure::Message(format!("cannot open the database: {e}")))
}

/// Logging to stderr, filtered by `RUST_LOG` (default `info`). `batched` (for `serve`): lines
/// at `info` and below are written in batches, see [`log`].
pub fn init_tracing(format: LogFormat, batched: bool) {
    use std::io::IsTerminal;
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    // rmcp logs MCP session ids at INFO (and as a span field), and a session id with any key
    // of its agent is a session. Kept to warnings unless RUST_LOG names rmcp explicitly.
    let names_rmcp = std::env::var("RUST_LOG").is_ok_and(|v| v.contains("rmcp"));
    if !names_rmcp && let Ok(d) = "rmcp=warn".parse() {
        filter = filter.add_directive(d);
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(log::stderr(batched));
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        // Colour only for a person at a terminal: a log file or journald gets plain text.
        LogFormat::Pretty => builder
            .compact()
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
    };
}

/// A line for the operator on stderr: plain text, or with `--log-format json` a JSON log
/// event like every other line, so a log collector never meets a line it cannot parse.
pub fn say(format: LogFormat, message: &str) {
    match format {
        LogFormat::Pretty => eprintln!("{message}"),
        LogFormat::Json => tracing::info!(target: "bollard", "{message}"),
    }
}

fn print_catalog(json: bool) -> CliResult {
    if json {
        out!("{:#}\n", crate::governed::document());
    } else {
        for line in crate::governed::lines() {
            out!("{line}\n");
        }
    }
    Ok(())
}

fn completions(shell: clap_complete::Shell) -> CliResult {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "bollard", &mut script);
    out!("{}", String::from_utf8_lossy(&script));
    Ok(())
}

pub async fn run(cli: Cli) -> ExitCode {
    let result = match &cli.command {
        Command::Demo(a) => run::demo(&cli, a).await,
        Command::Serve(a) => run::serve(&cli, a).await,
        Command::Sandbox(a) => run::sandbox(a).await,
        Command::Bench(a) => run::bench(a).await,
        Command::Agent(c) => agent::agent(&cli, c).await,
        Command::Grant(a) => agent::grant(&cli, a).await,
        Command::Rule(c) => agent::rule(&cli, c).await,
        Command::Limit(a) => agent::limit(&cli, a).await,
        Command::Check(a) => check::check(&cli, a).await,
        Command::Audit(a) => audit::audit(&cli, a).await,
        Command::AdminKey(c) => agent::admin_key(&cli, c).await,
        Command::Usage(a) => usage::usage(&cli, a).await,
        Command::Mcp(a) => mcp::mcp(a).await,
        Command::Doctor(a) => doctor::doctor(&cli, a).await,
        Command::Approvals(c) => approvals::approvals(&cli, c).await,
        Command::Completions { shell } => completions(*shell),
        Command::Catalog { json } => print_catalog(*json),
        Command::ConnectLink(a) => connect::connect_link(&cli, a).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Message(msg)) => {
            match cli.log_format {
                LogFormat::Pretty => eprintln!("bollard: {msg}"),
                LogFormat::Json => tracing::error!(target: "bollard", "{msg}"),
            }
            ExitCode::from(1)
        }
        Err(Failure::StdoutClosed) => ExitCode::SUCCESS,
    }
}

/// Who the CLI's changes are recorded as: it holds the database itself and has no admin key,
/// so "the command line on HOST" is what can be said. The kernel's own record of the host name
/// (rather than `$HOSTNAME`, which a shell may not export), or "this machine" where there is
/// none.
pub(crate) fn command_line() -> Actor {
    Actor::command_line(&crate::recovery::host_name())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every argument a user must supply, and every flag of `limit`, says what it is in
    /// `--help`.
    #[test]
    fn positional_arguments_and_limit_flags_have_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let needs_help = arg.is_positional() || path == "bollard limit";
                if needs_help && arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {}", arg.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "bollard", &mut missing);
        missing.retain(|m| !m.ends_with(" help"));
        assert!(missing.is_empty(), "no help text: {missing:?}");
    }
}
