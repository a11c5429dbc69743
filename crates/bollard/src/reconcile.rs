//! Reconciliation with Apollo (#19 item 6): every interval the server reads Apollo's own
//! `credit_usage_stats` and sets it beside Bollard's credit ledger. The figures are kept (one
//! row per interval, whichever replica took it), exported on `/metrics`, shown by
//! `bollard usage`, and a change in the drift is an audit entry, so "Bollard counts 5,417
//! more credits than Apollo" is found without anyone asking.
//!
//! What the comparison can and cannot say: Apollo counts a credit cycle and every key of the
//! team (its own app included); Bollard counts this calendar month and its agents. So Apollo
//! above Bollard is expected (work done outside Bollard); Bollard above Apollo means it
//! counted more than was charged (an outcome it never saw, kept as spent; a cycle that began
//! after the 1st). The drift is reported, never silently applied to any agent's budget:
//! Apollo's figures are per team, and nothing in them says which agent a difference belongs
//! to.

use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::audit::change::{Actor, Draft};
use crate::audit::sentence::{credits, thousands};
use crate::gate::Gate;
use crate::store::prices::Reconciliation;
use crate::upstream::Outgoing;

/// Apollo's `credit_usage_stats`, summed: credits consumed in the cycle, and the cycle.
#[derive(Debug, Clone, PartialEq)]
pub struct ApolloCredits {
    pub consumed: f64,
    pub cycle_start: String,
    pub cycle_end: String,
}

/// Reads Apollo's answer; `None` when it is not the shape Apollo documents.
pub fn parse_credit_usage(v: &Value) -> Option<ApolloCredits> {
    let kinds = v.get("credit_usage_stats")?.as_object()?;
    let consumed = kinds
        .values()
        .filter_map(|c| c.get("consumed")?.as_f64())
        .filter(|c| c.is_finite() && *c >= 0.0)
        .sum();
    let cycle = v.get("current_credit_cycle");
    let date = |k: &str| {
        cycle
            .and_then(|c| c.get(k))
            .and_then(Value::as_str)
            .filter(|d| d.len() <= 32)
            .unwrap_or("?")
            .to_owned()
    };
    Some(ApolloCredits {
        consumed,
        cycle_start: date("start_date"),
        cycle_end: date("end_date"),
    })
}

/// "24,435 credits", "1 credit", "2.50 credits".
pub(crate) fn amount(c: f64) -> String {
    if c.fract() == 0.0 && (0.0..1e15).contains(&c) {
        let n = c as u64;
        format!(
            "{} {}",
            thousands(n),
            if n == 1 { "credit" } else { "credits" }
        )
    } else {
        credits(c)
    }
}

impl Reconciliation {
    /// Apollo's count minus Bollard's, in credits.
    pub fn drift(&self) -> f64 {
        (self.apollo_milli - self.bollard_milli) as f64 / 1000.0
    }

    /// The clause of the audit entry and of `bollard usage`.
    pub fn clause(&self) -> String {
        let apollo = amount(self.apollo_milli as f64 / 1000.0);
        let bollard = amount(self.bollard_milli as f64 / 1000.0);
        let drift = self.drift();
        let verdict = if drift.abs() < 0.001 {
            "they agree".to_owned()
        } else if drift > 0.0 {
            format!(
                "Apollo counts {} more, spent outside Bollard (other keys, Apollo's own app) or before this month",
                amount(drift)
            )
        } else {
            format!(
                "Bollard counts {} more, from outcomes it never saw (kept as spent) or a cycle that began after the 1st",
                amount(-drift)
            )
        };
        format!(
            "compared the credit ledger with Apollo's credit_usage_stats (cycle {} to {}): Apollo counts {apollo} consumed, Bollard {bollard} this month; {verdict}",
            self.cycle_start, self.cycle_end
        )
    }
}

/// Bollard's ledger this calendar month, every agent's spending summed.
pub async fn ledger_this_month(gate: &Gate, now: OffsetDateTime) -> Result<f64, String> {
    let store = gate.store();
    let mut total = 0.0;
    for agent in store.list_agents().await.map_err(|e| e.to_string())? {
        let u = crate::ops::agent_usage(&**store, &agent, now)
            .await
            .map_err(|e| e.to_string())?;
        total += u
            .credits
            .iter()
            .find(|c| c.period == "month")
            .map_or(0.0, |c| c.spent);
    }
    Ok(total)
}

/// One comparison: reads Apollo, reads the ledger, keeps the figures for this interval
/// (unless another replica already did), and records a changed drift. Returns what it found.
pub async fn reconcile_once(gate: &Gate, every: Duration) -> Result<Reconciliation, String> {
    let answer = gate
        .upstream()
        .send(Outgoing {
            method: "POST",
            path: "/api/v1/usage_stats/credit_usage_stats",
            query: None,
            json_body: Some(b"{}".to_vec()),
        })
        .await
        .map_err(|e| e.to_string())?;
    if answer.status != 200 {
        return Err(format!(
            "Apollo answered {} to credit_usage_stats (it needs a master key)",
            answer.status
        ));
    }
    let apollo = serde_json::from_slice::<Value>(&answer.body)
        .ok()
        .as_ref()
        .and_then(parse_credit_usage)
        .ok_or("Apollo's credit_usage_stats had an unexpected shape")?;
    let now = gate.clock().now();
    let ledger = ledger_this_month(gate, now).await?;
    let milli = |c: f64| (c * 1000.0).round() as i64;
    let r = Reconciliation {
        bucket: now.unix_timestamp() / i64::try_from(every.as_secs().max(1)).unwrap_or(i64::MAX),
        at: now,
        cycle_start: apollo.cycle_start,
        cycle_end: apollo.cycle_end,
        apollo_milli: milli(apollo.consumed),
        bollard_milli: milli(ledger),
    };
    gate.audit().metrics().observe_reconciliation(&r);
    let store = gate.store();
    let before = store
        .last_reconciliation()
        .await
        .map_err(|e| e.to_string())?;
    let mine = store
        .record_reconciliation(&r)
        .await
        .map_err(|e| e.to_string())?;
    // On record when the drift changed by a credit or more (or at the first comparison):
    // an unchanged drift every interval would bury the entries that matter.
    let changed = before
        .as_ref()
        .is_none_or(|b| (b.drift() - r.drift()).abs() >= 1.0);
    if mine && changed {
        let by = Actor {
            name: "Bollard's reconciliation".into(),
            admin_key_id: None,
            channel: "system",
        };
        let draft = Draft {
            by: &by,
            at: now,
            agent: None,
            what: "credits.reconcile",
            clauses: vec![r.clause()],
            before: before
                .as_ref()
                .map_or(Value::Null, |b| serde_json::to_value(b).unwrap_or_default()),
            after: serde_json::to_value(&r).unwrap_or_default(),
        };
        store
            .append_audit(&[draft.into_record().to_entry()])
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(r)
}

/// Compares every `every`, until `stop`; the first comparison a minute after start (or
/// `every`, if shorter), so a restart loop does not hammer Apollo.
pub async fn run(gate: Gate, every: Duration, stop: CancellationToken) {
    let mut wait = every.min(Duration::from_secs(60));
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        wait = every;
        match reconcile_once(&gate, every).await {
            Ok(r) => tracing::debug!(drift = r.drift(), "reconciled with Apollo"),
            Err(e) => {
                tracing::warn!(error = %e, "could not reconcile the credit ledger with Apollo")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_apollos_credit_usage_and_says_the_drift() {
        let a = parse_credit_usage(&json!({
            "credit_usage_stats": {"lead_credit": {"consumed": 20}, "direct_dial_credit": {"consumed": 4.5},
                "bogus": {"consumed": -3}},
            "current_credit_cycle": {"start_date": "2026-12-01", "end_date": "2026-12-31"}}))
        .unwrap();
        assert_eq!(
            a,
            ApolloCredits {
                consumed: 24.5,
                cycle_start: "2026-12-01".into(),
                cycle_end: "2026-12-31".into()
            }
        );
        assert_eq!(parse_credit_usage(&json!({"nope": 1})), None);
        let r = |apollo: i64, bollard: i64| Reconciliation {
            bucket: 1,
            at: OffsetDateTime::UNIX_EPOCH,
            cycle_start: "2026-12-01".into(),
            cycle_end: "2026-12-31".into(),
            apollo_milli: apollo,
            bollard_milli: bollard,
        };
        assert_eq!(
            r(24_435_000, 29_852_000).clause(),
            "compared the credit ledger with Apollo's credit_usage_stats (cycle 2026-12-01 to 2026-12-31): Apollo counts 24,435 credits consumed, Bollard 29,852 credits this month; Bollard counts 5,417 credits more, from outcomes it never saw (kept as spent) or a cycle that began after the 1st"
        );
        assert!(r(9_000, 9_000).clause().ends_with("; they agree"));
        assert!(
            r(10_000, 9_000)
                .clause()
                .contains("Apollo counts 1 credit more")
        );
    }
}
