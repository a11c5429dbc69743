//! Shaping Apollo's answer: counting what the agent got for the audit sentence (counts
//! only, never data). What the agent may not see is removed by [`super::personal`].

use bollard_policy::{Action, Shape};
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
    match action.shape {
        Shape::List { key, noun } => list(key, noun),
        Shape::Match { key } => Some(if j.get(key).is_some_and(|p| !p.is_null()) {
            "a match".into()
        } else {
            "no match".into()
        }),
        Shape::BulkMatches => {
            let m = j.get("matches")?.as_array()?;
            let found = m.iter().filter(|p| !p.is_null()).count();
            Some(format!("{found} of {} matched", m.len()))
        }
        Shape::SequenceAdded => {
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
        Shape::Records { key, noun } => {
            let n = j.get(key)?.as_array()?.len() as u64;
            Some(if n == 1 {
                format!("1 {}", singular(noun))
            } else {
                format!("{} {noun}", sentence::thousands(n))
            })
        }
        Shape::BulkCreated { created, existing } => {
            let n = j.get(created)?.as_array()?.len();
            let there = j
                .get(existing)
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            Some(if there > 0 {
                format!("{n} created and {there} already there")
            } else {
                format!("{n} created")
            })
        }
        Shape::Nothing => None,
    }
}

/// "contacts" -> "contact", "companies" -> "company": the catalog's nouns are plurals.
fn singular(noun: &str) -> String {
    if let Some(stem) = noun.strip_suffix("ies") {
        format!("{stem}y")
    } else {
        noun.strip_suffix('s').unwrap_or(noun).to_owned()
    }
}
