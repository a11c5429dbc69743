//! JSON Schemas of the admin API's bodies, for the OpenAPI document. They mirror the Rust
//! types the handlers read and write (`Agent`, `Grants`, `Limits`, `CheckReport`, ...);
//! `tests/it/admin.rs` checks real answers against the required fields named here.

use serde_json::{Value, json};

fn nullable(t: &str) -> Value {
    json!({"type": [t, "null"]})
}

fn count() -> Value {
    json!({"type": "integer", "minimum": 0})
}

fn level(levels: &[&str]) -> Value {
    json!({"type": "string", "enum": levels})
}

pub fn all() -> Value {
    let group_levels = json!({
        "type": "object",
        "description": "A level per capability group; a missing group is off. `write` only for groups with write actions.",
        "propertyNames": {"enum": ["people", "organizations", "contacts", "accounts", "sequences", "tasks", "deals", "users"]},
        "additionalProperties": level(&["off", "read", "write", "full"]),
    });
    let rate = json!({
        "type": "object", "additionalProperties": false,
        "properties": {"per_minute": count(), "per_hour": count(), "per_day": count()},
    });
    json!({
        "Error": {
            "type": "object", "required": ["error", "error_code"],
            "properties": {
                "error": {"type": "string", "description": "What is wrong, in a sentence."},
                "error_code": {"type": "string", "enum": ["BOLLARD_UNAUTHENTICATED", "BOLLARD_NOT_FOUND", "BOLLARD_CONFLICT", "BOLLARD_INVALID", "BOLLARD_BAD_REQUEST", "BOLLARD_TOO_LARGE", "BOLLARD_METHOD_NOT_ALLOWED", "BOLLARD_FORBIDDEN", "BOLLARD_INTERNAL"]},
            },
        },
        "Catalog": {
            "type": "object", "required": ["groups", "switches", "actions", "outside", "refused"],
            "properties": {
                "outside": {"type": "array", "items": {"type": "object", "required": ["method", "path", "what"]}},
                "refused": {"type": "string"},
                "groups": {"type": "array", "items": {"type": "object", "required": ["id", "title", "has_writes", "levels", "actions"]}},
                "switches": {"type": "array", "items": {"type": "object", "required": ["id", "title", "levels"]}},
                "actions": {"type": "array", "items": {"type": "object", "required": ["id", "group", "kind", "title", "method", "path", "spends_credits", "price", "master_key_only", "mcp_tool"]}},
            },
        },
        "Grants": {
            "type": "object", "additionalProperties": false,
            "properties": {
                "levels": group_levels,
                "reveal": {"type": "boolean", "description": "Reveal personal emails and phone numbers."},
                "waterfall": {"type": "boolean", "description": "Third-party waterfall enrichment."},
                "overrides": {"type": "object", "description": "Action id -> on (true) or off (false) against its group's level.", "additionalProperties": {"type": "boolean"}},
                "ask": {"type": "array", "uniqueItems": true, "items": {"type": "string"}, "description": "Ask first: a person approves each call. Capability ids (the calls their level allows), action ids (switched on, with approval) and \"reveal\" (calls that reveal emails or phone numbers)."},
            },
        },
        "Approval": {
            "type": "object",
            "required": ["id", "agent_id", "agent_name", "action", "state", "request_id", "sentence", "why", "arguments", "max_credits", "created_at", "expires_at", "notify_state"],
            "properties": {
                "id": {"type": "string", "description": "apr_..."},
                "agent_id": {"type": "string"}, "agent_name": {"type": "string"},
                "action": {"type": "string"},
                "call_hash": {"type": "string", "description": "A keyed hash (HMAC-SHA256 under a key derived from the installation secret, prefixed k2:) of the agent, action, record id and canonical arguments: the call the approval is for."},
                "state": {"type": "string", "enum": ["pending", "approved", "denied", "used", "expired"]},
                "request_id": {"type": "string", "description": "The call that asked."},
                "channel": {"type": "string", "enum": ["rest", "mcp"]},
                "sentence": {"type": "string", "description": "What the call does (personal data masked)."},
                "why": {"type": "string", "description": "Why it needs approval: the setting or the @ask rule."},
                "rule_ids": {"type": "array", "items": {"type": "string"}},
                "arguments": {"type": "object", "description": "As the audit log stores them: secrets removed, personal data hashed."},
                "max_credits": count(),
                "created_at": {"type": "string", "format": "date-time"},
                "expires_at": {"type": "string", "format": "date-time"},
                "decided_at": {"type": ["string", "null"], "format": "date-time"},
                "decided_by": nullable("string"), "note": nullable("string"),
                "used_at": {"type": ["string", "null"], "format": "date-time"},
                "used_by": {"type": ["string", "null"], "description": "The request id of the call that used it."},
                "notify_state": {"type": "string", "enum": ["none", "pending", "sent", "failed"]},
                "notify_attempts": count(), "notify_error": nullable("string"),
                "url": {"type": ["string", "null"], "description": "The request in the console, when approvals.console_url is set."},
                "revealable": {"type": "boolean", "description": "Its arguments hold personal data that an approver can ask to see (POST .../reveal) while it waits."},
                "arguments_revealed": {"type": "object", "description": "Only in the answer to a reveal: the arguments with personal data in clear."},
            },
        },
        "ApprovalList": {
            "type": "object", "required": ["approvals"],
            "properties": {"approvals": {"type": "array", "items": {"$ref": "#/components/schemas/Approval"}}},
        },
        "ApprovalDecision": {
            "type": "object", "additionalProperties": false,
            "properties": {"note": {"type": "string", "description": "For the record; the agent reads a denial's note."}},
        },
        "GrantsChange": {
            "oneOf": [
                {"$ref": "#/components/schemas/Grants"},
                {"type": "object", "required": ["set"], "additionalProperties": false,
                 "properties": {"set": {"type": "array", "items": {"type": "string"}, "examples": [["people=read", "reveal=off", "people.bulk_enrich=off"]]}}},
            ],
        },
        "Limits": {
            "type": "object", "additionalProperties": false,
            "properties": {
                "per_minute": count(), "per_hour": count(), "per_day": count(),
                "credits_per_day": count(), "credits_per_month": count(),
                "actions": {"type": "object", "description": "Request limits for single actions, by action id.", "additionalProperties": rate},
                "team_share_percent": {"type": "integer", "minimum": 1, "maximum": 100},
            },
        },
        "Usage": {
            "type": "object", "required": ["requests", "credits", "lines"],
            "properties": {
                "requests": {"type": "array", "items": {"type": "object", "properties": {
                    "scope": {"type": "string"}, "window": {"type": "string", "enum": ["minute", "hour", "day"]},
                    "used": {"type": "integer"}, "limit": {"type": "integer"}, "resets_at": {"type": "string", "format": "date-time"}}}},
                "credits": {"type": "array", "items": {"type": "object", "properties": {
                    "period": {"type": "string", "enum": ["day", "month"]}, "spent": {"type": "number"}, "reserved": {"type": "number"},
                    "limit": {"type": ["number", "null"]}, "resets_at": {"type": "string", "format": "date-time"}}}},
                "learned_prices": {"type": "array", "description": "Team-wide: actions Apollo billed above the price table; their calls reserve at the learned price.", "items": {"type": "object", "properties": {
                    "action": {"type": "string"}, "title": {"type": "string"}, "factor": {"type": "number"}, "since": {"type": "string", "format": "date-time"}}}},
                "lines": {"type": "array", "items": {"type": "string"}, "description": "The same, in plain English."},
            },
        },
        "Agent": {
            "type": "object",
            "required": ["id", "name", "description", "key_prefix", "created_at", "expires_at", "revoked_at", "grants", "limits", "status"],
            "properties": {
                "id": {"type": "string"}, "name": {"type": "string"}, "description": {"type": "string"},
                "key_prefix": {"type": "string", "description": "The first characters of the key, safe to show."},
                "created_at": {"type": "string", "format": "date-time"},
                "expires_at": nullable("string"), "revoked_at": nullable("string"),
                "grants": {"$ref": "#/components/schemas/Grants"},
                "limits": {"$ref": "#/components/schemas/Limits"},
                "status": {"type": "string", "enum": ["active", "revoked", "expired"]},
            },
        },
        "AgentDetail": {
            "allOf": [
                {"$ref": "#/components/schemas/Agent"},
                {"type": "object", "required": ["summary"], "properties": {
                    "summary": {"type": "array", "items": {"type": "string"}, "description": "What the agent can and cannot do, in plain English."},
                    "rules": {"type": "array", "items": {"$ref": "#/components/schemas/Rule"}},
                }},
            ],
        },
        "AgentList": {
            "type": "object", "required": ["agents"],
            "properties": {"agents": {"type": "array", "items": {"$ref": "#/components/schemas/Agent"}}},
        },
        "AgentWithKey": {
            "type": "object", "required": ["agent", "key"],
            "properties": {
                "agent": {"$ref": "#/components/schemas/Agent"},
                "key": {"type": "string", "description": "The agent's key (bol_agent_...), shown this once."},
            },
        },
        "NewAgent": {
            "type": "object", "required": ["name"], "additionalProperties": false,
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 80},
                "description": {"type": "string"},
                "expires_in": {"type": "string", "description": "A duration like 30d or 12h."},
            },
        },
        "AgentPatch": {
            "type": "object", "additionalProperties": false,
            "properties": {
                "name": {"type": "string"}, "description": {"type": "string"},
                "expires_at": {"type": ["string", "null"], "format": "date-time", "description": "null removes the expiry."},
                "expires_in": {"type": "string", "description": "A duration from now, instead of expires_at."},
            },
        },
        "Rule": {
            "type": "object", "required": ["name", "cedar", "created_at"],
            "properties": {"name": {"type": "string"}, "cedar": {"type": "string"}, "created_at": {"type": "string", "format": "date-time"}},
        },
        "RuleList": {
            "type": "object", "required": ["rules"],
            "properties": {"rules": {"type": "array", "items": {"$ref": "#/components/schemas/Rule"}}},
        },
        "NewRule": {
            "type": "object", "required": ["name", "cedar"], "additionalProperties": false,
            "properties": {
                "name": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
                "cedar": {"type": "string", "description": "One Cedar policy, e.g. forbid(principal, action, resource) when { context.per_page > 25 };"},
            },
        },
        "CheckRequest": {
            "type": "object", "required": ["agent"], "additionalProperties": false,
            "description": "Name the call by method and path, or by action id (and record_id for actions on one record).",
            "properties": {
                "agent": {"type": "string", "description": "The agent's id or name."},
                "method": {"type": "string", "examples": ["POST"]},
                "path": {"type": "string", "examples": ["/api/v1/people/match?reveal_phone_number=true"]},
                "action": {"type": "string", "examples": ["people.enrich"]},
                "record_id": {"type": "string"},
                "body": {"description": "The JSON body the agent would send, as an object or a string."},
            },
        },
        "CheckReport": {
            "type": "object", "required": ["decision", "status", "reason", "rule_ids", "max_credits", "sentence"],
            "properties": {
                "agent": {"type": "string"}, "method": {"type": "string"}, "path": {"type": "string"},
                "action": nullable("string"),
                "decision": {"type": "string", "enum": ["allowed", "denied", "approval"], "description": "approval: the call would wait for a person's approval (ask first)."},
                "status": {"type": "integer", "description": "The status the agent would get from Bollard."},
                "reason": {"type": "string"},
                "rule_ids": {"type": "array", "items": {"type": "string"}},
                "max_credits": count(),
                "sentence": {"type": "string", "description": "The audit sentence the call would get."},
            },
        },
        "AuditPage": {
            "type": "object", "required": ["calls", "next_cursor"],
            "properties": {
                "calls": {"type": "array", "items": {"type": "object", "required": ["seq", "kind", "request_id", "at", "decision", "reason", "sentence"]}},
                "next_cursor": {"type": ["string", "null"], "description": "Pass as cursor for the next (older) page; null at the end."},
            },
        },
        "VerifyReport": {
            "type": "object", "required": ["ok", "checked", "sentence"],
            "properties": {
                "ok": {"type": "boolean"}, "checked": count(),
                "first_bad_seq": nullable("integer"), "problem": nullable("string"),
                "sentence": {"type": "string"},
            },
        },
        "Connection": {
            "type": "object", "required": ["id", "agent_id", "client_id", "name", "approved_by", "created_at", "revoked_at"],
            "properties": {
                "id": {"type": "string"}, "agent_id": {"type": "string"}, "client_id": {"type": "string"},
                "name": {"type": "string"}, "approved_by": {"type": "string"},
                "created_at": {"type": "string", "format": "date-time"},
                "refreshed_at": nullable("string"), "revoked_at": nullable("string"), "revoked_reason": nullable("string"),
            },
        },
        "ConnectionList": {
            "type": "object", "required": ["connections"],
            "properties": {"connections": {"type": "array", "items": {"$ref": "#/components/schemas/Connection"}}},
        },
        "Client": {
            "type": "object", "required": ["client_id", "name", "redirect_uris", "source", "status"],
            "properties": {
                "client_id": {"type": "string"}, "name": {"type": "string"},
                "redirect_uris": {"type": "array", "items": {"type": "string"}},
                "source": {"type": "string", "enum": ["registered", "metadata"]},
                "status": {"type": "string", "enum": ["new", "approved", "blocked"]},
            },
        },
        "ClientList": {
            "type": "object", "required": ["clients"],
            "properties": {"clients": {"type": "array", "items": {"$ref": "#/components/schemas/Client"}}},
        },
    })
}
