//! Phase 5b, ask first: a call the decision allows only with a person's approval. The call is
//! bound to its approval by `approval::call_hash` over the agent, the action, the record id
//! and the canonical arguments as they would be forwarded.
//!
//! Order, and why: requests whose time is up are expired first (so an expired approval is
//! never used and the refusal can say it expired); then the approval is used, by the one
//! conditional UPDATE that makes it single use across replicas; only if there is none is the
//! request made (or the pending one found) and the call refused. A denied request refuses the
//! same call until it expires, so a person is not asked twice about a call they refused.

use serde_json::json;

use super::{Classified, Gate, Reply};
use crate::approval::{Before, Denied, Kept, Pending, utc_time};
use crate::audit::Record;
use crate::audit::sentence::{Caller, Door, What};
use crate::error::{Denial, Refusal, Refused, Unrecorded};
use crate::store::approvals::{Approval, ApprovalState, NewApproval, new_approval_id};
use bollard_policy::{Action, Decision};

impl Gate {
    /// Uses this call's approval (naming it in `rec`), or refuses the call: waiting for
    /// approval (the request made or found), or denied by a person.
    pub(super) async fn ask_first(
        &self,
        c: &Classified<'_>,
        decision: &Decision,
        what: &What,
        call: &super::Call,
        rec: &mut Record,
    ) -> Result<Approval, Refused> {
        let store = &self.inner.store;
        let agent = &c.live.agent;
        let now = self.inner.clock.now();
        let hash = self.inner.pii.call_hash(
            &agent.id,
            c.action.id.as_str(),
            c.path_id.as_deref(),
            c.args.value(),
        );
        let unavailable = |e: crate::store::StoreError| {
            tracing::error!(request_id = %call.request_id, error = %e, "the approvals store failed; refusing the call");
            Refused::new(Refusal::AuditUnavailable(Unrecorded::ApprovalStore))
        };
        crate::ops::approvals::expire_due(&**store, now).await;
        let approvals = store.approvals();
        if let Some(used) = approvals
            .use_approval(&agent.id, &hash, &call.request_id, now)
            .await
            .map_err(unavailable)?
        {
            rec.approval = Some(json!({
                "id": used.id,
                "state": "used",
                "approved_by": used.decided_by,
                "note": used.note,
            }));
            return Ok(used);
        }
        let mut rule_ids = decision.rule_ids.clone();
        rule_ids.sort();
        let latest = approvals
            .latest_approval(&agent.id, &hash)
            .await
            .map_err(unavailable)?;
        let before = match &latest {
            Some(a) if a.state == ApprovalState::Denied && a.expires_at > now => {
                rec.approval = Some(json!({"id": a.id, "state": "denied"}));
                let mut refused =
                    Refused::new(Refusal::Denied(Denial::ApprovalDenied(Box::new(Denied {
                        approval_id: a.id.clone(),
                        by: a.decided_by.clone().unwrap_or_else(|| "A person".into()),
                        note: a.note.clone(),
                        until: utc_time(a.expires_at, now),
                    }))));
                refused.rule_ids = rule_ids;
                return Err(refused);
            }
            Some(a) if a.state == ApprovalState::Used => Some(Before::Used {
                id: a.id.clone(),
                by: a.used_by.clone().unwrap_or_default(),
            }),
            Some(a) if a.state == ApprovalState::Expired => Some(Before::Expired {
                id: a.id.clone(),
                at: utc_time(a.expires_at, now),
            }),
            Some(_) => None,
            None => approvals
                .approved_other_call(&agent.id, c.action.id.as_str(), &hash, now)
                .await
                .map_err(unavailable)?
                // One made before call hashes were keyed cannot be compared: not another call.
                .filter(|a| a.call_hash.starts_with(crate::approval::CALL_HASH_PREFIX))
                .map(|a| Before::OtherCall { id: a.id }),
        };
        let settings = &self.inner.settings;
        let id = new_approval_id();
        // Reveal on request: the clear arguments, sealed, when the record keeps only hashes
        // of some of them.
        let clear = serde_json::Value::Object(c.args.value().clone());
        let sealed_arguments = if clear == rec.arguments {
            None
        } else {
            self.inner.pii.sealer().and_then(|s| s.seal(&id, &clear))
        };
        let new = NewApproval {
            id,
            agent_id: agent.id.clone(),
            agent_name: agent.name.clone(),
            action: c.action.id.to_string(),
            call_hash: hash,
            request_id: call.request_id.clone(),
            channel: rec.channel.clone(),
            sentence: what.inf.clone(),
            why: decision.clause(),
            rule_ids: rule_ids.clone(),
            arguments: rec.arguments.clone(),
            max_credits: if c.action.spends_credits() {
                settings.prices.max_cost(c.action, &c.args)
            } else {
                0
            },
            created_at: now,
            expires_at: now + settings.approvals.expires_after,
            notify_state: if settings.notifier.is_some() {
                "pending"
            } else {
                "none"
            },
            sealed_arguments,
        };
        let (request, created) = approvals
            .request_approval(&new)
            .await
            .map_err(unavailable)?;
        if created && let Some(n) = &settings.notifier {
            n.spawn(store.clone(), request.clone());
        }
        rec.approval = Some(json!({"id": request.id, "state": "pending", "new": created}));
        let mut refused = Refused::new(Refusal::ApprovalPending(Box::new(Pending {
            agent: agent.name.clone(),
            approval_id: request.id.clone(),
            what: what.inf.clone(),
            why: decision.clause(),
            expires: utc_time(request.expires_at, now),
            before,
        })));
        refused.rule_ids = rule_ids;
        Err(refused)
    }

    /// Gives back the approval `a` that the call `request_id` used, because the call was
    /// refused before anything was sent: it stays usable until it expires. The record (when
    /// there is one to write) names it as kept.
    pub(super) async fn give_back(
        &self,
        a: &Approval,
        request_id: &str,
        rec: Option<&mut Record>,
    ) -> Option<Box<Kept>> {
        match self
            .inner
            .store
            .approvals()
            .release_approval(&a.id, request_id)
            .await
        {
            Ok(true) => {
                if let Some(rec) = rec {
                    rec.approval = Some(json!({
                        "id": a.id,
                        "state": "kept",
                        "approved_by": a.decided_by,
                    }));
                }
                Some(Box::new(Kept {
                    approval_id: a.id.clone(),
                    until: utc_time(a.expires_at, self.inner.clock.now()),
                }))
            }
            Ok(false) => None,
            Err(e) => {
                tracing::error!(request_id, approval = %a.id, error = %e, "could not give back an approval a refused call had used; it stays used");
                None
            }
        }
    }

    /// Records and answers a call refused by the ask-first phase: waiting for approval has a
    /// sentence of its own; a denial reads as any other.
    pub(super) async fn refuse_asked(
        &self,
        mut rec: Box<Record>,
        caller: Caller<'_>,
        door: Door,
        what: &What,
        action: &'static Action,
        refused: Refused,
    ) -> Reply {
        match &refused.refusal {
            Refusal::ApprovalPending(p) => {
                let who = match caller {
                    Caller::Agent(name) => name.chars().take(80).collect::<String>(),
                    Caller::Unknown => "A caller without a valid key".to_owned(),
                };
                let door = match door {
                    Door::Rest => "over REST",
                    Door::Mcp => "over MCP",
                };
                rec.sentence = format!(
                    "{who}, {door}, asked to {}: waiting for a person's approval, because {}. Nothing was sent to Apollo.",
                    what.inf,
                    p.clause()
                );
                self.refuse(rec, Some(action), refused).await
            }
            _ => self.deny(rec, caller, door, what, action, refused).await,
        }
    }
}

/// The records of a call that used an approval say so: "...: allowed (approved by Dana,
/// apr_...). Sending it to Apollo.", and the same in the outcome's sentence.
pub(super) fn name_in_sentence(rec: &mut Record) {
    let Some(a) = &rec.approval else {
        return;
    };
    if a.get("state").and_then(|v| v.as_str()) != Some("used") {
        return;
    }
    let id = a.get("id").and_then(|v| v.as_str()).unwrap_or_default();
    let by = a
        .get("approved_by")
        .and_then(|v| v.as_str())
        .unwrap_or("a person");
    rec.sentence = rec.sentence.replacen(
        ": allowed",
        &format!(": allowed (approved by {by}, {id})"),
        1,
    );
}
