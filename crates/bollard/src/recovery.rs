//! Coming back from a crash (#19 item 4): the credit reservations of calls that were in
//! flight when their process died are found and settled, each with a record.
//!
//! Every process registers in `instances` and refreshes its row every [`HEARTBEAT`]; a
//! reservation is held in the name of its call and its process. A sweep, at start and after
//! each heartbeat, on every replica, takes the reservations of processes not seen for
//! [`DEAD_AFTER`] and settles each once (`settle_credits` with its request id, so two
//! replicas sweeping at once cannot settle one twice):
//!
//! - the call's decision record exists, so it may have reached Apollo: settled as spent, with
//!   an outcome record that says so (an outcome Bollard did not see is not zero, item 3);
//! - an outcome record exists (the process died between writing it and settling): settled to
//!   what the outcome says;
//! - no decision record: the call was never sent (nothing is forwarded before its record is
//!   durable), so the reservation is released, and a record says so.
//!
//! A process that stops cleanly removes its row, so what it still holds is swept at once.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::audit::Record;
use crate::clock::Clock;
use crate::gate::Gate;
use crate::gate::complete::{self, Unseen};
use crate::limits::{from_milli, to_milli};
use crate::store::{AuditFilter, HeldReservation, Instance, StoreResult};

/// How often a process says it is alive, and sweeps.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// A process not seen for this long is taken for dead: six missed heartbeats, far longer than
/// a busy database makes one late.
pub const DEAD_AFTER: time::Duration = time::Duration::seconds(30);

/// The kernel's name for this host, or "this machine" where there is none.
pub(crate) fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "this machine".to_owned())
}

/// This process, with a fresh random id.
pub fn this_instance(clock: &Clock) -> Instance {
    use rand::RngCore;
    let mut id = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut id);
    Instance {
        id: format!(
            "ins_{}",
            id.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ),
        host: host_name(),
        started_at: clock.now(),
    }
}

/// Runs until `shutdown`: heartbeat and sweeps (abandoned reservations, expired approvals),
/// then every [`HEARTBEAT`]. When it stops, the process's row is removed.
pub async fn run(gate: Gate, shutdown: CancellationToken) {
    loop {
        beat_and_sweep(&gate).await;
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(HEARTBEAT) => {}
        }
    }
}

/// Called once the process has no call left in flight: it is no longer alive for the sweep,
/// so whatever it still holds (nothing, normally) is settled by the next sweep anywhere.
pub async fn retire(gate: &Gate) {
    if let Err(e) = gate.store().retire_instance(&gate.instance().id).await {
        tracing::warn!(error = %e, "could not remove this process from the instances table");
    }
}

/// One heartbeat and one sweep; the number of reservations settled.
pub async fn beat_and_sweep(gate: &Gate) -> usize {
    let now = gate.clock().now();
    if let Err(e) = gate.store().heartbeat(gate.instance(), now).await {
        tracing::warn!(error = %e, "could not record this process's heartbeat");
    }
    // Ask first: requests and approvals whose time is up are marked expired and recorded, each
    // once across replicas (the marking and its record commit together), even when no call,
    // console page or command comes by to notice.
    crate::ops::approvals::expire_due(&**gate.store(), now).await;
    match sweep(gate, now - DEAD_AFTER).await {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "the sweep of abandoned credit reservations failed; it runs again shortly");
            0
        }
    }
}

/// Settles the reservations of processes not seen alive since `alive_since`.
pub async fn sweep(gate: &Gate, alive_since: time::OffsetDateTime) -> StoreResult<usize> {
    let held = gate.store().dead_reservations(alive_since).await?;
    let mut settled = 0;
    for h in held {
        if settle_one(gate, &h).await? {
            settled += 1;
        }
    }
    if settled > 0 {
        tracing::warn!(
            settled,
            "settled the credit reservations of calls whose process stopped"
        );
    }
    Ok(settled)
}

async fn settle_one(gate: &Gate, h: &HeldReservation) -> StoreResult<bool> {
    let entries = gate
        .store()
        .query_audit(&AuditFilter {
            request_id: Some(h.request_id.clone()),
            admin: Some(false),
            ..AuditFilter::default()
        })
        .await?;
    let read = |kind: &str| -> Option<Box<Record>> {
        entries
            .iter()
            .find(|e| e.kind == kind)
            .and_then(|e| serde_json::from_str(&e.content).ok())
    };
    let reserved = from_milli(h.reserved_milli);
    let now = gate.clock().now();
    let (spent, record) = match (read("outcome"), read("decision")) {
        (Some(outcome), _) => (outcome.credits_used.unwrap_or(reserved), None),
        (None, Some(decision)) => {
            let (rec, spent) = complete::unknown(
                decision,
                reserved,
                now,
                Unseen::ProcessDied {
                    instance: &h.instance,
                },
            );
            (spent, Some(rec))
        }
        (None, None) => (0.0, Some(Box::new(never_sent(gate, h, reserved, now)))),
    };
    let settled_now = gate
        .store()
        .settle_credits(
            &h.agent_id,
            &h.periods,
            h.reserved_milli,
            to_milli(spent),
            Some(&h.request_id),
        )
        .await?;
    if settled_now && let Some(rec) = record {
        complete::write_outcome(gate, rec).await;
    }
    Ok(settled_now)
}

/// The record of a reservation whose call was never recorded, so never sent.
fn never_sent(
    gate: &Gate,
    h: &HeldReservation,
    reserved: f64,
    now: time::OffsetDateTime,
) -> Record {
    let name = gate
        .directory()
        .by_id(&h.agent_id)
        .map_or_else(|| "An agent".to_owned(), |l| l.agent.name.clone());
    Record {
        kind: "outcome".into(),
        request_id: h.request_id.clone(),
        at: now,
        agent_id: Some(h.agent_id.clone()),
        agent_name: Some(name.clone()),
        channel: "unknown".into(),
        source: None,
        method: None,
        path: None,
        action: None,
        decision: "allowed".into(),
        reason: String::new(),
        rule_ids: Vec::new(),
        sentence: format!(
            "Bollard stopped before it recorded {name}'s call, so the call was never sent to Apollo; its reservation of {} was released.",
            crate::audit::sentence::credits(reserved)
        ),
        arguments: serde_json::Value::Object(serde_json::Map::new()),
        status: None,
        latency_ms: None,
        credits_reserved: Some(reserved),
        credits_used: Some(0.0),
        result: Some(serde_json::Value::String("never sent".into())),
        limits: None,
        change: None,
        approval: None,
        connection: None,
    }
}
