//! Operational routes, which need no API key: liveness, readiness, and the
//! answer for routes that do not exist.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{status_body, ApiError, AppState};

/// 200 while the process serves.
pub async fn healthz() -> Response {
    status_body("ok").into_response()
}

/// 200 when the database answers, else 503 with `Retry-After`.
pub async fn readyz(State(app): State<AppState>) -> Response {
    match app.store.ping().await {
        Ok(()) => (StatusCode::OK, status_body("ready")).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}
