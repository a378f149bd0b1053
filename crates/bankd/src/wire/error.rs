//! The one error type of the HTTP edge. Its variants are the contract: each maps to an HTTP status
//! and a Powens error `code`, and renders the Powens envelope
//! `{"code", "description", "message", "request_id"}` — never plain text, never a stack trace.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::limits::Throttled;
use crate::store::StoreError;

tokio::task_local! {
    /// The id of the request being served, set by the request-id middleware so that every error
    /// envelope and log line of the request carries it.
    pub static REQUEST_ID: i64;
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing parameter '{0}'")]
    MissingParameter(String),
    #[error("invalid value for '{field}': {why}")]
    InvalidValue { field: String, why: String },
    #[error("no bearer token: send 'Authorization: Bearer <token>'")]
    MissingToken,
    #[error("the token is unknown, expired or revoked")]
    InvalidToken,
    #[error("{0}")]
    Forbidden(String),
    /// `code` names what was not found (`userNotFound`, `connectionNotFound`, …).
    #[error("{what} not found")]
    NotFound { code: &'static str, what: &'static str },
    #[error("method not allowed on this resource")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    #[error("the connection is being synchronized; try again when it is done")]
    ConnectionLocked,
    /// Too many attempts on a route that takes secrets: `429` with `Retry-After`.
    #[error("too many requests; retry in {retry_after} seconds")]
    RateLimited { retry_after: u64 },
    #[error("request body larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// A statement file that cannot be read: the format, where, and why.
    #[error("{0}")]
    InvalidStatement(#[from] statements::Error),
    /// An error reported by a bank (`wrongpass`, `websiteUnavailable`, …), with the bank's own text.
    #[error("{description}")]
    Bank { code: &'static str, description: String, message: Option<String> },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The Powens error envelope.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Machine-readable error code: branch on this.
    pub code: String,
    /// Technical description, not for end users.
    pub description: String,
    /// Message from the bank, if any; may be shown to a user.
    pub message: Option<String>,
    /// Id of the request, also sent as the `X-Request-Id` header.
    pub request_id: Option<i64>,
}

/// The OpenAPI response of the routes that count attempts: `429 rateLimited`.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 429,
    description = "Too many attempts from this address or for this client application",
    headers(("Retry-After" = u64, description = "Seconds before the next attempt is let through"))
)]
pub struct TooManyRequests(pub ErrorBody);

impl ApiError {
    pub fn invalid(field: impl Into<String>, why: impl Into<String>) -> Self {
        ApiError::InvalidValue { field: field.into(), why: why.into() }
    }

    pub fn missing(field: impl Into<String>) -> Self {
        ApiError::MissingParameter(field.into())
    }

    pub fn not_found(code: &'static str, what: &'static str) -> Self {
        ApiError::NotFound { code, what }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MissingParameter(_)
            | ApiError::InvalidValue { .. }
            | ApiError::InvalidStatement(_)
            | ApiError::Bank { .. } => StatusCode::BAD_REQUEST,
            ApiError::MissingToken | ApiError::InvalidToken => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) | ApiError::ConnectionLocked => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::MissingParameter(_) => "missingParameter",
            ApiError::InvalidValue { .. } => "invalidValue",
            ApiError::MissingToken => "missingToken",
            ApiError::InvalidToken => "invalidToken",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound { code, .. } => code,
            ApiError::MethodNotAllowed => "methodNotAllowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::ConnectionLocked => "connectionLocked",
            ApiError::PayloadTooLarge { .. } => "payloadTooLarge",
            ApiError::RateLimited { .. } => "rateLimited",
            ApiError::InvalidStatement(_) => "invalidStatement",
            ApiError::Bank { code, .. } => code,
            ApiError::Internal(_) => "bug",
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::not_found("notFound", "resource"),
            StoreError::Conflict(what) => ApiError::Conflict(what),
            StoreError::Locked => ApiError::ConnectionLocked,
            other => ApiError::Internal(other.into()),
        }
    }
}

/// Renders an error envelope; used by [`ApiError`] and by the panic and fallback handlers.
pub fn envelope(status: StatusCode, code: &str, description: String, message: Option<String>) -> Response {
    let request_id = REQUEST_ID.try_with(|id| *id).ok();
    let body = ErrorBody { code: code.to_owned(), description, message, request_id };
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let description = match &self {
            ApiError::Internal(e) => {
                // The cause stays in the log; the client learns only that it was our fault.
                tracing::error!(error = format!("{e:#}"), "internal error");
                "internal error; the request id locates it in the server log".to_owned()
            }
            other => other.to_string(),
        };
        let message = match &self {
            ApiError::Bank { message, .. } => message.clone(),
            _ => None,
        };
        let mut response = envelope(status, self.code(), description, message);
        if let ApiError::RateLimited { retry_after } = self {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        }
        response
    }
}

impl From<Throttled> for ApiError {
    fn from(refused: Throttled) -> Self {
        ApiError::RateLimited { retry_after: refused.retry_after_seconds() }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
