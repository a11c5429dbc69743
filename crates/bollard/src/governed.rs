//! What Bollard governs, as one document: the capability groups, the switches, every
//! action of the catalog with its method, path, price rule and whether it needs Apollo's
//! master key, and the endpoints of Apollo's reference that are still outside the catalog
//! (refused, like any other path). Served by `GET /admin/api/v1/catalog` and printed by
//! `bollard catalog`, so the two never disagree.

use bollard_policy::{Action, Group, KeyScope, Level, Price, catalog};
use serde_json::{Value, json};

/// Endpoints Apollo's reference documents that the catalog does not hold yet:
/// (method, path, what, why). Bollard refuses them as it refuses any path outside the
/// catalog. None of them is called by the clients Bollard is tested with
/// (`tests/it/clients.rs`); each waits for its own grant design, said in `why`.
pub const OUTSIDE: &[(&str, &str, &str, &str)] = &[
    (
        "POST",
        "/api/v1/sequences",
        "create a sequence",
        "writes the email copy sent to prospects; needs a review step before an agent may",
    ),
    (
        "PUT",
        "/api/v1/sequences/{id}",
        "update a sequence",
        "writes the email copy sent to prospects; needs a review step before an agent may",
    ),
    (
        "POST",
        "/api/v1/emailer_messages",
        "create an email draft",
        "writes email copy to prospects; with send_now it is a one-off send, to govern together",
    ),
    (
        "POST",
        "/api/v1/conversations/export",
        "export conversations",
        "exports recordings of people in bulk and emails a teammate; needs its own grant",
    ),
    (
        "GET",
        "/api/v1/conversations/export/{id}",
        "download a conversations export",
        "exports recordings of people in bulk; needs its own grant",
    ),
    (
        "POST",
        "/api/v1/reports/sync_report",
        "query an analytics report",
        "its query language is not modelled in the sandbox yet",
    ),
    (
        "POST",
        "/api/v1/mixed_people/search",
        "the old people search",
        "Apollo refuses it for API callers; mixed_people/api_search replaces it",
    ),
];

/// Paths a real Apollo client calls that Apollo's reference does not document:
/// (method, path, client). Refused like any path outside the catalog, deliberately: with no
/// reference there are no documented arguments, constraints, key scope, credits or answer
/// to govern against, nor a faithful sandbox to test with. `tests/it/clients.rs` holds
/// the client to exactly this list.
pub const UNDOCUMENTED: &[(&str, &str, &str)] = &[
    ("POST", "/api/v1/notes/search", "qodev-apollo-api"),
    ("GET", "/api/v1/notes/{id}", "qodev-apollo-api"),
    ("POST", "/api/v1/notes", "qodev-apollo-api"),
    ("DELETE", "/api/v1/notes/{id}", "qodev-apollo-api"),
    ("POST", "/api/v1/calendar_events/search", "qodev-apollo-api"),
    ("GET", "/api/v1/opportunity_pipelines", "qodev-apollo-api"),
    (
        "GET",
        "/api/v1/opportunity_pipelines/{id}",
        "qodev-apollo-api",
    ),
    (
        "POST",
        "/api/v1/opportunity_contact_role_types/search",
        "qodev-apollo-api",
    ),
    (
        "POST",
        "/api/v1/opportunities/update_roles",
        "qodev-apollo-api",
    ),
    ("POST", "/api/v1/tasks/bulk_skip", "qodev-apollo-api"),
    ("PUT", "/api/v1/emailer_messages/{id}", "qodev-apollo-api"),
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
        Price::Conversation => "1 credit for a conversation with AI insights (Bollard counts 1)",
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
        .map(|(m, p, what, why)| json!({"method": m, "path": p, "what": what, "why": why}))
        .collect();
    let undocumented: Vec<Value> = UNDOCUMENTED
        .iter()
        .map(|(m, p, client)| json!({"method": m, "path": p, "called_by": client}))
        .collect();
    let switches = json!([
        {"id": "reveal", "title": bollard_policy::grant::REVEAL_TITLE, "levels": ["off", "full"]},
        {"id": "waterfall", "title": bollard_policy::grant::WATERFALL_TITLE, "levels": ["off", "full"]},
    ]);
    json!({"groups": groups, "switches": switches, "actions": actions, "outside": outside,
           "undocumented": undocumented,
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
    for (m, p, what, why) in OUTSIDE {
        out.push(format!("  {m:<6} {p}  ({what}: {why})"));
    }
    out.push(String::new());
    out.push(
        "Called by known clients but not in Apollo's reference (refused: nothing documented to govern):"
            .to_owned(),
    );
    for (m, p, client) in UNDOCUMENTED {
        out.push(format!("  {m:<6} {p}  ({client})"));
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
        for (m, p) in OUTSIDE
            .iter()
            .map(|(m, p, ..)| (m, p))
            .chain(UNDOCUMENTED.iter().map(|(m, p, _)| (m, p)))
        {
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
