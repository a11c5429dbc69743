//! The audit log page (newest first, one sentence a line, filters, live updates through a
//! small JSON feed the script polls, and the chain's verification status) and the dry run.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use bollard_policy::{Group, catalog};
use maud::{Markup, Render, html};
use serde::Deserialize;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

use super::html::{Notice, Section, csrf_field, options, page, pill, respond, time, url};
use super::{PageError, PageResult, Signed, SignedForm};
use crate::admin::AdminState;
use crate::admin::error::AdminError;
use crate::ops::query::{self as service, AuditQuery, CheckTarget};
use crate::ops::{self, AuditLine};

const SINCE: [(&str, &str); 6] = [
    ("", "Any time"),
    ("15m", "Last 15 minutes"),
    ("1h", "Last hour"),
    ("24h", "Last 24 hours"),
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
];

const KINDS: [(&str, &str); 3] = [
    ("", "Calls and admin changes"),
    ("calls", "Calls"),
    ("admin", "Admin changes"),
];

const DECISIONS: [(&str, &str); 3] = [
    ("", "Allowed or denied"),
    ("allowed", "Allowed"),
    ("denied", "Denied"),
];

fn agent_options<'a>(
    agents: &'a [crate::store::Agent],
    any: &'a str,
) -> impl Iterator<Item = (&'a str, &'a str)> {
    std::iter::once(("", any)).chain(agents.iter().map(|a| (a.id.as_str(), a.name.as_str())))
}

/// The catalog's actions as `<option>`s, grouped by capability.
fn action_options(current: &str, any: Option<&str>) -> Markup {
    html! {
        @if let Some(any) = any { option value="" { (any) } }
        @for g in Group::ALL {
            optgroup label=(g.title()) {
                @let actions = g.actions().map(|a| (a.id.to_string(), format!("{} ({})", a.title, a.id)));
                (options(actions, current))
            }
        }
    }
}

fn line(l: &AuditLine) -> Markup {
    html! {
        li class={ "line line-" (l.record.decision) } data-seq=(l.seq)
            data-request=(l.record.request_id) {
            div.line-meta { (pill(&l.record.decision)) (time(l.record.at)) }
            p.sentence {
                (l.record.sentence)
                @if l.outcome_missing { " " span.muted { "(no outcome recorded)" } }
            }
        }
    }
}

fn query_string(q: &AuditQuery) -> String {
    [
        ("kind", &q.kind),
        ("agent", &q.agent),
        ("action", &q.action),
        ("decision", &q.decision),
        ("since", &q.since),
    ]
    .iter()
    .filter_map(|(k, v)| {
        v.as_deref()
            .filter(|v| !v.is_empty())
            .map(|v| format!("{k}={}", url(v)))
    })
    .collect::<Vec<_>>()
    .join("&")
}

pub async fn log(
    State(st): State<AdminState>,
    Query(q): Query<AuditQuery>,
    s: Signed,
) -> PageResult {
    let agents = st.store().list_agents().await?;
    let (lines, next, notice) = match service::audit_filter(st.store(), &q, st.now()).await {
        Ok(f) => {
            let (lines, next) = ops::audit_lines(st.store(), &f).await?;
            let next = next.filter(|_| lines.len() >= f.limit as usize);
            (lines, next, None)
        }
        Err(e @ (ops::OpsError::Invalid(_) | ops::OpsError::NotFound(_))) => {
            (Vec::new(), None, Some(Notice::Error(e.to_string())))
        }
        Err(e) => return Err(e.into()),
    };
    let report = st.chain().status(st.store()).await?;
    let filtered = query_string(&q);
    let paging = q.cursor.as_deref().is_some_and(|c| !c.is_empty());
    let body = html! {
        div.page-head {
            div {
                h1 { "Audit log" }
                p.lead { "Every call, allowed or denied, and every change an admin made, newest first, as a sentence. Records are chained by hash, so an edit cannot go unnoticed." }
            }
        }
        div.chain.ok[report.ok].broken[!report.ok] data-verify role="status" {
            span.chain-icon aria-hidden="true" { (if report.ok { "✓" } else { "!" }) }
            p { (report.sentence()) }
        }
        @if let Some(c) = st.gate.audit().metrics().checkpoints.sentence() {
            p.muted data-checkpoints role="status" { (c) }
        }
        @if let Some(n) = notice { (n) }
        form.filters method="get" action="/audit" role="search" aria-label="Filter the audit log" {
            div.field {
                label for="f-kind" { "Show" }
                select #f-kind name="kind" {
                    (options(KINDS, q.kind.as_deref().unwrap_or("")))
                }
            }
            div.field {
                label for="f-agent" { "Agent" }
                select #f-agent name="agent" {
                    (options(agent_options(&agents, "All agents"), q.agent.as_deref().unwrap_or("")))
                }
            }
            div.field {
                label for="f-action" { "Action" }
                select #f-action name="action" {
                    (action_options(q.action.as_deref().unwrap_or(""), Some("All actions")))
                }
            }
            div.field {
                label for="f-decision" { "Decision" }
                select #f-decision name="decision" {
                    (options(DECISIONS, q.decision.as_deref().unwrap_or("")))
                }
            }
            div.field {
                label for="f-since" { "Time" }
                select #f-since name="since" { (options(SINCE, q.since.as_deref().unwrap_or(""))) }
            }
            div.actions {
                button.button type="submit" { "Filter" }
                @if !filtered.is_empty() { " " a.button.quiet href="/audit" { "Clear" } }
            }
        }
        @if paging {
            p.live.paused { "Showing older calls. " a href="/audit" { "Back to the newest" } }
        } @else {
            p.live data-live-status {
                span.dot aria-hidden="true" {}
                "Live: new calls appear here as they happen."
            }
        }
        @if lines.is_empty() {
            div.empty data-empty {
                @if filtered.is_empty() {
                    p {
                        strong { "No calls recorded yet." }
                        " Every call an agent makes, allowed or denied, appears here."
                    }
                } @else {
                    p { strong { "No calls match these filters." } }
                }
            }
        }
        // An empty feed address tells the script not to poll: older pages stay still.
        ol.audit #audit-list aria-label="Calls, newest first" aria-live="polite"
            data-feed=(if paging { String::new() } else { format!("/audit/feed?{filtered}") }) {
            @for l in &lines { (line(l)) }
        }
        @if let Some(c) = next {
            p.more {
                @let sep = if filtered.is_empty() { "" } else { "&" };
                a.button.quiet href={ "/audit?" (filtered) (sep) "cursor=" (c) } {
                    "Older calls"
                }
            }
        }
    };
    Ok(respond(
        StatusCode::OK,
        page("Audit log", Section::Audit, Some(&s.csrf), body),
    ))
}

#[derive(Debug, Deserialize)]
pub struct FeedQuery {
    #[serde(flatten)]
    filter: AuditQuery,
    after: Option<String>,
}

/// The calls recorded after `after` (a line's seq), for the page's live updates. A call
/// whose outcome arrives later comes again with a higher seq and the same request id; the
/// script replaces its line.
pub async fn feed(
    State(st): State<AdminState>,
    Query(q): Query<FeedQuery>,
    _s: Signed,
) -> Result<Json<Value>, PageError> {
    let mut query = q.filter;
    query.limit = Some(FEED_LINES.to_string());
    query.cursor = None;
    let f = service::audit_filter(st.store(), &query, st.now()).await?;
    let (lines, _) = ops::audit_lines(st.store(), &f).await?;
    let after: i64 = q.after.as_deref().and_then(|a| a.parse().ok()).unwrap_or(0);
    // A full answer all newer than `after` may have left calls out between the two (more than
    // FEED_LINES since the last poll: a laptop asleep, a burst): the script says so, rather
    // than show a log with a silent hole (found in review).
    let missed = after > 0 && lines.len() >= FEED_LINES && lines.iter().all(|l| l.seq > after);
    let calls: Vec<Value> = lines
        .iter()
        .filter(|l| l.seq > after)
        .map(|l| {
            json!({"seq": l.seq, "request_id": l.record.request_id, "decision": l.record.decision,
                   "at": l.record.at.format(&Rfc3339).unwrap_or_default(), "sentence": l.record.sentence,
                   "outcome_missing": l.outcome_missing})
        })
        .collect();
    Ok(Json(json!({"calls": calls, "missed": missed})))
}

/// The most calls one poll of the live feed brings.
const FEED_LINES: usize = 100;

pub async fn verify_now(
    State(st): State<AdminState>,
    _s: Signed,
) -> Result<Json<Value>, PageError> {
    let report = st
        .chain()
        .status(st.store())
        .await
        .map_err(AdminError::from)?;
    Ok(Json(
        json!({"ok": report.ok, "sentence": report.sentence()}),
    ))
}

#[derive(Debug, Deserialize)]
pub struct CheckQuery {
    agent: Option<String>,
}

/// What the dry-run form held, to draw it again with the result.
#[derive(Debug, Default)]
struct CheckForm<'a> {
    agent: &'a str,
    action: &'a str,
    record_id: &'a str,
    body: &'a str,
}

pub async fn check_page(
    State(st): State<AdminState>,
    Query(q): Query<CheckQuery>,
    s: Signed,
) -> PageResult {
    let agent = q.agent.unwrap_or_default();
    let form = CheckForm {
        agent: &agent,
        action: bollard_policy::ActionId::PeopleSearch.as_str(),
        body: "{\n  \"person_titles\": [\"VP Sales\"],\n  \"per_page\": 25\n}",
        ..CheckForm::default()
    };
    check_render(&st, &s, &form, None).await
}

pub async fn check(State(st): State<AdminState>, f: SignedForm) -> PageResult {
    let fl = &f.fields;
    let form = CheckForm {
        agent: fl.get("agent").unwrap_or(""),
        action: fl.get("action").unwrap_or(""),
        record_id: fl.get("record_id").unwrap_or(""),
        body: fl.get("body").unwrap_or(""),
    };
    let result = async {
        if form.agent.trim().is_empty() {
            return Err(ops::OpsError::Invalid(
                "Choose the agent whose call to check.".into(),
            ));
        }
        let live = service::live_agent(st.store(), form.agent).await?;
        let (method, path) = service::check_route(&CheckTarget {
            action: Some(form.action.to_owned()),
            record_id: Some(form.record_id.to_owned()),
            ..CheckTarget::default()
        })?;
        let body = Some(form.body).filter(|b| !b.trim().is_empty());
        Ok((
            st.gate.check(&live, &method, &path, body).await,
            method,
            path,
        ))
    }
    .await;
    let outcome = match result {
        Ok((report, method, path)) => {
            let allowed = report.decision == "allowed";
            html! {
                section.card.result.allowed[allowed].denied[!allowed] aria-labelledby="result-h"
                    id="result" tabindex="-1" {
                    h2 #result-h {
                        (pill(report.decision)) " "
                        (if allowed { "It would be allowed" } else { "It would be refused" })
                    }
                    p.sentence.big { (report.sentence) }
                    dl.facts {
                        div { dt { "Why" } dd { (report.reason) } }
                        @if !report.rule_ids.is_empty() {
                            div { dt { "Decided by" } dd { code { (report.rule_ids.join(", ")) } } }
                        }
                        div {
                            dt { "Could spend" }
                            dd {
                                @match (allowed, report.max_credits) {
                                    (false, _) => "Nothing: it would be refused before any credit is spent.",
                                    (true, 0) => "No credits.",
                                    (true, 1) => "Up to 1 credit.",
                                    (true, n) => { "Up to " (n) " credits." },
                                }
                            }
                        }
                        div { dt { "The agent would get" } dd { "HTTP " (report.status) } }
                        div { dt { "Call" } dd { code { (method) " " (path) } } }
                    }
                    p.muted.small { "A dry run: nothing was counted, recorded or sent to Apollo." }
                }
            }
        }
        Err(e @ (ops::OpsError::Invalid(_) | ops::OpsError::NotFound(_))) => {
            Notice::Error(e.to_string()).render()
        }
        Err(e) => return Err(e.into()),
    };
    check_render(&st, &f.signed, &form, Some(outcome)).await
}

async fn check_render(
    st: &AdminState,
    s: &Signed,
    form: &CheckForm<'_>,
    outcome: Option<Markup>,
) -> PageResult {
    let agents = st.store().list_agents().await?;
    let selected = agents
        .iter()
        .find(|a| a.id == form.agent || a.name.eq_ignore_ascii_case(form.agent))
        .map_or("", |a| a.id.as_str());
    let with_id: Vec<String> = catalog()
        .iter()
        .filter_map(|a| a.path_param.map(|p| format!("{} ({p})", a.id)))
        .collect();
    let body = html! {
        div.page-head {
            div {
                h1 { "Dry run" }
                p.lead { "Would this call be allowed, why, and what could it cost? The same checks as a real call; nothing is sent to Apollo." }
            }
        }
        div.check-layout {
            form.card.stack method="post" action="/check" aria-label="Call to check" {
                (csrf_field(&s.csrf))
                div.field {
                    label for="c-agent" { "Agent" }
                    select #c-agent name="agent" required {
                        (options(agent_options(&agents, "Choose an agent"), selected))
                    }
                }
                div.field {
                    label for="c-action" { "Action" }
                    select #c-action name="action" required { (action_options(form.action, None)) }
                }
                div.field {
                    label for="c-record" { "Record id " span.optional { "(only for actions on one record)" } }
                    input #c-record name="record_id" value=(form.record_id) spellcheck="false";
                    span.hint { "Needed by " (with_id.join(", ")) "." }
                }
                div.field {
                    label for="c-body" { "Arguments (JSON)" }
                    textarea #c-body.code name="body" rows="8" spellcheck="false" { (form.body) }
                    span.hint {
                        "As the agent would send them, e.g. " code { "{\"reveal_phone_number\": true}" } "."
                    }
                }
                div.actions { button.button.primary type="submit" { "Check" } }
            }
            div.check-out {
                @match outcome {
                    Some(o) => (o),
                    None => div.empty { p { "Pick an agent and an action, then " strong { "Check" } "." } },
                }
            }
        }
    };
    Ok(respond(
        StatusCode::OK,
        page("Dry run", Section::Check, Some(&s.csrf), body),
    )
    .into_response())
}
