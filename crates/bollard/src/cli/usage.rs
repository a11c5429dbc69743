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
    let up = match &config.apollo.api_key {
        Some(_) => {
            Some(Upstream::new(&config.apollo).map_err(|e| Failure::Message(e.to_string()))?)
        }
        None => {
            eprintln!("No Apollo key configured (APOLLO_API_KEY); showing Bollard's ledger only.");
            None
        }
    };
    let apollo = ask_apollo(up.as_ref(), "credit_usage_stats", "Bollard's ledger").await;
    let day_start = now.replace_time(time::Time::MIDNIGHT);
    let sent = store.sent_since(day_start).await?;
    let apollo_calls = ask_apollo(
        up.as_ref(),
        "api_usage_stats",
        "the calls Bollard sent today",
    )
    .await;
    let today = calls_today(&sent, apollo_calls.as_ref());
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
                "api_usage_today": today.iter().map(|c| json!({
                    "endpoint": c.endpoint,
                    "bollard_sent": c.bollard,
                    "apollo_counted": c.apollo,
                })).collect::<Vec<_>>(),
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
    if today.is_empty() {
        outln!("\nNo calls to Apollo today (UTC), by Bollard's count or Apollo's.");
    } else {
        outln!(
            "\nCalls to Apollo today (UTC), per endpoint: sent through Bollard, and as Apollo counts them{}:",
            if apollo_calls.is_some() {
                " (Apollo's count includes calls made with other keys)"
            } else {
                " (Apollo's count could not be read)"
            }
        );
        outln!("  {:<52} {:>8} {:>8}", "endpoint", "Bollard", "Apollo");
        for c in &today {
            outln!(
                "  {:<52} {:>8} {:>8}",
                c.endpoint,
                c.bollard,
                c.apollo.map_or_else(|| "-".to_owned(), |n| n.to_string())
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

/// One of Apollo's usage endpoints (`credit_usage_stats`, `api_usage_stats`); when it
/// cannot be read, one line says why and that only `ours` is shown.
async fn ask_apollo(up: Option<&Upstream>, which: &str, ours: &str) -> Option<Value> {
    let up = up?;
    let path = format!("/api/v1/usage_stats/{which}");
    let answer = match up
        .send(Outgoing {
            method: "POST",
            path: &path,
            query: None,
            json_body: Some(b"{}".to_vec()),
        })
        .await
    {
        Ok(ans) if ans.status == 200 => serde_json::from_slice::<Value>(&ans.body)
            .map_err(|_| format!("Apollo's answer to {which} was not JSON.")),
        Ok(ans) => Err(format!("Apollo answered {} to {which}.", ans.status)),
        Err(e) => Err(e.to_string()),
    };
    answer
        .map_err(|why| eprintln!("{why} Showing {ours} only."))
        .ok()
}

/// One endpoint's calls today: sent through Bollard, and counted by Apollo (`None`: Apollo's
/// figures could not be read).
#[derive(Debug)]
struct CallsToday {
    /// Apollo's name for it, `controller#action` (`api/v1/people#match`).
    endpoint: String,
    bollard: i64,
    apollo: Option<i64>,
}

/// Bollard's calls sent per action beside Apollo's `api_usage_stats` (keyed by
/// `["controller", "action"]` strings), per endpoint either one has counted today.
fn calls_today(sent: &[(String, i64)], apollo: Option<&Value>) -> Vec<CallsToday> {
    let mut by_endpoint: std::collections::BTreeMap<String, (i64, Option<i64>)> =
        std::collections::BTreeMap::new();
    for (action, n) in sent {
        let endpoint =
            bollard_policy::catalog::by_id(action).map_or_else(|| action.clone(), apollo_endpoint);
        by_endpoint.entry(endpoint).or_default().0 += n;
    }
    let counts = apollo.and_then(Value::as_object);
    if let Some(m) = counts {
        for (key, windows) in m {
            let Ok([controller, action]) = serde_json::from_str::<[String; 2]>(key) else {
                continue;
            };
            let consumed = windows
                .pointer("/day/consumed")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            let endpoint = format!("{controller}#{action}");
            if consumed > 0 || by_endpoint.contains_key(&endpoint) {
                by_endpoint.entry(endpoint).or_default().1 = Some(consumed);
            }
        }
    }
    by_endpoint
        .into_iter()
        .map(|(endpoint, (bollard, apollo))| CallsToday {
            endpoint,
            bollard,
            // Apollo answered, and had no count for this endpoint: none.
            apollo: apollo.or(counts.map(|_| 0)),
        })
        .collect()
}

/// Apollo's `controller#action` for a catalog action, by the Rails routes its paths follow:
/// `/people/match` is `api/v1/people#match`, `/contacts/{id}` with PATCH is
/// `api/v1/contacts#update`, `/labels` with GET is `api/v1/labels#index`.
fn apollo_endpoint(a: &bollard_policy::catalog::Action) -> String {
    use bollard_policy::catalog::Method;
    let segments: Vec<&str> = a.path.split('/').filter(|s| !s.is_empty()).collect();
    let named: Vec<&str> = segments
        .iter()
        .copied()
        .filter(|s| !s.starts_with('{'))
        .collect();
    let on_a_record = segments.last().is_some_and(|s| s.starts_with('{'));
    let (controller, action) = if on_a_record {
        let verb = match a.method {
            Method::Get => "show",
            Method::Put | Method::Patch | Method::Post => "update",
            Method::Delete => "destroy",
        };
        (named.as_slice(), verb)
    } else if named.len() <= 1 {
        let verb = match a.method {
            Method::Get => "index",
            _ => "create",
        };
        (named.as_slice(), verb)
    } else {
        (&named[..named.len() - 1], named[named.len() - 1])
    };
    format!("api/v1/{}#{action}", controller.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_actions_get_apollos_controller_and_action() {
        let e = |id: &str| apollo_endpoint(bollard_policy::catalog::by_id(id).unwrap());
        assert_eq!(e("people.search"), "api/v1/mixed_people#api_search");
        assert_eq!(e("people.enrich"), "api/v1/people#match");
        assert_eq!(e("users.usage_stats"), "api/v1/usage_stats#api_usage_stats");
    }

    #[test]
    fn apollos_counts_sit_beside_bollards_and_a_missing_count_is_zero() {
        let apollo = json!({
            "[\"api/v1/people\", \"match\"]": {"day": {"consumed": 5}},
            "[\"api/v1/contacts\", \"search\"]": {"day": {"consumed": 2}},
            "[\"api/v1/labels\", \"index\"]": {"day": {"consumed": 0}},
        });
        let sent = vec![
            ("people.enrich".to_owned(), 3),
            ("people.search".to_owned(), 1),
        ];
        let rows: Vec<(String, i64, Option<i64>)> = calls_today(&sent, Some(&apollo))
            .into_iter()
            .map(|c| (c.endpoint, c.bollard, c.apollo))
            .collect();
        assert_eq!(
            rows,
            vec![
                ("api/v1/contacts#search".to_owned(), 0, Some(2)),
                ("api/v1/mixed_people#api_search".to_owned(), 1, Some(0)),
                ("api/v1/people#match".to_owned(), 3, Some(5)),
            ]
        );
        assert_eq!(calls_today(&sent, None)[0].apollo, None);
    }
}
