//! `bollard usage`: Bollard's credit ledger beside Apollo's own `credit_usage_stats`, so an
//! admin sees any drift (credits spent with other keys, in Apollo's UI, or missed here).

use clap::Args;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{Cli, CliResult, Failure, load_config, open_store, outln};
use crate::config::Overrides;
use crate::ops;
use crate::upstream::{Outgoing, Upstream};

#[derive(Debug, Args)]
pub struct UsageArgs {
    /// Print JSON, for programs.
    #[arg(long)]
    pub json: bool,
    /// Forget the prices learned from Apollo's bills (after correcting `[prices]` in the
    /// configuration to the plan's prices), so calls reserve at the table's prices again.
    #[arg(long)]
    pub forget_prices: bool,
}

pub async fn usage(cli: &Cli, a: &UsageArgs) -> CliResult {
    let config = load_config(cli, Overrides::default())?;
    let store = open_store(cli).await?;
    if a.forget_prices {
        let n = ops::forget_learned_prices(&*store, &super::command_line()).await?;
        outln!(
            "{}",
            match n {
                0 => "No learned prices: calls already reserve at the price table's prices."
                    .to_owned(),
                1 => "Forgot 1 learned price: its calls reserve at the price table's price again."
                    .to_owned(),
                n => format!(
                    "Forgot {n} learned prices: their calls reserve at the price table's prices again."
                ),
            }
        );
        return Ok(());
    }
    let learned = ops::learned_prices(&*store).await?;
    let last = store.last_reconciliation().await?;
    let now = OffsetDateTime::now_utc();
    let mut rows = Vec::new();
    let mut total = 0.0;
    for agent in store.list_agents().await? {
        let u = ops::agent_usage(&*store, &agent, now).await?;
        let month = u
            .credits
            .iter()
            .find(|c| c.period == "month")
            .map_or(0.0, |c| c.spent);
        total += month;
        rows.push(json!({"agent": agent.name, "credits_this_month": month, "usage": u}));
    }
    let apollo = if config.apollo.api_key.is_some() {
        let up = Upstream::new(&config.apollo).map_err(|e| Failure::Message(e.to_string()))?;
        match up
            .send(Outgoing {
                method: "POST",
                path: "/api/v1/usage_stats/credit_usage_stats",
                query: None,
                json_body: Some(b"{}".to_vec()),
            })
            .await
        {
            Ok(ans) if ans.status == 200 => serde_json::from_slice::<Value>(&ans.body).ok(),
            Ok(ans) => {
                eprintln!(
                    "Apollo answered {} to credit_usage_stats; showing Bollard's ledger only.",
                    ans.status
                );
                None
            }
            Err(e) => {
                eprintln!("{e} Showing Bollard's ledger only.");
                None
            }
        }
    } else {
        eprintln!("No Apollo key configured (APOLLO_API_KEY); showing Bollard's ledger only.");
        None
    };
    let apollo_consumed = apollo.as_ref().and_then(|v| {
        v.get("credit_usage_stats")?.as_object().map(|m| {
            m.values()
                .filter_map(|c| c.get("consumed")?.as_f64())
                .sum::<f64>()
        })
    });
    if a.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "bollard": {"agents": rows, "total_this_month": total},
                "apollo": apollo,
                "drift": apollo_consumed.map(|c| c - total),
                "learned_prices": learned,
                "last_reconciliation": last.as_ref().map(|r| json!({
                    "at": r.at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
                    "cycle_start": r.cycle_start,
                    "cycle_end": r.cycle_end,
                    "apollo": r.apollo_milli as f64 / 1000.0,
                    "bollard": r.bollard_milli as f64 / 1000.0,
                    "drift": r.drift(),
                })),
            }))?
        );
        return Ok(());
    }
    outln!("Credits spent this calendar month, by Bollard's ledger:");
    for r in &rows {
        outln!(
            "  {:<28} {:>10}",
            r["agent"].as_str().unwrap_or(""),
            r["credits_this_month"].as_f64().unwrap_or(0.0)
        );
    }
    outln!("  {:<28} {:>10}", "total", total);
    if !learned.is_empty() {
        outln!(
            "\nPrices learned from Apollo's bills (the price table is behind this plan's prices):"
        );
        for l in &learned {
            outln!("  {}", l.line());
        }
        outln!("Correct [prices] in the configuration, then run `bollard usage --forget-prices`.");
    }
    if let (Some(v), Some(c)) = (&apollo, apollo_consumed) {
        let cycle = v.get("current_credit_cycle");
        outln!(
            "\nApollo's credit_usage_stats (cycle {} to {}): {c} credits consumed.",
            cycle
                .and_then(|c| c.get("start_date"))
                .and_then(Value::as_str)
                .unwrap_or("?"),
            cycle
                .and_then(|c| c.get("end_date"))
                .and_then(Value::as_str)
                .unwrap_or("?"),
        );
        let drift = c - total;
        if drift.abs() < 0.001 {
            outln!("No drift: Apollo and Bollard agree.");
        } else if drift > 0.0 {
            outln!(
                "Drift: Apollo counts {drift} more credits than Bollard. They were spent outside Bollard (other keys, Apollo's own app) or before this month."
            );
        } else {
            outln!(
                "Drift: Bollard counts {} more credits than Apollo, which means Apollo's cycle started after the 1st or Apollo charged less than its price table says.",
                -drift
            );
        }
    }
    if let Some(r) = &last {
        outln!(
            "\nThe server's last reconciliation ({} UTC) {}.",
            r.at.format(&time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]"
            ))
            .unwrap_or_default(),
            r.clause()
        );
    }
    Ok(())
}
