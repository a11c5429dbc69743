//! Grants: what an agent may do, as an admin sets it in the grid. A level per
//! capability group, two sensitive switches (`reveal`, `waterfall`) and per-action
//! overrides. Missing means Off: everything is denied until granted. The JSON form is
//! stored, so it is kept stable.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::catalog::{Action, Group, Kind, action_ids, by_id};
use crate::decide::PolicyError;

/// The level of one capability group.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    #[default]
    Off,
    Read,
    /// The group's writes without its reads: for an agent that only logs leads.
    Write,
    Full,
}

impl Level {
    pub const ALL: [Level; 4] = [Level::Off, Level::Read, Level::Write, Level::Full];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Off => "off",
            Level::Read => "read",
            Level::Write => "write",
            Level::Full => "full",
        }
    }

    /// As the console's grid shows it: Off, Read, Write, Full use.
    pub fn title(self) -> &'static str {
        match self {
            Level::Off => "Off",
            Level::Read => "Read",
            Level::Write => "Write",
            Level::Full => "Full use",
        }
    }

    /// Whether this level allows actions of `kind`.
    pub fn allows(self, kind: Kind) -> bool {
        match self {
            Level::Off => false,
            Level::Read => kind == Kind::Read,
            Level::Write => kind == Kind::Write,
            Level::Full => true,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Level {
    type Err = PolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Level::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                PolicyError::Assignment(format!(
                    "'{s}' is not a level; use off, read, write or full."
                ))
            })
    }
}

/// What one agent is granted. `Default` is everything off.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Grants {
    /// A level per group; a missing group is Off.
    pub levels: BTreeMap<Group, Level>,
    /// Reveal personal emails and phone numbers (and see them in answers).
    pub reveal: bool,
    /// Third-party waterfall enrichment.
    pub waterfall: bool,
    /// Action id -> switched on (`true`) or off (`false`) against its group's level.
    pub overrides: BTreeMap<String, bool>,
    /// Ask first: a person approves each call before it runs. Holds group ids (`sequences`:
    /// the calls the group's level allows), action ids (`sequences.add_contacts`: switched
    /// on, with approval) and `reveal` (calls that reveal emails or phone numbers). Left out
    /// of the JSON when empty, so grants stored before approvals read and hash the same.
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub ask: BTreeSet<String>,
}

/// The word in the `ask` set for the reveal switch.
pub const ASK_REVEAL: &str = "reveal";

/// The title of the `reveal` switch, as reasons quote it.
pub const REVEAL_TITLE: &str = "Reveal emails and phone numbers";
/// The title of the `waterfall` switch, as reasons quote it.
pub const WATERFALL_TITLE: &str = "Waterfall enrichment";

impl Grants {
    /// The level of `group` (Off when not set).
    pub fn level(&self, group: Group) -> Level {
        self.levels.get(&group).copied().unwrap_or_default()
    }

    /// Whether the grid alone (level and override, no rules, no flags) allows `action`.
    pub fn allows(&self, action: &Action) -> bool {
        self.overrides
            .get(action.id.as_str())
            .copied()
            .unwrap_or_else(|| self.level(action.group).allows(action.kind))
    }

    /// Applies one CLI word: `people=read`, `reveal=full`, `reveal=off`,
    /// `people.bulk_enrich=off`, `contacts.create=on`, `contacts.create=default` (drops
    /// the override).
    pub fn apply(&mut self, assignment: &str) -> Result<(), PolicyError> {
        let Some((name, value)) = assignment.split_once('=') else {
            return Err(PolicyError::Assignment(format!(
                "'{assignment}' is not an assignment; write CAPABILITY=LEVEL (for example people=read) or ACTION=on|off (for example people.bulk_enrich=off)."
            )));
        };
        let (name, value) = (name.trim(), value.trim().to_ascii_lowercase());
        match name {
            "reveal" if value == "full:ask" || value == "on:ask" => {
                self.reveal = true;
                self.ask.insert(ASK_REVEAL.to_owned());
                Ok(())
            }
            "reveal" | "waterfall" => {
                let on = match value.as_str() {
                    "full" | "on" => true,
                    "off" => false,
                    _ => {
                        let choice = if name == "reveal" {
                            "off, full or full:ask (a person approves each reveal)"
                        } else {
                            "either off or full"
                        };
                        return Err(PolicyError::Assignment(format!(
                            "'{name}' is {choice}, not '{value}'."
                        )));
                    }
                };
                if name == "reveal" {
                    self.reveal = on;
                    self.ask.remove(ASK_REVEAL);
                } else {
                    self.waterfall = on;
                }
                Ok(())
            }
            _ if name.contains('.') => {
                let action = by_id(name).ok_or_else(|| {
                    PolicyError::Assignment(format!(
                        "'{name}' is not an action; the actions are: {}.",
                        action_ids()
                    ))
                })?;
                let id = action.id.to_string();
                match value.as_str() {
                    "on" => self.overrides.insert(id.clone(), true),
                    "ask" => self.overrides.insert(id.clone(), true),
                    "off" => self.overrides.insert(id.clone(), false),
                    "default" => self.overrides.remove(action.id.as_str()),
                    _ => {
                        return Err(PolicyError::Assignment(format!(
                            "An action is switched on, on with a person's approval, off or back to its group's default, not '{value}': write {name}=on, {name}=ask, {name}=off or {name}=default."
                        )));
                    }
                };
                if value == "ask" {
                    self.ask.insert(id);
                } else {
                    self.ask.remove(&id);
                }
                Ok(())
            }
            _ => {
                let group: Group = name.parse().map_err(|_| {
                    PolicyError::Assignment(format!(
                        "'{name}' is not a capability; the capabilities are: {}, reveal, waterfall (or an action id such as people.bulk_enrich).",
                        Group::words()
                    ))
                })?;
                let (level, ask) = match value.strip_suffix(":ask") {
                    Some(level) => (level, true),
                    None => (value.as_str(), false),
                };
                let level: Level = level.parse().map_err(|_| {
                    PolicyError::Assignment(format!(
                        "'{value}' is not a level for '{name}'; use off, read, write or full (add :ask to have a person approve each call, as in full:ask)."
                    ))
                })?;
                if ask && level == Level::Off {
                    return Err(PolicyError::Assignment(format!(
                        "'{name}=off:ask' would ask about calls that are never allowed; use read:ask, write:ask or full:ask."
                    )));
                }
                if level == Level::Write && !group.has_writes() {
                    return Err(PolicyError::Assignment(format!(
                        "'{name}' has no write actions, so 'write' would grant nothing; use off, read or full."
                    )));
                }
                if level == Level::Off {
                    self.levels.remove(&group);
                } else {
                    self.levels.insert(group, level);
                }
                if ask {
                    self.ask.insert(group.as_str().to_owned());
                } else {
                    self.ask.remove(group.as_str());
                }
                Ok(())
            }
        }
    }

    /// Whether the group's calls ask first (`sequences=full:ask`).
    pub fn asks_for_group(&self, group: Group) -> bool {
        self.ask.contains(group.as_str())
    }

    /// Whether the action is switched on with approval (`sequences.add_contacts=ask`).
    pub fn asks_for_action(&self, action: &Action) -> bool {
        self.ask.contains(action.id.as_str())
    }

    /// Whether calls that reveal emails or phone numbers ask first (`reveal=full:ask`).
    pub fn asks_for_reveal(&self) -> bool {
        self.reveal && self.ask.contains(ASK_REVEAL)
    }

    /// Plain-English lines of what the grid lets the agent do. With the agent's rules at
    /// hand, `AgentPolicy::summary` says more: a `permit` rule can widen the grid.
    pub fn summary(&self, agent_name: &str) -> Vec<String> {
        crate::summary::lines(self, None, agent_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::catalog;

    #[test]
    fn default_is_everything_off() {
        let g = Grants::default();
        assert!(catalog().iter().all(|a| !g.allows(a)));
        assert!(!g.reveal && !g.waterfall);
        assert_eq!(g.level(Group::Deals), Level::Off);
    }

    #[test]
    fn levels_allow_their_kinds() {
        assert!(!Level::Off.allows(Kind::Read) && !Level::Off.allows(Kind::Write));
        assert!(Level::Read.allows(Kind::Read) && !Level::Read.allows(Kind::Write));
        assert!(!Level::Write.allows(Kind::Read) && Level::Write.allows(Kind::Write));
        assert!(Level::Full.allows(Kind::Read) && Level::Full.allows(Kind::Write));
        for l in Level::ALL {
            assert_eq!(l.to_string().parse::<Level>().unwrap(), l);
        }
        assert!("FULL".parse::<Level>().is_ok());
        assert!("all".parse::<Level>().is_err());
    }

    #[test]
    fn applies_cli_words() {
        let mut g = Grants::default();
        for word in [
            "people=read",
            "contacts=full",
            "sequences=write",
            "reveal=full",
            "waterfall=off",
            "people.bulk_enrich=off",
            "deals.list=on",
        ] {
            g.apply(word).unwrap();
        }
        assert_eq!(g.level(Group::People), Level::Read);
        assert_eq!(g.level(Group::Sequences), Level::Write);
        assert!(g.reveal && !g.waterfall);
        assert_eq!(g.overrides.get("people.bulk_enrich"), Some(&false));
        assert!(!g.allows(by_id("people.bulk_enrich").unwrap()));
        assert!(g.allows(by_id("deals.list").unwrap()));
        g.apply("deals.list=default").unwrap();
        assert!(!g.allows(by_id("deals.list").unwrap()));
        g.apply("people=off").unwrap();
        assert!(!g.levels.contains_key(&Group::People));
    }

    #[test]
    fn capability_labels_are_words_too() {
        let mut by_label = Grants::default();
        by_label.apply("companies=read").unwrap();
        by_label.apply("Teammates=full").unwrap();
        let mut by_id = Grants::default();
        by_id.apply("organizations=read").unwrap();
        by_id.apply("users=full").unwrap();
        assert_eq!(by_label, by_id);
        let json: Grants =
            serde_json::from_str(r#"{"levels": {"companies": "read", "teammates": "full"}}"#)
                .unwrap();
        assert_eq!(json, by_id);
        assert_eq!(
            serde_json::to_string(&json.levels).unwrap(),
            r#"{"organizations":"read","users":"full"}"#,
            "stored under the id"
        );
    }

    #[test]
    fn refuses_unknown_words_with_what_is_valid() {
        let mut g = Grants::default();
        let cases = [
            "people",
            "nobody=read",
            "people=all",
            "reveal=read",
            "waterfall=write",
            "people=write",
            "people.nothing=off",
            "people.search=maybe",
        ];
        let messages: Vec<String> = cases
            .iter()
            .map(|c| format!("{c}: {}", g.apply(c).unwrap_err()))
            .collect();
        assert_eq!(g, Grants::default());
        insta::assert_snapshot!(messages.join("\n"));
    }

    #[test]
    fn json_form_is_stable() {
        let mut g = Grants::default();
        g.apply("people=read").unwrap();
        g.apply("contacts=full").unwrap();
        g.apply("reveal=full").unwrap();
        g.apply("people.bulk_enrich=off").unwrap();
        let json = serde_json::to_string(&g).unwrap();
        assert_eq!(
            json,
            r#"{"levels":{"people":"read","contacts":"full"},"reveal":true,"waterfall":false,"overrides":{"people.bulk_enrich":false}}"#
        );
        assert_eq!(serde_json::from_str::<Grants>(&json).unwrap(), g);
        assert_eq!(
            serde_json::from_str::<Grants>("{}").unwrap(),
            Grants::default()
        );
    }

    #[test]
    fn ask_first_words_set_the_ask_set_and_plain_words_clear_it() {
        let mut g = Grants::default();
        for w in [
            "sequences=full:ask",
            "contacts.create=ask",
            "reveal=full:ask",
            "people=read",
        ] {
            g.apply(w).unwrap();
        }
        assert_eq!(g.level(Group::Sequences), Level::Full);
        assert!(g.asks_for_group(Group::Sequences) && !g.asks_for_group(Group::People));
        assert!(g.asks_for_action(by_id("contacts.create").unwrap()));
        assert_eq!(g.overrides.get("contacts.create"), Some(&true));
        assert!(g.reveal && g.asks_for_reveal());
        let json = serde_json::to_string(&g).unwrap();
        assert!(
            json.ends_with(r#""ask":["contacts.create","reveal","sequences"]}"#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<Grants>(&json).unwrap(), g);
        for w in ["sequences=full", "contacts.create=on", "reveal=full"] {
            g.apply(w).unwrap();
        }
        assert!(g.ask.is_empty(), "{:?}", g.ask);
        assert!(g.apply("sequences=off:ask").is_err());
        assert!(g.apply("waterfall=full:ask").is_err());
        assert!(g.apply("sequences=maybe:ask").is_err());
    }

    #[test]
    fn summary_reads_plainly() {
        let mut g = Grants::default();
        for w in [
            "people=read",
            "contacts=read",
            "sequences=full",
            "people.bulk_enrich=off",
            "deals.list=on",
        ] {
            g.apply(w).unwrap();
        }
        insta::assert_snapshot!(g.summary("Sales Agent").join("\n"));
    }

    #[test]
    fn summary_says_waterfall_needs_reveal_too() {
        let mut g = Grants::default();
        g.apply("waterfall=full").unwrap();
        let last = g.summary("Sales Agent").pop().unwrap_or_default();
        assert!(
            last.contains("only once 'Reveal emails and phone numbers' is on too"),
            "{last}"
        );
        g.apply("reveal=full").unwrap();
        let last = g.summary("Sales Agent").pop().unwrap_or_default();
        assert!(!last.contains("only once"), "{last}");
    }
}
