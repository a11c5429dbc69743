//! Apollo's error answers, one variant each, mapped to status and body in one place.

use serde_json::{Value, json};

use crate::args::ArgsError;

/// An error answer in Apollo's shape.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Apollo answers a missing or bad key with plain text, not JSON.
    #[error("Invalid access credentials.")]
    Unauthorized,
    #[error("{route} is not accessible with this api_key")]
    Inaccessible { route: &'static str },
    #[error("Not Found")]
    NotFound,
    /// A 404 whose body names what is missing (conversations).
    #[error("{0}")]
    Missing(String),
    /// An answer that is only a machine-readable code (webhook results: 400, 404, 410).
    #[error("{code}")]
    Coded { status: u16, code: &'static str },
    #[error("{0}")]
    Unprocessable(String),
    /// Bulk enrichment reports its own errors as 400 with `status: failed`.
    #[error("{message}")]
    Bulk { code: &'static str, message: String },
    #[error("{0}")]
    BadRequest(String),
    #[error("Request body too large")]
    TooLarge,
    #[error("{message}")]
    RateLimited { message: String, retry_after: u64 },
    /// Injected by fault injection: the status to answer with.
    #[error("injected failure")]
    Injected(u16),
}

impl From<ArgsError> for ApiError {
    fn from(err: ArgsError) -> Self {
        match err {
            ArgsError::MalformedJson(_) => Self::BadRequest(err.to_string()),
            ArgsError::WrongType { .. } => Self::Unprocessable(err.to_string()),
        }
    }
}

impl ApiError {
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::Unprocessable(message.into())
    }

    /// Status code and body. Exhaustive on purpose: a new variant must choose its status.
    pub fn status_and_body(&self) -> (u16, Body) {
        match self {
            Self::Unauthorized => (401, Body::Text(self.to_string())),
            Self::Inaccessible { .. } => (
                403,
                Body::Json(json!({"error": self.to_string(), "error_code": "API_INACCESSIBLE"})),
            ),
            Self::NotFound => (
                404,
                Body::Json(json!({"status": 404, "error": "Not Found"})),
            ),
            Self::Missing(message) => (404, Body::Json(json!({"error": message}))),
            Self::Coded { status, code } => (*status, Body::Json(json!({"error_code": code}))),
            Self::Unprocessable(message) => (422, Body::Json(json!({"error": message}))),
            Self::Bulk { code, message } => (
                400,
                Body::Json(
                    json!({"status": "failed", "error_code": code, "error_message": message}),
                ),
            ),
            Self::BadRequest(message) => {
                (400, Body::Json(json!({"status": 400, "error": message})))
            }
            Self::TooLarge => (
                413,
                Body::Json(json!({"status": 413, "error": "Request body too large"})),
            ),
            Self::RateLimited { message, .. } => (429, Body::Json(json!({"message": message}))),
            Self::Injected(status) => (
                *status,
                Body::Json(json!({"status": status, "error": reason_phrase(*status)})),
            ),
        }
    }
}

/// A response body before serialisation.
#[derive(Debug)]
pub enum Body {
    Json(Value),
    Text(String),
}

pub fn reason_phrase(status: u16) -> &'static str {
    hyper::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error")
}
