//! The admin listener: the admin JSON API (`/admin/api/v1/...`, admin keys) and the web
//! console (`/`, sessions). Separate from the agent listener and on loopback by default, so an
//! agent that can reach the gateway cannot reach its control plane.
//!
//! Both faces call the same `ops` functions as the CLI (and `service` for the few that `ops`
//! lacks), then refresh this process's directory so a change applies to the next call.

mod api;
mod approvals;
mod auth;
mod connections;
mod console;
pub(crate) mod error;
mod etag;
mod routes;
mod schemas;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use time::OffsetDateTime;
use tokio::sync::OnceCell;

pub use auth::SessionKey;
pub use error::{AdminError, AdminResult};
pub use routes::{ApiRoute, OPENAPI_PATH, ROUTES, openapi};

use crate::gate::Gate;
use crate::store::Store;

/// What every admin handler shares.
#[derive(Debug, Clone)]
pub struct AdminState {
    gate: Gate,
    /// Derived from the installation secret on first use, so starting the listener never
    /// waits on the database.
    session_key: Arc<OnceCell<SessionKey>>,
    /// The console shows the chain's status on every audit page and poll; it walks the whole
    /// chain every few minutes and only the new entries in between.
    chain: Arc<crate::audit::verify::ChainWatch>,
}

impl AdminState {
    pub fn new(gate: Gate) -> Self {
        Self {
            gate,
            session_key: Arc::new(OnceCell::new()),
            chain: Arc::new(crate::audit::verify::ChainWatch::new(
                std::time::Duration::from_secs(300),
            )),
        }
    }

    fn chain(&self) -> &crate::audit::verify::ChainWatch {
        &self.chain
    }

    fn store(&self) -> &dyn Store {
        &**self.gate.store()
    }

    fn now(&self) -> OffsetDateTime {
        self.gate.clock().now()
    }

    async fn session_key(&self) -> AdminResult<&SessionKey> {
        self.session_key
            .get_or_try_init(|| async {
                let secret = self.store().installation_secret().await?;
                Ok::<_, AdminError>(SessionKey::derive(&secret))
            })
            .await
    }

    /// Makes a change take effect on this replica's next call. If the refresh fails, the
    /// change is still stored and the poller applies it within a second; the admin's request
    /// succeeded, so it is not failed for that.
    async fn applied(&self) {
        if let Err(e) = self.gate.directory().refresh(false).await {
            tracing::warn!(error = %e, "applying an admin change at once failed; the poller will apply it");
        }
    }
}

pub fn router(gate: Gate) -> Router {
    let state = AdminState::new(gate);
    let api = routes::register(Router::new())
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_admin_key,
        ))
        .method_not_allowed_fallback(method_not_allowed)
        // The document is public: it describes routes, never data, and tools fetch it
        // before they hold a key.
        .route(OPENAPI_PATH, get(|| async { Json(openapi()) }));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        // Without a key, as Prometheus scrapes: the admin listener is the control plane,
        // on loopback by default, and the numbers are counts, never keys or call contents.
        .route("/metrics", get(metrics))
        .merge(api)
        .merge(console::router())
        .fallback(not_found)
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

async fn metrics(State(st): State<AdminState>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        st.gate.audit().encode_metrics(),
    )
        .into_response()
}

/// The API's authentication: an admin key as a bearer token, nothing else (a console session
/// cookie is not accepted here, so the API needs no CSRF defence).
async fn require_admin_key(State(st): State<AdminState>, mut req: Request, next: Next) -> Response {
    let key = auth::bearer(req.headers());
    match auth::admin_for_key(st.store(), key.as_deref()).await {
        Ok(admin) => {
            tracing::debug!(admin_key = %admin.id, method = %req.method(), path = %req.uri().path(), "admin API call");
            // Handlers that change something put this key's name on the record.
            req.extensions_mut()
                .insert(crate::audit::change::Actor::admin(&admin, "api"));
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

async fn method_not_allowed(method: Method) -> AdminError {
    AdminError::MethodNotAllowed(format!(
        "This route does not take {method}; {OPENAPI_PATH} lists the methods each route takes."
    ))
}

async fn not_found(req: Request) -> Response {
    let path = req.uri().path();
    if path.starts_with("/admin/api/") {
        return AdminError::NotFound(format!(
            "There is no admin API route {path}; {OPENAPI_PATH} lists them."
        ))
        .into_response();
    }
    console::not_found_page()
}

/// Headers for every answer of the admin listener. The policy allows scripts, styles and
/// images from this origin only, with no inline script, so injected markup cannot run.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn security_headers(req: Request, next: Next) -> Response {
    let is_asset = req.uri().path().starts_with("/assets/");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    // A page may set its own (the OAuth consent page widens `form-action`).
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !is_asset {
        // Pages show keys once and agents' access: never keep them in a cache.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}
