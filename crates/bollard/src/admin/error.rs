//! The admin API's errors: `{"error": "<sentence>", "error_code": "..."}`, the same shape an
//! agent sees, so one client library reads both. One exhaustive match maps each kind to its
//! status and code, so a new kind cannot silently become a 500.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::ops::OpsError;
use crate::store::StoreError;

/// Why an admin request failed. The `String`s are sentences for the admin.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// An `If-Match` that names another version than the one there now.
    #[error("{0}")]
    PreconditionFailed(String),
    /// The request was understood but its values are wrong.
    #[error("{0}")]
    Invalid(String),
    /// The request could not be read at all (not JSON, wrong content type).
    #[error("{0}")]
    BadRequest(String),
    /// A request body over the admin API's limit.
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    /// A console form without a valid CSRF token, or from another origin.
    #[error("{0}")]
    Forbidden(String),
    /// Our own fault. The cause was logged where it happened; the sentence never carries it.
    #[error("{0}")]
    Internal(String),
}

impl AdminError {
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            AdminError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "BOLLARD_UNAUTHENTICATED"),
            AdminError::NotFound(_) => (StatusCode::NOT_FOUND, "BOLLARD_NOT_FOUND"),
            AdminError::Conflict(_) => (StatusCode::CONFLICT, "BOLLARD_CONFLICT"),
            AdminError::PreconditionFailed(_) => {
                (StatusCode::PRECONDITION_FAILED, "BOLLARD_CHANGED")
            }
            AdminError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "BOLLARD_INVALID"),
            AdminError::BadRequest(_) => (StatusCode::BAD_REQUEST, "BOLLARD_BAD_REQUEST"),
            AdminError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "BOLLARD_TOO_LARGE"),
            AdminError::MethodNotAllowed(_) => {
                (StatusCode::METHOD_NOT_ALLOWED, "BOLLARD_METHOD_NOT_ALLOWED")
            }
            AdminError::Forbidden(_) => (StatusCode::FORBIDDEN, "BOLLARD_FORBIDDEN"),
            AdminError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "BOLLARD_INTERNAL"),
        }
    }

    /// A store failure: logged with its cause, answered with a sentence that leaks nothing.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "an admin request failed");
        AdminError::Internal("Bollard could not complete this request because its database failed; the cause is in the gateway's log.".into())
    }

    /// Any other fault of ours, logged with its cause; the sentence leaks nothing.
    pub fn fault(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "an admin request failed");
        AdminError::Internal(
            "Bollard could not complete this request; the cause is in the gateway's log.".into(),
        )
    }
}

impl From<axum::extract::rejection::BytesRejection> for AdminError {
    /// A body that could not be read: over the limit (413, as the agent side answers), or cut
    /// off (400), in the API's own JSON shape rather than axum's plain text.
    fn from(e: axum::extract::rejection::BytesRejection) -> Self {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AdminError::TooLarge(TOO_LARGE.into())
        } else {
            AdminError::BadRequest(format!(
                "The request body could not be read: {}.",
                e.body_text().trim_end_matches('.')
            ))
        }
    }
}

/// The sentence for a body over the admin API's limit.
pub(crate) const TOO_LARGE: &str =
    "The request body is larger than the admin API takes (2 MB); send less at once.";

/// Messages from the store are phrases ("an agent named 'x' already exists"); the API answers
/// sentences, so the first letter is raised and a full stop added where missing.
pub(crate) fn sentence(s: String) -> String {
    let mut chars = s.chars();
    let mut out = match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect::<String>(),
        None => return s,
    };
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

impl From<OpsError> for AdminError {
    fn from(e: OpsError) -> Self {
        match e {
            OpsError::NotFound(s) => AdminError::NotFound(sentence(s)),
            OpsError::Invalid(s) => AdminError::Invalid(sentence(s)),
            OpsError::Conflict(s) => AdminError::Conflict(sentence(s)),
            OpsError::Store(e) => AdminError::from(e),
        }
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(s) => AdminError::NotFound(sentence(s)),
            StoreError::Conflict(s) => AdminError::Conflict(sentence(s)),
            StoreError::OutOfRange(s) => AdminError::Invalid(sentence(s)),
            other @ (StoreError::BadUrl
            | StoreError::Missing(_)
            | StoreError::Database(_)
            | StoreError::Sqlite(_)
            | StoreError::Migrate(_)
            | StoreError::SchemaNewer(_)
            | StoreError::Corrupt(_)) => AdminError::internal(&other),
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let mut resp = (
            status,
            Json(json!({"error": self.to_string(), "error_code": code})),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"bollard-admin\""),
            );
        }
        resp
    }
}

pub type AdminResult<T> = Result<T, AdminError>;
