//! The console's ask-first page: the calls waiting for a person's approval, each with its
//! sentence, why it asks, its arguments as the audit log stores them (personal data hashed),
//! the credits it can spend, who asked and whether the webhook reached anyone; approve or
//! deny with a note (a form with the session's CSRF token, like every other). An approver may
//! ask to see the personal data in clear (reveal on request, recorded before it is shown).
//! Recently decided requests are listed below.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use maud::{Markup, html};
use serde::Deserialize;

use super::html::{Notice, Section, csrf_field, page, respond, url};
use super::{PageResult, Signed, SignedForm};
use crate::admin::AdminState;
use crate::approval::utc_time;
use crate::ops::{self, OpsError};
use crate::store::approvals::{Approval, ApprovalState};

#[derive(Debug, Default, Deserialize)]
pub struct Done {
    done: Option<String>,
}

pub async fn list(State(st): State<AdminState>, s: Signed, Query(q): Query<Done>) -> PageResult {
    let notice = match q.done.as_deref() {
        Some("approved") => Some(Notice::Ok(
            "Approved: the agent's next identical call runs once.".into(),
        )),
        Some("denied") => Some(Notice::Ok(
            "Denied: the agent's identical call is refused, with your note.".into(),
        )),
        _ => None,
    };
    render(&st, &s, notice, StatusCode::OK, None).await
}

/// Personal data an approver asked to see, shown with its request (and nowhere else).
struct Revealed {
    id: String,
    arguments: serde_json::Value,
}

async fn render(
    st: &AdminState,
    s: &Signed,
    notice: Option<Notice>,
    status: StatusCode,
    revealed: Option<Revealed>,
) -> PageResult {
    let now = st.now();
    ops::approvals::expire_due(st.store(), now).await;
    let pending = ops::approvals::list(st.store(), Some("pending"), 200).await?;
    let recent: Vec<Approval> = ops::approvals::list(st.store(), None, 50)
        .await?
        .into_iter()
        .filter(|a| a.state != ApprovalState::Pending)
        .take(20)
        .collect();
    let body = html! {
        div.page-head {
            div {
                h1 { "Approvals" }
                p.lead { "Calls that wait for a person. Approve one and the agent's next identical call runs, once; deny it and that call is refused with your note." }
            }
        }
        @if let Some(n) = notice { (n) }
        @if pending.is_empty() {
            div.empty { p { "Nothing waits for approval." } }
        }
        @for a in &pending {
            (request(a, &s.csrf, now, revealed.as_ref().filter(|r| r.id == a.id).map(|r| &r.arguments)))
        }
        @if !recent.is_empty() {
            section.card aria-labelledby="recent-h" {
                h2 #recent-h { "Recently decided" }
                ul {
                    @for a in &recent {
                        li { code { (a.id) } " " (a.agent_name) ": " (a.sentence) " — " (state_words(a, now)) }
                    }
                }
            }
        }
    };
    Ok(respond(
        status,
        page("Approvals", Section::Approvals, Some(&s.csrf), body),
    )
    .into_response())
}

fn state_words(a: &Approval, now: time::OffsetDateTime) -> String {
    let by = a.decided_by.as_deref().unwrap_or("?");
    match a.state {
        ApprovalState::Pending => format!("waits until {}", utc_time(a.expires_at, now)),
        ApprovalState::Approved => format!("approved by {by}, not used yet"),
        ApprovalState::Denied => format!("denied by {by}"),
        ApprovalState::Used => format!(
            "approved by {by}, used by the call {}",
            a.used_by.as_deref().unwrap_or("?")
        ),
        ApprovalState::Expired => format!("expired at {}", utc_time(a.expires_at, now)),
    }
}

fn request(
    a: &Approval,
    csrf: &str,
    now: time::OffsetDateTime,
    revealed: Option<&serde_json::Value>,
) -> Markup {
    let args = serde_json::to_string_pretty(&a.arguments).unwrap_or_default();
    html! {
        section.card.stack id=(a.id) aria-label=(format!("Request {}", a.id)) {
            h2 { (a.agent_name) " asks to " (a.sentence) }
            p { "Why it asks: " (a.why) "." }
            p.muted {
                "Request " code { (a.id) } " from the call " code { (a.request_id) } " over " (a.channel.to_uppercase())
                "; it expires at " (utc_time(a.expires_at, now)) "."
            }
            @if a.max_credits > 0 {
                p { strong { "It can spend up to " (a.max_credits) " Apollo credits." } }
            }
            @match a.notify_state.as_str() {
                "failed" => p.muted { "The notification failed after " (a.notify_attempts) " attempts: " (a.notify_error.as_deref().unwrap_or("unknown error")) "." },
                "pending" => p.muted { "The notification is being sent." },
                _ => {},
            }
            @if let Some(clear) = revealed {
                details.revealed open {
                    summary { "Arguments, personal data revealed (your reveal is on the record)" }
                    pre.code { (serde_json::to_string_pretty(clear).unwrap_or_default()) }
                }
            } @else {
                details open {
                    summary { "Arguments (personal data hashed, as the audit log keeps them)" }
                    pre.code { (args) }
                }
                @if a.sealed_arguments.is_some() {
                    form method="post" action=(format!("/approvals/{}/reveal", url(&a.id))) {
                        (csrf_field(csrf))
                        button.button type="submit" { "Reveal personal data" }
                        " " span.muted { "Shows the emails, phone numbers and names in clear; the reveal is recorded with your name." }
                    }
                }
            }
            form.stack method="post" action=(format!("/approvals/{}", url(&a.id))) {
                (csrf_field(csrf))
                div.field {
                    label for=(format!("note-{}", a.id)) { "Note " span.optional { "(optional; the agent reads it if you deny)" } }
                    input id=(format!("note-{}", a.id)) name="note" maxlength="500";
                }
                div.actions {
                    button.button.primary type="submit" name="decision" value="approve" { "Approve" }
                    button.button.danger type="submit" name="decision" value="deny" { "Deny" }
                }
            }
        }
    }
}

pub async fn decide(
    State(st): State<AdminState>,
    Path(id): Path<String>,
    f: SignedForm,
) -> PageResult {
    let approve = match f.fields.get("decision") {
        Some("approve") => true,
        Some("deny") => false,
        _ => {
            let n = Notice::Error("Choose Approve or Deny.".into());
            return render(
                &st,
                &f.signed,
                Some(n),
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
            )
            .await;
        }
    };
    let done = ops::approvals::decide(
        st.store(),
        &f.signed.by,
        &id,
        approve,
        f.fields.text("note"),
        st.now(),
    )
    .await;
    match done {
        Ok(_) => Ok(Redirect::to(if approve {
            "/approvals?done=approved"
        } else {
            "/approvals?done=denied"
        })
        .into_response()),
        Err(e) => {
            let (notice, status) = refused(e)?;
            render(&st, &f.signed, Some(notice), status, None).await
        }
    }
}

/// Reveal on request: the page again, with this request's arguments in clear. The reveal is
/// recorded (with the approver's name) before anything is shown.
pub async fn reveal(
    State(st): State<AdminState>,
    Path(id): Path<String>,
    f: SignedForm,
) -> PageResult {
    let Some(sealer) = st.gate.pii().sealer() else {
        let n = Notice::Error("The installation secret cannot key the seal.".into());
        return render(
            &st,
            &f.signed,
            Some(n),
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
        )
        .await;
    };
    match ops::approvals::reveal(st.store(), &f.signed.by, &id, &sealer, st.now()).await {
        Ok((a, arguments)) => {
            let n = Notice::Ok(format!(
                "The personal data of {} is shown below; your reveal is on the record.",
                a.id
            ));
            let revealed = Revealed {
                id: a.id,
                arguments,
            };
            render(&st, &f.signed, Some(n), StatusCode::OK, Some(revealed)).await
        }
        Err(e) => {
            let (notice, status) = refused(e)?;
            render(&st, &f.signed, Some(notice), status, None).await
        }
    }
}

/// What the page says when an approver's act is refused (decided already, expired, unknown):
/// the page again with the sentence; a store failure is the console's error page.
fn refused(e: OpsError) -> Result<(Notice, StatusCode), OpsError> {
    let status = match e {
        OpsError::NotFound(_) => StatusCode::NOT_FOUND,
        OpsError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        OpsError::Conflict(_) => StatusCode::CONFLICT,
        OpsError::Store(_) => return Err(e),
    };
    Ok((Notice::Error(e.to_string()), status))
}
