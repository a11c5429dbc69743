//! The consent page of OAuth (issue 13): a person who signed in (admin key) or who holds a
//! connect link chooses which agent a hosted assistant will act as, reads what that agent can
//! do and what it costs, and approves or denies. The request itself arrives as a ticket the
//! agent listener's `/oauth/authorize` checked and signed.
//!
//! The page's CSP adds the client's redirect origin to `form-action`: browsers apply
//! `form-action` to the redirect that follows a form's POST, and the approval ends with one.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::html::{Notice, Section, csrf_field, page, respond};
use super::{Fields, PageError, PageResult, signed};
use crate::admin::AdminState;
use crate::admin::auth;
use crate::admin::error::AdminError;
use crate::oauth::ops as oops;
use crate::oauth::{OAuth, Ticket, secret_hash};
use crate::ops;
use crate::store::Agent;
use crate::store::oauth::ConnectLink;

/// The connect link's cookie: `SameSite=Lax`, because the consent page is reached by a
/// redirect from the assistant's site, and a `Strict` cookie would not come along.
const LINK_COOKIE: &str = "bollard_connect";

fn oauth(st: &AdminState) -> Result<&OAuth, PageError> {
    st.gate.oauth().ok_or_else(|| {
        PageError(AdminError::NotFound(
            "Connecting hosted assistants is off: set public_url in the configuration.".into(),
        ))
    })
}

#[derive(Debug, Deserialize)]
pub struct ConnectQuery {
    ticket: Option<String>,
    agent: Option<String>,
}

/// Who is approving: a signed-in admin, or the holder of a connect link.
enum Approver {
    Admin(super::Signed),
    Link { token: String, link: ConnectLink },
}

async fn approver(st: &AdminState, headers: &HeaderMap) -> Result<Option<Approver>, PageError> {
    if let Some((s, _)) = signed(st, headers).await? {
        return Ok(Some(Approver::Admin(s)));
    }
    let Some(token) = auth::cookie(headers, LINK_COOKIE).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let link = st
        .store()
        .oauth()
        .peek_link(&secret_hash(token), st.now())
        .await?;
    Ok(link.map(|link| Approver::Link {
        token: token.to_owned(),
        link,
    }))
}

/// `form-action` for a page whose form ends in a redirect to the client.
fn with_csp(mut r: Response, redirect_uri: &str) -> Response {
    let origin = url::Url::parse(redirect_uri)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self' {origin}; frame-ancestors 'none'; base-uri 'none'"
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    r
}

fn expired_ticket() -> PageError {
    PageError(AdminError::BadRequest(
        "This sign-in request has expired or was changed. Start connecting the assistant again from the assistant.".into(),
    ))
}

/// What the agent can do and what it may spend, as the agent's page says it.
async fn agent_card(st: &AdminState, a: &Agent) -> Result<Markup, PageError> {
    let summary = ops::agent_summary(st.store(), a).await?;
    let usage = ops::agent_usage(st.store(), a, st.now())
        .await?
        .lines(st.now());
    let budget = match (a.limits.credits_per_day, a.limits.credits_per_month) {
        (None, None) => {
            "No credit budget: every action that spends Apollo credits is refused.".to_owned()
        }
        (Some(d), None) => format!("It may spend at most {d} Apollo credits a day."),
        (None, Some(m)) => format!("It may spend at most {m} Apollo credits a month."),
        (Some(d), Some(m)) => {
            format!("It may spend at most {d} Apollo credits a day and {m} a month.")
        }
    };
    Ok(html! {
        section.card aria-labelledby="can" {
            h2 #can { "What " (a.name) " can do" }
            ul { @for line in &summary { li { (line) } } }
            h3 { "What it costs" }
            p { (budget) }
            @if !usage.is_empty() {
                ul.muted { @for line in &usage { li { (line) } } }
            }
        }
    })
}

pub async fn page_get(
    State(st): State<AdminState>,
    headers: HeaderMap,
    Query(q): Query<ConnectQuery>,
) -> PageResult {
    let o = oauth(&st)?;
    let Some(sealed) = q.ticket.as_deref() else {
        return Err(expired_ticket());
    };
    let ticket = o.open_ticket(sealed).ok_or_else(expired_ticket)?;
    let Some(who) = approver(&st, &headers).await? else {
        let next = format!("/connect?ticket={sealed}");
        return Ok(
            Redirect::to(&format!("/sign-in?next={}", super::html::url(&next))).into_response(),
        );
    };
    let agents: Vec<Agent> = st
        .store()
        .list_agents()
        .await?
        .into_iter()
        .filter(|a| crate::gate::standing(a, st.now()).is_ok())
        .collect();
    let (chosen, csrf, nav_csrf) = match &who {
        Approver::Admin(s) => {
            let chosen = q
                .agent
                .as_deref()
                .and_then(|id| agents.iter().find(|a| a.id == id))
                .or(agents.first())
                .cloned();
            (chosen, s.csrf.clone(), Some(s.csrf.clone()))
        }
        Approver::Link { token, link } => (
            agents.iter().find(|a| a.id == link.agent_id).cloned(),
            o.link_csrf(token),
            None,
        ),
    };
    let client = st.store().oauth().client(&ticket.client_id).await?;
    let approved = client.as_ref().is_some_and(|c| c.status == "approved");
    let back_to = url::Url::parse(&ticket.redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    let card = match &chosen {
        Some(a) => Some(agent_card(&st, a).await?),
        None => None,
    };
    let body = html! {
        section.narrow {
            h1 { "Connect " (ticket.client_name) }
            p.lead {
                (ticket.client_name) " asks to use Apollo through Bollard. It will act as the agent chosen here, "
                "with that agent's access and budget, until someone disconnects it. Every call it makes is recorded."
            }
            @if approved {
                (Notice::Ok("An admin approved this client in advance.".into()))
            } @else {
                (Notice::Error("No admin has approved this client in advance. Approve only if you started connecting it yourself, just now.".into()))
            }
            p.muted.small { "Client: " code { (ticket.client_id) } ". After you answer, your browser returns to " strong { (back_to) } "." }
            @if let Approver::Admin(_) = &who {
                form.card.stack method="get" action="/connect" {
                    input type="hidden" name="ticket" value=(sealed);
                    label for="agent" { "Act as agent" }
                    select #agent name="agent" {
                        @for a in &agents {
                            option value=(a.id) selected[chosen.as_ref().is_some_and(|c| c.id == a.id)] { (a.name) }
                        }
                    }
                    button.button type="submit" { "Show what it can do" }
                }
            }
            @match &chosen {
                Some(a) => {
                    @if let Some(card) = &card { (card) }
                    form.card.stack method="post" action="/connect" {
                        (csrf_field(&csrf))
                        input type="hidden" name="ticket" value=(sealed);
                        input type="hidden" name="agent" value=(a.id);
                        label for="name" { "Name of this connection" }
                        input #name name="name" type="text" maxlength="100" value=(ticket.client_name);
                        div.actions {
                            button.button.primary type="submit" name="decision" value="approve" { "Connect as " (a.name) }
                            button.button.quiet type="submit" name="decision" value="deny" { "Deny" }
                        }
                    }
                }
                None => {
                    (Notice::Error("There is no agent to connect as. An admin must create one first (bollard agent create).".into()))
                }
            }
        }
    };
    let r = respond(
        StatusCode::OK,
        page(
            "Connect an assistant",
            Section::None,
            nav_csrf.as_deref(),
            body,
        ),
    );
    Ok(with_csp(r, &ticket.redirect_uri))
}

pub async fn page_post(
    State(st): State<AdminState>,
    headers: HeaderMap,
    axum::Form(f): axum::Form<Vec<(String, String)>>,
) -> PageResult {
    let o = oauth(&st)?;
    let fields = Fields(f);
    let forbidden = || {
        PageError(AdminError::Forbidden(
            "This form was not sent from this console, or its page is too old. Start connecting the assistant again.".into(),
        ))
    };
    if !auth::same_origin(&headers) {
        return Err(forbidden());
    }
    let ticket: Ticket = fields
        .get("ticket")
        .and_then(|t| o.open_ticket(t))
        .ok_or_else(expired_ticket)?;
    let who = approver(&st, &headers).await?.ok_or_else(forbidden)?;
    let csrf_ok = match &who {
        Approver::Admin(s) => auth::tokens_match(fields.get("csrf").unwrap_or(""), &s.csrf),
        Approver::Link { token, .. } => {
            auth::tokens_match(fields.get("csrf").unwrap_or(""), &o.link_csrf(token))
        }
    };
    if !csrf_ok {
        return Err(forbidden());
    }
    if fields.get("decision") != Some("approve") {
        // OAuth 2.1 section 4.1.2.1: the person said no.
        let to = oops::redirect(
            o,
            &ticket,
            &[
                ("error", "access_denied"),
                (
                    "error_description",
                    "The person signing in denied the request.",
                ),
            ],
        );
        return Ok(with_csp(
            Redirect::to(&to).into_response(),
            &ticket.redirect_uri,
        ));
    }
    let (by, agent_id) = match who {
        Approver::Admin(s) => (s.by, fields.text("agent").unwrap_or("").to_owned()),
        Approver::Link { token, .. } => {
            // Used now, once: of two approvals with the same link only one goes through.
            let link = st
                .store()
                .oauth()
                .take_link(&secret_hash(&token), st.now())
                .await?
                .ok_or_else(|| {
                    PageError(AdminError::Forbidden(
                        "This connect link was used already or has expired. Ask your admin for a new one.".into(),
                    ))
                })?;
            (oops::link_actor(&link), link.agent_id)
        }
    };
    let agent = ops::find_agent(st.store(), &agent_id).await?;
    let to = oops::approve(
        o,
        st.store(),
        &by,
        &ticket,
        &agent,
        fields.text("name").unwrap_or(""),
        st.now(),
    )
    .await?;
    Ok(with_csp(
        Redirect::to(&to).into_response(),
        &ticket.redirect_uri,
    ))
}

/// A connect link, opened: remembered in this browser, with the steps to follow.
pub async fn link(State(st): State<AdminState>, Path(token): Path<String>) -> PageResult {
    let o = oauth(&st)?;
    let Some(link) = st
        .store()
        .oauth()
        .peek_link(&secret_hash(&token), st.now())
        .await?
    else {
        return Err(PageError(AdminError::NotFound(
            "This connect link was used already or has expired. Ask your admin for a new one."
                .into(),
        )));
    };
    let agent = ops::find_agent(st.store(), &link.agent_id).await?;
    let card = agent_card(&st, &agent).await?;
    let mcp = format!("{}/mcp", o.issuer());
    let body = html! {
        section.narrow {
            h1 { "Connect an assistant as " (agent.name) }
            p.lead { (link.created_by) " made this link for you. It works once." }
            ol {
                li { "In your assistant, add a remote MCP server (a custom connector) with this address: " code { (mcp) } }
                li { "When the assistant opens a Bollard page in this browser, check it and choose Connect." }
            }
            (card)
        }
    };
    let secs = (link.expires_at - st.now()).whole_seconds().max(0);
    let mut r = respond(
        StatusCode::OK,
        page("Connect an assistant", Section::None, None, body),
    );
    let cookie =
        format!("{LINK_COOKIE}={token}; Path=/connect; HttpOnly; SameSite=Lax; Max-Age={secs}");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(r)
}

/// The agent page's card of connected assistants, each with a button that ends it.
pub async fn card(st: &AdminState, a: &Agent, csrf: &str) -> Result<Markup, PageError> {
    let live: Vec<_> = st
        .store()
        .oauth()
        .list_connections(Some(&a.id))
        .await?
        .into_iter()
        .filter(|c| c.revoked_at.is_none())
        .collect();
    if live.is_empty() && st.gate.oauth().is_none() {
        return Ok(html! {});
    }
    let id = super::html::url(&a.id);
    Ok(html! {
        section.card aria-labelledby="connections" {
            h2 #connections { "Connected assistants" }
            @if live.is_empty() {
                p.muted { "None. A hosted assistant connects by OAuth; " code { "bollard connect-link" } " makes a link for the person who will connect it." }
            } @else {
                ul {
                    @for c in &live {
                        li {
                            strong { (c.name) } " · approved by " (c.approved_by) " · " (super::html::date(c.created_at))
                            form method="post" action={ "/agents/" (id) "/connections/" (super::html::url(&c.id)) "/disconnect" } {
                                (csrf_field(csrf))
                                button.button.quiet.small type="submit" { "Disconnect" }
                            }
                        }
                    }
                }
            }
        }
    })
}

/// Ends one connection from the agent page.
pub async fn disconnect(
    State(st): State<AdminState>,
    Path((agent, connection)): Path<(String, String)>,
    form: super::SignedForm,
) -> PageResult {
    let c = oops::disconnect(st.store(), &form.signed.by, &agent, &connection, st.now()).await?;
    if let Some(o) = st.gate.oauth() {
        o.applied().await;
    }
    Ok(Redirect::to(&format!(
        "/agents/{}#connections",
        super::html::url(&c.agent_id)
    ))
    .into_response())
}
