//! One agent's page: who it is, what it can and cannot do in plain English, the access grid
//! (a row per capability group: Off / Read / Write / Full use), the reveal and waterfall
//! switches, per-action overrides, limits, rules and its latest calls.

use axum::http::StatusCode;
use bollard_policy::grant::{REVEAL_TITLE, WATERFALL_TITLE};
use bollard_policy::{Group, Kind, Level, catalog};

use super::html::{Notice, Section, csrf_field, esc, page, pill, respond, time, url};
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
    let state = service::agent_status(a, st.now());
    let live = state == "active";
    let id = url(&a.id);
    let csrf = csrf_field(&s.csrf);
    let mut body = header(a, state, &id, &csrf);
    body.push_str(&notice.map(|n| n.html()).unwrap_or_default());
    body.push_str("<div class=\"agent-layout\"><div class=\"main-col\">");
    body.push_str(&grid(a, &id, &csrf, live));
    let usage = ops::agent_usage(st.store(), a, st.now())
        .await?
        .lines(st.now());
    body.push_str(&limits(&a.limits, &usage, &id, &csrf, live));
    body.push_str(&rules_card(&rules, &id, &csrf, rule_form));
    body.push_str("</div><aside class=\"side-col\">");
    body.push_str(&summary(a, &rules));
    let calls: String = recent
        .iter()
        .map(|l| {
            format!(
                "<li>{} {}<p>{}</p></li>",
                pill(&l.record.decision),
                time(l.record.at),
                esc(&l.record.sentence)
            )
        })
        .collect();
    body.push_str(&format!(
        "<section class=\"card\" aria-labelledby=\"recent\"><h2 id=\"recent\">Latest calls</h2>{}<p><a href=\"/audit?agent={id}\">All of {}'s calls</a> · <a href=\"/check?agent={id}\">Try a dry run</a></p></section>",
        if calls.is_empty() {
            "<p class=\"muted\">No calls yet.</p>".to_owned()
        } else {
            format!("<ol class=\"mini-audit\">{calls}</ol>")
        },
        esc(&a.name)
    ));
    body.push_str("</aside></div>");
    Ok(respond(
        status,
        page(&a.name, Section::Agents, Some(&s.csrf), &body),
    ))
}

fn header(a: &Agent, state: &str, id: &str, csrf: &str) -> String {
    let expires = match a.expires_at {
        Some(e) => format!("<div><dt>Key expires</dt><dd>{}</dd></div>", time(e)),
        None => "<div><dt>Key expires</dt><dd>Never</dd></div>".to_owned(),
    };
    let revoked = a
        .revoked_at
        .map(|r| format!("<div><dt>Revoked</dt><dd>{}</dd></div>", time(r)))
        .unwrap_or_default();
    let actions = if a.revoked_at.is_some() {
        String::new()
    } else {
        format!(
            "<div class=\"head-actions\">
<form method=\"post\" action=\"/agents/{id}/rotate\" data-confirm=\"Give {n} a new key? The current key stops working at once.\">{csrf}<button type=\"submit\" class=\"button\">Rotate key</button></form>
<form method=\"post\" action=\"/agents/{id}/revoke\" data-confirm=\"Revoke {n}? Its key stops working at once. This cannot be undone.\">{csrf}<button type=\"submit\" class=\"button danger\">Revoke</button></form>
</div>",
            n = esc(&a.name)
        )
    };
    format!(
        "<p class=\"crumbs\"><a href=\"/agents\">Agents</a> <span aria-hidden=\"true\">/</span></p>
<div class=\"page-head\" id=\"top\"><div><h1>{} {}</h1>{}</div>{actions}</div>
<dl class=\"meta\"><div><dt>Id</dt><dd><code>{}</code></dd></div><div><dt>Key</dt><dd><code>{}…</code></dd></div><div><dt>Created</dt><dd>{}</dd></div>{expires}{revoked}</dl>
<details class=\"edit\"><summary>Edit name and description</summary>
<form method=\"post\" action=\"/agents/{id}/details\" class=\"form-grid\">{csrf}
<div class=\"field\"><label for=\"d-name\">Name</label><input id=\"d-name\" name=\"name\" required maxlength=\"80\" value=\"{}\"></div>
<div class=\"field wide\"><label for=\"d-description\">What it is for</label><input id=\"d-description\" name=\"description\" value=\"{}\"></div>
<div class=\"actions\"><button type=\"submit\" class=\"button\">Save</button></div>
</form></details>",
        esc(&a.name),
        pill(state),
        if a.description.is_empty() {
            String::new()
        } else {
            format!("<p class=\"lead\">{}</p>", esc(&a.description))
        },
        esc(&a.id),
        esc(&a.key_prefix),
        time(a.created_at),
        esc(&a.name),
        esc(&a.description),
    )
}

/// What the agent can and cannot do, in the words of `Grants::summary`, plus its budget.
fn summary(a: &Agent, rules: &[StoredRule]) -> String {
    let lines = a.grants.summary(&a.name);
    let (first, rest) = lines
        .split_first()
        .map_or(("", &[][..]), |(f, r)| (f.as_str(), r));
    let items: String = rest
        .iter()
        .map(|l| {
            let (title, text) = l.split_once(": ").unwrap_or(("", l));
            let off = text.starts_with("no access") || text.starts_with("may not");
            format!(
                "<li class=\"{}\"><strong>{}</strong> {}</li>",
                if off { "no" } else { "yes" },
                esc(title),
                esc(text)
            )
        })
        .collect();
    let budget = match (a.limits.credits_per_day, a.limits.credits_per_month) {
        (None, None) => "No credit budget: actions that spend credits are refused.".to_owned(),
        (Some(d), None) => format!("May spend up to {d} credits a day."),
        (None, Some(m)) => format!("May spend up to {m} credits a month."),
        (Some(d), Some(m)) => format!("May spend up to {d} credits a day and {m} a month."),
    };
    let rules_line = match rules.len() {
        0 => String::new(),
        n => format!(
            "<p class=\"small\">{n} rule{} can refuse calls the grid allows.</p>",
            if n == 1 { "" } else { "s" }
        ),
    };
    format!(
        "<section class=\"card summary\" aria-labelledby=\"can\"><h2 id=\"can\">What {} can do</h2><p class=\"big\">{}</p><ul class=\"can-list\">{items}</ul><p class=\"small\">{}</p>{rules_line}</section>",
        esc(&a.name),
        esc(first),
        esc(&budget)
    )
}

fn radio(group: Group, level: Level, current: Level, enabled: bool) -> String {
    let name = format!("level.{}", group.as_str());
    let checked = if level == current { " checked" } else { "" };
    let disabled = if enabled { "" } else { " disabled" };
    format!(
        "<td class=\"cell cell-{}\"><label><input type=\"radio\" name=\"{name}\" value=\"{}\" aria-label=\"{}: {}\"{checked}{disabled}><span class=\"cell-mark\" aria-hidden=\"true\"></span></label></td>",
        level.as_str(),
        level.as_str(),
        esc(group.title()),
        level.title()
    )
}

fn grid(a: &Agent, id: &str, csrf: &str, live: bool) -> String {
    let rows: String = Group::ALL
        .iter()
        .map(|g| {
            let current = a.grants.level(*g);
            let acts: Vec<String> = g
                .actions()
                .map(|x| {
                    let mut tags = vec![x.kind.as_str()];
                    if x.spends_credits {
                        tags.push("credits");
                    }
                    let on = if a.grants.allows(x) { "on" } else { "off" };
                    format!(
                        "<li class=\"act act-{on}\"><span class=\"sr-only\">{}: </span>{} <span class=\"tag\">{}</span></li>",
                        if on == "on" { "allowed" } else { "not allowed" },
                        esc(x.title),
                        tags.join(" · ")
                    )
                })
                .collect();
            let write = if g.has_writes() {
                radio(*g, Level::Write, current, live)
            } else {
                "<td class=\"cell na\"><span aria-hidden=\"true\">—</span><span class=\"sr-only\">No write actions</span></td>".to_owned()
            };
            format!(
                "<tr><th scope=\"row\"><span class=\"cap\">{}</span><ul class=\"acts\">{}</ul></th>{}{}{}{}</tr>",
                esc(g.title()),
                acts.join(""),
                radio(*g, Level::Off, current, live),
                radio(*g, Level::Read, current, live),
                write,
                radio(*g, Level::Full, current, live)
            )
        })
        .collect();
    let switch = |name: &str, title: &str, on: bool, about: &str| {
        format!(
            "<div class=\"switch\"><input type=\"checkbox\" role=\"switch\" id=\"sw-{name}\" name=\"{name}\" value=\"on\"{}{}><label for=\"sw-{name}\"><strong>{title}</strong><span>{about}</span></label></div>",
            if on { " checked" } else { "" },
            if live { "" } else { " disabled" }
        )
    };
    let overrides: String = catalog()
        .iter()
        .map(|x| {
            let set = a.grants.overrides.get(x.id).copied();
            let by_row = a.grants.level(x.group).allows(x.kind);
            let opt = |v: &str, label: String, sel: bool| {
                format!("<option value=\"{v}\"{}>{}</option>", if sel { " selected" } else { "" }, esc(&label))
            };
            format!(
                "<tr><th scope=\"row\"><label for=\"ov-{id}\">{}</label><span class=\"sub\"><code>{id}</code> · {} · {}</span></th><td><select id=\"ov-{id}\" name=\"override.{id}\"{}>{}{}{}</select></td></tr>",
                esc(x.title),
                esc(x.group.title()),
                if x.kind == Kind::Write { "write" } else { "read" },
                if live { "" } else { " disabled" },
                opt("default", format!("As the row says ({})", if by_row { "allowed" } else { "not allowed" }), set.is_none()),
                opt("on", "Always allowed".into(), set == Some(true)),
                opt("off", "Never allowed".into(), set == Some(false)),
                id = esc(x.id),
            )
        })
        .collect();
    let n_over = a.grants.overrides.len();
    let save = if live {
        "<div class=\"actions save\"><span class=\"dirty\" data-dirty hidden>Unsaved changes</span><button type=\"submit\" class=\"button primary\">Save access</button></div>"
    } else {
        "<p class=\"muted\">This agent is not active; its access can no longer be changed.</p>"
    };
    format!(
        "<section class=\"card\" id=\"access\" aria-labelledby=\"access-h\">
<h2 id=\"access-h\">Access</h2>
<p class=\"muted\">Choose what {name} may do in each part of Apollo. <strong>Read</strong> allows searches and lookups, <strong>Write</strong> allows creating and changing records, <strong>Full use</strong> allows both. Off refuses everything in the row.</p>
<form method=\"post\" action=\"/agents/{id}/grants\" data-track>
{csrf}
<div class=\"table-wrap\"><table class=\"grid\"><caption class=\"sr-only\">Access for {name}, one row per capability</caption>
<thead><tr><th scope=\"col\">Capability</th><th scope=\"col\">Off</th><th scope=\"col\">Read</th><th scope=\"col\">Write</th><th scope=\"col\">Full use</th></tr></thead>
<tbody>{rows}</tbody></table></div>
<h3>Sensitive</h3>
<div class=\"switches\">{}{}</div>
<details class=\"overrides\"{}><summary>Per-action overrides <span class=\"count\">{n_over} set</span></summary>
<p class=\"muted small\">Switch one action on or off against its row, for example People on Read but bulk enrichment never.</p>
<div class=\"table-wrap\"><table class=\"data compact\"><caption class=\"sr-only\">Per-action overrides</caption><thead><tr><th scope=\"col\">Action</th><th scope=\"col\">Setting</th></tr></thead><tbody>{overrides}</tbody></table></div>
</details>
{save}
</form>
</section>",
        switch(
            "reveal",
            REVEAL_TITLE,
            a.grants.reveal,
            "Personal emails and phone numbers. Costs extra credits and carries privacy weight; when off they are also removed from answers."
        ),
        switch(
            "waterfall",
            WATERFALL_TITLE,
            a.grants.waterfall,
            "Third-party waterfall enrichment, which costs extra credits. It delivers emails and phone numbers, so it also needs Reveal."
        ),
        if n_over > 0 { " open" } else { "" },
        name = esc(&a.name),
    )
}

fn limits(l: &Limits, usage: &[String], id: &str, csrf: &str, live: bool) -> String {
    let field = |name: &str, label: &str, v: Option<u64>, hint: &str| {
        format!(
            "<div class=\"field\"><label for=\"l-{name}\">{label}</label><input id=\"l-{name}\" name=\"{name}\" inputmode=\"numeric\" pattern=\"[0-9, _]*\" value=\"{}\" placeholder=\"No limit\"{}><span class=\"hint\">{hint}</span></div>",
            v.map(|n| n.to_string()).unwrap_or_default(),
            if live { "" } else { " disabled" }
        )
    };
    let share = l.team_share_percent.map(u64::from);
    format!(
        "<section class=\"card\" id=\"limits\" aria-labelledby=\"limits-h\">
<h2 id=\"limits-h\">Limits</h2>
<p class=\"muted\">Leave a box empty for no limit. An action that spends credits needs a credit budget: with none, it is refused.</p>
{}
<form method=\"post\" action=\"/agents/{id}/limits\" class=\"form-grid limits\">{csrf}
{}{}{}{}{}{}
{}
<div class=\"actions\"><button type=\"submit\" class=\"button\"{}>Save limits</button></div>
</form></section>",
        if usage.is_empty() {
            String::new()
        } else {
            format!(
                "<h3 class=\"usage-h\">Use right now</h3><ul class=\"usage\">{}</ul>",
                usage.iter().map(|u| format!("<li>{}</li>", esc(u))).collect::<String>()
            )
        },
        field("per_minute", "Requests a minute", l.per_minute, ""),
        field("per_hour", "Requests an hour", l.per_hour, ""),
        field("per_day", "Requests a day", l.per_day, ""),
        field("credits_per_day", "Credits a day", l.credits_per_day, "Apollo credits"),
        field("credits_per_month", "Credits a month", l.credits_per_month, "Apollo credits"),
        field("team_share_percent", "Share of Apollo's rate limit", share, "Percent, 1 to 100"),
        action_limits(l, live),
        if live { "" } else { " disabled" }
    )
}

/// Request limits for single actions: a row per action, three boxes, blank for none.
fn action_limits(l: &Limits, live: bool) -> String {
    let disabled = if live { "" } else { " disabled" };
    let rows: String = catalog()
        .iter()
        .map(|a| {
            let r = l.actions.get(a.id).cloned().unwrap_or_default();
            let cell = |w: &str, label: &str, v: Option<u64>| {
                format!(
                    "<td><input name=\"{id}.{w}\" aria-label=\"{title}: {label}\" inputmode=\"numeric\" pattern=\"[0-9, _]*\" value=\"{}\" placeholder=\"No limit\"{disabled}></td>",
                    v.map(|n| n.to_string()).unwrap_or_default(),
                    id = a.id,
                    title = esc(a.title),
                )
            };
            format!(
                "<tr><th scope=\"row\">{}</th>{}{}{}</tr>",
                esc(a.title),
                cell("per_minute", "requests a minute", r.per_minute),
                cell("per_hour", "requests an hour", r.per_hour),
                cell("per_day", "requests a day", r.per_day)
            )
        })
        .collect();
    format!(
        "<details class=\"action-limits\"{}><summary>Limits for single actions <span class=\"count\">{} set</span></summary>
<div class=\"table-wrap\"><table class=\"data compact\"><caption class=\"sr-only\">Request limits for single actions</caption><thead><tr><th scope=\"col\">Action</th><th scope=\"col\">A minute</th><th scope=\"col\">An hour</th><th scope=\"col\">A day</th></tr></thead><tbody>{rows}</tbody></table></div></details>",
        if l.actions.is_empty() { "" } else { " open" },
        l.actions.len()
    )
}

fn rules_card(rules: &[StoredRule], id: &str, csrf: &str, form: Option<&Fields>) -> String {
    let list: String = rules
        .iter()
        .map(|r| {
            format!(
                "<li class=\"rule\"><div class=\"rule-head\"><strong>{}</strong><span class=\"muted small\">added {}</span><form method=\"post\" action=\"/agents/{id}/rules/{}/remove\" data-confirm=\"Remove the rule {}?\">{csrf}<button type=\"submit\" class=\"button quiet small\" aria-label=\"Remove the rule {}\">Remove</button></form></div><pre><code>{}</code></pre></li>",
                esc(&r.name),
                time(r.created_at),
                url(&r.name),
                esc(&r.name),
                esc(&r.name),
                esc(r.cedar.trim())
            )
        })
        .collect();
    let list = if list.is_empty() {
        "<p class=\"muted\">No rules. The grid alone decides.</p>".to_owned()
    } else {
        format!("<ul class=\"rules\">{list}</ul>")
    };
    let name = form.and_then(|f| f.get("name")).unwrap_or("");
    let cedar = form.and_then(|f| f.get("cedar")).unwrap_or("");
    format!(
        "<section class=\"card\" id=\"rules\" aria-labelledby=\"rules-h\">
<h2 id=\"rules-h\">Rules</h2>
<p class=\"muted\">Conditions on the arguments, in Cedar, for what the grid cannot say. A <code>forbid</code> refuses the calls it matches, whatever the grid allows.</p>
{list}
<details class=\"add-rule\"{}><summary>Add a rule</summary>
<form method=\"post\" action=\"/agents/{id}/rules\" class=\"stack\">{csrf}
<div class=\"field\"><label for=\"r-name\">Name</label><input id=\"r-name\" name=\"name\" required maxlength=\"64\" pattern=\"[A-Za-z0-9_\\-]+\" placeholder=\"at-most-25-per-page\" value=\"{}\"><span class=\"hint\">Letters, digits, - and _.</span></div>
<div class=\"field\"><label for=\"r-cedar\">Cedar policy</label><textarea id=\"r-cedar\" name=\"cedar\" rows=\"4\" required spellcheck=\"false\" placeholder=\"forbid(principal, action, resource) when {{ context.per_page > 25 }};\">{}</textarea></div>
<div class=\"actions\"><button type=\"submit\" class=\"button\">Add rule</button></div>
</form></details>
</section>",
        if form.is_some() { " open" } else { "" },
        esc(name),
        esc(cedar)
    )
}
