//! Phases 2 to 5 of the gate as pure functions (classify, read, decide, validate), shared by
//! real calls and the dry run, which must never disagree.

use bollard_policy::{
    Action, Args, Decision, Route, by_tool, classify, decide, read_args, validate,
};
use bytes::Bytes;
use serde_json::Value;

use super::{CheckReport, Classified, GateSettings, Refused, Target};
use crate::audit::sentence::{self, Caller, Door, Phase};
use crate::config::ApolloKeyKind;
use crate::directory::LiveAgent;
use crate::error::Refusal;

/// The most an MCP tool call's arguments may weigh, serialized.
pub const TOOL_ARGUMENTS_LIMIT: usize = 256 * 1024;

/// The refusal for a method and path outside the catalog.
pub(super) fn not_governed(method: &str, path: &str) -> Refusal {
    Refusal::Denied(format!(
        "{method} {} is not an Apollo action that Bollard governs, so it is refused.",
        path.chars().take(100).collect::<String>()
    ))
}

/// The dry run without a running gate (the CLI's `check`): see [`Gate::check`].
pub fn check(
    settings: &GateSettings,
    live: &LiveAgent,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> CheckReport {
    let (path, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q.to_owned())),
        None => (path, None),
    };
    let target = Target::Http {
        method: method.to_ascii_uppercase(),
        path: path.to_owned(),
        query,
        content_type: Some("application/json".into()),
        body: Some(Bytes::from(body.unwrap_or("").to_owned())),
    };
    let caller = Caller::Agent(&live.agent.name);
    let would_be = |what: &sentence::What, why: Option<&str>| {
        sentence::sentence(caller, Door::Rest, what, &Phase::WouldBe { why })
    };
    let denied = |action: Option<&Action>, refused: Refused, sentence: String| CheckReport {
        action: action.map(|a| a.id.to_owned()),
        decision: "denied",
        status: refused.refusal.status_and_code().0,
        reason: refused.reason(),
        rule_ids: refused.rule_ids,
        max_credits: 0,
        sentence,
    };
    let route = match route(&target) {
        Ok(r) => r,
        Err((m, p)) => {
            let s = sentence::unknown_route(caller, Door::Rest, &m, &p);
            return denied(None, Refused::new(not_governed(&m, &p)), s);
        }
    };
    let (args, fwd, m) = match read(&target, &route) {
        Ok(x) => x,
        Err(refused) => {
            let what = sentence::describe(
                route.action,
                &Args::default(),
                route.path_id.as_deref(),
                None,
            );
            let s = would_be(&what, Some(&refused.reason()));
            return denied(Some(route.action), refused, s);
        }
    };
    let args = args.without_secrets();
    let what = sentence::describe(route.action, &args, route.path_id.as_deref(), None);
    let c = Classified {
        action: route.action,
        path_id: route.path_id,
        args,
        path: fwd,
        method: m,
        live,
    };
    match evaluate(settings, &c) {
        Ok(d) => CheckReport {
            action: Some(c.action.id.to_owned()),
            decision: "allowed",
            status: 200,
            reason: d.reason,
            rule_ids: d.rule_ids,
            max_credits: if c.action.spends_credits {
                settings.prices.max_cost(c.action, &c.args)
            } else {
                0
            },
            sentence: would_be(&what, None),
        },
        Err(refused) => {
            let s = would_be(&what, Some(&refused.reason()));
            denied(Some(c.action), refused, s)
        }
    }
}

pub(super) fn route(target: &Target) -> Result<Route, (String, String)> {
    match target {
        Target::Http { method, path, .. } => {
            classify(method, path).ok_or_else(|| (method.clone(), path.clone()))
        }
        Target::Tool { name, arguments } => {
            let Some(action) = by_tool(name) else {
                return Err(("MCP tool".into(), name.clone()));
            };
            let path_id = action
                .path_param
                .and_then(|p| arguments.get(p))
                .and_then(Value::as_str)
                .map(str::to_owned);
            Ok(Route { action, path_id })
        }
    }
}

/// Reads the arguments and works out the method and path to forward.
pub(super) fn read(target: &Target, route: &Route) -> Result<(Args, String, String), Refused> {
    let (args, path, method) = read_target(target, route)?;
    // A GET call's arguments are forwarded as a query string, so they must have a shape that
    // Apollo reads back exactly as decided.
    if method == "GET" {
        args.check_query_shaped()
            .map_err(|e| Refused::new(Refusal::Invalid(e.to_string())))?;
    }
    Ok((args, path, method))
}

fn read_target(target: &Target, route: &Route) -> Result<(Args, String, String), Refused> {
    match target {
        Target::Http {
            method,
            path,
            query,
            content_type,
            body,
        } => {
            let Some(body) = body else {
                return Err(Refused::new(Refusal::TooLarge(
                        "The request body is larger than Bollard accepts (1 MiB); Apollo's own calls are far smaller.".into(),
                    )));
            };
            let args = read_args(query.as_deref(), content_type.as_deref(), body)
                .map_err(|e| Refused::new(Refusal::Invalid(e.to_string())))?;
            Ok((
                args,
                path.trim_end_matches('/').to_owned(),
                method.to_ascii_uppercase(),
            ))
        }
        Target::Tool { name, arguments } => {
            // Measured as it would be forwarded; Apollo's own calls are far smaller.
            let size = serde_json::to_vec(arguments).map_or(usize::MAX, |v| v.len());
            if size > TOOL_ARGUMENTS_LIMIT {
                return Err(Refused::new(Refusal::TooLarge(format!(
                    "The arguments of {} are {} KiB; Bollard accepts at most {} KiB per call. Send fewer records per call.",
                    name.chars().take(100).collect::<String>(),
                    size / 1024,
                    TOOL_ARGUMENTS_LIMIT / 1024
                ))));
            }
            let mut map = arguments.clone();
            let action = route.action;
            if let Some(p) = action.path_param {
                map.remove(p);
            }
            let path = match (action.path_param, &route.path_id) {
                (Some(p), Some(id)) => {
                    // Checked like a REST path, so an id cannot carry a path of its own.
                    let path = format!("/api/v1{}", action.path.replace(&format!("{{{p}}}"), id));
                    if classify(action.method.as_str(), &path)
                        .is_none_or(|r| r.action.id != action.id)
                    {
                        return Err(Refused::new(Refusal::Invalid(format!(
                            "'{p}' must be an Apollo id (letters, digits, '-' and '_')."
                        ))));
                    }
                    path
                }
                (Some(p), None) => {
                    return Err(Refused::new(Refusal::Invalid(format!(
                        "'{p}' is required: it says which record to change."
                    ))));
                }
                (None, _) => format!("/api/v1{}", action.path),
            };
            let args = Args::try_from_value(map)
                .map_err(|e| Refused::new(Refusal::Invalid(e.to_string())))?;
            Ok((args, path, action.method.as_str().to_owned()))
        }
    }
}

/// Phases 4 and 5: the decision, the gateway-wide refusals, then Apollo's constraints.
pub(super) fn evaluate(settings: &GateSettings, c: &Classified<'_>) -> Result<Decision, Refused> {
    let name = &c.live.agent.name;
    let policy = c
        .live
        .policy
        .as_ref()
        .map_err(|e| Refused::new(Refusal::Denied(e.clone())))?;
    let decision = decide(policy, c.action, &c.args, c.path_id.as_deref());
    if !decision.allowed {
        return Err(Refused::from_decision(&decision));
    }
    if c.action.key == bollard_policy::KeyScope::Master
        && settings.key_kind == ApolloKeyKind::Scoped
    {
        return Err(Refused::by_setting(
            Refusal::Denied(format!(
                "{name} may not {}: Bollard holds a scoped Apollo key, which cannot reach this endpoint. An admin must configure a master key (APOLLO_KEY_KIND=master) first.",
                c.action.title_lower()
            )),
            "apollo_key_kind",
        ));
    }
    if let Some(url) = c.args.value().get("webhook_url") {
        let ok = url
            .as_str()
            .is_some_and(|u| super::webhook::allowed(u, &settings.webhook_prefixes));
        if !ok {
            let allowed = if settings.webhook_prefixes.is_empty() {
                "no webhook prefixes are configured".to_owned()
            } else {
                format!("allowed prefixes: {}", settings.webhook_prefixes.join(", "))
            };
            return Err(Refused::by_setting(
                Refusal::Denied(format!(
                    "{name} may not send Apollo's results to that webhook_url: the webhook_url is not under a prefix the admin allowed ({allowed})."
                )),
                "webhook_prefixes",
            ));
        }
    }
    validate(c.action, &c.args, c.path_id.as_deref())
        .map_err(|e| Refused::new(Refusal::Invalid(e.message)))?;
    Ok(decision)
}
