//! The admin API's route table: one entry per method and path, holding the handler and its
//! documentation. The router is built from this table and the OpenAPI 3.1 document is
//! generated from it, so a route cannot be served without being documented.

use axum::Router;
use axum::routing::{MethodRouter, delete, get, patch, post, put};
use serde_json::{Map, Value, json};

use super::AdminState;
use super::api;
use super::approvals;
use super::connections;

/// One documented route.
#[derive(Debug)]
pub struct ApiRoute {
    /// Lowercase, as OpenAPI writes it.
    pub method: &'static str,
    pub path: &'static str,
    pub operation_id: &'static str,
    pub summary: &'static str,
    pub description: &'static str,
    /// Query parameters: name and meaning.
    pub query: &'static [(&'static str, &'static str)],
    /// The request body's schema name under `components/schemas`.
    pub request: Option<&'static str>,
    /// The success status, what it means, and its schema name (`None`: no body).
    pub ok: (u16, &'static str, Option<&'static str>),
    /// Error statuses this route can answer, besides 401 and 500.
    pub errors: &'static [u16],
    pub handler: fn() -> MethodRouter<AdminState>,
}

pub const OPENAPI_PATH: &str = "/admin/api/v1/openapi.json";

const AGENTS: &str = "/admin/api/v1/agents";
const AGENT: &str = "/admin/api/v1/agents/{agent}";
const GRANTS: &str = "/admin/api/v1/agents/{agent}/grants";
const KEYS: &str = "/admin/api/v1/agents/{agent}/keys";
const RULES: &str = "/admin/api/v1/agents/{agent}/rules";
const RULE: &str = "/admin/api/v1/agents/{agent}/rules/{name}";
const LIMITS: &str = "/admin/api/v1/agents/{agent}/limits";
const USAGE: &str = "/admin/api/v1/agents/{agent}/usage";

pub const ROUTES: &[ApiRoute] = &[
    ApiRoute {
        method: "get",
        path: "/admin/api/v1/catalog",
        operation_id: "getCatalog",
        summary: "The action catalog",
        description: "Everything Bollard governs: the capability groups with the levels each takes, the reveal and waterfall switches, every action with its method, path, price rule, master-key need, MCP tool and argument schema, and the endpoints Apollo documents that are still outside the catalog (refused). `bollard catalog --json` prints the same document.",
        query: &[],
        request: None,
        ok: (200, "The catalog.", Some("Catalog")),
        errors: &[],
        handler: || get(api::catalog_doc),
    },
    ApiRoute {
        method: "get",
        path: AGENTS,
        operation_id: "listAgents",
        summary: "List agents",
        description: "Every agent, revoked ones included, with its status.",
        query: &[],
        request: None,
        ok: (200, "The agents.", Some("AgentList")),
        errors: &[],
        handler: || get(api::list_agents),
    },
    ApiRoute {
        method: "post",
        path: AGENTS,
        operation_id: "createAgent",
        summary: "Create an agent",
        description: "Creates an agent with no access and returns its key. The key is shown this once; only its hash is kept.",
        query: &[],
        request: Some("NewAgent"),
        ok: (201, "The agent and its key.", Some("AgentWithKey")),
        errors: &[400, 409, 422],
        handler: || post(api::create_agent),
    },
    ApiRoute {
        method: "get",
        path: AGENT,
        operation_id: "getAgent",
        summary: "Show an agent",
        description: "The agent, its status, its rules, and what it can and cannot do in plain English.",
        query: &[],
        request: None,
        ok: (200, "The agent.", Some("AgentDetail")),
        errors: &[404],
        handler: || get(api::get_agent),
    },
    ApiRoute {
        method: "patch",
        path: AGENT,
        operation_id: "updateAgent",
        summary: "Rename, describe or change an agent's expiry",
        description: "Changes the fields given. `expires_at: null` removes the expiry.",
        query: &[],
        request: Some("AgentPatch"),
        ok: (200, "The changed agent.", Some("AgentDetail")),
        errors: &[400, 404, 409, 422],
        handler: || patch(api::patch_agent),
    },
    ApiRoute {
        method: "delete",
        path: AGENT,
        operation_id: "revokeAgent",
        summary: "Revoke an agent",
        description: "Its key stops working at once. The agent and its audit records are kept; revoking twice keeps the first time.",
        query: &[],
        request: None,
        ok: (200, "The revoked agent.", Some("Agent")),
        errors: &[404],
        handler: || delete(api::revoke_agent),
    },
    ApiRoute {
        method: "get",
        path: GRANTS,
        operation_id: "getGrants",
        summary: "An agent's grants",
        description: "The grid: a level per capability group, the reveal and waterfall switches, and per-action overrides.",
        query: &[],
        request: None,
        ok: (
            200,
            "The grants; the ETag header is their version, for If-Match.",
            Some("Grants"),
        ),
        errors: &[404],
        handler: || get(api::get_grants),
    },
    ApiRoute {
        method: "put",
        path: GRANTS,
        operation_id: "putGrants",
        summary: "Set an agent's grants",
        description: "Either the whole grants object (replacing the grid), or `{\"set\": [\"people=read\", \"reveal=off\", \"people.bulk_enrich=off\"]}` to change parts, as `bollard grant` does. With `If-Match: <the ETag of a GET>`, only if the grants are still that version (412 otherwise), so a change made since is never undone.",
        query: &[],
        request: Some("GrantsChange"),
        ok: (
            200,
            "The grants now in force; the ETag header is their version.",
            Some("Grants"),
        ),
        errors: &[400, 404, 412, 422],
        handler: || put(api::put_grants),
    },
    ApiRoute {
        method: "post",
        path: KEYS,
        operation_id: "rotateKey",
        summary: "Rotate an agent's key",
        description: "Gives the agent a new key, shown this once; the old key stops working at once.",
        query: &[],
        request: None,
        ok: (201, "The agent and its new key.", Some("AgentWithKey")),
        errors: &[404, 422],
        handler: || post(api::rotate_key),
    },
    ApiRoute {
        method: "get",
        path: RULES,
        operation_id: "listRules",
        summary: "An agent's rules",
        description: "The agent's Cedar rules, oldest first.",
        query: &[],
        request: None,
        ok: (200, "The rules.", Some("RuleList")),
        errors: &[404],
        handler: || get(api::list_rules),
    },
    ApiRoute {
        method: "post",
        path: RULES,
        operation_id: "addRule",
        summary: "Add a Cedar rule",
        description: "Adds one Cedar policy, usually a `forbid`, after checking that it parses and compiles with the agent's grants. It applies to the next call.",
        query: &[],
        request: Some("NewRule"),
        ok: (201, "The rule.", Some("Rule")),
        errors: &[400, 404, 409, 422],
        handler: || post(api::add_rule),
    },
    ApiRoute {
        method: "delete",
        path: RULE,
        operation_id: "removeRule",
        summary: "Remove a rule",
        description: "Removes the agent's rule of this name.",
        query: &[],
        request: None,
        ok: (204, "Removed.", None),
        errors: &[404],
        handler: || delete(api::remove_rule),
    },
    ApiRoute {
        method: "get",
        path: LIMITS,
        operation_id: "getLimits",
        summary: "An agent's limits",
        description: "Requests per minute, hour and day, and credits per day and month. A missing credit budget means actions that spend credits are refused.",
        query: &[],
        request: None,
        ok: (
            200,
            "The limits; the ETag header is their version, for If-Match.",
            Some("Limits"),
        ),
        errors: &[404],
        handler: || get(api::get_limits),
    },
    ApiRoute {
        method: "put",
        path: LIMITS,
        operation_id: "putLimits",
        summary: "Set an agent's limits",
        description: "Replaces the limits; a field left out means no limit (or, for credits, no budget). With `If-Match: <the ETag of a GET>`, only if the limits are still that version (412 otherwise).",
        query: &[],
        request: Some("Limits"),
        ok: (
            200,
            "The limits now in force; the ETag header is their version.",
            Some("Limits"),
        ),
        errors: &[400, 404, 412, 422],
        handler: || put(api::put_limits),
    },
    ApiRoute {
        method: "get",
        path: USAGE,
        operation_id: "getUsage",
        summary: "An agent's use of its limits and budgets",
        description: "Requests counted in each rate window and credits spent and reserved in each budget period, with when each resets, and the same in plain English.",
        query: &[],
        request: None,
        ok: (200, "The agent's use right now.", Some("Usage")),
        errors: &[404],
        handler: || get(api::get_usage),
    },
    ApiRoute {
        method: "post",
        path: "/admin/api/v1/check",
        operation_id: "check",
        summary: "Dry run: would this call be allowed?",
        description: "The same classification, argument reading, decision and validation as a real call, and the most credits it could spend. Nothing is counted, recorded or sent to Apollo.",
        query: &[],
        request: Some("CheckRequest"),
        ok: (200, "The decision and why.", Some("CheckReport")),
        errors: &[400, 404, 422],
        handler: || post(api::check),
    },
    ApiRoute {
        method: "get",
        path: "/admin/api/v1/audit",
        operation_id: "queryAudit",
        summary: "The audit log",
        description: "Calls and admin changes newest first, one line each with its plain-English sentence; an admin change (kind `admin`) also carries `change`: who made it, and the before and after. Page with `cursor` = the previous page's `next_cursor`.",
        query: &[
            (
                "kind",
                "calls, admin (changes to the configuration) or all (the default).",
            ),
            ("agent", "An agent's name or id."),
            ("action", "An action id, like people.enrich."),
            ("decision", "allowed or denied."),
            (
                "since",
                "A duration back from now (2h, 7d) or an RFC 3339 time.",
            ),
            ("limit", "At most this many calls, 1 to 1000 (default 50)."),
            ("cursor", "The next_cursor of the previous page."),
        ],
        request: None,
        ok: (200, "A page of calls.", Some("AuditPage")),
        errors: &[404, 422],
        handler: || get(api::audit),
    },
    ApiRoute {
        method: "get",
        path: "/admin/api/v1/audit/verify",
        operation_id: "verifyAudit",
        summary: "Verify the audit chain",
        description: "Recomputes every hash of the chain and names the first entry that was edited, removed or reordered.",
        query: &[],
        request: None,
        ok: (
            200,
            "The verification report (ok is false when the chain is broken).",
            Some("VerifyReport"),
        ),
        errors: &[],
        handler: || get(api::audit_verify),
    },
    ApiRoute {
        method: "get",
        path: "/admin/api/v1/approvals",
        operation_id: "listApprovals",
        summary: "Ask first: approval requests",
        description: "Calls that wait for a person's approval (and, with `state`, the ones approved, denied, used or expired), newest first: who asks, what the call does in a sentence, why it needs approval, the arguments as the audit log stores them (personal data hashed), the most credits it can spend, and the webhook notification's state.",
        query: &[
            (
                "state",
                "pending (the default), approved, denied, used, expired or all.",
            ),
            ("limit", "At most this many (default 100, at most 1000)."),
        ],
        request: None,
        ok: (200, "The requests.", Some("ApprovalList")),
        errors: &[422],
        handler: || get(approvals::list),
    },
    ApiRoute {
        method: "post",
        path: "/admin/api/v1/approvals/{id}/approve",
        operation_id: "approveApproval",
        summary: "Approve a request",
        description: "The agent's next identical call (same agent, action and arguments) is forwarded once, until the request expires. Recorded in the audit chain with the admin key's name and the note.",
        query: &[],
        request: Some("ApprovalDecision"),
        ok: (200, "The approved request.", Some("Approval")),
        errors: &[404, 409, 422],
        handler: || post(approvals::approve),
    },
    ApiRoute {
        method: "post",
        path: "/admin/api/v1/approvals/{id}/deny",
        operation_id: "denyApproval",
        summary: "Deny a request",
        description: "The same call is refused, with the note, until the request would have expired. Recorded in the audit chain with the admin key's name and the note.",
        query: &[],
        request: Some("ApprovalDecision"),
        ok: (200, "The denied request.", Some("Approval")),
        errors: &[404, 409, 422],
        handler: || post(approvals::deny),
    },
    ApiRoute {
        method: "post",
        path: "/admin/api/v1/approvals/{id}/reveal",
        operation_id: "revealApproval",
        summary: "Reveal a request's personal data",
        description: "The request with `arguments_revealed`: its arguments with personal data in clear, as the agent sent them (secrets removed). The reveal is recorded in the audit chain first, with the admin key's name and the request. Only while the request waits for a decision: Bollard keeps the clear arguments sealed until then and erases them when it is decided or expires (409 after).",
        query: &[],
        request: None,
        ok: (
            200,
            "The request, with its arguments in clear.",
            Some("Approval"),
        ),
        errors: &[404, 409],
        handler: || post(approvals::reveal),
    },
    ApiRoute {
        method: "get",
        path: "/admin/api/v1/agents/{agent}/connections",
        operation_id: "listConnections",
        summary: "An agent's connections",
        description: "Hosted assistants connected by OAuth as this agent, oldest first, ended ones included (revoked_at says when).",
        query: &[],
        request: None,
        ok: (200, "The connections.", Some("ConnectionList")),
        errors: &[404],
        handler: || get(connections::list),
    },
    ApiRoute {
        method: "delete",
        path: "/admin/api/v1/agents/{agent}/connections/{connection}",
        operation_id: "disconnect",
        summary: "End a connection",
        description: "Ends one connection (by id, or by name when one live connection has it): its access and refresh tokens stop working on every replica within a second.",
        query: &[],
        request: None,
        ok: (200, "The connection, ended.", Some("Connection")),
        errors: &[404],
        handler: || delete(connections::disconnect),
    },
    ApiRoute {
        method: "get",
        path: "/admin/api/v1/oauth/clients",
        operation_id: "listClients",
        summary: "OAuth clients",
        description: "Every client Bollard has seen: registered (RFC 7591) or known by its metadata document URL, with its status (new, approved or blocked).",
        query: &[],
        request: None,
        ok: (200, "The clients.", Some("ClientList")),
        errors: &[],
        handler: || get(connections::clients),
    },
    ApiRoute {
        method: "post",
        path: "/admin/api/v1/oauth/clients/{client}/approve",
        operation_id: "approveClient",
        summary: "Approve a client in advance",
        description: "Marks the client approved: the consent page tells the person an admin approved it.",
        query: &[],
        request: None,
        ok: (200, "The client.", Some("Client")),
        errors: &[404],
        handler: || post(connections::approve),
    },
    ApiRoute {
        method: "post",
        path: "/admin/api/v1/oauth/clients/{client}/block",
        operation_id: "blockClient",
        summary: "Block a client",
        description: "Blocks the client: it cannot sign in again, and its connections end.",
        query: &[],
        request: None,
        ok: (200, "The client.", Some("Client")),
        errors: &[404],
        handler: || post(connections::block),
    },
];

/// Registers every route of the table.
pub fn register(mut router: Router<AdminState>) -> Router<AdminState> {
    for r in ROUTES {
        router = router.route(r.path, (r.handler)());
    }
    router
}

/// The `{name}` parameters of a path.
pub fn path_params(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect()
}

fn error_meaning(status: u16) -> &'static str {
    match status {
        400 => "The request could not be read (not JSON, or not the content type).",
        401 => "No admin key, an unknown one, or an agent key.",
        404 => "No such agent (or rule).",
        409 => {
            "A conflict with what is there: the name is taken, another change to the same agent came first, or the approval was already decided; the error says which."
        }
        412 => {
            "If-Match named another version than the one there now: read again and make the change again."
        }
        413 => "The request body is larger than the admin API takes (2 MB).",
        422 => "The values are wrong; the error says which and why.",
        _ => "Bollard failed; the cause is in its log.",
    }
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn operation(r: &ApiRoute) -> Value {
    let mut params: Vec<Value> = path_params(r.path)
        .into_iter()
        .map(|p| {
            let d = if p == "agent" { "The agent's id or name." } else { "The rule's name." };
            json!({"name": p, "in": "path", "required": true, "description": d, "schema": {"type": "string"}})
        })
        .collect();
    params.extend(r.query.iter().map(|(n, d)| {
        json!({"name": n, "in": "query", "required": false, "description": d, "schema": {"type": "string"}})
    }));
    let mut responses = Map::new();
    let (status, what, schema) = r.ok;
    let mut ok = json!({"description": what});
    if let (Some(s), Value::Object(m)) = (schema, &mut ok) {
        m.insert(
            "content".into(),
            json!({"application/json": {"schema": schema_ref(s)}}),
        );
    }
    responses.insert(status.to_string(), ok);
    let read_a_body: &[u16] = if r.request.is_some() { &[413] } else { &[] };
    for e in r.errors.iter().chain(&[401, 500]).chain(read_a_body) {
        responses.insert(
            e.to_string(),
            json!({"description": error_meaning(*e), "content": {"application/json": {"schema": schema_ref("Error")}}}),
        );
    }
    let mut op = json!({
        "operationId": r.operation_id,
        "summary": r.summary,
        "description": r.description,
        "parameters": params,
        "responses": responses,
    });
    if let (Some(req), Value::Object(m)) = (r.request, &mut op) {
        m.insert(
            "requestBody".into(),
            json!({"required": true, "content": {"application/json": {"schema": schema_ref(req)}}}),
        );
    }
    op
}

/// The OpenAPI 3.1 document of the admin API.
pub fn openapi() -> Value {
    let mut paths = Map::new();
    for r in ROUTES {
        let entry = paths.entry(r.path).or_insert_with(|| json!({}));
        if let Value::Object(m) = entry {
            m.insert(r.method.to_owned(), operation(r));
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Bollard admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Agents, their access, rules and limits, the dry run and the audit log. Every route takes Authorization: Bearer <admin key> (`bollard admin-key create`). Errors are {\"error\": \"<sentence>\", \"error_code\": \"BOLLARD_...\"}.",
        },
        "servers": [{"url": "/"}],
        "security": [{"adminKey": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"adminKey": {"type": "http", "scheme": "bearer", "description": "An admin key, bol_admin_..."}},
            "schemas": super::schemas::all(),
        },
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_route_of_the_interface_is_in_the_table_once() {
        let documented: HashSet<(String, &str)> = ROUTES
            .iter()
            .map(|r| (r.method.to_uppercase(), r.path))
            .collect();
        assert_eq!(
            documented.len(),
            ROUTES.len(),
            "a method and path appear twice"
        );
        // The list of interfaces.md.
        for (m, p) in [
            ("GET", "/admin/api/v1/catalog"),
            ("GET", AGENTS),
            ("POST", AGENTS),
            ("GET", AGENT),
            ("PATCH", AGENT),
            ("DELETE", AGENT),
            ("PUT", GRANTS),
            ("GET", GRANTS),
            ("POST", KEYS),
            ("GET", RULES),
            ("POST", RULES),
            ("DELETE", RULE),
            ("PUT", LIMITS),
            ("GET", LIMITS),
            ("POST", "/admin/api/v1/check"),
            ("GET", "/admin/api/v1/audit"),
            ("GET", "/admin/api/v1/audit/verify"),
        ] {
            assert!(
                documented.contains(&(m.to_owned(), p)),
                "{m} {p} is not in the table"
            );
        }
        let ids: HashSet<&str> = ROUTES.iter().map(|r| r.operation_id).collect();
        assert_eq!(ids.len(), ROUTES.len(), "operation ids are unique");
    }

    #[test]
    fn the_document_describes_every_route_and_every_reference_resolves() {
        let doc = openapi();
        for r in ROUTES {
            assert!(r.path.starts_with("/admin/api/v1/"));
            let op = &doc["paths"][r.path][r.method];
            assert_eq!(op["operationId"], r.operation_id, "{} {}", r.method, r.path);
            let declared: Vec<&str> = op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            assert_eq!(declared, path_params(r.path));
        }
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for part in text.split("#/components/schemas/").skip(1) {
            let name: String = part
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            assert!(
                schemas.contains_key(&name),
                "{name} is referenced but not defined"
            );
        }
    }
}
