//! The end of a forwarded call, as a guard: settle the credit reservation and write the
//! outcome record, however the call ends. [`Completion::finish`] does it with what Apollo
//! answered; if the guard is dropped without that (the task forwarding the call panicked,
//! or the runtime is shutting down), `Drop` does it with an unknown outcome. Like pingora's
//! `logging` phase and agentgateway's `DropOnLog`, it cannot be skipped by returning early.
//!
//! An unknown outcome is not zero: Apollo may have done the work (and billed it) before the
//! answer was lost, so the reservation is settled as spent, and the record says so.

use crate::audit::Record;
use crate::audit::sentence::credits;
use crate::limits::{self, Reservation};

use super::Gate;

/// What Apollo's answer (or its failure) settled.
#[derive(Debug)]
pub(super) struct Outcome {
    pub status: u16,
    pub latency_ms: Option<f64>,
    pub spent: f64,
    pub result: Option<String>,
    pub sentence: String,
}

/// Owns a forwarded call's reservation and outcome record until they are settled.
#[derive(Debug)]
pub(super) struct Completion {
    gate: Gate,
    agent_id: String,
    /// `None` once finished.
    pending: Option<(Box<Record>, Option<Reservation>)>,
}

impl Completion {
    pub(super) fn new(
        gate: Gate,
        outcome: Box<Record>,
        agent_id: String,
        reservation: Option<Reservation>,
    ) -> Self {
        Self {
            gate,
            agent_id,
            pending: Some((outcome, reservation)),
        }
    }

    /// What a call whose answer was lost is counted as having cost: its whole reservation.
    pub(super) fn unseen_cost(&self) -> f64 {
        self.pending
            .as_ref()
            .and_then(|(_, r)| r.as_ref())
            .map_or(0.0, |r| limits::from_milli(r.reserved_milli))
    }

    /// The outcome record, until it is finished.
    pub(super) fn record_mut(&mut self) -> Option<&mut Record> {
        self.pending.as_mut().map(|(rec, _)| &mut **rec)
    }

    /// Settles the reservation to what the call cost and queues the outcome record.
    pub(super) async fn finish(&mut self, outcome: Outcome) {
        let Some((mut rec, reservation)) = self.pending.take() else {
            return;
        };
        let mut sentence = outcome.sentence;
        if let Some(r) = &reservation {
            limits::settle(&**self.gate.store(), &self.agent_id, r, outcome.spent).await;
            if let Some(drift) =
                over_reservation(limits::from_milli(r.reserved_milli), outcome.spent)
            {
                sentence.push(' ');
                sentence.push_str(&drift);
            }
        }
        rec.at = self.gate.clock().now();
        rec.status = Some(outcome.status);
        rec.latency_ms = outcome.latency_ms;
        rec.credits_used = Some(outcome.spent);
        rec.result = outcome.result.map(serde_json::Value::String);
        rec.sentence = sentence;
        super::approval::name_in_sentence(&mut rec);
        write_outcome(&self.gate, rec).await;
    }
}

/// The sentence for a bill above the reservation (#11 item 5): the excess cannot be
/// unspent, so it is counted and said, and the higher price is learned.
fn over_reservation(reserved: f64, spent: f64) -> Option<String> {
    let excess = spent - reserved;
    (excess > 0.0005).then(|| {
        format!(
            "Apollo billed {} for it, {} more than the {} Bollard reserved at the price table's \
             prices; the excess counts against the budget, and later calls reserve at the price \
             Apollo charged.",
            credits(spent),
            credits(excess),
            credits(reserved)
        )
    })
}

pub(crate) async fn write_outcome(gate: &Gate, rec: Box<Record>) {
    let request_id = rec.request_id.clone();
    if let Err(e) = gate.audit().write(rec).await {
        tracing::error!(request_id = %request_id, error = %e, "the outcome record could not be queued");
    }
}

/// Why Bollard did not see how a forwarded call ended.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Unseen<'a> {
    /// The task forwarding it ended without finishing (a panic, the runtime stopping).
    Dropped,
    /// The process forwarding it died (found by the start-up or periodic sweep).
    ProcessDied { instance: &'a str },
}

/// The outcome record of a call whose end Bollard did not see, and what it settles: the
/// whole reservation, as spent.
pub(crate) fn unknown(
    mut rec: Box<Record>,
    reserved: f64,
    now: time::OffsetDateTime,
    why: Unseen<'_>,
) -> (Box<Record>, f64) {
    rec.kind = "outcome".into();
    rec.at = now;
    rec.credits_used = Some(reserved);
    rec.result = Some(serde_json::Value::String("outcome unknown".into()));
    let who = match &rec.agent_name {
        Some(a) => crate::audit::sentence::caller_name(a, rec.connection.as_deref()),
        None => "The agent".into(),
    };
    let credits = credits(reserved);
    rec.sentence = match why {
        Unseen::Dropped => format!(
            "{who}'s call was sent to Apollo, but Bollard did not see how it ended; its reservation of {credits} stays counted as spent."
        ),
        Unseen::ProcessDied { instance } => format!(
            "{who}'s call was sent to Apollo, but the Bollard process that sent it ({instance}) stopped before the answer came back; its reservation of {credits} stays counted as spent."
        ),
    };
    (rec, reserved)
}

impl Drop for Completion {
    fn drop(&mut self) {
        let Some((rec, reservation)) = self.pending.take() else {
            return;
        };
        let gate = self.gate.clone();
        let agent_id = std::mem::take(&mut self.agent_id);
        let reserved = reservation
            .as_ref()
            .map_or(0.0, |r| limits::from_milli(r.reserved_milli));
        let (rec, spent) = unknown(rec, reserved, gate.clock().now(), Unseen::Dropped);
        tracing::warn!(request_id = %rec.request_id, "a forwarded call ended without an outcome; recording it as unknown");
        let settle = async move {
            if let Some(r) = &reservation {
                limits::settle(&**gate.store(), &agent_id, r, spent).await;
            }
            write_outcome(&gate, rec).await;
        };
        // Drop cannot wait; the runtime finishes the job. Without one (the process is
        // ending) the reservation is left for the sweep (`crate::recovery`).
        match tokio::runtime::Handle::try_current() {
            Ok(h) => {
                h.spawn(settle);
            }
            Err(_) => {
                tracing::error!(
                    "no runtime to settle an unfinished call; its reservation stays held"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_outcome_keeps_the_reservation_as_spent_and_says_so() {
        let rec: Box<Record> = serde_json::from_value(serde_json::json!({
            "kind": "outcome", "request_id": "req_1", "at": "2026-12-01T10:00:00Z",
            "agent_id": "agt_1", "agent_name": "Sales Agent", "channel": "rest",
            "source": null, "method": "POST", "path": "/api/v1/people/match",
            "action": "people.enrich", "decision": "allowed", "reason": "", "rule_ids": [],
            "sentence": "", "arguments": {}
        }))
        .unwrap();
        let r = Reservation {
            periods: Vec::new(),
            reserved_milli: 9_000,
            left_before_milli: Vec::new(),
            held_by: Some("req_1".into()),
        };
        let now = time::macros::datetime!(2026-12-01 10:00:05 UTC);
        let (rec, spent) = unknown(
            rec,
            limits::from_milli(r.reserved_milli),
            now,
            Unseen::Dropped,
        );
        assert_eq!(spent, 9.0);
        assert_eq!(rec.credits_used, Some(9.0));
        assert_eq!(rec.at, now);
        assert_eq!(
            rec.sentence,
            "Sales Agent's call was sent to Apollo, but Bollard did not see how it ended; its reservation of 9 credits stays counted as spent."
        );
    }
}
