//! Bulk writes decided per record. A bulk create or update carries up to 100 records; each
//! is decided exactly as the single create or update of the same record would be (the same
//! grants, overrides and rules), so a rule written for `contacts.create` cannot be walked
//! around by sending the record through `contacts.bulk_create`.
//!
//! Bollard refuses the whole call when any record is refused, and names the records (by
//! position and, for updates, id; never by a person's name or email). Forwarding only the
//! allowed records would make Apollo's answer disagree with what the agent sent, and an
//! agent that does not read the note would take the dropped records for written.

use serde_json::{Map, Value};

use crate::args::Args;
use crate::catalog::{Action, ActionId};
use crate::decide::{AgentPolicy, Decision, decide};

/// The single action a bulk action's records are decided as, and where its records are.
pub fn single_of(id: ActionId) -> Option<(ActionId, &'static str)> {
    match id {
        ActionId::ContactsBulkCreate => Some((ActionId::ContactsCreate, "contacts")),
        ActionId::ContactsBulkUpdate => Some((ActionId::ContactsUpdate, "contact_attributes")),
        ActionId::AccountsBulkCreate => Some((ActionId::AccountsCreate, "accounts")),
        ActionId::AccountsBulkUpdate => Some((ActionId::AccountsUpdate, "account_attributes")),
        ActionId::TasksBulkCreate => Some((ActionId::TasksCreate, "contact_ids")),
        ActionId::PeopleSearch
        | ActionId::PeopleEnrich
        | ActionId::PeopleBulkEnrich
        | ActionId::OrganizationsSearch
        | ActionId::OrganizationsEnrich
        | ActionId::ContactsCreate
        | ActionId::ContactsUpdate
        | ActionId::ContactsSearch
        | ActionId::AccountsCreate
        | ActionId::AccountsUpdate
        | ActionId::AccountsSearch
        | ActionId::SequencesSearch
        | ActionId::SequencesAddContacts
        | ActionId::TasksCreate
        | ActionId::TasksSearch
        | ActionId::DealsCreate
        | ActionId::DealsUpdate
        | ActionId::DealsList
        | ActionId::UsersList
        | ActionId::UsersUsageStats
        | ActionId::PeopleView
        | ActionId::OrganizationsView
        | ActionId::OrganizationsBulkEnrich
        | ActionId::OrganizationsJobPostings
        | ActionId::OrganizationsNews
        | ActionId::ContactsView
        | ActionId::ContactsUpdateStages
        | ActionId::ContactsUpdateOwners
        | ActionId::ContactsStages
        | ActionId::ContactsLabels
        | ActionId::ContactsCustomFields
        | ActionId::AccountsView
        | ActionId::AccountsUpdateOwners
        | ActionId::AccountsStages
        | ActionId::SequencesRemoveContacts
        | ActionId::SequencesEmailAccounts
        | ActionId::DealsView
        | ActionId::DealsStages
        | ActionId::CallsCreate
        | ActionId::CallsSearch
        | ActionId::CallsUpdate
        | ActionId::UsersProfile
        | ActionId::UsersAuthHealth
        | ActionId::SequencesEmails
        | ActionId::SequencesEmailStats
        | ActionId::SequencesSendNow
        | ActionId::SequencesActivate
        | ActionId::SequencesDeactivate
        | ActionId::SequencesArchive
        | ActionId::TasksView
        | ActionId::TasksUpdate
        | ActionId::TasksComplete
        | ActionId::TasksSkip
        | ActionId::DealsContactDeals
        | ActionId::ContactsNotes
        | ActionId::ContactsFields
        | ActionId::ContactsCreateField
        | ActionId::ContactsUpdateFields
        | ActionId::CallsConversations
        | ActionId::CallsConversation
        | ActionId::PeopleWebhookResult
        | ActionId::UsersCreditUsage
        | ActionId::SequencesSchedules
        | ActionId::SequencesEmailContent
        | ActionId::SequencesEmailStatus
        | ActionId::SequencesActivity
        | ActionId::ContactsCreateList
        | ActionId::ContactsUpdateList
        | ActionId::ContactsAddToLists
        | ActionId::ContactsRemoveFromLists => None,
    }
}

/// The records of a bulk write (the objects of its list; anything else is skipped, and
/// validation refuses it). A bulk task creation is one task for many contacts, so its
/// records are that task once for each contact: the call's fields with that `contact_id`.
pub fn records_of(id: ActionId, args: &Args) -> Vec<Map<String, Value>> {
    let Some((_, key)) = single_of(id) else {
        return Vec::new();
    };
    // One set of fields for many ids: each id is a record of those fields.
    let (ids, field) = ids_mode(id, args).unwrap_or((key, ""));
    if !field.is_empty() {
        let mut common = args.value().clone();
        common.remove(ids);
        common.remove("async");
        return args
            .list(ids)
            .into_iter()
            .map(|one| {
                let mut record = common.clone();
                record.insert(field.to_owned(), Value::String(one));
                record
            })
            .collect();
    }
    match args.value().get(key) {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_object).cloned().collect(),
        _ => Vec::new(),
    }
}

/// Where a bulk write lists ids that share one set of fields, and the field each id becomes
/// in its record: a bulk task creation's `contact_ids` (one task per contact), and a bulk
/// update's `contact_ids` / `account_ids` when it has no per-record attributes (Apollo's
/// reference documents both forms of bulk update).
fn ids_mode(id: ActionId, args: &Args) -> Option<(&'static str, &'static str)> {
    let attributes = |key: &str| args.value().contains_key(key);
    match id {
        ActionId::TasksBulkCreate => Some(("contact_ids", "contact_id")),
        ActionId::ContactsBulkUpdate if !attributes("contact_attributes") => {
            Some(("contact_ids", "id"))
        }
        ActionId::AccountsBulkUpdate if !attributes("account_attributes") => {
            Some(("account_ids", "id"))
        }
        _ => None,
    }
}

/// The key under which a bulk write's records are named in sentences: `contacts[2]`.
fn record_key(id: ActionId, args: &Args) -> Option<&'static str> {
    let (_, key) = single_of(id)?;
    Some(ids_mode(id, args).map_or(key, |(ids, _)| ids))
}

/// One record of a bulk write and its decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordDecision {
    /// "contacts[2]", "account_attributes[0] (id acc_9)": where the record is, never who.
    pub label: String,
    pub decision: Decision,
}

/// Decides every record of a bulk write as its single create or update. Empty for an
/// action that is not a bulk write.
pub fn decide_records(policy: &AgentPolicy, action: &Action, args: &Args) -> Vec<RecordDecision> {
    let (Some((single, _)), Some(key)) = (single_of(action.id), record_key(action.id, args)) else {
        return Vec::new();
    };
    let single = single.action();
    records_of(action.id, args)
        .into_iter()
        .enumerate()
        .map(|(i, mut fields)| {
            let id = match fields.remove("id") {
                Some(Value::String(id)) if single.path_param.is_some() => Some(id),
                _ => None,
            };
            let label = match &id {
                Some(id) => format!(
                    "{key}[{i}] (id {})",
                    id.chars().take(40).collect::<String>()
                ),
                None => format!("{key}[{i}]"),
            };
            let decision = decide(policy, single, &Args::from_value(fields), id.as_deref());
            RecordDecision { label, decision }
        })
        .collect()
}

/// The clause of a bulk write refused for some of its records: "2 of 5 records are
/// refused: contacts[1] because the rule 'no CEOs' forbids it; contacts[3] because ...".
pub fn refused_clause(decisions: &[RecordDecision]) -> Option<String> {
    // A record that asks first is not refused: the whole call then asks (the gate's
    // approval phase), so the person approves every record at once.
    let refused: Vec<&RecordDecision> = decisions
        .iter()
        .filter(|d| !d.decision.allowed && !d.decision.asks())
        .collect();
    if refused.is_empty() {
        return None;
    }
    const NAMED: usize = 10;
    let mut parts: Vec<String> = refused
        .iter()
        .take(NAMED)
        .map(|d| format!("{} because {}", d.label, d.decision.because.clause()))
        .collect();
    if refused.len() > NAMED {
        parts.push(format!("and {} more", refused.len() - NAMED));
    }
    Some(format!(
        "{} of {} records {} refused as single writes ({}), and Bollard refuses a bulk write whole",
        refused.len(),
        decisions.len(),
        if refused.len() == 1 { "is" } else { "are" },
        parts.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::catalog;

    #[test]
    fn only_the_five_bulk_writes_have_records() {
        let bulk: Vec<_> = catalog()
            .iter()
            .filter(|a| single_of(a.id).is_some())
            .map(|a| a.id.as_str())
            .collect();
        assert_eq!(
            bulk,
            [
                "contacts.bulk_create",
                "contacts.bulk_update",
                "accounts.bulk_create",
                "accounts.bulk_update",
                "tasks.bulk_create"
            ]
        );
        for a in catalog() {
            if let Some((single, _)) = single_of(a.id) {
                assert_eq!(single.action().group, a.group);
                assert_eq!(single.action().kind, a.kind);
            }
        }
    }
}
