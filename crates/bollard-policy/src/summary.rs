//! The plain-English summary of what an agent can do, for `bollard agent show`, the admin
//! API and the console. It reads the grid and, when the agent's policy is at hand, its
//! Cedar rules: a `permit` rule can widen access beyond the grid, and an unconditional
//! `forbid` narrows it, so a summary of the grid alone would say "may not" for calls the
//! gateway allows.
//!
//! Rules are read by their scope (principal, action, resource), which Cedar fixes without
//! looking at a call; a rule with a `when` or `unless` condition is reported as applying
//! to some calls only, since whether it applies depends on the call's arguments.

use cedar_policy::{
    ActionConstraint, Effect, EntityUid, Policy, PrincipalConstraint, ResourceConstraint,
};

use crate::catalog::{Action, Group, catalog};
use crate::decide::AgentPolicy;
use crate::grant::{Grants, REVEAL_TITLE, WATERFALL_TITLE};

/// What one action comes to for the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Access {
    /// Allowed; the note says why when it is not the group's level.
    Yes(String),
    /// Refused; the note says why when it is not the group's level.
    No(String),
}

/// The rules that concern one action, by effect and by whether they always apply.
#[derive(Debug, Default)]
struct RuleScope {
    permits_always: Vec<String>,
    permits_sometimes: Vec<String>,
    forbids_always: Vec<String>,
    forbids_sometimes: Vec<String>,
}

/// Plain-English lines: a headline, one line per capability group, then the two switches.
pub(crate) fn lines(
    grants: &Grants,
    policy: Option<&AgentPolicy>,
    agent_name: &str,
) -> Vec<String> {
    let access = |a: &Action| access(grants, policy.map(|p| rule_scope(p, a)), a);
    let allowed = catalog()
        .iter()
        .filter(|a| matches!(access(a), Access::Yes(_)))
        .count();
    let mut lines = vec![format!(
        "{agent_name} can use {allowed} of the {} actions.",
        catalog().len()
    )];
    for group in Group::ALL {
        let level = grants.level(group);
        let mut yes = Vec::new();
        let mut no = Vec::new();
        for a in group.actions() {
            match access(a) {
                Access::Yes(note) => {
                    // Ask first: the action's own setting, else its group's.
                    let asks = if grants.overrides.contains_key(a.id.as_str()) {
                        grants.asks_for_action(a)
                    } else {
                        grants.asks_for_group(a.group)
                    };
                    let ask = if asks {
                        " (each call once a person approves it)"
                    } else {
                        ""
                    };
                    yes.push(format!("{}{note}{ask}", a.title_lower()))
                }
                Access::No(note) => no.push(format!("{}{note}", a.title_lower())),
            }
        }
        let mut line = format!("{} ({}): ", group.title(), level.title());
        if yes.is_empty() {
            line.push_str("no access.");
        } else {
            line.push_str("may ");
            line.push_str(&join(&yes, "and"));
            if !no.is_empty() {
                line.push_str("; may not ");
                line.push_str(&join(&no, "or"));
            }
            line.push('.');
        }
        lines.push(line);
    }
    lines.push(if grants.asks_for_reveal() {
        format!("{REVEAL_TITLE} (Full use, ask first): may reveal personal emails and phone numbers once a person approves each such call, and sees them in answers.")
    } else if grants.reveal {
        format!("{REVEAL_TITLE} (Full use): may reveal personal emails and phone numbers, which costs extra credits, and sees them in answers.")
    } else {
        format!("{REVEAL_TITLE} (Off): may not reveal personal emails or phone numbers; they are removed from answers.")
    });
    lines.push(if grants.waterfall && !grants.reveal {
        format!("{WATERFALL_TITLE} (Full use): may run third-party waterfall enrichment only once '{REVEAL_TITLE}' is on too, because it delivers emails and phone numbers.")
    } else if grants.waterfall {
        format!("{WATERFALL_TITLE} (Full use): may run third-party waterfall enrichment, which costs extra credits.")
    } else {
        format!("{WATERFALL_TITLE} (Off): may not run third-party waterfall enrichment.")
    });
    lines
}

/// Cedar's order: any forbid beats any permit; without a permit, nothing is allowed.
fn access(grants: &Grants, rules: Option<RuleScope>, a: &Action) -> Access {
    let rules = rules.unwrap_or_default();
    let level = grants.level(a.group);
    let override_ = grants.overrides.get(a.id.as_str()).copied();
    if override_ == Some(false) {
        return Access::No(" (switched off)".to_owned());
    }
    if let Some(names) = quoted(&rules.forbids_always) {
        return Access::No(format!(" ({names} forbids it)"));
    }
    let limited = quoted(&rules.forbids_sometimes)
        .map(|names| format!(" (limited by {names})"))
        .unwrap_or_default();
    if level.allows(a.kind) {
        return Access::Yes(limited);
    }
    if override_ == Some(true) {
        return Access::Yes(format!(" (switched on){limited}"));
    }
    if let Some(names) = quoted(&rules.permits_always) {
        return Access::Yes(format!(" ({names} permits it){limited}"));
    }
    if let Some(names) = quoted(&rules.permits_sometimes) {
        return Access::Yes(format!(" (when {names} permits it){limited}"));
    }
    Access::No(String::new())
}

/// `["a"]` -> "the rule 'a'"; `["a", "b"]` -> "the rules 'a' and 'b'" (one verb form
/// serves both: the rules are read as one body).
fn quoted(names: &[String]) -> Option<String> {
    let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    match quoted.len() {
        0 => None,
        1 => Some(format!("the rule {}", join(&quoted, "and"))),
        _ => Some(format!("the rules {}", join(&quoted, "and"))),
    }
}

fn join(parts: &[String], conjunction: &str) -> String {
    match parts.split_last() {
        Some((last, rest)) if !rest.is_empty() => {
            format!("{} {conjunction} {last}", rest.join(", "))
        }
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

/// The agent's rules (`rule:<name>` policies) whose scope covers `action`.
fn rule_scope(policy: &AgentPolicy, action: &Action) -> RuleScope {
    let mut scope = RuleScope::default();
    for p in policy.policies() {
        let Some(name) = p.id().to_string().strip_prefix("rule:").map(str::to_owned) else {
            continue;
        };
        if !covers(policy, p, action) {
            continue;
        }
        let always = !p.has_non_scope_constraint();
        let list = match (p.effect(), always) {
            (Effect::Permit, true) => &mut scope.permits_always,
            (Effect::Permit, false) => &mut scope.permits_sometimes,
            (Effect::Forbid, true) => &mut scope.forbids_always,
            (Effect::Forbid, false) => &mut scope.forbids_sometimes,
        };
        list.push(name);
    }
    scope
}

/// Whether the policy's scope matches this agent, this action and its group, with the
/// entity hierarchy `decide` builds: an action's parents are `Action::"<group>"` and
/// `Action::"read"`/`Action::"write"`; the agent and the groups have no parents.
fn covers(policy: &AgentPolicy, p: &Policy, action: &Action) -> bool {
    let principal = policy.principal();
    let principal_ok = match p.principal_constraint() {
        PrincipalConstraint::Any => true,
        PrincipalConstraint::Eq(u) | PrincipalConstraint::In(u) => &u == principal,
        PrincipalConstraint::Is(t) => &t == principal.type_name(),
        PrincipalConstraint::IsIn(t, u) => &t == principal.type_name() && &u == principal,
    };
    let is_action =
        |u: &EntityUid, id: &str| u.type_name().to_string() == "Action" && u.id().unescaped() == id;
    let action_ok = match p.action_constraint() {
        ActionConstraint::Any => true,
        ActionConstraint::Eq(u) => is_action(&u, action.id.as_str()),
        ActionConstraint::In(us) => us.iter().any(|u| {
            is_action(u, action.id.as_str())
                || is_action(u, action.group.as_str())
                || is_action(u, action.kind.as_str())
        }),
    };
    let is_group = |u: &EntityUid| {
        u.type_name().to_string() == "Group" && u.id().unescaped() == action.group.as_str()
    };
    let resource_ok = match p.resource_constraint() {
        ResourceConstraint::Any => true,
        ResourceConstraint::Eq(u) | ResourceConstraint::In(u) => is_group(&u),
        ResourceConstraint::Is(t) => t.to_string() == "Group",
        ResourceConstraint::IsIn(t, u) => t.to_string() == "Group" && is_group(&u),
    };
    principal_ok && action_ok && resource_ok
}

#[cfg(test)]
mod tests {
    use crate::decide::{AgentPolicy, Rule};
    use crate::grant::Grants;

    fn policy(words: &[&str], rules: &[(&str, &str)]) -> AgentPolicy {
        let mut g = Grants::default();
        for w in words {
            g.apply(w).unwrap();
        }
        let rules: Vec<Rule> = rules
            .iter()
            .map(|(n, c)| Rule {
                name: (*n).to_owned(),
                cedar: (*c).to_owned(),
            })
            .collect();
        AgentPolicy::compile("a1", "Sales Agent", &g, &rules).unwrap()
    }

    #[test]
    fn a_permit_rule_widens_what_the_summary_says() {
        let p = policy(
            &["people=read"],
            &[(
                "enrich-companies",
                r#"permit(principal, action == Action::"organizations.enrich", resource);"#,
            )],
        );
        let lines = p.summary();
        assert_eq!(
            lines.first().unwrap(),
            "Sales Agent can use 6 of the 75 actions."
        );
        assert_eq!(
            lines.get(2).unwrap(),
            "Companies (Off): may enrich a company (the rule 'enrich-companies' permits it); may not search companies, view a company, enrich companies in bulk, list a company's job postings or search news about companies."
        );
    }

    #[test]
    fn conditions_and_forbids_are_named() {
        let p = policy(
            &["people=read", "contacts=read"],
            &[
                (
                    "deals-small",
                    r#"permit(principal, action in Action::"deals", resource) when { context.per_page <= 5 };"#,
                ),
                (
                    "no-bulk",
                    r#"forbid(principal, action == Action::"people.bulk_enrich", resource);"#,
                ),
                (
                    "small-pages",
                    r#"forbid(principal, action, resource == Group::"contacts") when { context.per_page > 25 };"#,
                ),
            ],
        );
        insta::assert_snapshot!(p.summary().join("\n"));
    }

    #[test]
    fn the_grid_alone_reads_as_before() {
        let p = policy(&["people=read", "deals.list=on", "people.enrich=off"], &[]);
        let mut g = Grants::default();
        for w in ["people=read", "deals.list=on", "people.enrich=off"] {
            g.apply(w).unwrap();
        }
        assert_eq!(p.summary(), g.summary("Sales Agent"));
    }
}
