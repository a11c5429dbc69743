//! One agent's page: who it is, what it can and cannot do in plain English, the access grid
//! (a row per capability group: Off / Read / Write / Full use), the reveal and waterfall
//! switches, per-action overrides, limits, rules and its latest calls.

use axum::http::StatusCode;
use bollard_policy::grant::{REVEAL_TITLE, WATERFALL_TITLE};
use bollard_policy::{Group, Level, catalog};
use maud::{Markup, html};

use super::html::{Notice, Section, csrf_field, page, pill, respond, table, time, url};
use super::{Fields, PageResult, Signed};
use crate::admin::AdminState;
use crate::ops;
use crate::ops::query as service;
use crate::store::{Agent, AuditFilter, Limits, StoredRule};

pub async fn render(
    st: &AdminState,
    s: &Signed,
    a: &Agent,
    notice: Option<Notice>,
    status: StatusCode,
    rule_form: Option<&Fields>,
) -> PageResult {
    let rules = st.store().list_rules(&a.id).await?;
    let recent = ops::audit_lines(
        st.store(),
        &AuditFilter {
            agent_id: Some(a.id.clone()),
            limit: 5,
            ..AuditFilter::default()
        },
    )
    .await?
    .0;
    let usage = ops::agent_usage(st.store(), a, st.now())
        .await?
        .lines(st.now());
    let state = service::agent_status(a, st.now());
    let live = state == "active";
    // What every form of the page shares: the agent's address and the session's token.
    let f = Forms {
        id: url(&a.id),
        csrf: csrf_field(&s.csrf),
    };
    let body = html! {
        (header(a, state, &f))
        @if let Some(n) = notice { (n) }
        div.agent-layout {
            div.main-col {
                (grid(a, &f, live))
                (limits(&a.limits, &usage, &f, live))
                (rules_card(&rules, &f, rule_form))
            }
            aside.side-col {
                (summary(a, &rules))
                (super::connect::card(st, a, &s.csrf).await?)
                section.card aria-labelledby="recent" {
                    h2 #recent { "Latest calls" }
                    @if recent.is_empty() {
                        p.muted { "No calls yet." }
                    } @else {
                        ol.mini-audit {
                            @for l in &recent {
                                li {
                                    (pill(&l.record.decision)) " " (time(l.record.at))
                                    p { (l.record.sentence) }
                                }
                            }
                        }
                    }
                    p {
                        a href={ "/audit?agent=" (f.id) } { "All of " (a.name) "'s calls" }
                        " · "
                        a href={ "/check?agent=" (f.id) } { "Try a dry run" }
                    }
                }
            }
        }
    };
    Ok(respond(
        status,
        page(&a.name, Section::Agents, Some(&s.csrf), body),
    ))
}

/// What a form was drawn from (the agent's grants or limits), as a digest the form sends
/// back: a save made from a page opened before another change is refused rather than undoing
/// that change (`agents::unchanged_since_drawn`). The admin API's `ETag` is the same digest.
pub(super) fn drawn(v: &impl serde::Serialize) -> String {
    crate::admin::etag::digest(v)
}

/// What the details form shows and saves: name, description and expiry.
pub(super) fn details_of(a: &Agent) -> (&str, &str, Option<i64>) {
    (
        &a.name,
        &a.description,
        a.expires_at.map(time::OffsetDateTime::unix_timestamp),
    )
}

/// What the page's forms need: the agent's id as a path segment, and the CSRF field.
#[derive(Debug)]
struct Forms {
    id: String,
    csrf: Markup,
}

fn header(a: &Agent, state: &str, f: &Forms) -> Markup {
    let id = &f.id;
    html! {
        p.crumbs { a href="/agents" { "Agents" } " " span aria-hidden="true" { "/" } }
        div.page-head #top {
            div {
                h1 { (a.name) " " (pill(state)) }
                @if !a.description.is_empty() { p.lead { (a.description) } }
            }
            @if a.revoked_at.is_none() {
                div.head-actions {
                    form method="post" action={ "/agents/" (id) "/rotate" }
                        data-confirm={ "Give " (a.name) " a new key? The current key stops working at once." } {
                        (f.csrf)
                        button.button type="submit" { "Rotate key" }
                    }
                    form method="post" action={ "/agents/" (id) "/revoke" }
                        data-confirm={ "Revoke " (a.name) "? Its key stops working at once. This cannot be undone." } {
                        (f.csrf)
                        button.button.danger type="submit" { "Revoke" }
                    }
                }
            }
        }
        dl.meta {
            div { dt { "Id" } dd { code { (a.id) } } }
            div { dt { "Key" } dd { code { (a.key_prefix) "…" } } }
            div { dt { "Created" } dd { (time(a.created_at)) } }
            div {
                dt { "Key expires" }
                dd { @match a.expires_at { Some(e) => (time(e)), None => "Never" } }
            }
            @if let Some(r) = a.revoked_at {
                div { dt { "Revoked" } dd { (time(r)) } }
            }
        }
        details.edit {
            summary { "Edit name, description and expiry" }
            form.form-grid method="post" action={ "/agents/" (id) "/details" } {
                (f.csrf)
                input type="hidden" name="drawn" value=(drawn(&details_of(a)));
                div.field {
                    label for="d-name" { "Name" }
                    input #d-name name="name" required maxlength="80" value=(a.name);
                }
                div.field.wide {
                    label for="d-description" { "What it is for" }
                    input #d-description name="description" value=(a.description);
                }
                div.field {
                    label for="d-expires" { "Key expires" }
                    select #d-expires name="expires" {
                        (super::html::options(super::agents::EXPIRY_CHANGES, ""))
                    }
                }
                div.actions { button.button type="submit" { "Save" } }
            }
        }
    }
}

/// What the agent can and cannot do, in the words `agent show` uses (rules that widen or
/// narrow the grid included), plus its budget.
fn summary(a: &Agent, rules: &[StoredRule]) -> Markup {
    let lines = crate::ops::access_summary(a, rules);
    let (first, rest) = lines
        .split_first()
        .map_or(("", &[][..]), |(f, r)| (f.as_str(), r));
    let budget = match (a.limits.credits_per_day, a.limits.credits_per_month) {
        (None, None) => "No credit budget: actions that spend credits are refused.".to_owned(),
        (Some(d), None) => format!("May spend up to {d} credits a day."),
        (None, Some(m)) => format!("May spend up to {m} credits a month."),
        (Some(d), Some(m)) => format!("May spend up to {d} credits a day and {m} a month."),
    };
    html! {
        section.card.summary aria-labelledby="can" {
            h2 #can { "What " (a.name) " can do" }
            p.big { (first) }
            ul.can-list {
                @for l in rest {
                    @let (title, text) = l.split_once(": ").unwrap_or(("", l));
                    @let off = text.starts_with("no access") || text.starts_with("may not");
                    li class=(if off { "no" } else { "yes" }) { strong { (title) } " " (text) }
                }
            }
            p.small { (budget) }
            @match rules.len() {
                0 => {},
                1 => p.small { "1 rule can refuse calls the grid allows." },
                n => p.small { (n) " rules can refuse calls the grid allows." },
            }
        }
    }
}

fn radio(group: Group, level: Level, current: Level, enabled: bool) -> Markup {
    html! {
        td class={ "cell cell-" (level.as_str()) } {
            label {
                input type="radio" name={ "level." (group.as_str()) } value=(level.as_str())
                    aria-label={ (group.title()) ": " (level.title()) }
                    checked[level == current] disabled[!enabled];
                span.cell-mark aria-hidden="true" {}
            }
        }
    }
}

/// A capability's row of the grid: its actions (each marked allowed or not) and its levels.
fn grid_row(a: &Agent, g: Group, live: bool) -> Markup {
    let current = a.grants.level(g);
    html! {
        tr {
            th scope="row" {
                span.cap { (g.title()) }
                ul.acts {
                    @for x in g.actions() {
                        @let on = a.grants.allows(x);
                        li class={ "act act-" (if on { "on" } else { "off" }) } {
                            span.sr-only { (if on { "allowed" } else { "not allowed" }) ": " }
                            (x.title) " "
                            span.tag {
                                (x.kind.as_str())
                                @if x.spends_credits() { " · credits" }
                            }
                        }
                    }
                }
            }
            (radio(g, Level::Off, current, live))
            (radio(g, Level::Read, current, live))
            @if g.has_writes() {
                (radio(g, Level::Write, current, live))
            } @else {
                td.cell.na {
                    span aria-hidden="true" { "—" }
                    span.sr-only { "No write actions" }
                }
            }
            (radio(g, Level::Full, current, live))
            td.cell.ask {
                label {
                    input type="checkbox" name={ "ask." (g.as_str()) } value="on"
                        aria-label={ (g.title()) ": ask a person to approve each call" }
                        checked[a.grants.asks_for_group(g)] disabled[!live];
                    span.sr-only { "Ask first" }
                }
            }
        }
    }
}

fn switch(name: &str, title: &str, on: bool, live: bool, about: &str) -> Markup {
    html! {
        div.switch {
            input type="checkbox" role="switch" id={ "sw-" (name) } name=(name) value="on"
                checked[on] disabled[!live];
            label for={ "sw-" (name) } { strong { (title) } span { (about) } }
        }
    }
}

/// The override of one action against its row: as the row says, always, or never.
fn override_row(a: &Agent, x: &bollard_policy::Action, live: bool) -> Markup {
    let set = a.grants.overrides.get(x.id.as_str()).copied();
    let by_row = a.grants.level(x.group).allows(x.kind);
    html! {
        tr {
            th scope="row" {
                label for={ "ov-" (x.id) } { (x.title) }
                span.sub { code { (x.id) } " · " (x.group.title()) " · " (x.kind.as_str()) }
            }
            td {
                select id={ "ov-" (x.id) } name={ "override." (x.id) } disabled[!live] {
                    option value="default" selected[set.is_none()] {
                        "As the row says (" (if by_row { "allowed" } else { "not allowed" }) ")"
                    }
                    @let asks = a.grants.asks_for_action(x);
                    option value="on" selected[set == Some(true) && !asks] { "Always allowed" }
                    option value="ask" selected[set == Some(true) && asks] { "Allowed once a person approves each call" }
                    option value="off" selected[set == Some(false)] { "Never allowed" }
                }
            }
        }
    }
}

fn grid(a: &Agent, f: &Forms, live: bool) -> Markup {
    let n_over = a.grants.overrides.len();
    html! {
        section.card #access aria-labelledby="access-h" {
            h2 #access-h { "Access" }
            p.muted {
                "Choose what " (a.name) " may do in each part of Apollo. "
                strong { "Read" } " allows searches and lookups, "
                strong { "Write" } " allows creating and changing records, "
                strong { "Full use" } " allows both. Off refuses everything in the row. "
                strong { "Ask first" } " holds each call the row allows until a person approves it on the Approvals page."
            }
            form method="post" action={ "/agents/" (f.id) "/grants" } data-track {
                (f.csrf)
                input type="hidden" name="drawn" value=(drawn(&a.grants));
                (table(
                    "grid",
                    &format!("Access for {}, one row per capability", a.name),
                    &["Capability", "Off", "Read", "Write", "Full use", "Ask first"],
                    html! { @for g in Group::ALL { (grid_row(a, g, live)) } },
                ))
                h3 { "Sensitive" }
                div.switches {
                    (switch("reveal", REVEAL_TITLE, a.grants.reveal, live,
                        "Personal emails and phone numbers. Costs extra credits and carries privacy weight; when off they are also removed from answers."))
                    (switch("waterfall", WATERFALL_TITLE, a.grants.waterfall, live,
                        "Third-party waterfall enrichment, which costs extra credits. It delivers emails and phone numbers, so it also needs Reveal."))
                    (switch("ask.reveal", "Ask first before revealing", a.grants.asks_for_reveal(), live,
                        "With Reveal on, a person approves each call that reveals emails or phone numbers before it runs."))
                }
                details.overrides open[n_over > 0] {
                    summary { "Per-action overrides " span.count { (n_over) " set" } }
                    p.muted.small {
                        "Switch one action on or off against its row, for example People on Read but bulk enrichment never."
                    }
                    (table(
                        "data compact",
                        "Per-action overrides",
                        &["Action", "Setting"],
                        html! { @for x in catalog() { (override_row(a, x, live)) } },
                    ))
                }
                @if live {
                    div.actions.save {
                        span.dirty data-dirty hidden { "Unsaved changes" }
                        button.button.primary type="submit" { "Save access" }
                    }
                } @else {
                    p.muted { "This agent is not active; its access can no longer be changed." }
                }
            }
        }
    }
}

/// A number box: blank is no limit. Boxes in a table are labelled by `aria-label`, the
/// others by a `<label for>` on their `id`.
fn number(
    name: &str,
    id: Option<String>,
    label: Option<String>,
    v: Option<u64>,
    live: bool,
) -> Markup {
    html! {
        input id=[id] name=(name) aria-label=[label] inputmode="numeric" pattern="[0-9, _]*"
            value=(v.map(|n| n.to_string()).unwrap_or_default()) placeholder="No limit"
            disabled[!live];
    }
}

fn limits(l: &Limits, usage: &[String], f: &Forms, live: bool) -> Markup {
    let field = |name: &str, label: &str, v: Option<u64>, hint: &str| {
        html! {
            div.field {
                label for={ "l-" (name) } { (label) }
                (number(name, Some(format!("l-{name}")), None, v, live))
                span.hint { (hint) }
            }
        }
    };
    html! {
        section.card #limits aria-labelledby="limits-h" {
            h2 #limits-h { "Limits" }
            p.muted {
                "Leave a box empty for no limit. An action that spends credits needs a credit budget: with none, it is refused."
            }
            @if !usage.is_empty() {
                h3.usage-h { "Use right now" }
                ul.usage { @for u in usage { li { (u) } } }
            }
            form.form-grid.limits method="post" action={ "/agents/" (f.id) "/limits" } {
                (f.csrf)
                input type="hidden" name="drawn" value=(drawn(l));
                (field("per_minute", "Requests a minute", l.per_minute, ""))
                (field("per_hour", "Requests an hour", l.per_hour, ""))
                (field("per_day", "Requests a day", l.per_day, ""))
                (field("credits_per_day", "Credits a day", l.credits_per_day, "Apollo credits"))
                (field("credits_per_month", "Credits a month", l.credits_per_month, "Apollo credits"))
                (field("team_share_percent", "Share of Apollo's rate limit",
                    l.team_share_percent.map(u64::from), "Percent, 1 to 100"))
                (action_limits(l, live))
                div.actions { button.button type="submit" disabled[!live] { "Save limits" } }
            }
        }
    }
}

/// Request limits for single actions: a row per action, three boxes, blank for none.
fn action_limits(l: &Limits, live: bool) -> Markup {
    html! {
        details.action-limits open[!l.actions.is_empty()] {
            summary { "Limits for single actions " span.count { (l.actions.len()) " set" } }
            (table(
                "data compact",
                "Request limits for single actions",
                &["Action", "A minute", "An hour", "A day"],
                html! {
                    @for a in catalog() {
                        @let r = l.actions.get(a.id.as_str()).cloned().unwrap_or_default();
                        tr {
                            th scope="row" { (a.title) }
                            @for (w, label, v) in [
                                ("per_minute", "requests a minute", r.per_minute),
                                ("per_hour", "requests an hour", r.per_hour),
                                ("per_day", "requests a day", r.per_day),
                            ] {
                                @let name = format!("{}.{w}", a.id);
                                @let label = format!("{}: {label}", a.title);
                                td { (number(&name, None, Some(label), v, live)) }
                            }
                        }
                    }
                },
            ))
        }
    }
}

fn rules_card(rules: &[StoredRule], f: &Forms, form: Option<&Fields>) -> Markup {
    let name = form.and_then(|f| f.get("name")).unwrap_or("");
    let cedar = form.and_then(|f| f.get("cedar")).unwrap_or("");
    html! {
        section.card #rules aria-labelledby="rules-h" {
            h2 #rules-h { "Rules" }
            p.muted {
                "Conditions on the arguments, in Cedar, for what the grid cannot say. A "
                code { "forbid" } " refuses the calls it matches, whatever the grid allows."
            }
            @if rules.is_empty() {
                p.muted { "No rules. The grid alone decides." }
            } @else {
                ul.rules {
                    @for r in rules {
                        li.rule {
                            div.rule-head {
                                strong { (r.name) }
                                span.muted.small { "added " (time(r.created_at)) }
                                form method="post"
                                    action={ "/agents/" (f.id) "/rules/" (url(&r.name)) "/remove" }
                                    data-confirm={ "Remove the rule " (r.name) "?" } {
                                    (f.csrf)
                                    button.button.quiet.small type="submit"
                                        aria-label={ "Remove the rule " (r.name) } { "Remove" }
                                }
                            }
                            pre { code { (r.cedar.trim()) } }
                        }
                    }
                }
            }
            details.add-rule open[form.is_some()] {
                summary { "Add a rule" }
                form.stack method="post" action={ "/agents/" (f.id) "/rules" } {
                    (f.csrf)
                    div.field {
                        label for="r-name" { "Name" }
                        input #r-name name="name" required maxlength="64" pattern="[A-Za-z0-9_\\-]+"
                            placeholder="at-most-25-per-page" value=(name);
                        span.hint { "Letters, digits, - and _." }
                    }
                    div.field {
                        label for="r-cedar" { "Cedar policy" }
                        textarea #r-cedar name="cedar" rows="4" required spellcheck="false"
                            placeholder="forbid(principal, action, resource) when { context.per_page > 25 };" {
                            (cedar)
                        }
                    }
                    div.actions { button.button type="submit" { "Add rule" } }
                }
            }
        }
    }
}
