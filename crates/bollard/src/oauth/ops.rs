//! OAuth's operations, once for every face (agent-listener endpoints, console, admin API,
//! CLI), each with its entry on the record: authorization, the first token, refresh, reuse
//! detection, revocation, disconnection, connect links and client approval or blocking.
//! The entries are `admin` entries of the one chain (`audit::change`), written before the
//! change where there is a change to make.

use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

use super::{OAuth, Ticket};
use crate::audit::change::{Actor, Draft};
use crate::ops::{OpsError, OpsResult};
use crate::store::oauth::{ConnectLink, Connection, NewCode, OAuthClient};
use crate::store::{Agent, Store};

/// Bollard itself, for what it does on its own (reuse detection).
pub fn bollard_actor() -> Actor {
    Actor {
        name: "Bollard".into(),
        admin_key_id: None,
        channel: "oauth",
    }
}

/// An assistant acting through its connection (refresh, revoking its own tokens).
pub fn assistant_actor(connection_name: &str) -> Actor {
    Actor {
        name: format!("the assistant '{}'", clip(connection_name)),
        admin_key_id: None,
        channel: "oauth",
    }
}

/// Someone who opened a connect link rather than signing in.
pub fn link_actor(link: &ConnectLink) -> Actor {
    Actor {
        name: format!(
            "someone with a connect link from {}",
            clip(&link.created_by)
        ),
        admin_key_id: None,
        channel: "console",
    }
}

/// A name someone else chose or typed, as it may stand in a sentence: without the characters
/// `ops::hidden` names (control, zero-width, direction-changing; found in review: only control
/// characters were taken out), at most 100 characters.
fn clip(s: &str) -> String {
    s.chars()
        .filter(|c| !crate::ops::hidden(*c))
        .take(100)
        .collect()
}

pub fn connection_state(c: &Connection) -> Value {
    json!({
        "id": c.id,
        "agent_id": c.agent_id,
        "client_id": c.client_id,
        "name": c.name,
        "revoked_at": c.revoked_at.map(|t| t.unix_timestamp()),
        "revoked_reason": c.revoked_reason,
    })
}

fn client_state(c: &OAuthClient) -> Value {
    json!({"client_id": c.client_id, "name": c.name, "status": c.status, "source": c.source})
}

/// Commits one entry.
pub async fn record(
    store: &dyn Store,
    by: &Actor,
    agent: Option<(&str, &str)>,
    what: &'static str,
    clause: String,
    (before, after): (Value, Value),
) -> OpsResult<()> {
    let draft = Draft {
        by,
        at: OffsetDateTime::now_utc(),
        agent,
        what,
        clauses: vec![clause],
        before,
        after,
    };
    store
        .append_audit(&[draft.into_record().to_entry()])
        .await?;
    Ok(())
}

/// A person approved: an authorization code for the client, on the record first. Returns the
/// address to send the browser back to.
pub async fn approve(
    oauth: &OAuth,
    store: &dyn Store,
    by: &Actor,
    ticket: &Ticket,
    agent: &Agent,
    name: &str,
    now: OffsetDateTime,
) -> OpsResult<String> {
    if agent.revoked_at.is_some() {
        return Err(OpsError::Invalid(format!(
            "{} is revoked; choose another agent.",
            agent.name
        )));
    }
    // As a connect link is refused for one (found in review: this page connected it, and
    // the assistant learnt otherwise only from a 401).
    crate::ops::expired_refuses(agent, now, "a connection")?;
    let name = clip(name.trim());
    let name = if name.is_empty() {
        clip(&ticket.client_name)
    } else {
        name
    };
    let code = super::new_secret(super::CODE_PREFIX);
    let now = oauth.now();
    record(
        store,
        by,
        Some((&agent.id, &agent.name)),
        "oauth.authorize",
        format!("connected '{name}' to {}", agent.name),
        (
            Value::Null,
            json!({"client_id": ticket.client_id, "name": name, "redirect_uri": ticket.redirect_uri}),
        ),
    )
    .await?;
    store
        .oauth()
        .create_code(&NewCode {
            code_hash: super::secret_hash(&code),
            client_id: ticket.client_id.clone(),
            agent_id: agent.id.clone(),
            // Empty when the authorization request did not name it (see `code_grant`).
            redirect_uri: if ticket.redirect_named {
                ticket.redirect_uri.clone()
            } else {
                String::new()
            },
            code_challenge: ticket.code_challenge.clone(),
            resource: ticket.resource.clone(),
            name,
            approved_by: by.name.clone(),
            created_at: now,
            expires_at: now + super::CODE_LIFETIME,
        })
        .await?;
    Ok(redirect(oauth, ticket, &[("code", code.as_str())]))
}

/// The client's redirect URI with these parameters, `state` and `iss` (RFC 9207 section 2).
pub fn redirect(oauth: &OAuth, ticket: &Ticket, params: &[(&str, &str)]) -> String {
    redirect_to(oauth, &ticket.redirect_uri, ticket.state.as_deref(), params)
}

pub fn redirect_to(
    oauth: &OAuth,
    redirect_uri: &str,
    state: Option<&str>,
    params: &[(&str, &str)],
) -> String {
    let Ok(mut u) = url::Url::parse(redirect_uri) else {
        return redirect_uri.to_owned();
    };
    {
        let mut q = u.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
        if let Some(s) = state {
            q.append_pair("state", s);
        }
        q.append_pair("iss", oauth.issuer());
    }
    u.into()
}

/// One agent's connections, oldest first.
pub async fn connections(store: &dyn Store, agent: &str) -> OpsResult<(Agent, Vec<Connection>)> {
    let agent = crate::ops::find_agent(store, agent).await?;
    let list = store.oauth().list_connections(Some(&agent.id)).await?;
    Ok((agent, list))
}

/// Ends one connection of an agent (by id, or by name when one live connection has it).
pub async fn disconnect(
    store: &dyn Store,
    by: &Actor,
    agent: &str,
    connection: &str,
    now: OffsetDateTime,
) -> OpsResult<Connection> {
    let (agent, list) = connections(store, agent).await?;
    let found = list
        .iter()
        .find(|c| c.id == connection)
        .or_else(|| {
            let mut named = list
                .iter()
                .filter(|c| c.revoked_at.is_none() && c.name.eq_ignore_ascii_case(connection));
            match (named.next(), named.next()) {
                (Some(one), None) => Some(one),
                _ => None,
            }
        })
        .ok_or_else(|| {
            OpsError::NotFound(format!(
                "{} has no connection '{connection}'. `bollard agent connections {}` lists them.",
                agent.name, agent.name
            ))
        })?;
    if found.revoked_at.is_some() {
        return Ok(found.clone());
    }
    let mut after = found.clone();
    after.revoked_at = Some(now);
    record(
        store,
        by,
        Some((&agent.id, &agent.name)),
        "oauth.disconnect",
        format!(
            "disconnected '{}' from {}; its tokens stopped working",
            found.name, agent.name
        ),
        (connection_state(found), connection_state(&after)),
    )
    .await?;
    store
        .oauth()
        .revoke_connection(&found.id, now, "disconnected by an admin")
        .await?
        .ok_or_else(|| OpsError::NotFound(format!("The connection {} is gone.", found.id)))
}

/// A single-use connect link for one agent; returns the link's secret (shown once).
pub async fn create_link(
    store: &dyn Store,
    by: &Actor,
    agent: &str,
    expires_in: Duration,
    now: OffsetDateTime,
) -> OpsResult<(Agent, String, OffsetDateTime)> {
    let agent = crate::ops::find_agent(store, agent).await?;
    if agent.revoked_at.is_some() {
        return Err(OpsError::Invalid(format!(
            "{} is revoked; a connect link for it would not work.",
            agent.name
        )));
    }
    crate::ops::expired_refuses(&agent, now, "a connect link")?;
    if expires_in > Duration::days(30) {
        return Err(OpsError::Invalid(
            "A connect link may last 30 days at most; give a shorter --expires-in.".into(),
        ));
    }
    let token = super::new_secret(super::LINK_PREFIX);
    let expires_at = now + expires_in;
    record(
        store,
        by,
        Some((&agent.id, &agent.name)),
        "oauth.link",
        format!(
            "made a single-use connect link for {}, valid until {}",
            agent.name,
            expires_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        ),
        (
            Value::Null,
            json!({"expires_at": expires_at.unix_timestamp()}),
        ),
    )
    .await?;
    store
        .oauth()
        .create_link(
            &super::secret_hash(&token),
            &ConnectLink {
                agent_id: agent.id.clone(),
                created_by: by.name.clone(),
                created_at: now,
                expires_at,
            },
        )
        .await?;
    Ok((agent, token, expires_at))
}

/// Every client Bollard has seen.
pub async fn clients(store: &dyn Store) -> OpsResult<Vec<OAuthClient>> {
    Ok(store.oauth().list_clients().await?)
}

/// Approves a client in advance, blocks it (ending its connections), or clears either.
pub async fn set_client_status(
    store: &dyn Store,
    by: &Actor,
    client_id: &str,
    status: &str,
    now: OffsetDateTime,
) -> OpsResult<OAuthClient> {
    let client = store.oauth().client(client_id).await?.ok_or_else(|| {
        OpsError::NotFound(format!(
            "There is no client '{client_id}'. GET /admin/api/v1/oauth/clients lists them."
        ))
    })?;
    let clause = match status {
        "approved" => format!("approved the client '{}' in advance", client.name),
        "blocked" => format!(
            "blocked the client '{}'; its connections ended",
            client.name
        ),
        "new" => format!(
            "cleared the approval or block of the client '{}'",
            client.name
        ),
        other => {
            return Err(OpsError::Invalid(format!(
                "'{other}' is not a client status; use approved, blocked or new."
            )));
        }
    };
    let mut after = client.clone();
    after.status = status.to_owned();
    record(
        store,
        by,
        None,
        "oauth.client",
        clause,
        (client_state(&client), client_state(&after)),
    )
    .await?;
    let updated = store
        .oauth()
        .set_client_status(client_id, status, now)
        .await?;
    if status == "blocked" {
        store
            .oauth()
            .revoke_client_connections(client_id, now, "client blocked by an admin")
            .await?;
    }
    Ok(updated)
}
