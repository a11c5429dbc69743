//! Admin changes on the record: who changed what, in a sentence, with the before and after as
//! data. `ops` writes one `admin` entry into the same hash chain as the calls for every change
//! it makes, whichever surface asked for it. Secrets never enter these entries: agents are
//! described without their key or key prefix, admin keys by id and name only.

use bollard_policy::grant::{REVEAL_TITLE, WATERFALL_TITLE};
use bollard_policy::{Grants, Group};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::Record;
use crate::store::{AdminKey, Agent, Limits, RateLimits, StoredRule};

/// Who made a change, and through which surface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// As a sentence names them mid-sentence: the admin key's name, or "the command line on
    /// host-1".
    pub name: String,
    pub admin_key_id: Option<String>,
    /// "cli", "api" or "console": the record's channel.
    pub channel: &'static str,
}

impl Actor {
    /// An admin key, through the admin API or the console.
    pub fn admin(key: &AdminKey, channel: &'static str) -> Self {
        Actor {
            name: key.name.clone(),
            admin_key_id: Some(key.id.clone()),
            channel,
        }
    }

    /// The CLI, which holds the database itself and has no admin key: the host is what can be
    /// said of who ran it.
    pub fn command_line(host: &str) -> Self {
        Actor {
            name: format!("the command line on {host}"),
            admin_key_id: None,
            channel: "cli",
        }
    }

    /// The name at the start of a sentence. An admin key's name is kept as its admin wrote it
    /// (it may be an address, "dana@acme.com"); only the command line's phrase is capitalised.
    fn subject(&self) -> String {
        if self.admin_key_id.is_some() {
            return self.name.clone();
        }
        let mut chars = self.name.chars();
        match chars.next() {
            Some(first) => first.to_uppercase().chain(chars).collect(),
            None => "Someone".to_owned(),
        }
    }
}

/// The structured part of an admin entry: what the hash covers besides the sentence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// What kind of change: "agent.create", "agent.update", "agent.revoke", "agent.rotate_key",
    /// "grants", "limits", "rule.add", "rule.remove", "admin_key.create", "admin_key.revoke".
    pub what: String,
    /// Who made it, as the sentence names them.
    pub by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_key_id: Option<String>,
    pub before: Value,
    pub after: Value,
}

/// An agent as an admin entry shows it: no key, no key prefix.
pub fn agent_state(a: &Agent) -> Value {
    json!({
        "id": a.id,
        "name": a.name,
        "description": a.description,
        "expires_at": a.expires_at.map(rfc3339),
        "revoked_at": a.revoked_at.map(rfc3339),
    })
}

pub fn rule_state(r: &StoredRule) -> Value {
    json!({"name": r.name, "cedar": r.cedar})
}

pub fn admin_key_state(k: &AdminKey) -> Value {
    json!({"id": k.id, "name": k.name, "revoked_at": k.revoked_at.map(rfc3339)})
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The facts of one change, from which the entry and its sentence are made.
#[derive(Debug, Clone)]
pub struct Draft<'a> {
    pub by: &'a Actor,
    pub at: OffsetDateTime,
    /// The agent changed, if the change is to an agent.
    pub agent: Option<(&'a str, &'a str)>,
    pub what: &'static str,
    /// Verb phrases after the actor: "created the agent Sales Agent".
    pub clauses: Vec<String>,
    pub before: Value,
    pub after: Value,
}

impl Draft<'_> {
    pub fn sentence(&self) -> String {
        format!("{} {}.", self.by.subject(), join_clauses(&self.clauses))
    }

    pub fn into_record(self) -> Record {
        let sentence = self.sentence();
        Record {
            agent_id: self.agent.map(|(id, _)| id.to_owned()),
            agent_name: self.agent.map(|(_, name)| name.to_owned()),
            // Neither allowed nor denied: the decision filter of calls never matches it.
            decision: "changed".into(),
            sentence,
            change: Some(Change {
                what: self.what.to_owned(),
                by: self.by.name.clone(),
                admin_key_id: self.by.admin_key_id.clone(),
                before: self.before,
                after: self.after,
            }),
            ..Record::blank(
                "admin",
                format!("chg_{}", uuid::Uuid::now_v7().simple()),
                self.at,
                self.by.channel,
            )
        }
    }
}

fn join_clauses(clauses: &[String]) -> String {
    match clauses {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// What changed between two sets of grants, as verb phrases ("changed Sales Agent's
/// Contacts from Read to Full use").
pub fn grant_clauses(agent: &str, before: &Grants, after: &Grants) -> Vec<String> {
    let on_off = |on: bool| if on { "Full use" } else { "Off" };
    let mut levels: Vec<String> = Group::ALL
        .into_iter()
        .filter(|g| before.level(*g) != after.level(*g))
        .map(|g| {
            format!(
                "{} from {} to {}",
                g.title(),
                before.level(g).title(),
                after.level(g).title()
            )
        })
        .collect();
    for (title, b, a) in [
        (REVEAL_TITLE, before.reveal, after.reveal),
        (WATERFALL_TITLE, before.waterfall, after.waterfall),
    ] {
        if b != a {
            levels.push(format!("{title} from {} to {}", on_off(b), on_off(a)));
        }
    }
    let mut out = Vec::new();
    let ids = before.overrides.keys().chain(after.overrides.keys());
    let mut seen = std::collections::BTreeSet::new();
    for id in ids.filter(|id| seen.insert(*id)) {
        let title = bollard_policy::by_id(id).map_or(id.as_str(), |a| a.title);
        let (b, a) = (before.overrides.get(id), after.overrides.get(id));
        if b != a {
            out.push(match a {
                Some(true) => format!("switched '{title}' on for {agent}"),
                Some(false) => format!("switched '{title}' off for {agent}"),
                None => format!("set '{title}' back to its group's level for {agent}"),
            });
        }
    }
    // Ask first: what now waits for a person's approval, and what no longer does.
    let ask_title = |w: &str| -> String {
        if w == bollard_policy::grant::ASK_REVEAL {
            REVEAL_TITLE.to_owned()
        } else if let Some(a) = bollard_policy::by_id(w) {
            a.title.to_owned()
        } else {
            Group::ALL
                .into_iter()
                .find(|g| g.as_str() == w)
                .map_or_else(|| w.to_owned(), |g| g.title().to_owned())
        }
    };
    for w in after.ask.difference(&before.ask) {
        out.push(format!(
            "made '{}' ask a person to approve each call for {agent}",
            ask_title(w)
        ));
    }
    for w in before.ask.difference(&after.ask) {
        out.push(format!(
            "stopped '{}' asking a person first for {agent}",
            ask_title(w)
        ));
    }
    if !levels.is_empty() {
        // One "and" per sentence: the levels take it only when nothing follows them.
        let levels = if out.is_empty() {
            join_clauses(&levels)
        } else {
            levels.join(", ")
        };
        out.insert(0, format!("changed {agent}'s {levels}"));
    }
    out
}

/// What changed between two sets of limits ("gave Sales Agent a daily budget of 50 credits").
pub fn limit_clauses(agent: &str, before: &Limits, after: &Limits) -> Vec<String> {
    let mut out = Vec::new();
    for (label, b, a) in [
        (
            "daily budget",
            before.credits_per_day,
            after.credits_per_day,
        ),
        (
            "monthly budget",
            before.credits_per_month,
            after.credits_per_month,
        ),
    ] {
        out.extend(match (b, a) {
            (None, Some(a)) => Some(format!("gave {agent} a {label} of {a} credits")),
            (Some(b), Some(a)) if b != a => {
                Some(format!("changed {agent}'s {label} from {b} to {a} credits"))
            }
            (Some(_), None) => Some(format!("removed {agent}'s {label}")),
            _ => None,
        });
    }
    out.extend(rate_clauses(agent, "", &rates(before), &rates(after)));
    let actions = before.actions.keys().chain(after.actions.keys());
    let mut seen = std::collections::BTreeSet::new();
    for id in actions.filter(|id| seen.insert(*id)) {
        let none = RateLimits::default();
        let b = before.actions.get(id).unwrap_or(&none);
        let a = after.actions.get(id).unwrap_or(&none);
        out.extend(rate_clauses(agent, &format!(" for {id}"), b, a));
    }
    match (before.team_share_percent, after.team_share_percent) {
        (b, Some(a)) if b != Some(a) => out.push(format!(
            "set {agent}'s share of the team's rate window to {a}%"
        )),
        (Some(_), None) => out.push(format!("removed {agent}'s share of the team's rate window")),
        _ => {}
    }
    out
}

fn rates(l: &Limits) -> RateLimits {
    RateLimits {
        per_minute: l.per_minute,
        per_hour: l.per_hour,
        per_day: l.per_day,
    }
}

fn rate_clauses(agent: &str, scope: &str, before: &RateLimits, after: &RateLimits) -> Vec<String> {
    let mut out = Vec::new();
    // "an hour", and "1 request" (found in review: "2 requests a hour", "1 requests").
    for (window, b, a) in [
        ("a minute", before.per_minute, after.per_minute),
        ("an hour", before.per_hour, after.per_hour),
        ("a day", before.per_day, after.per_day),
    ] {
        out.extend(match (b, a) {
            (b, Some(a)) if b != Some(a) => {
                let requests = if a == 1 { "request" } else { "requests" };
                Some(format!("limited {agent}{scope} to {a} {requests} {window}"))
            }
            (Some(_), None) => Some(format!(
                "removed {agent}'s limit of requests {window}{scope}"
            )),
            _ => None,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_reads_as_english_for_one_request_and_for_an_hour() {
        let none = RateLimits::default();
        let set = RateLimits {
            per_minute: Some(1),
            per_hour: Some(2),
            per_day: None,
        };
        assert_eq!(
            rate_clauses("G", "", &none, &set),
            [
                "limited G to 1 request a minute",
                "limited G to 2 requests an hour"
            ]
        );
        assert_eq!(
            rate_clauses("G", "", &set, &none),
            [
                "removed G's limit of requests a minute",
                "removed G's limit of requests an hour"
            ]
        );
    }

    fn dana() -> Actor {
        Actor {
            name: "Dana".into(),
            admin_key_id: Some("adm_1".into()),
            channel: "api",
        }
    }

    fn sentence(clauses: Vec<String>, by: &Actor) -> String {
        Draft {
            by,
            at: OffsetDateTime::UNIX_EPOCH,
            agent: None,
            what: "test",
            clauses,
            before: Value::Null,
            after: Value::Null,
        }
        .sentence()
    }

    #[test]
    fn sentences_for_admin_changes() {
        let mut before = Grants::default();
        before.apply("contacts=read").unwrap();
        let mut contacts = before.clone();
        contacts.apply("contacts=full").unwrap();
        let mut after = before.clone();
        for w in ["contacts=full", "reveal=full", "people.bulk_enrich=off"] {
            after.apply(w).unwrap();
        }
        let budget = Limits {
            credits_per_day: Some(50),
            per_minute: Some(60),
            ..Limits::default()
        };
        let cli = Actor::command_line("host-1");
        let lines = [
            sentence(grant_clauses("Sales Agent", &before, &contacts), &dana()),
            sentence(grant_clauses("Sales Agent", &before, &after), &dana()),
            sentence(
                limit_clauses("Sales Agent", &Limits::default(), &budget),
                &dana(),
            ),
            sentence(
                limit_clauses("Sales Agent", &budget, &Limits::default()),
                &cli,
            ),
            sentence(vec!["created the agent Sales Agent".into()], &cli),
        ];
        assert_eq!(
            lines[0],
            "Dana changed Sales Agent's Contacts from Read to Full use."
        );
        insta::assert_snapshot!(lines.join("\n"));
    }
}
