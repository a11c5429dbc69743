//! Phases 2 to 5 of the gate as pure functions (classify, read, decide, validate), shared by
//! real calls and the dry run, which must never disagree; the dry run then runs the limits
//! phase read-only.

use bollard_policy::{
    Action, Args, Decision, Route, by_tool, classify, decide, read_args, validate,
};
use bytes::Bytes;
use serde_json::Value;

use super::{CheckReport, Classified, GateSettings, Target};
use crate::audit::sentence::{self, Caller, Door, Phase};
use crate::config::ApolloKeyKind;
use crate::directory::LiveAgent;
use crate::error::{Denial, Refusal, Refused, TooLarge};
use crate::limits::{self, LimitNote, TeamWindows};
use crate::store::Store;

/// The most an MCP tool call's arguments may weigh, serialized.
pub const TOOL_ARGUMENTS_LIMIT: usize = 256 * 1024;

/// The refusal for a method and path outside the catalog.
pub(super) fn not_governed(method: &str, path: &str) -> Refusal {
    Refusal::Denied(Denial::NotGoverned {
        method: method.to_owned(),
        path: path.to_owned(),
    })
}

/// The dry run: what the gate would answer, running its phases read-only. The CLI builds one
/// from its own store; a running gate from its own (see [`super::Gate::check`]).
#[derive(Debug)]
pub struct DryRun<'a> {
    pub settings: &'a GateSettings,
    pub store: &'a dyn Store,
    /// Apollo's team windows as this process learned them (none for the CLI).
    pub team: &'a TeamWindows,
    pub now: time::OffsetDateTime,
}

impl DryRun<'_> {
    pub async fn check(
        &self,
        live: &LiveAgent,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> CheckReport {
        let (mut report, what, action) =
            policy_check(self.settings, live, method, path, body, self.now);
        let (Some(what), Some(action)) = (what, action) else {
            return report;
        };
        if report.decision != "allowed" {
            return report;
        }
        // The price a call would reserve, learned from Apollo's bills when it charged more.
        if report.max_credits > 0
            && let Ok(Some(learned)) = self.store.learned_price(action.id.as_str()).await
        {
            report.max_credits = limits::scaled(report.max_credits, learned.factor_milli);
        }
        // 6. The limits phase, peeking: the same refusal a call would get, nothing used up.
        let mut note = LimitNote::default();
        let caller = Caller::Agent(&live.agent.name);
        match limits::phase(
            self.store,
            limits::Mode::Peek,
            self.team,
            &live.agent,
            action,
            report.max_credits,
            self.now,
            &mut note,
        )
        .await
        {
            Ok(Some(reservation)) => {
                if let Some((period, left)) = reservation
                    .left_before_milli
                    .iter()
                    .min_by_key(|(_, left)| *left)
                {
                    let when = if *period == "day" {
                        "today"
                    } else {
                        "this month"
                    };
                    report.sentence.push_str(&format!(
                        " It could use up to {} of the {} credits left {when}.",
                        report.max_credits,
                        limits::from_milli(*left)
                    ));
                }
            }
            Ok(None) => {}
            Err(refusal) => {
                report.decision = "denied";
                report.status = refusal.status_and_code().0;
                report.reason = refusal.message();
                report.rule_ids = Vec::new();
                report.sentence = sentence::sentence(
                    caller,
                    Door::Rest,
                    &what,
                    &Phase::WouldBe {
                        why: Some(&refusal.clause()),
                    },
                );
            }
        }
        report
    }
}

/// Phases 2 to 5 of the dry run: the report, and for a call that reached the decision, what
/// it asks for and its action (for the limits phase).
fn policy_check(
    settings: &GateSettings,
    live: &LiveAgent,
    method: &str,
    path: &str,
    body: Option<&str>,
    now: time::OffsetDateTime,
) -> (CheckReport, Option<sentence::What>, Option<&'static Action>) {
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
        action: action.map(|a| a.id.to_string()),
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
            return (
                denied(None, Refused::new(not_governed(&m, &p)), s),
                None,
                None,
            );
        }
    };
    let (args, fwd, m) = match read(settings, &target, &route) {
        Ok(x) => x,
        Err(refused) => {
            let what = sentence::describe(
                route.action,
                &Args::default(),
                route.path_id.as_deref(),
                None,
            );
            let s = would_be(&what, Some(&refused.refusal.clause()));
            return (denied(Some(route.action), refused, s), None, None);
        }
    };
    let args = args.without_secrets();
    let what = sentence::describe(route.action, &args, route.path_id.as_deref(), None);
    // Found in review: the dry run said ALLOWED for a revoked or expired agent, whose every
    // call the gate refuses.
    if let Err(refusal) = super::standing(&live.agent, now) {
        let refused = Refused::new(refusal);
        let s = would_be(&what, Some(&refused.refusal.clause()));
        return (denied(Some(route.action), refused, s), None, None);
    }
    let c = Classified {
        action: route.action,
        path_id: route.path_id,
        args,
        path: fwd,
        method: m,
        live,
    };
    let report = match evaluate(settings, &c) {
        Ok(d) if d.asks() => CheckReport {
            action: Some(c.action.id.to_string()),
            decision: "approval",
            status: 403,
            reason: format!(
                "{} A real call would be refused with BOLLARD_APPROVAL_PENDING and a request made; once a person approves it, the same call runs once.",
                d.reason()
            ),
            rule_ids: d.rule_ids.clone(),
            max_credits: if c.action.spends_credits() {
                settings.prices.max_cost(c.action, &c.args)
            } else {
                0
            },
            sentence: format!(
                "If {} asked to {}, it would wait for a person's approval, because {}.",
                c.live.agent.name,
                what.inf,
                d.clause()
            ),
        },
        Ok(d) => CheckReport {
            action: Some(c.action.id.to_string()),
            decision: "allowed",
            status: 200,
            reason: d.reason(),
            rule_ids: d.rule_ids,
            max_credits: if c.action.spends_credits() {
                settings.prices.max_cost(c.action, &c.args)
            } else {
                0
            },
            sentence: would_be(&what, None),
        },
        Err(refused) => {
            let s = would_be(&what, Some(&refused.refusal.clause()));
            denied(Some(c.action), refused, s)
        }
    };
    (report, Some(what), Some(c.action))
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
pub(super) fn read(
    settings: &GateSettings,
    target: &Target,
    route: &Route,
) -> Result<(Args, String, String), Refused> {
    let (args, path, method) = read_target(settings, target, route)?;
    // A GET call's arguments are forwarded as a query string, so they must have a shape that
    // Apollo reads back exactly as decided.
    if method == "GET" {
        args.check_query_shaped()
            .map_err(|e| Refused::new(Refusal::Invalid(e.to_string())))?;
    }
    Ok((args, path, method))
}

fn read_target(
    settings: &GateSettings,
    target: &Target,
    route: &Route,
) -> Result<(Args, String, String), Refused> {
    match target {
        Target::Http {
            method,
            path,
            query,
            content_type,
            body,
        } => {
            let Some(body) = body else {
                return Err(Refused::new(Refusal::TooLarge(TooLarge::Body {
                    limit_kib: settings.body_limit / 1024,
                })));
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
                return Err(Refused::new(Refusal::TooLarge(TooLarge::ToolArguments {
                    tool: name.chars().take(100).collect(),
                    size_kib: size / 1024,
                    limit_kib: TOOL_ARGUMENTS_LIMIT / 1024,
                })));
            }
            let mut map = arguments.clone();
            let action = route.action;
            if let Some(p) = action.path_param {
                map.remove(p);
            }
            // Checked like a REST path, so an id cannot carry a path (or a route) of its own.
            let path = match (action.path_param, route.path_id.as_deref()) {
                (Some(p), None) => {
                    return Err(Refused::new(Refusal::Invalid(format!(
                        "'{p}' is required: it says which record to change."
                    ))));
                }
                (param, id) => action.upstream_path(id).ok_or_else(|| {
                    Refused::new(Refusal::Invalid(format!(
                        "'{}' must be an Apollo id (letters, digits, '-' and '_').",
                        param.unwrap_or("id")
                    )))
                })?,
            };
            // The same depth and count limits as REST bodies, so no door forwards what the
            // other refuses.
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
        .map_err(|e| Refused::new(Refusal::Denied(Denial::PolicyUnusable(e.clone()))))?;
    let mut decision = decide(policy, c.action, &c.args, c.path_id.as_deref());
    // A call that asks first goes through the checks below like an allowed one: a person is
    // asked only about a call that could run.
    if !decision.allowed && !decision.asks() {
        return Err(Refused::from_decision(&decision));
    }
    if c.action.key == bollard_policy::KeyScope::Master
        && settings.key_kind == ApolloKeyKind::Scoped
    {
        return Err(Refused::by_setting(
            Refusal::Denied(Denial::ScopedKey {
                agent: name.clone(),
                action: c.action.id,
            }),
            "apollo_key_kind",
        ));
    }
    if let Some(url) = c.args.value().get("webhook_url") {
        let ok = url
            .as_str()
            .is_some_and(|u| super::webhook::allowed(u, &settings.webhook_prefixes));
        if !ok {
            return Err(Refused::by_setting(
                Refusal::Denied(Denial::WebhookNotAllowed {
                    agent: name.clone(),
                    prefixes: settings.webhook_prefixes.clone(),
                }),
                "webhook_prefixes",
            ));
        }
    }
    validate(c.action, &c.args, c.path_id.as_deref())
        .map_err(|e| Refused::new(Refusal::Invalid(e.message)))?;
    // A bulk write: each record is decided as its single create or update, and one
    // refused record refuses the call (why: bollard_policy::bulk).
    let records = bollard_policy::decide_records(policy, c.action, &c.args);
    if let Some(clause) = bollard_policy::refused_clause(&records) {
        let mut refused = Refused::new(Refusal::Denied(Denial::Records {
            agent: name.clone(),
            action: c.action.id,
            clause,
        }));
        refused.rule_ids = records
            .iter()
            .filter(|r| !r.decision.allowed)
            .flat_map(|r| r.decision.rule_ids.iter().cloned())
            .collect();
        refused.rule_ids.sort();
        refused.rule_ids.dedup();
        return Err(refused);
    }
    // A bulk write one of whose records would ask first as a single write asks as a whole.
    if decision.ask.is_none()
        && let Some(r) = records.iter().find(|r| r.decision.asks())
    {
        decision.allowed = false;
        decision.ask = r.decision.ask.clone();
        decision
            .rule_ids
            .extend(r.decision.rule_ids.iter().cloned());
        decision.rule_ids.sort();
        decision.rule_ids.dedup();
    }
    Ok(decision)
}
