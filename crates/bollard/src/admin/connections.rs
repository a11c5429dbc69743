//! The admin API's OAuth routes (issue 13): an agent's connections (list, end one) and the
//! clients Bollard has seen (list, approve in advance, block). The same `oauth::ops` the CLI
//! and the console use.

use axum::Json;
use axum::extract::{Extension, State};
use serde_json::{Value, json};

use super::AdminState;
use super::api::Seg;
use super::error::AdminResult;
use crate::audit::change::Actor;
use crate::oauth::ops as oops;

pub async fn list(
    State(st): State<AdminState>,
    Seg(agent): Seg<String>,
) -> AdminResult<Json<Value>> {
    let (_, list) = oops::connections(st.store(), &agent).await?;
    Ok(Json(json!({"connections": list})))
}

pub async fn disconnect(
    State(st): State<AdminState>,
    Extension(by): Extension<Actor>,
    Seg((agent, connection)): Seg<(String, String)>,
) -> AdminResult<Json<Value>> {
    let c = oops::disconnect(st.store(), &by, &agent, &connection, st.now()).await?;
    st.applied().await;
    Ok(Json(json!(c)))
}

pub async fn clients(State(st): State<AdminState>) -> AdminResult<Json<Value>> {
    Ok(Json(json!({"clients": oops::clients(st.store()).await?})))
}

pub async fn approve(
    State(st): State<AdminState>,
    Extension(by): Extension<Actor>,
    Seg(client): Seg<String>,
) -> AdminResult<Json<Value>> {
    let c = oops::set_client_status(st.store(), &by, &client, "approved", st.now()).await?;
    st.applied().await;
    Ok(Json(json!(c)))
}

pub async fn block(
    State(st): State<AdminState>,
    Extension(by): Extension<Actor>,
    Seg(client): Seg<String>,
) -> AdminResult<Json<Value>> {
    let c = oops::set_client_status(st.store(), &by, &client, "blocked", st.now()).await?;
    st.applied().await;
    Ok(Json(json!(c)))
}
