//! Ask first: listing, approving and denying requests, and recording their expiry. The CLI,
//! the admin API and the console call these. Approving and denying follow the rule of every
//! admin change: the entry is committed to the audit chain first, then the change is made
//! (conditional on the request still pending and unexpired); if it no longer is, a second
//! entry says the change did not take effect.

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::record::{record_change, then};
use super::{OpsError, OpsResult};
use crate::approval::seal::Sealer;
use crate::approval::utc_time;
use crate::audit::change::{Actor, Draft};
use crate::store::Store;
use crate::store::approvals::{Approval, ApprovalState};

/// Newest first; `state` narrows it ("pending", "approved", ...).
pub async fn list(store: &dyn Store, state: Option<&str>, limit: u32) -> OpsResult<Vec<Approval>> {
    let state = match state {
        None => None,
        Some(s) => Some(ApprovalState::parse(s).ok_or_else(|| {
            OpsError::Invalid(format!(
                "'{s}' is not a state of a request; use pending, approved, denied, used or expired."
            ))
        })?),
    };
    Ok(store
        .approvals()
        .list_approvals(state, limit.clamp(1, 1000))
        .await?)
}

pub async fn get(store: &dyn Store, id: &str) -> OpsResult<Approval> {
    store
        .approvals()
        .get_approval(id.trim())
        .await?
        .ok_or_else(|| {
            OpsError::NotFound(format!(
                "No approval request has the id '{}'; 'bollard approvals list' shows them.",
                id.trim().chars().take(60).collect::<String>()
            ))
        })
}

/// Why a request cannot be decided any more, as a sentence.
fn not_pending(a: &Approval, now: OffsetDateTime) -> Option<String> {
    let by = a.decided_by.as_deref().unwrap_or("someone");
    match a.state {
        ApprovalState::Pending if a.expires_at > now => None,
        ApprovalState::Pending | ApprovalState::Expired => Some(format!(
            "The request {} expired at {}; the agent's next identical call asks again.",
            a.id,
            utc_time(a.expires_at, now)
        )),
        ApprovalState::Approved => Some(format!("{by} already approved the request {}.", a.id)),
        ApprovalState::Denied => Some(format!("{by} already denied the request {}.", a.id)),
        ApprovalState::Used => Some(format!(
            "The request {} was approved by {by} and used by the call {}.",
            a.id,
            a.used_by.as_deref().unwrap_or("?")
        )),
    }
}

/// Approves (`approve`) or denies a pending request, with an optional note.
pub async fn decide(
    store: &dyn Store,
    by: &Actor,
    id: &str,
    approve: bool,
    note: Option<&str>,
    now: OffsetDateTime,
) -> OpsResult<Approval> {
    // Whatever ran out of time is recorded as expired first, so the answer can say so.
    expire_due(store, now).await;
    let a = get(store, id).await?;
    if let Some(why) = not_pending(&a, now) {
        return Err(OpsError::Conflict(why));
    }
    let note = note
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| n.chars().take(500).collect::<String>());
    if note
        .as_deref()
        .is_some_and(|n| n.chars().any(super::hidden))
    {
        return Err(OpsError::Invalid(
            "A note is one line of plain text: no control characters, and no invisible or direction-changing ones.".into(),
        ));
    }
    let verb = if approve { "approved" } else { "denied" };
    let noted = note
        .as_deref()
        .map(|n| format!(", noting \"{n}\""))
        .unwrap_or_default();
    let clause = format!(
        "{verb} {}'s request {} to {}{noted}",
        a.agent_name, a.id, a.sentence
    );
    let state = |s: &str| json!({"id": a.id, "state": s, "call_hash": a.call_hash, "note": note});
    let draft = Draft {
        by,
        at: now,
        agent: Some((&a.agent_id, &a.agent_name)),
        what: if approve {
            "approval.approve"
        } else {
            "approval.deny"
        },
        clauses: vec![clause],
        before: state("pending"),
        after: state(verb),
    };
    let written = record_change(store, draft).await?;
    then(store, &written, async {
        store
            .approvals()
            .decide_approval(&a.id, approve, &by.name, note.as_deref(), now)
            .await?
            .ok_or_else(|| {
                OpsError::Conflict(format!(
                    "The request {} was decided or expired just now, by someone else or by time.",
                    a.id
                ))
            })
    })
    .await
}

/// Marks the requests whose time is up as expired and records each, in one transaction, so
/// each expiry is recorded exactly once whichever replica finds it (the background sweep of
/// every replica, or a call, the console, the CLI). Errors are logged: expiry is also checked
/// where it matters, when a call would use an approval. Returns how many expired.
pub async fn expire_due(store: &dyn Store, now: OffsetDateTime) -> usize {
    match store
        .approvals()
        .expire_approvals(now, &|expired| expiry_entries(expired, now))
        .await
    {
        Ok(e) => e.len(),
        Err(e) => {
            tracing::warn!(error = %e, "could not expire approval requests");
            0
        }
    }
}

/// One entry per expiry: "Bollard expired Sales Agent's approval apr_... to add 12 contacts to
/// the sequence Q4 Outbound: it was approved but not used by 15:30 UTC."
fn expiry_entries(expired: &[Approval], now: OffsetDateTime) -> Vec<crate::store::NewAuditEntry> {
    let gateway = Actor {
        name: "Bollard".into(),
        admin_key_id: None,
        channel: "gateway",
    };
    expired
        .iter()
        .map(|a| {
            let was = if a.decided_at.is_some() {
                "approved"
            } else {
                "pending"
            };
            let clause = if was == "approved" {
                format!(
                    "expired {}'s approval {} to {}: it was approved but not used by {}",
                    a.agent_name,
                    a.id,
                    a.sentence,
                    utc_time(a.expires_at, now)
                )
            } else {
                format!(
                    "expired {}'s request {} to {}: nobody approved it by {}",
                    a.agent_name,
                    a.id,
                    a.sentence,
                    utc_time(a.expires_at, now)
                )
            };
            Draft {
                by: &gateway,
                at: now,
                agent: Some((&a.agent_id, &a.agent_name)),
                what: "approval.expire",
                clauses: vec![clause],
                before: json!({"id": a.id, "state": was}),
                after: json!({"id": a.id, "state": "expired"}),
            }
            .into_record()
            .to_entry()
        })
        .collect()
}

/// Reveal on request: the arguments of a pending request with personal data in clear, for an
/// approver who asks to see them. The act is recorded first ("Dana revealed the personal data
/// in Sales Agent's request apr_... to ..."), as every admin act is; only then is the seal
/// opened. The clear arguments are kept (sealed) only while the request waits for a decision.
pub async fn reveal(
    store: &dyn Store,
    by: &Actor,
    id: &str,
    sealer: &Sealer,
    now: OffsetDateTime,
) -> OpsResult<(Approval, Value)> {
    expire_due(store, now).await;
    let a = get(store, id).await?;
    let Some(sealed) = a.sealed_arguments.clone() else {
        return Err(OpsError::Conflict(if a.state == ApprovalState::Pending {
            format!(
                "Nothing in the arguments of the request {} is masked: they are shown in full already.",
                a.id
            )
        } else {
            format!(
                "The request {} is {} now, and its personal data is no longer kept: Bollard keeps it, sealed, only while a request waits for a decision.",
                a.id,
                a.state.as_str()
            )
        }));
    };
    let clause = format!(
        "revealed the personal data in {}'s request {} to {}",
        a.agent_name, a.id, a.sentence
    );
    let state = json!({"id": a.id, "state": a.state.as_str()});
    let draft = Draft {
        by,
        at: now,
        agent: Some((&a.agent_id, &a.agent_name)),
        what: "approval.reveal",
        clauses: vec![clause],
        before: state.clone(),
        after: state,
    };
    let written = record_change(store, draft).await?;
    let clear = then(store, &written, async {
        sealer.open(&a.id, &sealed).ok_or_else(|| {
            OpsError::Conflict(format!(
                "The personal data of the request {} cannot be opened with this installation's secret.",
                a.id
            ))
        })
    })
    .await?;
    Ok((a, clear))
}
