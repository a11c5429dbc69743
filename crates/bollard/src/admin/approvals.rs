//! The admin API's ask-first routes: list requests, approve or deny one. The same `ops`
//! functions as `bollard approvals` and the console; the approver is the admin key's name.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AdminState;
use super::api::{Q, Seg};
use super::error::{AdminError, AdminResult};
use crate::audit::change::Actor;
use crate::ops;
use crate::store::approvals::Approval;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// pending (the default), approved, denied, used, expired or all.
    state: Option<String>,
    limit: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    note: Option<String>,
}

fn view(a: &Approval, console_url: Option<&str>) -> AdminResult<Value> {
    let mut v = serde_json::to_value(a).map_err(|e| AdminError::fault(&e))?;
    if let Value::Object(m) = &mut v {
        m.insert(
            "url".into(),
            crate::approval::notify::Notifier::link(console_url, &a.id).into(),
        );
        m.insert(
            "revealable".into(),
            Value::Bool(a.sealed_arguments.is_some()),
        );
    }
    Ok(v)
}

pub async fn list(State(st): State<AdminState>, Q(q): Q<ListQuery>) -> AdminResult<Json<Value>> {
    let now = st.now();
    ops::approvals::expire_due(st.store(), now).await;
    let state = q.state.as_deref().unwrap_or("pending");
    let filter = (!state.eq_ignore_ascii_case("all")).then_some(state);
    let list = ops::approvals::list(st.store(), filter, q.limit.unwrap_or(100)).await?;
    let console = st.gate.settings().approvals.console_url.clone();
    let items = list
        .iter()
        .map(|a| view(a, console.as_deref()))
        .collect::<AdminResult<Vec<Value>>>()?;
    Ok(Json(json!({ "approvals": items })))
}

async fn decide(
    st: AdminState,
    by: Actor,
    id: String,
    body: Result<Bytes, BytesRejection>,
    approve: bool,
) -> AdminResult<Json<Value>> {
    let body = body?;
    let note = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        // As every other route answers: 400 for what is not JSON, 422 for JSON that does not
        // fit (found in review: both were 422 here).
        serde_json::from_slice::<DecisionBody>(&body)
            .map_err(|e| {
                let said = format!("Send {{\"note\": \"...\"}} or nothing at all: {e}.");
                if e.is_data() {
                    AdminError::Invalid(said)
                } else {
                    AdminError::BadRequest(said)
                }
            })?
            .note
    };
    let a =
        ops::approvals::decide(st.store(), &by, &id, approve, note.as_deref(), st.now()).await?;
    let console = st.gate.settings().approvals.console_url.clone();
    Ok(Json(view(&a, console.as_deref())?))
}

pub async fn approve(
    State(st): State<AdminState>,
    Extension(by): Extension<Actor>,
    Seg(id): Seg<String>,
    body: Result<Bytes, BytesRejection>,
) -> AdminResult<Json<Value>> {
    decide(st, by, id, body, true).await
}

pub async fn deny(
    State(st): State<AdminState>,
    Extension(by): Extension<Actor>,
    Seg(id): Seg<String>,
    body: Result<Bytes, BytesRejection>,
) -> AdminResult<Json<Value>> {
    decide(st, by, id, body, false).await
}

/// Reveal on request: the arguments with personal data in clear, recorded in the audit chain
/// under the admin key's name before they are shown. A POST, because it is an act on the record.
pub async fn reveal(
    State(st): State<AdminState>,
    Extension(by): Extension<Actor>,
    Seg(id): Seg<String>,
) -> AdminResult<Json<Value>> {
    let sealer = st.gate.pii().sealer().ok_or_else(|| {
        AdminError::fault(&"the installation secret cannot key the seal for approvals")
    })?;
    let (a, clear) = ops::approvals::reveal(st.store(), &by, &id, &sealer, st.now()).await?;
    let console = st.gate.settings().approvals.console_url.clone();
    let mut v = view(&a, console.as_deref())?;
    v["arguments_revealed"] = clear;
    Ok(Json(v))
}
