//! The admin JSON API's handlers, under `/admin/api/v1/`. Each one reads its input, calls the
//! same `ops` function the CLI calls, applies the change to this process's directory at once
//! (other replicas pick it up within a second), and answers JSON. No policy logic lives here.
//! The routes themselves, with their documentation, are the table in `routes.rs`.

use axum::Json;
use axum::extract::{Extension, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bollard_policy::Grants;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::error::{AdminError, AdminResult};
use super::{AdminState, etag};
use crate::audit::change::Actor;
use crate::audit::verify::verify;
use crate::ops::query::{self as service, AuditQuery, CheckTarget};
use crate::ops::{self, OpsError};
use crate::store::{Agent, AgentPatch, Limits};

/// `Json<T>` whose rejections are sentences in the API's error shape.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = AdminError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        use axum::extract::rejection::JsonRejection;
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(JsonRejection::JsonDataError(e)) => Err(AdminError::Invalid(format!(
                "The request body does not fit this route: {}.",
                detail(&e.body_text())
            ))),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(AdminError::BadRequest(format!(
                "The request body is not valid JSON: {}.",
                detail(&e.body_text())
            ))),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(AdminError::BadRequest(
                "Send the request body as JSON, with Content-Type: application/json.".into(),
            )),
            Err(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                Err(AdminError::TooLarge(super::error::TOO_LARGE.into()))
            }
            Err(e) => Err(AdminError::BadRequest(format!(
                "The request body could not be read: {}.",
                e.body_text()
            ))),
        }
    }
}

/// Drops axum's prefix, keeping serde's own words (which name the field and position).
fn detail(s: &str) -> String {
    let s = s.rsplit_once("target type: ").map_or(s, |(_, d)| d);
    let s = s.rsplit_once("the body as JSON: ").map_or(s, |(_, d)| d);
    s.trim_end_matches('.').to_owned()
}

/// The `{agent}` (and `{name}`) segments, with a JSON error if they cannot be decoded.
#[derive(Debug)]
pub struct Seg<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Seg<T> {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Seg(p.0))
            .map_err(|e| {
                AdminError::BadRequest(format!("The path could not be read: {}.", e.body_text()))
            })
    }
}

/// Query strings, with a JSON error when they do not parse.
#[derive(Debug)]
pub struct Q<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Q<T> {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Q(q.0))
            .map_err(|e| {
                AdminError::Invalid(format!(
                    "The query string does not fit this route: {}.",
                    detail(&e.body_text())
                ))
            })
    }
}

fn to_json(v: &impl serde::Serialize) -> AdminResult<Value> {
    serde_json::to_value(v).map_err(|e| AdminError::internal(&e))
}

/// An agent as the API shows it: the stored agent, its status and, for one agent, the
/// plain-English summary of its access (`ops::access_summary`).
fn agent_view(a: &Agent, now: OffsetDateTime, summary: Option<Vec<String>>) -> AdminResult<Value> {
    let mut v = to_json(a)?;
    if let Value::Object(m) = &mut v {
        m.insert("status".into(), service::agent_status(a, now).into());
        if let Some(lines) = summary {
            m.insert("summary".into(), lines.into());
        }
    }
    Ok(v)
}

pub async fn catalog_doc(State(_): State<AdminState>) -> Json<Value> {
    Json(crate::governed::document())
}

pub async fn list_agents(State(st): State<AdminState>) -> AdminResult<Json<Value>> {
    let now = st.now();
    let agents = st.store().list_agents().await?;
    let agents = agents
        .iter()
        .map(|a| agent_view(a, now, None))
        .collect::<AdminResult<Vec<_>>>()?;
    Ok(Json(json!({"agents": agents})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAgentBody {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// A duration like 30d.
    pub expires_in: Option<String>,
}

pub async fn create_agent(
    State(st): State<AdminState>,
    Extension(by): Extension<Actor>,
    Body(b): Body<NewAgentBody>,
) -> AdminResult<Response> {
    let now = st.now();
    let expires = b
        .expires_in
        .as_deref()
        .map(ops::parse_duration)
        .transpose()?;
    let created = ops::create_agent(st.store(), &by, &b.name, &b.description, expires, now).await?;
    st.applied().await;
    let body = json!({"agent": agent_view(&created.agent, now, Some(created.agent.grants.summary(&created.agent.name)))?, "key": created.key.expose()});
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

pub async fn get_agent(
    State(st): State<AdminState>,
    Seg(agent): Seg<String>,
) -> AdminResult<Json<Value>> {
    let a = ops::find_agent(st.store(), &agent).await?;
    let rules = st.store().list_rules(&a.id).await?;
    let mut v = agent_view(&a, st.now(), Some(ops::access_summary(&a, &rules)))?;
    if let Value::Object(m) = &mut v {
        m.insert("rules".into(), to_json(&rules)?);
    }
    Ok(Json(v))
}

/// `Some(None)` for an explicit `null`, so PATCH can remove an expiry.
fn nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchAgentBody {
    pub name: Option<String>,
    pub description: Option<String>,
    /// An RFC 3339 time, or null to remove the expiry.
    #[serde(default, deserialize_with = "nullable")]
    pub expires_at: Option<Option<String>>,
    /// A duration from now, like 30d; instead of `expires_at`.
    pub expires_in: Option<String>,
}

pub async fn patch_agent(
    State(st): State<AdminState>,
    Extension(by): Extension<Actor>,
    Seg(agent): Seg<String>,
    Body(b): Body<PatchAgentBody>,
) -> AdminResult<Json<Value>> {
    let now = st.now();
    let expires_at = match (b.expires_at, b.expires_in) {
        (Some(_), Some(_)) => {
            return Err(AdminError::Invalid(
                "Give expires_at or expires_in, not both.".into(),
            ));
        }
        (None, Some(d)) => Some(Some(now + ops::parse_duration(&d)?)),
        (Some(None), None) => Some(None),
        (Some(Some(t)), None) => Some(Some(OffsetDateTime::parse(&t, &Rfc3339).map_err(|_| {
            AdminError::Invalid(format!(
                "expires_at '{t}' is not a time like 2026-11-27T09:00:00Z (or null to remove it)."
            ))
        })?)),
        (None, None) => None,
    };
    if b.name.is_none() && b.description.is_none() && expires_at.is_none() {
        return Err(AdminError::Invalid(
            "Say what to change: name, description, expires_at or expires_in.".into(),
        ));
    }
    let patch = AgentPatch {
        name: b.name,
        description: b.description.map(|d| d.trim().to_owned()),
        expires_at,
    };
    let a = ops::update_agent(st.store(), &by, &agent, patch, now).await?;
    st.applied().await;
    let summary = ops::agent_summary(st.store(), &a).await?;
    Ok(Json(agent_view(&a, now, Some(summary))?))
}

pub async fn revoke_agent(
    State(st): State<AdminState>,
    Extension(by): Extension<Actor>,
    Seg(agent): Seg<String>,
) -> AdminResult<Json<Value>> {
    let now = st.now();
    let a = ops::revoke_agent(st.store(), &by, &agent, now).await?;
    st.applied().await;
    Ok(Json(agent_view(&a, now, None)?))
}

/// A whole-grid value with its version as the `ETag` (see `etag`).
type Versioned<T> = ([(HeaderName, HeaderValue); 1], Json<T>);

fn versioned<T: serde::Serialize>(v: T) -> Versioned<T> {
    ([(header::ETAG, etag::etag(&v))], Json(v))
}

pub async fn get_grants(
    State(st): State<AdminState>,
    Seg(agent): Seg<String>,
) -> AdminResult<Versioned<Grants>> {
    Ok(versioned(ops::find_agent(st.store(), &agent).await?.grants))
}

const GRANT_FIELDS: [&str; 5] = ["levels", "reveal", "waterfall", "overrides", "ask"];

/// Replaces the grants (the Grants JSON), or applies CLI words (`{"set": ["people=read"]}`).
/// With `If-Match`, the change is made only to the grants of that version: the agent is read
/// once, checked, and the store's compare-and-set refuses it should another change land
/// between (so `set` words are then applied to that reading, not read again).
pub async fn put_grants(
    State(st): State<AdminState>,
    Extension(by): Extension<Actor>,
    Seg(agent): Seg<String>,
    headers: HeaderMap,
    Body(b): Body<Value>,
) -> AdminResult<Versioned<Grants>> {
    let Value::Object(m) = b else {
        return Err(AdminError::Invalid(
            "Send the grants as an object: {\"levels\": {\"people\": \"read\"}, \"reveal\": false, \"waterfall\": false, \"overrides\": {}} or {\"set\": [\"people=read\"]}.".into(),
        ));
    };
    let a = if let Some(set) = m.get("set") {
        if m.len() > 1 {
            return Err(AdminError::Invalid(
                "Send either \"set\" or the grants themselves, not both.".into(),
            ));
        }
        let words: Option<Vec<String>> = set
            .as_array()
            .and_then(|v| v.iter().map(|w| w.as_str().map(str::to_owned)).collect());
        let words = words.ok_or_else(|| {
            AdminError::Invalid(
                "\"set\" is a list of words like [\"people=read\", \"reveal=off\"].".into(),
            )
        })?;
        if etag::names_a_version(&headers) {
            let agent = ops::find_agent(st.store(), &agent).await?;
            etag::if_match(&headers, &agent.grants, &agent.name, "access")?;
            let grants = ops::apply_grant_words(&agent.grants, &words)?;
            let put = ops::put_grants(st.store(), &by, &agent, grants).await;
            etag::or_changed(&headers, put, &agent.name, "access")?
        } else {
            ops::grant(st.store(), &by, &agent, &words).await?
        }
    } else {
        if let Some(k) = m.keys().find(|k| !GRANT_FIELDS.contains(&k.as_str())) {
            return Err(AdminError::Invalid(format!(
                "'{k}' is not part of an agent's grants; they have levels, reveal, waterfall, overrides and ask."
            )));
        }
        let grants: Grants = serde_json::from_value(Value::Object(m))
            .map_err(|e| AdminError::Invalid(format!("The grants do not fit: {e}.")))?;
        let agent = ops::find_agent(st.store(), &agent).await?;
        etag::if_match(&headers, &agent.grants, &agent.name, "access")?;
        let put = ops::put_grants(st.store(), &by, &agent, grants).await;
        etag::or_changed(&headers, put, &agent.name, "access")?
    };
    st.applied().await;
    Ok(versioned(a.grants))
}

pub async fn rotate_key(
    State(st): State<AdminState>,
    Extension(by): Extension<Actor>,
    Seg(agent): Seg<String>,
) -> AdminResult<Response> {
    let c = ops::rotate_key(st.store(), &by, &agent, st.now()).await?;
    st.applied().await;
    let body = json!({"agent": agent_view(&c.agent, st.now(), None)?, "key": c.key.expose()});
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

pub async fn list_rules(
    State(st): State<AdminState>,
    Seg(agent): Seg<String>,
) -> AdminResult<Json<Value>> {
    let rules = ops::list_rules(st.store(), &agent).await?;
    Ok(Json(json!({"rules": rules})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRuleBody {
    pub name: String,
    pub cedar: String,
}

pub async fn add_rule(
    State(st): State<AdminState>,
    Extension(by): Extension<Actor>,
    Seg(agent): Seg<String>,
    Body(b): Body<NewRuleBody>,
) -> AdminResult<Response> {
    let r = ops::add_rule(st.store(), &by, &agent, &b.name, &b.cedar).await?;
    st.applied().await;
    Ok((StatusCode::CREATED, Json(r)).into_response())
}

pub async fn remove_rule(
    State(st): State<AdminState>,
    Extension(by): Extension<Actor>,
    Seg((agent, name)): Seg<(String, String)>,
) -> AdminResult<StatusCode> {
    ops::remove_rule(st.store(), &by, &agent, &name).await?;
    st.applied().await;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn get_limits(
    State(st): State<AdminState>,
    Seg(agent): Seg<String>,
) -> AdminResult<Versioned<Limits>> {
    Ok(versioned(ops::find_agent(st.store(), &agent).await?.limits))
}

pub async fn get_usage(
    State(st): State<AdminState>,
    Seg(agent): Seg<String>,
) -> AdminResult<Json<Value>> {
    let a = ops::find_agent(st.store(), &agent).await?;
    let now = st.now();
    let usage = ops::agent_usage(st.store(), &a, now).await?;
    let mut v = serde_json::to_value(&usage).unwrap_or_default();
    if let Value::Object(m) = &mut v {
        m.insert("lines".into(), serde_json::json!(usage.lines(now)));
    }
    Ok(Json(v))
}

pub async fn put_limits(
    State(st): State<AdminState>,
    Extension(by): Extension<Actor>,
    Seg(agent): Seg<String>,
    headers: HeaderMap,
    Body(limits): Body<Limits>,
) -> AdminResult<Versioned<Limits>> {
    let a = ops::find_agent(st.store(), &agent).await?;
    etag::if_match(&headers, &a.limits, &a.name, "limits")?;
    let put = ops::put_limits(st.store(), &by, &a, limits).await;
    let a = etag::or_changed(&headers, put, &a.name, "limits")?;
    st.applied().await;
    Ok(versioned(a.limits))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckBody {
    pub agent: String,
    pub method: Option<String>,
    pub path: Option<String>,
    /// Instead of method and path: an action id, and the record id for actions on one record.
    pub action: Option<String>,
    pub record_id: Option<String>,
    /// The JSON body the agent would send: an object, or the same as a string.
    #[serde(default)]
    pub body: Value,
}

pub async fn check(
    State(st): State<AdminState>,
    Body(b): Body<CheckBody>,
) -> AdminResult<Json<Value>> {
    let live = service::live_agent(st.store(), &b.agent).await?;
    let (method, path) = service::check_route(&CheckTarget {
        method: b.method,
        path: b.path,
        action: b.action,
        record_id: b.record_id,
    })?;
    let body = match &b.body {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    };
    let report = st.gate.check(&live, &method, &path, body.as_deref()).await;
    let mut v = to_json(&report)?;
    if let Value::Object(m) = &mut v {
        m.insert("agent".into(), live.agent.name.clone().into());
        m.insert("method".into(), method.into());
        m.insert("path".into(), path.into());
    }
    Ok(Json(v))
}

pub async fn audit(State(st): State<AdminState>, Q(q): Q<AuditQuery>) -> AdminResult<Json<Value>> {
    let filter = service::audit_filter(st.store(), &q, st.now()).await?;
    let (lines, next) = ops::audit_lines(st.store(), &filter).await?;
    let next = next.filter(|_| lines.len() >= filter.limit as usize);
    Ok(Json(
        json!({"calls": lines, "next_cursor": next.map(|c| c.to_string())}),
    ))
}

pub async fn audit_verify(State(st): State<AdminState>) -> AdminResult<Json<Value>> {
    let report = verify(st.store()).await.map_err(OpsError::from)?;
    let mut v = to_json(&report)?;
    if let Value::Object(m) = &mut v {
        m.insert("sentence".into(), report.sentence().into());
    }
    Ok(Json(v))
}
