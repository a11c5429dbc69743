//! `bollard check`: the dry run. Same reading, decision and validation as a real call;
//! nothing is counted, recorded or sent to Apollo.

use clap::Args;

use super::{Cli, CliResult, load_config, open_store, outln};
use crate::config::Overrides;
use crate::gate::{DryRun, GateSettings};
use crate::limits::TeamWindows;
use crate::ops;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The agent's name or id.
    pub agent: String,
    /// GET, POST, PUT or PATCH.
    pub method: String,
    /// The Apollo path, with its query string if any, e.g. /api/v1/people/match?reveal_phone_number=true
    pub path: String,
    /// The JSON body the agent would send.
    #[arg(long, value_name = "JSON")]
    pub body: Option<String>,
    /// Print JSON, for programs.
    #[arg(long)]
    pub json: bool,
}

pub async fn check(cli: &Cli, a: &CheckArgs) -> CliResult {
    let config = load_config(cli, Overrides::default())?;
    let store = open_store(cli).await?;
    let live = ops::query::live_agent(&*store, &a.agent).await?;
    let settings = GateSettings::from_config(&config);
    let dry = DryRun {
        settings: &settings,
        store: &*store,
        // Apollo's team windows are learned by a running gateway from Apollo's answers; the
        // command line has seen none.
        team: &TeamWindows::default(),
        now: time::OffsetDateTime::now_utc(),
    };
    let report = dry
        .check(&live, &a.method, &a.path, a.body.as_deref())
        .await;
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        outln!(
            "{}: {}\n  action:  {}\n  why:     {}\n  rules:   {}\n  credits: up to {}\n\nNothing was sent to Apollo.",
            report.decision.to_uppercase(),
            report.sentence,
            report
                .action
                .as_deref()
                .unwrap_or("(none: not an Apollo action Bollard governs)"),
            report.reason,
            if report.rule_ids.is_empty() {
                "(none)".to_owned()
            } else {
                report.rule_ids.join(", ")
            },
            report.max_credits
        );
    }
    Ok(())
}
