//! A phone reveal that found no number (#19 item 5). Apollo charges for a mobile number only
//! when it finds one, and says which only later, in the relay's delivery; the call itself was
//! settled with the phone's price counted. When the delivery carries no phone number, that
//! price goes back to the agent's budget, and the delivery's record says so.

use serde_json::Value;

use crate::audit::Record;
use crate::audit::sentence::credits;
use crate::gate::Gate;
use crate::limits::{budget_periods, to_milli};
use crate::store::AuditFilter;
use crate::store::BudgetCheck;
use crate::store::relays::Relay;

/// Phone credits counted for a call whose delivery carried no phone number.
pub(super) struct Unfound {
    credits: f64,
    periods: Vec<BudgetCheck>,
}

impl Unfound {
    /// What the delivery's record adds.
    pub(super) fn clause(&self) -> String {
        format!(
            " It carried no phone number, and Apollo charges for one only when it finds it, so the {} counted for the phone went back to the budget.",
            credits(self.credits)
        )
    }

    /// Gives the credits back; called once the record saying so is on disk.
    pub(super) async fn release(self, gate: &Gate, relay: &Relay) {
        if let Err(e) = gate
            .store()
            .release_spent(&relay.agent_id, &self.periods, to_milli(self.credits))
            .await
        {
            tracing::error!(request_id = %relay.request_id, error = %e, "the phone credits of a reveal that found no number could not be given back");
        }
    }
}

/// The phone credits to give back for `relay`'s call, if it asked to reveal a phone, its
/// delivery of `people` people carried no phone number, and its outcome counted them.
pub(super) async fn unfound(gate: &Gate, relay: &Relay, people: usize) -> Option<Unfound> {
    let call = AuditFilter {
        request_id: Some(relay.request_id.clone()),
        admin: Some(false),
        ..AuditFilter::default()
    };
    let mut entries = gate.store().query_audit(&call).await.ok()?;
    if !entries.iter().any(|e| e.kind == "outcome") {
        // A delivery can come moments after the answer, while the call's outcome (settled
        // already) still waits in the writer's queue.
        let _ = gate.audit().flush().await;
        entries = gate.store().query_audit(&call).await.ok()?;
    }
    let read = |kind: &str| -> Option<Record> {
        entries
            .iter()
            .find(|e| e.kind == kind)
            .and_then(|e| serde_json::from_str(&e.content).ok())
    };
    let asked = read("decision")?
        .arguments
        .get("reveal_phone_number")
        .is_some_and(|v| matches!(v, Value::Bool(true)) || v == "true" || v == 1);
    if !asked {
        return None;
    }
    let counted = read("outcome")?.credits_used.unwrap_or(0.0);
    let prices = &gate.settings().prices;
    let people = people.max(1) as f64;
    // Never more than the call was counted beyond its matches: it may have matched no one.
    let credits = (prices.mobile_phone as f64 * people)
        .min(counted - prices.match_person as f64 * people)
        .max(0.0);
    let live = gate.directory().by_id(&relay.agent_id)?;
    (credits > 0.0).then(|| Unfound {
        credits,
        periods: budget_periods(&live.agent.limits, relay.created_at),
    })
}
