//! The one error type a client can see, and the one place that writes
//! `application/problem+json` (RFC 9457): for our errors, and for the
//! framework's own bare answers (405, the timeout's 503).
//!
//! Internal causes never reach the client: a 5xx carries a generic detail,
//! and the cause rides in the response's extensions to the request logger,
//! which logs it once. A 5xx names its request's id (`request_id`), which
//! the log lines of that request carry too.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::request_context::{current_request_id, LoggedCause};
use crate::app::{AppError, Denied};

pub const PROBLEM_JSON: &str = "application/problem+json";

/// One rejected field of a request body, named as the client wrote it
/// (`email`, `items[0].sku`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the body is not JSON, or a path or query parameter is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no API key, or one that is malformed, unknown or revoked.
    #[error("{0}")]
    Unauthorized(Denied),
    /// 403: the API key may not do this (a read key on a write).
    #[error("{0}")]
    Forbidden(Denied),
    /// 404: no such route (a missing resource is the use case's `NotFound`).
    #[error("no such route")]
    NoRoute,
    /// 408: the client had not sent its whole body by the request timeout.
    #[error("the request body did not arrive in full within {} ms", .0.as_millis())]
    RequestTimeout(std::time::Duration),
    /// 413: the body is over the limit.
    #[error("the request body is over {0} bytes")]
    PayloadTooLarge(usize),
    /// 415: the body is not `application/json`.
    #[error("the request body must be application/json")]
    UnsupportedMediaType,
    /// 422: well-formed JSON that breaks a rule, one entry per field.
    #[error("the request body breaks {} rule(s)", .0.len())]
    Validation(Vec<FieldError>),
    /// What a use case answered, with its own words; the status per
    /// variant is in [`ApiError::status`]: 404 no such resource; 409 a
    /// taken address, a user with orders, an illegal or concurrent move, a
    /// key still in flight; 412 a stale `If-Match`; 422 a key reused with
    /// another body; 503 no database (cause logged, never sent); 500
    /// anything else (cause logged, never sent).
    #[error(transparent)]
    App(AppError),
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    title: &'a str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [FieldError]>,
    /// On a 5xx: the request's id, which its log lines carry too.
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
}

fn problem_response(
    status: StatusCode,
    kind: &str,
    detail: String,
    errors: Option<&[FieldError]>,
) -> Response {
    let problem = Problem {
        kind,
        title: status.canonical_reason().unwrap_or("Error"),
        status: status.as_u16(),
        detail,
        errors,
        request_id: status
            .is_server_error()
            .then(current_request_id)
            .flatten()
            .and_then(|id| id.to_str().ok().map(str::to_owned)),
    };
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    response
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NoRoute | Self::App(AppError::NotFound(_)) => StatusCode::NOT_FOUND,
            Self::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation(_)
            | Self::App(AppError::KeyReused)
            | Self::App(AppError::UnknownUser | AppError::PrivateReceiver) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::App(
                AppError::EmailTaken
                | AppError::UserHasOrders
                | AppError::IllegalMove { .. }
                | AppError::MovedConcurrently { .. }
                | AppError::KeyInFlight,
            ) => StatusCode::CONFLICT,
            Self::App(AppError::PreconditionFailed) => StatusCode::PRECONDITION_FAILED,
            Self::App(AppError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Self::App(AppError::Internal(_)) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable, relative problem type URI per kind of failure.
    fn kind(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "/problems/bad-request",
            Self::Unauthorized(_) => "/problems/unauthorized",
            Self::Forbidden(_) => "/problems/forbidden",
            Self::NoRoute | Self::App(AppError::NotFound(_)) => "/problems/not-found",
            Self::RequestTimeout(_) => "/problems/request-timeout",
            Self::PayloadTooLarge(_) => "/problems/payload-too-large",
            Self::UnsupportedMediaType => "/problems/unsupported-media-type",
            Self::Validation(_) | Self::App(AppError::UnknownUser | AppError::PrivateReceiver) => {
                "/problems/validation"
            }
            Self::App(AppError::EmailTaken) => "/problems/email-taken",
            Self::App(
                AppError::UserHasOrders
                | AppError::IllegalMove { .. }
                | AppError::MovedConcurrently { .. },
            ) => "/problems/conflict",
            Self::App(AppError::KeyInFlight) => "/problems/idempotency-key-in-flight",
            Self::App(AppError::KeyReused) => "/problems/idempotency-key-reused",
            Self::App(AppError::PreconditionFailed) => "/problems/precondition-failed",
            Self::App(AppError::Unavailable(_)) => "/problems/unavailable",
            Self::App(AppError::Internal(_)) => "/problems/internal",
        }
    }

    /// What the client reads: the error's own words, except that a 5xx
    /// says only what the client can do (its cause is logged instead).
    fn detail(&self) -> String {
        match self {
            Self::App(AppError::Unavailable(_)) => {
                "the service cannot reach its database; retry shortly".into()
            }
            Self::App(AppError::Internal(_)) => "an internal error occurred".into(),
            other => other.to_string(),
        }
    }

    /// `WWW-Authenticate` for a refused API key (RFC 6750, section 3).
    fn bearer_challenge(&self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Self::Unauthorized(Denied::Unknown) => {
                r#"Bearer realm="orderly", error="invalid_token""#
            }
            Self::Forbidden(_) => r#"Bearer realm="orderly", error="insufficient_scope""#,
            _ => r#"Bearer realm="orderly""#,
        })
    }

    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let errors = match &self {
            Self::Validation(errors) => Some(errors.as_slice()),
            _ => None,
        };
        let mut response = problem_response(self.status(), self.kind(), self.detail(), errors);
        match &self {
            Self::Unauthorized(_) | Self::Forbidden(_) => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, self.bearer_challenge());
            }
            Self::RequestTimeout(_) => {
                // The rest of the body may still come down this connection.
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Self::App(AppError::KeyInFlight) => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Self::App(unavailable @ AppError::Unavailable(_)) => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                response
                    .extensions_mut()
                    .insert(LoggedCause(with_causes(unavailable)));
            }
            Self::App(internal @ AppError::Internal(_)) => {
                response
                    .extensions_mut()
                    .insert(LoggedCause(with_causes(internal)));
            }
            _ => {}
        }
        response
    }
}

/// `error` and each of its causes, outermost first, as one line for the
/// log: "the database is unavailable: no server took the statement; ...:
/// could not connect to PostgreSQL: 127.0.0.1:5432: connection refused".
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        line.push_str(": ");
        line.push_str(&e.to_string());
        cause = e.source();
    }
    line
}

impl From<Denied> for ApiError {
    fn from(denied: Denied) -> Self {
        match denied {
            Denied::ReadOnly | Denied::NotAdmin => Self::Forbidden(denied),
            _ => Self::Unauthorized(denied),
        }
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            // A missing user is the body's `user_id` breaking a rule.
            AppError::UnknownUser => Self::validation("user_id", e.to_string()),
            AppError::PrivateReceiver => Self::validation("url", e.to_string()),
            e => Self::App(e),
        }
    }
}

/// Rewrites the framework's own bare error answers (405 with `Allow`, the
/// timeout's 503) into problem+json, keeping their headers.
pub fn problem_for_bare_error(response: Response) -> Response {
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == PROBLEM_JSON.as_bytes());
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let detail = match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            "this route does not allow that method; see the Allow header".to_owned()
        }
        StatusCode::SERVICE_UNAVAILABLE => "the request took too long; retry shortly".to_owned(),
        other => other.canonical_reason().unwrap_or("error").to_owned(),
    };
    let problem = problem_response(status, "about:blank", detail, None);
    let (problem_parts, body) = problem.into_parts();
    parts.headers.insert(
        header::CONTENT_TYPE,
        problem_parts.headers[header::CONTENT_TYPE].clone(),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        parts
            .headers
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    Response::from_parts(parts, Body::new(body))
}
