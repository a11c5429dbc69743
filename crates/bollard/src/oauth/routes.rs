//! OAuth on the agent listener (public, no key): the two discovery documents, registration,
//! authorization (which sends the browser to the console's consent page), token and
//! revocation; and the layer that points every 401 at the protected resource metadata.

use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::ops::{self as oops, assistant_actor, bollard_actor, connection_state};
use super::{OAuth, Ticket, cimd};
use crate::gate::Gate;
use crate::store::oauth::{Connection, NewRefresh, Redeemed, Rotated};

/// The most a registration, token or revocation request may weigh.
const FORM_LIMIT: usize = 16 * 1024;
/// Registrations accepted in any hour, across all callers.
const MAX_REGISTRATIONS_PER_HOUR: i64 = 500;

pub fn router(gate: Gate) -> Router {
    Router::new()
        .route(
            "/.well-known/oauth-protected-resource",
            get(protected_resource),
        )
        // RFC 9728 section 3.1: a client that starts from `/mcp` may ask with the path
        // appended, and then the resource named must be the one the suffix came from (section
        // 3.3: "MUST be identical"; found in review: it named the root). Tokens for either are
        // taken (`is_our_resource`).
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            get(protected_mcp),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(authorization_server),
        )
        .route("/oauth/register", post(register))
        .route("/oauth/authorize", get(authorize))
        .route("/oauth/token", post(token))
        .route("/oauth/revoke", post(revoke))
        .layer(DefaultBodyLimit::max(FORM_LIMIT))
        .layer(axum::middleware::from_fn(cors))
        .with_state(gate)
}

/// Browser-based clients (the MCP Inspector) read the metadata and call registration, token
/// and revocation from another origin. Nothing here rides on cookies, so any origin may, and
/// a preflight is answered here rather than refused as an unknown method.
async fn cors(req: Request, next: Next) -> Response {
    let preflight = req.method() == axum::http::Method::OPTIONS;
    let mut resp = if preflight {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(req).await
    };
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    if preflight {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, OPTIONS"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type, mcp-protocol-version"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
    }
    resp
}

/// Without `public_url` the routes are not mounted; this answers should one be reached.
fn off() -> Response {
    (StatusCode::NOT_FOUND, "OAuth is off: set public_url.").into_response()
}

/// Adds `resource_metadata` to every `WWW-Authenticate: Bearer` challenge (RFC 9728 section
/// 5.1; the MCP specification requires it on a 401 from the MCP server), on both doors.
///
/// A 401 from `/mcp` points at the metadata for `/mcp` itself: RFC 9728 §3.3 has a client
/// that followed the challenge use the document only if its `resource` is exactly the URL it
/// called, and the root document names the server, not `/mcp` (strict clients refused it).
pub async fn challenge_layer(State(gate): State<Gate>, req: Request, next: Next) -> Response {
    let for_mcp = req.uri().path() == "/mcp";
    let mut resp = next.run(req).await;
    let Some(o) = gate.oauth() else {
        return resp;
    };
    if resp.status() == StatusCode::UNAUTHORIZED {
        let current = resp
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("Bearer")
            .to_owned();
        let sep = if current.trim() == "Bearer" {
            " "
        } else {
            ", "
        };
        let value = format!(
            "{current}{sep}resource_metadata=\"{}{}\"",
            o.resource_metadata_url(),
            if for_mcp { "/mcp" } else { "" }
        );
        if let Ok(v) = HeaderValue::from_str(&value) {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        // A 401 may answer before the request's body was read, and then the server closes
        // the connection; saying so keeps a client (the Python SDK's httpx) from sending its
        // authorized retry down a connection that is about to close.
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

/// RFC 9728 section 2, for the server as a whole.
async fn protected_resource(State(gate): State<Gate>) -> Response {
    resource_metadata(&gate, "")
}

/// RFC 9728 section 2, for `/mcp` (its path-suffixed well-known URI).
async fn protected_mcp(State(gate): State<Gate>) -> Response {
    resource_metadata(&gate, "/mcp")
}

fn resource_metadata(gate: &Gate, path: &str) -> Response {
    let Some(o) = gate.oauth() else {
        return off();
    };
    Json(json!({
        "resource": format!("{}{path}", o.resource()),
        "authorization_servers": [o.issuer()],
        "bearer_methods_supported": ["header"],
        "resource_name": "Bollard",
    }))
    .into_response()
}

/// RFC 8414 section 2.
async fn authorization_server(State(gate): State<Gate>) -> Response {
    let Some(o) = gate.oauth() else {
        return off();
    };
    let i = o.issuer();
    Json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/oauth/authorize"),
        "token_endpoint": format!("{i}/oauth/token"),
        "registration_endpoint": format!("{i}/oauth/register"),
        "revocation_endpoint": format!("{i}/oauth/revoke"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        // RFC 9207 section 3.
        "authorization_response_iss_parameter_supported": true,
        // The Client ID Metadata Document draft, section 5.
        "client_id_metadata_document_supported": true,
    }))
    .into_response()
}

/// An OAuth error body (RFC 6749 section 5.2, RFC 7591 section 3.2.2).
fn error(status: StatusCode, code: &str, description: &str) -> Response {
    let mut r = (
        status,
        Json(json!({"error": code, "error_description": description})),
    )
        .into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// RFC 7591 section 3: public clients only, redirect URIs checked.
async fn register(State(gate): State<Gate>, body: axum::body::Bytes) -> Response {
    let Some(o) = gate.oauth() else {
        return off();
    };
    let Ok(meta) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_client_metadata",
            "The registration must be a JSON object.",
        );
    };
    let uris = match cimd::redirect_uris(meta.get("redirect_uris").unwrap_or(&Value::Null)) {
        Ok(u) => u,
        Err(e) => return error(StatusCode::BAD_REQUEST, "invalid_redirect_uri", &e),
    };
    let listed = |key: &str, allowed: &[&str]| match meta.get(key) {
        None => true,
        Some(v) => v.as_array().is_some_and(|a| {
            a.iter()
                .all(|x| x.as_str().is_some_and(|s| allowed.contains(&s)))
        }),
    };
    if !listed("grant_types", &["authorization_code", "refresh_token"]) {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_client_metadata",
            "Bollard grants authorization_code and refresh_token only.",
        );
    }
    if !listed("response_types", &["code"]) {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_client_metadata",
            "Bollard answers response_type code only.",
        );
    }
    let now = o.now();
    // Registration is open to anyone (RFC 7591 section 3 allows it): a cap on how many
    // clients may register in an hour keeps a flood from filling the table.
    match gate
        .store()
        .oauth()
        .registered_since(now - time::Duration::hours(1))
        .await
    {
        Ok(n) if n >= MAX_REGISTRATIONS_PER_HOUR => {
            return error(
                StatusCode::TOO_MANY_REQUESTS,
                "temporarily_unavailable",
                "Too many clients registered in the last hour; try again later.",
            );
        }
        Ok(_) => {}
        Err(e) => {
            tracing::error!(error = %e, "counting OAuth clients failed");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "The client could not be registered; try again.",
            );
        }
    }
    let client = crate::store::oauth::OAuthClient {
        client_id: format!("{}{}", super::CLIENT_PREFIX, uuid::Uuid::now_v7().simple()),
        name: cimd::client_name(meta.get("client_name"), "An unnamed assistant"),
        redirect_uris: uris,
        source: "registered".into(),
        status: "new".into(),
        created_at: now,
        updated_at: now,
    };
    let client = match gate.store().oauth().put_client(&client).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "storing a registered client failed");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "The client could not be registered; try again.",
            );
        }
    };
    // Section 3.2.1: what was registered. A client that asked for a secret gets none:
    // token_endpoint_auth_method says so, and PKCE protects its codes instead.
    let mut r = (
        StatusCode::CREATED,
        Json(json!({
            "client_id": client.client_id,
            "client_id_issued_at": now.unix_timestamp(),
            "client_name": client.name,
            "redirect_uris": client.redirect_uris,
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        })),
    )
        .into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Parameters of a request, refusing any given twice (RFC 6749 section 3.1).
fn single(
    pairs: Vec<(String, String)>,
) -> Result<std::collections::HashMap<String, String>, String> {
    let mut m = std::collections::HashMap::new();
    for (k, v) in pairs {
        if m.insert(k.clone(), v).is_some() {
            return Err(format!("the parameter {k} was given more than once"));
        }
    }
    Ok(m)
}

/// An error the browser sees on Bollard's own page: the request cannot be trusted enough to
/// send it back to the client (OAuth 2.1 section 4.1.2.1).
fn page_error(why: &str) -> Response {
    let body = maud::html! {
        (maud::DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { "Bollard: this sign-in cannot continue" } }
            body {
                h1 { "This sign-in cannot continue" }
                p { (why) }
                p { "Start connecting the assistant again. If this keeps happening, tell your Bollard admin." }
            }
        }
    };
    (StatusCode::BAD_REQUEST, Html(body.into_string())).into_response()
}

/// OAuth 2.1 section 4.1.1. Checks everything a person cannot judge, then sends the browser to
/// the console's consent page with a signed ticket.
async fn authorize(
    State(gate): State<Gate>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let Some(o) = gate.oauth() else {
        return off();
    };
    let p = match single(pairs) {
        Ok(p) => p,
        Err(e) => return page_error(&format!("The request is malformed: {e}.")),
    };
    let Some(client_id) = p.get("client_id") else {
        return page_error("The request names no client (client_id is missing).");
    };
    let store = &**gate.store();
    let client = if cimd::is_url(client_id) {
        match cimd::resolve(o, store, client_id).await {
            Ok(c) => c,
            Err(e) => return page_error(&format!("Bollard cannot accept this client: {e}.")),
        }
    } else {
        match store.oauth().client(client_id).await {
            Ok(Some(c)) => c,
            Ok(None) => {
                return page_error(
                    "Bollard does not know this client. It must register first (or use a metadata document URL as its client id).",
                );
            }
            Err(e) => {
                tracing::error!(error = %e, "reading an OAuth client failed");
                return page_error("Bollard could not read its list of clients; try again.");
            }
        }
    };
    // Exact string comparison (RFC 9700 section 4.1.3; OAuth 2.1 section 4.1.1), but for the
    // port of a loopback IP address (`redirect_matches`).
    let redirect_uri = match p.get("redirect_uri") {
        Some(r) if client.redirect_uris.iter().any(|u| redirect_matches(u, r)) => r.clone(),
        Some(_) => {
            return page_error(
                "The address to return to is not one the client registered, so Bollard will not send you there.",
            );
        }
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
        None => return page_error("The request does not say where to return (redirect_uri)."),
    };
    let state = p.get("state").cloned();
    let fail = |code: &str, description: &str| -> Response {
        Redirect::to(&oops::redirect_to(
            o,
            &redirect_uri,
            state.as_deref(),
            &[("error", code), ("error_description", description)],
        ))
        .into_response()
    };
    if client.status == "blocked" {
        return fail("access_denied", "An admin has blocked this client.");
    }
    if p.get("response_type").map(String::as_str) != Some("code") {
        return fail(
            "unsupported_response_type",
            "Bollard answers response_type=code only.",
        );
    }
    // PKCE is required, S256 only (OAuth 2.1 section 4.1.1; the MCP specification).
    let challenge = p.get("code_challenge").map(String::as_str).unwrap_or("");
    if p.get("code_challenge_method").map(String::as_str) != Some("S256")
        || challenge.len() != 43
        || !challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return fail(
            "invalid_request",
            "PKCE is required: send code_challenge with code_challenge_method=S256.",
        );
    }
    let resource = match p.get("resource") {
        Some(r) if o.is_our_resource(r) => o.resource().to_owned(),
        // RFC 8707 section 2: a resource this server does not serve.
        Some(_) => {
            return fail(
                "invalid_target",
                "The resource is not this Bollard; tokens are issued only for its own address.",
            );
        }
        None => o.resource().to_owned(),
    };
    if state.as_ref().is_some_and(|s| s.len() > 2000) {
        return fail("invalid_request", "state is longer than 2,000 characters.");
    }
    let ticket = Ticket {
        client_id: client.client_id.clone(),
        client_name: client.name.clone(),
        redirect_named: p.contains_key("redirect_uri"),
        redirect_uri,
        state,
        code_challenge: challenge.to_owned(),
        resource,
        exp: (o.now() + super::TICKET_LIFETIME).unix_timestamp(),
    };
    let to = format!(
        "{}/connect?ticket={}",
        o.console_url(),
        o.seal_ticket(&ticket)
    );
    Redirect::to(&to).into_response()
}

fn tokens_answer(o: &OAuth, connection: &Connection, refresh: &str) -> Response {
    let (access, expires_in) = o.access_token(&connection.id, &connection.agent_id);
    let mut r = Json(json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "refresh_token": refresh,
    }))
    .into_response();
    // RFC 6749 section 5.1.
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn server_error(e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %e, "an OAuth token request failed");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "Bollard could not complete this; try again.",
    )
}

/// Whether `given` is the registered redirect URI `registered`: the same string, or, for a
/// loopback IP address over http, the same but for the port. A native client listens on a port
/// it learns only when it starts, so "the authorization server MUST allow any port to be
/// specified at the time of the request for loopback IP redirect URIs" (RFC 8252 §7.3; OAuth
/// 2.1 §8.4.2); a metadata document that lists `http://127.0.0.1/callback` could not be used
/// otherwise (found in review). `localhost` is a name, not a loopback IP, and stays exact.
pub(super) fn redirect_matches(registered: &str, given: &str) -> bool {
    if registered == given {
        return true;
    }
    let (Ok(r), Ok(g)) = (url::Url::parse(registered), url::Url::parse(given)) else {
        return false;
    };
    let loopback_ip = |u: &url::Url| {
        u.scheme() == "http"
            && match u.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                _ => false,
            }
    };
    loopback_ip(&r)
        && loopback_ip(&g)
        && r.host() == g.host()
        && r.path() == g.path()
        && r.query() == g.query()
        && r.fragment().is_none()
        && g.fragment().is_none()
        && r.username() == g.username()
        && r.password().is_none()
        && g.password().is_none()
}

/// `invalid_grant` (RFC 6749 §5.2) when the client is blocked or the agent may no longer be
/// used (revoked, or past its expiry, as every call is checked), else `None`.
async fn still_connectable(
    store: &dyn crate::store::Store,
    client_id: &str,
    agent_id: &str,
    now: time::OffsetDateTime,
) -> Option<Response> {
    match store.oauth().client(client_id).await {
        Ok(Some(c)) if c.status != "blocked" => {}
        Ok(_) => return Some(invalid_grant("An admin has blocked this client.")),
        Err(e) => return Some(server_error(&e)),
    }
    // The gate's own test (`standing`), said without the agent's name: an error_description
    // is printable ASCII only (RFC 6749 §5.2), and a name need not be.
    use crate::error::{Refusal, Unauthenticated};
    let agent = match store.find_agent(agent_id).await {
        Ok(Some(a)) => a,
        Ok(None) => {
            return Some(invalid_grant(
                "The agent this connection acts as no longer exists.",
            ));
        }
        Err(e) => return Some(server_error(&e)),
    };
    match crate::gate::standing(&agent, now) {
        Ok(()) => None,
        Err(Refusal::Unauthenticated(Unauthenticated::Expired { .. })) => Some(invalid_grant(
            "The agent this connection acts as has expired; an admin can move its expiry, then sign in again.",
        )),
        Err(_) => Some(invalid_grant(
            "The agent this connection acts as is revoked.",
        )),
    }
}

fn invalid_grant(description: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "invalid_grant", description)
}

/// OAuth 2.1 section 3.2: the code (with PKCE) and refresh grants.
async fn token(
    State(gate): State<Gate>,
    form: Result<axum::Form<Vec<(String, String)>>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Some(o) = gate.oauth() else {
        return off();
    };
    let p = match form.map_err(|e| e.body_text()).and_then(|f| single(f.0)) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, "invalid_request", &e),
    };
    if let Some(r) = p.get("resource")
        && !o.is_our_resource(r)
    {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_target",
            "The resource is not this Bollard.",
        );
    }
    match p.get("grant_type").map(String::as_str) {
        Some("authorization_code") => code_grant(&gate, o, &p).await,
        Some("refresh_token") => refresh_grant(&gate, o, &p).await,
        // RFC 6749 §5.2: a required parameter missing is invalid_request.
        None => error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "grant_type is required: authorization_code or refresh_token.",
        ),
        Some(_) => error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Bollard grants authorization_code and refresh_token only.",
        ),
    }
}

async fn code_grant(
    gate: &Gate,
    o: &OAuth,
    p: &std::collections::HashMap<String, String>,
) -> Response {
    let store = &**gate.store();
    let get = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
    let now = o.now();
    let code = match store
        .oauth()
        .redeem_code(&super::secret_hash(get("code")), now)
        .await
    {
        Ok(Redeemed::Fresh(c)) => c,
        Ok(Redeemed::Unknown) => return invalid_grant("The authorization code is not known."),
        Ok(Redeemed::Reused(connection)) => {
            // OAuth 2.1 section 4.1.3: a code used twice revokes what it was exchanged for.
            if let Some(id) = connection {
                revoke_for(
                    gate,
                    o,
                    &id,
                    "authorization code reused",
                    "because its authorization code was used a second time (a copy may be in someone else's hands)",
                )
                .await;
            }
            return invalid_grant("The authorization code was already used.");
        }
        Err(e) => return server_error(&e),
    };
    if code.expires_at <= now {
        return invalid_grant("The authorization code has expired; sign in again.");
    }
    if code.client_id != get("client_id") {
        return invalid_grant("The authorization code was issued to another client.");
    }
    // RFC 6749 §4.1.3: redirect_uri is required here, and must be the same, only if the
    // authorization request included it. A code keeps an empty one when it did not (found in
    // review: a client that left it out both times was refused); the client may then leave it
    // out or name its one registered address.
    let sent = get("redirect_uri");
    let registered = || async {
        match store.oauth().client(&code.client_id).await {
            Ok(Some(c)) => c.redirect_uris.len() == 1 && c.redirect_uris[0] == sent,
            _ => false,
        }
    };
    let matches = if code.redirect_uri.is_empty() {
        sent.is_empty() || registered().await
    } else {
        sent == code.redirect_uri
    };
    if !matches {
        return invalid_grant(
            "redirect_uri does not match the one the authorization request used.",
        );
    }
    if !super::pkce_matches(get("code_verifier"), &code.code_challenge) {
        return invalid_grant("The PKCE code_verifier does not match the code_challenge.");
    }
    if let Some(refused) = still_connectable(store, &code.client_id, &code.agent_id, now).await {
        return refused;
    }
    let agent = match store.find_agent(&code.agent_id).await {
        Ok(Some(a)) if a.revoked_at.is_none() => a,
        Ok(_) => return invalid_grant("The agent this connection was for is revoked."),
        Err(e) => return server_error(&e),
    };
    let connection = Connection {
        id: format!("con_{}", uuid::Uuid::now_v7().simple()),
        agent_id: agent.id.clone(),
        client_id: code.client_id.clone(),
        name: code.name.clone(),
        approved_by: code.approved_by.clone(),
        created_at: now,
        refreshed_at: None,
        revoked_at: None,
        revoked_reason: None,
    };
    let refresh = super::new_secret(super::REFRESH_TOKEN_PREFIX);
    let by = assistant_actor(&connection.name);
    if let Err(e) = oops::record(
        store,
        &by,
        Some((&agent.id, &agent.name)),
        "oauth.connected",
        format!(
            "finished connecting as {} (connection {})",
            agent.name, connection.id
        ),
        (Value::Null, connection_state(&connection)),
    )
    .await
    {
        return server_error(&e);
    }
    if let Err(e) = store
        .oauth()
        .open_connection(
            &code.code_hash,
            &connection,
            NewRefresh {
                token_hash: &super::secret_hash(&refresh),
                expires_at: now + o.config().refresh_token_lifetime,
            },
        )
        .await
    {
        return server_error(&e);
    }
    o.applied().await;
    tokens_answer(o, &connection, &refresh)
}

async fn refresh_grant(
    gate: &Gate,
    o: &OAuth,
    p: &std::collections::HashMap<String, String>,
) -> Response {
    let store = &**gate.store();
    let presented = p.get("refresh_token").map(String::as_str).unwrap_or("");
    let hash = super::secret_hash(presented);
    let now = o.now();
    // The token must be the client's own: a client cannot spend another's refresh token
    // (OAuth 2.1 section 4.3.1), and a wrong client does not count as reuse.
    let connection = match store.oauth().connection_of_refresh(&hash).await {
        Ok(Some(c)) if Some(&c.client_id) == p.get("client_id") => c,
        Ok(Some(_)) => return invalid_grant("The refresh token was issued to another client."),
        Ok(None) => return invalid_grant("The refresh token is not known."),
        Err(e) => return server_error(&e),
    };
    // Before the token is spent: a client an admin blocked, or an agent revoked or past its
    // expiry, gets no new tokens (found in review: an expired agent's connection refreshed for
    // ever, each new token refused at /mcp; a blocked client's was never checked here). A
    // token spent already is a reuse whatever else is wrong, and goes to `rotate_refresh`,
    // which ends the connection and says so: these refusals must not hide one.
    let spent = match store.oauth().refresh_spent(&hash).await {
        Ok(s) => s,
        Err(e) => return server_error(&e),
    };
    if !spent
        && let Some(refused) =
            still_connectable(store, &connection.client_id, &connection.agent_id, now).await
    {
        return refused;
    }
    let new = super::new_secret(super::REFRESH_TOKEN_PREFIX);
    let rotated = store
        .oauth()
        .rotate_refresh(
            &hash,
            NewRefresh {
                token_hash: &super::secret_hash(&new),
                expires_at: now + o.config().refresh_token_lifetime,
            },
            now,
        )
        .await;
    let connection = match rotated {
        Ok(Rotated::Rotated(c)) => c,
        Ok(Rotated::Reused(c)) => {
            o.applied().await;
            let agent_name = agent_name(gate, &c.agent_id).await;
            let mut after = c.clone();
            after.revoked_at = Some(now);
            let _ = oops::record(
                store,
                &bollard_actor(),
                Some((&c.agent_id, &agent_name)),
                "oauth.reuse",
                format!(
                    "ended the connection '{}' of {agent_name}, because one of its refresh tokens was used a second time (a copy may be in someone else's hands)",
                    c.name
                ),
                (connection_state(&c), connection_state(&after)),
            )
            .await;
            return invalid_grant(
                "The refresh token was already used, so the connection was ended; sign in again.",
            );
        }
        Ok(Rotated::Revoked(_)) => {
            return invalid_grant("The connection was ended; sign in again.");
        }
        Ok(Rotated::Expired(_)) => {
            return invalid_grant("The refresh token has expired; sign in again.");
        }
        Ok(Rotated::Unknown) => return invalid_grant("The refresh token is not known."),
        Err(e) => return server_error(&e),
    };
    // A connection is a credential of its agent: a revoked agent's connections are over.
    let agent = match store.find_agent(&connection.agent_id).await {
        Ok(Some(a)) if a.revoked_at.is_none() => a,
        Ok(_) => return invalid_grant("The agent this connection acts as is revoked."),
        Err(e) => return server_error(&e),
    };
    let _ = oops::record(
        store,
        &assistant_actor(&connection.name),
        Some((&agent.id, &agent.name)),
        "oauth.refresh",
        format!("renewed its access as {}", agent.name),
        (Value::Null, Value::Null),
    )
    .await;
    tokens_answer(o, &connection, &new)
}

async fn agent_name(gate: &Gate, agent_id: &str) -> String {
    match gate.store().find_agent(agent_id).await {
        Ok(Some(a)) => a.name,
        Ok(None) | Err(_) => agent_id.to_owned(),
    }
}

/// Revokes a connection on the record ("... because ...").
async fn revoke_for(gate: &Gate, o: &OAuth, id: &str, reason: &str, because: &str) {
    let store = &**gate.store();
    let Ok(Some(c)) = store.oauth().connection(id).await else {
        return;
    };
    if c.revoked_at.is_some() {
        return;
    }
    let agent_name = agent_name(gate, &c.agent_id).await;
    let mut after = c.clone();
    after.revoked_at = Some(o.now());
    let recorded = oops::record(
        store,
        &bollard_actor(),
        Some((&c.agent_id, &agent_name)),
        "oauth.revoke",
        format!(
            "ended the connection '{}' of {agent_name}, {because}",
            c.name
        ),
        (connection_state(&c), connection_state(&after)),
    )
    .await;
    if recorded.is_ok() {
        let _ = store.oauth().revoke_connection(id, o.now(), reason).await;
        o.applied().await;
    }
}

/// RFC 7009: either token ends its connection. The answer is 200 whatever the token was
/// (section 2.2), so the endpoint tells nothing about tokens it does not know.
async fn revoke(
    State(gate): State<Gate>,
    form: Result<axum::Form<Vec<(String, String)>>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Some(o) = gate.oauth() else {
        return off();
    };
    let p = match form.map_err(|e| e.body_text()).and_then(|f| single(f.0)) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, "invalid_request", &e),
    };
    let token = p.get("token").map(String::as_str).unwrap_or("");
    let store = &**gate.store();
    let connection = if token.starts_with(super::ACCESS_TOKEN_PREFIX) {
        match o.connection_of_access_token(token) {
            Some(id) => store.oauth().connection(&id).await.ok().flatten(),
            None => None,
        }
    } else {
        store
            .oauth()
            .connection_of_refresh(&super::secret_hash(token))
            .await
            .ok()
            .flatten()
    };
    if let Some(c) = connection
        && c.revoked_at.is_none()
        && p.get("client_id").is_none_or(|id| *id == c.client_id)
    {
        let agent_name = agent_name(&gate, &c.agent_id).await;
        let mut after = c.clone();
        after.revoked_at = Some(o.now());
        let recorded = oops::record(
            store,
            &assistant_actor(&c.name),
            Some((&c.agent_id, &agent_name)),
            "oauth.revoke",
            format!("disconnected itself from {agent_name}"),
            (connection_state(&c), connection_state(&after)),
        )
        .await;
        if let Err(e) = recorded {
            return server_error(&e);
        }
        if let Err(e) = store
            .oauth()
            .revoke_connection(&c.id, o.now(), "revoked by the client")
            .await
        {
            return server_error(&e);
        }
        o.applied().await;
    }
    StatusCode::OK.into_response()
}

#[cfg(test)]
mod tests {
    use super::redirect_matches;

    #[test]
    fn a_loopback_ip_redirect_takes_any_port_and_nothing_else_changes() {
        for (registered, given) in [
            (
                "http://127.0.0.1/callback",
                "http://127.0.0.1:53124/callback",
            ),
            (
                "http://127.0.0.1:8000/callback",
                "http://127.0.0.1:53124/callback",
            ),
            ("http://[::1]/cb?x=1", "http://[::1]:4000/cb?x=1"),
            ("https://claude.ai/cb", "https://claude.ai/cb"),
        ] {
            assert!(redirect_matches(registered, given), "{registered} {given}");
        }
        for (registered, given) in [
            ("http://127.0.0.1/callback", "http://127.0.0.1:53124/other"),
            (
                "http://127.0.0.1/callback",
                "http://127.0.0.2:53124/callback",
            ),
            (
                "http://localhost/callback",
                "http://localhost:53124/callback",
            ),
            ("https://claude.ai/cb", "https://claude.ai:444/cb"),
            (
                "http://127.0.0.1/callback",
                "https://127.0.0.1:53124/callback",
            ),
            ("http://127.0.0.1/cb", "http://127.0.0.1:1/cb?x=1"),
            ("http://127.0.0.1/cb", "http://evil@127.0.0.1:1/cb"),
            ("http://127.0.0.1/cb", "http://[::1]:1/cb"),
        ] {
            assert!(!redirect_matches(registered, given), "{registered} {given}");
        }
    }
}
