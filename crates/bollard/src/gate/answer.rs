//! Shaping Apollo's answer: counting what the agent got for the audit sentence (counts
//! only, never data). What the agent may not see is removed by [`super::personal`].

use bollard_policy::Action;
use serde_json::{Map, Value};

use crate::audit::sentence;

/// "25 of 1,204 people", "a match", "3 of 4 matched": counts for the sentence, never data.
pub(super) fn result_summary(action: &Action, j: &Value) -> Option<String> {
    let list = |key: &str, noun: &str| -> Option<String> {
        let n = j.get(key)?.as_array()?.len() as u64;
        let total = j
            .pointer("/pagination/total_entries")
            .or_else(|| j.get("total_entries"))
            .and_then(Value::as_u64);
        Some(match total {
            Some(t) => format!(
                "{} of {} {noun}",
                sentence::thousands(n),
                sentence::thousands(t)
            ),
            None => format!("{} {noun}", sentence::thousands(n)),
        })
    };
    match action.id {
        "people.search" => list("people", "people"),
        "organizations.search" => list("organizations", "companies"),
        "contacts.search" => list("contacts", "contacts"),
        "accounts.search" => list("accounts", "accounts"),
        "sequences.search" => list("emailer_campaigns", "sequences"),
        "tasks.search" => list("tasks", "tasks"),
        "deals.list" => list("opportunities", "deals"),
        "users.list" => list("users", "users"),
        "people.enrich" => Some(if j.get("person").is_some_and(|p| !p.is_null()) {
            "a match".into()
        } else {
            "no match".into()
        }),
        "organizations.enrich" => Some(if j.get("organization").is_some_and(|p| !p.is_null()) {
            "a match".into()
        } else {
            "no match".into()
        }),
        "people.bulk_enrich" => {
            let m = j.get("matches")?.as_array()?;
            let found = m.iter().filter(|p| !p.is_null()).count();
            Some(format!("{found} of {} matched", m.len()))
        }
        "sequences.add_contacts" => {
            let n = j.get("contacts")?.as_array()?.len();
            let skipped = j
                .get("skipped_contact_ids")
                .and_then(Value::as_object)
                .map_or(0, Map::len);
            Some(if skipped > 0 {
                format!("{n} added and {skipped} skipped")
            } else {
                format!("{n} added")
            })
        }
        _ => None,
    }
}
