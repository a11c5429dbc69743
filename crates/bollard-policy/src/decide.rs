//! The decision: an agent's grants and rules compiled once into a Cedar policy set, and
//! `decide()`, which asks Cedar about one call and explains the answer in one sentence.
//!
//! Cedar's semantics are the product's: no permit means deny, any forbid means deny.
//! One addition, failing closed: a `forbid` that errors during evaluation denies the
//! call (Cedar would skip it), because a rule meant to stop calls must not open the door
//! by failing. An erroring `permit` simply grants nothing, as in Cedar.
//!
//! Cedar entities have no namespace, so admins write short rules:
//! principal `Agent::"<id>"`, action `Action::"people.search"` (whose parents are
//! `Action::"people"` and `Action::"read"` or `Action::"write"`), resource
//! `Group::"people"`. The context is built value by value (never from the agent's raw
//! JSON, whose `__entity` and `__extn` keys Cedar's JSON form would interpret):
//!
//! | key | type | meaning |
//! |---|---|---|
//! | `reveal_personal_emails`, `reveal_phone_number`, `run_waterfall_email`, `run_waterfall_phone` | Bool | the strictest reading of the flag |
//! | `page`, `per_page` | Long | Apollo's defaults 1 and 25 when absent; the largest Long when unreadable |
//! | `record_count` | Long | length of `details` (bulk enrichment), of `contact_ids` (sequences), else 1 |
//! | `path_id` | String | the record id of the path, "" if none |
//! | `sequence_id` | String | for sequence actions: the path id (or `emailer_campaign_id`), else "" |
//! | `webhook_url`, `q_keywords` | String | as Apollo reads text (a number written out); "" when absent |
//! | `person_titles`, `contact_ids`, `q_organization_domains_list` | Set<String> | empty when absent |
//! | `args` | Record | every argument whose key is `[A-Za-z0-9_]+`: strings, bools, integers, floats as strings, lists as Sets, objects as Records, 8 levels deep |

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::str::FromStr;

use cedar_policy::{
    AuthorizationError, Authorizer, Context, Decision as CedarDecision, Effect, Entities, Entity,
    EntityId, EntityTypeName, EntityUid, Policy, PolicyId, PolicySet, Request,
    RestrictedExpression,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::args::Args;
use crate::catalog::{Action, ActionId, Group, Kind, by_id, catalog};
use crate::grant::{Grants, Level, REVEAL_TITLE, WATERFALL_TITLE};

/// An admin's advanced rule: one Cedar policy, usually a `forbid`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub name: String,
    pub cedar: String,
}

/// What went wrong compiling grants and rules. Every message is a sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A grant assignment (`people=read`) that does not make sense.
    #[error("{0}")]
    Assignment(String),
    /// A rule that is not exactly one valid Cedar policy.
    #[error("{0}")]
    InvalidRule(String),
    /// A rule name that cannot be used.
    #[error("{0}")]
    RuleName(String),
    /// Grants that refer to something the catalog does not have.
    #[error("{0}")]
    Grants(String),
    /// Cedar refused something Bollard built itself: a bug, reported rather than hidden.
    #[error("Bollard could not build the agent's policy: {0}.")]
    Internal(String),
}

/// The answer to "may this agent make this call?", with its reason as data and the ids of the
/// Cedar policies that decided it (`grant:people`, `override:people.bulk_enrich`,
/// `grant:reveal`, `rule:only-q4`). The sentence is rendered from the reason, once for the
/// agent ([`Decision::reason`]) and once for the record ([`Decision::clause`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// False when the call needs a person's approval first (`ask` says why): a caller that
    /// looks only at `allowed` fails closed.
    pub allowed: bool,
    /// The agent's name, as the sentence says it.
    pub agent: String,
    pub action: ActionId,
    pub because: Reason,
    pub rule_ids: Vec<String>,
    /// Allowed by the grants and rules, but only once a person approves this exact call.
    pub ask: Option<Ask>,
}

/// Why a call the agent may make waits for a person's approval ("ask first").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    /// The group's level is set with approval (`sequences=full:ask`).
    Capability { group: Group, level: Level },
    /// The action is switched on with approval (`sequences.add_contacts=ask`).
    Action,
    /// The call reveals emails or phone numbers, and the reveal switch asks first.
    Reveal { what: &'static str },
    /// `permit` rules annotated `@ask` allow it (names, quoted).
    Rules { rules: Vec<String> },
}

impl Ask {
    /// The clause after "because": "'Sequences' is Full use with approval for this agent".
    pub fn clause(&self) -> String {
        match self {
            Ask::Capability { group, level } => format!(
                "'{}' is {} with a person's approval for this agent",
                group.title(),
                level.title()
            ),
            Ask::Action => {
                "the action is switched on with a person's approval for this agent".to_owned()
            }
            Ask::Reveal { what } => format!(
                "it reveals {what}, and '{REVEAL_TITLE}' needs a person's approval for this agent"
            ),
            Ask::Rules { rules } => match rules.as_slice() {
                [one] => format!("the rule {one} asks for a person's approval"),
                _ => format!("the rules {} ask for a person's approval", join_and(rules)),
            },
        }
    }

    /// The rule ids that asked, for the record.
    pub fn rule_names(&self) -> Vec<String> {
        match self {
            Ask::Rules { rules } => rules.clone(),
            Ask::Capability { .. } | Ask::Action | Ask::Reveal { .. } => Vec::new(),
        }
    }
}

/// The annotation that makes a `permit` rule ask first: `@ask("over 25 contacts") permit(...)`.
pub const ASK_ANNOTATION: &str = "ask";

/// Why a call is allowed or denied: which setting, which rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Allowed by the group's level in the grid.
    Level { group: Group, level: Level },
    /// Allowed by an override that switches the action on.
    SwitchedOn,
    /// Allowed by the agent's own `permit` rules (names, quoted).
    RulesPermit { rules: Vec<String> },
    /// Denied: the call asks to reveal emails or phone numbers and the switch is Off.
    RevealOff { what: &'static str },
    /// Denied: the call asks for waterfall enrichment and the switch is Off.
    WaterfallOff { what: &'static str },
    /// Denied: waterfall enrichment delivers emails or phone numbers, and the reveal switch
    /// is Off.
    WaterfallNeedsReveal { what: &'static str },
    /// Denied by an override that switches the action off.
    SwitchedOff,
    /// Denied by the agent's `forbid` rules (names, quoted).
    RulesForbid { rules: Vec<String> },
    /// Denied because a `forbid` rule could not be evaluated (fail closed).
    RuleFailed { rule: String, error: String },
    /// Denied because nothing permits it: the group's level, and any `permit` rules that
    /// might have allowed it but could not be evaluated.
    NotGranted {
        group: Group,
        level: Level,
        kind: Kind,
        failed_permits: Vec<String>,
    },
    /// Denied because the call could not be put to Cedar at all.
    Unevaluable { error: String },
}

impl Reason {
    /// The clause after "because": "'Contacts' is Read only for this agent".
    pub fn clause(&self) -> String {
        match self {
            Reason::Level { group, level } => {
                format!("'{}' is {} for this agent", group.title(), level.title())
            }
            Reason::SwitchedOn => "the action is switched on for this agent".to_owned(),
            Reason::RulesPermit { rules } => match rules.as_slice() {
                [one] => format!("the rule {one} permits it"),
                _ => format!("the rules {} permit it", join_and(rules)),
            },
            Reason::RevealOff { .. } => format!("'{REVEAL_TITLE}' is Off for this agent"),
            Reason::WaterfallOff { .. } => format!("'{WATERFALL_TITLE}' is Off for this agent"),
            Reason::WaterfallNeedsReveal { what } => {
                format!("it delivers {what}, and '{REVEAL_TITLE}' is Off for this agent")
            }
            Reason::SwitchedOff => "the action is switched off for this agent".to_owned(),
            Reason::RulesForbid { rules } => match rules.as_slice() {
                [one] => format!("the rule {one} forbids it"),
                _ => format!("the rules {} forbid it", join_and(rules)),
            },
            Reason::RuleFailed { rule, error } => format!(
                "the rule {rule} could not be evaluated ({error}), and a rule that fails never lets a call through"
            ),
            Reason::NotGranted {
                group,
                level,
                kind,
                failed_permits,
            } => {
                let group = group.title();
                let mut because = match (level, kind) {
                    (Level::Off, _) => format!("'{group}' is Off for this agent"),
                    (Level::Read, Kind::Write) => format!("'{group}' is Read only for this agent"),
                    (Level::Write, Kind::Read) => {
                        format!("'{group}' is Write only for this agent")
                    }
                    (Level::Read | Level::Write | Level::Full, _) => {
                        "no grant or rule allows it".to_owned()
                    }
                };
                if !failed_permits.is_empty() {
                    because.push_str(&format!(
                        ", and the rule {} that might allow it could not be evaluated",
                        join_and(failed_permits)
                    ));
                }
                because
            }
            Reason::Unevaluable { error } => {
                format!("Bollard could not evaluate the call ({error})")
            }
        }
    }

    /// Whether the reason is a rule that could not be evaluated (a rule to point out to
    /// the admin who wrote it).
    pub fn is_rule_failure(&self) -> bool {
        matches!(self, Reason::RuleFailed { .. })
            || matches!(self, Reason::NotGranted { failed_permits, .. } if !failed_permits.is_empty())
    }
}

impl Decision {
    /// What the agent may or may not do, as the sentence says it: "reveal phone numbers",
    /// or the action's title.
    fn subject(&self) -> String {
        match &self.because {
            Reason::RevealOff { what } => format!("reveal {what}"),
            Reason::WaterfallOff { what } | Reason::WaterfallNeedsReveal { what } => {
                format!("run waterfall enrichment for {what}")
            }
            Reason::Level { .. }
            | Reason::SwitchedOn
            | Reason::RulesPermit { .. }
            | Reason::SwitchedOff
            | Reason::RulesForbid { .. }
            | Reason::RuleFailed { .. }
            | Reason::NotGranted { .. }
            | Reason::Unevaluable { .. } => self.action.action().title_lower(),
        }
    }

    /// The sentence for the agent: "Sales Agent may not create contacts: 'Contacts' is Read
    /// only for this agent."
    pub fn reason(&self) -> String {
        if let Some(ask) = &self.ask {
            return format!(
                "{} may {} only once a person approves the call: {}.",
                self.agent,
                self.subject(),
                ask.clause()
            );
        }
        let may = if self.allowed { "may" } else { "may not" };
        format!(
            "{} {may} {}: {}.",
            self.agent,
            self.subject(),
            self.because.clause()
        )
    }

    /// The clause for the record, after "because".
    pub fn clause(&self) -> String {
        match &self.ask {
            Some(ask) => ask.clause(),
            None => self.because.clause(),
        }
    }

    /// Whether the call may go ahead once a person approves it.
    pub fn asks(&self) -> bool {
        self.ask.is_some()
    }
}

/// Serialized as programs read it: the decision, the sentence and the rule ids.
impl Serialize for Decision {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Plain<'a> {
            allowed: bool,
            reason: String,
            rule_ids: &'a [String],
            #[serde(skip_serializing_if = "std::ops::Not::not")]
            needs_approval: bool,
        }
        Plain {
            allowed: self.allowed,
            reason: self.reason(),
            rule_ids: &self.rule_ids,
            needs_approval: self.ask.is_some(),
        }
        .serialize(s)
    }
}

/// Checks that `cedar` is exactly one valid Cedar policy (not a template).
pub fn check_rule(cedar: &str) -> Result<(), PolicyError> {
    let set = PolicySet::from_str(cedar)
        .map_err(|e| PolicyError::InvalidRule(format!("The rule is not valid Cedar: {e}.")))?;
    let policies = set.policies().count();
    let templates = set.templates().count();
    if templates > 0 {
        return Err(PolicyError::InvalidRule(
            "The rule is a Cedar template (it has ?principal or ?resource); write a plain policy instead.".to_owned(),
        ));
    }
    if policies != 1 {
        return Err(PolicyError::InvalidRule(format!(
            "A rule must be exactly one Cedar policy (one permit or one forbid); this text has {policies}."
        )));
    }
    Ok(())
}

/// Checks a rule name: 1 to 64 of `A-Z a-z 0-9 _ . -`.
pub fn check_rule_name(name: &str) -> Result<(), PolicyError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(PolicyError::RuleName(format!(
            "'{name}' cannot name a rule; use 1 to 64 letters, digits, '_', '.' or '-' (for example only-q4)."
        )))
    }
}

/// The ids of the grid's own policies: [`AgentPolicy::compile`] names them so, and
/// [`decide`] reads the reason back from them (and writes them itself for an agent without
/// rules).
const REVEAL_POLICY: &str = "grant:reveal";
const WATERFALL_POLICY: &str = "grant:waterfall";
const GRANT_PREFIX: &str = "grant:";
const OVERRIDE_PREFIX: &str = "override:";

fn grant_id(group: Group) -> String {
    format!("{GRANT_PREFIX}{group}")
}

fn override_id(action: ActionId) -> String {
    format!("{OVERRIDE_PREFIX}{action}")
}

/// One agent's grants and rules, compiled once into a Cedar policy set.
#[derive(Debug, Clone)]
pub struct AgentPolicy {
    agent_id: String,
    agent_name: String,
    grants: Grants,
    set: PolicySet,
    entities: Entities,
    principal: EntityUid,
    /// Whether the admin wrote rules: without them the grants decide alone (see [`decide`]).
    has_rules: bool,
}

fn uid(type_name: &str, id: &str) -> Result<EntityUid, PolicyError> {
    let t = EntityTypeName::from_str(type_name)
        .map_err(|e| PolicyError::Internal(format!("entity type {type_name}: {e}")))?;
    Ok(EntityUid::from_type_name_and_id(t, EntityId::new(id)))
}

/// `"` and `\` escaped, for ids inside Cedar source. Catalog ids never need it.
fn cedar_str(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

impl AgentPolicy {
    /// Compiles the grid and the rules into a Cedar policy set:
    /// `grant:<group>` permits listing the actions each level allows,
    /// `override:<action>` permits or forbids, `grant:reveal` and `grant:waterfall`
    /// forbids when those switches are off, and `rule:<name>` for each rule.
    pub fn compile(
        agent_id: &str,
        agent_name: &str,
        grants: &Grants,
        rules: &[Rule],
    ) -> Result<AgentPolicy, PolicyError> {
        let mut set = PolicySet::new();
        let mut add = |id: String, src: String| -> Result<(), PolicyError> {
            let policy = Policy::parse(Some(PolicyId::new(&id)), &src)
                .map_err(|e| PolicyError::Internal(format!("{id}: {e}")))?;
            set.add(policy)
                .map_err(|e| PolicyError::Internal(format!("{id}: {e}")))
        };

        for group in Group::ALL {
            let level = grants.level(group);
            let actions: Vec<String> = group
                .actions()
                .filter(|a| level.allows(a.kind))
                .map(|a| format!("Action::\"{}\"", cedar_str(a.id.as_str())))
                .collect();
            if !actions.is_empty() {
                add(
                    grant_id(group),
                    format!(
                        "permit(principal, action in [{}], resource);",
                        actions.join(", ")
                    ),
                )?;
            }
        }
        for (id, on) in &grants.overrides {
            let action = by_id(id).ok_or_else(|| {
                PolicyError::Grants(format!(
                    "The grants switch '{id}' {}, but there is no such action; remove the override.",
                    if *on { "on" } else { "off" }
                ))
            })?;
            let effect = if *on { "permit" } else { "forbid" };
            add(
                override_id(action.id),
                format!(
                    "{effect}(principal, action == Action::\"{}\", resource);",
                    cedar_str(action.id.as_str())
                ),
            )?;
        }
        if !grants.reveal {
            // Waterfall enrichment delivers emails and phone numbers too, so it needs the
            // reveal switch as well as its own.
            add(
                REVEAL_POLICY.to_owned(),
                "forbid(principal, action, resource) when { context.reveal_personal_emails || context.reveal_phone_number || context.run_waterfall_email || context.run_waterfall_phone };".to_owned(),
            )?;
        }
        if !grants.waterfall {
            add(
                WATERFALL_POLICY.to_owned(),
                "forbid(principal, action, resource) when { context.run_waterfall_email || context.run_waterfall_phone };".to_owned(),
            )?;
        }

        let mut names = BTreeSet::new();
        for rule in rules {
            check_rule_name(&rule.name)?;
            if !names.insert(rule.name.as_str()) {
                return Err(PolicyError::RuleName(format!(
                    "Two rules are named '{}'; give each rule its own name.",
                    rule.name
                )));
            }
            check_rule(&rule.cedar)
                .map_err(|e| PolicyError::InvalidRule(format!("Rule '{}': {e}", rule.name)))?;
            let id = PolicyId::new(format!("rule:{}", rule.name));
            let policy = Policy::parse(Some(id), &rule.cedar).map_err(|e| {
                PolicyError::InvalidRule(format!("Rule '{}' is not valid Cedar: {e}.", rule.name))
            })?;
            set.add(policy).map_err(|e| {
                PolicyError::InvalidRule(format!("Rule '{}' cannot be added: {e}.", rule.name))
            })?;
        }

        let principal = uid("Agent", agent_id)?;
        let mut entities = vec![
            Entity::new(
                principal.clone(),
                HashMap::from([(
                    "name".to_owned(),
                    RestrictedExpression::new_string(agent_name.to_owned()),
                )]),
                HashSet::new(),
            )
            .map_err(|e| PolicyError::Internal(e.to_string()))?,
        ];
        for kind in [Kind::Read, Kind::Write] {
            entities.push(Entity::new_no_attrs(
                uid("Action", kind.as_str())?,
                HashSet::new(),
            ));
        }
        for group in Group::ALL {
            entities.push(Entity::new_no_attrs(
                uid("Action", group.as_str())?,
                HashSet::new(),
            ));
            entities.push(Entity::new_no_attrs(
                uid("Group", group.as_str())?,
                HashSet::new(),
            ));
        }
        for action in catalog() {
            let parents = HashSet::from([
                uid("Action", action.group.as_str())?,
                uid("Action", action.kind.as_str())?,
            ]);
            entities.push(Entity::new_no_attrs(
                uid("Action", action.id.as_str())?,
                parents,
            ));
        }
        let entities = Entities::from_entities(entities, None)
            .map_err(|e| PolicyError::Internal(e.to_string()))?;

        Ok(AgentPolicy {
            agent_id: agent_id.to_owned(),
            agent_name: agent_name.to_owned(),
            grants: grants.clone(),
            set,
            entities,
            principal,
            has_rules: !rules.is_empty(),
        })
    }

    pub fn agent_id(&self) -> &str {
        &self.agent_id
    }

    pub fn agent_name(&self) -> &str {
        &self.agent_name
    }

    pub fn grants(&self) -> &Grants {
        &self.grants
    }

    /// Plain-English lines of what the agent can do: the grid, widened by `permit` rules
    /// and narrowed by `forbid` rules (see `summary`).
    pub fn summary(&self) -> Vec<String> {
        crate::summary::lines(&self.grants, Some(self), &self.agent_name)
    }

    pub(crate) fn policies(&self) -> impl Iterator<Item = &Policy> {
        self.set.policies()
    }

    pub(crate) fn principal(&self) -> &EntityUid {
        &self.principal
    }

    /// The compiled policy set as Cedar text, for the console and `agent show`.
    pub fn cedar_text(&self) -> String {
        self.set.to_string()
    }
}

/// Decides one call. Never panics: anything that cannot be evaluated denies.
///
/// An agent without rules is decided from its grants directly: its policy set holds only the
/// grid's own policies (`grant:*` and `override:*` permits and forbids), whose meaning is
/// fixed, so a few table lookups give Cedar's answer without building a context or running
/// the authorizer. The test `grants_alone_decide_as_cedar_does` (in `decide_tests.rs`) holds
/// the two equal over every action, level, switch, override, ask and flag.
pub fn decide(
    policy: &AgentPolicy,
    action: &Action,
    args: &Args,
    path_id: Option<&str>,
) -> Decision {
    let engine = if policy.has_rules {
        Engine::Cedar
    } else {
        Engine::Grants
    };
    decide_with(engine, policy, action, args, path_id)
}

/// Who evaluates the policies: Cedar, or (for the grid's own policies only) [`by_grants`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Engine {
    Cedar,
    Grants,
}

/// What the policies said about one call: the ids of those that applied, and of those that
/// could not be evaluated.
#[derive(Debug, Default)]
struct Found {
    forbids: Vec<String>,
    /// Id and Cedar's error.
    failed_forbids: Vec<(String, String)>,
    permits: Vec<String>,
    failed_permits: Vec<String>,
}

pub(crate) fn decide_with(
    engine: Engine,
    policy: &AgentPolicy,
    action: &Action,
    args: &Args,
    path_id: Option<&str>,
) -> Decision {
    let found = match engine {
        Engine::Cedar => by_cedar(policy, action, args, path_id),
        Engine::Grants => Ok(by_grants(&policy.grants, action, args)),
    };
    let decision = |allowed: bool, because: Reason, rule_ids: Vec<String>| Decision {
        allowed,
        agent: policy.agent_name.clone(),
        action: action.id,
        because,
        rule_ids,
        ask: None,
    };
    let deny = |because: Reason, rule_ids: Vec<String>| decision(false, because, rule_ids);
    let Found {
        forbids,
        mut failed_forbids,
        permits,
        mut failed_permits,
    } = match found {
        Ok(found) => found,
        Err(error) => return deny(Reason::Unevaluable { error }, Vec::new()),
    };

    if !forbids.is_empty() {
        let mut ids = forbids;
        ids.sort_by_key(|id| (forbid_rank(id), id.clone()));
        let because = match ids.first().map(String::as_str) {
            Some(REVEAL_POLICY) => reveal_refused(args),
            Some(WATERFALL_POLICY) => Reason::WaterfallOff {
                what: asked(
                    args.flag("run_waterfall_email"),
                    args.flag("run_waterfall_phone"),
                ),
            },
            Some(id) if id.starts_with(OVERRIDE_PREFIX) => Reason::SwitchedOff,
            _ => Reason::RulesForbid {
                rules: rule_names(&ids),
            },
        };
        return deny(because, ids);
    }

    if !failed_forbids.is_empty() {
        failed_forbids.sort();
        let ids: Vec<String> = failed_forbids.iter().map(|(id, _)| id.clone()).collect();
        let (first, error) = failed_forbids
            .first()
            .map(|(id, m)| (id.clone(), m.clone()))
            .unwrap_or_default();
        let rule = rule_names(std::slice::from_ref(&first))
            .pop()
            .unwrap_or_else(|| format!("'{first}'"));
        return deny(Reason::RuleFailed { rule, error }, ids);
    }

    if !permits.is_empty() {
        let mut ids = permits;
        ids.sort_by_key(|id| (permit_rank(id), id.clone()));
        let because = match ids.first().map(String::as_str) {
            Some(id) if id.starts_with(GRANT_PREFIX) => Reason::Level {
                group: action.group,
                level: policy.grants.level(action.group),
            },
            Some(id) if id.starts_with(OVERRIDE_PREFIX) => Reason::SwitchedOn,
            _ => Reason::RulesPermit {
                rules: rule_names(&ids),
            },
        };
        let mut d = decision(true, because, ids);
        if let Some(ask) = ask_first(policy, action, args, &d.rule_ids) {
            d.allowed = false;
            d.ask = Some(ask);
        }
        return d;
    }

    failed_permits.sort();
    deny(
        Reason::NotGranted {
            group: action.group,
            level: policy.grants.level(action.group),
            kind: action.kind,
            failed_permits: rule_names(&failed_permits),
        },
        failed_permits,
    )
}

/// Cedar's answer. Its reasons are the satisfied forbids when it denies and the satisfied
/// permits when it allows; policies that errored are reported apart, and an erroring forbid
/// denies (see the module's note).
fn by_cedar(
    policy: &AgentPolicy,
    action: &Action,
    args: &Args,
    path_id: Option<&str>,
) -> Result<Found, String> {
    let request = context(action, args, path_id).and_then(|ctx| {
        Request::new(
            policy.principal.clone(),
            uid("Action", action.id.as_str()).map_err(|e| e.to_string())?,
            uid("Group", action.group.as_str()).map_err(|e| e.to_string())?,
            ctx,
            None,
        )
        .map_err(|e| e.to_string())
    })?;
    let response = Authorizer::new().is_authorized(&request, &policy.set, &policy.entities);
    let effect_of = |id: &PolicyId| policy.set.policy(id).map(Policy::effect);
    let mut found = Found::default();
    for error in response.diagnostics().errors() {
        let AuthorizationError::PolicyEvaluationError(e) = error;
        let id = e.policy_id();
        match effect_of(id) {
            Some(Effect::Permit) => found.failed_permits.push(id.to_string()),
            // Unknown effect: treat as a forbid, the safe side.
            Some(Effect::Forbid) | None => found
                .failed_forbids
                .push((id.to_string(), e.inner().to_string())),
        }
    }
    for id in response.diagnostics().reason() {
        match effect_of(id) {
            Some(Effect::Forbid) => found.forbids.push(id.to_string()),
            Some(Effect::Permit) if response.decision() == CedarDecision::Allow => {
                found.permits.push(id.to_string())
            }
            Some(Effect::Permit) | None => {}
        }
    }
    Ok(found)
}

/// The grid's own policies, as [`AgentPolicy::compile`] writes them, read straight from the
/// grants: `grant:reveal` and `grant:waterfall` forbid any call with their flags while their
/// switch is off, `override:<action>` permits or forbids its action, and `grant:<group>`
/// permits the actions its level allows. None of them can fail to evaluate. As in Cedar, the
/// permits count only when nothing forbids.
fn by_grants(grants: &Grants, action: &Action, args: &Args) -> Found {
    let reveals = args.flag("reveal_personal_emails") || args.flag("reveal_phone_number");
    let waterfall = args.flag("run_waterfall_email") || args.flag("run_waterfall_phone");
    let switched = grants.overrides.get(action.id.as_str()).copied();
    let mut found = Found::default();
    if !grants.reveal && (reveals || waterfall) {
        found.forbids.push(REVEAL_POLICY.to_owned());
    }
    if !grants.waterfall && waterfall {
        found.forbids.push(WATERFALL_POLICY.to_owned());
    }
    if switched == Some(false) {
        found.forbids.push(override_id(action.id));
    }
    if found.forbids.is_empty() {
        if grants.level(action.group).allows(action.kind) {
            found.permits.push(grant_id(action.group));
        }
        if switched == Some(true) {
            found.permits.push(override_id(action.id));
        }
    }
    found
}

/// Whether an allowed call must first be approved, given the permits that allowed it: an
/// `@ask` rule among them; else the action's own override, whose setting refines its group's
/// (`sequences=full:ask` with `sequences.search=on` asks for everything but searches); else
/// the group's level; and whatever the grid says, a reveal while the reveal switch asks.
fn ask_first(policy: &AgentPolicy, action: &Action, args: &Args, ids: &[String]) -> Option<Ask> {
    let asking: Vec<String> = ids
        .iter()
        .filter(|id| id.starts_with("rule:"))
        .filter(|id| {
            policy
                .set
                .policy(&PolicyId::new(id.as_str()))
                .is_some_and(|p| {
                    p.effect() == Effect::Permit && p.annotation(ASK_ANNOTATION).is_some()
                })
        })
        .cloned()
        .collect();
    if !asking.is_empty() {
        return Some(Ask::Rules {
            rules: rule_names(&asking),
        });
    }
    let grants = &policy.grants;
    if ids.contains(&override_id(action.id)) {
        if grants.asks_for_action(action) {
            return Some(Ask::Action);
        }
    } else if ids.contains(&grant_id(action.group)) {
        // An action asked for without a switch of its own (the admin API takes a grid with
        // `"ask": ["sequences.add_contacts"]` and no override; `grant` always sets both) still
        // asks: it went through unasked (found in review). Asking more fails closed.
        if grants.asks_for_action(action) {
            return Some(Ask::Action);
        }
        if grants.asks_for_group(action.group) {
            return Some(Ask::Capability {
                group: action.group,
                level: grants.level(action.group),
            });
        }
    }
    let reveals = crate::args::SENSITIVE_FLAGS.iter().any(|f| args.flag(f));
    if reveals && grants.asks_for_reveal() {
        let emails = args.flag("reveal_personal_emails") || args.flag("run_waterfall_email");
        let phones = args.flag("reveal_phone_number") || args.flag("run_waterfall_phone");
        return Some(Ask::Reveal {
            what: asked(emails, phones),
        });
    }
    None
}

fn forbid_rank(id: &str) -> u8 {
    match id {
        REVEAL_POLICY => 0,
        WATERFALL_POLICY => 1,
        _ if id.starts_with(OVERRIDE_PREFIX) => 2,
        _ => 3,
    }
}

fn permit_rank(id: &str) -> u8 {
    if id.starts_with(GRANT_PREFIX) {
        0
    } else if id.starts_with(OVERRIDE_PREFIX) {
        1
    } else {
        2
    }
}

/// `rule:only-q4` -> `'only-q4'`, for the rules among `ids`.
fn rule_names(ids: &[String]) -> Vec<String> {
    ids.iter()
        .filter_map(|id| id.strip_prefix("rule:"))
        .map(|n| format!("'{n}'"))
        .collect()
}

fn join_and(items: &[String]) -> String {
    match items.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

/// Why a call that reveals, directly or by waterfall, is refused without the reveal switch.
fn reveal_refused(args: &Args) -> Reason {
    let emails = args.flag("reveal_personal_emails");
    let phones = args.flag("reveal_phone_number");
    if emails || phones {
        return Reason::RevealOff {
            what: asked(emails, phones),
        };
    }
    Reason::WaterfallNeedsReveal {
        what: asked(
            args.flag("run_waterfall_email"),
            args.flag("run_waterfall_phone"),
        ),
    }
}

fn asked(emails: bool, phones: bool) -> &'static str {
    match (emails, phones) {
        (true, false) => "emails",
        (false, true) => "phone numbers",
        _ => "emails and phone numbers",
    }
}

const CONTEXT_DEPTH: usize = 8;

fn long(args: &Args, key: &str, default: i64) -> i64 {
    match args.u64(key) {
        Ok(Some(n)) => i64::try_from(n).unwrap_or(i64::MAX),
        Ok(None) => default,
        // Unreadable: the most demanding value, so that limits in rules bite. Validation
        // refuses the call anyway.
        Err(_) => i64::MAX,
    }
}

fn string_set(args: &Args, key: &str) -> RestrictedExpression {
    RestrictedExpression::new_set(
        args.list(key)
            .into_iter()
            .map(RestrictedExpression::new_string),
    )
}

fn record_count(action: &Action, args: &Args) -> i64 {
    let n = match action.id {
        ActionId::PeopleBulkEnrich => match args.value().get("details") {
            Some(Value::Array(items)) => items.len(),
            Some(Value::Object(m)) => m.len(),
            Some(Value::Null) | None => 0,
            Some(_) => 1,
        },
        ActionId::SequencesAddContacts
        | ActionId::SequencesRemoveContacts
        | ActionId::ContactsUpdateStages
        | ActionId::ContactsUpdateOwners => args.list("contact_ids").len(),
        ActionId::AccountsUpdateOwners => args.list("account_ids").len(),
        ActionId::OrganizationsBulkEnrich => args.list("domains").len(),
        ActionId::ContactsBulkCreate
        | ActionId::ContactsBulkUpdate
        | ActionId::AccountsBulkCreate
        | ActionId::AccountsBulkUpdate
        | ActionId::TasksBulkCreate => crate::bulk::records_of(action.id, args).len(),
        ActionId::PeopleSearch
        | ActionId::PeopleEnrich
        | ActionId::OrganizationsSearch
        | ActionId::OrganizationsEnrich
        | ActionId::ContactsCreate
        | ActionId::ContactsUpdate
        | ActionId::ContactsSearch
        | ActionId::AccountsCreate
        | ActionId::AccountsUpdate
        | ActionId::AccountsSearch
        | ActionId::SequencesSearch
        | ActionId::TasksCreate
        | ActionId::TasksSearch
        | ActionId::DealsCreate
        | ActionId::DealsUpdate
        | ActionId::DealsList
        | ActionId::UsersList
        | ActionId::UsersUsageStats
        | ActionId::PeopleView
        | ActionId::OrganizationsView
        | ActionId::OrganizationsJobPostings
        | ActionId::OrganizationsNews
        | ActionId::ContactsView
        | ActionId::ContactsStages
        | ActionId::ContactsLabels
        | ActionId::ContactsCustomFields
        | ActionId::AccountsView
        | ActionId::AccountsStages
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
        | ActionId::ContactsRemoveFromLists => 1,
    };
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn context(action: &Action, args: &Args, path_id: Option<&str>) -> Result<Context, String> {
    let s = |v: &str| RestrictedExpression::new_string(v.to_owned());
    // A sequence's id: from the path only where the path names a sequence (an outreach
    // email's path names the email).
    let sequence_id = if action.group == Group::Sequences {
        path_id
            .filter(|_| action.path_param == Some("sequence_id"))
            .or_else(|| args.str("emailer_campaign_id"))
            .unwrap_or_default()
    } else {
        ""
    };
    let mut pairs: Vec<(String, RestrictedExpression)> = Vec::new();
    for flag in crate::args::SENSITIVE_FLAGS {
        pairs.push((
            flag.to_owned(),
            RestrictedExpression::new_bool(args.flag(flag)),
        ));
    }
    pairs.extend([
        (
            "page".to_owned(),
            RestrictedExpression::new_long(long(args, "page", 1)),
        ),
        (
            "per_page".to_owned(),
            RestrictedExpression::new_long(long(args, "per_page", 25)),
        ),
        (
            "record_count".to_owned(),
            RestrictedExpression::new_long(record_count(action, args)),
        ),
        ("path_id".to_owned(), s(path_id.unwrap_or_default())),
        ("sequence_id".to_owned(), s(sequence_id)),
        // As Apollo reads them: a number is text too.
        ("webhook_url".to_owned(), s(&args.text("webhook_url"))),
        ("q_keywords".to_owned(), s(&args.text("q_keywords"))),
        (
            "person_titles".to_owned(),
            string_set(args, "person_titles"),
        ),
        ("contact_ids".to_owned(), string_set(args, "contact_ids")),
        (
            "q_organization_domains_list".to_owned(),
            string_set(args, "q_organization_domains_list"),
        ),
        ("args".to_owned(), record(args.value(), 0)),
    ]);
    Context::from_pairs(pairs).map_err(|e| e.to_string())
}

fn cedar_key(k: &str) -> bool {
    !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn record(map: &serde_json::Map<String, Value>, depth: usize) -> RestrictedExpression {
    let fields: BTreeMap<String, RestrictedExpression> = map
        .iter()
        .filter(|(k, _)| cedar_key(k))
        .filter_map(|(k, v)| restricted(v, depth + 1).map(|r| (k.clone(), r)))
        .collect();
    // Keys of a map are unique, so this cannot fail; an empty record is the safe fallback.
    RestrictedExpression::new_record(fields).unwrap_or_else(|_| {
        RestrictedExpression::new_record(std::iter::empty())
            .unwrap_or_else(|_| RestrictedExpression::new_bool(false))
    })
}

fn restricted(v: &Value, depth: usize) -> Option<RestrictedExpression> {
    match v {
        Value::Null => None,
        Value::Bool(b) => Some(RestrictedExpression::new_bool(*b)),
        Value::Number(n) => Some(match n.as_i64() {
            Some(i) => RestrictedExpression::new_long(i),
            None => RestrictedExpression::new_string(n.to_string()),
        }),
        Value::String(s) => Some(RestrictedExpression::new_string(s.clone())),
        Value::Array(items) if depth < CONTEXT_DEPTH => Some(RestrictedExpression::new_set(
            items.iter().filter_map(|i| restricted(i, depth + 1)),
        )),
        Value::Object(m) if depth < CONTEXT_DEPTH => Some(record(m, depth)),
        Value::Array(_) | Value::Object(_) => None,
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
