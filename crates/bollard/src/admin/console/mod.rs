//! The web console, served by the binary itself: server-rendered pages with a small script
//! (no build step, no CDN, no external fonts; the assets are compiled in).
//!
//! Every page but sign-in needs a session; every POST needs the session's CSRF token and must
//! come from this origin. Changes go through the same `ops` functions as the CLI and the API.

mod agent_page;
mod agents;
mod approvals;
mod audit;
mod connect;
mod html;

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::html;
use serde::Deserialize;

use self::html::{Notice, Section, csrf_field, page, respond};
use super::AdminState;
use super::auth::{self, SESSION_COOKIE, SESSION_HOURS, SIGNIN_COOKIE, Session, SessionKey};
use super::error::AdminError;

const CSS: &str = include_str!("../assets/console.css");
const JS: &str = include_str!("../assets/console.js");
const ICON: &str = include_str!("../assets/icon.svg");

pub fn router() -> Router<AdminState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/agents") }))
        .route("/sign-in", get(sign_in_page).post(sign_in))
        .route("/sign-out", post(sign_out))
        .route("/agents", get(agents::list).post(agents::create))
        .route("/agents/{agent}", get(agents::show))
        .route("/agents/{agent}/grants", post(agents::save_grants))
        .route("/agents/{agent}/limits", post(agents::save_limits))
        .route("/agents/{agent}/details", post(agents::save_details))
        .route("/agents/{agent}/rules", post(agents::add_rule))
        .route(
            "/agents/{agent}/rules/{name}/remove",
            post(agents::remove_rule),
        )
        .route("/agents/{agent}/rotate", post(agents::rotate))
        .route("/agents/{agent}/revoke", post(agents::revoke))
        .route("/check", get(audit::check_page).post(audit::check))
        .route("/audit", get(audit::log))
        .route("/audit/feed", get(audit::feed))
        .route("/audit/verify", get(audit::verify_now))
        .route("/approvals", get(approvals::list))
        .route("/approvals/{id}", post(approvals::decide))
        .route("/approvals/{id}/reveal", post(approvals::reveal))
        .route("/connect", get(connect::page_get).post(connect::page_post))
        .route("/connect/link/{token}", get(connect::link))
        .route(
            "/agents/{agent}/connections/{connection}/disconnect",
            post(connect::disconnect),
        )
        .route(
            "/assets/console.css",
            get(|| async { asset(CSS, "text/css; charset=utf-8") }),
        )
        .route(
            "/assets/console.js",
            get(|| async { asset(JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/assets/icon.svg",
            get(|| async { asset(ICON, "image/svg+xml") }),
        )
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut r = body.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Short: the assets change with the binary, and there is no build step to fingerprint them.
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=300"),
    );
    r
}

/// A failure shown as a page (or, for the feed, the API's JSON).
#[derive(Debug)]
pub struct PageError(pub AdminError);

impl From<AdminError> for PageError {
    fn from(e: AdminError) -> Self {
        PageError(e)
    }
}

impl From<crate::ops::OpsError> for PageError {
    fn from(e: crate::ops::OpsError) -> Self {
        PageError(e.into())
    }
}

impl From<crate::store::StoreError> for PageError {
    fn from(e: crate::store::StoreError) -> Self {
        PageError(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, _) = self.0.status_and_code();
        let heading = match status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::FORBIDDEN => "Refused",
            StatusCode::INTERNAL_SERVER_ERROR => "Something went wrong",
            _ => "That did not work",
        };
        let body = html! {
            section.narrow {
                h1 { (heading) }
                (Notice::Error(self.0.to_string()))
                p { a.button href="/agents" { "Back to agents" } }
            }
        };
        respond(status, page(heading, Section::None, None, body))
    }
}

pub type PageResult = Result<Response, PageError>;

pub fn not_found_page() -> Response {
    PageError(AdminError::NotFound(
        "There is no page at this address.".into(),
    ))
    .into_response()
}

/// A signed-in admin, and what their forms need.
#[derive(Debug, Clone)]
pub struct Signed {
    pub session: Session,
    pub csrf: String,
    /// The session's admin key, as changes made in this session are recorded.
    pub by: crate::audit::change::Actor,
}

/// Not signed in: pages send the browser to sign in; the feed answers 401 JSON.
#[derive(Debug)]
pub enum NotSigned {
    Page(String),
    Error(AdminError),
}

impl IntoResponse for NotSigned {
    fn into_response(self) -> Response {
        match self {
            NotSigned::Page(next) => {
                Redirect::to(&format!("/sign-in?next={}", html::url(&next))).into_response()
            }
            NotSigned::Error(e) => PageError(e).into_response(),
        }
    }
}

async fn signed(
    st: &AdminState,
    headers: &HeaderMap,
) -> Result<Option<(Signed, SessionKey)>, AdminError> {
    let key = st.session_key().await?.clone();
    let Some(value) = auth::cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let Some(session) = key.open(value, st.now()) else {
        return Ok(None);
    };
    // The cookie is signed, but the key it was opened with may have been revoked since:
    // a revoked admin key ends its sessions at once.
    let Some(admin) = st
        .store()
        .admin_key_by_id(&session.key_id)
        .await
        .map_err(|e| AdminError::internal(&e))?
    else {
        return Ok(None);
    };
    let csrf = key.csrf(&session);
    let by = crate::audit::change::Actor::admin(&admin, "console");
    Ok(Some((Signed { session, csrf, by }, key)))
}

impl FromRequestParts<AdminState> for Signed {
    type Rejection = NotSigned;

    async fn from_request_parts(
        parts: &mut Parts,
        st: &AdminState,
    ) -> Result<Self, Self::Rejection> {
        match signed(st, &parts.headers).await {
            Ok(Some((s, _))) => Ok(s),
            Ok(None) => {
                let next = parts.uri.path_and_query().map_or("/agents", |p| p.as_str());
                Err(NotSigned::Page(next.to_owned()))
            }
            Err(e) => Err(NotSigned::Error(e)),
        }
    }
}

/// A console form: the session that sent it and its fields, after the CSRF token and the
/// origin were checked.
#[derive(Debug)]
pub struct SignedForm {
    pub signed: Signed,
    pub fields: Fields,
}

/// Form fields in order; a name may repeat.
#[derive(Debug, Default)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A field's value, trimmed, `None` when empty.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty())
    }
}

fn forbidden() -> NotSigned {
    NotSigned::Error(AdminError::Forbidden(
        "This form was not sent from this console, or its page is too old. Reload the page and try again.".into(),
    ))
}

impl FromRequest<AdminState> for SignedForm {
    type Rejection = NotSigned;

    async fn from_request(req: Request, st: &AdminState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let signed = Signed::from_request_parts(&mut parts, st)
            .await
            .map_err(|e| match e {
                // After a POST, go back to where the form was, not to the POST's own address.
                NotSigned::Page(_) => NotSigned::Page("/agents".into()),
                other => other,
            })?;
        if !auth::same_origin(&parts.headers) {
            return Err(forbidden());
        }
        let path = parts.uri.path().to_owned();
        let req = Request::from_parts(parts, body);
        let axum::Form(fields) = axum::Form::<Vec<(String, String)>>::from_request(req, st)
            .await
            .map_err(|e| {
                NotSigned::Error(AdminError::BadRequest(format!(
                    "The form could not be read: {}.",
                    e.body_text()
                )))
            })?;
        let fields = Fields(fields);
        if !auth::tokens_match(fields.get("csrf").unwrap_or(""), &signed.csrf) {
            return Err(forbidden());
        }
        tracing::debug!(admin_key = %signed.session.key_id, path = %path, "console change");
        Ok(SignedForm { signed, fields })
    }
}

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Only paths on this console: `next` must not send the browser to another site.
fn safe_next(next: Option<&str>) -> String {
    match next {
        // Printable ASCII only: it becomes a Location header, which must be a valid value.
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && n.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            n.to_owned()
        }
        _ => "/agents".into(),
    }
}

fn sign_in_form(
    token: &str,
    next: &str,
    notice: Option<Notice>,
    status: StatusCode,
    set: Option<String>,
) -> Response {
    let body = html! {
        section.signin {
            h1 { "Sign in to Bollard" }
            p.lead {
                "Use an admin key. " code { "bollard demo" } " prints one; "
                code { "bollard admin-key create" } " makes another."
            }
            @if let Some(n) = notice { (n) }
            form.card.stack method="post" action="/sign-in" {
                (csrf_field(token))
                input type="hidden" name="next" value=(next);
                label for="key" { "Admin key" }
                input #key name="key" type="password" autocomplete="current-password"
                    placeholder="bol_admin_…" required autofocus spellcheck="false";
                button.button.primary type="submit" { "Sign in" }
            }
            p.muted.small {
                "The session lasts " (SESSION_HOURS)
                " hours on this browser. Agent keys do not open the console."
            }
        }
    };
    let mut r = respond(status, page("Sign in", Section::None, None, body));
    if let Some(c) = set.and_then(|c| HeaderValue::from_str(&c).ok()) {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}

async fn sign_in_page(
    State(st): State<AdminState>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> PageResult {
    let next = safe_next(q.next.as_deref());
    if signed(&st, &headers).await?.is_some() {
        return Ok(Redirect::to(&next).into_response());
    }
    let key = st.session_key().await?;
    let (nonce, token) = key.signin_pair();
    let cookie = auth::set_cookie(SIGNIN_COOKIE, &nonce, 3600);
    Ok(sign_in_form(
        &token,
        &next,
        None,
        StatusCode::OK,
        Some(cookie),
    ))
}

async fn sign_in(
    State(st): State<AdminState>,
    headers: HeaderMap,
    axum::Form(f): axum::Form<Vec<(String, String)>>,
) -> PageResult {
    let fields = Fields(f);
    let key = st.session_key().await?.clone();
    let next = safe_next(fields.get("next"));
    let nonce = auth::cookie(&headers, SIGNIN_COOKIE).unwrap_or("");
    let token_ok = !nonce.is_empty()
        && auth::tokens_match(fields.get("csrf").unwrap_or(""), &key.signin_token(nonce));
    let retry = |notice: Notice, status: StatusCode| {
        let (nonce, token) = key.signin_pair();
        sign_in_form(
            &token,
            &next,
            Some(notice),
            status,
            Some(auth::set_cookie(SIGNIN_COOKIE, &nonce, 3600)),
        )
    };
    if !token_ok || !auth::same_origin(&headers) {
        return Ok(retry(
            Notice::Error("The sign-in form had expired. Paste the key again.".into()),
            StatusCode::FORBIDDEN,
        ));
    }
    let admin = match auth::admin_for_key(st.store(), fields.get("key")).await {
        Ok(a) => a,
        Err(AdminError::Unauthenticated(why)) => {
            return Ok(retry(Notice::Error(why), StatusCode::UNAUTHORIZED));
        }
        Err(e) => return Err(e.into()),
    };
    let (_, value) = key.issue(&admin.id, st.now());
    let mut r = Redirect::to(&next).into_response();
    for c in [
        auth::set_cookie(SESSION_COOKIE, &value, SESSION_HOURS * 3600),
        auth::set_cookie(SIGNIN_COOKIE, "", 0),
    ] {
        if let Ok(v) = HeaderValue::from_str(&c) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    tracing::info!(admin_key = %admin.id, "console sign-in");
    Ok(r)
}

async fn sign_out(_form: SignedForm) -> Response {
    let mut r = Redirect::to("/sign-in").into_response();
    if let Ok(v) = HeaderValue::from_str(&auth::set_cookie(SESSION_COOKIE, "", 0)) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}
