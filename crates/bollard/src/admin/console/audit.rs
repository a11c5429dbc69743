//! The audit log page (newest first, one sentence a line, filters, live updates through a
//! small JSON feed the script polls, and the chain's verification status) and the dry run.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use bollard_policy::{Group, catalog};
use serde::Deserialize;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

use super::html::{Notice, Section, csrf_field, esc, options, page, pill, respond, time, url};
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

fn agent_options(agents: &[crate::store::Agent], any: &str) -> Vec<(String, String)> {
    let mut v = vec![(String::new(), any.to_owned())];
    v.extend(agents.iter().map(|a| (a.id.clone(), a.name.clone())));
    v
}

fn action_options(current: &str, any: Option<&str>) -> String {
    let mut out = any.map_or_else(String::new, |a| {
        format!("<option value=\"\">{}</option>", esc(a))
    });
    for g in Group::ALL {
        let opts: Vec<(String, String)> = g
            .actions()
            .map(|a| (a.id.to_string(), format!("{} ({})", a.title, a.id)))
            .collect();
        out.push_str(&format!(
            "<optgroup label=\"{}\">{}</optgroup>",
            esc(g.title()),
            options(&opts, current)
        ));
    }
    out
}

fn line_html(l: &AuditLine) -> String {
    let tail = if l.outcome_missing {
        " <span class=\"muted\">(no outcome recorded)</span>"
    } else {
        ""
    };
    format!(
        "<li class=\"line line-{}\" data-seq=\"{}\" data-request=\"{}\"><div class=\"line-meta\">{}{}</div><p class=\"sentence\">{}{tail}</p></li>",
        esc(&l.record.decision),
        l.seq,
        esc(&l.record.request_id),
        pill(&l.record.decision),
        time(l.record.at),
        esc(&l.record.sentence)
    )
}

fn query_string(q: &AuditQuery) -> String {
    [
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
    let items: String = lines.iter().map(line_html).collect();
    let older = next
        .map(|c| {
            let sep = if filtered.is_empty() { "" } else { "&" };
            format!("<p class=\"more\"><a class=\"button quiet\" href=\"/audit?{filtered}{sep}cursor={c}\">Older calls</a></p>")
        })
        .unwrap_or_default();
    let live = if paging {
        "<p class=\"live paused\">Showing older calls. <a href=\"/audit\">Back to the newest</a></p>".to_owned()
    } else {
        "<p class=\"live\" data-live-status><span class=\"dot\" aria-hidden=\"true\"></span>Live: new calls appear here as they happen.</p>".to_owned()
    };
    let empty = if lines.is_empty() {
        if filtered.is_empty() {
            "<div class=\"empty\" data-empty><p><strong>No calls recorded yet.</strong> Every call an agent makes, allowed or denied, appears here.</p></div>"
        } else {
            "<div class=\"empty\" data-empty><p><strong>No calls match these filters.</strong></p></div>"
        }
    } else {
        ""
    };
    let decisions: Vec<(String, String)> = [
        ("", "Allowed or denied"),
        ("allowed", "Allowed"),
        ("denied", "Denied"),
    ]
    .iter()
    .map(|(v, l)| ((*v).to_owned(), (*l).to_owned()))
    .collect();
    let since: Vec<(String, String)> = SINCE
        .iter()
        .map(|(v, l)| ((*v).to_owned(), (*l).to_owned()))
        .collect();
    let chain = format!(
        "<div class=\"chain {}\" data-verify role=\"status\"><span class=\"chain-icon\" aria-hidden=\"true\">{}</span><p>{}</p></div>",
        if report.ok { "ok" } else { "broken" },
        if report.ok { "✓" } else { "!" },
        esc(&report.sentence())
    );
    let body = format!(
        "<div class=\"page-head\"><div><h1>Audit log</h1><p class=\"lead\">Every call, allowed or denied, newest first, as a sentence. Records are chained by hash, so an edit cannot go unnoticed.</p></div></div>
{chain}
{}
<form method=\"get\" action=\"/audit\" class=\"filters\" role=\"search\" aria-label=\"Filter the audit log\">
<div class=\"field\"><label for=\"f-agent\">Agent</label><select id=\"f-agent\" name=\"agent\">{}</select></div>
<div class=\"field\"><label for=\"f-action\">Action</label><select id=\"f-action\" name=\"action\">{}</select></div>
<div class=\"field\"><label for=\"f-decision\">Decision</label><select id=\"f-decision\" name=\"decision\">{}</select></div>
<div class=\"field\"><label for=\"f-since\">Time</label><select id=\"f-since\" name=\"since\">{}</select></div>
<div class=\"actions\"><button type=\"submit\" class=\"button\">Filter</button>{}</div>
</form>
{live}
{empty}
<ol class=\"audit\" id=\"audit-list\" aria-label=\"Calls, newest first\" aria-live=\"polite\" data-feed=\"{}\">{items}</ol>
{older}",
        notice.map(|n| n.html()).unwrap_or_default(),
        options(&agent_options(&agents, "All agents"), q.agent.as_deref().unwrap_or("")),
        action_options(q.action.as_deref().unwrap_or(""), Some("All actions")),
        options(&decisions, q.decision.as_deref().unwrap_or("")),
        options(&since, q.since.as_deref().unwrap_or("")),
        if filtered.is_empty() { "" } else { " <a class=\"button quiet\" href=\"/audit\">Clear</a>" },
        if paging { String::new() } else { esc(&format!("/audit/feed?{filtered}")) },
    );
    Ok(respond(
        StatusCode::OK,
        page("Audit log", Section::Audit, Some(&s.csrf), &body),
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
    query.limit = Some("100".into());
    query.cursor = None;
    let f = service::audit_filter(st.store(), &query, st.now()).await?;
    let (lines, _) = ops::audit_lines(st.store(), &f).await?;
    let after: i64 = q.after.as_deref().and_then(|a| a.parse().ok()).unwrap_or(0);
    let calls: Vec<Value> = lines
        .iter()
        .filter(|l| l.seq > after)
        .map(|l| {
            json!({"seq": l.seq, "request_id": l.record.request_id, "decision": l.record.decision,
                   "at": l.record.at.format(&Rfc3339).unwrap_or_default(), "sentence": l.record.sentence,
                   "outcome_missing": l.outcome_missing})
        })
        .collect();
    Ok(Json(json!({"calls": calls})))
}

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
        action: "people.search",
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
        Ok((st.gate.check(&live, &method, &path, body), method, path))
    }
    .await;
    let outcome = match result {
        Ok((report, method, path)) => {
            let allowed = report.decision == "allowed";
            let rules = if report.rule_ids.is_empty() {
                String::new()
            } else {
                format!(
                    "<div><dt>Decided by</dt><dd><code>{}</code></dd></div>",
                    esc(&report.rule_ids.join(", "))
                )
            };
            format!(
                "<section class=\"card result {}\" aria-labelledby=\"result-h\" id=\"result\" tabindex=\"-1\">
<h2 id=\"result-h\">{} {}</h2>
<p class=\"sentence big\">{}</p>
<dl class=\"facts\"><div><dt>Why</dt><dd>{}</dd></div>{rules}<div><dt>Could spend</dt><dd>{}</dd></div><div><dt>The agent would get</dt><dd>HTTP {}</dd></div><div><dt>Call</dt><dd><code>{} {}</code></dd></div></dl>
<p class=\"muted small\">A dry run: nothing was counted, recorded or sent to Apollo.</p>
</section>",
                if allowed { "allowed" } else { "denied" },
                pill(report.decision),
                if allowed { "It would be allowed" } else { "It would be refused" },
                esc(&report.sentence),
                esc(&report.reason),
                match (allowed, report.max_credits) {
                    (false, _) => "Nothing: it would be refused before any credit is spent.".to_owned(),
                    (true, 0) => "No credits.".to_owned(),
                    (true, 1) => "Up to 1 credit.".to_owned(),
                    (true, n) => format!("Up to {n} credits."),
                },
                report.status,
                esc(&method),
                esc(&path)
            )
        }
        Err(e @ (ops::OpsError::Invalid(_) | ops::OpsError::NotFound(_))) => {
            Notice::Error(e.to_string()).html()
        }
        Err(e) => return Err(e.into()),
    };
    check_render(&st, &f.signed, &form, Some(outcome)).await
}

async fn check_render(
    st: &AdminState,
    s: &Signed,
    form: &CheckForm<'_>,
    outcome: Option<String>,
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
    let body = format!(
        "<div class=\"page-head\"><div><h1>Dry run</h1><p class=\"lead\">Would this call be allowed, why, and what could it cost? The same checks as a real call; nothing is sent to Apollo.</p></div></div>
<div class=\"check-layout\">
<form method=\"post\" action=\"/check\" class=\"card stack\" aria-label=\"Call to check\">
{}
<div class=\"field\"><label for=\"c-agent\">Agent</label><select id=\"c-agent\" name=\"agent\" required>{}</select></div>
<div class=\"field\"><label for=\"c-action\">Action</label><select id=\"c-action\" name=\"action\" required>{}</select></div>
<div class=\"field\"><label for=\"c-record\">Record id <span class=\"optional\">(only for actions on one record)</span></label><input id=\"c-record\" name=\"record_id\" value=\"{}\" spellcheck=\"false\"><span class=\"hint\">Needed by {}.</span></div>
<div class=\"field\"><label for=\"c-body\">Arguments (JSON)</label><textarea id=\"c-body\" name=\"body\" rows=\"8\" spellcheck=\"false\" class=\"code\">{}</textarea><span class=\"hint\">As the agent would send them, e.g. <code>{{\"reveal_phone_number\": true}}</code>.</span></div>
<div class=\"actions\"><button type=\"submit\" class=\"button primary\">Check</button></div>
</form>
<div class=\"check-out\">{}</div>
</div>",
        csrf_field(&s.csrf),
        options(&agent_options(&agents, "Choose an agent"), selected),
        action_options(form.action, None),
        esc(form.record_id),
        esc(&with_id.join(", ")),
        esc(form.body),
        outcome.unwrap_or_else(|| "<div class=\"empty\"><p>Pick an agent and an action, then <strong>Check</strong>.</p></div>".to_owned())
    );
    Ok(respond(
        StatusCode::OK,
        page("Dry run", Section::Check, Some(&s.csrf), &body),
    )
    .into_response())
}
