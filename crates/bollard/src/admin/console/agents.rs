//! The agents pages' handlers: the list with the create form, the key shown once, and every
//! change made from an agent's page (grid, limits, details, rules, rotate, revoke). Each
//! change calls the `ops` function the CLI calls; the page itself is drawn in `agent_page.rs`.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use bollard_policy::{Grants, Group, Level, catalog};
use maud::{Markup, html};
use serde::Deserialize;
use time::OffsetDateTime;

use super::agent_page;
use super::html::{
    Notice, Section, csrf_field, date, options, page, pill, respond, table, time, url,
};
use super::{Fields, PageResult, Signed, SignedForm};
use crate::admin::AdminState;
use crate::admin::error::AdminError;
use crate::ops::query as service;
use crate::ops::{self, LimitsPatch, OpsError};
use crate::store::Agent;

const EXPIRIES: [(&str, &str); 5] = [
    ("", "Never"),
    ("7d", "In 7 days"),
    ("30d", "In 30 days"),
    ("90d", "In 90 days"),
    ("365d", "In a year"),
];

/// The details form's expiry: kept as it is unless chosen; "never" removes it; a duration
/// moves it to that long from now (the way back for an expired agent, which the console had
/// none of: found in review).
pub(super) const EXPIRY_CHANGES: [(&str, &str); 6] = [
    ("", "As it is"),
    ("never", "Never"),
    ("7d", "In 7 days from now"),
    ("30d", "In 30 days from now"),
    ("90d", "In 90 days from now"),
    ("365d", "In a year from now"),
];

pub async fn list(State(st): State<AdminState>, s: Signed) -> PageResult {
    render_list(&st, &s, None, StatusCode::OK, &Fields::default()).await
}

async fn render_list(
    st: &AdminState,
    s: &Signed,
    notice: Option<Notice>,
    status: StatusCode,
    form: &Fields,
) -> PageResult {
    let now = st.now();
    let agents = st.store().list_agents().await?;
    let last = st.store().last_reconciliation().await?;
    let body = html! {
        div.page-head {
            div {
                h1 { "Agents" }
                p.lead { "Each agent has its own key and its own access. Nothing is allowed until you grant it." }
            }
        }
        @if let Some(n) = notice { (n) }
        @if agents.is_empty() {
            div.empty {
                p { strong { "No agents yet." } " Create one below; it can do nothing until you grant it access." }
            }
        } @else {
            (table(
                "data",
                "Agents",
                &["Agent", "Status", "Can use", "Credits", "Key", "Created"],
                html! { @for a in &agents { (agent_row(a, now)) } },
            ))
        }
        (apollos_count(last.as_ref()))
        section.card aria-labelledby="new-agent" {
            h2 #new-agent { "New agent" }
            form.form-grid method="post" action="/agents" {
                (csrf_field(&s.csrf))
                div.field {
                    label for="name" { "Name" }
                    input #name name="name" required maxlength="80" placeholder="Sales Agent"
                        value=(form.get("name").unwrap_or(""));
                    span.hint { "How audit sentences will name it." }
                }
                div.field.wide {
                    label for="description" { "What it is for " span.optional { "(optional)" } }
                    input #description name="description"
                        placeholder="Finds prospects and adds them to sequences"
                        value=(form.get("description").unwrap_or(""));
                }
                div.field {
                    label for="expires_in" { "Key expires" }
                    select id="expires_in" name="expires_in" {
                        (options(EXPIRIES, form.get("expires_in").unwrap_or("")))
                    }
                }
                div.actions { button.button.primary type="submit" { "Create agent" } }
            }
        }
    };
    Ok(respond(
        status,
        page("Agents", Section::Agents, Some(&s.csrf), body),
    ))
}

/// The last comparison of Bollard's credit ledger with Apollo's `credit_usage_stats` (#19
/// item 6), made by the server every `[reconciliation] interval_seconds` with a master key.
fn apollos_count(last: Option<&crate::store::prices::Reconciliation>) -> Markup {
    use crate::reconcile::amount;
    html! {
        section.card aria-labelledby="apollo-credits" {
            h2 #apollo-credits { "Credits, as Apollo counts them" }
            @match last {
                Some(r) => {
                    (table(
                        "data",
                        "Bollard's ledger beside Apollo's count",
                        &["Apollo's count", "Bollard's ledger", "Drift", "Compared"],
                        html! { tr {
                            td.nowrap {
                                (amount(r.apollo_milli as f64 / 1000.0))
                                span.sub { "cycle " (r.cycle_start) " to " (r.cycle_end) }
                            }
                            td.nowrap {
                                (amount(r.bollard_milli as f64 / 1000.0))
                                span.sub { "this month" }
                            }
                            td.nowrap {
                                @if r.drift() > 0.0005 { "+" } @else if r.drift() < -0.0005 { "−" }
                                (amount(r.drift().abs()))
                            }
                            td.nowrap { (time(r.at)) }
                        } },
                    ))
                    p.hint { "Bollard " (r.clause()) "." }
                },
                None => p {
                    "No reconciliation has run yet. "
                    span.hint { "With a master key the server compares its ledger with Apollo's credit_usage_stats every [reconciliation] interval_seconds." }
                },
            }
        }
    }
}

/// An agent's row in the list: who, its state, what it may use, its budget and key.
fn agent_row(a: &Agent, now: OffsetDateTime) -> Markup {
    let allowed = catalog().iter().filter(|x| a.grants.allows(x)).count();
    let mut granted: Vec<String> = Group::ALL
        .iter()
        .filter(|g| a.grants.level(**g) != Level::Off)
        .map(|g| format!("{} {}", g.title(), a.grants.level(*g).title()))
        .collect();
    if a.grants.reveal {
        granted.push("Reveal".into());
    }
    if a.grants.waterfall {
        granted.push("Waterfall".into());
    }
    html! {
        tr {
            th scope="row" {
                a href={ "/agents/" (url(&a.id)) } { (a.name) }
                @if !a.description.is_empty() { span.sub { (a.description) } }
            }
            td { (pill(service::agent_status(a, now))) }
            td {
                span.nowrap { span.count { (allowed) } " of " (catalog().len()) " actions" }
                span.sub {
                    @if granted.is_empty() { "Nothing granted" } @else { (granted.join(" · ")) }
                }
            }
            td.nowrap {
                @match a.limits.credits_per_day {
                    Some(c) => { (c) " a day" },
                    None => "No budget",
                }
            }
            td { code { (a.key_prefix) "…" } }
            td.nowrap { (date(a.created_at)) }
        }
    }
}

pub async fn create(State(st): State<AdminState>, f: SignedForm) -> PageResult {
    let now = st.now();
    let fields = &f.fields;
    let made = async {
        let expires = fields
            .text("expires_in")
            .map(ops::parse_duration)
            .transpose()?;
        ops::create_agent(
            st.store(),
            &f.signed.by,
            fields.get("name").unwrap_or(""),
            fields.get("description").unwrap_or(""),
            expires,
            now,
        )
        .await
    }
    .await;
    match made {
        Ok(c) => {
            st.applied().await;
            Ok(key_page(&f.signed, &c.agent, c.key.expose(), true))
        }
        Err(e @ (OpsError::Invalid(_) | OpsError::Conflict(_))) => {
            render_list(
                &st,
                &f.signed,
                Some(Notice::Error(e.to_string())),
                StatusCode::UNPROCESSABLE_ENTITY,
                fields,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// The page that shows a key, the only time it is ever shown.
fn key_page(s: &Signed, a: &Agent, key: &str, new: bool) -> axum::response::Response {
    let (title, lead, next) = if new {
        (
            format!("{} is created", a.name),
            "Copy its key now. It is shown this once: Bollard keeps only its hash.",
            "It can do nothing yet. Choose what it may do next.",
        )
    } else {
        (
            format!("New key for {}", a.name),
            "Copy the new key now. It is shown this once; the old key has stopped working.",
            "Give the new key to the agent in place of the old one.",
        )
    };
    let body = html! {
        section.narrow {
            h1 { (title) }
            div.card.keycard {
                p { strong { (lead) } }
                div.keybox {
                    label.sr-only for="new-key" { "The agent's key" }
                    input #new-key.key readonly value=(key) spellcheck="false";
                    button.button type="button" data-copy="new-key" { "Copy key" }
                }
                p.muted.small {
                    "The agent sends it as Apollo's " code { "X-Api-Key" } " header (or "
                    code { "Authorization: Bearer" }
                    "), to Bollard's agent address instead of api.apollo.io."
                }
            }
            p { (next) }
            p {
                a.button.primary href={ "/agents/" (url(&a.id)) "#access" } { "Set " (a.name) "'s access" }
                " "
                a.button.quiet href="/agents" { "Back to agents" }
            }
        }
    };
    respond(
        StatusCode::OK,
        page(&title, Section::Agents, Some(&s.csrf), body),
    )
}

#[derive(Debug, Deserialize)]
pub struct Done {
    done: Option<String>,
}

pub async fn show(
    State(st): State<AdminState>,
    Path(agent): Path<String>,
    Query(q): Query<Done>,
    s: Signed,
) -> PageResult {
    let a = ops::find_agent(st.store(), &agent).await?;
    let notice = q.done.as_deref().and_then(|d| {
        let text = match d {
            "access" => format!("Access saved. It applies to {}'s next call.", a.name),
            "limits" => format!("Limits saved. They apply to {}'s next call.", a.name),
            "details" => "Saved.".to_owned(),
            "rule-added" => "Rule added. It applies to the next call.".to_owned(),
            "rule-removed" => "Rule removed.".to_owned(),
            "revoked" => format!("{} is revoked; its key no longer works.", a.name),
            _ => return None,
        };
        Some(Notice::Ok(text))
    });
    agent_page::render(&st, &s, &a, notice, StatusCode::OK, None).await
}

/// Re-draws an agent's page with the error of a change that did not apply, keeping what the
/// admin typed where that matters (rules).
async fn failed(
    st: &AdminState,
    s: &Signed,
    agent: &str,
    e: OpsError,
    form: Option<&Fields>,
) -> PageResult {
    match e {
        OpsError::Invalid(_) | OpsError::Conflict(_) => {
            let a = ops::find_agent(st.store(), agent).await?;
            let n = Notice::Error(e.to_string());
            agent_page::render(st, s, &a, Some(n), StatusCode::UNPROCESSABLE_ENTITY, form).await
        }
        other => Err(other.into()),
    }
}

fn back(a: &Agent, done: &str, anchor: &str) -> PageResult {
    Ok(Redirect::to(&format!("/agents/{}?done={done}#{anchor}", url(&a.id))).into_response())
}

/// The grid as the form sends it: `level.<group>`, `reveal`, `waterfall`, `override.<action>`,
/// and for ask first `ask.<group>`, `ask.reveal` and the override value `ask`.
fn grants_from(fields: &Fields) -> Result<Grants, OpsError> {
    let mut ask = std::collections::BTreeSet::new();
    let mut levels = BTreeMap::new();
    for g in Group::ALL {
        let v = fields
            .get(&format!("level.{}", g.as_str()))
            .unwrap_or("off");
        let level: Level = v
            .parse()
            .map_err(|e: bollard_policy::PolicyError| OpsError::Invalid(e.to_string()))?;
        if level != Level::Off {
            levels.insert(g, level);
            if fields.get(&format!("ask.{}", g.as_str())) == Some("on") {
                ask.insert(g.as_str().to_owned());
            }
        }
    }
    let mut overrides = BTreeMap::new();
    for a in catalog() {
        match fields
            .get(&format!("override.{}", a.id))
            .unwrap_or("default")
        {
            "on" => {
                overrides.insert(a.id.to_string(), true);
            }
            "ask" => {
                overrides.insert(a.id.to_string(), true);
                ask.insert(a.id.to_string());
            }
            "off" => {
                overrides.insert(a.id.to_string(), false);
            }
            "default" => {}
            other => {
                return Err(OpsError::Invalid(format!(
                    "'{other}' is not a setting for {}; choose on, ask first, off or the row's level.",
                    a.id
                )));
            }
        }
    }
    let reveal = fields.get("reveal") == Some("on");
    if reveal && fields.get("ask.reveal") == Some("on") {
        ask.insert(bollard_policy::grant::ASK_REVEAL.to_owned());
    }
    let grants = Grants {
        levels,
        reveal,
        waterfall: fields.get("waterfall") == Some("on"),
        overrides,
        ask,
    };
    service::validate_grants(&grants)?;
    Ok(grants)
}

pub async fn save_grants(
    State(st): State<AdminState>,
    Path(agent): Path<String>,
    f: SignedForm,
) -> PageResult {
    let result = async {
        let grants = grants_from(&f.fields)?;
        let a = ops::find_agent(st.store(), &agent).await?;
        unchanged_since_drawn(&f.fields, &a.grants, &a.name, "access")?;
        ops::put_grants(st.store(), &f.signed.by, &a, grants).await
    }
    .await;
    match result {
        Ok(a) => {
            st.applied().await;
            back(&a, "access", "access")
        }
        Err(e) => failed(&st, &f.signed, &agent, e, None).await,
    }
}

/// Refuses a save whose form was drawn from other grants or limits than the agent holds now:
/// the form sends the whole grid (or every limit), so a page left open would quietly undo a
/// change made since in another tab, the command line or the admin API (found in review;
/// the store's compare-and-set only covers the moment between reading and writing). A form
/// posted without the field (not drawn by this console) is taken as the admin API's PUT is.
fn unchanged_since_drawn(
    fields: &Fields,
    now: &impl serde::Serialize,
    agent: &str,
    what: &str,
) -> Result<(), OpsError> {
    match fields.get("drawn") {
        Some(d) if d != agent_page::drawn(now) => Err(OpsError::Conflict(format!(
            "{agent}'s {what} changed after this page was opened (in another tab, on the command line or through the admin API), so this change was not saved. The page now shows what is there: make your change again."
        ))),
        _ => Ok(()),
    }
}

/// A limit field: blank is no limit.
fn limit(fields: &Fields, name: &str, title: &str) -> Result<Option<Option<u64>>, OpsError> {
    match fields.text(name) {
        None => Ok(Some(None)),
        Some(v) => v
            .replace([',', '_', ' '], "")
            .parse::<u64>()
            .map(|n| Some(Some(n)))
            .map_err(|_| {
                OpsError::Invalid(format!(
                    "{title} is a whole number, or blank for no limit; '{v}' is not."
                ))
            }),
    }
}

pub async fn save_limits(
    State(st): State<AdminState>,
    Path(agent): Path<String>,
    f: SignedForm,
) -> PageResult {
    let fl = &f.fields;
    let result = async {
        let share = match limit(fl, "team_share_percent", "The team share")? {
            Some(Some(p)) => Some(Some(u8::try_from(p).map_err(|_| {
                OpsError::Invalid("A team share is a percentage from 1 to 100.".into())
            })?)),
            other => other.map(|_| None),
        };
        let patch = LimitsPatch {
            per_minute: limit(fl, "per_minute", "Requests a minute")?,
            per_hour: limit(fl, "per_hour", "Requests an hour")?,
            per_day: limit(fl, "per_day", "Requests a day")?,
            credits_per_day: limit(fl, "credits_per_day", "Credits a day")?,
            credits_per_month: limit(fl, "credits_per_month", "Credits a month")?,
            team_share_percent: share,
            actions: catalog()
                .iter()
                .map(|a| {
                    let one = |w: &str, label: &str| {
                        limit(
                            fl,
                            &format!("{}.{w}", a.id),
                            &format!("{}: {label}", a.title),
                        )
                    };
                    Ok(ops::ActionLimitsPatch {
                        action: a.id.to_string(),
                        per_minute: one("per_minute", "requests a minute")?,
                        per_hour: one("per_hour", "requests an hour")?,
                        per_day: one("per_day", "requests a day")?,
                    })
                })
                .collect::<Result<Vec<_>, OpsError>>()?,
        };
        let a = ops::find_agent(st.store(), &agent).await?;
        unchanged_since_drawn(fl, &a.limits, &a.name, "limits")?;
        let limits = patch.apply(&a.limits);
        ops::put_limits(st.store(), &f.signed.by, &a, limits).await
    }
    .await;
    match result {
        Ok(a) => {
            st.applied().await;
            back(&a, "limits", "limits")
        }
        Err(e) => failed(&st, &f.signed, &agent, e, None).await,
    }
}

pub async fn save_details(
    State(st): State<AdminState>,
    Path(agent): Path<String>,
    f: SignedForm,
) -> PageResult {
    let now = st.now();
    let result = async {
        let a = ops::find_agent(st.store(), &agent).await?;
        unchanged_since_drawn(&f.fields, &agent_page::details_of(&a), &a.name, "details")?;
        let expires_at = match f.fields.text("expires") {
            None => None,
            Some("never") => Some(None),
            Some(d) => Some(Some(now + ops::parse_duration(d)?)),
        };
        let patch = crate::store::AgentPatch {
            name: f.fields.get("name").map(str::to_owned),
            description: f.fields.get("description").map(|d| d.trim().to_owned()),
            expires_at,
        };
        ops::update_agent(st.store(), &f.signed.by, &agent, patch, now).await
    }
    .await;
    match result {
        Ok(a) => {
            st.applied().await;
            back(&a, "details", "top")
        }
        Err(e) => failed(&st, &f.signed, &agent, e, None).await,
    }
}

pub async fn add_rule(
    State(st): State<AdminState>,
    Path(agent): Path<String>,
    f: SignedForm,
) -> PageResult {
    let name = f.fields.get("name").unwrap_or("");
    let cedar = f.fields.get("cedar").unwrap_or("");
    match ops::add_rule(st.store(), &f.signed.by, &agent, name, cedar).await {
        Ok(_) => {
            st.applied().await;
            let a = ops::find_agent(st.store(), &agent).await?;
            back(&a, "rule-added", "rules")
        }
        Err(e) => failed(&st, &f.signed, &agent, e, Some(&f.fields)).await,
    }
}

pub async fn remove_rule(
    State(st): State<AdminState>,
    Path((agent, name)): Path<(String, String)>,
    f: SignedForm,
) -> PageResult {
    match ops::remove_rule(st.store(), &f.signed.by, &agent, &name).await {
        Ok(()) => {
            st.applied().await;
            let a = ops::find_agent(st.store(), &agent).await?;
            back(&a, "rule-removed", "rules")
        }
        Err(e) => failed(&st, &f.signed, &agent, e, None).await,
    }
}

pub async fn rotate(
    State(st): State<AdminState>,
    Path(agent): Path<String>,
    f: SignedForm,
) -> PageResult {
    match ops::rotate_key(st.store(), &f.signed.by, &agent, st.now()).await {
        Ok(c) => {
            st.applied().await;
            Ok(key_page(&f.signed, &c.agent, c.key.expose(), false))
        }
        Err(e) => failed(&st, &f.signed, &agent, e, None).await,
    }
}

/// The form is taken for its CSRF and origin checks, and for who sent it.
pub async fn revoke(
    State(st): State<AdminState>,
    Path(agent): Path<String>,
    form: SignedForm,
) -> PageResult {
    let a = ops::revoke_agent(st.store(), &form.signed.by, &agent, st.now())
        .await
        .map_err(AdminError::from)?;
    st.applied().await;
    back(&a, "revoked", "top")
}
