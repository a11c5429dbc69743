//! What Bollard governs, as one document: the capability groups, the switches, every
//! action of the catalog with its method, path, price rule and whether it needs Apollo's
//! master key, and the endpoints of Apollo's reference that are still outside the catalog
//! (refused, like any other path). Served by `GET /admin/api/v1/catalog` and printed by
//! `bollard catalog`, so the two never disagree.

use bollard_policy::{Action, Group, KeyScope, Level, Price, catalog};
use serde_json::{Value, json};

/// Endpoints Apollo documents that the catalog does not hold yet: (method, path, what).
/// Bollard refuses them as it refuses any path outside the catalog.
pub const OUTSIDE: &[(&str, &str, &str)] = &[
    ("POST", "/api/v1/emailer_campaigns", "create a sequence"),
    ("PUT", "/api/v1/emailer_campaigns/{id}", "update a sequence"),
    (
        "POST",
        "/api/v1/emailer_campaigns/{id}/approve",
        "activate a sequence",
    ),
    (
        "POST",
        "/api/v1/emailer_campaigns/{id}/abort",
        "deactivate a sequence",
    ),
    (
        "POST",
        "/api/v1/emailer_campaigns/{id}/archive",
        "archive a sequence",
    ),
    (
        "GET",
        "/api/v1/emailer_messages/search",
        "search outreach emails",
    ),
    (
        "GET",
        "/api/v1/emailer_messages/{id}/activities",
        "check an email's stats",
    ),
    (
        "GET",
        "/api/v1/fields",
        "list every field, standard and custom",
    ),
    ("POST", "/api/v1/tasks/bulk_create", "create tasks in bulk"),
    (
        "POST",
        "/api/v1/mixed_people/search",
        "the old people search, which Apollo refuses for API callers",
    ),
];

/// How an action's credits are computed, in words.
pub fn price_words(action: &Action) -> &'static str {
    match action.price {
        Price::Free => "free",
        Price::Person => {
            "1 credit for a matched person, more for revealed emails and phone numbers"
        }
        Price::PeopleBulk => {
            "per matched person, as single enrichment, settled to Apollo's credits_consumed"
        }
        Price::OrganizationPage => "1 credit per page of results",
        Price::OrganizationEnrich => "1 credit for a company found",
        Price::OrganizationsBulk => "1 credit per company found",
    }
}

/// The document.
pub fn document() -> Value {
    let groups: Vec<Value> = Group::ALL
        .iter()
        .map(|g| {
            let levels: Vec<&str> = Level::ALL
                .iter()
                .filter(|l| **l != Level::Write || g.has_writes())
                .map(|l| l.as_str())
                .collect();
            json!({"id": g.as_str(), "title": g.title(), "has_writes": g.has_writes(),
                   "levels": levels, "actions": g.actions().map(|a| a.id).collect::<Vec<_>>()})
        })
        .collect();
    let actions: Vec<Value> = catalog()
        .iter()
        .map(|a| {
            json!({"id": a.id, "group": a.group.as_str(), "kind": a.kind.as_str(), "title": a.title,
                   "description": a.description, "method": a.method.as_str(),
                   "also": a.also.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
                   "path": format!("/api/v1{}", a.path), "spends_credits": a.spends_credits(),
                   "price": price_words(a), "master_key_only": a.key == KeyScope::Master,
                   "apollo_key": a.key, "mcp_tool": a.mcp_tool, "verb": a.verb,
                   "arguments": a.input_schema()})
        })
        .collect();
    let outside: Vec<Value> = OUTSIDE
        .iter()
        .map(|(m, p, what)| json!({"method": m, "path": p, "what": what}))
        .collect();
    let switches = json!([
        {"id": "reveal", "title": bollard_policy::grant::REVEAL_TITLE, "levels": ["off", "full"]},
        {"id": "waterfall", "title": bollard_policy::grant::WATERFALL_TITLE, "levels": ["off", "full"]},
    ]);
    json!({"groups": groups, "switches": switches, "actions": actions, "outside": outside,
           "refused": "Any method and path not listed under actions (also under /v1) is refused with a sentence that names the method and path; nothing reaches Apollo."})
}

/// The document as lines a person reads: one per action, then what is outside.
pub fn lines() -> Vec<String> {
    let mut out = vec![format!(
        "Bollard governs {} Apollo actions in {} capabilities.",
        catalog().len(),
        Group::ALL.len()
    )];
    for g in Group::ALL {
        out.push(String::new());
        out.push(format!("{} ({})", g.title(), g.as_str()));
        for a in g.actions() {
            let mut methods = vec![a.method.as_str()];
            methods.extend(a.also.iter().map(|m| m.as_str()));
            let master = if a.key == KeyScope::Master {
                "; master key"
            } else {
                ""
            };
            out.push(format!(
                "  {:<28} {:<5} {:<10} /api/v1{}  ({}{master}; tool {})",
                a.id.as_str(),
                a.kind.as_str(),
                methods.join("/"),
                a.path,
                price_words(a),
                a.mcp_tool
            ));
        }
    }
    out.push(String::new());
    out.push("Documented by Apollo but outside the catalog (refused):".to_owned());
    for (m, p, what) in OUTSIDE {
        out.push(format!("  {m:<6} {p}  ({what})"));
    }
    out.push(String::new());
    out.push(
        "Anything else is refused too, with a sentence naming its method and path.".to_owned(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_outside_is_governed_and_everything_governed_is_listed() {
        for (m, p, _) in OUTSIDE {
            let path = p.replace("{id}", "abc123");
            assert!(bollard_policy::classify(m, &path).is_none(), "{m} {p}");
        }
        let doc = document();
        assert_eq!(
            doc["actions"].as_array().map(Vec::len),
            Some(catalog().len())
        );
    }
}
